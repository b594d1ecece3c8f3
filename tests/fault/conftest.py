"""Fault-suite helpers: run `curate` as a real subprocess on generated data and compare outputs.

Everything goes through the command line (``python -m curate.cli``) in its own process group, so
a test can ``kill -9`` the driver with its workers exactly as a user's crash would.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curate.engine.registry import builtin_stages
from tests.engine.conftest import STAGES_MODULE, write_corpus

STAGES = "fault_test_stages"


def cli_env(mods: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(mods) + os.pathsep + env.get("PYTHONPATH", "")
    env["RAY_AUTH_MODE"] = "disabled"
    env.pop("COLUMNS", None)
    return env


def curate_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "curate.cli", *args]


def run_cli(args: list[str], cwd: Path, mods: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        curate_cmd(*args), cwd=cwd, env=cli_env(mods), capture_output=True, text=True, timeout=timeout
    )


def start_cli(args: list[str], cwd: Path, mods: Path) -> subprocess.Popen:
    """Start `curate ...` in a new session (its own process group: driver + workers)."""
    return subprocess.Popen(
        curate_cmd(*args), cwd=cwd, env=cli_env(mods), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )


def kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.communicate(timeout=60)


def wait_for(pred, timeout: float = 120, what: str = "condition") -> None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def done_markers(out: Path) -> list[Path]:
    d = out / "_work" / "done"
    return sorted(p for p in d.glob("*.json")) if d.exists() else []


def tree_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (any stray file - a temp file too - shows up as a diff)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def output_hashes(out: Path) -> dict[str, dict[str, str]]:
    return {"data": tree_hashes(out / "data"), "rejects": tree_hashes(out / "rejects")}


@pytest.fixture(scope="session")
def fault_mods(tmp_path_factory) -> Path:
    """A folder with the test stages module (the engine tests' stages), on PYTHONPATH for the CLI."""
    d = tmp_path_factory.mktemp("fault-mods")
    (d / f"{STAGES}.py").write_text(STAGES_MODULE)
    if str(d) not in sys.path:
        sys.path.insert(0, str(d))
    return d


def dedup_stage() -> dict:
    """The real exact dedup (a global stage with a file-based shuffle), or the test stand-in."""
    if "exact_dedup" in builtin_stages():
        return {"exact_dedup": {}}
    return {"stage": f"{STAGES}:RareSource", "config": {"min_count": 2}}


def pipeline_yaml(folder: Path, sleep: float = 0.0, corpus: str = "corpus", batch_rows: int = 128) -> Path:
    """JSONL -> slow filter -> global dedup -> shards; written as a YAML file users would write."""
    import yaml

    doc = {
        "name": "fault",
        "inputs": [
            {"source": "web", "reader": "jsonl", "paths": f"{corpus}/*.jsonl", "batch_rows": batch_rows}
        ],
        "stages": [
            {"stage": f"{STAGES}:MinChars", "config": {"min_chars": 12, "sleep": sleep}},
            dedup_stage(),
        ],
        "output": {"shard_rows": 500, "keep_rejects": True},
    }
    p = folder / "pipeline.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def make_corpus(folder: Path, n_files: int = 4, rows: int = 1000, seed: int = 7) -> Path:
    """Small repetitive documents: many duplicates for dedup, some too short, a few bad lines."""
    write_corpus(folder, n_files=n_files, rows=rows, seed=seed, bad_every=211)
    return folder


def make_random_corpus(
    folder: Path, n_files: int = 4, rows: int = 1500, chars: int = 600, seed: int = 3
) -> Path:
    """Incompressible documents (base64 of random bytes): output size ~ input size, for disk-full tests."""
    import json

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        with open(folder / f"part{f}.jsonl", "w") as fh:
            for _ in range(rows):
                fh.write(
                    json.dumps({"text": base64.b64encode(rng.randbytes(chars * 3 // 4)).decode()}) + "\n"
                )
    return folder
