"""Imports run down the layers, never back up: a module may import its own layer or the ones below.

Walked with ``ast`` over every module of the package (function-level imports included, since a lazy
import is still an arrow), so an upward import fails here before it turns into an import cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Where each part of the installed package lives (pyproject's package-dir mapping).
ROOTS = {"curate": REPO / "curate", "curate.filters": REPO / "filters", "curate.train": REPO / "train"}

# Lowest first. A part is a top-level module or subpackage of `curate`.
LAYERS: list[tuple[str, set[str]]] = [
    # the version, the config base and scratch prefix everyone shares, and training (a leaf:
    # tests/train/test_imports.py holds it to torch-level imports only)
    ("base", {"curate", "curate.contract", "curate.train"}),
    ("io", {"curate.io"}),
    # The driver's finalize writes report.html, and the report reads the run folder through
    # engine.layout: the two are one layer.
    ("engine", {"curate.engine", "curate.report"}),
    # curate.eval (the LM scorer; it imports only curate.train) sits with the stages: the
    # perplexity filter scores with its windowed scorer
    ("stages", {"curate.filters", "curate.dedup", "curate.mix", "curate.format", "curate.sft",
                "curate.eval", "curate.decontam"}),
    # jobs built over the layers below: docs, inspection, demo data, ablations, mix search (over ablate)
    ("tools", {"curate.docs", "curate.inspect", "curate.demo", "curate.ablate", "curate.mixsearch"}),
    # sub-commands that live with their code, and what they share with the root command
    ("commands", {"curate.cli_args"}),
    # the root command loads the sub-commands (by name, lazily); none may import it back
    ("root command", {"curate.cli"}),
]
LAYER_OF = {part: i for i, (_, parts) in enumerate(LAYERS) for part in parts}
COMMANDS = next(i for i, (name, _) in enumerate(LAYERS) if name == "commands")


def _module_name(path: Path) -> str:
    for pkg, root in sorted(ROOTS.items(), key=lambda kv: -len(kv[0])):
        if path.is_relative_to(root):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join([pkg, *parts])
    raise AssertionError(path)


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _layer(module: str) -> int:
    """A sub-command module (``cli.py``, ``*_cli.py`` inside a part) sits in the commands layer."""
    last = module.split(".")[-1]
    if module != "curate.cli" and (last == "cli" or last.endswith("_cli")):
        return COMMANDS
    part = _part(module)
    assert part in LAYER_OF, f"{module}: part {part!r} has no layer in tests/test_layers.py: give it one"
    return LAYER_OF[part]


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    out = []
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            elif node.module:
                out.append((node.lineno, node.module))
    return [(line, m) for line, m in out if m == "curate" or m.startswith("curate.")]


def _modules() -> list[tuple[str, Path]]:
    files = [p for root in ROOTS.values() for p in sorted(root.rglob("*.py"))]
    # curate/'s walk must not claim filters/ or train/ (they are siblings on disk anyway)
    return [(_module_name(p), p) for p in files]


def test_no_import_runs_back_up_the_layers():
    bad = []
    modules = _modules()
    assert len(modules) > 50
    for module, path in modules:
        mine = _layer(module)
        for line, target in _imports(module, path):
            if _part(target) == _part(module) and _layer(target) == mine:
                continue
            theirs = _layer(target)
            if theirs > mine:
                bad.append(f"{path.relative_to(REPO)}:{line}: {module} ({LAYERS[mine][0]}) imports "
                           f"{target} ({LAYERS[theirs][0]})")
    assert not bad, "imports running back up the layers:\n" + "\n".join(bad)


def test_the_walk_sees_an_upward_import(tmp_path):
    """The check itself: io importing the engine is found (the arrow this test was written for)."""
    f = tmp_path / "reader.py"
    f.write_text("def f():\n    from curate.engine.stage import StageConfig\n")
    imports = _imports("curate.io.readers.reader", f)
    assert imports == [(2, "curate.engine.stage")]
    assert _layer("curate.engine.stage") > _layer("curate.io.readers.reader")
    assert _layer("curate.cli") > _layer("curate.report.cli") > _layer("curate.report.build")
