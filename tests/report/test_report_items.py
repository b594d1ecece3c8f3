"""Issue 15 item 18: drop-reason bars against the stage's input, empty sources/files in red."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from curate.report import build_report
from curate.report.svg import LABEL_W, WIDTH, hbars
from tests.report.test_report import _sections, assert_self_contained

NS = "{http://www.w3.org/2000/svg}"
PLOT_W = WIDTH - LABEL_W - 150


def _bar_widths(svg: str) -> dict[str, float]:
    """bar tooltip (``label · series: value``) -> width, for the data bars (not the tracks)."""
    root = ET.fromstring(svg)
    return {
        r.find(f"{NS}title").text: float(r.get("width"))
        for r in root.iter(f"{NS}rect")
        if r.get("class") != "track" and r.find(f"{NS}title") is not None
    }


def test_hbars_scale_is_per_row_and_drawn_as_a_track():
    svg = hbars([("a", [5]), ("b", [50])], ["dropped"], "t", scale=[1000, 100])
    w = _bar_widths(svg)
    assert w["a · dropped: 5"] == pytest.approx(0.005 * PLOT_W, abs=0.6)  # 0.5 px floor
    assert w["b · dropped: 50"] == pytest.approx(0.5 * PLOT_W, abs=0.1)
    tracks = [r for r in ET.fromstring(svg).iter(f"{NS}rect") if r.get("class") == "track"]
    assert [float(t.get("width")) for t in tracks] == [pytest.approx(PLOT_W, abs=0.1)] * 2


def test_drop_reason_bars_are_shares_of_the_stage_input(finished_run):
    html = (finished_run / "report.html").read_text()
    reasons = _sections(html)["reasons"]
    stats = json.loads((finished_run / "stats.json").read_text())
    svgs = re.findall(r"<svg.*?</svg>", reasons, re.S)
    checked = 0
    for s, svg in zip([s for s in stats["stages"] if s["dropped"]], svgs, strict=True):
        widths = _bar_widths(svg)
        for reason, n in s["dropped"].items():
            # a bar's length is dropped / that stage's input (not / the largest reason)
            assert widths[f"{reason} · dropped: {n:,}"] == pytest.approx(
                max(n / s["in"] * PLOT_W, 0.5), abs=0.1
            )
            # the label shows both figures
            assert f"{n:,}  of {s['in']:,} in ({100 * n / s['in']:.1f}%)" in svg
            checked += 1
    assert checked >= 2


@pytest.fixture(scope="module")
def run_with_empty_source(tmp_path_factory) -> Path:
    t = tmp_path_factory.mktemp("empty-src")
    (t / "good").mkdir()
    (t / "good" / "a.jsonl").write_text(
        "".join(json.dumps({"text": f"hello world number {i}"}) + "\n" for i in range(20))
    )
    # a second file of the same source with only broken lines: an empty *file* in a non-empty source
    (t / "good" / "b.jsonl").write_text("{not json\n" * 3)
    # HH-RLHF-like rows under a reader that wants `text`: the whole source ends empty
    (t / "hh.jsonl").write_text(
        "".join(json.dumps({"chosen": "<b>x</b>", "rejected": "y"}) + "\n" for _ in range(5))
    )
    spec = spec_from_dict(
        {
            "name": "empty-demo",
            "inputs": [
                {"source": "good", "reader": "jsonl", "paths": str(t / "good" / "*.jsonl")},
                {"source": "hh<script>", "reader": "jsonl", "paths": str(t / "hh.jsonl")},
            ],
            "output": {"keep_rejects": True},
        }
    )
    run_pipeline(spec, t / "out", quiet=True)
    return t / "out"


def test_empty_sources_and_files_are_listed_in_red(run_with_empty_source):
    out = run_with_empty_source
    empty = json.loads((out / "stats.json").read_text())["empty"]
    assert [e["source"] for e in empty["sources"]] == ["hh<script>"] and len(empty["files"]) == 1
    html = build_report(out).read_text()
    assert_self_contained(html)
    assert "<script>" not in html  # the source name is escaped like every other payload
    secs = _sections(html)
    assert "1 source(s) and 1 input file(s) ended with 0 rows" in secs["overview"]
    src = secs["sources"]
    block = re.search(r'<div class="empty-inputs warn">(.*?)</div>', src, re.S).group(1)
    assert (
        "source <b>hh&lt;script&gt;</b> (hh.jsonl): 5 records in; top drop reasons: malformed:missing_text 5"
        in block
    )
    assert "unreadable or of the wrong shape" in block
    assert (
        "file <code>b.jsonl</code> of source <b>good</b>: 3 records in; top drop reasons: malformed:json 3"
        in block
    )
    # in the rows-per-source chart the empty source is a red label with a 0 bar
    assert re.search(r'class="label bad"><title>hh&lt;script&gt;</title>', src)
    assert "hh&lt;script&gt; · rows: 0" in src
    assert 'class="label bad"><title>good<' not in src


def test_report_without_empty_key_still_builds(run_with_empty_source, tmp_path):
    import shutil

    out = tmp_path / "old"
    shutil.copytree(run_with_empty_source, out)
    stats = json.loads((out / "stats.json").read_text())
    del stats["empty"]  # a run written before stats.json had it
    (out / "stats.json").write_text(json.dumps(stats))
    html = build_report(out).read_text()
    assert "ended with 0 rows" not in html
