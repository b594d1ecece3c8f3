"""Log-likelihood of continuations and bits per byte of documents, batched, CPU or CUDA.

The scorer follows lm-evaluation-harness's ``HFLM._loglikelihood_tokens``: each request is a
(context tokens, continuation tokens) pair; the model reads ``(context + continuation)[-(L+1):][:-1]``
(left-truncated to the context length L) and the last ``len(continuation)`` logits score the
continuation. Requests run longest first in batches of ``batch_size`` rows, right-padded (causal
attention never looks right, so padding changes no score). Logits are taken to float32 before the
log-softmax; on CUDA the forward pass runs under bf16 autocast.

What conditions the first token of a document: ``prefix_token_id`` (lm-eval's name). The default
is the tokenizer's EOS, because curate's packed training rows put EOS between documents (BOS only
with ``add_bos``), so a document start is scored exactly as the model saw it in training. Pass the
BOS id (``prefix_token_id="bos"``) for lm-eval's own default on tokenizers that have one.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from .textsets import TextSet, bound_bytes
from .windows import rolling_requests

LN2 = math.log(2.0)


@dataclass(frozen=True)
class LoglikResult:
    """One scored continuation: summed log-probability (nats), greedy match, token count."""

    logprob: float
    is_greedy: bool
    n_tokens: int


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of `text` without special tokens (a `transformers` or a `tokenizers` tokenizer)."""
    if hasattr(tokenizer, "encode_batch") and not hasattr(tokenizer, "convert_ids_to_tokens"):
        return tokenizer.encode(text, add_special_tokens=False).ids  # tokenizers.Tokenizer
    return tokenizer.encode(text, add_special_tokens=False)


def _special_id(tokenizer: Any, which: str) -> int | None:
    tid = getattr(tokenizer, f"{which}_token_id", None)
    if tid is None and hasattr(tokenizer, "token_to_id"):  # tokenizers.Tokenizer: curate's names
        tid = tokenizer.token_to_id({"bos": "<s>", "eos": "</s>"}[which])
    return tid


def resolve_prefix_token(tokenizer: Any, prefix_token_id: int | str = "eos") -> int:
    """The id that conditions a document's first token: an int, "eos", "bos" or "auto" (lm-eval: BOS, else
    EOS)."""
    if isinstance(prefix_token_id, int):
        return prefix_token_id
    order = {"eos": ["eos"], "bos": ["bos"], "auto": ["bos", "eos"]}.get(prefix_token_id)
    if order is None:
        raise ValueError(f"prefix_token_id must be an int, 'eos', 'bos' or 'auto', got {prefix_token_id!r}")
    for which in order:
        tid = _special_id(tokenizer, which)
        if tid is not None:
            return int(tid)
    raise ValueError(f"the tokenizer has no {' or '.join(order)} token; pass prefix_token_id as an int")


def model_max_length(model: Any, default: int = 2048) -> int:
    """The model's context length (lm-eval's order of config attributes)."""
    cfg = getattr(model, "config", None)
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        v = getattr(cfg, attr, None)
        if v:
            return int(v)
    return default


def model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


def autocast(device: torch.device):
    """bf16 autocast on CUDA, nothing elsewhere (the scorer's and the perplexity stage's forward)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """Logits of any causal LM: an HF model's output object or a plain tensor."""
    out = model(input_ids=ids)
    return out.logits if hasattr(out, "logits") else out


