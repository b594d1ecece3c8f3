"""Tokenizer training: byte-level BPE from Parquet shards, loadable by AutoTokenizer, chat markers."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.train.tokenizer import IM_END, IM_START, iter_sample_texts, train_tokenizer
from curate.train.tokenizer_cli import tokenizer as tokenizer_cli

WORDS = ["alpha", "beta", "gamma", "data", "model", "train", "def", "return", "Über", "größe", "数据", "🙂"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    rng = random.Random(0)
    for i in range(3):
        texts = [" ".join(rng.choice(WORDS) for _ in range(40)) + f" shard{i}" for _ in range(300)]
        pq.write_table(
            pa.table({"text": texts, "id": [f"{i}-{j}" for j in range(300)]}), d / f"part-{i}.parquet"
        )
    return d


def test_trained_tokenizer_loads_with_auto_tokenizer(shards, tmp_path):
    from transformers import AutoTokenizer

    out = train_tokenizer(sorted(shards.glob("*.parquet")), tmp_path / "tok", vocab_size=400)
    tok = AutoTokenizer.from_pretrained(str(out))
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    assert len(tok) <= 400
    for marker in (IM_START, IM_END):  # single tokens: assistant masks line up with turns
        assert len(tok(marker, add_special_tokens=False)["input_ids"]) == 1
    text = "größe data 🙂 never-seen-bytes \x00\t"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text  # byte-level: lossless
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_sample_is_spread_over_shards_and_bounded(shards):
    paths = sorted(shards.glob("*.parquet"))
    texts = [t for batch in iter_sample_texts(paths, sample_bytes=3000) for t in batch]
    assert {t.rsplit(" ", 1)[1] for t in texts} == {"shard0", "shard1", "shard2"}
    assert sum(len(t.encode()) for t in texts) <= 3000 + 3 * max(len(t.encode()) for t in texts)


def test_missing_column_is_a_clear_error(shards, tmp_path):
    with pytest.raises(ValueError, match="no 'body' column"):
        train_tokenizer(sorted(shards.glob("*.parquet")), tmp_path / "t", 300, text_column="body")


def test_cli_accepts_folders_and_globs(shards, tmp_path):
    runner = CliRunner()
    r = runner.invoke(tokenizer_cli, ["train", str(shards), "-o", str(tmp_path / "a"), "--vocab-size", "300"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a" / "tokenizer.json").is_file()
    r = runner.invoke(tokenizer_cli, ["train", str(shards / "*.parquet"), "-o", str(tmp_path / "b"),
                                      "--vocab-size", "300", "--sample-bytes", "5000"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(tokenizer_cli, ["train", str(tmp_path / "nothing"), "-o", str(tmp_path / "c"),
                                      "--vocab-size", "300"])
    assert r.exit_code != 0 and "no such file" in r.output
