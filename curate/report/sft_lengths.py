"""Lengths of SFT and preference rows, measured the same way for kept and rejected rows.

An SFT run's ``text`` column changes meaning along the pipeline (the prompt after
``sft_normalize``, the chat-templated conversation after ``format``), so comparing the output's
``text`` with the rejects' would compare a whole conversation with a prompt. Here every length is
taken from the ``messages`` turns, which kept and rejected rows both carry: *prompt* characters
(system, user and tool turns) and *response* characters (assistant turns), on one set of bins.
Preference rows add their chosen and rejected answers (the turns after the shared prompt), and
the output's token counts are split into trained (``n_trained_tokens``) and untrained tokens.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from curate.report.cells import hist, quantiles, table
from curate.report.svg import fmt, histogram, log_bins

MAX_ROWS = 500_000  # per side (kept / rejected); larger folders are sampled evenly per file
_NAMES = {
    "prompt": "prompt chars",
    "response": "response chars",
    "chosen": "chosen answer chars",
    "rejected": "rejected answer chars",
    "trained": "trained tokens",
    "untrained": "untrained tokens",
}
_TURNS = {"prompt": "system, user and tool turns", "response": "assistant turns"}
_COLUMNS = ("messages", "chosen_messages", "rejected_messages", "n_tokens", "n_trained_tokens")


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t)  # Polars writes large lists


def is_sft(files: list[Path]) -> bool:
    """True when the output rows carry ``messages`` turns (an SFT or preference run)."""
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (OSError, pa.ArrowInvalid):
            continue
        if "messages" in schema.names and _is_list(schema.field("messages").type):
            return True
    return False


def _chars(
    col: str, *, role: str | None = None, exclude: bool = False, skip: pl.Expr | None = None
) -> pl.Expr:
    """Characters of the turns in list column ``col``: only (or all but) ``role``, after ``skip`` turns."""
    turns = pl.col(col)
    if skip is not None:
        turns = turns.list.slice(skip)
    content = pl.element().struct.field("content").fill_null("").str.len_chars()
    if role is not None:
        is_role = pl.element().struct.field("role") == role
        content = pl.when(~is_role if exclude else is_role).then(content).otherwise(0)
    return turns.list.eval(content).list.sum()


def _measure(batch: pa.RecordBatch) -> pl.DataFrame:
    df = pl.from_arrow(batch)
    assert isinstance(df, pl.DataFrame)
    pref = pl.col("chosen_messages").is_not_null() if "chosen_messages" in df.columns else pl.lit(False)
    exprs = [
        # a preference row's `messages` is its whole shared prompt; an SFT row's response is its
        # assistant turns
        pl.when(pref)
        .then(_chars("messages"))
        .otherwise(_chars("messages", role="assistant", exclude=True))
        .alias("prompt"),
        pl.when(pref).then(None).otherwise(_chars("messages", role="assistant")).alias("response"),
    ]
    for side in ("chosen", "rejected"):
        name = f"{side}_messages"
        exprs.append(
            pl.when(pref).then(_chars(name, skip=pl.col("messages").list.len())).otherwise(None).alias(side)
            if name in df.columns
            else pl.lit(None, pl.Int64).alias(side)
        )
    if "n_tokens" in df.columns and "n_trained_tokens" in df.columns:
        exprs += [
            pl.col("n_trained_tokens").alias("trained"),
            (pl.col("n_tokens") - pl.col("n_trained_tokens")).alias("untrained"),
        ]
    return df.select(exprs)


def measure(files: list[Path]) -> tuple[pl.DataFrame, bool]:
    """Per-row lengths (prompt, response, chosen, rejected, trained, untrained) of the rows that have
    ``messages`` turns, at most MAX_ROWS spread evenly over the files; and whether it sampled."""
    metas = []
    for f in files:
        try:
            pf = pq.ParquetFile(f)
        except (OSError, pa.ArrowInvalid):
            continue
        names = pf.schema_arrow.names
        if "messages" in names and _is_list(pf.schema_arrow.field("messages").type) and pf.metadata.num_rows:
            metas.append((pf, [c for c in _COLUMNS if c in names], pf.metadata.num_rows))
    total = sum(n for *_, n in metas)
    sampled = total > MAX_ROWS
    parts = []
    for pf, cols, n in metas:
        quota = math.ceil(MAX_ROWS * n / total) if sampled else n
        got = 0
        for batch in pf.iter_batches(columns=cols, batch_size=8192):
            batch = batch.slice(0, quota - got)
            batch = batch.filter(pa.compute.is_valid(batch.column(cols.index("messages"))))
            parts.append(_measure(batch))
            got += batch.num_rows
            if got >= quota:
                break
    out = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    return out, sampled


def _values(df: pl.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.zeros(0, dtype=np.int64)
    return df[col].drop_nulls().to_numpy().astype(np.int64)


def section_parts(data_files: list[Path], reject_files: list[Path]) -> list[str]:
    """The charts, note and table of the lengths section of an SFT run."""
    kept, sampled_k = measure(data_files)
    rejected, sampled_r = measure(reject_files)
    series = {
        (what, side): _values(df, what)
        for what in ("prompt", "response", "chosen", "rejected", "trained", "untrained")
        for side, df in (("kept", kept), ("rejected", rejected))
    }
    chars = [v for (what, _), v in series.items() if what in ("prompt", "response", "chosen", "rejected")]
    hi = max((int(v.max()) for v in chars if v.size), default=10)
    edges = log_bins(1, float(max(hi, 10)))  # one set of bins for every character chart
    parts = []
    for what in ("prompt", "response"):
        s = [
            (f"{what} · {side}", hist(series[(what, side)], edges))
            for side in ("kept", "rejected")
            if series[(what, side)].size
        ]
        if s:
            parts.append(f"<h3>{what.capitalize()} length (characters, {_TURNS[what]})</h3>")
            parts.append(histogram(edges, s, f"{what.capitalize()} length: kept vs rejected", "characters"))
    pref = [
        (f"{what} answer · {side}", hist(series[(what, side)], edges))
        for what in ("chosen", "rejected")
        for side in ("kept",)
        if series[(what, side)].size
    ]
    if pref:
        parts.append("<h3>Preference pairs: chosen vs rejected answer (characters, same bins)</h3>")
        parts.append(histogram(edges, pref, "Preference answers: chosen vs rejected", "characters"))
    if series[("trained", "kept")].size:
        tok = np.concatenate([series[("trained", "kept")], series[("untrained", "kept")]])
        tedges = log_bins(1, float(max(int(tok.max(initial=1)), 10)))
        parts.append("<h3>Tokens per example in the output (trained vs untrained, same bins)</h3>")
        parts.append(
            histogram(
                tedges,
                [
                    ("trained (assistant, labels ≠ -100)", hist(series[("trained", "kept")], tedges)),
                    ("untrained (prompt + template)", hist(series[("untrained", "kept")], tedges)),
                ],
                "Tokens per SFT example",
                "tokens",
            )
        )
    note = (
        '<p class="note">Lengths are measured on the <code>messages</code> turns of kept and rejected rows '
        "alike (the <code>text</code> column holds a prompt in some stages and a templated conversation "
        "in others). "
        "Rows rejected before <code>sft_normalize</code> made turns are not counted. "
        + ("Large folders are sampled evenly per file. " if sampled_k or sampled_r else "")
        + "</p>"
    )
    rows = [
        [f"{_NAMES[what]} · {side} rows", fmt(v.size), *quantiles(v)]
        for (what, side), v in series.items()
        if v.size
    ]
    return [*parts, note, table(["", "rows", "p10", "median", "p90", "max"], rows)]
