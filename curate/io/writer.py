"""Streaming Parquet shard writer: bounded memory, atomic commit, deterministic names.

One writer belongs to one task. It writes ``<prefix>-<k>.parquet`` files of at most ``shard_rows``
rows under temporary names and renames them into place only in :meth:`commit`, so a killed task
leaves no half-written shard behind (its temp files are swept on the next run). When a batch brings
columns the open file does not have, the file is closed early and a new one starts: nothing is
dropped; the run's finalize step later unifies schemas across shards.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from curate.contract import SCRATCH_PREFIX
from curate.train.storage import sha256_file

if TYPE_CHECKING:  # Polars only for the shard writer's frames: the atomic writers stay importable without it
    import polars as pl

TMP_MARK = ".tmp-"
# Columns where every value is unique and long: dictionary pages and min/max statistics cost
# write time and buy nothing, so they are written plain.
BULK_COLUMNS = frozenset({"text", "html", "raw", "content", "input_ids", "labels", "position_ids"})


@dataclasses.dataclass(frozen=True)
class ParquetOptions:
    compression: str = "zstd"
    compression_level: int | None = 3
    row_group_rows: int = 8192

    def writer_kwargs(self, schema: pa.Schema) -> dict:
        small = [n for n in schema.names if n not in BULK_COLUMNS]
        kw: dict = {
            "compression": None if self.compression == "none" else self.compression,
            "use_dictionary": small,
            "write_statistics": small,
        }
        if self.compression_level is not None and self.compression in ("zstd", "gzip"):
            kw["compression_level"] = self.compression_level
        return kw


def public_columns(df: pl.DataFrame) -> pl.DataFrame:
    """Drop scratch (``__``-prefixed) columns before anything is written."""
    scratch = [c for c in df.columns if c.startswith(SCRATCH_PREFIX)]
    return df.drop(scratch) if scratch else df


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """``table`` cast to ``schema`` (missing columns as nulls), or None if that would lose data."""
    if set(table.column_names) - set(schema.names):
        return None
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                try:
                    col = col.cast(field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    return None
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


class _File:
    def __init__(self, final: Path, schema: pa.Schema, opts: ParquetOptions):
        self.final = final
        self.tmp = final.with_name(final.name + f"{TMP_MARK}{os.getpid()}")
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.writer = pq.ParquetWriter(self.tmp, schema, **opts.writer_kwargs(schema))
        self.rows = 0

    def close(self) -> None:
        self.writer.close()


class ShardWriter:
    """Writes one task's rows to ``folder/<prefix>-NNNN.parquet`` shards (optionally routed).

    ``route`` names a column whose value selects a subfolder (``folder/<value>/``), e.g. ``lang``.
    """

    def __init__(
        self, folder: Path, prefix: str, shard_rows: int, opts: ParquetOptions, route: str | None = None
    ):
        self.folder = folder
        self.prefix = prefix
        self.shard_rows = shard_rows
        self.opts = opts
        self.route = route
        self._open: dict[str, _File] = {}
        self._next: dict[str, int] = {}
        self._closed: list[_File] = []

    def write(self, df: pl.DataFrame) -> None:
        df = public_columns(df)
        if df.height == 0:
            return
        if self.route and self.route in df.columns:
            import polars as pl

            keys = df[self.route].cast(pl.Utf8).fill_null("unknown")
            for value in sorted(keys.unique().to_list()):
                self._write_to(_safe_dir(value), df.filter(keys == value))
        else:
            self._write_to("", df)

    def _write_to(self, sub: str, df: pl.DataFrame) -> None:
        table = df.to_arrow()
        start = 0
        while start < table.num_rows:
            f = self._open.get(sub)
            if f is not None:
                piece = table.slice(start, self.shard_rows - f.rows)
                fitted = conform(piece, f.schema)
                if fitted is None:  # new columns or types: close this shard, start another
                    self._close(sub)
                    continue
            else:
                piece = table.slice(start, self.shard_rows)
                f = self._new_file(sub, piece.schema)
                fitted = piece
            f.writer.write_table(fitted, row_group_size=self.opts.row_group_rows)
            f.rows += fitted.num_rows
            start += fitted.num_rows
            if f.rows >= self.shard_rows:
                self._close(sub)

    def _new_file(self, sub: str, schema: pa.Schema) -> _File:
        k = self._next.get(sub, 0)
        self._next[sub] = k + 1
        folder = self.folder / sub if sub else self.folder
        f = _File(folder / f"{self.prefix}-{k:04d}.parquet", schema, self.opts)
        self._open[sub] = f
        return f

    def _close(self, sub: str) -> None:
        f = self._open.pop(sub)
        f.close()
        self._closed.append(f)

    def commit(self, checksum: bool = False) -> list[dict]:
        """Close everything and rename temp files into place; returns ``{path, rows}`` per shard,
        with ``sha256``, ``bytes`` and ``mtime_ns`` when ``checksum`` (hashed here, in the worker,
        while the file is in the page cache, rather than all at once at the end of the run)."""
        for sub in list(self._open):
            self._close(sub)
        out = []
        for f in self._closed:
            item: dict = {"path": f.final, "rows": f.rows}
            if checksum:
                item["sha256"] = sha256_file(f.tmp)
            os.replace(f.tmp, f.final)
            if checksum:
                st = f.final.stat()
                item.update(bytes=st.st_size, mtime_ns=st.st_mtime_ns)
            out.append(item)
        self._closed = []
        return out

    def abort(self) -> None:
        for sub in list(self._open):
            self._close(sub)
        for f in self._closed:
            f.tmp.unlink(missing_ok=True)
        self._closed = []


def _safe_dir(value: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in value)
    return cleaned.strip(".") or "unknown"


def sweep_temp_files(folder: Path) -> int:
    """Remove temp files a killed run left behind; returns how many."""
    n = 0
    if folder.exists():
        for p in folder.rglob(f"*{TMP_MARK}*"):
            p.unlink(missing_ok=True)
            n += 1
    return n


def temp_path(path: Path) -> Path:
    """A unique temporary name beside ``path``; the run sweeps such names after a kill."""
    return path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file and rename it into place (readers see old or new, never torn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to a temp file, fsync it and rename it into place: the one JSON writer for done
    markers, manifests and side files (a reader sees the old file or the whole new one)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
