"""Small shards merged at the end of a run: same rows in the same order, fewer files, safe to crash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from curate.engine import compact as compact_mod
from curate.engine import runner as runner_mod
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict


def many_small_files(folder: Path, n: int = 30, rows: int = 7) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n):
        lines = [
            json.dumps({"text": ("short" if i % 5 == 0 else f"file {f} row {i} " * 3)}) for i in range(rows)
        ]
        (folder / f"part-{f:03d}.jsonl").write_text("\n".join(lines) + "\n")


def spec(folder: Path, merge: bool = True) -> object:
    return spec_from_dict({
        "name": "small",
        "inputs": [{"source": "s", "reader": "jsonl", "paths": str(folder / "*.jsonl")}],
        "stages": [{"length": {"min": 10}}],
        "output": {"shard_rows": 50, "keep_rejects": True, "min_shard_mb": 4 if merge else 0},
    })


def hashes(out: Path) -> dict[str, str]:
    files = sorted((out / "data").rglob("*.parquet")) + sorted((out / "rejects").rglob("*.parquet"))
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_merges_small_shards_keeping_rows_and_order(tmp_path):
    many_small_files(tmp_path / "in")
    merged = run_pipeline(spec(tmp_path / "in"), tmp_path / "merged", quiet=True)
    plain = run_pipeline(spec(tmp_path / "in", merge=False), tmp_path / "plain", quiet=True)
    assert len(plain.manifest["shards"]) == 30
    # 30 shards of 5 rows and ~1 KB (< 4 MB): bins of 10 shards, up to shard_rows (50) rows each
    rows = [s["rows"] for s in merged.manifest["shards"]]
    assert sum(rows) == plain.manifest["rows"] == 30 * 7 - 30 * 2
    assert rows == [50, 50, 50]
    assert merged.manifest["shards"][0]["path"] == "data/part-00000-0000+9.parquet"
    assert merged.frame().collect().equals(plain.frame().collect())  # same rows, same order
    assert sorted(p.name for p in (merged.out / "data").iterdir()) == sorted(
        Path(s["path"]).name for s in merged.manifest["shards"]
    )
    # rejects are merged too: one file per stage folder here, holding every dropped row
    rej = sorted((merged.out / "rejects" / "00-length").glob("*.parquet"))
    assert len(rej) == 2 and pl.read_parquet(rej).height == 60


def test_full_shards_keep_their_names(tmp_path):
    many_small_files(tmp_path / "in", n=3, rows=200)
    res = run_pipeline(spec(tmp_path / "in"), tmp_path / "out", quiet=True)
    names = [Path(s["path"]).name for s in res.manifest["shards"]]
    # each file: 160 kept rows -> 50, 50, 50, 10; only the three tails of 10 are small
    assert names[:3] == ["part-00000-0000.parquet", "part-00000-0001.parquet", "part-00000-0002.parquet"]
    assert "part-00000-0003+2.parquet" in names and len(names) == 10


@pytest.mark.parametrize("crash_at", [1, 2, 3, 5])
def test_crash_during_merge_then_rerun_is_identical(tmp_path, monkeypatch, crash_at):
    many_small_files(tmp_path / "in")
    clean = run_pipeline(spec(tmp_path / "in"), tmp_path / "clean", quiet=True)
    calls = {"n": 0}
    real_unlink = Path.unlink

    def flaky_unlink(self, *a, **kw):
        if self.suffix == ".parquet" and "data" in self.parts:
            calls["n"] += 1
            if calls["n"] == crash_at:
                raise KeyboardInterrupt("killed while merging")
        return real_unlink(self, *a, **kw)

    monkeypatch.setattr(Path, "unlink", flaky_unlink)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(spec(tmp_path / "in"), tmp_path / "out", quiet=True)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    again = run_pipeline(spec(tmp_path / "in"), tmp_path / "out", quiet=True)
    assert hashes(tmp_path / "out") == hashes(tmp_path / "clean")
    assert again.manifest["shards"] == clean.manifest["shards"]


def test_plan_is_per_folder_and_in_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    files = [
        a / "p-0.parquet",
        a / "p-1.parquet",
        b / "p-2.parquet",
        a / "p-3.parquet",
        a / "p-4.parquet",
        b / "p-5.parquet",
    ]
    rows = dict(zip(files, [10, 60, 10, 10, 45, 10], strict=True))
    sizes = dict(zip(files, [100, 5000, 100, 100, 450, 100], strict=True))
    bins = compact_mod.plan_merges(files, rows, sizes, 100, 1000)
    assert bins == [  # p-1 is big enough to stay; a bin closes before it would pass 100 rows
        {
            "out": str(a / "p-0+2.parquet"),
            "members": [str(a / "p-0.parquet"), str(a / "p-3.parquet"), str(a / "p-4.parquet")],
        },
        {"out": str(b / "p-2+1.parquet"), "members": [str(b / "p-2.parquet"), str(b / "p-5.parquet")]},
    ]
    # a bin also closes once it holds min_bytes: [0, 3] reach 200, then [4, 5']
    c = [a / f"q-{i}.parquet" for i in range(5)]
    bins = compact_mod.plan_merges(c, dict.fromkeys(c, 1), dict.fromkeys(c, 100), 100, 200)
    assert [len(b["members"]) for b in bins] == [2, 2]  # the fifth is left alone: nothing to merge with


def test_crash_while_writing_a_merged_shard(tmp_path, monkeypatch):
    """Killed before a merged shard is committed: its temp file is swept, the plan completes."""
    many_small_files(tmp_path / "in")
    run_pipeline(spec(tmp_path / "in"), tmp_path / "clean", quiet=True)
    calls = {"n": 0}
    real_replace = compact_mod.os.replace

    def flaky_replace(src, dst):  # os.replace is everyone's: count only merged shards' commits
        if "+" in Path(dst).name:
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("killed while writing")
        return real_replace(src, dst)

    monkeypatch.setattr(compact_mod.os, "replace", flaky_replace)
    # A kill runs no cleanup: the driver's sweep on the way out (of an interrupted run) is skipped.
    real_sweep = runner_mod.sweep
    monkeypatch.setattr(runner_mod, "sweep", lambda layout: 0)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(spec(tmp_path / "in"), tmp_path / "out", quiet=True)
    monkeypatch.setattr(compact_mod.os, "replace", real_replace)
    monkeypatch.setattr(runner_mod, "sweep", real_sweep)
    assert any(".tmp-" in p.name for p in (tmp_path / "out" / "data").iterdir())
    run_pipeline(spec(tmp_path / "in"), tmp_path / "out", quiet=True)
    assert hashes(tmp_path / "out") == hashes(tmp_path / "clean")
