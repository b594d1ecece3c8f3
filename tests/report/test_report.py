"""OUT/report.html: written by every run, self-contained, every section from the output contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from curate.report import ReportError, build_report
from curate.report.build import _SECTION_HEAD


def _sections(html: str) -> dict[str, str]:
    """section id -> its HTML."""
    parts = re.split(r"(?=<section id=)", html)
    return {re.match(_SECTION_HEAD, p).group(1): p for p in parts if p.startswith("<section")}


def assert_self_contained(html: str) -> None:
    # nothing to fetch: no scripts, stylesheets, images or frames by URL; only the SVG namespace
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"\b(src|href)\s*=\s*[\"']?(https?:|//)", html, re.I)
    assert set(re.findall(r"xmlns=\"([^\"]+)\"", html)) <= {"http://www.w3.org/2000/svg"}


def test_run_writes_report_with_all_sections(finished_run):
    report = finished_run / "report.html"
    assert report.exists()
    html = report.read_text()
    assert_self_contained(html)
    secs = _sections(html)
    for anchor in ("overview", "funnel", "reasons", "lengths", "time", "samples", "config", "sources"):
        assert anchor in secs, anchor
    stats = json.loads((finished_run / "stats.json").read_text())
    # the funnel names every stage with its exact counts
    for s in stats["stages"]:
        assert f"{s['name']} · in: {s['in']:,}" in secs["funnel"]
        for reason, n in s["dropped"].items():
            assert f"{reason} · dropped: {n:,}" in secs["reasons"]
    # before/after length histograms: before includes the rejected documents (those with text)
    assert (
        "before: kept + rejected documents" in secs["lengths"] and "after: output shards" in secs["lengths"]
    )
    n_after = json.loads((finished_run / "manifest.json").read_text())["rows"]
    assert f"<td>after</td><td>{n_after:,}</td>" in secs["lengths"]
    # samples: one block per rejects folder and reason
    assert "Dropped by 00-MinChars" in secs["samples"] and "too_short" in secs["samples"]
    assert "malformed:json" in secs["samples"]
    if "mix" in stats["global"]:
        assert "requested vs achieved" in secs["sources"]
        for g, v in stats["global"]["mix"]["groups"].items():
            assert f"{g} · achieved %: {100 * v['achieved_share']:.1f}%" in secs["sources"]


def test_cli_regenerates_report(finished_run):
    from curate.cli import main

    (finished_run / "report.html").unlink()
    r = CliRunner().invoke(main, ["report", str(finished_run), "-n", "1"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and (finished_run / "report.html").exists()


def test_report_on_unfinished_folder_is_a_clear_error(tmp_path):
    from curate.cli import main

    with pytest.raises(ReportError, match="has not finished"):
        build_report(tmp_path)
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "has not finished" in r.output


def _synthetic_run(out: Path, hostile: str) -> None:
    """A hand-made output folder with a lang column, a dedup summary and hostile rejected text."""
    (out / "data").mkdir(parents=True)
    pl.DataFrame({
        "id": [f"w-{i}" for i in range(6)],
        "source": ["web"] * 6,
        "text": ["a" * 10, "b" * 100, "c" * 1000, "d" * 50, "e" * 5, ""],
        "lang": ["en", "en", "de", "fr", None, "en"],
    }).write_parquet(out / "data" / "part-00000-0000.parquet")
    rej = out / "rejects" / "01-minhash_dedup"
    rej.mkdir(parents=True)
    pl.DataFrame({
        "id": ["w-7", "w-8"], "source": ["web", "web"], "text": [hostile, "x" * 20_000],
        "lang": ["de", "ja"], "reason": ["near_duplicate", "near_duplicate"], "stage": ["minhash_dedup"] * 2,
    }).write_parquet(rej / "part-00000-0000.parquet")
    stage = {
        "name": "minhash_dedup",
        "index": 1,
        "in": 8,
        "out": 6,
        "emitted": 6,
        "dropped": {"near_duplicate": 2},
        "counters": {},
        "seconds": 0.5,
    }
    dedup = {
        "clusters": 2,
        "duplicates": 2,
        "size_histogram": {"2": 2},
        "samples": [
            {
                "size": 2,
                "kept": "w-1",
                "members": [
                    {"id": "w-1", "kept": True, "snippet": hostile},
                    {"id": "w-7", "kept": False, "snippet": "dup"},
                ],
            }
        ],
    }
    (out / "stats.json").write_text(
        json.dumps(
            {
                "pipeline": "syn",
                "stages": [stage],
                "global": {"minhash_dedup": dedup},
                "totals": {"input_records": 8, "output_rows": 6, "dropped": 2},
                "throughput": {"wall_seconds": 1.0, "docs_per_s": 8.0},
            }
        )
    )
    (out / "manifest.json").write_text(json.dumps({
        "name": "syn", "config_sha256": "0" * 64, "tool": {"version": "x"}, "rows": 6,
        "shards": [{"path": "data/part-00000-0000.parquet", "rows": 6, "bytes": 1, "sha256": ""}],
        "sources": {"web": {"rows": 6, "tokens": 0}}, "config": {"name": "syn"},
    }))


def test_languages_dedup_and_hostile_text_are_escaped(tmp_path):
    hostile = '<script>alert("x")</script><img src="http://evil.example/x.png">\x00' + "<div>" * 5000
    _synthetic_run(tmp_path, hostile)
    html = build_report(tmp_path).read_text()
    assert_self_contained(html)
    assert "\x00" not in html and "&lt;script&gt;" in html
    secs = _sections(html)
    # languages: before = kept + rejected per lang; after = output only
    assert "de · before (kept + rejected): 2" in secs["languages"] and "de · after: 1" in secs["languages"]
    assert "ja · after: 0" in secs["languages"] and "(none) · after: 1" in secs["languages"]
    # dedup: cluster-size chart and a sample cluster
    assert "cluster size (documents) 2: 2" in secs["dedup"] and "cluster of 2" in secs["dedup"]
    # a 20,000-character rejected document is cut in the samples
    assert "x" * 601 not in html
    # a zero-length document is counted (first bin), not lost
    assert "<td>after</td><td>6</td>" in secs["lengths"]


def test_report_failure_never_fails_the_run(tmp_path, monkeypatch, capsys):
    import curate.report
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict

    def boom(*a, **k):
        raise RuntimeError("chart exploded")

    monkeypatch.setattr(curate.report, "build_report", boom)
    (tmp_path / "in.jsonl").write_text('{"text": "hello world"}\n')
    spec = spec_from_dict(
        {
            "name": "r",
            "inputs": [{"source": "s", "reader": "jsonl", "paths": str(tmp_path / "in.jsonl")}],
            "output": {},
        }
    )
    res = run_pipeline(spec, tmp_path / "out", quiet=True)
    assert res.manifest["rows"] == 1
    err = capsys.readouterr().err
    assert "could not write" in err and "chart exploded" in err
    assert not (tmp_path / "out" / "report.html").exists()


def test_large_outputs_are_sampled_evenly_and_say_so(finished_run, monkeypatch):
    import curate.report.build as b

    monkeypatch.setattr(b, "MAX_LENGTH_ROWS", 100)
    after, sampled = b._column_values(sorted((finished_run / "data").glob("*.parquet")), "text", b._utf8_len)
    assert sampled and 100 <= after.size <= 100 + len(list((finished_run / "data").glob("*.parquet")))
    html = build_report(finished_run).read_text()
    assert "sampled evenly per file" in html
