"""Packed SFT rows: several whole conversations of one source per row, attention kept apart.

``position_ids`` restart at 0 for each conversation and ``seq_lens`` lists their lengths, which
is what flash-attention varlen kernels / ``DataCollatorWithFlattening`` need to keep attention
within a conversation. The first label of each conversation is -100 so no token is predicted
across a boundary. ``conversation_ids`` and ``texts`` keep each conversation's id and rendering.
"""

from __future__ import annotations

import polars as pl

from curate.sft.masks import IGNORE_INDEX

IDS_DTYPE = pl.List(pl.Int32)


def packed_row(source: str, buf: list[dict]) -> dict:
    """One packed row from buffered conversations (dicts with id, text, input_ids, labels)."""
    input_ids, labels, position_ids, seq_lens = [], [], [], []
    for b in buf:
        n = len(b["input_ids"])
        input_ids.extend(b["input_ids"])
        labs = list(b["labels"])
        labs[0] = IGNORE_INDEX  # never predict across a conversation boundary
        labels.extend(labs)
        position_ids.extend(range(n))
        seq_lens.append(n)
    return {
        "id": f"{buf[0]['id']}+{len(buf) - 1}",
        "source": source,
        "conversation_ids": [b["id"] for b in buf],
        "texts": [b["text"] for b in buf],
        "input_ids": input_ids,
        "labels": labels,
        "position_ids": position_ids,
        "seq_lens": seq_lens,
        "n_tokens": len(input_ids),
        "n_sequences": len(buf),
    }


PACKED_SCHEMA = {
    "id": pl.Utf8,
    "source": pl.Utf8,
    "conversation_ids": pl.List(pl.Utf8),
    "texts": pl.List(pl.Utf8),
    "input_ids": IDS_DTYPE,
    "labels": IDS_DTYPE,
    "position_ids": IDS_DTYPE,
    "seq_lens": IDS_DTYPE,
    "n_tokens": pl.Int32,
    "n_sequences": pl.Int32,
}


def packed_frame(rows: list[dict]) -> pl.DataFrame:
    """Packed rows as a frame with a fixed schema (also when empty)."""
    return pl.DataFrame(rows, schema=PACKED_SCHEMA) if rows else pl.DataFrame(schema=PACKED_SCHEMA)


