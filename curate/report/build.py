"""``OUT/report.html``: one self-contained page (inline CSS + SVG, no network) describing a run.

It reads only the output contract - ``stats.json``, ``manifest.json``, the shards in ``data/`` and
the rows in ``rejects/`` - so it can be regenerated at any time with ``curate report OUT``:
the funnel per stage, drop reasons, document lengths before/after, languages, sources and the
achieved mix against the requested one, dedup cluster sizes, time per stage, and sample kept and
dropped documents per reason. Everything taken from the data is HTML-escaped (rejected rows are
exactly the hostile input: HTML bombs, NUL bytes, megabyte lines).
"""

from __future__ import annotations

import json
import math
import re
from html import escape
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate import __version__
from curate.engine.layout import RunLayout
from curate.io.writer import write_bytes_atomic
from curate.report.cells import hist as _hist
from curate.report.cells import quantiles as _quantiles
from curate.report.cells import table as _table
from curate.report.contamination import section_parts as contamination_parts
from curate.report.page import _CSS, _PAGE
from curate.report.samples import TokenDecoder, doc_list, reject_samples, run_tokenizer, sample_rows, snip
from curate.report.sft_lengths import is_sft
from curate.report.sft_lengths import section_parts as sft_length_parts
from curate.report.svg import columns, fmt, hbars, histogram, log_bins

MAX_LENGTH_ROWS = 500_000  # per side (after / rejected); larger outputs are sampled evenly per file


class ReportError(RuntimeError):
    """The folder holds no finished run (no stats.json / manifest.json)."""


def build_report(out_dir: str | Path, samples: int = 3) -> Path:
    """Write ``OUT/report.html`` for the run in ``out_dir`` and return its path."""
    layout = RunLayout(Path(out_dir))
    if not layout.stats.exists() or not layout.manifest.exists():
        raise ReportError(
            f"{layout.root}: no stats.json/manifest.json - the run has not finished (see `curate status`)"
        )
    stats = json.loads(layout.stats.read_text())
    manifest = json.loads(layout.manifest.read_text())
    data_files = [layout.root / s["path"] for s in manifest.get("shards", [])]
    reject_dirs = sorted(p for p in layout.rejects.iterdir() if p.is_dir()) if layout.rejects.exists() else []
    reject_files = [f for d in reject_dirs for f in sorted(d.rglob("*.parquet"))]

    sections = [
        _overview(stats, manifest),
        _funnel(stats),
        _drop_reasons(stats),
        _lengths(data_files, reject_files),
        _languages(data_files, reject_files),
        _sources_and_mix(manifest, stats),
        _dedup(stats),
        _contamination(stats, data_files, reject_files),
        _other_globals(stats),
        _timings(stats),
        _samples(data_files, reject_dirs, samples, manifest),
        _config(manifest),
    ]
    sections = [s for s in sections if s]
    nav = "".join(
        f'<a href="#{a}">{t}</a>' for a, t in (re.match(_SECTION_HEAD, s).groups() for s in sections)
    )
    page = _PAGE.format(
        title=escape(f"curate report: {manifest.get('name', '?')}"),
        css=_CSS,
        nav=nav,
        body="\n".join(sections),
        version=escape(__version__),
    )
    write_bytes_atomic(layout.report, page.encode("utf-8"))
    return layout.report


# --------------------------------------------------------------------------- sections


