"""What a run reports while it trains: RUN/log.jsonl (one JSON record per line), optionally
TensorBoard, one line per logged step on stdout, and the tokens/s and MFU meter behind them.

Records: ``{"kind": "train", "step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mfu",
"step_ms", ...fields callbacks logged}``, ``{"kind": "eval", "step", "loss"}`` and, for callback
fields on a step that logs no train record, ``{"kind": "callback", "step", ...}``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from .mfu import flops_per_token


class MetricsLog:
    """RUN/log.jsonl (+ TensorBoard scalars); only rank 0 writes."""

    def __init__(self, run_dir: Path, main: bool, tensorboard: bool):
        self.main, self.path, self.tb = main, run_dir / "log.jsonl", None
        if main and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                print("tensorboard is not installed; logging to stdout and log.jsonl only")

    def start(self, resumed_step: int | None) -> None:
        """On resume, drop the lines of steps the checkpoint does not contain; on a fresh start, all."""
        if not self.main or not self.path.is_file():
            return
        if resumed_step is None:
            self.path.unlink()
            return
        keep = [ln for ln in self.path.read_text().splitlines()
                if ln.strip() and json.loads(ln).get("step", 0) <= resumed_step]
        self.path.write_text("".join(k + "\n" for k in keep))

    def __call__(self, rec: dict) -> None:
        if not self.main:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.tb is not None:
            for k, v in rec.items():
                if isinstance(v, int | float) and k != "step":
                    self.tb.add_scalar(f"{rec.get('kind', 'train')}/{k}", v, rec["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class Throughput:
    """tokens/s, ms/step and MFU between logged steps; time spent in `paused()` left out."""

    def __init__(self, model: torch.nn.Module, peak: float | None, world: int, step: int, tokens: int):
        self.model, self.peak, self.world = model, peak, world
        self.t, self.tokens, self.step = time.perf_counter(), tokens, step

    def measure(self, step: int, tokens: int, seq_len: int, cuda: bool) -> dict:
        """tokens_per_s, mfu and step_ms since the last measure() (synchronises the GPU)."""
        if cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - self.t
        tps = (tokens - self.tokens) / dt if dt > 0 else 0.0
        mfu = tps * flops_per_token(self.model, seq_len) / (self.peak * self.world) if self.peak else None
        out = {"tokens_per_s": tps, "mfu": mfu, "step_ms": 1000 * dt / max(1, step - self.step)}
        self.t, self.tokens, self.step = time.perf_counter(), tokens, step
        return out

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Work inside (eval, checkpoint, callbacks) does not count as training time."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.t += time.perf_counter() - t0


def print_train(rec: dict) -> None:
    m = f" mfu {100 * rec['mfu']:.1f}%" if rec["mfu"] is not None else ""
    print(
        f"step {rec['step']:6d} loss {rec['loss']:.4f} lr {rec['lr']:.2e} gnorm {rec['grad_norm'] or 0:.2f} "
        f"{rec['step_ms']:.1f} ms/step {rec['tokens_per_s']:,.0f} tok/s{m}",
        flush=True,
    )


def print_eval(step: int, loss: float) -> None:
    print(f"step {step:6d} eval loss {loss:.4f} (ppl {math.exp(min(loss, 50)):.2f})", flush=True)
