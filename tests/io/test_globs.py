"""Input globs: symlink loops end (issue 14 item 4), brace alternatives and did-you-mean (issue 15 item
12)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from curate.io.paths import expand_braces, expand_glob, relative_name, suggest_path


def _loop_tree(root):
    """d/x.jsonl, d/a/y.jsonl, and in d/a two symlinks back up to d: a branching loop."""
    (root / "d" / "a").mkdir(parents=True)
    (root / "d" / "x.jsonl").write_text('{"text": "x"}\n')
    (root / "d" / "a" / "y.jsonl").write_text('{"text": "y"}\n')
    os.symlink("..", root / "d" / "a" / "up1")
    os.symlink("..", root / "d" / "a" / "up2")
    os.symlink("../..", root / "d" / "a" / "up3")


@pytest.mark.timeout(30)
def test_double_star_over_a_symlink_loop_follows_each_folder_once(tmp_path):
    _loop_tree(tmp_path)
    found = expand_glob("d/**/*.jsonl", tmp_path)
    assert found == [str(tmp_path / "d" / "a" / "y.jsonl"), str(tmp_path / "d" / "x.jsonl")]
    assert sorted(expand_glob("d", tmp_path)) == found  # a plain folder too


@pytest.mark.timeout(120)
def test_validate_and_run_end_on_a_symlink_loop(tmp_path):
    _loop_tree(tmp_path)
    (tmp_path / "p.yaml").write_text(
        "name: loop\ninputs:\n  - {source: a, reader: jsonl, paths: 'd/**/*.jsonl'}\noutput: {keep_rejects: "
        "true}\n"
    )
    for cmd in (["validate", "p.yaml"], ["run", "p.yaml", "-o", "out", "-q"]):
        r = subprocess.run(
            [sys.executable, "-m", "curate.cli", *cmd],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=100,
        )
        assert r.returncode == 0, r.stdout + r.stderr
    import polars as pl

    assert sorted(pl.read_parquet(tmp_path / "out" / "data" / "*.parquet")["text"]) == ["x", "y"]


def test_brace_globs(tmp_path):
    for name in ("en.txt", "de.txt", "fr.txt"):
        (tmp_path / name).write_text("x")
    assert expand_braces("{en,de}.txt") == ["en.txt", "de.txt"]
    assert expand_braces("a/{b,c}/{1,2}") == ["a/b/1", "a/b/2", "a/c/1", "a/c/2"]
    assert expand_braces("{solo}.txt") == ["{solo}.txt"]  # no comma: literal
    assert expand_glob("{en,de}.txt", tmp_path) == [str(tmp_path / "de.txt"), str(tmp_path / "en.txt")]
    assert relative_name(str(tmp_path / "en.txt"), "{en,de}.txt", tmp_path) == "en.txt"


def test_did_you_mean_for_a_glob_that_matches_nothing(tmp_path):
    (tmp_path / "corpus").mkdir()
    for i in range(3):
        (tmp_path / "corpus" / f"part{i}.jsonl").write_text("{}\n")
    assert suggest_path("corpsu/*.jsonl", tmp_path) == "corpus/*.jsonl"
    assert suggest_path("corpus/*.jsnol", tmp_path) == "corpus/*.jsonl"
    assert suggest_path("corpus/prat1.jsonl", tmp_path) == "corpus/part1.jsonl"
    assert suggest_path("zzz/qqq.parquet", tmp_path) is None


def test_validation_message_suggests_the_near_path(tmp_path, monkeypatch):
    from curate.engine.spec import SpecError, load_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.jsonl").write_text('{"text": "x"}\n')
    p = tmp_path / "p.yaml"
    p.write_text("name: x\ninputs:\n  - {source: a, reader: jsonl, paths: corpsu/*.jsonl}\n")
    with pytest.raises(SpecError) as e:
        load_spec(p)
    (problem,) = e.value.problems
    assert problem.startswith(f"{p}:3: inputs[0].paths: 'corpsu/*.jsonl' matches no file")
    assert problem.endswith("did you mean 'corpus/*.jsonl'?")
