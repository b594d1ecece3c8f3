"""Dedup stages through the real engine (run_pipeline / curate run): workers, resume after kill -9."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

from curate.dedup.synthetic import planted_corpus, true_pairs
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict

STAGES = [
    {"exact_dedup": {"partitions": 3}},
    {"minhash_dedup": {"threshold": 0.8, "partitions": 4}},
]


def _write(df: pl.DataFrame, folder: Path, n_files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-df.height // n_files)
    for f in range(n_files):
        with gzip.open(folder / f"part-{f}.jsonl.gz", "wb") as fh:
            for row in df.slice(f * size, size).iter_rows(named=True):
                fh.write(
                    orjson.dumps({"text": row["text"], "url": f"http://example.org/{row['id']}"}) + b"\n"
                )


def _hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "data").rglob("*.parquet"))
    }


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("dedup_e2e")
    df = planted_corpus(1200, near_fraction=0.25, exact_fraction=0.05, jaccard_range=(0.6, 1.0), seed=21)
    _write(df, root / "corpus", 4)
    return root, df


def _spec(root: Path, stages=STAGES):
    return spec_from_dict(
        {
            "name": "dedup-test",
            "inputs": [
                {
                    "source": "web",
                    "reader": "jsonl",
                    "paths": str(root / "corpus" / "*.jsonl.gz"),
                    "batch_rows": 200,
                }
            ],
            "stages": stages,
            "output": {"shard_rows": 500, "keep_rejects": True},
        }
    )


def test_run_pipeline_one_and_two_workers(corpus_dir, tmp_path):
    root, df = corpus_dir
    a = run_pipeline(_spec(root), tmp_path / "w1", workers=1, quiet=True)
    b = run_pipeline(_spec(root), tmp_path / "w2", workers=2, quiet=True)
    assert _hashes(tmp_path / "w1") and _hashes(tmp_path / "w1") == _hashes(tmp_path / "w2")
    kept = a.frame().collect()["text"].to_list()
    # few near-duplicate pairs survive: recall >= 0.95 of the planted ones
    before = len(true_pairs(df["text"].to_list(), 0.8))
    after = len(true_pairs(kept, 0.8))
    assert before > 100 and after <= 0.05 * before, (before, after)
    stats = json.loads((tmp_path / "w1" / "stats.json").read_text())
    by_name = {s["name"]: s for s in stats["stages"]}
    assert by_name["exact_dedup"]["dropped"]["exact_duplicate"] > 0
    assert by_name["minhash_dedup"]["dropped"]["near_duplicate"] > 0
    g = stats["global"]["minhash_dedup"]
    assert g["clusters"] > 0 and g["size_histogram"] and g["samples"]
    rej = pl.read_parquet(tmp_path / "w1" / "rejects" / "**" / "*.parquet")
    assert {"exact_duplicate", "near_duplicate"} <= set(rej["reason"])
    near = rej.filter(pl.col("reason") == "near_duplicate")
    assert near["duplicate_of"].is_not_null().all() and (near["cluster_size"] >= 2).all()
    assert b.stats["global"]["minhash_dedup"]["clusters"] == g["clusters"]


@pytest.mark.slow
def test_kill_during_buckets_then_rerun_is_identical(corpus_dir, tmp_path):
    root, _ = corpus_dir
    yaml = tmp_path / "p.yaml"
    yaml.write_text(
        json.dumps(
            {
                "name": "dedup-kill",
                "inputs": [
                    {
                        "source": "web",
                        "reader": "jsonl",
                        "paths": str(root / "corpus" / "*.jsonl.gz"),
                        "batch_rows": 200,
                    }
                ],
                "stages": [{"minhash_dedup": {"partitions": 64}}],
                "output": {"shard_rows": 500},
            }
        )
    )
    cmd = [sys.executable, "-m", "curate.cli", "run", str(yaml), "-q", "-w", "2"]
    ref = subprocess.run([*cmd, "-o", str(tmp_path / "ref")], capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "-o", str(killed)], start_new_session=True)
    done = killed / "_work" / "done"
    deadline = time.time() + 120
    while time.time() < deadline and not (done.exists() and any(done.glob("r*-buckets-*.json"))):
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n = len(list(done.glob("r*-buckets-*.json")))
    assert n > 0 and not (killed / "stats.json").exists()
    again = subprocess.run([*cmd, "-o", str(killed)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    for name in _hashes(killed):
        assert pl.read_parquet(killed / name).equals(pl.read_parquet(tmp_path / "ref" / name)), name
    assert _hashes(killed) == _hashes(tmp_path / "ref")


def test_failure_mid_rounds_then_resume_is_identical(corpus_dir, tmp_path, monkeypatch):
    """The components rounds are added as they finish; a run stopped in round 1 resumes there."""
    from curate.dedup import components
    from curate.engine.errors import TaskFailed

    root, _ = corpus_dir
    stages = [{"minhash_dedup": {"threshold": 0.8, "partitions": 4, "cc_partition_edges": 20}}]
    ref = tmp_path / "ref"
    run_pipeline(_spec(root, stages), ref, workers=1, quiet=True)
    real = components.PartitionedComponents.run_round

    def failing(self, r, part):
        if r == 1 and part == 2:
            raise OSError("disk gone in round 1")
        return real(self, r, part)

    monkeypatch.setattr(components.PartitionedComponents, "run_round", failing)
    out = tmp_path / "out"
    with pytest.raises(TaskFailed, match="cc-r001"):
        run_pipeline(_spec(root, stages), out, workers=1, quiet=True)
    assert (out / "_work" / "done").is_dir()
    monkeypatch.setattr(components.PartitionedComponents, "run_round", real)
    run_pipeline(_spec(root, stages), out, workers=1, quiet=True)
    assert _hashes(out) and _hashes(out) == _hashes(ref)
    log = [json.loads(line) for line in (out / "logs" / "run.jsonl").read_text().splitlines()]
    resumed = {e["phase"] for e in log if e["event"] == "resume"}
    assert any("cc-r000" in p for p in resumed), resumed
    g = json.loads((out / "stats.json").read_text())["global"]["minhash_dedup"]
    assert g["cc_rounds"] >= 3
    assert json.loads((ref / "stats.json").read_text())["global"]["minhash_dedup"] == g