_SECTION_HEAD = r'<section id="([a-z]+)"><h2>(.*?)</h2>'


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def _overview(stats: dict, manifest: dict) -> str:
    t = stats.get("totals", {})
    thr = stats.get("throughput", {})
    size = sum(s.get("bytes", 0) for s in manifest.get("shards", []))
    cards = [
        ("input records", fmt(t.get("input_records", 0))),
        ("output rows", fmt(manifest.get("rows", 0))),
        ("dropped", fmt(t.get("dropped", 0))),
        ("shards", f"{len(manifest.get('shards', []))} · {_bytes(size)}"),
        ("wall time", f"{thr.get('wall_seconds', 0):.1f} s"),
        ("throughput", f"{fmt(thr.get('docs_per_s') or 0)} docs/s"),
    ]
    html = (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="k">{escape(k)}</div><div class="v">{escape(v)}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )
    sha = manifest.get("config_sha256", "")
    html += (
        f'<p class="meta">pipeline <b>{escape(str(manifest.get("name", "?")))}</b> · config sha256 '
        f"<code>{escape(sha[:16])}…</code> · curate "
        f"{escape(str(manifest.get('tool', {}).get('version', '?')))} · "
        f"from <code>{escape(str(manifest.get('origin', '?')))}</code></p>"
    )
    empty = stats.get("empty") or {}
    if empty.get("sources") or empty.get("files"):
        n_src, n_files = len(empty.get("sources", [])), len(empty.get("files", []))
        html += (f'<p class="warn"><b>{n_src} source(s) and {n_files} input '
                 'file(s) ended with 0 rows</b> - see <a href="#sources">Sources</a>.</p>')
    return _section("overview", "Overview", html)


def _bytes(n: int) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} B"


def _funnel(stats: dict) -> str:
    stages = stats.get("stages", [])
    rows, notes = [], []
    for s in stages:
        rows.append((s["name"], [s["in"], s["out"]]))
        drop = sum(s["dropped"].values())
        pct = 100 * drop / s["in"] if s["in"] else 0.0
        extra = f" (emits {fmt(s['emitted'])})" if s.get("emitted", s["out"]) != s["out"] else ""
        notes.append((f"−{pct:.1f}%" if drop else "") + extra)
    chart = hbars(rows, ["in", "out"], "Rows in and out of each stage", note=notes)
    table = _table(
        ["stage", "in", "out", "dropped", "seconds"],
        [
            [s["name"], fmt(s["in"]), fmt(s["out"]), fmt(sum(s["dropped"].values())), f"{s['seconds']:.2f}"]
            for s in stages
        ],
    )
    return _section("funnel", "Funnel per stage", chart, table)


def _drop_reasons(stats: dict) -> str:
    parts = []
    for s in stats.get("stages", []):
        d = sorted(s["dropped"].items(), key=lambda kv: (-kv[1], kv[0]))
        if not d:
            continue
        if len(d) > 20:
            d = d[:19] + [(f"({len(d) - 19} other reasons)", sum(v for _, v in d[19:]))]
        total = s["in"] or 1
        # a bar's full width is the stage's input, so a reason that removed 2% looks like 2%,
        # not like the longest bar of the chart
        notes = [f"of {fmt(s['in'])} in ({100 * v / total:.1f}%)" for _, v in d]
        parts.append(f"<h3>{escape(s['name'])} <span class=\"meta\">· {fmt(s['in'])} rows in</span></h3>")
        title = f"Drop reasons of {s['name']} (bar = share of its input)"
        parts.append(hbars([(k, [v]) for k, v in d], ["dropped"], title,
                           note=notes, scale=[s["in"]] * len(d)))
    if not parts:
        parts = ['<p class="empty">no stage dropped anything</p>']
    return _section("reasons", "Drop reasons", *parts)


