"""``decontaminate``: find documents that contain benchmark items, and drop or mark them."""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, model_validator

from curate.decontam.index import Benchmark, load_or_build
from curate.decontam.match import Matches, match
from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason

COLUMNS = ("contamination_benchmark", "contamination_item", "contamination_ngrams")


def contamination_columns(m: Matches, index) -> list[pl.Series]:
    """The three columns a decontamination stage adds (benchmark and item null where clean)."""
    return [m.benchmark(index), m.row(index), pl.Series("contamination_ngrams", m.hits, dtype=pl.Int32)]


def benchmark_counters(bench: pl.Series, flagged: np.ndarray) -> dict[str, int]:
    """``contaminated:<benchmark>``: flagged documents per benchmark, for stats and the report."""
    if not flagged.any():
        return {}
    vc = bench.filter(pl.Series(flagged)).value_counts()
    return {f"contaminated:{b}": int(n) for b, n in vc.iter_rows()}


@register("decontaminate")
class Decontaminate(Stage):
    """Drop (or mark) documents that share word 13-grams with local benchmark files (lm-eval style)."""

    class Config(StageConfig):
        column: str = Field("text", description="The text column to check (any: text, prompt, ...).")
        benchmarks: list[Benchmark] = Field(
            description="The evaluation sets, each {name, path: JSONL/.jsonl.gz/Parquet, fields: the keys "
            "whose values are the item's text (key; key[index_key] for one element of a list, e.g. "
            "choices[gold]; a list key for all; default every string), join: true (one text per item)}."
        )
        ngram: int = Field(13, ge=1, description="Words per n-gram (13: GPT-3, lm-eval's janitor).")
        min_matches: int = Field(1, ge=1, description="Distinct matching n-grams that flag a document.")
        min_item_words: int = Field(
            4,
            ge=1,
            description="Benchmark texts shorter than ngram words are matched whole, if they have at "
            "least this many words (shorter ones would match everyday phrases); counted as skipped.",
        )
        action: Literal["drop", "mark"] = Field(
            "drop", description="drop: remove flagged documents (reason contaminated); mark: keep them."
        )

        @model_validator(mode="after")
        def _check(self):
            names = [b.name for b in self.benchmarks]
            if not names:
                raise ValueError("benchmarks: give at least one")
            if len(set(names)) != len(names):
                raise ValueError(f"benchmark names repeat: {names}")
            return self

    def setup(self) -> None:
        c = self.config
        work = self.ctx.work_dir if self.ctx is not None else None
        self.index = load_or_build(c.benchmarks, c.ngram, c.min_item_words, work)

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        if c.column not in df.columns:
            raise ValueError(f"decontaminate: no {c.column!r} column (columns: {df.columns})")
        m = match(df[c.column], self.index)
        cols = contamination_columns(m, self.index)
        flagged = m.hits >= c.min_matches
        counters = benchmark_counters(cols[0], flagged)
        counters["contamination_ngrams"] = int(m.hits.sum())
        # below min_matches a document is clean: its partial hit stays visible in the ngrams count only
        is_hit = pl.Series(flagged)
        out = df.with_columns(cols).with_columns(
            pl.when(is_hit).then(pl.col(COLUMNS[0])).otherwise(None).alias(COLUMNS[0]),
            pl.when(is_hit).then(pl.col(COLUMNS[1])).otherwise(None).alias(COLUMNS[1]),
        )
        if c.action == "mark":
            return StageResult(kept=out, counters=counters)
        reason = pl.when(is_hit).then(pl.lit("contaminated")).otherwise(None)
        res = split_by_reason(out.with_columns(reason.alias(REASON)))
        res.counters = counters
        return res
