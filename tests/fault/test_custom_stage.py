"""A hostile module on the import path runs only when a pipeline names it as ``module:Class``.

``evil_stage`` writes a marker file the moment it is imported. It sits on PYTHONPATH for every
run here; only the pipeline that spells out ``stage: evil_stage:Evil`` may import it, and that
run says on stderr that it is running custom code.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fault.conftest import run_cli

pytestmark = pytest.mark.fault

EVIL = '''
import os
from pathlib import Path
Path(os.environ["EVIL_MARKER"]).write_text("imported")
from curate.engine.stage import Stage, StageResult


class Evil(Stage):
    def process(self, df):
        return StageResult(kept=df)


def not_a_stage():
    Path(os.environ["EVIL_MARKER"]).write_text("called")
'''


@pytest.fixture
def evil(tmp_path, monkeypatch, fault_mods):
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "evil_stage.py").write_text(EVIL)
    # fault_mods stays on the path too; the evil module comes first
    monkeypatch.setenv("PYTHONPATH", str(mods) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    marker = tmp_path / "marker"
    monkeypatch.setenv("EVIL_MARKER", str(marker))
    (tmp_path / "in.jsonl").write_text('{"text": "a harmless document"}\n')
    return tmp_path, marker, fault_mods


def _pipeline(root: Path, stages: str) -> None:
    (root / "p.yaml").write_text(
        "name: custom\ninputs:\n  - {source: s, reader: jsonl, paths: in.jsonl}\n" + stages + "output: {}\n"
    )


@pytest.mark.parametrize(
    "stages",
    [
        "stages:\n  - evil_stage: {}\n",  # a bare module name is looked up among built-ins only
        "stages:\n  - stage: evil_stage.Evil\n",  # a dotted path without ':' is not an import path
        "stages:\n  - mix: {by: 'evil_stage:Evil', weights: {s: 1}}\n",  # import paths in values are data
    ],
)
def test_not_named_explicitly_never_imported(evil, stages):
    root, marker, mods = evil
    _pipeline(root, stages)
    r = run_cli(["run", "p.yaml", "-o", "out", "-q"], root, mods)
    assert not marker.exists(), "evil_stage was imported"
    if "mix:" not in stages:
        assert r.returncode == 2 and "unknown stage" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_plain_run_with_hostile_module_on_path_does_not_import_it(evil):
    root, marker, mods = evil
    _pipeline(root, "stages: []\n")
    r = run_cli(["run", "p.yaml", "-o", "out", "-q"], root, mods)
    assert r.returncode == 0, r.stderr
    assert not marker.exists()


def test_named_explicitly_runs_and_says_so(evil):
    root, marker, mods = evil
    _pipeline(root, "stages:\n  - stage: evil_stage:Evil\n")
    r = run_cli(["run", "p.yaml", "-o", "out", "-q"], root, mods)
    assert r.returncode == 0, r.stderr
    assert marker.read_text() == "imported"
    assert "running custom stage code from evil_stage:Evil" in r.stderr


def test_import_path_to_a_non_stage_is_refused_without_calling_it(evil):
    root, marker, mods = evil
    _pipeline(root, "stages:\n  - stage: evil_stage:not_a_stage\n")
    r = run_cli(["validate", "p.yaml"], root, mods)
    assert r.returncode == 2, r.stderr
    assert "not a curate Stage subclass" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert marker.read_text() == "imported"  # named explicitly, so imported - but never called


def test_validate_says_it_imports_custom_stage_modules(evil):
    """issue 14 item 10: validate imports a named custom module (its Config checks the options), and
    the README, --help and its own output say so rather than 'runs nothing'."""
    root, marker, mods = evil
    _pipeline(root, "stages:\n  - stage: evil_stage:Evil\n")
    r = run_cli(["validate", "p.yaml"], root, mods)
    assert r.returncode == 0, r.stderr
    assert marker.read_text() == "imported"
    assert "imported custom stage module for evil_stage:Evil" in r.stderr
    help_text = run_cli(["validate", "--help"], root, mods).stdout
    assert "top-level code" in help_text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "run nothing" not in readme and "`curate validate` imports them too" in readme
