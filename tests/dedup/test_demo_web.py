"""Planted duplicates of the demo web crawl (a corpus this package never saw): WARC -> extract -> dedup."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict


@pytest.mark.slow
def test_demo_crawl_planted_duplicates(tmp_path):
    data = tmp_path / "demo"
    gen = subprocess.run(
        [sys.executable, "-m", "curate.cli", "demo-data", str(data)], capture_output=True, text=True
    )
    if gen.returncode != 0:
        pytest.skip(f"demo-data generator unavailable: {gen.stderr.strip()[-200:]}")
    spec = spec_from_dict(
        {
            "name": "demo-web-dedup",
            "inputs": [{"source": "web", "reader": "warc", "paths": str(data / "web" / "*.warc.gz")}],
            "stages": [{"extract": {}}, {"exact_dedup": {}}, {"minhash_dedup": {"threshold": 0.8}}],
            "output": {"shard_rows": 100_000, "keep_rejects": True},
        }
    )
    out = tmp_path / "out"
    run_pipeline(spec, out, workers=2, quiet=True)
    truth = {r["url"]: r for r in map(json.loads, (data / "web" / "truth.jsonl").read_text().splitlines())}
    rows = [pl.read_parquet(out / "data" / "**" / "*.parquet").select("id", "url", "text")]
    for stage in ("01-exact_dedup", "02-minhash_dedup"):
        rows.append(
            pl.read_parquet(out / "rejects" / stage / "*.parquet").select(
                "id", "url", "text", "reason", "duplicate_of"
            )
        )
    allrows = pl.concat(rows, how="diagonal_relaxed")
    url_of = dict(zip(allrows["id"], allrows["url"], strict=True))
    text_of = dict(zip(allrows["id"], allrows["text"], strict=True))
    status = {
        u: (r, d) for u, r, d in zip(allrows["url"], allrows["reason"], allrows["duplicate_of"], strict=True)
    }
    planted = {(r["url"], r["dup_of"]) for r in truth.values() if r["dup_of"]}
    for kind, reason in (("near_dup", "near_duplicate"), ("exact_dup", "exact_duplicate")):
        pairs = [(r["url"], r["dup_of"]) for r in truth.values() if r["kind"] == kind]
        found = 0
        for copy, source in pairs:
            a, b = status.get(copy, (None, None)), status.get(source, (None, None))
            found += (a[0] == reason and url_of[a[1]] == source) or (b[0] == reason and url_of[b[1]] == copy)
        assert pairs and found == len(pairs), (kind, found, len(pairs))
    # every other drop is a genuinely identical extracted text (e.g. the "enable JavaScript" pages)
    for u, (reason, d) in status.items():
        if reason == "near_duplicate":
            assert (u, url_of[d]) in planted or (url_of[d], u) in planted
        if reason == "exact_duplicate" and (u, url_of[d]) not in planted and (url_of[d], u) not in planted:
            k = next(i for i, x in url_of.items() if x == u)
            assert " ".join(text_of[k].split()) == " ".join(text_of[d].split())
