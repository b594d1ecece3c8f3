"""curate.train: the bundled causal LM, trained from curated shards (pretrain, SFT, DPO, reward
model, LoRA).

Python API (the CLI is a thin layer over it)::

    from curate.train import pretrain, sft, dpo, TrainConfig
    res = pretrain(data="out/web/data", tokenizer="out/tok", preset="small", out="runs/pt", max_steps=2000)
    sft(data="out/sft/data/sft", init_from="runs/pt", out="runs/sft", max_steps=500)
    rm(data="out/sft/data/preference", init_from="runs/sft", out="runs/rm", max_steps=200)
    pretrain(..., callbacks=[fn])   # fn(info: StepInfo) after every optimizer step (train/callbacks.py)

Imports only torch, transformers, tokenizers, pyarrow and numpy (peft for LoRA), lazily.
"""

from __future__ import annotations

_API = {"pretrain": "loop", "sft": "loop", "dpo": "loop", "rm": "loop", "run": "loop", "TrainResult": "loop",
        "StepInfo": "callbacks", "Callback": "callbacks",
        "TrainConfig": "config", "load_run": "generate", "chat_reply": "generate",
        "PRESETS": "presets"}

__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
