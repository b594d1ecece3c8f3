"""Inputs that ended with 0 rows: found when a run finishes, reported loudly, and judged.

An input file (a task's unit) or a whole source with no output rows is either a decision (a
German file under ``langid keep: [en]``) or a sign that the data was not read as it was meant to
be (every row ``malformed:json`` or ``sft_missing_key:prompt``). The second kind is a *format*
loss, and ``curate run --strict`` fails on it. :func:`is_format_reason` is the one definition of
which drop reasons are format-level (reader or record-shape rejections, not quality decisions).
"""

from __future__ import annotations

import collections
from typing import Any

# Reasons that say a record could not be read or does not have the shape a stage needs.
FORMAT_PREFIXES = (
    "malformed:",  # the reader could not parse it (bad JSON, broken WARC record, empty file, ...)
    "sft_missing_key:",  # an SFT/preference record without the key its format needs
    "sft_not_a_list:",
    "sft_bad_type:",
    "sft_unknown_role:",
    "sft_template_unsupported_role:",
)
FORMAT_REASONS = frozenset({"sft_unknown_format", "missing_text", "extract_not_html", "extract_error"})
TOP_REASONS = 3
LISTED = 10  # entries printed by the CLI; stats.json has them all


def is_format_reason(reason: str) -> bool:
    """True for a reader or format rejection, False for a quality (or any other) decision."""
    return reason in FORMAT_REASONS or reason.startswith(FORMAT_PREFIXES)


def _entry(source: str, files: list[str], records_in: int, dropped: collections.Counter) -> dict[str, Any]:
    fmt = sum(n for r, n in dropped.items() if is_format_reason(r))
    total = sum(dropped.values())
    return {
        "source": source,
        "files": files,
        "records_in": records_in,
        "top_reasons": dict(sorted(dropped.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]),
        # through format rejections: at least half of what this input lost was format-level
        "format": total > 0 and 2 * fmt >= total,
    }


def empty_inputs(spec, units: list, results: list[dict], final_phase: int) -> dict[str, list[dict]]:
    """``{"sources": [...], "files": [...]}``: whole sources with 0 output rows, and the input
    files (units) with 0 output rows in sources that have some; each with its records in and top
    drop reasons, and whether it ended empty through format rejections."""
    rows: collections.Counter = collections.Counter()
    read_in: collections.Counter = collections.Counter()
    dropped: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        u = r.get("unit")
        if u is None:
            continue
        if r.get("phase") == final_phase:
            rows[u] += sum(s["rows"] for s in r.get("shards", []))
        for s in r.get("stages", []):
            if s["index"] == -1:
                read_in[u] += s["in"]
            dropped[u].update(s["dropped"])
    by_source: dict[str, list] = collections.defaultdict(list)
    for unit in units:
        by_source[spec.inputs[unit.input_index].source].append(unit)
    out: dict[str, list[dict]] = {"sources": [], "files": []}
    for source, members in by_source.items():
        empty = [u for u in members if rows[u.index] == 0]
        if not empty:
            continue
        if len(empty) == len(members):
            lost = sum((dropped[u.index] for u in members), collections.Counter())
            files = [f.relpath for u in members for f in u.files]
            out["sources"].append(_entry(source, files, sum(read_in[u.index] for u in members), lost))
        else:
            for u in empty:
                out["files"].append(
                    _entry(source, [f.relpath for f in u.files], read_in[u.index], dropped[u.index])
                )
    return out


def format_losses(empty: dict[str, list[dict]]) -> list[dict]:
    """The empty sources and files that ended so through reader/format rejections (``--strict``)."""
    return [e for e in empty.get("sources", []) + empty.get("files", []) if e["format"]]


def describe(empty: dict[str, list[dict]]) -> list[str]:
    """Warning lines for the CLI: every empty source, then up to LISTED empty files."""
    def why(e: dict) -> str:
        reasons = ", ".join(f"{r} {n:,}" for r, n in e["top_reasons"].items()) or "no drops recorded"
        kind = (
            " - rejected as unreadable or of the wrong shape, not by quality filters" if e["format"] else ""
        )
        return f"{e['records_in']:,} records in; top drop reasons: {reasons}{kind}"

    lines = []
    for e in empty.get("sources", []):
        shown = ", ".join(e["files"][:3]) + (
            f" and {len(e['files']) - 3} more" if len(e["files"]) > 3 else ""
        )
        lines.append(
            f"warning: source {e['source']!r} ended with 0 rows ({len(e['files'])} file(s): {shown}; "
            f"{why(e)})"
        )
    files = empty.get("files", [])
    if files:
        lines.append(f"warning: {len(files)} input file(s) ended with 0 rows:")
        for e in files[:LISTED]:
            lines.append(f"  {e['source']}: {', '.join(e['files'])} ({why(e)})")
        if len(files) > LISTED:
            lines.append(f"  ... and {len(files) - LISTED} more (stats.json, \"empty\")")
    return lines