def _lengths(data_files: list[Path], reject_files: list[Path]) -> str:
    if is_sft(data_files):  # compare turns with turns, not a templated conversation with a prompt
        return _section("lengths", "Prompt and response lengths", *sft_length_parts(data_files, reject_files))
    after, sampled_a = _column_values(data_files, "text", _utf8_len)
    rejected, sampled_r = _column_values(reject_files, "text", _utf8_len)
    if after.size == 0 and rejected.size == 0:
        return _section(
            "lengths", "Document lengths", '<p class="empty">no <code>text</code> column in the output</p>'
        )
    before = np.concatenate([after, rejected])
    edges = log_bins(1, float(max(before.max(initial=1), 10)))
    series = []
    if rejected.size:
        series.append(("before: kept + rejected documents", _hist(before, edges)))
    series.append(("after: output shards", _hist(after, edges)))
    note = (
        "<p class=\"note\">“Before” is the output plus every rejected row that still has its text "
        "(rows the reader could not parse have none). "
        + ("Rejects were not kept, so only the output is shown. " if not reject_files else "")
        + ("Large folders are sampled evenly per file. " if sampled_a or sampled_r else "")
        + "</p>"
    )
    rows = [["after", fmt(after.size), *_quantiles(after)]]
    if rejected.size:
        rows.insert(0, ["before", fmt(before.size), *_quantiles(before)])
    table = _table(["", "docs", "p10", "median", "p90", "max"], rows)
    return _section(
        "lengths",
        "Document lengths (characters)",
        histogram(edges, series, "Document length histogram", "characters"),
        note,
        table,
    )


def _languages(data_files: list[Path], reject_files: list[Path]) -> str:
    after = _value_counts(data_files, "lang")
    rejected = _value_counts(reject_files, "lang")
    if not after and not rejected:
        return ""
    before = {k: after.get(k, 0) + rejected.get(k, 0) for k in set(after) | set(rejected)}
    langs = sorted(before, key=lambda k: (-before[k], k))
    if len(langs) > 25:
        langs = langs[:25]
    series = ["before (kept + rejected)", "after"] if rejected else ["after"]
    rows = [(k, [before[k], after.get(k, 0)] if rejected else [after.get(k, 0)]) for k in langs]
    return _section("languages", "Languages", hbars(rows, series, "Documents per language (lang column)"))


def _sources_and_mix(manifest: dict, stats: dict) -> str:
    parts = []
    empty = stats.get("empty") or {}
    src = dict(manifest.get("sources") or {})
    for e in empty.get("sources", []):  # a source with no rows is absent from the manifest: show it as 0
        src.setdefault(e["source"], {"rows": 0, "tokens": 0})
    if src:
        total = sum(c["rows"] for c in src.values()) or 1
        has_tok = any(c.get("tokens") for c in src.values())
        rows = [(k, [c["rows"]]) for k, c in src.items()]
        notes = [f"{100 * c['rows'] / total:.1f}%" + (f" · {fmt(c['tokens'])} tokens" if has_tok else "")
                 + (" · EMPTY" if not c["rows"] else "") for c in src.values()]
        bad = [not c["rows"] for c in src.values()]
        parts.append(hbars(rows, ["rows"], "Output rows per source", note=notes, bad=bad))
    parts.append(_empty_inputs(empty))
    for name, g in (stats.get("global") or {}).items():
        if not (isinstance(g, dict) and isinstance(g.get("groups"), dict)):
            continue
        groups = g["groups"]
        if not all(isinstance(v, dict) and "requested_share" in v for v in groups.values()):
            continue
        rows = [
            (k, [100 * v["requested_share"], 100 * v.get("achieved_share", 0.0)])
            for k, v in sorted(groups.items())
        ]
        parts.append(
            f"<h3>{escape(name)}: requested vs achieved share (by {escape(str(g.get('by', '?')))}, unit "
            f"{escape(str(g.get('unit', '?')))})</h3>"
        )
        parts.append(
            hbars(
                rows,
                ["requested %", "achieved %"],
                f"{name}: requested vs achieved mix",
                value_fmt=lambda v: f"{v:.1f}%",
            )
        )
        parts.append(
            _table(
                ["group", "requested", "achieved", "units", "epochs", "binding"],
                [
                    [
                        k,
                        f"{100 * v['requested_share']:.2f}%",
                        f"{100 * v.get('achieved_share', 0):.2f}%",
                        fmt(v.get("units", 0)),
                        f"{v.get('epochs', 0):.2f}",
                        str(v.get("binding", "")),
                    ]
                    for k, v in sorted(groups.items())
                ],
            )
        )
        for w in g.get("warnings") or []:
            parts.append(f'<p class="warn">{escape(str(w))}</p>')
    parts = [p for p in parts if p]
    if not parts:
        return ""
    return _section("sources", "Sources and mix", *parts)


