"""Small pieces every report section uses: length histograms, quantile cells, escaped HTML tables."""

from __future__ import annotations

from html import escape

import numpy as np

from curate.report.svg import fmt


def hist(values: np.ndarray, edges: list[float]) -> list[int]:
    """Counts of ``values`` on log-spaced ``edges``; a length of 0 is counted in the first bin."""
    counts, _ = np.histogram(np.clip(values, 1, None), bins=np.asarray(edges))
    return [int(c) for c in counts]


def quantiles(v: np.ndarray) -> list[str]:
    """p10, median, p90 and max of ``v`` as table cells (blank when ``v`` is empty)."""
    if v.size == 0:
        return ["", "", "", ""]
    q = np.quantile(v, [0.1, 0.5, 0.9])
    return [fmt(int(x)) for x in q] + [fmt(int(v.max()))]


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
