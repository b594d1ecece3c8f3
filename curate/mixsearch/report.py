"""OUT/search.html: one self-contained page (inline CSS + SVG, no scripts, no network), from search.json.

Sections: overview (budgets, the fit's held-out Spearman), sources (tokens, natural share, the
bounds as shares), the chosen mix beside the natural, uniform, best-measured and top predicted
mixes (bars of the weights), predicted against measured target loss for every proxy (out of fold:
each point predicted by a fit that did not see it; the in-sample fit as a second series), the
models tried, the validation (mean ± std per mix, paired differences), and the candidates' table.
Rebuilt with `curate mix search --report-only`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from curate import __version__
from curate.ablate.report import _section, _table
from curate.io.writer import write_bytes_atomic
from curate.report.page import _CSS, _PAGE
from curate.report.svg import PALETTE, fmt, hbars

W, H, PAD = 520, 420, 56


def _n(x: float | None, d: int = 4) -> str:
    return "–" if x is None else f"{x:.{d}f}"


def scatter(points: list[tuple[str, int, float, float]], title: str) -> str:
    """Predicted (x) against measured (y), a y = x line; points are (label, colour, x, y)."""
    pts = [p for p in points if p[2] is not None and p[3] is not None]
    if not pts:
        return '<p class="empty">no predictions</p>'
    lo = min(min(p[2], p[3]) for p in pts)
    hi = max(max(p[2], p[3]) for p in pts)
    pad = (hi - lo) * 0.05 or 0.01
    lo, hi = lo - pad, hi + pad
    side = W - 2 * PAD

    def X(v: float) -> float:
        return PAD + (v - lo) / (hi - lo) * side

    def Y(v: float) -> float:
        return PAD / 2 + (hi - v) / (hi - lo) * side

    body = [
        f'<line class="axis" x1="{PAD}" y1="{Y(lo):.1f}" x2="{X(hi):.1f}" y2="{Y(lo):.1f}"/>',
        f'<line class="axis" x1="{PAD}" y1="{Y(hi):.1f}" x2="{PAD}" y2="{Y(lo):.1f}"/>',
        f'<line class="grid" x1="{X(lo):.1f}" y1="{Y(lo):.1f}" x2="{X(hi):.1f}" y2="{Y(hi):.1f}"/>',
    ]
    for i in range(5):
        t = lo + (hi - lo) * i / 4
        body.append(f'<text class="tick" x="{PAD - 6}" y="{Y(t) + 4:.1f}" text-anchor="end">{t:.3f}</text>')
        body.append(
            f'<text class="tick" x="{X(t):.1f}" y="{Y(lo) + 16:.1f}" text-anchor="middle">{t:.3f}</text>'
        )
    body.append(
        f'<text class="label" x="{PAD + side / 2}" y="{Y(lo) + 34:.1f}" text-anchor="middle">'
        "predicted target bpb</text>"
    )
    body.append(
        f'<text class="label" x="12" y="{PAD / 2 + side / 2}" transform="rotate(-90 12 '
        f'{PAD / 2 + side / 2})" text-anchor="middle">measured target bpb</text>'
    )
    legend: dict[int, str] = {}
    for label, ci, x, y in pts:
        colour = PALETTE[ci % len(PALETTE)]
        legend.setdefault(ci, label.split(":")[0])
        body.append(
            f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3" fill="{colour}" fill-opacity="0.75">'
            f"<title>{escape(label)}: predicted {x:.4f}, measured {y:.4f}</title></circle>"
        )
    ly = PAD / 2 + 4
    for ci, name in legend.items():
        body.append(
            f'<rect x="{PAD + 10}" y="{ly}" width="10" height="10" fill="{PALETTE[ci % len(PALETTE)]}"/>'
        )
        body.append(f'<text class="legend" x="{PAD + 24}" y="{ly + 9}">{escape(name)}</text>')
        ly += 16
    hgt = side + PAD / 2 + 44
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {W} {hgt:.0f}" width="{W}" height="{hgt:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _overview(doc: dict[str, Any]) -> str:
    fit, b = doc["fit"], doc["budget"] or {}
    cards = [
        ("sources", len(doc["sources"])),
        ("proxies", len(doc["candidates"])),
        ("preset", b.get("preset")),
        ("tokens per proxy", fmt(b.get("train_tokens") or 0)),
        ("smallest source", fmt(doc["smallest_tokens"])),
        ("model", fit["model"]["model"]),
        ("Spearman (held out)", _n(fit["model"]["spearman_oof"], 3)),
        ("predicted chosen", _n(fit["chosen"]["predicted"])),
    ]
    html = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(str(v))}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )
    tw = ", ".join(f"{k} {v:.3g}" for k, v in doc["target_weights"].items())
    html += (
        f'<p class="meta">target: the weighted mean of bits per byte on {escape(tw)}; bounds hold at '
        f"{fmt(doc['bounds_tokens'])} tokens; tokenizer {escape(str(doc['tokenizer']['path']))}</p>"
    )
    return _section("overview", "Overview", html)


def _sources(doc: dict[str, Any]) -> str:
    rows = [
        [
            n,
            fmt(s["tokens"]),
            fmt(s["docs"]),
            f"{s['natural_share']:.4f}",
            f"{s['lo']:.4f}",
            f"{s['hi']:.4f}",
            s["data"],
        ]
        for n, s in doc["sources"].items()
    ]
    return _section(
        "sources",
        "Sources",
        _table(
            ["source", "unique tokens", "documents", "natural share", "min share", "max share", "data"], rows
        )
        + '<p class="note">max share: min(max_weight, caps, max_epochs × tokens) / the bounds\' budget.</p>',
    )


def _mixes(doc: dict[str, Any]) -> str:
    fit = doc["fit"]
    names = list(doc["sources"])
    mixes = [
        ("chosen", fit["chosen"]["weights"], fit["chosen"]["predicted"], None),
        ("natural", fit["anchors"]["natural"]["weights"], fit["anchors"]["natural"]["predicted"], None),
        ("uniform", fit["anchors"]["uniform"]["weights"], fit["anchors"]["uniform"]["predicted"], None),
        (
            f"best proxy {fit['best_measured']['name']}",
            fit["best_measured"]["weights"],
            None,
            fit["best_measured"]["target"],
        ),
    ]
    mixes += [
        (f"top {i + 1} prior draw", t["weights"], t["predicted"], None) for i, t in enumerate(fit["top"])
    ]
    rows = [[m] + [f"{w[n]:.4f}" for n in names] + [_n(p), _n(meas)] for m, w, p, meas in mixes]
    html = _table(["mix"] + names + ["predicted", "measured"], rows)
    html += hbars(
        [
            (
                n,
                [
                    fit["chosen"]["weights"][n],
                    fit["anchors"]["natural"]["weights"][n],
                    fit["anchors"]["uniform"]["weights"][n],
                ],
            )
            for n in names
        ],
        ["chosen", "natural", "uniform"],
        "weights of the chosen, natural and uniform mixes",
        value_fmt=lambda x: f"{x:.3f}",
    )
    html += (
        f'<p class="note">chosen: the mean of the {doc["config"]["regression"]["top_k"]} lowest-predicted '
        f"of {fmt(doc['config']['regression']['search_samples'])} draws of the prior (and the candidates), "
        f"inside the bounds: {fit['in_bounds']}.</p>"
    )
    return _section("mixes", "The chosen mix and the others", html)


def _fit(doc: dict[str, Any]) -> str:
    pts = [(f"out of fold: {r['name']}", 0, r.get("predicted_oof"), r["target"]) for r in doc["candidates"]]
    pts += [(f"in sample: {r['name']}", 1, r.get("predicted"), r["target"]) for r in doc["candidates"]]
    html = scatter(pts, "predicted against measured target bpb")
    rows = [
        [
            m["model"],
            _n(m["spearman_oof"], 3),
            _n(m["spearman_fold_mean"], 3),
            " ".join(_n(x, 2) for x in m["spearman_folds"]),
        ]
        for m in doc["fit"]["models"]
    ]
    html += "<h3>Models (Spearman on held-out candidates, k-fold)</h3>" + _table(
        ["model", "rho, all out-of-fold", "rho, mean of folds", "per fold"], rows
    )
    html += (
        f'<p class="note">used: {escape(doc["fit"]["model"]["model"])}. Each out-of-fold point is '
        "predicted by a fit on the other folds; rho near 1 means the fit ranks unseen mixes well.</p>"
    )
    return _section("fit", "Predicted vs measured loss", html)


def _validation(doc: dict[str, Any]) -> str:
    v = doc.get("validation")
    if not v:
        return _section(
            "validation",
            "Validation",
            '<p class="empty">not run (no `validate:` section, or --no-validate)</p>',
        )
    sets = list(doc["target_weights"])
    rows = []
    for name, t in v["table"].items():
        rows.append(
            [name, _n(t["mean"]) + (f" ± {_n(t['std'])}" if t["std"] is not None else "")]
            + [_n((t["bpb"].get(s) or {}).get("mean")) for s in sets]
        )
    html = _table(["mix", "target bpb"] + [f"bpb {s}" for s in sets], rows)
    prow = []
    for k, p in v["paired"].items():
        tag = {True: "beats (> 3 std)", False: "within noise", None: "needs 2+ seeds"}[p["beats"]]
        prow.append(
            [k, _n(p["mean"]) + (f" ± {_n(p['std'])}" if p["std"] is not None else ""), str(p["n"]), tag]
            + [_n(v["paired_sets"][f"{k}/{s}"]["mean"]) for s in sets]
        )
    html += "<h3>Paired differences (per seed, target bpb)</h3>" + _table(
        ["pair", "mean ± std", "seeds", "verdict"] + [f"{s}" for s in sets], prow
    )
    html += (
        f'<p class="meta">{fmt(v["budget"]["train_tokens"])} tokens per run, seeds {v["seeds"]}; the '
        f"ablation page: {escape(v['ablation'].replace('.json', '.html'))}</p>"
    )
    return _section("validation", "Validation at the larger budget", html)


def _candidates(doc: dict[str, Any]) -> str:
    names, sets = list(doc["sources"]), list(doc["target_weights"])
    rows = [
        [r["name"]]
        + [f"{r['shares'][n]:.4f}" for n in names]
        + [_n((r["bpb"] or {}).get(s)) for s in sets]
        + [_n(r["target"]), _n(r.get("predicted_oof")), r["status"]]
        for r in doc["candidates"]
    ]
    return _section(
        "candidates",
        "Candidates",
        _table(
            ["proxy"]
            + [f"share {n}" for n in names]
            + [f"bpb {s}" for s in sets]
            + ["target", "predicted (oof)", "run"],
            rows,
        ),
    )


def render(doc: dict[str, Any]) -> str:
    sections = [_overview(doc), _sources(doc), _mixes(doc), _fit(doc), _validation(doc), _candidates(doc)]
    nav = "".join(
        f'<a href="#{i}">{i}</a>' for i in ("overview", "sources", "mixes", "fit", "validation", "candidates")
    )
    return _PAGE.format(
        title=escape(f"mix search · {doc['name']}"),
        css=_CSS,
        nav=nav,
        body="\n".join(sections),
        version=escape(__version__),
    )


def write_report(doc: dict[str, Any], path: str | Path) -> Path:
    """Write OUT/search.html atomically."""
    p = Path(path)
    write_bytes_atomic(p, render(doc).encode("utf-8"))
    return p
