"""Held-out scores for the ablation: bits per byte on text sets, accuracy on tasks.

This is the thin seam between `curate ablate` and `curate eval` (curate/eval/). When curate.eval
is installed its in-process API is used (`load_text_sets`, `score_bpb`, `score_tasks`), so both
commands score alike; without it the reader and the bits-per-byte scorer below stand in, with the
same definition: the summed next-token NLL of every token of a document (nats, converted to bits)
divided by the document's UTF-8 bytes, long documents scored in windows of the model's context
that each predict fresh tokens (lm-eval's rolling log-likelihood with disjoint windows). Tasks
need curate.eval.
"""

from __future__ import annotations

import glob
import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

from .config import AblationError, TextSetSpec

_TAG = re.compile(r"<[^>]+>")


def _eval_api() -> Any | None:
    """curate.eval's module when it has the in-process API, else None."""
    try:
        import curate.eval as ev  # noqa: PLC0415 - optional until the eval branch lands
    except ImportError:
        return None
    return ev if all(hasattr(ev, n) for n in ("score_bpb", "load_text_sets", "TextSpec", "TextSet")) else None


def _files(paths: str) -> list[Path]:
    p = Path(paths)
    if p.is_dir():
        return sorted(f for f in p.rglob("*") if f.is_file())
    found = sorted(Path(f) for f in glob.glob(paths, recursive=True))
    if not found:
        raise AblationError(f"held-out text {paths!r}: no such file")
    return found


def _rows(f: Path, column: str, where: dict[str, Any]) -> list[str]:
    name = f.name.lower()
    if name.endswith((".txt", ".txt.gz")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8", errors="replace") as fh:
            return [fh.read()]
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(f, "rt", encoding="utf-8") as fh:
            recs = [json.loads(line) for line in fh if line.strip()]
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        recs = pq.read_table(f).to_pylist()
    else:
        raise AblationError(f"held-out text {f}: use .txt[.gz], .jsonl[.gz] or .parquet")
    out = []
    for r in recs:
        if column not in r:
            raise AblationError(f"held-out text {f}: no column {column!r} (columns: {sorted(r)})")
        if all(r.get(k) == v for k, v in where.items()) and r[column]:
            out.append(str(r[column]))
    return out


def load_text_set(spec: TextSetSpec, resolve=lambda p: p, name: str = "text") -> list[str]:
    """The documents of one held-out text set, in file order."""
    api = _eval_api()
    if api is not None:
        ts = api.TextSpec(name, resolve(spec.paths), spec.column, {k: str(v) for k, v in spec.where.items()},
                          spec.strip_markup)
        try:
            return [d for d in api.load_text_sets([ts])[0].docs if d.strip()]
        except ValueError as e:  # TextSpecError
            raise AblationError(str(e)) from None
    docs = []
    for f in _files(resolve(spec.paths)):
        docs.extend(_rows(f, spec.column, spec.where))
    if spec.strip_markup:
        docs = [_TAG.sub(" ", d) for d in docs]
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise AblationError(f"held-out text {spec.paths!r}: no documents (check `column` and `where`)")
    return docs


def bounded(docs: list[str], max_bytes: int | None) -> list[str]:
    """The first documents up to `max_bytes` UTF-8 bytes (the last one cut), the same for every run."""
    if max_bytes is None:
        return docs
    out, left = [], max_bytes
    for d in docs:
        b = d.encode("utf-8")
        if len(b) >= left:
            out.append(b[:left].decode("utf-8", errors="ignore"))
            break
        out.append(d)
        left -= len(b)
    return [d for d in out if d]


def score_bpb(model, tokenizer, text_sets: dict[str, list[str]], *, device, seq_len: int,
              batch_size: int = 16, max_bytes: int | None = None) -> dict[str, float]:
    """Bits per byte of `model` on each text set (documents), optionally the first `max_bytes`."""
    api = _eval_api()
    if api is not None:
        sets = [api.TextSet(k, bounded(v, max_bytes)) for k, v in text_sets.items()]
        res = api.score_bpb(model, tokenizer, sets, batch_size=batch_size, max_length=seq_len, progress=False)
        return {k: float(r["bpb"]) for k, r in res.items()}
    return {name: _bpb(model, tokenizer, bounded(docs, max_bytes), device, seq_len, batch_size)
            for name, docs in text_sets.items()}


def _bpb(model, tok, docs: list[str], device, seq_len: int, batch_size: int) -> float:
    import torch
    import torch.nn.functional as F

    windows: list[list[int]] = []  # seq_len + 1 tokens: inputs [:-1], targets [1:]
    n_bytes = 0
    eos = tok.eos_token_id
    for ids, d in zip(tok(docs, add_special_tokens=False)["input_ids"], docs, strict=True):
        n_bytes += len(d.encode("utf-8"))
        seq = [eos, *ids]  # the EOS that precedes every document in training predicts its first token
        for s in range(0, len(seq) - 1, seq_len):
            windows.append(seq[s:s + seq_len + 1])
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos
    cuda = torch.device(device).type == "cuda"
    total = 0.0
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
        for i in range(0, len(windows), batch_size):
            chunk = windows[i:i + batch_size]
            # one fixed shape (batch_size, seq_len): a compiled model does not recompile per batch
            x = torch.full((batch_size, seq_len), pad, dtype=torch.long)
            y = torch.full((batch_size, seq_len), -100, dtype=torch.long)
            for j, w in enumerate(chunk):
                x[j, :len(w) - 1] = torch.tensor(w[:-1])
                y[j, :len(w) - 1] = torch.tensor(w[1:])
            logits = model(input_ids=x.to(device)).logits.float()
            total += float(F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten(), ignore_index=-100,
                                           reduction="sum"))
    return total / math.log(2) / max(1, n_bytes)


def score_tasks(model, tokenizer, tasks_dir: str, *, device, batch_size: int = 16) -> dict[str, dict[str, float]]:
    """Accuracy per task (acc, acc_norm, ...) through curate.eval; a clear error while it is absent."""
    api = _eval_api()
    if api is None or not hasattr(api, "score_tasks"):
        raise AblationError("eval.tasks_dir needs curate.eval's score_tasks (the `curate eval` package); "
                            "leave tasks_dir out to score bits per byte only")
    names = api.available_tasks(tasks_dir)
    if not names:
        raise AblationError(f"eval.tasks_dir {tasks_dir}: no task files")
    res = api.score_tasks(model, tokenizer, names, tasks_dir, batch_size=batch_size, progress=False)
    return {t: {k: float(v) for k, v in r.items() if isinstance(v, int | float)} for t, r in res.items()}
