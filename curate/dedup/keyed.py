"""Dedup on an exact key (content hash, normalised URL) as a global stage, hash-partitioned on disk.

Phases (see :class:`curate.engine.stage.GlobalStage`):

1. ``collect`` per task: a 128-bit key per row (rows without a key take no part), written as
   ``keys/p{part:03d}/{task_id}.parquet`` with ``part = key_hi % partitions``.
2. reduce step ``groups``, one task per partition: group rows by key, keep the first by the keep
   rule (ties: smallest id), write the others as ``dups/p{part:03d}.parquet`` sorted by task.
   Memory is one partition's keys, never the corpus.
3. ``process`` per task: read this task's rows of every ``dups`` file (row-group statistics on the
   sorted ``task`` column skip the rest) and drop them with ``reason`` and ``duplicate_of``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
from pydantic import Field, model_validator

from curate.dedup.common import (
    CLUSTER_SIZE,
    DUPLICATE_OF,
    KeepRule,
    apply_drops,
    keeper_order,
    merge_histograms,
    resolve_partitions,
    size_histogram,
)
from curate.dedup.workfiles import (
    atomic_write_parquet,
    mark_task_done,
    partition_files,
)
from curate.engine.stage import GlobalStage, ReduceStep, StageConfig, StageResult
from curate.io.writer import write_json_atomic

_KEY_SCHEMA = {
    "key_hi": pl.UInt64,
    "key_lo": pl.UInt64,
    "id": pl.Utf8,
    "length": pl.Int64,
    "quality": pl.Float64,
}


class KeyedDedupConfig(StageConfig):
    """Options every exact-key dedup shares."""

    keep: KeepRule = Field(
        "first", description="which duplicate survives: smallest id, longest text, or highest quality_column"
    )
    quality_column: str | None = Field(None, description="numeric column for keep: quality (higher wins)")
    text_column: str = Field("text", description="column whose length `keep: longest` compares")
    partitions: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="hash partitions of the on-disk shuffle (default: one per task, at least 16)",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.keep == "quality" and not self.quality_column:
            raise ValueError("keep: quality needs quality_column")
        return self


class KeyedDedup(GlobalStage):
    """Base of exact-key dedup stages: subclasses say how a row's key is computed and the drop reason."""

    reason: ClassVar[str] = ""
    Config: ClassVar[type[KeyedDedupConfig]] = KeyedDedupConfig

    def __init__(self, config, ctx):
        super().__init__(config, ctx)
        self.partitions = resolve_partitions(config.partitions, ctx.n_tasks)
        self._batches: list[pl.DataFrame] = []
        self._rows = 0
        self._drops: pl.DataFrame | None = None

    # -- subclass hook ---------------------------------------------------------------------------
    def keys(self, df: pl.DataFrame) -> pl.DataFrame:
        """``key_hi``/``key_lo`` (UInt64, null = row takes no part) for each row of ``df``."""
        raise NotImplementedError

    # -- phase 1 -----------------------------------------------------------------------------------
    def collect(self, df: pl.DataFrame) -> None:
        c = self.config
        self._rows += df.height
        if df.height == 0:
            return
        keys = self.keys(df)
        n = df.height
        if c.text_column in df.columns:
            length = df[c.text_column].cast(pl.Utf8).str.len_chars().cast(pl.Int64).fill_null(0)
        else:
            length = pl.Series([0] * n, dtype=pl.Int64)
        if c.keep == "quality":
            quality = df[c.quality_column].cast(pl.Float64)
        else:
            quality = pl.Series([None] * n, dtype=pl.Float64)
        rows = pl.DataFrame(
            {
                "key_hi": keys["key_hi"],
                "key_lo": keys["key_lo"],
                "id": df["id"].cast(pl.Utf8),
                "length": length,
                "quality": quality,
            }
        )
        self._batches.append(rows.filter(pl.col("key_hi").is_not_null()))

    def finish_collect(self) -> None:
        rows = pl.concat(self._batches) if self._batches else pl.DataFrame(schema=_KEY_SCHEMA)
        rows = rows.with_columns((pl.col("key_hi") % self.partitions).alias("_part"))
        for part in range(self.partitions):
            sub = rows.filter(pl.col("_part") == part).drop("_part")
            atomic_write_parquet(sub, self._keys_dir(part) / f"{self.ctx.task_id}.parquet")
        mark_task_done(self.ctx.work_dir, str(self.ctx.task_id), self._rows)
        self._batches = []

    # -- reduce ------------------------------------------------------------------------------------
    def reduce_steps(self) -> list[ReduceStep]:
        return [ReduceStep("groups", self.partitions, self._reduce_partition)]

    def _keys_dir(self, part: int) -> Path:
        return self.ctx.work_dir / "keys" / f"p{part:03d}"

    def _dups_path(self, part: int) -> Path:
        return self.ctx.work_dir / "dups" / f"p{part:03d}.parquet"

    def _reduce_partition(self, part: int) -> dict[str, Any]:
        files = partition_files(self._keys_dir(part))
        frames = [
            pl.read_parquet(f).with_columns(pl.lit(f.name.removesuffix(".parquet")).alias("task"))
            for f in files
        ]
        schema = {**_KEY_SCHEMA, "task": pl.Utf8}
        rows = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
        by, desc = keeper_order(self.config.keep)
        grp = ["key_hi", "key_lo"]
        rows = rows.sort([*grp, *by], descending=[False, False, *desc], nulls_last=True)
        rows = rows.with_columns(
            pl.col("id").first().over(grp).alias(DUPLICATE_OF),
            pl.len().over(grp).cast(pl.Int64).alias(CLUSTER_SIZE),
        )
        dups = rows.filter(pl.col("id") != pl.col(DUPLICATE_OF)).select(
            "task", "id", DUPLICATE_OF, CLUSTER_SIZE
        )
        dups = dups.sort("task", "id")
        sizes = rows.filter(pl.col(CLUSTER_SIZE) > 1).group_by(grp).agg(pl.len())["len"].to_list()
        atomic_write_parquet(dups, self._dups_path(part))
        summary = {"groups": len(sizes), "duplicates": dups.height, "size_histogram": size_histogram(sizes)}
        write_json_atomic(self._dups_path(part).with_suffix(".json"), summary)
        return {"duplicate_groups": len(sizes), "duplicates": dups.height}

    def reduce_summary(self) -> dict[str, Any]:
        parts = [
            json.loads(self._dups_path(p).with_suffix(".json").read_text()) for p in range(self.partitions)
        ]
        return {
            "duplicate_groups": sum(p["groups"] for p in parts),
            "duplicates": sum(p["duplicates"] for p in parts),
            "size_histogram": merge_histograms([p["size_histogram"] for p in parts]),
        }

    # -- phase 2 -----------------------------------------------------------------------------------
    def _load_drops(self) -> pl.DataFrame:
        paths = [self._dups_path(p) for p in range(self.partitions)]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise RuntimeError(
                f"{self.name}: reduce step 'groups' has not produced {missing[0]} (and {len(missing) - 1} "
                "more)"
            )
        task = str(self.ctx.task_id)
        return pl.concat([pl.scan_parquet(p).filter(pl.col("task") == task).collect() for p in paths])

    def process(self, df: pl.DataFrame) -> StageResult:
        if self._drops is None:
            self._drops = self._load_drops()
        return apply_drops(df, self._drops, self.reason)
