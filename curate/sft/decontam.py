"""``sft_decontaminate``: drop training rows that overlap a user-supplied evaluation set.

The SFT case of ``decontaminate`` (:mod:`curate.decontam`): the text checked is a row's prompt (or
all its turns), the benchmark is one local JSONL/Parquet file whose ``eval_fields`` (default: every
string, nested ``messages``/``conversations`` included) are each a text of their own; texts shorter
than ``ngram`` words are matched whole, however short. Normalisation and matching are the shared
ones (lm-eval's janitor: lowercase, punctuation deleted, whitespace-split words). Dropped rows get
reason ``sft_contaminated``; ``contamination_ngrams`` (and the benchmark and item hit) are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from curate.decontam.index import Benchmark, load_or_build
from curate.decontam.match import match
from curate.decontam.stage import COLUMNS, benchmark_counters, contamination_columns
from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason


class SFTDecontaminateConfig(StageConfig):
    eval_path: str = Field(description="Local JSONL (or .jsonl.gz, .parquet) of evaluation items.")
    eval_fields: list[str] | None = Field(
        None, description="Keys of eval objects to use (default: all strings)."
    )
    ngram: int = Field(13, ge=1, description="Word n-gram length (13: GPT-3 / Llama decontamination).")
    min_matches: int = Field(1, ge=1, description="Matching n-grams that make a row contaminated.")
    check: Literal["prompt", "all"] = Field("prompt", description="Compare the prompt only, or every turn.")


@register("sft_decontaminate")
class SFTDecontaminate(Stage):
    """Drop training rows whose word n-grams overlap a local evaluation set (``sft_contaminated``).

    Texts are normalised as lm-eval's decontamination does (lowercase, punctuation deleted, words
    split on whitespace); a row is contaminated when at least ``min_matches`` of its ``ngram``-grams
    occur in the eval set (eval texts shorter than ``ngram`` words match as a whole). Kept rows get
    ``contamination_ngrams``.
    """

    Config = SFTDecontaminateConfig

    def setup(self) -> None:
        c = self.config
        path = Path(c.eval_path)
        if not path.is_file():
            raise FileNotFoundError(f"sft_decontaminate: eval_path {path} does not exist")
        bench = Benchmark(name=path.name.split(".")[0], path=str(path), fields=c.eval_fields, join=False)
        work = self.ctx.work_dir if self.ctx is not None else None
        self.index = load_or_build([bench], c.ngram, 1, work)

    def _row_text(self, row: dict) -> str:
        if self.config.check == "prompt" and row.get("prompt"):
            return row["prompt"]
        convs = [row.get("messages") or []]
        if row.get("chosen_messages") is not None:
            convs += [row["chosen_messages"], row.get("rejected_messages") or []]
        roles = ("user",) if self.config.check == "prompt" else ("user", "assistant", "system", "tool")
        return "\n".join(m["content"] or "" for conv in convs for m in conv if m["role"] in roles)

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        cols = [k for k in ("prompt", "messages", "chosen_messages", "rejected_messages") if k in df.columns]
        texts = [self._row_text(row) for row in df.select(cols).iter_rows(named=True)]
        m = match(pl.Series(texts, dtype=pl.Utf8), self.index)
        flagged = m.hits >= c.min_matches
        bench, item, ngrams = contamination_columns(m, self.index)
        is_hit = pl.Series(np.asarray(flagged))
        out = df.with_columns(bench, item, ngrams).with_columns(
            pl.when(is_hit).then(pl.col(COLUMNS[0])).otherwise(None).alias(COLUMNS[0]),
            pl.when(is_hit).then(pl.col(COLUMNS[1])).otherwise(None).alias(COLUMNS[1]),
            pl.when(is_hit).then(pl.lit("sft_contaminated")).otherwise(None).alias(REASON),
        )
        res = split_by_reason(out)
        res.counters = benchmark_counters(bench, flagged)
        return res
