"""The benchmark index: every benchmark item's hashed n-grams in one sorted NumPy array.

A benchmark is a local JSONL (``.gz`` too) or Parquet file; ``fields`` name what of each record is
the item's text (``query``, ``choices[gold]`` for the gold choice of a list, ``choices`` for all of
them). The fields are joined into one text per item (``join: true``) or each string is a text of its
own. Items are read in chunks of 4,096 records, so memory is the index itself: 12 bytes per
distinct n-gram (the ``uint64`` hash and the ``int32`` item it came from; an n-gram shared by two
items keeps the first). Texts shorter than ``ngram`` words are kept whole, by length, in a second
small table. Built once per config and cached under the stage's work folder as ``.npy`` files that
workers memory-map.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from curate.decontam.ngrams import gram_hashes, whole_hashes, words

CHUNK = 4096
_FIELD = re.compile(r"^([^\[\]]+)(?:\[([^\[\]]+)\])?$")


class Benchmark(BaseModel):
    """One evaluation set to keep out of the training data."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="What hits are recorded as (contamination_benchmark).")
    path: str = Field(description="Local JSONL (.jsonl, .jsonl.gz) or Parquet file of the items.")
    fields: list[str] | None = Field(
        None,
        description="What of each record is the item's text: a key, key[index_key] (one element of a "
        "list, e.g. choices[gold]) or a list key (every element); default: every string in the record.",
    )
    join: bool = Field(True, description="Join an item's fields into one text (false: each string alone).")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def item_strings(record: dict, fields: list[str] | None) -> list[str]:
    """The strings of one benchmark record that make up its item, in field order."""
    if fields is None:
        return _strings(record)
    out: list[str] = []
    for f in fields:
        m = _FIELD.match(f)
        if m is None:
            raise ValueError(f"field {f!r}: expected key or key[index_key]")
        key, index = m.groups()
        value = record.get(key)
        if index is not None and isinstance(value, list | tuple):
            i = record.get(index, index)
            try:
                value = value[int(i)]
            except (ValueError, TypeError, IndexError):
                value = None
        out += _strings(value)
    return out


