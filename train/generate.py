"""Text generation from a run directory (a standard HF model dir): plain prompts and chat turns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from .model import load_pretrained, stop_token_ids


def load_run(run_dir: str | Path, device: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) from a run directory or any local HF causal-LM directory."""
    dev = (
        "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    )
    tok = AutoTokenizer.from_pretrained(str(run_dir))
    dtype = torch.bfloat16 if dev.startswith("cuda") else torch.float32
    model = load_pretrained(run_dir, dtype=dtype).to(dev).eval()
    return model, tok


@torch.no_grad()
def _generate(model, tok, input_ids: torch.Tensor, max_new_tokens: int, temperature: float, top_k: int | None,
              seed: int | None) -> list[int]:
    if seed is not None:
        torch.manual_seed(seed)
    sample = temperature > 0
    kw: dict[str, Any] = {"do_sample": sample, "max_new_tokens": max_new_tokens,
                          "eos_token_id": stop_token_ids(tok), "pad_token_id": tok.pad_token_id}
    if sample:
        kw.update(temperature=temperature, top_k=top_k or 0)
    else:
        kw.update(temperature=None, top_k=None, top_p=None)
    ids = input_ids.to(model.device)
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kw)
    return out[0, ids.shape[1]:].tolist()


def generate(model, tok, prompt: str, *, max_new_tokens: int = 128, temperature: float = 0.0,
             top_k: int | None = None, seed: int | None = None, skip_special_tokens: bool = True) -> str:
    """Continue `prompt` (greedy when temperature == 0)."""
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    if tok.bos_token_id is not None and (ids.numel() == 0 or ids[0, 0] != tok.bos_token_id) and prompt == "":
        ids = torch.tensor([[tok.bos_token_id]])
    new = _generate(model, tok, ids, max_new_tokens, temperature, top_k, seed)
    return tok.decode(new, skip_special_tokens=skip_special_tokens)


def chat_ids(tok, messages: list[dict]) -> torch.Tensor:
    """The chat template applied to `messages` with the assistant prompt appended, as (1, T) ids."""
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                  return_tensors="pt")
    return enc["input_ids"]


def chat_reply(model, tok, messages: list[dict], *, max_new_tokens: int = 256, temperature: float = 0.0,
               top_k: int | None = None, seed: int | None = None) -> tuple[str, bool]:
    """The assistant's next turn and whether it ended with an end-of-turn / EOS token."""
    if not getattr(tok, "chat_template", None):
        raise ValueError("this model's tokenizer has no chat template; use `curate generate` instead")
    new = _generate(model, tok, chat_ids(tok, messages), max_new_tokens, temperature, top_k, seed)
    stopped = bool(new) and new[-1] in stop_token_ids(tok)
    return tok.decode(new, skip_special_tokens=True), stopped
