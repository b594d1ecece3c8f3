"""What the dedup stages share: the keep rule, the dropped-row columns, cluster-size histograms."""

from __future__ import annotations

from typing import Literal

import polars as pl

from curate.engine.stage import REASON, StageResult

KeepRule = Literal["first", "longest", "quality"]
DUPLICATE_OF = "duplicate_of"
CLUSTER_SIZE = "cluster_size"


def resolve_partitions(configured: int | None, n_tasks: int) -> int:
    """Shuffle partitions: as configured, else one per task (at least 16, at most 1024).

    Scaling with the task count keeps a partition (docs x bands / partitions rows) about one
    shard's worth of keys, so reduce memory follows the shard size, not the corpus size. The engine
    gives every phase the same ``n_tasks``, so collect and reduce agree.
    """
    if configured is not None:
        return configured
    return min(max(16, n_tasks), 1024)


def keeper_order(keep: KeepRule) -> tuple[list[str], list[bool]]:
    """Sort columns/descending flags so the kept document of a group comes first.

    Ties always fall back to the smallest id, so the choice never depends on shard layout or
    worker count. Expects columns ``id``, ``length`` and (for ``quality``) ``quality``.
    """
    if keep == "first":
        return ["id"], [False]
    if keep == "longest":
        return ["length", "id"], [True, False]
    return ["quality", "id"], [True, False]


def size_histogram(sizes: list[int]) -> dict[str, int]:
    """Cluster sizes in power-of-two bins: ``{"2": n, "3-4": n, "5-8": n, ...}``."""
    hist: dict[str, int] = {}
    for s in sorted(sizes):
        lo, hi = 2, 2
        while s > hi:
            lo, hi = hi + 1, hi * 2
        key = str(lo) if lo == hi else f"{lo}-{hi}"
        hist[key] = hist.get(key, 0) + 1
    return hist


def merge_histograms(hists: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for h in hists:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v

    def lower(k: str) -> int:
        return int(k.split("-")[0])

    return dict(sorted(out.items(), key=lambda kv: lower(kv[0])))


def apply_drops(df: pl.DataFrame, drops: pl.DataFrame, reason: str) -> StageResult:
    """Split ``df`` by the ``drops`` table (``id``, ``duplicate_of``, ``cluster_size``); order kept."""
    if drops.height == 0 or df.height == 0:
        return StageResult(kept=df)
    mask = df["id"].is_in(drops["id"].implode())
    if not mask.any():
        return StageResult(kept=df)
    dropped = df.filter(mask)
    dup_of = dict(zip(drops["id"].to_list(), drops[DUPLICATE_OF].to_list(), strict=True))
    size = dict(zip(drops["id"].to_list(), drops[CLUSTER_SIZE].to_list(), strict=True))
    ids = dropped["id"].to_list()
    dropped = dropped.with_columns(
        pl.lit(reason).alias(REASON),
        pl.Series(DUPLICATE_OF, [dup_of[i] for i in ids], dtype=pl.Utf8),
        pl.Series(CLUSTER_SIZE, [size[i] for i in ids], dtype=pl.Int64),
    )
    return StageResult(kept=df.filter(~mask), dropped=dropped)
