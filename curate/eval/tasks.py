"""Zero-shot tasks scored by log-likelihood, from local JSONL files (nothing is downloaded).

File formats (llm-foundry's ``local_data``, as in ``shared/data/evals``), one JSON object a line:

* ``choice`` (PIQA, ARC-Easy, COPA, BoolQ): ``query`` (str), ``choices`` (list of str), ``gold``
  (int). The context is the query plus the task's ``suffix``; each choice is scored as the
  continuation ``" " + choice``.
* ``partial`` (WinoGrande): ``context_options`` (list of str), ``continuation`` (str), ``gold``.
  lm-eval's partial scoring: the same continuation ``" " + continuation`` is scored after each
  context option; the option under which it is most likely wins.
* ``lambada``: ``context``, ``continuation``. ``acc``: the greedy (argmax) tokens equal the whole
  continuation ``" " + continuation``; ``ppl``: exp of minus the mean continuation log-likelihood.

Metrics as lm-eval defines them (``ConfigurableTask.process_results``): ``acc`` = argmax of the
summed log-likelihoods; ``acc_norm`` = argmax of log-likelihood / ``len(choice)`` in characters
(lm-eval's ``completion_len``, the choice without the leading delimiter); ``acc_bytes`` the same
over UTF-8 bytes (lm-eval's ``byte_length``). Context/continuation pairs are tokenised as lm-eval's
``_encode_pair``: trailing spaces of the context move to the continuation, the pair is encoded
whole and the continuation is the tokens after the context's own encoding.
"""

from __future__ import annotations

import gzip
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from .scorer import encode, loglikelihood_tokens, resolve_prefix_token


@dataclass(frozen=True)
class TaskDef:
    """How one task file is read and turned into requests."""

    name: str
    kind: Literal["choice", "partial", "lambada"]
    suffix: str = ""  # appended to `query` (lm-eval's "\nAnswer:" prompts)


TASKS: dict[str, TaskDef] = {
    "piqa": TaskDef("piqa", "choice", "Answer:"),         # query is "Question: ...\n"
    "arc_easy": TaskDef("arc_easy", "choice", "\nAnswer:"),
    "boolq": TaskDef("boolq", "choice", "\nAnswer:"),     # choices ["no", "yes"]
    "copa": TaskDef("copa", "choice"),                    # query ends "because"/"therefore"
    "winogrande": TaskDef("winogrande", "partial"),
    "lambada_openai": TaskDef("lambada_openai", "lambada"),
}
ALIASES = {"lambada": "lambada_openai"}
FIELDS = {
    "choice": "query (str), choices (list of str), gold (int index into choices)",
    "partial": "context_options (list of str), continuation (str), gold (int index into context_options)",
    "lambada": "context (str), continuation (str)",
}


class TaskFormatError(ValueError):
    """A task row that does not have the fields its task needs (file, line and fields named)."""


@dataclass(frozen=True)
class Item:
    """One task item: contexts x continuations to score, and the gold index."""

    contexts: list[str]
    continuations: list[str]
    choices: list[str]  # the text acc_norm divides by
    gold: int


def _check_item(d: TaskDef, row: Any, where: str) -> Item:
    def bad(why: str) -> TaskFormatError:
        return TaskFormatError(f"{where}: {why}; a {d.name} row needs {FIELDS[d.kind]}")

    if not isinstance(row, dict):
        raise bad(f"expected a JSON object, got {type(row).__name__}")
    is_str_list = lambda v: isinstance(v, list) and v and all(isinstance(x, str) for x in v)  # noqa: E731
    if d.kind == "lambada":
        if not (
            isinstance(row.get("context"), str)
            and isinstance(row.get("continuation"), str)
            and row["continuation"]
        ):
            raise bad(f"got fields {sorted(row)}")
        cont = " " + row["continuation"].strip()
        return Item([row["context"]], [cont], [cont], 0)
    gold = row.get("gold")
    if d.kind == "choice":
        if not (isinstance(row.get("query"), str) and is_str_list(row.get("choices"))):
            raise bad(f"got fields {sorted(row)}")
        choices = row["choices"]
        ctx = row["query"] + d.suffix
        item = Item([ctx] * len(choices), [" " + c for c in choices], choices, gold)  # type: ignore[arg-type]
    else:
        if not (is_str_list(row.get("context_options")) and isinstance(row.get("continuation"), str)):
            raise bad(f"got fields {sorted(row)}")
        opts = row["context_options"]
        cont = " " + row["continuation"].strip()
        item = Item(list(opts), [cont] * len(opts), list(opts), gold)  # type: ignore[arg-type]
    if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < len(item.contexts):
        raise bad(f"gold is {gold!r}, expected an int in [0, {len(item.contexts)})")
    return item


