"""The engine end to end: output contract, balance, determinism, resume, lock, config changes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.engine.errors import RunRefused
from curate.engine.layout import RunLayout
from curate.engine.resume import run_lock
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from tests.engine.conftest import write_corpus


def _spec(stages_module: str, stages: list | None = None, **output):
    return spec_from_dict(
        {
            "name": "t",
            "inputs": [{"source": "web", "reader": "jsonl", "paths": "corpus/*.jsonl", "batch_rows": 128}],
            "stages": stages
            if stages is not None
            else [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 12}}],
            "output": {"shard_rows": 250, "keep_rejects": True, **output},
        }
    )


def _hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "data").rglob("*.parquet"))
    }


def test_output_contract(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_pipeline(_spec(stages_module), tmp_path / "out", quiet=True)
    out = tmp_path / "out"
    m = json.loads((out / "manifest.json").read_text())
    s = json.loads((out / "stats.json").read_text())
    assert m["config_sha256"] and m["tool"]["name"] == "curate" and m["tool"]["version"]
    assert m["rows"] == sum(x["rows"] for x in m["shards"]) == s["totals"]["output_rows"] > 0
    for sh in m["shards"]:
        p = out / sh["path"]
        assert sh["path"].startswith("data/part-") and sh["bytes"] == p.stat().st_size
        assert sh["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()
        meta = pq.ParquetFile(p).metadata
        assert meta.num_rows == sh["rows"] <= 250
        assert meta.row_group(0).column(0).compression == "ZSTD"
    assert m["sources"]["web"]["rows"] == m["rows"]
    names = [x["name"] for x in s["stages"]]
    assert names == ["read", "MinChars"]
    for x in s["stages"]:
        assert x["in"] == x["out"] + sum(x["dropped"].values())
    read = s["stages"][0]
    assert read["dropped"]["malformed:json"] == 1200 // 97
    assert s["stages"][1]["in"] == read["out"]
    # schemas are unified across shards even though only file 1 has `extra`
    schemas = {str(pq.read_schema(out / sh["path"]).remove_metadata()) for sh in m["shards"]}
    assert len(schemas) == 1 and "extra" in schemas.pop()
    # readable as they are
    assert res.frame().collect().height == m["rows"]
    import duckdb
    import pandas as pd
    from datasets import load_dataset

    assert len(pd.read_parquet(out / "data")) == m["rows"]
    assert (
        duckdb.sql(f"select count(*) from read_parquet('{out}/data/*.parquet')").fetchall()[0][0] == m["rows"]
    )
    ds = load_dataset("parquet", data_files=str(out / "data" / "*.parquet"), split="train")
    assert ds.num_rows == m["rows"] and "text" in ds.column_names


def test_rejects_keep_reason_stage_and_original_columns(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_pipeline(_spec(stages_module), tmp_path / "out", quiet=True)
    rej = pl.read_parquet(tmp_path / "out" / "rejects" / "00-MinChars" / "*.parquet")
    assert set(rej["reason"].unique()) == {"too_short"}
    assert {"id", "reason", "stage", "text", "n", "source"} <= set(rej.columns)
    assert (rej["text"].str.len_chars() < 12).all()
    bad = pl.read_parquet(tmp_path / "out" / "rejects" / "read" / "*.parquet")
    assert set(bad["reason"]) == {"malformed:json"}
    assert {"file", "position", "raw"} <= set(bad.columns)
    assert (bad["raw"] == "{not json").all()


def test_ids_stable_and_unique(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = run_pipeline(_spec(stages_module), tmp_path / "a", quiet=True).frame().collect()
    b = run_pipeline(_spec(stages_module), tmp_path / "b", quiet=True).frame().collect()
    assert a["id"].n_unique() == a.height
    assert a["id"].to_list() == b["id"].to_list()


def test_worker_count_does_not_change_bytes(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stages = [
        {"stage": f"{stages_module}:MinChars", "config": {"min_chars": 8}},
        {"stage": f"{stages_module}:RareSource", "config": {"min_count": 17}},
        {"stage": f"{stages_module}:Upper"},
    ]
    run_pipeline(_spec(stages_module, stages), tmp_path / "w1", workers=1, quiet=True)
    run_pipeline(_spec(stages_module, stages), tmp_path / "w2", workers=2, quiet=True)
    h1, h2 = _hashes(tmp_path / "w1"), _hashes(tmp_path / "w2")
    assert h1 and h1 == h2
    s = json.loads((tmp_path / "w1" / "stats.json").read_text())
    rare = next(x for x in s["stages"] if x["name"] == "RareSource")
    assert rare["dropped"].get("rare_first_word", 0) > 0
    assert s["global"][f"{stages_module}:RareSource"]["rare_words"] > 0


def test_flush_stage_balances(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_pipeline(
        _spec(stages_module, [{"stage": f"{stages_module}:PackPairs"}]), tmp_path / "o", quiet=True
    )
    pack = next(x for x in res.stats["stages"] if x["name"] == "PackPairs")
    read = res.stats["stages"][0]
    assert pack["in"] == pack["out"] == read["out"]
    assert pack["emitted"] == res.manifest["rows"] == sum((n + 1) // 2 for n in _rows_per_file(read["out"]))


def _rows_per_file(total: int) -> list[int]:
    # corpus: 3 files x 400 lines, every 97th line bad -> rows per file
    bad = [sum(1 for ln in range(f * 400 + 1, f * 400 + 401) if ln % 97 == 0) for f in range(3)]
    rows = [400 - b for b in bad]
    assert sum(rows) == total
    return rows


def test_resume_skips_done_tasks_and_gives_same_bytes(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    run_pipeline(_spec(stages_module), out, quiet=True)
    before = _hashes(out)
    # forget one task: its marker and shards go, the others must be skipped
    layout = RunLayout(out)
    layout.done("p0-00001").unlink()
    for p in (out / "data").glob("part-00001-*"):
        p.unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "data").glob("part-00000-*")}
    run_pipeline(_spec(stages_module), out, quiet=True)
    assert _hashes(out) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_changed_config_is_refused_with_keys_then_forced(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_pipeline(_spec(stages_module), tmp_path / "o", quiet=True)
    with pytest.raises(RunRefused, match=r"changed: stages\[0\]\.config\.min_chars"):
        run_pipeline(
            _spec(stages_module, [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 3}}]),
            tmp_path / "o",
            quiet=True,
        )
    res = run_pipeline(
        _spec(stages_module, [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 0}}]),
        tmp_path / "o",
        force=True,
        quiet=True,
    )
    assert res.stats["stages"][1]["dropped"].get("too_short", 0) == 0


def test_second_run_on_same_folder_is_refused(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "o"
    with run_lock(RunLayout(out)), pytest.raises(RunRefused, match="in use by another curate run"):
        run_pipeline(_spec(stages_module), out, quiet=True)


def test_kill_9_then_rerun_is_byte_identical(tmp_path, corpus, stages_module, monkeypatch):
    """Kill the driver (and its workers) mid-run; the same command again gives the same shards."""
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus", n_files=6, rows=300, seed=3)
    yaml = tmp_path / "p.yaml"
    yaml.write_text(
        "name: kill\n"
        "inputs:\n  - {source: web, reader: jsonl, paths: corpus/*.jsonl, batch_rows: 50}\n"
        f"stages:\n  - stage: {stages_module}:MinChars\n    config: {{min_chars: 10, sleep: 0.02}}\n"
        "output: {shard_rows: 100}\n"
    )
    cmd = [sys.executable, "-m", "curate.cli", "run", str(yaml), "-q", "-w", "2"]
    ref = subprocess.run(cmd + ["-o", "ref"], capture_output=True, text=True, env=os.environ.copy())
    assert ref.returncode == 0, ref.stderr
    proc = subprocess.Popen(cmd + ["-o", "killed"], start_new_session=True, env=os.environ.copy())
    done = tmp_path / "killed" / "_work" / "done"
    deadline = time.time() + 60
    while time.time() < deadline and not (done.exists() and any(done.glob("p0-*.json"))):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(done.glob("p0-*.json")))
    assert 0 < n_done < 6, "the kill should land mid-run"
    again = subprocess.run(cmd + ["-o", "killed"], capture_output=True, text=True, env=os.environ.copy())
    assert again.returncode == 0, again.stderr
    assert _hashes(tmp_path / "killed") == _hashes(tmp_path / "ref")
    assert not list((tmp_path / "killed").rglob("*.tmp-*"))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    n_files=st.integers(1, 3),
    rows=st.integers(0, 150),
    batch_rows=st.integers(1, 64),
    min_chars=st.integers(0, 40),
    shard_rows=st.integers(1, 200),
)
def test_every_stage_balances_and_reruns_are_identical(
    tmp_path_factory, stages_module, n_files, rows, batch_rows, min_chars, shard_rows
):
    """Property: for any corpus shape, batch size and threshold, in == out + dropped per stage,
    nothing is lost between stages, and a second run writes byte-identical shards."""
    root = tmp_path_factory.mktemp("prop")
    write_corpus(root / "corpus", n_files=n_files, rows=rows, seed=rows, bad_every=13)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        spec = spec_from_dict(
            {
                "name": "p",
                "inputs": [
                    {"source": "s", "reader": "jsonl", "paths": "corpus/*.jsonl", "batch_rows": batch_rows}
                ],
                "stages": [{"stage": "engine_test_stages:MinChars", "config": {"min_chars": min_chars}}],
                "output": {"shard_rows": shard_rows},
            }
        )
        a = run_pipeline(spec, root / "a", quiet=True)
        b = run_pipeline(spec, root / "b", quiet=True)
        assert b.manifest["shards"] == a.manifest["shards"]
    finally:
        os.chdir(cwd)
    read = a.stats["stages"][0]
    # an empty file is itself one rejected record (malformed:empty_file), never a silent skip
    assert read["in"] == (n_files * rows if rows else n_files)
    assert read["in"] == read["out"] + sum(read["dropped"].values())
    filt = a.stats["stages"][1]
    assert filt["in"] == read["out"] == filt["out"] + sum(filt["dropped"].values())
    assert a.manifest["rows"] == filt["out"]
    assert _hashes(root / "a") == _hashes(root / "b")
    assert all(s["rows"] <= shard_rows for s in a.manifest["shards"])


def test_conflicting_metadata_types_across_shards_become_text(tmp_path, monkeypatch):
    """An int in one file and a string in another: the shards still share one schema, nothing lost."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.jsonl").write_text(
        "".join(json.dumps({"text": f"a{i}", "x": i, "s": {"k": i}}) + "\n" for i in range(50))
    )
    (tmp_path / "corpus" / "b.jsonl").write_text(
        "".join(json.dumps({"text": f"b{i}", "x": f"s{i}", "s": "flat"}) + "\n" for i in range(50))
    )
    spec = spec_from_dict({
        "name": "t",
        "inputs": [{"source": "s", "reader": "jsonl", "paths": "corpus/*.jsonl"}],
        "output": {"min_shard_mb": 0},  # two shards, one rewritten to the common schema
    })
    res = run_pipeline(spec, tmp_path / "o", quiet=True)
    assert len(res.shards) == 2
    schemas = {str(pq.read_schema(p).remove_metadata()) for p in res.shards}
    assert len(schemas) == 1
    df = res.frame().collect().sort("id")
    assert df.height == 100
    assert set(df["x"].to_list()) == {str(i) for i in range(50)} | {f"s{i}" for i in range(50)}
    assert json.loads(df.filter(pl.col("text") == "a7")["s"][0]) == {"k": 7}
    # Shards are hashed by their tasks; the ones finalize rewrote (b's, to text) are hashed again,
    # and a re-run, which finds them rewritten, does not trust the tasks' stale hashes.
    for again in (res, run_pipeline(spec, tmp_path / "o", quiet=True)):
        for sh in again.manifest["shards"]:
            assert sh["sha256"] == hashlib.sha256((tmp_path / "o" / sh["path"]).read_bytes()).hexdigest()


