"""``line_dedup``: remove lines that recur across the corpus (CCNet-style boilerplate removal).

Navigation bars, cookie notices and share buttons that extraction missed repeat verbatim across
many pages. Following CCNet (Wenzek et al. 2020, section 3.3), each line is normalised (lowercase,
digits -> 0, punctuation removed, whitespace collapsed) and hashed; a line whose hash occurs more
than ``max_occurrences`` times in the whole corpus is removed from every document. Unlike CCNet,
which hashes paragraphs against a sampled shard set, we count exactly over all shards with a
hash-partitioned shuffle: ``lines/p{part}/{task}.parquet`` (hash, count) -> step ``counts`` ->
``frequent/p{part}.parquet``; memory is one partition's distinct lines.

A document left with no non-blank line is dropped with reason ``line_dedup_empty``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl
from pydantic import Field

from curate.dedup.common import resolve_partitions
from curate.dedup.workfiles import atomic_write_parquet, mark_task_done, partition_files
from curate.engine.registry import register
from curate.engine.stage import REASON, GlobalStage, ReduceStep, StageConfig, StageResult
from curate.io.writer import write_json_atomic

_LINE_SEED = 0x11E5


def normalise_lines(lines: pl.Series) -> pl.Series:
    """CCNet's line normalisation: lowercase, digits to 0, no punctuation, single spaces."""
    return (
        lines.str.to_lowercase()
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def line_hashes(texts: pl.Series) -> pl.DataFrame:
    """One row per line of every text: ``doc`` (row index), ``line`` (raw), ``hash`` (null if blank)."""
    lines = pl.DataFrame(
        {
            "doc": np.arange(len(texts), dtype=np.uint32),
            "line": texts.cast(pl.Utf8).fill_null("").str.split("\n"),
        }
    ).explode("line")
    norm = normalise_lines(lines["line"])
    h = norm.hash(seed=_LINE_SEED)
    return lines.with_columns(pl.when(norm != "").then(h).otherwise(None).alias("hash"))


@register("line_dedup")
class LineDedup(GlobalStage):
    """Drop lines occurring more than ``max_occurrences`` times across the corpus (all their copies)."""

    class Config(StageConfig):
        text_column: str = Field("text", description="column whose lines are deduplicated")
        max_occurrences: int = Field(
            10, ge=1, description="a line seen more often than this is removed everywhere"
        )
        partitions: int | None = Field(
            None,
            ge=1,
            le=4096,
            description="hash partitions of the line-count shuffle (default: one per task, at least 16)",
        )

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.partitions = resolve_partitions(config.partitions, ctx.n_tasks)
        self._counts: list[pl.DataFrame] = []
        self._rows = 0
        self._frequent: pl.Series | None = None

    # -- phase 1 ----------------------------------------------------------------------------------------
    def collect(self, df: pl.DataFrame) -> None:
        self._rows += df.height
        if df.height == 0:
            return
        h = line_hashes(df[self.config.text_column])["hash"].drop_nulls()
        self._counts.append(
            pl.DataFrame({"hash": h}).group_by("hash").agg(pl.len().cast(pl.UInt64).alias("count"))
        )

    def finish_collect(self) -> None:
        counts = (
            pl.concat(self._counts).group_by("hash").agg(pl.col("count").sum())
            if self._counts
            else pl.DataFrame(schema={"hash": pl.UInt64, "count": pl.UInt64})
        )
        counts = counts.with_columns((pl.col("hash") % self.partitions).alias("_part"))
        for p in range(self.partitions):
            sub = counts.filter(pl.col("_part") == p).drop("_part").sort("hash")
            atomic_write_parquet(
                sub, self.ctx.work_dir / "lines" / f"p{p:03d}" / f"{self.ctx.task_id}.parquet"
            )
        mark_task_done(self.ctx.work_dir, str(self.ctx.task_id), self._rows)
        self._counts = []

    # -- reduce ----------------------------------------------------------------------------------------
    def reduce_steps(self) -> list[ReduceStep]:
        return [ReduceStep("counts", self.partitions, self._count_partition)]

    def _count_partition(self, part: int) -> dict[str, Any]:
        files = partition_files(self.ctx.work_dir / "lines" / f"p{part:03d}")
        counts = (
            pl.concat([pl.read_parquet(f) for f in files]).group_by("hash").agg(pl.col("count").sum())
            if files
            else pl.DataFrame(schema={"hash": pl.UInt64, "count": pl.UInt64})
        )
        frequent = counts.filter(pl.col("count") > self.config.max_occurrences).sort("hash")
        out = self.ctx.work_dir / "frequent" / f"p{part:03d}.parquet"
        atomic_write_parquet(frequent, out)
        stats = {
            "distinct_lines": counts.height,
            "frequent_lines": frequent.height,
            "frequent_occurrences": int(frequent["count"].sum() or 0),
        }
        write_json_atomic(out.with_suffix(".json"), stats)
        return stats

    def reduce_summary(self) -> dict[str, Any]:
        keys = ("distinct_lines", "frequent_lines", "frequent_occurrences")
        total = dict.fromkeys(keys, 0)
        for p in range(self.partitions):
            part = json.loads((self.ctx.work_dir / "frequent" / f"p{p:03d}.json").read_text())
            for k in keys:
                total[k] += part[k]
        return total

    # -- phase 2 ----------------------------------------------------------------------------------------
    def _load_frequent(self) -> pl.Series:
        paths = [self.ctx.work_dir / "frequent" / f"p{p:03d}.parquet" for p in range(self.partitions)]
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise RuntimeError(f"line_dedup: reduce step 'counts' has not produced {missing[0]}")
        return pl.concat([pl.read_parquet(p, columns=["hash"]) for p in paths])["hash"]

    def process(self, df: pl.DataFrame) -> StageResult:
        if self._frequent is None:
            self._frequent = self._load_frequent()
        col = self.config.text_column
        if df.height == 0 or len(self._frequent) == 0:
            return StageResult(kept=df)
        lines = line_hashes(df[col])
        remove = lines["hash"].is_in(self._frequent.implode()).fill_null(False)
        n_removed = int(remove.sum())
        if n_removed == 0:
            return StageResult(kept=df)
        removed_chars = int(lines.filter(remove)["line"].str.len_chars().sum())
        touched = np.unique(lines.filter(remove)["doc"].to_numpy())
        rebuilt = (
            lines.filter(~remove & pl.col("doc").is_in(pl.Series(touched).implode()))
            .group_by("doc", maintain_order=True)
            .agg(pl.col("line").str.join("\n"))
        )
        new_text = df[col].cast(pl.Utf8).to_list()
        for d in touched:
            new_text[int(d)] = ""
        for d, t in rebuilt.iter_rows():
            new_text[int(d)] = t
        df = df.with_columns(pl.Series(col, new_text, dtype=pl.Utf8))
        empty = df[col].str.strip_chars().str.len_chars() == 0
        empty = empty & pl.Series(np.isin(np.arange(df.height), touched))
        counters = {"lines_removed": n_removed, "chars_removed": removed_chars, "docs_modified": len(touched)}
        if not empty.any():
            return StageResult(kept=df, counters=counters)
        dropped = df.filter(empty).with_columns(pl.lit("line_dedup_empty").alias(REASON))
        return StageResult(kept=df.filter(~empty), dropped=dropped, counters=counters)
