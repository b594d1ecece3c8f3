"""decontaminate through the real engine: rejects name benchmark and item, stats, report, workers."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict

VOCAB = [f"w{i}" for i in range(3000)]


def setup_files(root: Path) -> dict[str, int]:
    rng = random.Random(0)
    items = [{"question": " ".join(rng.choice(VOCAB) for _ in range(25))} for _ in range(30)]
    (root / "evals").mkdir(parents=True)
    (root / "evals" / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    (root / "src").mkdir()
    planted = {}
    for f in range(3):
        texts = []
        for d in range(50):
            text = " ".join(rng.choice(VOCAB) for _ in range(80))
            if d % 10 == 3:
                k = rng.randrange(30)
                text += "\n" + items[k]["question"].replace(" ", "\n", 3)
                planted[f"{f}-{d}"] = k
            texts.append(text)
        pq.write_table(pa.table({"text": texts}), root / "src" / f"part-{f}.parquet")
    return planted


def spec():
    return spec_from_dict({
        "name": "decon",
        "inputs": [{"source": "web", "reader": "parquet", "paths": "src/*.parquet"}],
        "stages": [
            {"decontaminate": {"benchmarks": [{"name": "quiz", "path": "evals/quiz.jsonl",
                                                "fields": ["question"]}]}},
            {"format": {"kind": "pretrain", "keep": ["source", "contamination_benchmark"]}},
        ],
        "output": {"keep_rejects": True},
    })


def shard_hashes(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "data").rglob("*.parquet"))}


def test_decontaminate_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    planted = setup_files(tmp_path)
    r1 = run_pipeline(spec(), tmp_path / "o1", workers=1, quiet=True)
    r2 = run_pipeline(spec(), tmp_path / "o2", workers=2, quiet=True)
    assert shard_hashes(tmp_path / "o1") == shard_hashes(tmp_path / "o2")
    stage = next(s for s in r1.stats["stages"] if s["name"] == "decontaminate")
    assert stage["in"] == 150 and stage["dropped"] == {"contaminated": len(planted)}
    assert stage["counters"]["contaminated:quiz"] == len(planted)
    (rej,) = (tmp_path / "o1" / "rejects").glob("*decontaminate*")
    rows = pq.read_table(sorted(rej.glob("*.parquet"))).to_pylist()
    assert sorted(r["contamination_item"] for r in rows) == sorted(planted.values())
    assert {r["contamination_benchmark"] for r in rows} == {"quiz"}
    assert r1.manifest["rows"] == 150 - len(planted)
    html = (tmp_path / "o1" / "report.html").read_text()
    assert "Benchmark contamination" in html and "quiz" in html and "Items hit most" in html
    kept = r2.frame().collect()
    assert kept["contamination_benchmark"].null_count() == kept.height  # format kept the column
