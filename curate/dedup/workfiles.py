"""Side files of the dedup phases: atomic Parquet writes and the task index, all under ``work_dir``.

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, so a task or reduce partition killed half-way leaves either the old file or the
new one, never a torn one; re-running overwrites with identical content (idempotent).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from curate.io.writer import temp_path, write_json_atomic


def atomic_write_parquet(df: pl.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` atomically (temp name + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        df.write_parquet(tmp, compression="zstd", compression_level=1, statistics=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def mark_task_done(work_dir: Path, task_id: str, rows: int) -> None:
    """Record that ``task_id`` finished collecting; written last, after its side files."""
    write_json_atomic(work_dir / "tasks" / f"{task_id}.json", {"rows": rows})


def task_ids(work_dir: Path) -> list[str]:
    """The ids of all tasks that finished collecting, sorted; their position is the task number.

    Each collect task writes ``tasks/{task_id}.json`` last, so after the barrier this lists every
    task exactly once, in the same order in every reduce process.
    """
    folder = work_dir / "tasks"
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".json") for p in folder.glob("*.json") if not p.name.startswith("."))


def partition_files(folder: Path) -> list[Path]:
    """Finished Parquet files of one partition folder (temp files skipped), sorted by name."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


def read_parts(
    files: list[Path], schema: dict[str, pl.DataType], task_of: dict[str, int] | None = None
) -> pl.DataFrame:
    """Concatenate partition files; with ``task_of``, add a ``task`` column (the file's task number)."""
    frames = []
    for f in files:
        df = pl.read_parquet(f)
        if task_of is not None:
            df = df.with_columns(
                pl.lit(task_of[f.name.removesuffix(".parquet")], dtype=pl.UInt32).alias("task")
            )
        frames.append(df)
    if not frames:
        cols = dict(schema)
        if task_of is not None:
            cols["task"] = pl.UInt32
        return pl.DataFrame(schema=cols)
    return pl.concat(frames, how="vertical")
