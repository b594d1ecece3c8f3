"""Step callbacks: user code that runs after every optimizer step of `pretrain`/`sft`/`dpo`.

    from curate.train import pretrain, StepInfo

    def sample_every_100(info: StepInfo) -> None:
        if info.step % 100 == 0 and info.rank == 0:
            with info.inference():
                ids = info.tokenizer("The", return_tensors="pt").input_ids.to(info.device)
                text = info.tokenizer.decode(info.model.generate(ids, max_new_tokens=20)[0])
            info.log({"sample": text})          # lands in this step's RUN/log.jsonl record

    pretrain(data="out/data", tokenizer="tok", out="runs/pt", callbacks=[sample_every_100])

A callback is any callable taking one `StepInfo`. It runs on every rank (under FSDP a forward
pass is collective: every rank must make it), after the step's eval and checkpoint, before the
step's records are written, so `info.log(...)` fields join that step's `"kind": "train"` record
(a step that logs no train record gets a `"kind": "callback"` record of its own). An exception
in a callback ends the run, as one in the loop would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class StepInfo:
    """What a callback sees after optimizer step `step` (1-based)."""

    step: int
    max_steps: int
    lr: float                          # the learning rate this step used
    tokens: int                        # tokens trained so far, all ranks (padding included)
    loss: float | None                 # the step's mean train loss; None on steps log_interval skips
    eval_loss: float | None            # held-out loss when this step evaluated, else None
    checkpoint: Path | None            # the checkpoint this step wrote, else None
    run_dir: Path
    model: torch.nn.Module             # the model itself (no DDP/FSDP/loss wrapper; a PeftModel with LoRA)
    tokenizer: Any
    device: torch.device
    rank: int
    world: int
    fields: dict[str, Any] = field(default_factory=dict)  # what log() collected
    _set_inference: Callable[[bool], None] | None = field(default=None, repr=False)

    def log(self, fields: dict[str, Any]) -> None:
        """Add JSON-serialisable fields to this step's RUN/log.jsonl record (rank 0 writes it)."""
        self.fields.update(fields)

    @contextlib.contextmanager
    def inference(self) -> Iterator[torch.nn.Module]:
        """Eval mode, no grad, and attention that honours attention masks (training on unpacked
        rows runs plain causal attention, which ignores padding masks); restored on exit."""
        was_training = self.model.training
        self.model.eval()
        if self._set_inference is not None:
            self._set_inference(True)
        try:
            with torch.no_grad():
                yield self.model
        finally:
            if self._set_inference is not None:
                self._set_inference(False)
            self.model.train(was_training)


Callback = Callable[[StepInfo], None]
