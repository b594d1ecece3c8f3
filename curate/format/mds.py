"""MosaicML streaming's MDS: ``index.json`` plus ``shard.NNNNN.mds`` files, one sample per document.

Written as ``streaming/base/format/mds/writer.py`` (mosaicml-streaming 0.13) writes them, so
``StreamingDataset(local=folder)`` reads them: columns sorted by name, ``id`` (``str``) and
``tokens`` (``ndarray:uint16`` or ``ndarray:uint32``: a fixed dtype, so a sample's array is a shape
header byte ``ndim << 2 | shape dtype``, its shape, then the values); a sample is its variable
column sizes (``uint32``) then the column bytes; a shard is the sample count, the ``uint32`` sample
offsets, the shard's JSON config and the samples. A shard closes before it would pass
``size_limit`` (streaming's default, 64 MiB). No compression: token ids barely compress and the
loader reads shards in place. LLM Foundry's pretraining loader takes this ``tokens`` column.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

SIZE_LIMIT = 1 << 26


def _shape_header(n: int) -> bytes:
    """NDArray's dynamic-shape header for a 1-D array of ``n`` values (streaming's encodings.py)."""
    if n < 1 << 8:
        return bytes([(1 << 2) | 0]) + struct.pack("<B", n)
    if n < 1 << 16:
        return bytes([(1 << 2) | 1]) + struct.pack("<H", n)
    return bytes([(1 << 2) | 2]) + struct.pack("<I", n)


class _ShardWriter:
    def __init__(self, folder: Path, dtype: np.dtype, size_limit: int):
        self.folder = folder
        self.size_limit = size_limit
        self.columns = {"id": "str", "tokens": f"ndarray:{dtype.name}"}
        self.config = {
            "version": 2,
            "format": "mds",
            "compression": None,
            "hashes": [],
            "size_limit": size_limit,
            "column_names": list(self.columns),
            "column_encodings": list(self.columns.values()),
            "column_sizes": [None, None],
        }
        self.config_data = json.dumps(self.config, sort_keys=True).encode("utf-8")
        self.shards: list[dict] = []
        self.samples: list[bytes] = []
        self.size = 8 + len(self.config_data)

    def add(self, sample: bytes) -> None:
        if self.samples and self.size_limit < self.size + len(sample) + 4:
            self.flush()
        self.samples.append(sample)
        self.size += len(sample) + 4

    def flush(self) -> None:
        if not self.samples:
            return
        n = len(self.samples)
        sizes = np.fromiter((len(s) for s in self.samples), dtype=np.int64, count=n)
        offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.uint32)
        offsets += np.uint32(4 + 4 * (n + 1) + len(self.config_data))
        name = f"shard.{len(self.shards):05d}.mds"
        data = np.uint32(n).tobytes() + offsets.tobytes() + self.config_data + b"".join(self.samples)
        (self.folder / name).write_bytes(data)
        self.shards.append({
            **self.config,
            "raw_data": {"basename": name, "bytes": len(data), "hashes": {}},
            "samples": n,
            "zip_data": None,
        })
        self.samples = []
        self.size = 8 + len(self.config_data)


def write_mds(stream, order: np.ndarray | None, folder: Path, size_limit: int = SIZE_LIMIT) -> list[Path]:
    """Write ``folder/index.json`` and its shards from a :class:`~curate.format.export.TokenStream`."""
    w = _ShardWriter(folder, stream.dtype, size_limit)
    itemsize = stream.dtype.itemsize
    for docs, tokens in stream.chunks(order, max_tokens=1 << 22):
        raw = tokens.tobytes()
        lens = stream.lens[docs]
        ends = np.cumsum(lens) * itemsize
        ids = stream.ids.take(docs).to_pylist()
        lo = 0
        for doc_id, n, hi in zip(ids, lens.tolist(), ends.tolist(), strict=True):
            id_bytes = doc_id.encode("utf-8")
            arr = _shape_header(n) + raw[lo:hi]
            w.add(struct.pack("<II", len(id_bytes), len(arr)) + id_bytes + arr)
            lo = hi
    w.flush()
    index = folder / "index.json"
    index.write_text(json.dumps({"shards": w.shards, "version": 2}, sort_keys=True))
    return [index, *(folder / s["raw_data"]["basename"] for s in w.shards)]
