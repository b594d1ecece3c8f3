"""Benchmark decontamination: the ``decontaminate`` stage and the n-gram index it shares with SFT."""

from curate.decontam.stage import Decontaminate

__all__ = ["Decontaminate"]
