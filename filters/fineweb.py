"""The FineWeb quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3 custom filters).

Quantities and order follow datatrove's ``FineWebQualityFilter`` at its defaults.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Filter, Rule, StageConfig
from curate.filters import textview as tv
from curate.filters.gopher import duplicate_stats

_ENDS_TERMINAL = f"[{tv.char_class(tv.TERMINAL_PUNCTUATION)}]$"


@register("fineweb_quality")
class FineWebQuality(Filter):
    """FineWeb rules: line punctuation ratio, short-line ratio, duplicated-line chars, list ratio.

    Lines are ``text.split("\\n")`` without blank ones (not stripped: a trailing space hides the
    punctuation, as in datatrove). The list ratio is newlines per token (shared textview tokens).
    Reasons: ``fineweb_empty``, ``fineweb_line_punct_ratio``, ``fineweb_short_line_ratio``,
    ``fineweb_char_dup_ratio``, ``fineweb_list_ratio``.
    """

    class Config(StageConfig):
        line_punct_thr: float = Field(
            0.12, description="Drop if fewer than this fraction of lines end in terminal punctuation."
        )
        line_punct_exclude_zero: bool = Field(
            False, description="Do not apply the punctuation rule when no line ends in punctuation."
        )
        short_line_thr: float = Field(0.67, description="Drop if more than this fraction of lines is short.")
        short_line_length: int = Field(30, description="A line of at most this many chars is short.")
        char_duplicates_ratio: float = Field(
            0.01,
            description="Drop if repeated lines hold more than this fraction of the (newline-free) chars.",
        )
        new_line_ratio: float = Field(
            0.3, description="Drop if newlines per token exceed this (list-like pages)."
        )

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        df = tv.ensure(df, "__tokens", "__n_tokens", "__n_chars")
        lines = tv.TEXT.str.split("\n").list.eval(pl.element().filter(pl.element().str.strip_chars() != ""))
        return df.with_columns(lines.alias("__fw_lines"))

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        c = self.config
        lines = pl.col("__fw_lines")
        n = lines.list.len()
        punct = lines.list.eval(pl.element().str.contains(_ENDS_TERMINAL)).list.sum() / n
        short = lines.list.eval(pl.element().str.len_chars() <= c.short_line_length).list.sum() / n
        _, dup_chars = duplicate_stats(lines)
        n_newlines = tv.TEXT.str.count_matches("\n", literal=True)
        punct_ok = ~(punct < c.line_punct_thr)
        if c.line_punct_exclude_zero:
            punct_ok = punct_ok | (punct == 0)
        return [
            Rule("fineweb_empty", n > 0),
            Rule("fineweb_line_punct_ratio", punct_ok),
            Rule("fineweb_short_line_ratio", ~(short > c.short_line_thr)),
            Rule(
                "fineweb_char_dup_ratio",
                ~(dup_chars / (pl.col("__n_chars") - n_newlines) > c.char_duplicates_ratio),
            ),
            Rule("fineweb_list_ratio", ~(n_newlines / pl.col("__n_tokens") > c.new_line_ratio)),
        ]
