"""The hand-written SVG charts are well-formed XML for any labels and values, with one bar per value."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from curate.report.svg import columns, hbars, histogram, log_bins

NS = "{http://www.w3.org/2000/svg}"
# any text a drop reason, source or language could hold, minus what XML 1.0 cannot carry at all
labels = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)
counts = st.integers(min_value=0, max_value=10**12)


def _bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and float(root.get("height")) > 0
    return [r for r in root.iter(f"{NS}rect")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(labels, st.lists(counts, min_size=2, max_size=2)), min_size=1, max_size=30))
def test_hbars_well_formed_one_bar_per_value(rows):
    bars = _bars(hbars(rows, ["in", "out"], "t"))
    legend = 2
    assert len(bars) == legend + 2 * len(rows)
    widths = [float(b.get("width")) for b in bars[legend:]]
    assert all(0 < w <= 760 for w in widths)
    # the largest value gets the longest bar
    flat = [v for _, vals in rows for v in vals]
    assert widths[flat.index(max(flat))] == max(widths)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=300))
def test_histogram_counts_every_length(lengths):
    import numpy as np

    from curate.report.build import _hist

    edges = log_bins(1, max(max(lengths), 10))
    h = _hist(np.array(lengths), edges)
    assert sum(h) == len(lengths)  # nothing falls outside the bins, zero-length documents included
    svg = histogram(edges, [("after", h)], "t", "characters")
    if any(h):
        bars = [b for b in _bars(svg) if b.find(f"{NS}title") is not None]
        assert len(bars) == sum(1 for c in h if c)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(labels, counts), min_size=1, max_size=20))
def test_columns_well_formed(bins):
    assert len(_bars(columns(bins, "t", "cluster size"))) == len(bins)
