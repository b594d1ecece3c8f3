"""The docs that are generated stay generated: docs/REFERENCE.md matches the stage configs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from curate.docs import reference_markdown

REPO = Path(__file__).resolve().parents[1]


def test_reference_is_up_to_date():
    current = (REPO / "docs" / "REFERENCE.md").read_text()
    assert current.strip() == reference_markdown().strip(), "run `make docs` to regenerate docs/REFERENCE.md"


def test_readme_front_door():
    """README's first fenced block is exactly the two commands, and .ci/run calls the second."""
    lines = (REPO / "README.md").read_text().splitlines()
    fences = [i for i, ln in enumerate(lines) if ln.startswith("```")]
    block = [ln for ln in lines[fences[0] + 1 : fences[1]] if ln.strip()]
    assert block == ["make demo", "make test"]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_every_package_is_listed_for_install():
    """A subpackage missing from pyproject's `packages` would vanish from a non-editable install."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    mapping = {"curate": REPO / "curate", "curate.filters": REPO / "filters", "curate.train": REPO / "train"}
    found = set()
    for prefix, root in mapping.items():
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root)
            found.add(".".join([prefix, *rel.parts]) if rel.parts else prefix)
    found = {f for f in found if not any(part.startswith((".", "_")) for part in f.split("."))}
    assert found <= listed, f"add to pyproject packages: {sorted(found - listed)}"


def test_cli_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "curate.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("run", "validate", "stages", "inspect", "status", "demo-data"):
        assert cmd in out