def task_file(tasks_dir: str | Path, name: str) -> Path:
    """DIR/NAME.jsonl.gz or DIR/NAME.jsonl."""
    for ext in (".jsonl.gz", ".jsonl"):
        f = Path(tasks_dir) / f"{name}{ext}"
        if f.exists():
            return f
    raise FileNotFoundError(f"task {name!r}: no {name}.jsonl[.gz] in {tasks_dir}")


def load_task(tasks_dir: str | Path, name: str, limit: int | None = None) -> tuple[TaskDef, list[Item]]:
    """Read and check a task's items (the first `limit` if given)."""
    name = ALIASES.get(name, name)
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    d = TASKS[name]
    f = task_file(tasks_dir, name)
    items: list[Item] = []
    raw = gzip.open(f, "rb") if f.name.endswith(".gz") else open(f, "rb")
    with io.BufferedReader(raw) as fh:
        for n, line in enumerate(fh, 1):
            if limit is not None and len(items) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise TaskFormatError(f"{f}:{n}: not JSON ({e})") from None
            items.append(_check_item(d, row, f"{f}:{n}"))
    return d, items


def available_tasks(tasks_dir: str | Path) -> list[str]:
    """The known tasks that have a file in `tasks_dir`."""
    out = []
    for name in TASKS:
        try:
            task_file(tasks_dir, name)
            out.append(name)
        except FileNotFoundError:
            pass
    return out


def encode_pair(tokenizer: Any, context: str, continuation: str, prefix: int) -> tuple[list[int], list[int]]:
    """lm-eval's ``_encode_pair`` (and its empty-context rule: the prefix token as context)."""
    if context == "":
        cont = encode(tokenizer, continuation)
        return ([prefix], cont) if cont[0] != prefix else (cont[:1], cont[1:])
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = encode(tokenizer, context + continuation)
    ctx = encode(tokenizer, context)
    return ctx, whole[len(ctx):]


def item_metrics(d: TaskDef, item: Item, lls: list[float], greedy: list[bool]) -> dict[str, float]:
    """Per-item metrics from the log-likelihood of each alternative (lm-eval's definitions)."""
    if d.kind == "lambada":
        return {"acc": float(greedy[0]), "ll": lls[0]}
    ll = np.array(lls)
    out = {"acc": float(int(np.argmax(ll)) == item.gold)}
    if d.kind == "choice":
        chars = np.array([float(len(c)) for c in item.choices])
        nbytes = np.array([float(len(c.encode("utf-8"))) for c in item.choices])
        out["acc_norm"] = float(int(np.argmax(ll / chars)) == item.gold)
        out["acc_bytes"] = float(int(np.argmax(ll / nbytes)) == item.gold)
    return out


def score_tasks(model: Any, tokenizer: Any, tasks: list[str], tasks_dir: str | Path, *, batch_size: int = 8,
                limit: int | None = None, max_length: int | None = None, prefix_token_id: int | str = "eos",
                progress: bool = True, per_item: bool = False) -> dict[str, dict[str, Any]]:
    """{task: {acc, acc_norm, acc_bytes | ppl, n}} for each task name (files in `tasks_dir`).

    With `per_item`, each task's entry also holds "items": the per-item metrics and log-likelihoods.
    """
    prefix = resolve_prefix_token(tokenizer, prefix_token_id)
    out: dict[str, dict[str, Any]] = {}
    for name in tasks:
        d, items = load_task(tasks_dir, name, limit)
        reqs, spans = [], []
        for it in items:
            spans.append((len(reqs), len(it.contexts)))
            reqs.extend(
                encode_pair(tokenizer, c, k, prefix)
                for c, k in zip(it.contexts, it.continuations, strict=True)
            )
        res = loglikelihood_tokens(
            model, reqs, max_length=max_length, batch_size=batch_size, progress=progress, desc=d.name
        )
        rows = []
        for it, (s, n) in zip(items, spans, strict=True):
            r = res[s:s + n]
            m = item_metrics(d, it, [x.logprob for x in r], [x.is_greedy for x in r])
            m["lls"] = [x.logprob for x in r]
            rows.append(m)
        keys = [k for k in rows[0] if k not in ("ll", "lls")] if rows else []
        agg: dict[str, Any] = {k: float(np.mean([m[k] for m in rows])) for k in keys}
        if d.kind == "lambada":
            agg["ppl"] = math.exp(-float(np.mean([m["ll"] for m in rows])))
        agg["n"] = len(rows)
        if per_item:
            agg["items"] = rows
        out[d.name] = agg
    return out
