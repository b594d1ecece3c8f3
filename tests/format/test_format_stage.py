"""The format stage: pretrain and tokenized kinds, dtype, empty texts, remainder, sft dispatch."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import polars as pl
import pytest

from curate.engine.stage import StageContext
from curate.format.stage import Format
from curate.format.tokenizer import load_tokenizer

WORDS = [
    "the", "of", "and", "data", "model", "train", "token", "text", "book", "code", "def", "return", "class",
    "Über", "größe", "数据", "✓",
]


def random_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def ctx(tmp_path: Path, task_id="t0") -> StageContext:
    return StageContext(run_dir=tmp_path, work_dir=tmp_path / "w", stage_index=1, stage_name="format",
                        task_id=task_id)


def docs(n=50, seed=0) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame({
        "id": [f"d{i}" for i in range(n)],
        "source": ["web"] * n,
        "text": [random_text(rng, rng.randint(1, 80)) for _ in range(n)],
        "lang": ["en"] * n,
    })


def run(stage: Format, frames):
    stage.setup()
    results = [stage.process(f) for f in frames]
    last = stage.flush()
    if last is not None:
        results.append(last)
    return results


def test_pretrain_keeps_text_and_counts_tokens(tmp_path, tiny_tokenizer):
    df = docs()
    (r,) = run(Format(Format.Config(kind="pretrain", tokenizer=str(tiny_tokenizer)), ctx(tmp_path)), [df])
    assert r.kept.columns == ["id", "source", "text", "n_tokens"]
    tok = load_tokenizer(str(tiny_tokenizer))
    assert r.kept["n_tokens"].to_list() == [len(x) for x in tok.encode(df["text"].to_list())]
    (r,) = run(Format(Format.Config(kind="pretrain", keep=["lang"]), ctx(tmp_path)), [df])
    assert r.kept.columns == ["id", "lang", "text"]


def test_tokenized_conserves_tokens_and_uses_uint16(tmp_path, tiny_tokenizer):
    df = docs(200)
    config = Format.Config(kind="tokenized", tokenizer=str(tiny_tokenizer), seq_len=64)
    results = run(Format(config, ctx(tmp_path)), [df.slice(0, 70), df.slice(70, 130)])
    kept = pl.concat([r.kept for r in results])
    assert kept.schema["input_ids"] == pl.List(pl.UInt16)
    assert (kept["input_ids"].list.len() == 65).all()
    doc_tokens = sum(r.counters.get("format_doc_tokens", 0) for r in results)
    pad = sum(r.counters.get("format_pad_tokens", 0) for r in results)
    assert kept["n_tokens"].sum() == doc_tokens + df.height  # + one EOS per document
    assert kept.height * 65 == doc_tokens + df.height + pad
    assert kept["n_pad"].sum() == pad
    mask = kept["loss_mask"]  # written by default with remainder: pad
    assert (mask.list.len() == 65).all() and mask.list.sum().to_list() == kept["n_tokens"].to_list()
    assert sum(r.n_out + r.n_dropped for r in results) == df.height  # in == consumed + dropped
    eos = load_tokenizer(str(tiny_tokenizer)).eos_id
    flat = kept["input_ids"].explode()
    assert (flat == eos).sum() >= df.height
    assert set(kept["doc_ids"].explode()) == set(df["id"])
    assert kept["id"].is_unique().all() and kept["id"][0].startswith("t0-")


def test_remainder_drop_is_counted(tmp_path, tiny_tokenizer):
    df = docs(30)
    config = Format.Config(kind="tokenized", tokenizer=str(tiny_tokenizer), seq_len=50, remainder="drop",
                           boundaries=False)
    results = run(Format(config, ctx(tmp_path)), [df])
    kept = pl.concat([r.kept for r in results])
    assert "doc_lens" not in kept.columns and "loss_mask" not in kept.columns and (kept["n_pad"] == 0).all()
    doc_tokens = results[0].counters["format_doc_tokens"]
    dropped_tail = results[-1].counters["format_tail_tokens_dropped"]
    assert kept["n_tokens"].sum() + dropped_tail == doc_tokens + df.height


def test_empty_texts_are_dropped_with_reason(tmp_path, tiny_tokenizer):
    df = pl.DataFrame({"id": ["a", "b", "c"], "source": ["x"] * 3, "text": ["hello data", "", None]})
    config = Format.Config(kind="tokenized", tokenizer=str(tiny_tokenizer), seq_len=8)
    r = run(Format(config, ctx(tmp_path)), [df])[0]
    assert r.dropped["reason"].to_list() == ["format_empty_text"] * 2
    assert r.consumed == 1


def test_add_bos(tmp_path, tiny_tokenizer):
    tok = load_tokenizer(str(tiny_tokenizer))
    df = docs(5)
    config = Format.Config(kind="tokenized", tokenizer=str(tiny_tokenizer), seq_len=4000, add_bos=True)
    rows = pl.concat([r.kept for r in run(Format(config, ctx(tmp_path)), [df])])
    ids = rows["input_ids"][0].to_list()
    assert ids[0] == tok.bos_id and ids.count(tok.bos_id) == 5


def test_config_validation():
    with pytest.raises(ValueError, match="needs tokenizer"):
        Format.Config(kind="tokenized")
    with pytest.raises(ValueError, match="only apply to kind: sft"):
        Format.Config(kind="pretrain", template="chatml")
    with pytest.raises(ValueError, match="only apply to kind: tokenized"):
        Format.Config(kind="pretrain", seq_len=128)
    with pytest.raises(ValueError, match="only apply to kind: pretrain"):
        Format.Config(kind="tokenized", tokenizer="x", keep=["lang"])
    with pytest.raises(ValueError):
        Format.Config(kind="tokenized", tokenizer="x", remainder="carry")
    Format.Config(kind="sft", tokenizer="x", template="chatml", max_len=512)
    Format.Config(kind="sft", template="hf:some/model/dir")  # the model folder brings its tokenizer
    with pytest.raises(ValueError, match="needs tokenizer"):
        Format.Config(kind="sft")
    if importlib.util.find_spec("curate.sft.format") is not None:
        with pytest.raises(ValueError):
            Format.Config(kind="sft", tokenizer="x", template="no-such-template")


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    stage = Format(Format.Config(kind="tokenized", tokenizer=str(tmp_path / "nope")), ctx(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        stage.setup()


@pytest.mark.skipif(importlib.util.find_spec("curate.sft.format") is not None, reason="SFT formatter present")
def test_sft_without_sft_package_is_a_clear_error(tmp_path, tiny_tokenizer):
    stage = Format(Format.Config(kind="sft", tokenizer=str(tiny_tokenizer)), ctx(tmp_path))
    with pytest.raises(RuntimeError, match="curate.sft"):
        stage.setup()


def test_vocab_over_65536_uses_uint32(tmp_path, tiny_tokenizer):
    from tokenizers import AddedToken

    tok = load_tokenizer(str(tiny_tokenizer)).tokenizer
    big = tmp_path / "big"
    big.mkdir()
    tok = type(tok).from_str(tok.to_str())
    tok.add_tokens([AddedToken(f"<extra_{i}>") for i in range(66_000)])
    tok.save(str(big / "tokenizer.json"))
    (big / "tokenizer_config.json").write_text('{"eos_token": "</s>", "pad_token": "<pad>"}')
    loaded = load_tokenizer(str(big))
    assert loaded.vocab_size > 65536 and loaded.token_dtype.itemsize == 4
    config = Format.Config(kind="tokenized", tokenizer=str(big), seq_len=16)
    kept = pl.concat([r.kept for r in run(Format(config, ctx(tmp_path)), [docs(5)])])
    assert kept.schema["input_ids"] == pl.List(pl.UInt32)


@pytest.mark.skipif(importlib.util.find_spec("curate.sft.format") is None, reason="SFT formatter absent")
def test_sft_dispatches_to_sft_formatter(tmp_path, tiny_tokenizer):
    df = pl.DataFrame(
        {
            "id": ["a", "b"],
            "source": ["sft", "sft"],
            "messages": [
                [{"role": "user", "content": "hi data"}, {"role": "assistant", "content": "the model"}]
            ]
            * 2,
        }
    )
    stage = Format(Format.Config(kind="sft", tokenizer=str(tiny_tokenizer), max_len=256), ctx(tmp_path))
    stage.setup()
    r = stage.process(df)
    assert r.n_out + r.n_dropped == 2


def test_batch_split_gives_the_same_rows(tmp_path, tiny_tokenizer):
    df = docs(700, seed=3)
    config = Format.Config(kind="tokenized", tokenizer=str(tiny_tokenizer), seq_len=100)
    whole = pl.concat([r.kept for r in run(Format(config, ctx(tmp_path)), [df])])
    pieces = pl.concat([r.kept for r in run(Format(config, ctx(tmp_path)), list(df.iter_slices(90)))])
    assert whole.equals(pieces)
    tok = load_tokenizer(str(tiny_tokenizer))
    stream = [t for d in tok.encode(df["text"].to_list()) for t in [*d, tok.eos_id]]
    assert whole["input_ids"].explode().to_list()[: len(stream)] == stream