@torch.no_grad()
def loglikelihood_tokens(
    model: Any,
    requests: list[tuple[list[int], list[int]]],
    *,
    max_length: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    desc: str = "loglikelihood",
) -> list[LoglikResult]:
    """Score each (context_tokens, continuation_tokens) request; results in request order.

    `continuation_tokens` must be non-empty and at most `max_length` long; the context must give at
    least one token (lm-eval's rule: callers put the prefix token there for an empty context).
    """
    L = max_length or model_max_length(model)
    device = model_device(model)
    inputs: list[tuple[list[int], int]] = []
    for ctx, cont in requests:
        if not cont or len(cont) > L:
            raise ValueError(f"continuation of {len(cont)} tokens: must be 1..{L}")
        if not ctx:
            raise ValueError("empty context: give the prefix token as context")
        inputs.append(((ctx + cont)[-(L + 1):][:-1], len(cont)))
    order = sorted(range(len(inputs)), key=lambda i: (-len(inputs[i][0]), i))
    results: list[LoglikResult | None] = [None] * len(inputs)
    was_training = getattr(model, "training", False)
    model.eval()
    bar = tqdm(total=sum(len(inputs[i][0]) for i in order), desc=desc, unit="tok", disable=not progress,
               dynamic_ncols=True, leave=False)
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            T = len(inputs[idx[0]][0])
            batch = torch.zeros((len(idx), T), dtype=torch.long)
            for r, i in enumerate(idx):
                toks = inputs[i][0]
                batch[r, :len(toks)] = torch.tensor(toks, dtype=torch.long)
            with autocast(device):
                logits = model_logits(model, batch.to(device))
            # One log_softmax over the whole batch: on CPU it costs half of one call per row.
            logp = torch.log_softmax(logits.float(), dim=-1)
            top = logits.argmax(dim=-1)
            for r, i in enumerate(idx):
                toks, n = inputs[i]
                cont = torch.tensor(requests[i][1], dtype=torch.long, device=logits.device)
                lp = logp[r, len(toks) - n: len(toks)].gather(-1, cont[:, None])
                greedy = bool((top[r, len(toks) - n: len(toks)] == cont).all())
                results[i] = LoglikResult(float(lp.sum()), greedy, n)
            del logits, logp
            bar.update(sum(len(inputs[i][0]) for i in idx))
    finally:
        bar.close()
        if was_training:
            model.train()
    return results  # type: ignore[return-value]


@torch.no_grad()
def score_bpb(model: Any, tokenizer: Any, text_sets: list[TextSet], *, batch_size: int = 8,
              max_bytes: int | None = None, max_length: int | None = None, context_len: int = 1,
              prefix_token_id: int | str = "eos", progress: bool = True) -> dict[str, dict[str, float | int]]:
    """Bits per byte of each text set: -sum(token log-prob) / ln 2 / UTF-8 bytes of its documents.

    Each document is scored on its own with lm-eval's rolling windows of the model's context
    (`context_len=1`: disjoint windows, as `loglikelihood_rolling`; larger values overlap them).
    `max_bytes` bounds each set as `textsets.bound_bytes` does (the same sample every call).
    Returns {name: {bpb, bits, bytes, tokens, docs, nll_per_token}}. It runs on the model's own
    device and puts the model back in training mode if it was in it, so a training loop can call
    it between steps (pass the plain module, not a torch.compile'd or FSDP-wrapped one: windows
    have varying shapes).
    """
    L = max_length or model_max_length(model)
    prefix = resolve_prefix_token(tokenizer, prefix_token_id)
    out: dict[str, dict[str, float | int]] = {}
    for ts in text_sets:
        reqs: list[tuple[list[int], list[int]]] = []
        n_bytes = n_docs = 0
        for doc in bound_bytes(ts.docs, max_bytes):
            if not doc:
                continue
            n_docs += 1
            n_bytes += len(doc.encode("utf-8"))
            reqs.extend(rolling_requests(encode(tokenizer, doc), prefix, L, context_len))
        res = loglikelihood_tokens(model, reqs, max_length=L, batch_size=batch_size, progress=progress,
                                   desc=f"bpb {ts.name}")
        nats = -sum(r.logprob for r in res)
        n_tok = sum(r.n_tokens for r in res)
        out[ts.name] = {"bpb": nats / LN2 / n_bytes if n_bytes else float("nan"), "bits": nats / LN2,
                        "bytes": n_bytes, "tokens": n_tok, "docs": n_docs,
                        "nll_per_token": nats / n_tok if n_tok else float("nan")}
    return out
