"""A local Ray instance the executor starts itself: the driver works while it starts, same bytes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray")


def _hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "data").rglob("*.parquet"))
    }


@pytest.mark.slow  # starts its own Ray (~10 s) and runs the pipeline twice: ~45 s
def test_driver_runs_tasks_while_ray_starts_and_output_is_identical(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in range(6):
        rows = [{"text": f"document {i % 40} of file {f % 2} " + "word " * (i % 7)} for i in range(300)]
        (corpus / f"part-{f}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "p.yaml").write_text(
        "name: start\ninputs:\n  - {source: s, reader: jsonl, paths: 'corpus/*.jsonl'}\n"
        "stages:\n  - exact_dedup: {}\n  - minhash_dedup: {threshold: 0.8}\noutput: {shard_rows: 1000}\n"
    )
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}

    def run(out: str, *extra: str) -> None:
        r = subprocess.run(
            [sys.executable, "-m", "curate.cli", "run", "p.yaml", "-o", out, "-w", "2", "-q", *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )
        assert r.returncode == 0, r.stderr[-3000:]

    run("local")
    run("ray", "--executor", "ray")
    assert _hashes(tmp_path / "local") and _hashes(tmp_path / "ray") == _hashes(tmp_path / "local")
    log = [json.loads(x) for x in (tmp_path / "ray" / "logs" / "run.jsonl").read_text().splitlines()]
    in_driver = [e["task"] for e in log if e["event"] == "task_in_driver"]
    done = [e["task"] for e in log if e["event"] == "task_done"]
    assert in_driver and set(in_driver) < set(done)  # some ran in the driver, not all
    assert all(t.startswith("p0-") for t in in_driver)  # only before Ray was up: the first phase
