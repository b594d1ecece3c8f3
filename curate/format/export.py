"""Exports of the tokenized shards for other trainers: Megatron-LM, nanoGPT memmaps, MosaicML MDS.

``format: {kind: tokenized, export: [megatron, nanogpt, mds]}`` writes, after the run's shards are
final, ``OUT/export/<target>/`` from the shards themselves (:mod:`curate.format.documents`): the same
tokens and the same documents (each with its separators), so an export is as worker-count invariant
as the shards. One pass streams the documents into a flat token file; an optional seeded shuffle
permutes whole documents (NumPy ``default_rng(seed).permutation``), and each target writes its files
from that memmap in that order. Padding never reaches an export; a ``remainder: drop`` run's cut
tail is absent from both.

Files are written under temporary names and renamed; a done marker under ``_work/`` records the
shard hashes and options an export was built from, so a re-run with nothing changed skips it.
``curate export RUN`` (:mod:`curate.format.run_export`) calls the same :func:`write_exports` on a
finished run's shards.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curate.format.documents import iter_documents
from curate.format.mds import write_mds
from curate.format.megatron import write_megatron
from curate.format.nanogpt import write_nanogpt

TARGETS: dict[str, Callable[..., list[Path]]] = {
    "megatron": write_megatron,
    "nanogpt": write_nanogpt,
    "mds": write_mds,
}


class TokenStream:
    """The documents of a run as one flat token file (memory-mapped) plus their starts, lengths, ids."""

    def __init__(self, path: Path, dtype: np.dtype, lens: np.ndarray, ids: pa.Array):
        self.path = path
        self.dtype = np.dtype(dtype)
        self.lens = lens
        self.starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64) if lens.size else lens
        self.ids = ids
        self.on_tokens: Callable[[int], object] | None = None  # told each chunk's size (a progress bar)
        n = int(lens.sum())
        empty = np.empty(0, self.dtype)
        self.tokens = np.memmap(path, dtype=self.dtype, mode="r", shape=(n,)) if n else empty

    @property
    def n_docs(self) -> int:
        return int(self.lens.size)

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.size)

    def gather(self, order: np.ndarray) -> np.ndarray:
        """The tokens of documents ``order`` (indices), concatenated in that order."""
        lens = self.lens[order]
        if not lens.size:
            return np.empty(0, self.dtype)
        out_starts = np.cumsum(lens) - lens
        # index of every output token: its document's source start + its offset inside the document
        idx = np.repeat(self.starts[order] - out_starts, lens) + np.arange(int(lens.sum()))
        return np.asarray(self.tokens[idx])

    def chunks(self, order: np.ndarray | None, max_tokens: int = 1 << 24):
        """``(doc indices, their tokens)`` in ``order`` (None: as stored), about ``max_tokens`` at a time."""
        if order is None:
            order = np.arange(self.n_docs)
        ends = np.cumsum(self.lens[order])
        lo = 0
        while lo < order.size:
            base = ends[lo - 1] if lo else 0
            hi = max(int(np.searchsorted(ends, base + max_tokens, side="right")), lo + 1)
            tokens = self.gather(order[lo:hi])
            yield order[lo:hi], tokens
            if self.on_tokens is not None:
                self.on_tokens(tokens.size)
            lo = hi


def stream_documents(
    shards: list[Path], dtype: np.dtype, path: Path, on_rows: Callable[[int], object] | None = None
) -> TokenStream:
    """Write every document's tokens of ``shards`` to ``path`` in order; return the stream over it.

    ``on_rows`` is told how many packed rows each row group held, as it is read (a progress bar).
    """
    lens_parts: list[np.ndarray] = []
    id_parts: list[pa.Array] = []
    dtype = np.dtype(dtype)
    with open(path, "wb") as f:
        for b in iter_documents(shards):
            f.write(np.ascontiguousarray(b.tokens, dtype=dtype).tobytes())
            if on_rows is not None:
                on_rows(b.rows)
            lens = b.lens
            if b.continues and lens_parts:  # the batch's first document is the last one's tail
                lens_parts[-1] = lens_parts[-1].copy()
                lens_parts[-1][-1] += lens[0]
                lens, ids = lens[1:], b.ids[1:]
            else:
                ids = b.ids
            lens_parts.append(lens)
            id_parts.append(ids)
    lens = np.concatenate(lens_parts) if lens_parts else np.empty(0, np.int64)
    ids = pa.concat_arrays([a.cast(pa.large_string()) for a in id_parts]) if id_parts else pa.array(
        [], pa.large_string()
    )
    return TokenStream(path, dtype, lens, ids)


def document_order(n_docs: int, shuffle: bool, seed: int) -> np.ndarray | None:
    """None (the shards' order) or a seeded permutation of whole documents."""
    return np.random.default_rng(seed).permutation(n_docs) if shuffle else None


def write_exports(
    shards: list[Path],
    out: Path,
    work: Path,
    targets: list[str],
    dtype: np.dtype,
    shuffle: bool,
    seed: int,
    key: dict[str, Any],
    relative_to: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write each target under ``out/<target>/``; returns the manifest entry (files with sizes).

    ``key`` (shard hashes and options) is compared with the done marker in ``work``: an export built
    from the same key is kept as it is. File paths in the entry are relative to ``relative_to``
    (default ``out.parent``: the run folder, for ``OUT/export``). ``progress`` draws tqdm bars on
    stderr: packed rows read, then tokens written per target.
    """
    from curate.io.writer import sha256_file, write_json_atomic

    root = out.parent if relative_to is None else relative_to
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "export-done.json"
    if marker.exists():
        done = json.loads(marker.read_text())
        if done.get("key") == key and all((root / f["path"]).exists() for f in done["files"]):
            return done["entry"]
    flat = work / "stream.tokens"
    with _bar(progress, "read shards", "row", _total_rows(shards) if progress else 0) as bar:
        stream = stream_documents(shards, dtype, flat, on_rows=bar.update if bar else None)
    order = document_order(stream.n_docs, shuffle, seed)
    files: list[dict[str, Any]] = []
    for target in targets:
        folder = out / target
        tmp = out / f".{target}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with _bar(progress, f"write {target}", "tok", stream.n_tokens) as bar:
            stream.on_tokens = bar.update if bar else None
            TARGETS[target](stream, order, tmp)
            stream.on_tokens = None
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                files.append({
                    "path": str(p.relative_to(root)),
                    "bytes": p.stat().st_size,
                    "sha256": sha256_file(p),
                })
    n_docs, n_tokens = stream.n_docs, stream.n_tokens
    del stream
    flat.unlink(missing_ok=True)
    entry = {
        "targets": list(targets),
        "documents": n_docs,
        "tokens": n_tokens,
        "shuffle": shuffle,
        "seed": seed if shuffle else None,
        "files": files,
    }
    write_json_atomic(marker, {"key": key, "entry": entry, "files": files})
    return entry


def _total_rows(shards: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in shards)


@contextmanager
def _bar(on: bool, desc: str, unit: str, total: int):
    """A tqdm bar on stderr, or ``None`` when ``on`` is false."""
    if not on:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar
