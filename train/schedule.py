"""Learning-rate schedule: linear warmup, then cosine decay to min_lr (nanoGPT's get_lr)."""

from __future__ import annotations

import math


def cosine_lr(step: int, *, lr: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """LR for optimizer step `step` (0-based). A pure function of the step: resuming needs no state."""
    min_lr = lr * min_ratio
    if warmup > 0 and step < warmup:
        return lr * (step + 1) / warmup
    if step >= total:
        return min_lr
    span = max(1, total - warmup)
    ratio = (step - warmup) / span
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)
