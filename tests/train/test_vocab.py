"""Shards tokenized with another tokenizer are caught before the first step, with what to pass."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import write_pretrain_shards, write_sft_shards


def _shift_ids(data, by: int, statistics: bool = True) -> None:
    """Rewrite the shards as if another (larger) tokenizer had written them."""
    for f in sorted(data.glob("*.parquet")):
        t = pq.read_table(f)
        ids = pa.array(
            [[i + by for i in row] for row in t.column("input_ids").to_pylist()], pa.list_(pa.int32())
        )
        pq.write_table(t.set_column(t.column_names.index("input_ids"), "input_ids", ids), f,
                       row_group_size=16, write_statistics=statistics)


def _train(*args):
    from curate.train.cli import train

    return CliRunner().invoke(train, [*args, "--steps", "1", "--batch-size", "4", "--device", "cpu"])


def test_sft_on_shards_of_a_larger_vocabulary_names_the_tokenizer(tmp_path, tokenizer, tokenizer_dir):
    data = write_sft_shards(tmp_path / "sft", tokenizer, n=64)
    _shift_ids(data, 5000)
    man = json.loads((tmp_path / "sft" / "manifest.json").read_text())
    man["config"] = {"stages": [{"sft_format": {"template": "chatml", "tokenizer": "/models/big-tok"}}]}
    (tmp_path / "sft" / "manifest.json").write_text(json.dumps(man))
    r = _train("sft", "--data", str(data), "--tokenizer", str(tokenizer_dir), "--preset", "tiny",
               "-o", str(tmp_path / "run"))
    assert r.exit_code == 1 and "Traceback" not in r.output and not isinstance(r.exception, IndexError)
    assert "token ids up to" in r.output and "Pass --tokenizer" in r.output and "/models/big-tok" in r.output
    assert not (tmp_path / "run" / "log.jsonl").exists()  # refused before the first step


def test_pretrain_without_column_statistics_is_checked_too(tmp_path, tokenizer, tokenizer_dir):
    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=60)
    _shift_ids(data, len(tokenizer), statistics=False)
    r = _train("pretrain", "--data", str(data), "--tokenizer", str(tokenizer_dir), "--preset", "tiny",
               "-o", str(tmp_path / "run"))
    assert r.exit_code == 1 and "Pass --tokenizer" in r.output, r.output


def test_a_model_smaller_than_the_shards_vocabulary_names_from(tmp_path, tokenizer, tokenizer_dir):
    from curate.train.config import TrainConfig
    from curate.train.data import scan_units
    from curate.train.vocab import check_vocab

    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=60)
    cfg = TrainConfig(data=str(data), tokenizer=str(tokenizer_dir), init_from="some/model")
    units = scan_units(sorted(data.glob("*.parquet")), "tokens")
    check_vocab(cfg, units, "tokens", tokenizer, len(tokenizer))  # fits: no error
    with pytest.raises(ValueError, match=r"100 embeddings.*Pass --from"):
        check_vocab(cfg, units, "tokens", tokenizer, 100)
