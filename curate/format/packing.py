"""Pack tokenized documents into fixed-length training rows, with NumPy (no per-token Python loop).

Documents are joined into one stream, each followed by EOS (and preceded by BOS if asked), and the
stream is cut into non-overlapping rows of ``seq_len + 1`` tokens: a trainer takes ``x = row[:-1]``
and ``y = row[1:]`` (nanoGPT's convention), so no token is lost at row edges and the count balances:
``sum(row tokens) == sum(doc tokens) + separators + padding``.

Each row also carries which documents it holds: ``doc_ids[i]`` has ``doc_lens[i]`` consecutive
tokens in the row (the first piece may continue a document begun in the previous row). That is
enough to build a block-diagonal attention mask or per-document ``position_ids`` (flash-attention's
``cu_seqlens`` are ``cumsum(doc_lens)``), and nothing in a row is untraceable.

Tokens left over at the end of a task (less than one row) are either padded (``n_pad`` says how
many trailing positions are padding, to be masked from attention and loss) or dropped and counted.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa


class Packer:
    """Streaming packer for one task: ``add`` batches of documents, then ``finish`` once."""

    def __init__(
        self,
        seq_len: int,
        eos_id: int,
        dtype: np.dtype,
        bos_id: int | None = None,
        row_id_prefix: str = "pack",
        loss_mask: bool = False,
    ):
        self.width = seq_len + 1
        self.eos_id = eos_id
        self.bos_id = bos_id
        self.dtype = np.dtype(dtype)
        self.row_id_prefix = row_id_prefix
        self.loss_mask = loss_mask
        self.rows_emitted = 0
        # The carry: the stream's tail after the last full row. Every document in it ends inside it
        # (the stream always ends on a document's EOS), so its documents are described by their end
        # offsets (ascending, last == len(tokens)) and ids.
        self._tokens = np.empty(0, dtype=self.dtype)
        self._ends = np.empty(0, dtype=np.int64)
        self._ids: list[str] = []

    @property
    def carry_tokens(self) -> int:
        return int(self._tokens.size)

    def _stream(self, docs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """One flat array of the documents with separators, and each document's end offset."""
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        # chain + fromiter run in C: no Python bytecode per token (measured in bench/tokenize.py).
        content = np.fromiter(itertools.chain.from_iterable(docs), dtype=self.dtype, count=int(lengths.sum()))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(docs) else lengths
        if self.bos_id is not None:
            content = np.insert(content, starts, self.bos_id)
            lengths = lengths + 1
        ends_in_content = np.cumsum(lengths)
        stream = np.insert(content, ends_in_content, self.eos_id)
        return stream, ends_in_content + np.arange(1, len(docs) + 1)

    def add(self, docs: list[list[int]], ids: list[str]) -> pa.Table | None:
        """Append documents (token ids without separators); return the full rows now ready."""
        if not docs:
            return None
        new_tokens, new_ends = self._stream(docs)
        tokens = np.concatenate((self._tokens, new_tokens))
        ends = np.concatenate((self._ends, new_ends + self._tokens.size))
        all_ids = self._ids + list(ids)
        n_rows = tokens.size // self.width
        emitted = n_rows * self.width
        table = None
        if n_rows:
            table = self._rows(tokens[:emitted], ends[ends <= emitted], all_ids, n_rows, n_pad=None)
        keep = ends > emitted
        first_kept = int(np.argmax(keep)) if keep.any() else len(all_ids)
        self._tokens = tokens[emitted:]
        self._ends = ends[keep] - emitted
        self._ids = all_ids[first_kept:]
        return table

    def finish(self, pad_id: int | None) -> tuple[pa.Table | None, int, int]:
        """End of the task: the padded last row (or None when ``pad_id`` is None, i.e. drop).

        Returns ``(table, tail_tokens, tail_docs)``: the tokens and documents in the partial row.
        """
        n, docs = self.carry_tokens, len(self._ids)
        table = None
        if n and pad_id is not None:
            n_pad = self.width - n
            tokens = np.concatenate((self._tokens, np.full(n_pad, pad_id, dtype=self.dtype)))
            table = self._rows(tokens, self._ends, self._ids, 1, n_pad=n_pad)
        self._tokens = np.empty(0, dtype=self.dtype)
        self._ends = np.empty(0, dtype=np.int64)
        self._ids = []
        return table, n, docs

    def _rows(
        self, tokens: np.ndarray, ends: np.ndarray, ids: list[str], n_rows: int, n_pad: int | None
    ) -> pa.Table:
        """Rows from ``tokens`` (``n_rows * width``); ``ends`` are document ends within the real tokens."""
        w = self.width
        real = tokens.size - (n_pad or 0)
        # Pieces: the stream cut at every document end and every row edge; one piece = one doc in one row.
        cuts = np.union1d(ends, np.arange(w, real + 1, w))
        cuts = cuts[cuts <= real]
        starts = np.concatenate(([0], cuts[:-1]))
        piece_len = (cuts - starts).astype(np.int32)
        piece_row = starts // w
        piece_doc = np.searchsorted(ends, starts, side="right")
        offsets = np.searchsorted(piece_row, np.arange(n_rows + 1)).astype(np.int32)
        flat = pa.array(tokens)
        token_offsets = pa.array(np.arange(0, n_rows * w + 1, w, dtype=np.int32))
        doc_ids = pa.array(ids, type=pa.string()).take(pa.array(piece_doc))
        pad = np.full(n_rows, n_pad or 0, dtype=np.int32)
        row_ids = [f"{self.row_id_prefix}-{self.rows_emitted + i:08d}" for i in range(n_rows)]
        self.rows_emitted += n_rows
        cols = {
            "id": pa.array(row_ids, type=pa.string()),
            "input_ids": pa.ListArray.from_arrays(token_offsets, flat),
            "doc_ids": pa.ListArray.from_arrays(pa.array(offsets), doc_ids),
            "doc_lens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(piece_len)),
            "n_pad": pa.array(pad),
            "n_tokens": pa.array(np.int32(w) - pad),
        }
        if self.loss_mask:  # 1 = a real token; all-ones rows compress to almost nothing in Parquet
            mask = np.ones(n_rows * w, dtype=np.uint8)
            mask[real:] = 0
            cols["loss_mask"] = pa.ListArray.from_arrays(token_offsets, pa.array(mask))
        return pa.table(cols)
