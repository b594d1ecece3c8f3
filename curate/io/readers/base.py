"""The reader contract: files in, Arrow batches of records out, malformed input as rejects.

A reader streams: it never loads a whole large file into memory. It yields :class:`ReadBatch`es
whose table has the core columns ``id``, ``source`` and ``text`` (or ``html`` + ``url`` for WARC
response records) followed by the input's own metadata columns. Input it cannot parse becomes a
:class:`Malformed` entry (file, line or byte offset, what was wrong) that the engine turns into a
rejected row with reason ``malformed:<what>``; a reader never skips input silently and never
crashes the run on bad bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import xxhash
from pydantic import Field

from curate.contract import StageConfig

ID, SOURCE, TEXT = "id", "source", "text"
CORE_COLUMNS = (ID, SOURCE, TEXT)
# Metadata columns that would collide with core columns are kept under these names.
RENAMED_ON_COLLISION = {ID: "source_id", SOURCE: "source_orig"}
RAW_SNIPPET_CHARS = 1000


def make_id(source: str, relpath: str, position: int) -> str:
    """A stable record id from source + file + position.

    ``<source>-<16 hex of xxh64(relpath)>-<position, zero-padded>`` sorts by file, then by position
    within the file, so "first by id" means first in corpus order within a file.
    """
    return f"{source}-{xxhash.xxh64_hexdigest(relpath.encode())}-{position:010d}"


@dataclasses.dataclass
class Malformed:
    """One piece of input that could not become a record."""

    file: str
    position: int  # 1-based line number for line formats, byte offset for binary formats
    what: str  # short kind: json, utf8, gzip, warc_truncated, empty_file, missing_text...
    detail: str = ""
    raw: str = ""  # up to RAW_SNIPPET_CHARS of the offending input, for the rejects file
    # Input records this entry stands for: 1, or e.g. the rows of a Parquet row group that fails to
    # decode (from the file's metadata), so that read's `in` counts records, not entries.
    rows: int = 1

    @property
    def reason(self) -> str:
        return f"malformed:{self.what}"


@dataclasses.dataclass
class ReadBatch:
    """Records read from one file, plus what could not be read."""

    table: pa.Table
    malformed: list[Malformed] = dataclasses.field(default_factory=list)


class ReaderConfig(StageConfig):
    """Options shared by every reader."""

    batch_rows: int = Field(2048, gt=0, description="Records per batch the reader hands on.")


class Reader:
    """Base reader. Subclasses set ``name``, ``Config`` and implement :meth:`read`."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[ReaderConfig]] = ReaderConfig
    # Globs match files; readers whose unit is "one file = one document" group files into tasks.
    files_per_task: ClassVar[int] = 1
    # True: read() takes URIs too and streams them (overlapping download and parsing); otherwise
    # the engine hands read() a local copy of a remote file.
    reads_uris: ClassVar[bool] = False

    def __init__(self, config: ReaderConfig, source: str):
        self.config = config
        self.source = source

    def list_files(self, pattern: str, base: Path) -> list[str]:
        """The files a ``paths`` entry names (sorted, deterministic; local paths or URIs). Default: a glob."""
        from curate.io.paths import expand_glob

        return expand_glob(pattern, base)

    def read(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        """Stream one local file as batches (the engine fetches remote ones first). ``relpath`` is
        the stable name used in ids."""
        raise NotImplementedError

    def make_id(self, relpath: str, position: int) -> str:
        return make_id(self.source, relpath, position)


_READERS: dict[str, type[Reader]] = {}


def register_reader(name: str):
    """Class decorator: register a :class:`Reader` under ``name`` (the ``reader:`` key in YAML)."""

    def deco(cls: type[Reader]) -> type[Reader]:
        cls.name = name
        _READERS[name] = cls
        return cls

    return deco


# Modules whose import registers readers: the generic ones, and readers that live with their job.
READER_MODULES = ("curate.io.readers", "curate.sft.reader")


def readers() -> dict[str, type[Reader]]:
    """All registered readers by name."""
    import importlib

    for mod in READER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
    return dict(sorted(_READERS.items()))


def table_from_columns(
    columns: dict[str, list], schema_hint: dict[str, pa.DataType] | None = None
) -> pa.Table:
    """Build an Arrow table from column lists, core columns first, metadata after."""
    arrays = {}
    for name, values in columns.items():
        t = (schema_hint or {}).get(name)
        arrays[name] = pa.array(values, type=t) if t is not None else pa.array(values)
    return pa.table(arrays)
