"""Hugging Face ``datasets`` reader: ``save_to_disk`` folders, or local data files via a builder.

Always offline: the reader sets ``HF_DATASETS_OFFLINE`` / ``HF_HUB_OFFLINE`` before ``datasets`` is
imported (and on its config if it already was), so a dataset name can never turn into a download.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import Field

from curate.io.paths import has_glob, resolve
from curate.io.readers.base import TEXT, Malformed, ReadBatch, Reader, ReaderConfig, register_reader
from curate.io.readers.decode import SchemaKeeper, empty_table
from curate.io.readers.parquet import arrow_to_records
from curate.io.storage import is_uri

_CORE_TYPES = {TEXT: pa.large_string()}
_SAVED_MARKERS = ("dataset_dict.json", "state.json", "dataset_info.json")


def _offline_datasets():
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    import datasets

    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        if hasattr(datasets.config, name):
            setattr(datasets.config, name, True)
    return datasets


def is_saved_dataset(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and any((path / m).is_file() for m in _SAVED_MARKERS)


def _remote_saved_datasets(pattern: str) -> list[str]:
    """Saved-dataset folders under a URI: the folder itself, its children, or the glob's matches."""
    from curate.io import storage

    root = storage.static_root(pattern) if has_glob(pattern) else pattern.rstrip("/")
    marked = {u.rsplit("/", 1)[0] for u, _ in storage.walk(root) if u.rsplit("/", 1)[1] in _SAVED_MARKERS}
    # A DatasetDict's split folders are marked too; only the outermost folder is a dataset.
    tops = sorted(d for d in marked if not any(d.startswith(o + "/") for o in marked))
    if has_glob(pattern):
        rx = storage.glob_regex(pattern)
        return [d for d in tops if rx.match(d)]
    return [d for d in tops if d == root or d.rsplit("/", 1)[0] == root]


@register_reader("hf")
class HfReader(Reader):
    """Rows of a local Hugging Face dataset; ``id`` position = 0-based row index in the split/file.

    Two modes: ``paths`` names folders saved with ``save_to_disk`` (a ``Dataset``, or a
    ``DatasetDict`` from which ``split`` is read; memory-mapped Arrow, streamed in batches), or, with
    ``builder`` set (``json``, ``parquet``, ``csv``, ``text``, ``arrow``), data files that
    ``datasets.load_dataset(builder, data_files=...)`` reads in streaming mode (no cache written).
    Text handling is the Parquet reader's: a null text is ``malformed:missing_text`` per row; a
    dataset that cannot be loaded or lacks the split is ``malformed:hf``.
    """

    class Config(ReaderConfig):
        text_key: str = Field("text", description="Column holding the document text.")
        id_key: str | None = Field(
            None, description="Column holding the input's own record id; kept as column `source_id`."
        )
        split: str | None = Field(
            None,
            description="Split of a DatasetDict to read (default: `train`, or the only split there is).",
        )
        builder: Literal["json", "parquet", "csv", "text", "arrow"] | None = Field(
            None,
            description="Read `paths` as data files with this `datasets` builder instead of as "
            "save_to_disk folders.",
        )

    def list_files(self, pattern: str, base: Path) -> list[str]:
        if self.config.builder is not None:
            return super().list_files(pattern, base)
        full = resolve(pattern, base)
        if is_uri(full):
            return _remote_saved_datasets(full)
        candidates = sorted(glob.glob(full, recursive=True)) if has_glob(full) else [full]
        found: list[str] = []
        for c in map(Path, candidates):
            if is_saved_dataset(c):
                found.append(str(c))
            elif c.is_dir():  # a folder of saved datasets
                found.extend(sorted(str(d) for d in c.iterdir() if is_saved_dataset(d)))
        return found

    def read(self, path: Path, relpath: str) -> Iterator[ReadBatch]:
        if relpath in ("", "."):  # a folder named on its own is its own glob root; name it instead
            relpath = path.name
        keeper = SchemaKeeper()
        row = 0
        try:
            for table in self._open(path):
                out, bad = arrow_to_records(
                    table,
                    row,
                    relpath,
                    source=self.source,
                    text_key=self.config.text_key,
                    id_key=self.config.id_key,
                )
                row += table.num_rows
                yield ReadBatch(keeper.conform(out), bad)
        except _NotReadable as e:
            yield ReadBatch(
                keeper.conform(empty_table(_CORE_TYPES)), [Malformed(relpath, row, e.what, str(e))]
            )
            return
        if row == 0:
            yield ReadBatch(empty_table(_CORE_TYPES), [Malformed(relpath, 0, "empty_file", "no rows")])

    def _open(self, path: Path) -> Iterator[pa.Table]:
        datasets = _offline_datasets()
        n = self.config.batch_rows
        key = self.config.text_key
        if self.config.builder is not None:
            try:
                ds = datasets.load_dataset(
                    self.config.builder, data_files=str(path), split="train", streaming=True
                )
            except Exception as e:  # noqa: BLE001 - datasets raises many kinds; all mean "unreadable"
                raise _NotReadable("hf", f"load_dataset({self.config.builder!r}) failed: {e}") from None
            try:
                for batch in ds.iter(batch_size=n):
                    if key not in batch:
                        raise _NotReadable("missing_text", f"no column {key!r}; columns: {list(batch)}")
                    yield pa.Table.from_pydict(batch)
            except _NotReadable:
                raise
            except Exception as e:  # a data file that breaks mid-way (bad JSON line, truncated file)
                raise _NotReadable(self.config.builder, f"reading failed: {e}") from None
            return
        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as e:  # noqa: BLE001
            raise _NotReadable("hf", f"load_from_disk failed: {e}") from None
        if isinstance(ds, datasets.DatasetDict):
            splits = list(ds)
            split = self.config.split or ("train" if "train" in ds or len(splits) != 1 else splits[0])
            if split not in ds:
                raise _NotReadable("hf", f"split {split!r} not in {splits}")
            ds = ds[split]
        if key not in ds.column_names:
            raise _NotReadable("missing_text", f"no column {key!r}; columns: {ds.column_names}")
        yield from ds.with_format("arrow").iter(batch_size=n)


class _NotReadable(Exception):
    def __init__(self, what: str, detail: str):
        super().__init__(detail)
        self.what = what
