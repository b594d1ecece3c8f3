"""Held-out evaluation of a causal LM: bits per byte on text sets, zero-shot tasks by log-likelihood.

The in-process API (a training loop or ``curate ablate`` calls it on the live model)::

    from curate.eval import load_text_sets, score_bpb, score_tasks
    sets = load_text_sets(["gold=gold.jsonl.gz#gold_text?split=heldout&strip_markup"], max_bytes=200_000)
    score_bpb(model, tokenizer, sets, batch_size=8)          # {"gold": {"bpb": ..., ...}}
    score_tasks(model, tokenizer, ["piqa"], "evals/", limit=500)

`model` is the bundled model or any HF causal LM (anything whose call returns ``.logits``);
`tokenizer` a ``transformers`` tokenizer or a ``tokenizers.Tokenizer``. Both functions leave the
model in the mode they found it in. ``curate eval RUN`` is the CLI over the same functions.
"""

from .scorer import LoglikResult, encode, loglikelihood_tokens, resolve_prefix_token, score_bpb
from .tasks import TASKS, TaskFormatError, available_tasks, load_task, score_tasks
from .textsets import TextSet, TextSpec, TextSpecError, bound_bytes, load_text_sets, parse_spec, strip_markup

__all__ = [
    "TASKS", "LoglikResult", "TaskFormatError", "TextSet", "TextSpec", "TextSpecError", "available_tasks",
    "bound_bytes", "encode", "load_task", "load_text_sets", "loglikelihood_tokens", "parse_spec",
    "resolve_prefix_token", "score_bpb", "score_tasks", "strip_markup",
]
