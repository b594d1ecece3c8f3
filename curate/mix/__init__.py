"""Data mixing (``mix`` global stage): weights, caps, temperature, upsampling by whole documents.

The stage (``curate.mix.stage``, which needs Polars) is imported on first use of ``Mix``, so the
arithmetic in ``curate.mix.plan`` (NumPy only) imports on a machine with the training stack alone:
`curate mix search` selects each candidate's documents with it on the GPU box. The registry
imports ``curate.mix.stage`` itself.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Mix"]


def __getattr__(name: str) -> Any:
    if name == "Mix":
        from curate.mix.stage import Mix

        return Mix
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
