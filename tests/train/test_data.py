"""The streaming loader: deterministic, resumable at any position, disjoint across ranks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.train.data import (
    IGNORE,
    RowConverter,
    ShardStream,
    batches,
    collate,
    detect_kind,
    list_shards,
    scan_units,
    split_holdout,
)


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards") / "data"
    (d / "sub").mkdir(parents=True)
    # 3 files, uneven row groups; row i holds [i, i+1, ..., i+8] so rows are identifiable
    start = 0
    for k, (n, rg) in enumerate([(50, 16), (37, 10), (23, 23)]):
        rows = [list(range(i, i + 9)) for i in range(start, start + n)]
        start += n
        path = (d / "sub" if k == 2 else d) / f"part-{k}.parquet"
        pq.write_table(
            pa.table({"input_ids": pa.array(rows, pa.list_(pa.uint32()))}), path, row_group_size=rg
        )
    return d


def _stream(d, **kw):
    files = list_shards(d)
    units = scan_units(files)
    conv = RowConverter(detect_kind(files), seq_len=8)
    return ShardStream(units, "tokens", conv, **kw)


def _first(it, n):
    out = []
    for s, state in it:
        out.append((int(s["input_ids"][0]), state))
        if len(out) == n:
            break
    return out


def test_finds_nested_shards_and_units(shard_dir):
    files = list_shards(shard_dir)
    assert [f.name for f in files] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    units = scan_units(files)
    assert sum(u.rows for u in units) == 110
    assert len(units) == 4 + 4 + 1


def test_tokens_rows_shift_by_one(shard_dir):
    s, _ = next(iter(_stream(shard_dir, shuffle=False)()))
    assert s["input_ids"].tolist() == list(range(0, 8))
    assert s["targets"].tolist() == list(range(1, 9))
    assert s["n"] == 8


def test_epoch_covers_every_row_once(shard_dir):
    got = [x for x, _ in _first(_stream(shard_dir, shuffle_buffer=20)(), 110)]
    assert sorted(got) == list(range(110))
    assert got != list(range(110))  # shuffled


@settings(max_examples=25, deadline=None)
@given(k=st.integers(0, 300), buf=st.integers(1, 60), seed=st.integers(0, 3))
def test_resume_from_any_position_is_exact(shard_dir, k, buf, seed):
    full = _first(_stream(shard_dir, shuffle_buffer=buf, seed=seed)(), 320)
    state = full[k - 1][1] if k else (0, 0, 0)
    resumed = _first(_stream(shard_dir, shuffle_buffer=buf, seed=seed)(state), 320 - k)
    assert resumed == full[k:]


@pytest.mark.parametrize("world", [2, 3, 16])
def test_ranks_are_disjoint_and_cover_the_epoch(shard_dir, world):
    seen = []
    for r in range(world):
        s = _stream(shard_dir, shuffle_buffer=30, rank=r, world=world, loop=False)
        seen += [int(x["input_ids"][0]) for x, _ in s()]
    assert sorted(seen) == list(range(110))


def test_holdout_is_the_tail_and_disjoint(shard_dir):
    units = scan_units(list_shards(shard_dir))
    train, held = split_holdout(units, 30)
    assert sum(u.rows for u in held) == 11  # capped at 10% of the rows
    conv = RowConverter("tokens", seq_len=8)
    tr = {int(s["input_ids"][0]) for s, _ in ShardStream(train, "tokens", conv, loop=False)()}
    ev = {int(s["input_ids"][0]) for s, _ in ShardStream(held, "tokens", conv, loop=False)()}
    assert ev == set(range(99, 110)) and not tr & ev and len(tr) == 99


def test_loss_mask_and_doc_restarts():
    t = pa.table({"input_ids": [[1, 2, 3, 4, 5, 6]], "loss_mask": [[1, 1, 1, 1, 0, 0]], "doc_lens": [[3, 3]]})
    s = RowConverter("tokens", seq_len=5)(t, None)[0]
    assert s["position_ids"].tolist() == [0, 1, 2, 0, 1]
    # target 4 (first token of doc 2) is not trained; targets 5, 6 are padding
    assert s["targets"].tolist() == [2, 3, IGNORE, IGNORE, IGNORE]
    assert s["n"] == 2
    # without doc_attention (the pretrain default) documents are not separated
    s = RowConverter("tokens", seq_len=5, doc_attention=False)(t, None)[0]
    assert "position_ids" not in s and s["targets"].tolist() == [2, 3, 4, IGNORE, IGNORE]


def test_sft_rows_and_collate_padding():
    t = pa.table({"input_ids": [[7, 8, 9, 10], [7, 8]], "labels": [[-100, -100, 9, 10], [-100, 8]]})
    samples = RowConverter("sft", seq_len=8)(t, None)
    assert samples[0]["targets"].tolist() == [IGNORE, 9, 10, IGNORE]
    b = collate(samples, pad_id=0)
    assert b["input_ids"].shape == (2, 8)  # padded to a multiple of 8
    assert b["input_ids"][1].tolist() == [7, 8] + [0] * 6
    assert int(b["n"]) == 3 and "position_ids" not in b


def test_text_shards_are_packed(tokenizer, tmp_path):
    pq.write_table(pa.table({"text": ["The apple is near the river."] * 50}), tmp_path / "t.parquet")
    s = ShardStream(
        scan_units([tmp_path / "t.parquet"]),
        "text",
        RowConverter("text", seq_len=16, tokenizer=tokenizer, eos_id=tokenizer.eos_token_id),
        loop=False,
    )
    rows = [x for x, _ in s()]
    assert rows and all(len(x["input_ids"]) == 16 for x in rows)
    flat = np.concatenate([x["input_ids"] for x in rows])
    assert (flat == tokenizer.eos_token_id).sum() >= len(rows) - 1


def test_batches_carry_the_state_after_their_last_sample(shard_dir):
    s = _stream(shard_dir, shuffle_buffer=25)
    bs = list(zip(range(5), batches(s, 4, pad_id=0), strict=False))
    flat = _first(_stream(shard_dir, shuffle_buffer=25)(), 20)
    for i, (b, state) in bs:
        assert state == flat[4 * i + 3][1]
        assert b["input_ids"][:, 0].tolist() == [x for x, _ in flat[4 * i:4 * i + 4]]


def test_mixed_sft_and_preference_output(tmp_path):
    """The SFT stage writes one schema; each task reads only its own rows (null elsewhere)."""
    t = pa.list_(pa.int32())
    sft_rows = pa.table(
        {
            "input_ids": pa.array([[1, 2, 3]] * 4, t),
            "labels": pa.array([[-100, 2, 3]] * 4, t),
            "chosen_input_ids": pa.array([None] * 4, t),
            "chosen_labels": pa.array([None] * 4, t),
            "rejected_input_ids": pa.array([None] * 4, t),
            "rejected_labels": pa.array([None] * 4, t),
        }
    )
    pref = pa.table(
        {
            "input_ids": pa.array([None] * 3, t),
            "labels": pa.array([None] * 3, t),
            "chosen_input_ids": pa.array([[1, 2]] * 3, t),
            "chosen_labels": pa.array([[-100, 2]] * 3, t),
            "rejected_input_ids": pa.array([[1, 3]] * 3, t),
            "rejected_labels": pa.array([[-100, 3]] * 3, t),
        }
    )
    (tmp_path / "sft").mkdir()
    (tmp_path / "preference").mkdir()
    pq.write_table(sft_rows, tmp_path / "sft" / "a.parquet")
    pq.write_table(pref, tmp_path / "preference" / "b.parquet")
    pq.write_table(pa.concat_tables([sft_rows, pref]), tmp_path / "sft" / "mixed.parquet")
    files = list_shards(tmp_path)
    for task, want in (("sft", 8), ("dpo", 6)):
        kind = detect_kind(files, task)
        assert kind == task
        units = scan_units(files, kind)
        rows = [x for x, _ in ShardStream(units, kind, RowConverter(kind, seq_len=8), loop=False)()]
        assert len(rows) == want
    # the reward model trains on the preference rows of the same mixed output (README's demo chain)
    assert detect_kind(files, "rm") == "dpo"
    assert {u.path for u in scan_units(files, "dpo")} == {str(tmp_path / "preference" / "b.parquet"),
                                                          str(tmp_path / "sft" / "mixed.parquet")}


def test_n_pad_masks_trailing_padding():
    t = pa.table({"input_ids": pa.array([[5, 6, 7, 0, 0]], pa.list_(pa.uint16())), "n_pad": [2]})
    s = RowConverter("tokens", seq_len=4)(t, None)[0]
    assert s["targets"].tolist() == [6, 7, IGNORE, IGNORE]
