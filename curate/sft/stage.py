"""``sft_format``: the SFT formatter as a stage of its own (same options as ``format: {kind: sft}``)."""

from __future__ import annotations

import polars as pl

from curate.engine.registry import register
from curate.engine.stage import Stage, StageResult
from curate.sft.format import SFTFormatConfig, SFTFormatter


@register("sft_format")
class SFTFormat(Stage):
    """Chat template + ids + assistant-only labels (+ packing); see :mod:`curate.sft.format`."""

    Config = SFTFormatConfig

    def setup(self) -> None:
        self.formatter = SFTFormatter(self.config)
        self.formatter.setup()

    def process(self, df: pl.DataFrame) -> StageResult:
        return self.formatter.process(df)

    def flush(self) -> StageResult | None:
        return self.formatter.flush()

    def route_column(self) -> str | None:
        """SFT and preference rows go to ``data/sft/`` and ``data/preference/`` (not when packing)."""
        return SFTFormatter(self.config).route_column()
