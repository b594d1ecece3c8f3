"""Megatron-LM's indexed dataset: ``<prefix>.bin`` (tokens) + ``<prefix>.idx`` (lengths, pointers).

Written byte for byte as ``megatron/core/datasets/indexed_dataset.py`` (``_IndexWriter.write``,
megatron-core 0.16) does, so ``IndexedDataset(prefix)`` reads it: the header ``MMIDIDX\\x00\\x00``,
version 1 (``<Q``), the dtype code (``<B``), the sequence count and the document-index count
(``<Q`` each), then ``int32`` sequence lengths, ``int64`` byte pointers and ``int64`` document
indices. One document is one sequence (``preprocess_data.py`` without sentence splitting, with
``--append-eod``: our documents already end with EOS), so the document indices are ``0..n``.
Megatron has no ``uint32`` code: vocabularies over 65,536 are written as ``int32``, as its
``DType.optimal_dtype`` does above 65,500.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

INDEX_HEADER = b"MMIDIDX\x00\x00"
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int32): 4, np.dtype(np.uint16): 8}
PREFIX = "tokens_document"  # Megatron's preprocess_data names outputs <prefix>_<key>_document


def megatron_dtype(dtype: np.dtype) -> np.dtype:
    """The Megatron dtype for token ids stored as ``dtype`` (uint16 stays, uint32 becomes int32)."""
    return np.dtype(np.uint16) if np.dtype(dtype).itemsize <= 2 else np.dtype(np.int32)


def write_megatron(stream, order: np.ndarray | None, folder: Path) -> list[Path]:
    """Write ``folder/tokens_document.{bin,idx}`` from a :class:`~curate.format.export.TokenStream`."""
    dtype = megatron_dtype(stream.dtype)
    bin_path, idx_path = folder / f"{PREFIX}.bin", folder / f"{PREFIX}.idx"
    with open(bin_path, "wb") as f:
        for _, tokens in stream.chunks(order):
            f.write(tokens.astype(dtype, copy=False).tobytes())
    lens = stream.lens if order is None else stream.lens[order]
    pointers = np.zeros(lens.size, dtype=np.int64)
    if lens.size:
        pointers[1:] = np.cumsum(lens[:-1] * dtype.itemsize)
    doc_indices = np.arange(lens.size + 1, dtype=np.int64)
    with open(idx_path, "wb") as f:
        f.write(INDEX_HEADER)
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", lens.size))
        f.write(struct.pack("<Q", doc_indices.size))
        f.write(lens.astype(np.int32).tobytes())
        f.write(pointers.tobytes())
        f.write(doc_indices.tobytes())
    return [bin_path, idx_path]
