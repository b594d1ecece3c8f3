"""`curate stages` explains everything it lists, and every key an error message suggests exists.

`curate stages` once printed "(module docstring)" for four SFT stages and no meaning for any
`sft_format` option; an error told users to `set check_saved_template: false`, a key that
`format: {kind: sft}` rejected as unknown.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from curate.docs import _doc, _fields, stage_summary
from curate.engine.registry import builtin_stages
from curate.engine.spec import InputSpec, OutputSpec
from curate.io.readers.base import readers

REPO = Path(__file__).resolve().parents[1]
ALL = [("stage", n, c) for n, c in builtin_stages().items()] + [
    ("reader", n, c) for n, c in readers().items()
]


@pytest.mark.parametrize("kind, name, cls", ALL, ids=[f"{k}:{n}" for k, n, _ in ALL])
def test_every_stage_and_reader_has_a_description(kind, name, cls):
    first = _doc(cls).splitlines()[0] if _doc(cls) else ""
    assert first.strip(), f"{kind} {name} has no docstring"
    # a pointer elsewhere is not a description: `curate stages` shows only this line
    assert "module docstring" not in first and ":mod:" not in first, f"{kind} {name}: {first!r}"
    summary = stage_summary()
    assert f"{name:<20} " in summary


@pytest.mark.parametrize("kind, name, cls", ALL, ids=[f"{k}:{n}" for k, n, _ in ALL])
def test_every_option_has_a_description(kind, name, cls):
    empty = [key for key, _, _, desc in _fields(cls.Config) if not desc.strip()]
    assert not empty, f"{kind} {name}: options without a description: {empty}"


@pytest.mark.parametrize("model", [InputSpec, OutputSpec])
def test_every_pipeline_key_has_a_description(model):
    empty = [key for key, _, _, desc in _fields(model) if not desc.strip()]
    assert not empty, f"{model.__name__}: keys without a description: {empty}"


# "set check_saved_template: false", "needs tokenizer: (...)", "set `output.keep_rejects: true`"
SUGGESTION = re.compile(r"\b(?:set|needs|pass)\s+(?:<code>)?`?([a-z][a-z_]*(?:\.[a-z_]+)?):(?=[\s`]|$)")
SOURCE_DIRS = ("curate", "filters", "train")


def _suggestions() -> list[tuple[str, str]]:
    """(file, key) for every key a string literal in the code tells the user to set."""
    found = []
    for d in SOURCE_DIRS:
        for f in sorted((REPO / d).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found += [(str(f.relative_to(REPO)), m) for m in SUGGESTION.findall(node.value)]
    return sorted(set(found))


def _config_keys() -> dict[str, set[str]]:
    from curate.engine.spec import PipelineSpec

    keys: dict[str, set[str]] = {"": set()}
    for _, name, cls in ALL:
        keys[name] = set(cls.Config.model_fields)
        keys[""] |= keys[name]
    for prefix, model in (("output", OutputSpec), ("inputs", InputSpec)):
        keys[""] |= {f"{prefix}.{k}" for k in model.model_fields}
    keys[""] |= set(PipelineSpec.model_fields)
    from curate.ablate.config import AblationConfig  # ABLATION.yaml's keys (curate ablate's messages)

    keys[""] |= set(AblationConfig.model_fields)
    return keys


def test_every_suggested_key_exists():
    keys = _config_keys()
    suggestions = _suggestions()
    assert ("curate/sft/format.py", "check_saved_template") in suggestions  # the scan sees the known one
    unknown = [(f, k) for f, k in suggestions if k not in keys[""]]
    assert not unknown, f"error messages suggest keys no config has: {unknown}"
    # the SFT formatter runs as `format: {kind: sft}` and as `sft_format`: a key it suggests must work in both
    sft = [k for f, k in suggestions if f.startswith("curate/sft/format.py")]
    for k in sft:
        assert k in keys["format"] and k in keys["sft_format"], k
