"""nanoGPT's memmap format: one flat file of token ids, documents joined by the end-of-text id.

``data/openwebtext/prepare.py`` appends ``enc.eot_token`` to every document's ids and concatenates
them into ``train.bin`` (``np.uint16``; read with ``np.memmap(path, dtype=np.uint16, mode="r")``).
Ours is the same stream (each document ends with the tokenizer's EOS), ``uint16`` when the
vocabulary fits and ``uint32`` otherwise, plus ``train_offsets.npy``: the ``int64`` start offset of
every document (its end is the next start, or the file's length), which prepare.py does not keep.
``meta.json`` names the dtype and the EOS id, so a loader need not guess.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_nanogpt(stream, order: np.ndarray | None, folder: Path) -> list[Path]:
    """Write ``folder/train.bin``, ``train_offsets.npy`` and ``meta.json``."""
    bin_path, off_path, meta_path = folder / "train.bin", folder / "train_offsets.npy", folder / "meta.json"
    with open(bin_path, "wb") as f:
        for _, tokens in stream.chunks(order):
            f.write(tokens.tobytes())
    lens = stream.lens if order is None else stream.lens[order]
    offsets = (np.cumsum(lens) - lens).astype(np.int64)
    np.save(off_path, offsets)
    meta = {"dtype": stream.dtype.name, "documents": int(lens.size), "tokens": int(lens.sum())}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return [bin_path, off_path, meta_path]
