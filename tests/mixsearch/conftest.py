"""A tiny mix search on CPU: three sources (clean synthetic text, the same text with its characters
shuffled, and a second clean vocabulary), a target drawn from the first, 8 proxies and a validation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from tests.train.conftest import WORDS, synthetic_text, write_manifest

SEQ, BATCH = 32, 8
PROXY_STEPS, VALIDATE_STEPS = 10, 12
CANDIDATES = 6


def other_text(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = [w[::-1] for w in WORDS]
    return [
        " ".join(f"A {rng.choice(words)} sat by a {rng.choice(words)}." for _ in range(rng.randint(2, 6)))
        for _ in range(n)
    ]


def shuffled(doc: str, rng: random.Random) -> str:
    chars = list(doc)
    rng.shuffle(chars)
    return "".join(chars)


def write_source(root: Path, name: str, docs: list[str]) -> str:
    out = root / name
    (out / "data").mkdir(parents=True, exist_ok=True)
    f = out / "data" / "part-00000.parquet"
    pq.write_table(
        pa.table(
            {"id": [f"{name}-{i}" for i in range(len(docs))], "source": [name] * len(docs), "text": docs}
        ),
        f,
        row_group_size=64,
    )
    write_manifest(out, [f])
    return f"{name}/data"


def search_yaml(root: Path, candidates: int = CANDIDATES, seeds: tuple[int, ...] = (0,), **extra) -> Path:
    rng = random.Random(5)
    clean = synthetic_text(120, seed=3)
    cfg = {
        "name": "tiny-search",
        "out": "out",
        "sources": {
            "clean": write_source(root, "clean", clean),
            "noise": write_source(root, "noise", [shuffled(d, rng) for d in synthetic_text(300, seed=4)]),
            "other": {"data": write_source(root, "other", other_text(200, seed=6))},
        },
        "target": {"held": {"paths": "heldout/*.txt", "weight": 2}, "held2": "heldout2.txt"},
        "tokenizer": {"train": {"vocab_size": 400, "sample_bytes": 150_000, "min_frequency": 1}},
        "train": {
            "preset": "tiny",
            "seq_len": SEQ,
            "batch_size": BATCH,
            "lr": 3e-3,
            "warmup_steps": 3,
            "device": "cpu",
            "log_interval": 50,
            "num_threads": 1,
            "shuffle_buffer": 128,
            "progress": "quiet",
        },
        "budget": {"tokens": PROXY_STEPS * SEQ * BATCH},
        "candidates": candidates,
        "seed": 0,
        "bounds": {"max_epochs": 3, "caps": {"noise": 1500}},
        "regression": {"model": "auto", "folds": 3, "search_samples": 2000, "top_k": 20},
        "eval": {"max_bytes": 3000, "batch_size": 8},
        "validate": {
            "budget": {"tokens": VALIDATE_STEPS * SEQ * BATCH},
            "seeds": list(seeds),
            "max_bytes": 3000,
            "points": 2,
        },
        **extra,
    }
    held = root / "heldout"
    held.mkdir(exist_ok=True)
    for i in range(2):
        (held / f"doc{i}.txt").write_text("\n".join(synthetic_text(8, seed=100 + i)))
    (root / "heldout2.txt").write_text("\n".join(synthetic_text(8, seed=200)))
    p = root / "search.yaml"
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def run_twice(root: Path, yml: Path) -> dict:
    """The search run once, then run again (every proxy and validation run finished: all skipped)."""
    from curate.mixsearch import load_search, run_search

    doc = run_search(load_search(yml), quiet=True)
    again = run_search(load_search(yml), quiet=True)
    out = root / "out"
    return {
        "root": root,
        "yaml": yml,
        "out": out,
        "doc": doc,
        "again": again,
        "json": json.loads((out / "search.json").read_text()),
    }


@pytest.fixture(scope="session")
def searched(tmp_path_factory) -> dict:
    """6 proxies, a validation with one seed (fast: the default test run)."""
    root = tmp_path_factory.mktemp("mixsearch")
    return run_twice(root, search_yaml(root))


@pytest.fixture(scope="session")
def searched_seeds(tmp_path_factory) -> dict:
    """8 proxies, a validation over two seeds (paired differences with a std)."""
    root = tmp_path_factory.mktemp("mixsearch2")
    return run_twice(root, search_yaml(root, candidates=8, seeds=(0, 1)))