def _empty_inputs(empty: dict) -> str:
    """Sources and input files that ended with 0 rows (stats.json ``empty``), in red."""
    sources, files = empty.get("sources", []), empty.get("files", [])
    if not sources and not files:
        return ""

    def why(e: dict) -> str:
        top = e.get("top_reasons", {}).items()
        reasons = ", ".join(f"{r} {fmt(n)}" for r, n in top) or "no drops recorded"
        kind = " - unreadable or of the wrong shape, not quality decisions" if e.get("format") else ""
        return f"{fmt(e.get('records_in', 0))} records in; top drop reasons: {reasons}{kind}"

    items = []
    for e in sources:
        more = f" and {len(e['files']) - 5} more" if len(e["files"]) > 5 else ""
        shown = ", ".join(e["files"][:5]) + more
        items.append(f"<li>source <b>{escape(e['source'])}</b> ({escape(shown)}): {escape(why(e))}</li>")
    for e in files[:50]:
        items.append(f"<li>file <code>{escape(', '.join(e['files']))}</code> "
                     f"of source <b>{escape(e['source'])}</b>: "
                     f"{escape(why(e))}</li>")
    if len(files) > 50:
        items.append(f"<li>… and {len(files) - 50} more files (stats.json, <code>empty</code>)</li>")
    head = f"{len(sources)} source(s) and {len(files)} input file(s) ended with 0 rows"
    return (f'<div class="empty-inputs warn"><h3 class="warn">{escape(head)}</h3>'
            f'<ul class="warn">{"".join(items)}</ul></div>')


def _dedup(stats: dict) -> str:
    parts = []
    for name, g in (stats.get("global") or {}).items():
        if not (isinstance(g, dict) and isinstance(g.get("size_histogram"), dict)):
            continue
        figures = ", ".join(
            f"{k} {fmt(v)}" for k, v in g.items() if isinstance(v, int | float) and not isinstance(v, bool)
        )
        parts.append(f"<h3>{escape(name)}</h3><p>{escape(figures)}</p>")
        parts.append(
            columns(
                [(str(k), v) for k, v in g["size_histogram"].items()],
                f"{name}: cluster sizes",
                "cluster size (documents)",
            )
        )
        for c in (g.get("samples") or [])[:5]:
            members = "".join(
                f"<li class=\"{'kept' if m.get('kept') else 'dropped'}\">"
                f"<code>{escape(str(m.get('id')))}</code> "
                f"{snip(m.get('snippet') or '')}</li>" for m in c.get("members", [])
            )
            parts.append(
                f"<details><summary>cluster of {fmt(c.get('size', 0))}, kept "
                f"<code>{escape(str(c.get('kept')))}</code></summary><ul>{members}</ul></details>"
            )
    if not parts:
        return ""
    return _section("dedup", "Deduplication", *parts)


def _contamination(stats: dict, data_files: list[Path], reject_files: list[Path]) -> str:
    parts = contamination_parts(stats, data_files, reject_files)
    return _section("contamination", "Benchmark contamination", *parts) if parts else ""


def _other_globals(stats: dict) -> str:
    parts = []
    for name, g in (stats.get("global") or {}).items():
        if (
            not isinstance(g, dict)
            or isinstance(g.get("size_histogram"), dict)
            or isinstance(g.get("groups"), dict)
        ):
            continue
        scal = [[k, fmt(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)]
                for k, v in g.items() if not isinstance(v, dict | list)]
        parts.append(
            f"<h3>{escape(name)}</h3>"
            + (_table(["figure", "value"], scal) if scal else '<p class="empty">no figures</p>')
        )
    return _section("globals", "Other global stages", *parts) if parts else ""


