"""OUT/ablation.html: one self-contained page (inline CSS + SVG, no scripts, no network).

Sections: overview (budget, tokenizer), arms (unique tokens, epochs), curves (held-out bits per
byte against training tokens, one chart per text set, one line per run), final table (mean ± std
per arm, paired differences vs the baseline), lineage (each arm's pipeline, manifest and shards).
Built from ablation.json alone, so it can be rebuilt with `curate ablate --report-only`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from curate import __version__
from curate.io.writer import write_bytes_atomic
from curate.report.page import _CSS, _PAGE
from curate.report.svg import PALETTE, fmt

W, H, LEFT, RIGHT, TOP, BOTTOM = 760, 300, 60, 150, 14, 40


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _pm(cell: dict[str, Any], digits: int = 4) -> str:
    if cell.get("mean") is None:
        return "–"
    s = _num(cell["mean"], digits)
    return s + (f" ± {_num(cell['std'], digits)}" if cell.get("std") is not None else "")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def line_chart(series: list[tuple[str, int, list[tuple[float, float]]]], title: str, x_label: str,
               y_label: str) -> str:
    """Lines of (x, y) points; each series is (label, colour index, points). Every point has a tooltip."""
    pts = [p for _, _, s in series for p in s if p[1] is not None]
    if not pts:
        return '<p class="empty">no curve points yet</p>'
    x0, x1 = 0.0, max(p[0] for p in pts) or 1.0
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    pad = (y1 - y0) * 0.05 or 0.05
    y0, y1 = y0 - pad, y1 + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def X(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def Y(y: float) -> float:
        return TOP + (y1 - y) / (y1 - y0) * ph

    body = [f'<line class="axis" x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}"/>',
            f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}"/>']
    for t in _ticks(y0, y1):
        body.append(f'<line class="grid" x1="{LEFT}" y1="{Y(t):.1f}" x2="{LEFT + pw}" y2="{Y(t):.1f}"/>')
        body.append(f'<text class="tick" x="{LEFT - 6}" y="{Y(t) + 4:.1f}" text-anchor="end">{t:.3f}</text>')
    for t in _ticks(x0, x1):
        body.append(
            f'<text class="tick" x="{X(t):.1f}" y="{TOP + ph + 16}" text-anchor="middle">{fmt(int(t))}</text>'
        )
    body.append(
        f'<text class="label" x="{LEFT + pw / 2}" y="{H - 6}" text-anchor="middle">{escape(x_label)}</text>'
    )
    body.append(f'<text class="label" x="14" y="{TOP + ph / 2}" transform="rotate(-90 14 {TOP + ph / 2})" '
                f'text-anchor="middle">{escape(y_label)}</text>')
    seen: set[int] = set()
    ly = TOP + 4
    for label, ci, s in series:
        colour = PALETTE[ci % len(PALETTE)]
        s = [p for p in s if p[1] is not None]
        if s:
            path = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in s)
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{path}">'
                        f"<title>{escape(label)}</title></polyline>")
            for x, y in s:
                body.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="2.6" fill="{colour}">'
                            f"<title>{escape(label)}: {y:.4f} bpb at {fmt(int(x))} tokens</title></circle>")
        arm = label.split(" ")[0]
        if ci not in seen:  # one legend entry per arm
            seen.add(ci)
            body.append(f'<rect x="{LEFT + pw + 12}" y="{ly}" width="10" height="10" fill="{colour}"/>')
            body.append(f'<text class="legend" x="{LEFT + pw + 26}" y="{ly + 9}">{escape(arm)}</text>')
            ly += 16
    return (f'<svg class="chart" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _table(header: list[str], rows: list[list[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    cell = (lambda c: str(c)) if raw else (lambda c: escape(str(c)))
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{escape(title)}</h2>{body}</section>'


def _overview(doc: dict[str, Any]) -> str:
    b, t = doc["budget"], doc["tokenizer"]
    cards = [("arms", len(doc["arms"])), ("seeds", len(doc["config"]["seeds"])), ("preset", b.get("preset")),
             ("tokens per run", fmt(b["train_tokens"])), ("steps", fmt(b["steps"])),
             ("tokens per step", fmt(b["tokens_per_step"])), ("baseline", doc["baseline"])]
    html = '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(str(v))}</div></div>'
        for k, v in cards) + "</div>"
    tok = (f"trained here: {t.get('vocab_size')} tokens on equal bytes per arm "
           f"({', '.join(f'{k} {fmt(v)}' for k, v in (t.get('sample_bytes_per_arm') or {}).items())})"
           if t.get("trained") else "given")
    html += f'<p class="meta">tokenizer {escape(str(t["path"]))} ({escape(tok)}), tokenizer.json sha256 ' \
            f'{escape(str(t.get("sha256"))[:16])}…; requested budget {fmt(b["tokens"])} tokens</p>'
    sets = [[n, fmt(s["docs"]), fmt(s["bytes"]), fmt(s["curve_bytes"])] for n, s in doc["text_sets"].items()]
    html += "<h3>Held-out text sets</h3>" + _table(
        ["set", "documents", "bytes (final eval)", "bytes (curve points)"], sets
    )
    return _section("overview", "Overview", html)


def _arms(doc: dict[str, Any]) -> str:
    rows = []
    for name, a in doc["arms"].items():
        ep = a["epochs"]
        rows.append(
            [
                name,
                a["kind"],
                fmt(a["unique_tokens"] or 0),
                fmt(a["text_bytes"]) if a.get("text_bytes") else "–",
                f"{ep:.2f}",
                fmt(doc["budget"]["train_tokens"]),
                str(len(a["runs"])),
            ]
        )
    note = ('<p class="note">Every run trains the same number of tokens; an arm with fewer unique tokens '
            "repeats its data (epochs &gt; 1).</p>")
    html = _table(["arm", "rows", "unique tokens", "text bytes", "epochs", "training tokens", "runs"],
                  rows) + note
    sets = list(doc["text_sets"])
    over = [[name] + [_overlap_cell((a.get("overlap") or {}).get(t)) for t in sets]
            for name, a in doc["arms"].items()]
    if any(a.get("overlap") for a in doc["arms"].values()):
        html += ('<p class="note">Held-out text the arm already contains: the share of each set\'s word '
                 "n-grams found verbatim in the arm's training text (documents with &ge; 50% of theirs "
                 "found). A score on contained text measures memorisation, not generalisation.</p>")
        html += _table(["arm", *sets], over)
    return _section("arms", "Arms", html)


def _overlap_cell(o: dict[str, Any] | None) -> str:
    if not o:
        return "–"
    return f"{o['share']:.2%} ({o['docs_over_50pct']} of {o['docs_scored']} docs)"


def _curves(doc: dict[str, Any]) -> str:
    parts = []
    arms = list(doc["arms"])
    for tset in doc["text_sets"]:
        series = []
        for i, arm in enumerate(arms):
            for seed, r in doc["arms"][arm]["runs"].items():
                pts = [(p["tokens"], (p.get("bpb") or {}).get(tset)) for p in r.get("curve", [])]
                series.append((f"{arm} seed {seed}", i, pts))
        parts.append(
            f"<h3>{escape(tset)}</h3>"
            + line_chart(series, f"held-out bpb on {tset}", "training tokens", "bits per byte")
        )
    return _section("curves", "Held-out bits per byte during training", "".join(parts))


def _final(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    metrics, base = s["metrics"], s["baseline"]
    rows = []
    for arm in doc["arms"]:
        row = [arm]
        for m in metrics:
            row.append(escape(_pm(s["table"][arm][m])))
        rows.append(row)
    html = _table(["arm"] + metrics, rows, raw=True)
    html += '<p class="note">mean ± std over seeds; bpb: lower is better, accuracy: higher is better.</p>'
    prow = []
    for arm, d in s["paired"].items():
        row = [escape(arm)]
        for m in metrics:
            c = d[m]
            if c["mean"] is None:
                row.append("–")
                continue
            txt = f"{c['mean']:+.4f}" + (f" ± {c['std']:.4f}" if c["std"] is not None else "")
            tag = "" if c["clear"] is None else (" clear" if c["clear"] else " within noise")
            cls = "kept" if c["better"] else "dropped"
            row.append(f'<span class="{cls if c["clear"] else ""}">{escape(txt + tag)}</span>')
        prow.append(row)
    if prow:
        html += f"<h3>Paired differences vs {escape(base)} (per seed, arm − baseline)</h3>"
        html += _table(["arm"] + metrics, prow, raw=True)
        html += ('<p class="note">clear: |mean| &gt; 3 × std of the per-seed differences (needs two seeds or '
                 "more).</p>")
    rank = "".join(f"<li>{escape(m)}: {escape(' › '.join(r))}</li>"
                   for m, r in s["ranking"].items())
    html += f"<h3>Ranking (best first)</h3><ul>{rank}</ul>"
    return _section("final", "Final scores", html)


def _lineage(doc: dict[str, Any]) -> str:
    parts = []
    for name, a in doc["arms"].items():
        lin = a["lineage"]
        man = lin.get("manifest") or {}
        rows = [
            ["data", a["data"]],
            ["pipeline", lin.get("pipeline") or "–"],
            ["overrides", " ".join(lin.get("overrides") or []) or "–"],
            ["manifest", man.get("path") or "none (shards hashed here)"],
            ["manifest sha256", man.get("sha256") or "–"],
            ["pipeline config sha256", man.get("config_sha256") or "–"],
            ["shards", str(len(lin.get("shards") or []))],
        ]
        shards = "".join(
            f"<li>{escape(str(s['path']))} <span class='meta'>{escape(str(s['sha256'])[:16])}…</span></li>"
            for s in (lin.get("shards") or [])[:50]
        )
        parts.append(f"<h3>{escape(name)}</h3>" + _table(["", ""], rows)
                     + f"<details><summary>shards</summary><ul>{shards}</ul></details>")
    return _section("lineage", "Lineage", "".join(parts))


def render(doc: dict[str, Any]) -> str:
    """The page's HTML."""
    sections = [_overview(doc), _arms(doc), _curves(doc), _final(doc), _lineage(doc)]
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in
                  [("overview", "overview"), ("arms", "arms"), ("curves", "curves"), ("final", "final"),
                   ("lineage", "lineage")])
    title = f"ablation · {doc['name']}"
    return _PAGE.format(
        title=escape(title), css=_CSS, nav=nav, body="\n".join(sections), version=escape(__version__)
    )


def write_report(doc: dict[str, Any], path: str | Path) -> Path:
    """Write OUT/ablation.html atomically."""
    p = Path(path)
    write_bytes_atomic(p, render(doc).encode("utf-8"))
    return p
