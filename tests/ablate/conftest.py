"""A two-arm tiny ablation on CPU: clean synthetic text against the same text with its characters
shuffled (corrupted), killed part-way through the second arm and resumed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.train.conftest import synthetic_text, write_manifest

STEPS = 40           # per run: tokens / (batch_size x seq_len)
EVERY = 10           # STEPS // points: curve points and checkpoints
TOKENS_PER_STEP = 8 * 32  # batch_size x seq_len
KILL_AT = 20         # the corrupted arm's run is "killed" after this step's checkpoint


def shuffled(doc: str, rng: random.Random) -> str:
    chars = list(doc)
    rng.shuffle(chars)
    return "".join(chars)


def write_text_shards(out: Path, docs: list[str], n_files: int = 2) -> Path:
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(n_files):
        f = data / f"part-{k:05d}.parquet"
        pq.write_table(pa.table({"text": docs[k::n_files]}), f, row_group_size=64)
        files.append(f)
    write_manifest(out, files)
    return data


def ablation_yaml(
    root: Path, seeds: list[int] = (0,), tokens: int = STEPS * TOKENS_PER_STEP, **extra
) -> Path:
    rng = random.Random(7)
    clean = synthetic_text(300, seed=3)
    write_text_shards(root / "clean", clean)
    write_text_shards(
        root / "shuffled", [shuffled(d, rng) for d in clean[:30]]
    )  # a tenth of the documents: more epochs
    held = root / "heldout"
    held.mkdir(exist_ok=True)
    for i in range(3):
        (held / f"doc{i}.txt").write_text("\n".join(synthetic_text(10, seed=100 + i)))
    tasks = root / "tasks"
    tasks.mkdir(exist_ok=True)
    words = ["apple", "river", "stone", "cloud", "green", "music"]
    (tasks / "copa.jsonl").write_text("".join(
        json.dumps({"query": f"The {a} is near the", "choices": [f" {b}.", " qzx vbk."], "gold": 0}) + "\n"
        for a in words for b in words[:2]))
    cfg = {
        "name": "tiny-ablation",
        "out": "out",
        "baseline": "clean",
        "arms": {"clean": {"data": "clean/data"}, "shuffled": {"data": "shuffled/data"}},
        "tokenizer": {"train": {"vocab_size": 400, "sample_bytes": 200_000, "min_frequency": 1}},
        "train": {"preset": "tiny", "seq_len": 32, "batch_size": 8, "lr": 3e-3, "warmup_steps": 5,
                  "device": "cpu", "log_interval": 20, "num_threads": 1, "shuffle_buffer": 256},
        "tokens": tokens,
        "seeds": list(seeds),
        "eval": {"text": {"held": "heldout/*.txt"}, "points": STEPS // EVERY, "max_bytes": 2000,
                 "tasks_dir": "tasks"},
        **extra,
    }
    p = root / "ablation.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def kill_after(arm: str, step: int):
    """A training callback that SIGKILLs the process in `arm`'s run after `step` (its checkpoint
    is written): no finally block, no flush, as a preempted machine would."""

    def cb(info) -> None:
        if f"/runs/{arm}/" in str(info.run_dir) and info.step == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return cb


KILLED_RUN = """
import sys
from curate.ablate import load_ablation, run_ablation
from tests.ablate.conftest import kill_after
run_ablation(load_ablation(sys.argv[1]), callbacks=[kill_after(sys.argv[2], int(sys.argv[3]))])
"""


@pytest.fixture(scope="session")
def killed_and_resumed(tmp_path_factory) -> dict:
    """Run the ablation in a child process SIGKILLed during the corrupted arm, then run it again
    here; what each pass did."""
    from curate.ablate import load_ablation, run_ablation

    root = tmp_path_factory.mktemp("ablate")
    yml = ablation_yaml(root)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", KILLED_RUN, str(yml), "shuffled", str(KILL_AT)], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=500)
    assert child.returncode == -signal.SIGKILL, child.stdout[-2000:] + child.stderr[-3000:]
    out = root / "out"
    first = {"clean_result_mtime": (out / "runs/clean/seed0/ablate_result.json").stat().st_mtime_ns,
             "shuffled_finished": (out / "runs/shuffled/seed0/ablate_result.json").exists(),
             "shuffled_checkpoint": (out / "runs/shuffled/seed0/checkpoints/latest").read_text().strip()}
    doc = run_ablation(load_ablation(yml))
    return {"root": root, "out": out, "first": first, "doc": doc,
            "json": json.loads((out / "ablation.json").read_text())}
