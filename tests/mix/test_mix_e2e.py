"""mix + format through the real engine: shares, byte-identical reruns, worker count, conservation."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict

WORDS = ["data", "model", "river", "stone", "def", "return", "chapter", "the", "of", "light"]


def write_sources(root: Path) -> None:
    rng = random.Random(0)
    layout = {"web": (4, 150, (20, 120)), "books": (2, 10, (800, 2000)), "code": (2, 60, (40, 300))}
    for source, (files, docs, (lo, hi)) in layout.items():
        (root / source).mkdir(parents=True)
        for f in range(files):
            texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(docs)]
            pq.write_table(pa.table({"text": texts}), root / source / f"part-{f}.parquet")


def spec(tokenizer: Path):
    return spec_from_dict(
        {
            "name": "mix",
            "seed": 0,
            "inputs": [
                {"source": s, "reader": "parquet", "paths": f"src/{s}/*.parquet"}
                for s in ("web", "books", "code")
            ],
            "stages": [
                {
                    "mix": {
                        "weights": {"web": 0.5, "books": 0.3, "code": 0.2},
                        "unit": "tokens",
                        "tokenizer": str(tokenizer),
                        "max_epochs": 3,
                        "total": 1_200_000,
                    }
                },
                {"format": {"kind": "tokenized", "tokenizer": str(tokenizer), "seq_len": 128}},
            ],
            "output": {"shard_rows": 200, "keep_rejects": True},
        }
    )


def shard_hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").rglob("*.parquet"))}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_sources(tmp_path / "src")
    return tmp_path


def test_mix_then_pack_end_to_end(corpus, tiny_tokenizer):
    out1 = corpus / "out1"
    run_pipeline(spec(tiny_tokenizer), out1, workers=1, quiet=True)
    stats = json.loads((out1 / "stats.json").read_text())
    manifest = json.loads((out1 / "manifest.json").read_text())
    by_name = {s["name"]: s for s in stats["stages"]}
    for s in stats["stages"]:
        assert s["in"] == s["out"] + sum(s["dropped"].values())
    summary = manifest["global"]["mix"]
    groups = summary["groups"]
    # Output tokens per source, recovered from the packed rows' doc_ids/doc_lens (each doc + 1 EOS).
    rows = pl.read_parquet(sorted((out1 / "data").rglob("*.parquet")))
    pieces = rows.select(pl.col("doc_ids"), pl.col("doc_lens")).explode(["doc_ids", "doc_lens"])
    pieces = pieces.with_columns(pl.col("doc_ids").str.split("-").list.first().alias("source"))
    per_doc = pieces.group_by("doc_ids", "source").agg(pl.col("doc_lens").sum() - 1)
    got = dict(per_doc.group_by("source").agg(pl.col("doc_lens").sum()).iter_rows())
    assert got == {s: g["units"] for s, g in groups.items()}
    # ~490k tokens in, 1.2M asked: every source is upsampled (2-3 epochs), never past max_epochs.
    assert all(2 < g["epochs"] <= 3 for g in groups.values()), groups
    assert summary["total_achieved"] == pytest.approx(1_200_000, rel=0.01)
    total = sum(got.values())
    for s, g in groups.items():  # exact to one document (books: ~8k tokens of 1.2M)
        assert abs(got[s] / total - g["requested_share"]) <= 0.01
    # Repeats carry distinct ids; the mix stage emits more rows than it consumes.
    assert per_doc["doc_ids"].is_unique().all() and per_doc["doc_ids"].str.contains("#r").any()
    assert by_name["mix"]["out"] + sum(by_name["mix"]["dropped"].values()) == by_name["mix"]["in"]
    # Token conservation through packing: rows = doc tokens + one EOS per doc (+ counted padding).
    fmt = by_name["format"]
    assert rows["n_tokens"].sum() == fmt["counters"]["format_doc_tokens"] + fmt["in"]
    assert rows.height * 129 == rows["n_tokens"].sum() + fmt["counters"].get("format_pad_tokens", 0)
    assert rows.schema["input_ids"] == pl.List(pl.UInt16)

    # Same seed: byte-identical shards, with 1 or 2 workers.
    out2 = corpus / "out2"
    run_pipeline(spec(tiny_tokenizer), out2, workers=2, quiet=True)
    assert shard_hashes(out1) == shard_hashes(out2)


def test_missed_share_warned_on_the_cli_in_stats_and_report(tmp_path, monkeypatch):
    """Token-weighted: books documents are larger than books' budget, so books gets 0% of 30%."""
    from click.testing import CliRunner

    from curate.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    pq.write_table(pa.table({"text": ["w"] * 500, "n_tokens": [100] * 500}), tmp_path / "src" / "web.parquet")
    pq.write_table(
        pa.table({"text": ["b"] * 5, "n_tokens": [40_000] * 5}), tmp_path / "src" / "books.parquet"
    )
    (tmp_path / "p.yaml").write_text(json.dumps({
        "name": "m",
        "inputs": [{"source": s, "reader": "parquet", "paths": f"src/{s}.parquet"} for s in ("web", "books")],
        "stages": [{"mix": {"weights": {"web": 0.7, "books": 0.3}, "unit": "tokens", "total": 30_000}}],
    }))
    res = CliRunner().invoke(main, ["run", "p.yaml", "-o", "out", "-q"])
    assert res.exit_code == 0, res.output
    assert "warning: mix: group 'books': achieved share 0.0%, requested 30.0%" in res.output
    assert "whole documents" in res.output
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert any("group 'books'" in w for w in stats["global"]["mix"]["warnings"])
    report = (tmp_path / "out" / "report.html").read_text()
    assert (
        "group &#x27;books&#x27;: achieved share 0.0%" in report
        or "group 'books': achieved share 0.0%" in report
    )
