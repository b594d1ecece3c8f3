"""Merge small shards at the end of a run, so many small inputs do not mean many small outputs.

Every task writes its own shards, so a corpus of 100,000 small files would end as 100,000 small
shards (and as many reject files per stage). Finalize merges, per folder and in shard order, every
shard under half of ``shard_rows`` into shards of at most ``shard_rows`` rows; full shards keep
their names. A merged shard is named after its first member plus the number merged
(``part-00003-0000+41.parquet``), a name no task writes, so a crash at any point is recovered
without doubt: the plan is written to ``_work/compact.json`` before anything moves, a merged
shard is committed by rename before its members are deleted, and a re-run completes the plan.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq

from curate.io.writer import ParquetOptions, temp_path, write_json_atomic

SMALL_FRACTION = 0.5


def plan_merges(files: list[Path], rows: dict[Path, int], shard_rows: int) -> list[dict]:
    """Bins of at least two small shards of one folder, in order: ``{"out", "members"}``."""
    by_folder: dict[Path, list[Path]] = {}
    for f in files:
        if rows[f] < shard_rows * SMALL_FRACTION:
            by_folder.setdefault(f.parent, []).append(f)
    bins: list[dict] = []
    for small in by_folder.values():
        current: list[Path] = []
        total = 0
        for f in small + [None]:  # None flushes the last bin
            if f is not None and total + rows[f] <= shard_rows:
                current.append(f)
                total += rows[f]
                continue
            if len(current) >= 2:
                first = current[0]
                out = first.with_name(f"{first.stem}+{len(current) - 1}{first.suffix}")
                bins.append({"out": str(out), "members": [str(m) for m in current]})
            current, total = ([f], rows[f]) if f is not None else ([], 0)
    return bins


def apply_merges(bins: list[dict], opts: ParquetOptions) -> None:
    """Carry out a plan; safe to repeat after a crash at any point of a previous attempt."""
    for b in bins:
        out = Path(b["out"])
        members = [Path(m) for m in b["members"]]
        if not out.exists():
            tmp = temp_path(out)
            schema = pq.read_schema(members[0]).remove_metadata()
            with pq.ParquetWriter(tmp, schema, **opts.writer_kwargs(schema)) as w:
                for m in members:
                    w.write_table(pq.read_table(m).cast(schema), row_group_size=opts.row_group_rows)
            os.replace(tmp, out)
        for m in members:
            m.unlink(missing_ok=True)


def compact(files: list[Path], rows: dict[Path, int], shard_rows: int, opts: ParquetOptions, plan_file: Path, before=None) -> list[Path]:
    """Merge the small ones among ``files``; returns the shards after, in the order of ``files``.
    ``before(files)`` runs once, before planning (it unifies their schemas)."""
    if plan_file.exists():
        bins = json.loads(plan_file.read_text())["bins"]
    else:
        if before is not None:
            before(files)
        bins = plan_merges(files, rows, shard_rows)
        write_json_atomic(plan_file, {"shard_rows": shard_rows, "bins": bins})
    apply_merges(bins, opts)
    first = {Path(b["members"][0]): Path(b["out"]) for b in bins}
    merged = {Path(m) for b in bins for m in b["members"]}
    out: list[Path] = []
    for f in files:  # ``files`` may already hold merged shards (a folder listed on a re-run)
        g = first.get(f, f)
        if (f in merged and f not in first) or g in out:
            continue
        out.append(g)
    return out
