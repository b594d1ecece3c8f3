"""Packing invariants: token conservation, traceability, independence from batch boundaries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.format.packing import Packer

EOS, BOS, PAD = 1, 2, 0


def pack(docs, seq_len, cuts, bos=False, pad=True):
    p = Packer(seq_len, EOS, np.uint16, BOS if bos else None, loss_mask=True)
    tables, start = [], 0
    ids = [f"d{i}" for i in range(len(docs))]
    for end in [*cuts, len(docs)]:
        t = p.add(docs[start:end], ids[start:end])
        if t is not None:
            tables.append(t)
        start = end
    last, tail_tokens, tail_docs = p.finish(PAD if pad else None)
    if last is not None:
        tables.append(last)
    rows = [r for t in tables for r in t.to_pylist()]
    return rows, tail_tokens, tail_docs


docs_st = st.lists(st.lists(st.integers(5, 60000), min_size=1, max_size=40), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(docs=docs_st, seq_len=st.integers(1, 64), data=st.data(), bos=st.booleans())
def test_token_conservation_and_traceability(docs, seq_len, data, bos):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(docs)), max_size=5)))
    rows, tail_tokens, _ = pack(docs, seq_len, cuts, bos=bos)
    w = seq_len + 1
    sep = 2 if bos else 1
    doc_tokens = sum(len(d) for d in docs)
    assert all(len(r["input_ids"]) == w for r in rows)
    assert sum(r["n_tokens"] for r in rows) == doc_tokens + sep * len(docs)
    assert sum(r["n_pad"] for r in rows) == len(rows) * w - doc_tokens - sep * len(docs)
    assert all(r["n_pad"] == 0 for r in rows[:-1])
    assert all(r["loss_mask"] == [1] * r["n_tokens"] + [0] * r["n_pad"] for r in rows)
    # The stream, un-padded, is exactly the documents with their separators, in order.
    stream = [t for r in rows for t in r["input_ids"][: w - r["n_pad"]]]
    expected = [t for d in docs for t in ([BOS] if bos else []) + d + [EOS]]
    assert stream == expected
    # doc_ids/doc_lens say which document every token belongs to.
    owner = [i for r in rows for i, n in zip(r["doc_ids"], r["doc_lens"], strict=True) for _ in range(n)]
    expected_owner = [f"d{i}" for i, d in enumerate(docs) for _ in range(len(d) + sep)]
    assert owner == expected_owner
    assert len({r["id"] for r in rows}) == len(rows)


@settings(max_examples=100, deadline=None)
@given(docs=docs_st, seq_len=st.integers(1, 32), data=st.data())
def test_batch_boundaries_do_not_change_rows(docs, seq_len, data):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(docs)), max_size=5)))
    assert pack(docs, seq_len, cuts)[0] == pack(docs, seq_len, [])[0]


@settings(max_examples=100, deadline=None)
@given(docs=docs_st, seq_len=st.integers(1, 32))
def test_dropped_tail_is_counted(docs, seq_len):
    rows, tail_tokens, tail_docs = pack(docs, seq_len, [], pad=False)
    total = sum(len(d) + 1 for d in docs)
    assert sum(r["n_tokens"] for r in rows) + tail_tokens == total
    assert tail_tokens == total % (seq_len + 1)
    assert (tail_docs > 0) == (tail_tokens > 0)
