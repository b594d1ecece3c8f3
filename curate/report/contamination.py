"""The report's contamination section: documents that hit each benchmark, and the items hit most.

Reads the counters a decontamination stage leaves in ``stats.json`` (``contaminated:<benchmark>``:
flagged documents) and, for the items, the ``contamination_benchmark``/``contamination_item``
columns of the rows themselves: the stage's rejects (``action: drop``) or the shards (``mark``).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.report.cells import table
from curate.report.svg import fmt, hbars

PREFIX = "contaminated:"
COLUMNS = ["contamination_benchmark", "contamination_item"]


def _item_counts(files: list[Path]) -> dict[tuple[str, int], int]:
    counts: dict[tuple[str, int], int] = {}
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowInvalid):
            continue
        if not set(COLUMNS) <= set(pf.schema_arrow.names):
            continue
        for batch in pf.iter_batches(columns=COLUMNS, batch_size=65536):
            t = pa.Table.from_batches([batch]).filter(pc.is_valid(batch.column(0)))
            if not t.num_rows:
                continue
            grouped = t.group_by(COLUMNS).aggregate([([], "count_all")])
            cols = (grouped.column(c).to_pylist() for c in [*COLUMNS, "count_all"])
            for b, i, n in zip(*cols, strict=True):
                counts[(b, i)] = counts.get((b, i), 0) + n
    return counts


def section_parts(stats: dict, data_files: list[Path], reject_files: list[Path]) -> list[str]:
    """HTML parts for the section, or [] when no stage decontaminated."""
    stages = [s for s in stats.get("stages", [])
              if "decontaminate" in s["name"] or any(k.startswith(PREFIX) for k in s.get("counters", {}))]
    if not stages:
        return []
    items = _item_counts(data_files + reject_files)
    parts = []
    for s in stages:
        hits = {k[len(PREFIX):]: v for k, v in s.get("counters", {}).items() if k.startswith(PREFIX)}
        total = s["in"] or 1
        parts.append(f"<h3>{escape(s['name'])} <span class=\"meta\">· {fmt(s['in'])} documents checked, "
                     f"{fmt(sum(hits.values()))} flagged</span></h3>")
        if not hits:
            parts.append('<p class="empty">no document matched any benchmark</p>')
            continue
        rows = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        notes = [f"{100 * v / total:.2f}% of documents" for _, v in rows]
        title = f"{s['name']}: documents per benchmark"
        parts.append(hbars([(b, [v]) for b, v in rows], ["documents"], title, note=notes))
        distinct = {b: sum(1 for (bb, _) in items if bb == b) for b in hits}
        parts.append(table(["benchmark", "documents", "items hit"],
                           [[b, fmt(v), fmt(distinct.get(b, 0))] for b, v in rows]))
    top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    if top:
        parts.append("<h3>Items hit most</h3>" + table(
            ["benchmark", "item (record number)", "documents"], [[b, str(i), fmt(n)] for (b, i), n in top]))
    return parts
