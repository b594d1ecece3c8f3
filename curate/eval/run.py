"""`curate eval RUN`: load a run directory, score text sets and tasks, write eval.json, a table."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .scorer import score_bpb
from .tasks import available_tasks, score_tasks
from .textsets import TextSet


def resolve_device(device: str = "auto") -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) from a run directory or any local HF causal-LM directory.

    Like ``train.generate.load_run`` but the weights stay float32: on CUDA the scorer runs under
    bf16 autocast, so log-softmax and the sums are not taken from bf16 weights.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from curate.train.model import load_tokenizer

    run = Path(run_dir)
    if not (run / "config.json").exists():
        raise FileNotFoundError(
            f"{run}: no config.json; expected a finished run directory or a local HF model directory"
        )
    tok = load_tokenizer(run)
    model = AutoModelForCausalLM.from_pretrained(str(run), dtype=torch.float32, attn_implementation="sdpa")
    return model.to(resolve_device(device)).eval(), tok


def evaluate(
    model: Any,
    tokenizer: Any,
    *,
    text_sets: list[TextSet] = (),
    tasks_dir: str | Path | None = None,  # type: ignore[assignment]
    tasks: list[str] | None = None,
    batch_size: int = 8,
    limit: int | None = None,
    max_length: int | None = None,
    context_len: int = 1,
    prefix_token_id: int | str = "eos",
    progress: bool = True,
) -> dict[str, Any]:
    """The eval.json object: {"bpb": {set: ...}, "tasks": {task: ...}, "settings": ..., "tokens_per_s"}."""
    from .scorer import model_max_length, resolve_prefix_token

    t0 = time.perf_counter()
    out: dict[str, Any] = {"bpb": {}, "tasks": {}}
    if text_sets:
        out["bpb"] = score_bpb(
            model,
            tokenizer,
            list(text_sets),
            batch_size=batch_size,
            max_length=max_length,
            context_len=context_len,
            prefix_token_id=prefix_token_id,
            progress=progress,
        )
    if tasks_dir is not None:
        names = tasks if tasks else available_tasks(tasks_dir)
        out["tasks"] = score_tasks(model, tokenizer, names, tasks_dir, batch_size=batch_size, limit=limit,
                                   max_length=max_length, prefix_token_id=prefix_token_id, progress=progress)
    secs = time.perf_counter() - t0
    n_tok = sum(v["tokens"] for v in out["bpb"].values())
    out["settings"] = {
        "max_length": max_length or model_max_length(model),
        "context_len": context_len,
        "prefix_token_id": resolve_prefix_token(tokenizer, prefix_token_id),
        "batch_size": batch_size,
        "task_limit": limit,
        "device": str(next(model.parameters()).device),
    }
    out["seconds"] = round(secs, 3)
    out["bpb_tokens_per_s"] = round(n_tok / secs, 1) if n_tok and secs else None
    return out


def format_table(result: dict[str, Any]) -> str:
    """Two plain-text tables: bits per byte per text set, and task metrics."""
    lines = []
    if result.get("bpb"):
        lines.append(f"{'text set':<20} {'bpb':>8} {'bytes':>12} {'tokens':>10} {'docs':>7}")
        for name, r in result["bpb"].items():
            lines.append(f"{name:<20} {r['bpb']:>8.4f} {r['bytes']:>12,} {r['tokens']:>10,} {r['docs']:>7,}")
    if result.get("tasks"):
        if lines:
            lines.append("")
        lines.append(f"{'task':<20} {'acc':>8} {'acc_norm':>9} {'ppl':>10} {'n':>7}")
        for name, r in result["tasks"].items():
            norm = f"{r['acc_norm']:.4f}" if "acc_norm" in r else "-"
            ppl = f"{r['ppl']:.2f}" if "ppl" in r else "-"
            lines.append(f"{name:<20} {r['acc']:>8.4f} {norm:>9} {ppl:>10} {r['n']:>7,}")
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
