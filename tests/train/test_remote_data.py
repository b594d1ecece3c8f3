"""Training straight from shards behind a URI (a real S3 endpoint on localhost): the same rows in
the same order as from disk, so the same loss curve; lineage names the manifest in the bucket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_pretrain_shards, write_sft_shards

from curate.train.loop import pretrain, sft


def upload(local: Path, uri: str) -> None:
    from curate.io import storage

    for p in sorted(local.rglob("*")):
        if p.is_file():
            storage.upload(p, f"{uri}/{p.relative_to(local).as_posix()}")


def test_pretrain_from_s3_equals_pretrain_from_disk(tmp_path, tokenizer, tokenizer_dir, s3_bucket):
    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=300)
    upload(tmp_path / "pt", f"{s3_bucket}/pt")
    kw = dict(
        tokenizer=str(tokenizer_dir),
        preset="tiny",
        max_steps=6,
        batch_size=8,
        log_interval=1,
        device="cpu",
        seed=3,
    )
    local = pretrain(data=str(data), out=str(tmp_path / "local"), **kw)
    remote = pretrain(data=f"{s3_bucket}/pt/data", out=str(tmp_path / "remote"), **kw)
    assert [loss for _, loss in remote.losses] == pytest.approx([loss for _, loss in local.losses], rel=1e-6)
    lin = json.loads((tmp_path / "remote" / "lineage.json").read_text())["train_data"]
    assert lin["manifest"]["path"] == f"{s3_bucket}/pt/manifest.json"
    assert lin["shards"] and all(
        s["from"] == "manifest" and s["path"].startswith("data/") for s in lin["shards"]
    )
    local_lin = json.loads((tmp_path / "local" / "lineage.json").read_text())["train_data"]
    assert (
        lin["shards"] == local_lin["shards"] and lin["manifest"]["sha256"] == local_lin["manifest"]["sha256"]
    )


def test_sft_from_s3_takes_the_chat_template_beside_the_manifest(
    tmp_path, tokenizer, tokenizer_dir, s3_bucket
):
    data = write_sft_shards(tmp_path / "sft", tokenizer, pack=2)
    (tmp_path / "sft" / "chat_template.jinja").write_text(
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    upload(tmp_path / "sft", f"{s3_bucket}/sft")
    base = pretrain(
        data=str(write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=100)),
        out=str(tmp_path / "base"),
        tokenizer=str(tokenizer_dir),
        preset="tiny",
        max_steps=2,
        batch_size=4,
        device="cpu",
    )
    sft(
        data=f"{s3_bucket}/sft/{data.name}",
        out=str(tmp_path / "sft_run"),
        init_from=str(base.run_dir),
        max_steps=2,
        batch_size=4,
        device="cpu",
    )
    saved = json.loads((tmp_path / "sft_run" / "tokenizer_config.json").read_text())
    template = saved.get("chat_template") or (tmp_path / "sft_run" / "chat_template.jinja").read_text()
    assert template == "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def test_missing_remote_data_is_named(tmp_path, tokenizer_dir, s3_bucket):
    with pytest.raises(FileNotFoundError, match=f"{s3_bucket}/nothing/here"):
        pretrain(
            data=f"{s3_bucket}/nothing/here",
            out=str(tmp_path / "x"),
            tokenizer=str(tokenizer_dir),
            preset="tiny",
            max_steps=1,
            device="cpu",
        )


def test_tokenizer_trains_from_a_bucket(tmp_path, s3_bucket):
    """`curate tokenizer train s3://...`: the same sample, so the same vocabulary, as from disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from click.testing import CliRunner
    from conftest import synthetic_text

    from curate.train.tokenizer_cli import tokenizer as tokenizer_cli

    (tmp_path / "shards" / "data").mkdir(parents=True)
    for i in range(3):
        pq.write_table(
            pa.table({"text": synthetic_text(100, seed=i)}),
            tmp_path / "shards" / "data" / f"part-{i}.parquet",
        )
    upload(tmp_path / "shards", f"{s3_bucket}/shards")
    cli = CliRunner()
    for src, out in (
        (str(tmp_path / "shards" / "data"), "tok-local"),
        (f"{s3_bucket}/shards/data", "tok-s3"),
    ):
        r = cli.invoke(tokenizer_cli, ["train", src, "-o", str(tmp_path / out), "--vocab-size", "300"])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "tok-s3" / "tokenizer.json").read_text() == (
        tmp_path / "tok-local" / "tokenizer.json"
    ).read_text()
    r = cli.invoke(
        tokenizer_cli, ["train", f"{s3_bucket}/none", "-o", str(tmp_path / "x"), "--vocab-size", "300"]
    )
    assert r.exit_code == 2 and "none" in r.output
