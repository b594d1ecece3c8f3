"""Hand-written SVG charts: horizontal bars, paired bars, histograms. No library, no JavaScript.

The report must open offline from one file, so charts are generated here as inline SVG. Every bar
carries a ``<title>`` (the browser's tooltip) with the exact figure; labels are escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH = 760
LABEL_W = 230
ROW_H = 22
PALETTE = ("#3465a4", "#f57900", "#4e9a06", "#75507b", "#c4a000", "#cc0000", "#06989a", "#555753")


def fmt(x: float) -> str:
    """Compact number: 1234 -> 1,234; 0.1234 -> 0.123; 1.5e6 -> 1.5M."""
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    x = int(x)
    if abs(x) >= 10_000_000:
        return f"{x / 1e6:.1f}M"
    return f"{x:,}"


def _short(label: str, n: int = 34) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _svg(height: float, body: list[str], title: str) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" '
        f'height="{height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def hbars(
    rows: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    title: str,
    value_fmt=fmt,
    note: Sequence[str] | None = None,
    scale: Sequence[float] | None = None,
    bad: Sequence[bool] | None = None,
) -> str:
    """Horizontal bars: one row per label, one bar per series (paired bars when two series).

    ``note`` gives an optional text per row written after its bars (e.g. "-12% dropped").
    ``scale`` gives each row its own full-width value (a drop reason against its stage's input), drawn
    as a light track behind the bars; without it every bar is scaled to the largest value shown.
    ``bad`` marks rows whose label is drawn in red (a source that ended with 0 rows).
    """
    if not rows:
        return '<p class="empty">nothing to show</p>'
    k = len(series)
    bar_h = (ROW_H - 6) / k
    top = 8 + (18 if k > 1 else 0)
    height = top + ROW_H * len(rows) + 8
    vmax = max((v for _, vals in rows for v in vals), default=0) or 1
    plot_w = WIDTH - LABEL_W - 150
    body: list[str] = []
    if k > 1:  # legend
        x = LABEL_W
        for j, s in enumerate(series):
            body.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
            body.append(f'<text x="{x + 14}" y="15" class="legend">{escape(s)}</text>')
            x += 20 + 7 * len(s) + 20
    for i, (label, vals) in enumerate(rows):
        y = top + i * ROW_H
        cls = "label bad" if bad and bad[i] else "label"
        body.append(
            f'<text x="{LABEL_W - 8}" y="{y + ROW_H / 2 + 4:.1f}" text-anchor="end" class="{cls}">'
            f"<title>{escape(label)}</title>{escape(_short(label))}</text>"
        )
        end = LABEL_W
        full = vmax
        if scale is not None:
            full = scale[i] if scale[i] > 0 else 1
            body.append(
                f'<rect x="{LABEL_W}" y="{y + 3:.1f}" width="{plot_w:.1f}" '
                f'height="{ROW_H - 7:.1f}" class="track">'
                f"<title>{escape(label)} · out of: {value_fmt(scale[i])}</title></rect>"
            )
        for j, v in enumerate(vals):
            w = min(max(0.0, v) / full, 1.0) * plot_w
            by = y + 3 + j * bar_h
            body.append(
                f'<rect x="{LABEL_W}" y="{by:.1f}" width="{max(w, 0.5):.1f}" height="{bar_h - 1:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(label)} · {escape(series[j])}: '
                f"{value_fmt(v)}</title></rect>"
            )
            end = max(end, LABEL_W + w)
        text = " / ".join(value_fmt(v) for v in vals)
        if note and note[i]:
            text += f"  {note[i]}"
        body.append(
            f'<text x="{end + 6:.1f}" y="{y + ROW_H / 2 + 4:.1f}" class="value">{escape(text)}</text>'
        )
    return _svg(height, body, title)


def log_bins(lo: float, hi: float, per_decade: int = 5) -> list[float]:
    """Bin edges spaced evenly in log10 from 1 up past ``hi`` (lengths of 0 fall in the first bin)."""
    hi = max(hi, 10.0)
    n = max(1, math.ceil(math.log10(hi) * per_decade)) + 1
    return [10 ** (i / per_decade) for i in range(n + 1)]


def histogram(
    edges: Sequence[float], series: Sequence[tuple[str, Sequence[int]]], title: str, x_label: str
) -> str:
    """Vertical bars on log-spaced ``edges``; several series are drawn side by side per bin."""
    if not series or not any(sum(c) for _, c in series):
        return '<p class="empty">nothing to show</p>'
    left, right, top, bottom = 60, 20, 26, 40
    height = 260
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    nb = len(edges) - 1
    cmax = max(max(c) for _, c in series) or 1
    bw = plot_w / nb
    k = len(series)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>']
    x = left
    for j, (name, _) in enumerate(series):  # legend
        body.append(f'<rect x="{x}" y="6" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
        body.append(f'<text x="{x + 14}" y="15" class="legend">{escape(name)}</text>')
        x += 30 + 7 * len(name)
    for frac in (0.5, 1.0):  # y gridlines
        y = top + plot_h * (1 - frac)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" class="grid"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'class="tick">{fmt(round(cmax * frac))}</text>'
        )
    for b in range(nb):
        lo, hi = edges[b], edges[b + 1]
        for j, (name, counts) in enumerate(series):
            c = counts[b]
            if not c:
                continue
            h = c / cmax * plot_h
            bx = left + b * bw + 1 + j * (bw - 2) / k
            body.append(
                f'<rect x="{bx:.1f}" y="{top + plot_h - h:.1f}" width="{(bw - 2) / k:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(name)}: {fmt(c)} with {x_label} in '
                f"[{fmt(round(lo))}, {fmt(round(hi))})</title></rect>"
            )
    for b in range(0, nb + 1):
        e = edges[b]
        if abs(math.log10(e) - round(math.log10(e))) < 1e-9:  # label the decades
            x = left + b * bw
            body.append(
                f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" class="axis"/>'
            )
            body.append(
                f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                f'class="tick">{fmt(round(e))}</text>'
            )
    body.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" class="tick">{escape(x_label)} '
        '(log scale)</text>'
    )
    return _svg(height, body, title)


def columns(bins: Sequence[tuple[str, float]], title: str, x_label: str) -> str:
    """Vertical bars over categorical bins (e.g. dedup cluster sizes ``2``, ``3-4``, ``5-8``)."""
    if not bins:
        return '<p class="empty">nothing to show</p>'
    left, right, top, bottom = 60, 20, 14, 40
    height = 220
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    vmax = max(v for _, v in bins) or 1
    bw = min(plot_w / len(bins), 80)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>']
    for i, (label, v) in enumerate(bins):
        h = v / vmax * plot_h
        x = left + i * bw
        body.append(
            f'<rect x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bw - 4:.1f}" '
            f'height="{max(h, 0.5):.1f}" '
            f'fill="{PALETTE[0]}"><title>{escape(x_label)} {escape(label)}: {fmt(v)}</title></rect>'
        )
        body.append(
            f'<text x="{x + bw / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
            f'class="tick">{fmt(v)}</text>'
        )
        body.append(
            f'<text x="{x + bw / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
            f'class="tick">{escape(_short(label, 10))}</text>'
        )
    body.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" '
        f'class="tick">{escape(x_label)}</text>'
    )
    return _svg(height, body, title)
