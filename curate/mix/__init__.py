"""Data mixing (``mix`` global stage): weights, caps, temperature, upsampling by whole documents."""

from curate.mix.stage import Mix

__all__ = ["Mix"]
