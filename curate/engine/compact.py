"""Merge small shards at the end of a run, so many small inputs do not mean many small outputs.

Every task writes its own shards, so a corpus of 100,000 small files would end as 100,000 small
shards (and as many reject files per stage). After the last phase, shards under
``output.min_shard_mb`` are merged per folder, in shard order, into shards of at least that size
where there is enough (and at most ``shard_rows`` rows); larger shards keep their names. A merged
shard is named after its first member plus the number merged (``part-00003-0000+41.parquet``), a
name no task writes, so a crash at any point is recovered without doubt: the plan is written to
``_work/compact-<folder>.json`` before anything moves, each merge is a task (run by the executor,
in parallel) that commits its shard by rename before deleting its members, and a re-run completes
what is left.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq

from curate.io.writer import ParquetOptions, temp_path, write_json_atomic


def plan_merges(
    files: list[Path], rows: dict[Path, int], sizes: dict[Path, int], shard_rows: int, min_bytes: int
) -> list[dict]:
    """Bins of at least two small shards of one folder, in order: ``{"out", "members"}`` (paths as
    ``files`` gives them).

    A bin closes once it reaches ``min_bytes`` or when the next shard would take it past
    ``shard_rows`` rows."""
    by_folder: dict[Path, list[Path]] = {}
    for f in files:
        if sizes[f] < min_bytes and rows[f] < shard_rows:
            by_folder.setdefault(f.parent, []).append(f)
    bins: list[dict] = []

    def close(current: list[Path]) -> None:
        if len(current) >= 2:
            first = current[0]
            out = first.with_name(f"{first.stem}+{len(current) - 1}{first.suffix}")
            bins.append({"out": str(out), "members": [str(m) for m in current]})

    for small in by_folder.values():
        current: list[Path] = []
        n_rows = n_bytes = 0
        for f in small:
            if current and n_rows + rows[f] > shard_rows:
                close(current)
                current, n_rows, n_bytes = [], 0, 0
            current.append(f)
            n_rows += rows[f]
            n_bytes += sizes[f]
            if n_bytes >= min_bytes:
                close(current)
                current, n_rows, n_bytes = [], 0, 0
        close(current)
    return bins


def merge_bin(root: Path, b: dict, opts: ParquetOptions) -> int:
    """Write one bin's merged shard (unless a previous attempt did) and delete its members;
    returns its rows. Members share one schema: the plan is made after schemas are unified."""
    out = root / b["out"]
    members = [root / m for m in b["members"]]
    if not out.exists():
        tmp = temp_path(out)
        schema = pq.read_schema(members[0]).remove_metadata()
        with pq.ParquetWriter(tmp, schema, **opts.writer_kwargs(schema)) as w:
            for m in members:
                w.write_table(pq.read_table(m).cast(schema), row_group_size=opts.row_group_rows)
        os.replace(tmp, out)
    for m in members:
        m.unlink(missing_ok=True)
    return pq.ParquetFile(out).metadata.num_rows


def plan_folder(
    root: Path, files: list[Path], shard_rows: int, min_bytes: int, plan_file: Path, before=None
) -> list[dict]:
    """The saved plan for ``files`` (paths under ``root``), or a new one, made after
    ``before(files)`` (which unifies their schemas). Paths in plans are relative to ``root``, so a
    run folder can be moved."""
    if plan_file.exists():
        return json.loads(plan_file.read_text())["bins"]
    if before is not None:
        before(files)
    rel = [f.relative_to(root) for f in files]
    rows = {r: pq.ParquetFile(f).metadata.num_rows for r, f in zip(rel, files, strict=True)}
    sizes = {r: f.stat().st_size for r, f in zip(rel, files, strict=True)}
    bins = plan_merges(rel, rows, sizes, shard_rows, min_bytes)
    write_json_atomic(plan_file, {"shard_rows": shard_rows, "min_bytes": min_bytes, "bins": bins})
    return bins


def after_merges(root: Path, files: list[Path], bins: list[dict]) -> list[Path]:
    """``files`` as they are once ``bins`` are merged, in order. ``files`` may already hold merged
    shards (a folder listed again on a re-run)."""
    first = {root / b["members"][0]: root / b["out"] for b in bins}
    merged = {root / m for b in bins for m in b["members"]}
    out: list[Path] = []
    seen: set[Path] = set()
    for f in files:
        g = first.get(f, f)
        if (f in merged and f not in first) or g in seen:
            continue
        seen.add(g)
        out.append(g)
    return out
