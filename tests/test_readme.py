"""Every code block in README.md runs (issue 15 item 13).

Blocks are found by their fences, so a new block is tested without touching this file:
``bash`` blocks run under ``bash -euo pipefail`` and ``python`` blocks under this venv's Python,
both in one temp folder that holds the demo's data and outputs (``curate demo-data --scale
0.05`` and the demo pipelines, as ``make demo`` lays them out) with this venv's ``curate`` first on
PATH; ``yaml`` blocks parse, and a pipeline's stage and reader names exist; ``text`` blocks are
listings, and every ``curate`` command the synopsis names answers ``--help``.

A block preceded by ``<!-- readme-test: skip (WHY) -->`` needs what CI lacks; those are listed
in SKIPPED below, and a marker not listed there (or a listed one gone) fails. Blocks marked
``<!-- readme-test: slow (WHY) -->`` train, and run in README order under ``-m slow``; a block that
trains (``curate train``, ``curate ablate``) must carry one of the two markers. A block that
names ``../shared/data`` runs where the shared data exists and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
MARKER = re.compile(r"<!--\s*readme-test:\s*(skip|slow)\s*\((.+?)\)\s*-->")
LANGS = {"bash", "python", "yaml", "text"}

# Blocks that need what CI lacks, by their first line; README marks each with `readme-test: skip`.
SKIPPED = {
    "make demo": "make demo / make test themselves",
    "torchrun --nproc_per_node 8 -m curate.train.cli pretrain ...          # DDP; FSDP for the large presets":
        "torchrun on 8 GPUs",
    "curate ablate ablation.yaml          # prints the final table; Ctrl-C or a kill, "
    "then run it again to resume":
        "needs a GPU",
    "curate mix search search.yaml               # Ctrl-C or a kill, then run it again to resume":
        "needs a GPU",
    "curate run pipelines/web.yaml --set 'inputs.0.paths=s3://my-bucket/cc/*.warc.gz' -o s3://my-bucket/curated/web":
        "needs a real bucket",
}


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    mark: str | None  # skip | slow | None
    why: str

    @property
    def first(self) -> str:
        return self.code.splitlines()[0] if self.code else ""

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].startswith("```"):
            start, lang = i, lines[i][3:].strip()
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            prev = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
            m = MARKER.search(prev)
            code = "\n".join(lines[start + 1 : j])
            blocks.append(Block(start + 1, lang, code, m and m.group(1), m.group(2) if m else ""))
            i = j
        i += 1
    return blocks


BLOCKS = readme_blocks()


def test_blocks_are_tagged_and_markers_match_the_list():
    untagged = [str(b) for b in BLOCKS if b.lang not in LANGS]
    assert not untagged, f"tag these blocks with one of {sorted(LANGS)}: {untagged}"
    skipped = {b.first: b.why for b in BLOCKS if b.mark == "skip"}
    assert set(skipped) == set(SKIPPED), "README's skip markers and SKIPPED differ"
    for first, why in SKIPPED.items():
        assert why in skipped[first], (first, skipped[first])
    training = [str(b) for b in BLOCKS if b.mark is None and b.lang in ("bash", "python")
                and re.search(r"\bcurate (train|ablate) ", b.code)]
    assert not training, f"blocks that train must be marked slow (or skip): {training}"


def _shared() -> Path | None:
    env = os.environ.get("CURATE_SHARED_DATA")
    shared = Path(env).parent if env else REPO.parent / "shared"
    return shared if (shared / "data").is_dir() else None


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               CURATE_DATA=str(root / "work" / "out" / "demo-data"), HF_HOME=str(root / "hf"),
               HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", RAY_AUTH_MODE="disabled", PYTHONUNBUFFERED="1")
    env.pop("CURATE_TOKENIZER", None)
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """A folder laid out as `make demo` leaves the repository: pipelines/, out/demo-data, out/demo/*."""
    root = tmp_path_factory.mktemp("readme")
    work = root / "work"
    work.mkdir()
    (work / "pipelines").symlink_to(REPO / "pipelines")
    shared = _shared()
    if shared is not None:
        (root / "shared").symlink_to(shared)  # `../shared/data` from the work folder
    cur = str(BIN / "curate")
    steps = [[cur, "demo-data", "out/demo-data", "--scale", "0.05"]]
    steps += [[cur, "run", f"pipelines/{p}.yaml", "-o", f"out/demo/{p}", "-q"]
              for p in ("web", "books", "code")]
    steps += [[cur, "tokenizer", "train", "out/demo/web/data", "out/demo/books/data", "out/demo/code/data",
               "-o", "out/demo/tokenizer", "--vocab-size", "4096"]]
    steps += [[cur, "run", f"pipelines/{p}.yaml", "-o", f"out/demo/{p}", "-q"] for p in ("sft", "mix")]
    for cmd in steps:
        r = subprocess.run(cmd, cwd=work, env=_env(root), capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{shlex.join(cmd)}:\n{r.stdout}\n{r.stderr}"
    return work


def _run(block: Block, work: Path, timeout: int = 600) -> None:
    if "../shared/data" in block.code and not (work.parent / "shared" / "data").is_dir():
        pytest.skip("needs ../shared/data (CURATE_SHARED_DATA)")
    if block.lang == "bash":
        cmd = ["bash", "-euo", "pipefail", "-c", block.code]
    else:
        cmd = [sys.executable, "-c", block.code]
    r = subprocess.run(cmd, cwd=work, env=_env(work.parent), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (f"{block} failed (exit {r.returncode}):\n{block.code}\n"
                               f"--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}")


def _ids(kind: str) -> list:
    return [pytest.param(b, id=f"line{b.line}") for b in BLOCKS
            if b.lang in ("bash", "python") and b.mark == kind]


@pytest.mark.parametrize("block", _ids(None))
def test_block_runs(block: Block, demo: Path):
    _run(block, demo)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the README's commands at their defaults: ~2.5 s a step on 2 busy cores
def test_slow_blocks_run_in_order(demo: Path):
    slow = [b for b in BLOCKS if b.lang in ("bash", "python") and b.mark == "slow"]
    assert slow
    for b in slow:
        if "../shared/data" in b.code and _shared() is None:
            continue  # skipped as in the fast run: no shared data here
        _run(b, demo, timeout=3000)


@pytest.mark.parametrize("block", [pytest.param(b, id=f"line{b.line}") for b in BLOCKS if b.lang == "yaml"])
def test_yaml_block_parses_and_names_real_stages(block: Block):
    doc = yaml.safe_load(block.code)
    assert isinstance(doc, dict)
    if "stages" in doc:
        from curate.engine.registry import resolve_stage
        from curate.io.readers.base import readers

        for inp in doc["inputs"]:
            assert inp["reader"] in readers(), inp
        for entry in doc["stages"]:
            if "stage" in entry:  # a custom stage by import path: a placeholder module in the example
                continue
            (name,) = entry
            resolve_stage(name)


def test_cli_synopsis_commands_answer_help():
    """Every command the README's CLI synopsis names exists (`curate X --help` exits 0)."""
    from click.testing import CliRunner

    from curate.cli import main

    synopsis = next(b for b in BLOCKS if b.lang == "text" and b.first.startswith("curate "))
    commands = set()
    for ln in synopsis.code.splitlines():
        words = ln.split()
        if words[:1] == ["curate"]:
            sub = [w for w in words[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
            commands.add(tuple(sub[:2] if sub[:1] in (["tokenizer"], ["sft"], ["classifier"]) else sub[:1]))
    assert len(commands) > 10, commands
    for cmd in sorted(commands):
        r = CliRunner().invoke(main, [*cmd, "--help"])
        assert r.exit_code == 0, (cmd, r.output)