def _timings(stats: dict) -> str:
    stages = stats.get("stages", [])
    if not stages:
        return ""
    rows = [(s["name"], [s["seconds"]]) for s in stages]
    notes = [
        f"{fmt(round(s['in'] / s['seconds']))} rows/s" if s["seconds"] > 0 and s["in"] else "" for s in stages
    ]
    return _section(
        "time",
        "Time per stage (summed over tasks)",
        hbars(rows, ["seconds"], "Seconds per stage", value_fmt=lambda v: f"{v:.2f} s", note=notes),
    )


def _samples(data_files: list[Path], reject_dirs: list[Path], n: int, manifest: dict) -> str:
    if n <= 0:
        return ""
    # a relative tokenizer path is tried from here and beside the pipeline file
    origin = manifest.get("origin")
    base = Path(origin).parent if origin else None
    decoder = TokenDecoder(run_tokenizer(manifest.get("config") or {}), base=base)
    blocks = []
    kept = sample_rows(data_files, n)
    blocks.append(doc_list(kept, decoder) if kept else '<p class="empty">no output rows</p>')
    all_rows = list(kept)
    for d in reject_dirs:
        by_reason = reject_samples(sorted(d.rglob("*.parquet")), n)
        if not by_reason:
            continue
        blocks.append(f"<h3>Dropped by {escape(d.name)}</h3>")
        for reason, rows in sorted(by_reason.items()):
            all_rows += rows
            blocks.append(f"<details><summary><code>{escape(reason)}</code> · {len(rows)} sample(s)</summary>"
                          f"{doc_list(rows, decoder)}</details>")
    parts = ["<h3>Kept</h3>"]
    if any(r.get("input_ids") is not None and not r.get("text") for r in all_rows):
        parts.append(f'<p class="note">{escape(decoder.note)}</p>')
    parts += blocks
    if not reject_dirs:
        parts.append(
            '<p class="note">Rejected rows were not kept (set <code>output.keep_rejects: true</code> to see '
            'dropped samples).</p>'
        )
    return _section("samples", "Sample documents", *parts)


def _config(manifest: dict) -> str:
    cfg = json.dumps(manifest.get("config", {}), indent=2, default=str)
    return _section(
        "config",
        "Configuration as run",
        f"<details><summary>pipeline config</summary><pre>{escape(cfg)}</pre></details>",
    )


# --------------------------------------------------------------------------- reading the data


def _utf8_len(arr: pa.Array) -> np.ndarray:
    return pc.utf8_length(arr).to_numpy(zero_copy_only=False)


def _column_values(files: list[Path], column: str, fn) -> tuple[np.ndarray, bool]:
    """``fn`` of ``column`` over files that have it, at most MAX_LENGTH_ROWS rows spread evenly."""
    metas = []
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowInvalid):
            continue
        if column in pf.schema_arrow.names and pf.metadata.num_rows:
            metas.append((pf, pf.metadata.num_rows))
    total = sum(n for _, n in metas)
    sampled = total > MAX_LENGTH_ROWS
    out = []
    for pf, n in metas:
        quota = math.ceil(MAX_LENGTH_ROWS * n / total) if sampled else n
        got = 0
        for batch in pf.iter_batches(columns=[column], batch_size=8192):
            col = batch.column(0).slice(0, quota - got)
            col = col.filter(pc.is_valid(col))
            out.append(np.asarray(fn(col), dtype=np.int64))
            got += batch.num_rows
            if got >= quota:
                break
    return (np.concatenate(out) if out else np.zeros(0, dtype=np.int64)), sampled


def _value_counts(files: list[Path], column: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowInvalid):
            continue
        if column not in pf.schema_arrow.names:
            continue
        for batch in pf.iter_batches(columns=[column], batch_size=65536):
            vc = pc.value_counts(batch.column(0).cast(pa.string()))
            for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
                key = "(none)" if v is None else str(v)
                counts[key] = counts.get(key, 0) + int(c)
    return counts
