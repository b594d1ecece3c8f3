"""A finished run to report on: JSONL corpus -> filter, global stage, mix, rejects kept."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from curate.engine.registry import builtin_stages
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from tests.engine.conftest import STAGES_MODULE, write_corpus


def _stages_module(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report_test_stages.py").write_text(STAGES_MODULE)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return "report_test_stages"


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report-run")
    mod = _stages_module(root / "mods")
    write_corpus(root / "corpus" / "web", n_files=3, rows=300, seed=1, bad_every=61)
    write_corpus(root / "corpus" / "news", n_files=1, rows=300, seed=2)
    stages: list = [
        {"stage": f"{mod}:MinChars", "config": {"min_chars": 12}},
        {"stage": f"{mod}:RareSource", "config": {"min_count": 3}},
    ]
    if "mix" in builtin_stages():
        stages.append({"mix": {"weights": {"web": 0.7, "news": 0.3}, "unit": "docs"}})
    spec = spec_from_dict({
        "name": "report-demo",
        "inputs": [
            {"source": "web", "reader": "jsonl", "paths": str(root / "corpus/web/*.jsonl")},
            {"source": "news", "reader": "jsonl", "paths": str(root / "corpus/news/*.jsonl")},
        ],
        "stages": stages,
        "output": {"keep_rejects": True, "shard_rows": 250},
    })
    run_pipeline(spec, root / "out", quiet=True)
    return root / "out"
