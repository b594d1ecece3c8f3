"""Held-out scores for the ablation, through curate.eval's in-process API (as `curate eval` scores).

Bits per byte: the summed next-token NLL of every token of a document (nats, converted to bits)
divided by its UTF-8 bytes, long documents in lm-eval's rolling windows of the model's context
(here the training seq_len). Tasks: acc / acc_norm (lm-eval's definitions) per task file found in
`tasks_dir`. This module only adapts the ablation's config to that API.
"""

from __future__ import annotations

from typing import Any

from curate.eval import TextSet, TextSpec, TextSpecError, available_tasks, bound_bytes, load_text_sets
from curate.eval import score_bpb as _score_bpb
from curate.eval import score_tasks as _score_tasks

from .config import AblationError, TextSetSpec


def load_text_set(spec: TextSetSpec, resolve=lambda p: p, name: str = "text") -> list[str]:
    """The documents of one held-out text set (.txt[.gz], or JSONL/Parquet with a column and filters)."""
    paths = [spec.paths] if isinstance(spec.paths, str) else spec.paths
    docs: list[str] = []
    for p in paths:
        ts = TextSpec(
            name, resolve(p), spec.column, {k: str(v) for k, v in spec.where.items()}, spec.strip_markup
        )
        try:
            docs.extend(d for d in load_text_sets([ts])[0].docs if d.strip())
        except (TextSpecError, FileNotFoundError) as e:
            raise AblationError(f"held-out text {name!r}: {e}") from None
    return docs


def bounded(docs: list[str], max_bytes: int | None) -> list[str]:
    """At most `max_bytes` UTF-8 bytes of the documents, spread over all of them (curate.eval's
    deterministic bound: the same sample for every run)."""
    return bound_bytes(docs, max_bytes)


def score_bpb(model, tokenizer, text_sets: dict[str, list[str]], *, seq_len: int, batch_size: int = 16,
              max_bytes: int | None = None) -> dict[str, float]:
    """{set: bits per byte} of `model` on each text set (its first `max_bytes` when given)."""
    sets = [TextSet(k, bound_bytes(v, max_bytes)) for k, v in text_sets.items()]
    res = _score_bpb(model, tokenizer, sets, batch_size=batch_size, max_length=seq_len, progress=False)
    return {k: float(r["bpb"]) for k, r in res.items()}


def score_tasks(model, tokenizer, tasks_dir: str, *, batch_size: int = 16,
                limit: int | None = None) -> dict[str, dict[str, float]]:
    """{task: {acc, acc_norm, ...}} for every known task that has a file in `tasks_dir`."""
    names = available_tasks(tasks_dir)
    if not names:
        raise AblationError(f"eval.tasks_dir {tasks_dir}: no task files (*.jsonl[.gz] named after a task)")
    res: dict[str, Any] = _score_tasks(model, tokenizer, names, tasks_dir, batch_size=batch_size, limit=limit,
                                       progress=False)
    return {t: {k: float(v) for k, v in r.items() if isinstance(v, int | float)} for t, r in res.items()}
