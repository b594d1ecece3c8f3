"""Documents back out of packed token shards: the token stream and where each document begins.

A ``format: {kind: tokenized}`` row holds pieces of documents (``doc_ids[i]`` has ``doc_lens[i]``
consecutive tokens) and ``n_pad`` trailing padding positions. Dropping the padding and concatenating
the rows in shard order gives back the packer's stream: every document with its separators (BOS if
asked, EOS always), in the order the pipeline wrote them. A piece continues the previous document
only when it opens a row, the row before ended without padding, and both pieces carry the same
document id (ids are unique within a run: mix's repeats get ``#rN`` suffixes), so boundaries come
from the shards themselves and are the same whatever the worker count that wrote them.

Everything is vectorised over Arrow row groups (NumPy on the flattened lists, no per-token Python).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COLUMNS = ["input_ids", "doc_ids", "doc_lens", "n_pad"]


@dataclasses.dataclass
class DocumentBatch:
    """One row group's worth of the stream.

    ``tokens`` are the real (unpadded) tokens in order; ``lens[i]`` tokens belong to document
    ``ids[i]``; when ``continues`` is true the first of them is the tail of the previous batch's last
    document (so ``lens[0]`` adds to it and ``ids[0]`` repeats it).
    """

    tokens: np.ndarray
    lens: np.ndarray
    ids: pa.Array
    continues: bool
    rows: int = 0  # the packed rows this batch came from (progress bars count them)


def _check_columns(path: Path, schema: pa.Schema) -> None:
    missing = [c for c in COLUMNS if c not in schema.names]
    if missing:
        raise ValueError(
            f"{path}: not a tokenized shard with document boundaries (missing {', '.join(missing)}); "
            "exports need format kind: tokenized with boundaries: true"
        )


def iter_documents(shards: list[Path]) -> Iterator[DocumentBatch]:
    """Stream the documents of tokenized shards, in shard and row order, one row group at a time."""
    prev_id: str | None = None  # the last piece's document id, when the last row had no padding
    for path in shards:
        pf = pq.ParquetFile(path)
        _check_columns(path, pf.schema_arrow)
        for g in range(pf.num_row_groups):
            table = pf.read_row_group(g, columns=COLUMNS)
            if table.num_rows == 0:
                continue
            batch = _batch(table, prev_id)
            batch.rows = table.num_rows
            n_pad = table.column("n_pad").to_numpy()
            last_ids = pc.list_flatten(table.column("doc_ids").combine_chunks())
            prev_id = None if n_pad[-1] or len(last_ids) == 0 else last_ids[-1].as_py()
            yield batch


def _batch(table: pa.Table, prev_id: str | None) -> DocumentBatch:
    ids_col = table.column("input_ids").combine_chunks()
    lens_col = table.column("doc_lens").combine_chunks()
    doc_ids_col = table.column("doc_ids").combine_chunks()
    n_pad = table.column("n_pad").to_numpy().astype(np.int64)
    width = np.diff(ids_col.offsets.to_numpy())
    flat = ids_col.values.to_numpy(zero_copy_only=False)
    starts = ids_col.offsets.to_numpy()[:-1].astype(np.int64)
    if n_pad.any():  # padding only ever sits at a row's end: keep each row's first width - n_pad tokens
        real = width - n_pad
        keep = np.ones(flat.size, dtype=bool)
        for r in np.flatnonzero(n_pad):  # one padded row per task: a short loop
            keep[starts[r] + real[r] : starts[r] + width[r]] = False
        flat = flat[keep]
    piece_lens = lens_col.values.to_numpy().astype(np.int64)
    piece_ids = doc_ids_col.values
    row_of_offsets = lens_col.offsets.to_numpy()
    first_piece = row_of_offsets[:-1]
    # A row's first piece continues the previous row's last piece when that row had no padding and
    # the ids agree; the very first row compares with the previous batch (prev_id).
    new_doc = np.ones(piece_lens.size, dtype=bool)
    if piece_lens.size:
        rows_with_prev = np.arange(1, table.num_rows)
        fp = first_piece[rows_with_prev]
        lp = row_of_offsets[rows_with_prev] - 1  # the previous row's last piece
        ok = (n_pad[rows_with_prev - 1] == 0) & (fp < row_of_offsets[rows_with_prev + 1]) & (lp >= 0)
        if ok.any():
            same = pc.equal(piece_ids.take(pa.array(fp[ok])), piece_ids.take(pa.array(lp[ok])))
            cont = fp[ok][same.to_numpy(zero_copy_only=False)]
            new_doc[cont] = False
    continues = bool(piece_lens.size) and prev_id is not None and piece_ids[0].as_py() == prev_id
    if continues:
        new_doc[0] = False
    doc_index = np.cumsum(new_doc) - 1
    if piece_lens.size and not new_doc[0]:
        doc_index += 1  # piece 0 continues: it is document 0 of this batch (the carried one)
    lens = np.bincount(doc_index, weights=piece_lens).astype(np.int64) if piece_lens.size else piece_lens
    heads = np.flatnonzero(new_doc)
    if continues:
        heads = np.concatenate(([0], heads))
    ids = piece_ids.take(pa.array(heads, type=pa.int64()))
    assert int(lens.sum()) == flat.size, "doc_lens do not add up to the real tokens of the rows"
    return DocumentBatch(tokens=flat, lens=lens, ids=ids, continues=continues)
