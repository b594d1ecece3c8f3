"""Length bounds in characters, words or tokens."""

from __future__ import annotations

from typing import Literal

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Filter, Rule, StageConfig
from curate.filters import textview as tv


@register("length")
class Length(Filter):
    """Drop documents shorter than ``min`` or longer than ``max`` (reasons ``length_too_short``,
    ``length_too_long``). Words are whitespace-separated; tokens come from a local Hugging Face
    ``tokenizer.json`` and are kept in an ``n_tokens`` column for later stages.
    """

    class Config(StageConfig):
        unit: Literal["chars", "words", "tokens"] = Field("chars", description="What to count.")
        min: int | None = Field(None, description="Drop documents with fewer units.")
        max: int | None = Field(None, description="Drop documents with more units.")
        tokenizer: str | None = Field(
            None, description="Path of a tokenizer.json (or a folder holding one); required for unit: tokens."
        )

    def setup(self) -> None:
        c = self.config
        self.tok = None
        if c.unit == "tokens":
            if not c.tokenizer:
                raise ValueError("length: unit 'tokens' needs `tokenizer:` (a local tokenizer.json path)")
            from pathlib import Path

            from tokenizers import Tokenizer

            p = Path(c.tokenizer)
            self.tok = Tokenizer.from_file(str(p / "tokenizer.json" if p.is_dir() else p))

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        c = self.config
        if c.unit == "chars":
            return tv.ensure(df, "__n_chars").with_columns(pl.col("__n_chars").alias("__length"))
        if c.unit == "words":
            return df.with_columns(tv.TEXT.str.count_matches(r"\S+").alias("__length"))
        enc = self.tok.encode_batch([t or "" for t in df["text"].to_list()], add_special_tokens=False)
        n = pl.Series("n_tokens", [len(e.ids) for e in enc], dtype=pl.Int64)
        return df.with_columns(n, n.alias("__length"))

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        c = self.config
        rules = []
        if c.min is not None:
            rules.append(Rule("length_too_short", pl.col("__length") >= c.min))
        if c.max is not None:
            rules.append(Rule("length_too_long", pl.col("__length") <= c.max))
        return rules
