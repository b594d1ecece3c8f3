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


@pytest.fixture(scope="session")
def sft_run(tmp_path_factory) -> Path:
    """The demo's four SFT layouts -> normalize, prompt dedup, chat format (short max_len, so some
    rows are rejected as too long), rejects kept."""
    import curate.sft  # noqa: F401  (registers the sft_jsonl reader and the stages)
    from curate.demo.sft import write_sft_file
    from tests.sft.conftest import build_tokenizer

    root = tmp_path_factory.mktemp("report-sft")
    build_tokenizer(root / "tok")
    inputs = []
    for f in ("alpaca", "sharegpt", "openai", "preference"):
        write_sft_file(root / "sft" / f"{f}.jsonl", f, 150, 0)
        inputs.append({"source": f, "reader": "sft_jsonl", "paths": str(root / "sft" / f"{f}.jsonl")})
    spec = spec_from_dict({
        "name": "report-sft",
        "inputs": inputs,
        "stages": [
            {"sft_normalize": {"format": "auto", "tools_to_system": True}},
            {"exact_dedup": {"text_column": "prompt", "whitespace": True}},
            {"format": {"kind": "sft", "template": "chatml", "tokenizer": str(root / "tok"), "max_len": 200,
                        "truncation": "drop"}},
        ],
        "output": {"keep_rejects": True},
    })
    run_pipeline(spec, root / "out", quiet=True)
    return root / "out"


@pytest.fixture(scope="session")
def tokenized_run(tmp_path_factory) -> Path:
    """Plain documents packed into token rows (``format kind: tokenized``) with a local tokenizer."""
    import json

    from tests.sft.conftest import build_tokenizer

    root = tmp_path_factory.mktemp("report-tok")
    build_tokenizer(root / "tok")
    docs = [f"hello world, the model answer {i}: data train token chat." for i in range(40)]
    (root / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    spec = spec_from_dict({
        "name": "report-tok",
        "inputs": [{"source": "docs", "reader": "jsonl", "paths": str(root / "docs.jsonl")}],
        "stages": [{"format": {"kind": "tokenized", "tokenizer": str(root / "tok"), "seq_len": 64}}],
        "output": {"keep_rejects": True},
    })
    run_pipeline(spec, root / "out", quiet=True)
    return root / "out"