def read_records(path: Path) -> Iterator[list[dict]]:
    """Records of a JSONL/Parquet file, CHUNK at a time."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
            yield batch.to_pylist()
        return
    opener = gzip.open if path.suffix == ".gz" else open
    chunk: list[dict] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                chunk.append({})  # keeps item numbers equal to line numbers - 1
                continue
            try:
                chunk.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON ({e})") from e
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


@dataclasses.dataclass
class BenchmarkIndex:
    """Sorted n-gram hashes of all benchmarks, the item each came from, and the short items."""

    ngram: int
    names: list[str]  # benchmark names, by benchmark number
    item_bench: np.ndarray  # int16 per item: its benchmark
    item_row: np.ndarray  # int64 per item: its record number in the benchmark file
    grams: np.ndarray  # uint64, sorted, distinct
    gram_item: np.ndarray  # int32, the item of each gram
    short: dict[int, tuple[np.ndarray, np.ndarray]]  # words -> (sorted distinct hashes, items)
    stats: dict[str, dict[str, int]]  # per benchmark: items, texts, ngrams, short_texts

    FILES = ("item_bench", "item_row", "grams", "gram_item", "short_len", "short_hash", "short_item")

    def save(self, folder: Path) -> None:
        """Write the index as .npy files plus meta.json, atomically (a temp folder renamed)."""
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        lens = sorted(self.short)
        short_len = [np.full(self.short[m][0].size, m, np.int32) for m in lens]
        arrays = {
            "item_bench": self.item_bench,
            "item_row": self.item_row,
            "grams": self.grams,
            "gram_item": self.gram_item,
            "short_len": np.concatenate([np.empty(0, np.int32), *short_len]),
            "short_hash": np.concatenate([np.empty(0, np.uint64), *(self.short[m][0] for m in lens)]),
            "short_item": np.concatenate([np.empty(0, np.int32), *(self.short[m][1] for m in lens)]),
        }
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", arr)
        meta = {"ngram": self.ngram, "names": self.names, "stats": self.stats}
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, folder)
        except OSError:  # another worker finished the same index first: theirs is identical
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BenchmarkIndex:
        """Memory-map an index written by :meth:`save`."""
        meta = json.loads((folder / "meta.json").read_text())
        a = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in cls.FILES}
        short = {}
        lens = np.asarray(a["short_len"])
        for m in np.unique(lens).tolist():
            sel = np.flatnonzero(lens == m)
            short[int(m)] = (np.asarray(a["short_hash"][sel]), np.asarray(a["short_item"][sel]))
        return cls(meta["ngram"], meta["names"], a["item_bench"], a["item_row"], a["grams"],
                   a["gram_item"], short, meta["stats"])


def index_key(benchmarks: list[Benchmark], ngram: int, min_item_words: int) -> str:
    """What an index depends on: the benchmarks' configs and files (size, mtime), n, polars' hash."""
    files = []
    for b in benchmarks:
        st = Path(b.path).stat()
        files.append([b.model_dump(), st.st_size, st.st_mtime_ns])
    blob = json.dumps([files, ngram, min_item_words, pl.__version__], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def build_index(benchmarks: list[Benchmark], ngram: int, min_item_words: int = 1) -> BenchmarkIndex:
    """Read every benchmark and hash its items' n-grams (and its short texts whole)."""
    gram_parts: list[tuple[np.ndarray, np.ndarray]] = []
    short_parts: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    item_bench: list[np.ndarray] = []
    item_row: list[np.ndarray] = []
    stats: dict[str, dict[str, int]] = {}
    n_items = 0
    for b_i, b in enumerate(benchmarks):
        path = Path(b.path)
        if not path.is_file():
            raise FileNotFoundError(f"benchmark {b.name}: {path} does not exist")
        st = stats.setdefault(b.name, {"items": 0, "texts": 0, "ngrams": 0, "short_texts": 0,
                                       "skipped_texts": 0})
        row = 0
        for chunk in read_records(path):
            texts, text_item = [], []
            for j, rec in enumerate(chunk):
                strings = [s for s in item_strings(rec, b.fields) if s.strip()]
                if b.join and strings:
                    strings = [" ".join(strings)]
                texts += strings
                text_item += [n_items + j] * len(strings)
            item_bench.append(np.full(len(chunk), b_i, np.int16))
            item_row.append(np.arange(row, row + len(chunk), dtype=np.int64))
            row += len(chunk)
            n_items += len(chunk)
            st["items"] += len(chunk)
            st["texts"] += len(texts)
            if not texts:
                continue
            w = words(texts)
            items = np.asarray(text_item, dtype=np.int32)
            h, d = gram_hashes(w, [ngram])[ngram]
            gram_parts.append((h, items[d]))
            st["ngrams"] += int(h.size)
            counts = w.counts
            short = (counts < ngram) & (counts >= max(min_item_words, 1))
            st["skipped_texts"] += int(((counts < min_item_words) & (counts > 0)).sum())
            if short.any():
                whole = whole_hashes(w)
                for m in np.unique(counts[short]).tolist():
                    sel = np.flatnonzero(counts == m)
                    short_parts.setdefault(int(m), []).append((whole[sel], items[sel]))
                st["short_texts"] += int(short.sum())
    grams, gram_item = _distinct(gram_parts)
    short = {m: _distinct(parts) for m, parts in short_parts.items()}
    return BenchmarkIndex(
        ngram=ngram,
        names=[b.name for b in benchmarks],
        item_bench=np.concatenate(item_bench) if item_bench else np.empty(0, np.int16),
        item_row=np.concatenate(item_row) if item_row else np.empty(0, np.int64),
        grams=grams,
        gram_item=gram_item,
        short=short,
        stats=stats,
    )


def _distinct(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct hashes and, for each, the first item it came from."""
    if not parts:
        return np.empty(0, np.uint64), np.empty(0, np.int32)
    h = np.concatenate([p[0] for p in parts])
    it = np.concatenate([p[1] for p in parts]).astype(np.int32)
    order = np.lexsort((it, h))  # by hash, then item: the first of a run is the lowest item
    h, it = h[order], it[order]
    first = np.ones(h.size, dtype=bool)
    first[1:] = h[1:] != h[:-1]
    return h[first], it[first]


_CACHE: dict[str, BenchmarkIndex] = {}


def load_or_build(benchmarks: list[Benchmark], ngram: int, min_item_words: int,
                  work_dir: Path | None) -> BenchmarkIndex:
    """The index for this config: from this process's cache, the work folder, or built (and saved)."""
    key = index_key(benchmarks, ngram, min_item_words)
    if key in _CACHE:
        return _CACHE[key]
    folder = work_dir / f"index-{key}" if work_dir is not None else None
    if folder is not None and (folder / "meta.json").exists():
        index = BenchmarkIndex.load(folder)
    else:
        index = build_index(benchmarks, ngram, min_item_words)
        if folder is not None:
            index.save(folder)
            index = BenchmarkIndex.load(folder)  # memory-mapped: workers share the pages
    _CACHE[key] = index
    return index
