"""Helpers shared by the reader tests (imported by name: tests/io is on sys.path under pytest)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curate.io.readers.base import Malformed, readers

SHARED_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()


def read_all(name: str, path: Path, relpath: str | None = None, source: str = "src", **options):
    """Run reader ``name`` on one file: (concatenated table, malformed list, per-batch tables)."""
    cls = readers()[name]
    reader = cls(cls.Config(**options), source)
    batches = list(reader.read(path, relpath or path.name))
    tables = [b.table for b in batches]
    bad: list[Malformed] = [m for b in batches for m in b.malformed]
    nonempty = [t for t in tables if t.num_rows]
    table = (
        pa.concat_tables(nonempty, promote_options="permissive")
        if nonempty
        else (tables[0] if tables else None)
    )
    return table, bad, tables
