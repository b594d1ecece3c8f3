"""``sft_decontaminate``: drop training rows that overlap a user-supplied evaluation set.

N-gram overlap in the style of GPT-3 / Llama decontamination: texts are lowercased and split into
word tokens (``\\w+``); a row is contaminated when at least ``min_matches`` of its word n-grams
(default 13-grams) occur in the evaluation set. Evaluation texts shorter than ``ngram`` words are
matched as a whole (their word sequence appearing contiguously in the row). Dropped rows get reason
``sft_contaminated``; the matched n-gram count is written to ``contamination_ngrams`` for kept rows.

The evaluation set is a local JSONL (optionally ``.gz``): from every object the string values of
``eval_fields`` are used, or, when not set, every string found in it (nested ``messages`` /
``conversations`` included).
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Literal

import polars as pl
import xxhash
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngram_hashes(ws: list[str], n: int) -> set[int]:
    return {xxhash.xxh64_intdigest(" ".join(ws[i : i + n]).encode()) for i in range(len(ws) - n + 1)}


def _strings(value, fields: list[str] | None) -> list[str]:
    if fields is not None and isinstance(value, dict):
        return [s for f in fields for s in _strings(value.get(f), None)]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v, None)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, None)]
    return []


class SFTDecontaminateConfig(StageConfig):
    eval_path: str = Field(description="Local JSONL (or .jsonl.gz) of evaluation items.")
    eval_fields: list[str] | None = Field(
        None, description="Keys of eval objects to use (default: all strings)."
    )
    ngram: int = Field(13, ge=1, description="Word n-gram length (13: GPT-3 / Llama decontamination).")
    min_matches: int = Field(1, ge=1, description="Matching n-grams that make a row contaminated.")
    check: Literal["prompt", "all"] = Field("prompt", description="Compare the prompt only, or every turn.")


@register("sft_decontaminate")
class SFTDecontaminate(Stage):
    """Drop training rows whose word n-grams overlap a local evaluation set (``sft_contaminated``).

    Texts are lowercased and split into ``\\w+`` words; a row is contaminated when at least
    ``min_matches`` of its ``ngram``-grams occur in the eval set (eval texts shorter than ``ngram``
    words match as a whole). Kept rows get ``contamination_ngrams``.
    """

    Config = SFTDecontaminateConfig

    def setup(self) -> None:
        c = self.config
        path = Path(c.eval_path)
        if not path.is_file():
            raise FileNotFoundError(f"sft_decontaminate: eval_path {path} does not exist")
        opener = gzip.open if path.suffix == ".gz" else open
        self.grams: set[int] = set()
        self.short: list[str] = []
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not JSON ({e})") from e
                for s in _strings(obj, c.eval_fields):
                    ws = words(s)
                    if len(ws) >= c.ngram:
                        self.grams |= ngram_hashes(ws, c.ngram)
                    elif ws:
                        self.short.append(" " + " ".join(ws) + " ")

    def _row_text(self, row: dict) -> str:
        if self.config.check == "prompt" and row.get("prompt"):
            return row["prompt"]
        convs = [row.get("messages") or []]
        if row.get("chosen_messages") is not None:
            convs += [row["chosen_messages"], row.get("rejected_messages") or []]
        roles = ("user",) if self.config.check == "prompt" else ("user", "assistant", "system", "tool")
        return "\n".join(m["content"] for conv in convs for m in conv if m["role"] in roles)

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        cols = [k for k in ("prompt", "messages", "chosen_messages", "rejected_messages") if k in df.columns]
        counts = []
        for row in df.select(cols).iter_rows(named=True):
            ws = words(self._row_text(row))
            hits = len(ngram_hashes(ws, c.ngram) & self.grams) if len(ws) >= c.ngram else 0
            if self.short:
                joined = " " + " ".join(ws) + " "
                hits += sum(1 for s in self.short if s in joined)
            counts.append(hits)
        counts_s = pl.Series("contamination_ngrams", counts, dtype=pl.Int32)
        reason = pl.when(counts_s >= c.min_matches).then(pl.lit("sft_contaminated")).otherwise(None)
        out = df.with_columns(counts_s).with_columns(reason.alias(REASON))
        return split_by_reason(out)
