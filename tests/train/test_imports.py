"""train/ must run on a GPU box that has only torch, transformers, tokenizers, pyarrow, numpy (peft
optional)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

TRAIN = Path(__file__).resolve().parents[2] / "train"
ALLOWED = {"torch", "transformers", "tokenizers", "pyarrow", "numpy", "peft",
           # PyYAML is a hard requirement of transformers, so it is there wherever transformers is.
           "yaml",
           # safetensors too (transformers saves and loads weights with it); checkpoints use it.
           "safetensors",
           # tqdm too (a hard requirement of transformers and huggingface_hub): the training bar.
           "tqdm"}
CLI_ONLY = {"click"}
CLI_FILES = {"cli.py", "tokenizer_cli.py"}


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_train_imports_only_the_training_stack():
    bad = []
    files = sorted(TRAIN.glob("*.py"))
    assert files
    for f in files:
        for line, mod in _imports(ast.parse(f.read_text(), str(f))):
            root = mod.split(".")[0]
            if root in sys.stdlib_module_names or root in ALLOWED:
                continue
            if mod.startswith("curate.train"):
                continue
            if root in CLI_ONLY and f.name in CLI_FILES:
                continue
            bad.append(f"{f.name}:{line} imports {mod}")
    assert not bad, "train/ imports outside the training stack:\n" + "\n".join(bad)


def test_importing_train_does_not_pull_the_curation_stack():
    code = ("import sys, curate.train.loop, curate.train.generate, curate.train.data, curate.train.cli;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('polars', 'pydantic', 'ray', 'trafilatura', 'duckdb', 'datasketch', 'fastwarc') "
            "or m.startswith('curate.engine'));"
            "print(','.join(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"importing curate.train loaded: {r.stdout.strip()}"