def test_changed_inputs_are_refused_with_the_files_named(tmp_path, corpus, stages_module, monkeypatch):
    """Resuming over inputs that changed since would mix stale and fresh tasks: refused, files named."""
    monkeypatch.chdir(tmp_path)
    run_pipeline(_spec(stages_module), tmp_path / "o", quiet=True)
    run_pipeline(_spec(stages_module), tmp_path / "o", quiet=True)  # unchanged: resumes
    target = tmp_path / "corpus" / "part1.jsonl"
    target.write_text(target.read_text() + json.dumps({"text": "one more line of text"}) + "\n")
    with pytest.raises(RunRefused, match=r"modified: .*part1\.jsonl"):
        run_pipeline(_spec(stages_module), tmp_path / "o", quiet=True)
    res = run_pipeline(_spec(stages_module), tmp_path / "o", quiet=True, force=True)
    assert res.stats["stages"][0]["in"] == 1201


def test_fingerprint_covers_files_named_in_stage_configs(tmp_path, monkeypatch):
    """A tokenizer folder or block list rewritten at the same path changes the output too, so the
    files a stage config names are part of what a resumed run must find unchanged."""
    from curate.engine.fingerprint import fingerprint

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_text("{}")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "domains.txt").write_text("a.example\n")
    (tmp_path / "text").mkdir()  # a bare word that happens to name a folder is not a reference
    fp = fingerprint(
        [],
        [
            {"tokenizer": "./tok", "template": "hf:./tok"},
            {"domains": "lists/domains.txt", "text_column": "text"},
        ],
    )
    assert set(fp) == {
        str((tmp_path / "tok" / "tokenizer.json").resolve()),
        str((tmp_path / "lists" / "domains.txt").resolve()),
    }


def test_resume_after_a_library_upgrade_is_refused(tmp_path, monkeypatch):
    """Byte-identical resume holds for the versions a run began with: another polars is named."""
    from curate.engine import resume

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.jsonl").write_text('{"text": "hello there"}\n')
    spec = spec_from_dict({"name": "v", "inputs": [{"source": "s", "reader": "jsonl", "paths": "a.jsonl"}]})
    run_pipeline(spec, tmp_path / "o", quiet=True)
    real = resume.library_versions()
    monkeypatch.setattr(resume, "library_versions", lambda: {**real, "polars": "99.0.0"})
    with pytest.raises(
        RunRefused, match=rf"polars {real['polars']} -> 99.0.0.*pip install polars=={real['polars']}"
    ):
        run_pipeline(spec, tmp_path / "o", quiet=True)
    run_pipeline(spec, tmp_path / "o", quiet=True, force=True)  # --force starts over under the new versions
    monkeypatch.setattr(resume, "library_versions", lambda: real)
    with pytest.raises(RunRefused, match="99.0.0"):
        run_pipeline(spec, tmp_path / "o", quiet=True)
