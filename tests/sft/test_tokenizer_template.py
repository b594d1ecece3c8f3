"""`curate tokenizer train --template NAME` and the tokenizer/template check at validation (issue 15).

`format` with llama3 on a tokenizer from `curate tokenizer train` used to fail only after phase 0
(`<|eot_id|>` was 8 tokens); the check now runs when the pipeline is validated, names itself, and
points at the command that fixes it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

import curate.sft  # noqa: F401
from curate.cli import main
from curate.sft.templates import get_template

WORDS = [
    "the", "a", "model", "data", "train", "token", "chat", "user", "hello", "world", "answer", "question",
    "python", "code",
]


@pytest.fixture(scope="module")
def shard(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("shards") / "part-0.parquet"
    pq.write_table(
        pa.table({"text": [" ".join(rng.choice(WORDS) for _ in range(40)) for _ in range(300)]}), path
    )
    return path


def _train(shard: Path, out: Path, *extra: str) -> None:
    res = CliRunner().invoke(
        main, ["tokenizer", "train", str(shard), "-o", str(out), "--vocab-size", "420", *extra]
    )
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def chatml_tok(shard, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "chatml"
    _train(shard, out)
    return out


@pytest.mark.parametrize("name", ["llama3", "chatml", "mistral", "llama2"])
def test_template_tokens_are_single_ids_and_the_template_is_saved(shard, tmp_path, name):
    from transformers import AutoTokenizer

    from curate.sft.format import SFTFormatConfig, SFTFormatter

    _train(shard, tmp_path / name, "--template", name)
    tok = AutoTokenizer.from_pretrained(str(tmp_path / name), local_files_only=True)
    t = get_template(name)
    for marker in t.special_tokens:
        assert len(tok.encode(marker, add_special_tokens=False)) == 1, marker
    assert tok.chat_template == t.jinja
    # the saved template is the built-in: the formatter needs no check_saved_template: false
    f = SFTFormatter(SFTFormatConfig(template=name, tokenizer=str(tmp_path / name)))
    f.setup()
    msgs = [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "the answer"}]
    import polars as pl

    res = f.process(pl.DataFrame({"id": ["r0"], "source": ["s"], "messages": [msgs]}))
    assert res.kept.height == 1 and res.dropped is None
    assert res.kept["text"][0] == tok.apply_chat_template(msgs, tokenize=False)


def test_unknown_template_is_a_usage_error(shard, tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "tokenizer",
            "train",
            str(shard),
            "-o",
            str(tmp_path / "x"),
            "--vocab-size",
            "420",
            "--template",
            "llama9",
        ],
    )
    assert res.exit_code == 2 and "unknown chat template 'llama9'" in res.output
    assert not (tmp_path / "x").exists()  # refused before any training


def _pipeline(tmp_path: Path, tokenizer: Path, **fmt) -> Path:
    data = tmp_path / "a.jsonl"
    data.write_text(json.dumps({"instruction": "hello", "input": "", "output": "world"}) + "\n")
    spec = {
        "name": "t",
        "inputs": [{"source": "a", "reader": "sft_jsonl", "paths": str(data)}],
        "stages": [{"sft_normalize": {}}, {"format": {"kind": "sft", "tokenizer": str(tokenizer), **fmt}}],
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_missing_template_tokens_fail_validation_before_any_work(chatml_tok, tmp_path):
    pipeline = _pipeline(tmp_path, chatml_tok, template="llama3")
    runner = CliRunner()
    res = runner.invoke(main, ["validate", str(pipeline)])
    assert res.exit_code == 2  # an invalid pipeline
    assert "check template_tokens" in res.output and "'<|eot_id|>' as" in res.output
    assert "curate tokenizer train --template llama3" in res.output
    out = tmp_path / "out"
    res = runner.invoke(main, ["run", str(pipeline), "-o", str(out)])
    assert res.exit_code == 2 and "check template_tokens" in res.output
    assert not (out / "data").exists() and not (out / "stats.json").exists()  # nothing was read or written


def test_saved_template_check_names_a_key_that_exists(shard, tmp_path):
    # a llama3 tokenizer saves llama3's template; asking for chatml renders differently
    llama = tmp_path / "tok_llama3"
    from curate.train.tokenizer import train_tokenizer

    t = get_template("llama3")
    train_tokenizer([shard], llama, 420, extra_special_tokens=t.special_tokens, chat_template=t.jinja)
    runner = CliRunner()
    res = runner.invoke(main, ["validate", str(_pipeline(tmp_path, llama, template="chatml"))])
    assert res.exit_code == 2 and "check check_saved_template" in res.output
    assert "set check_saved_template: false" in res.output
    # the key the message suggests is accepted by `format: {kind: sft}`, and it turns the check off
    (tmp_path / "b").mkdir()
    res = runner.invoke(
        main,
        ["validate", str(_pipeline(tmp_path / "b", llama, template="chatml", check_saved_template=False))],
    )
    assert res.exit_code == 0, res.output
