"""Issue 15 item 18 on an SFT run: lengths compare turns with turns (kept and rejected on the same
bins), preference pairs are shown side by side, and hostile content stays escaped."""

from __future__ import annotations

import glob
import html as htmllib
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.report import build_report
from curate.report.samples import doc_list
from curate.report.svg import fmt, log_bins
from tests.report.test_report import _sections, assert_self_contained


def _rows(pattern: str) -> list[dict]:
    """Rows (Python dicts) of the files whose `messages` column is a list of turns."""
    out = []
    for f in sorted(glob.glob(pattern, recursive=True)):
        t = pq.read_table(f)
        typ = t.schema.field("messages").type if "messages" in t.column_names else None
        if typ is not None and (pa.types.is_list(typ) or pa.types.is_large_list(typ)):
            out += [r for r in t.to_pylist() if r["messages"] is not None]
    return out


def _prompt_response(r: dict) -> tuple[int, int | None]:
    """Computed here the slow way, independently of the report's Polars expressions."""
    if r.get("chosen_messages") is not None:
        return sum(len(m["content"] or "") for m in r["messages"]), None
    p = sum(len(m["content"] or "") for m in r["messages"] if m["role"] != "assistant")
    return p, sum(len(m["content"] or "") for m in r["messages"] if m["role"] == "assistant")


def _cells(v: list[int]) -> str:
    a = np.asarray(v)
    q = np.quantile(a, [0.1, 0.5, 0.9])
    return (
        f"<td>{len(v):,}</td>"
        + "".join(f"<td>{fmt(int(x))}</td>" for x in q)
        + f"<td>{fmt(int(a.max()))}</td>"
    )


@pytest.fixture(scope="module")
def sft_html(sft_run) -> str:
    html = (sft_run / "report.html").read_text()
    assert_self_contained(html)
    return html


def test_sft_lengths_compare_turns_with_turns_on_one_set_of_bins(sft_run, sft_html):
    sec = _sections(sft_html)["lengths"]
    assert "Prompt and response lengths" in sec and "before: kept + rejected documents" not in sec
    kept = _rows(str(sft_run / "data" / "**" / "*.parquet"))
    rejected = _rows(str(sft_run / "rejects" / "*" / "*.parquet"))
    assert kept and rejected
    values: dict[str, list[int]] = {}
    for side, rows in (("kept", kept), ("rejected", rejected)):
        pr = [_prompt_response(r) for r in rows]
        values[f"prompt chars · {side} rows"] = [p for p, _ in pr]
        values[f"response chars · {side} rows"] = [r for _, r in pr if r is not None]
    for label, v in values.items():
        assert f"<td>{label}</td>{_cells(v)}" in sec, label
    # every character histogram uses the same bins: those for the longest prompt/response/answer
    charts = re.findall(r"<svg.*?</svg>", sec, re.S)
    assert len(charts) == 4  # prompt, response, preference answers, tokens
    hi = max(max(v) for v in values.values())
    pref = [r for r in kept if r.get("chosen_messages") is not None]
    for r in pref + [r for r in rejected if r.get("chosen_messages") is not None]:
        n = len(r["messages"])
        for side in ("chosen_messages", "rejected_messages"):
            hi = max(hi, sum(len(m["content"] or "") for m in r[side][n:]))
    edges = log_bins(1, float(max(hi, 10)))
    allowed = {f"[{fmt(round(lo))}, {fmt(round(up))})" for lo, up in zip(edges, edges[1:], strict=False)}
    for chart in charts[:3]:
        used = set(re.findall(r"with characters in (\[[^)]*\))", chart))
        assert used and used <= allowed
    # the prompt chart counts every kept and rejected row once, each series on its own
    for side, rows in (("kept", kept), ("rejected", rejected)):
        counts = [int(c.replace(",", "")) for c in re.findall(rf"prompt · {side}: ([\d,]+) with", charts[0])]
        assert sum(counts) == len(rows)
    # preference answers: chosen and rejected, the turns after the shared prompt
    chosen = [sum(len(m["content"] or "") for m in r["chosen_messages"][len(r["messages"]) :]) for r in pref]
    assert f"<td>chosen answer chars · kept rows</td>{_cells(chosen)}" in sec
    # tokens: trained and untrained split of n_tokens, kept rows only
    sft = [r for r in kept if r.get("n_tokens") is not None]
    assert f"<td>trained tokens · kept rows</td>{_cells([r['n_trained_tokens'] for r in sft])}" in sec
    untrained = [r["n_tokens"] - r["n_trained_tokens"] for r in sft]
    assert f"<td>untrained tokens · kept rows</td>{_cells(untrained)}" in sec


def test_preference_samples_show_chosen_and_rejected_side_by_side(sft_run):
    html = build_report(sft_run, samples=40).read_text()
    sec = _sections(html)["samples"]
    by_id = {r["id"]: r for r in _rows(str(sft_run / "data" / "**" / "*.parquet"))}
    pairs = re.findall(
        r'<code>([^<]+)</code>[^<]*</div><div class="prompt">(.*?)</div></div><div class="pair">'
        r'<div class="side chosen"><div class="k">chosen</div>(.*?)</div></div>'
        r'<div class="side rejected"><div class="k">rejected</div>(.*?)</div></div></div>',
        sec,
        re.S,
    )
    kept = [p for p in pairs if p[0] in by_id]
    assert kept, "no kept preference pair in the samples"
    for rid, prompt, chosen, rejected in kept:
        r = by_id[rid]
        n = len(r["messages"])
        assert htmllib.escape(r["messages"][-1]["content"][:200]) in prompt
        assert htmllib.escape(r["chosen_messages"][n]["content"][:200]) in chosen
        assert htmllib.escape(r["rejected_messages"][n]["content"][:200]) in rejected
    # a pair sft_normalize rejected (raw strings) is shown side by side too
    assert re.search(r'Dropped by 00-sft_normalize.*?<div class="pair">', sec, re.S)


def test_pair_and_turns_are_escaped_and_cut():
    hostile = "<script>alert(1)</script>\x00" + "<b>" * 3000
    rows = [
        {
            "id": "p<1>",
            "messages": [{"role": "user", "content": hostile}],
            "chosen_messages": [
                {"role": "user", "content": hostile},
                {"role": "assistant", "content": hostile},
            ],
            "rejected_messages": [
                {"role": "user", "content": hostile},
                {"role": "assistant", "content": "<i>no</i>"},
            ],
        },
        {"id": "raw", "prompt": hostile, "chosen": hostile, "rejected": None},
        {"id": "sft", "messages": [{"role": "<u>", "content": hostile}, "not a dict"]},
    ]
    out = doc_list(rows)
    assert "<script>" not in out and "<b>" not in out and "<i>" not in out and "<u>" not in out
    assert "\x00" not in out and "&lt;script&gt;" in out
    assert out.count('<div class="pair">') == 2
    assert "&lt;b&gt;" * 200 not in out  # cut at SNIPPET_CHARS
