"""What a run reports while it trains: RUN/log.jsonl (one JSON record per line), optionally
TensorBoard, one line per logged step on stdout, a progress bar on stderr (steps, tokens/s, loss,
ETA), and the tokens/s and MFU meter behind them.

Records: ``{"kind": "train", "step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mfu",
"step_ms", ...fields callbacks logged}``, ``{"kind": "eval", "step", "loss"}`` and, for callback
fields on a step that logs no train record, ``{"kind": "callback", "step", ...}``.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

# tqdm is a hard requirement of transformers (and of huggingface_hub), so it is wherever train/ runs.
from tqdm import tqdm

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
        if cuda:  # the high-water mark of the run so far (what decides whether a batch fits)
            out["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 2**30
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


PROGRESS_MODES = ("auto", "bar", "log", "quiet")


class TrainBar:
    """What rank 0 shows per step: ``bar`` a tqdm bar (steps, tokens/s since it opened, last loss,
    ETA over the steps left) plus the log lines; ``log`` the log lines only; ``quiet`` neither;
    ``auto`` a bar when stderr is a terminal, else log lines (a bar in a log file is noise)."""

    def __init__(self, mode: str, main: bool, task: str, total: int, step: int, tokens: int):
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress must be one of {', '.join(PROGRESS_MODES)}, not {mode!r}")
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "log"
        self.prints = main and mode != "quiet"  # the step/eval lines on stdout
        self.t0, self.tokens0, self.bar = time.perf_counter(), tokens, None
        if main and mode == "bar":
            self.bar = tqdm(total=total, initial=step, desc=task, unit="step", file=sys.stderr,
                            dynamic_ncols=True, leave=True)

    def update(self, tokens: int, loss: float | None) -> None:
        """One optimizer step done; ``tokens`` trained so far, ``loss`` when this step measured it."""
        if self.bar is None:
            return
        dt = time.perf_counter() - self.t0
        tps = (tokens - self.tokens0) / dt if dt > 0 else 0.0
        self._loss = loss if loss is not None else getattr(self, "_loss", None)
        lossed = f", loss {self._loss:.4f}" if self._loss is not None else ""
        self.bar.set_postfix_str(f"{tps:,.0f} tok/s{lossed}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def print_train(rec: dict) -> None:
    m = f" mfu {100 * rec['mfu']:.1f}%" if rec["mfu"] is not None else ""
    say(f"step {rec['step']:6d} loss {rec['loss']:.4f} lr {rec['lr']:.2e} gnorm {rec['grad_norm'] or 0:.2f} "
          f"{rec['step_ms']:.1f} ms/step {rec['tokens_per_s']:,.0f} tok/s{m}")


def print_eval(step: int, loss: float, metrics: dict | None = None) -> None:
    """The held-out line: perplexity for token losses, pairwise accuracy for preference pairs."""
    if metrics and "reward_acc" in metrics:
        say(f"step {step:6d} eval loss {loss:.4f} pairwise acc {metrics['reward_acc']:.3f} "
            f"margin {metrics['margin']:.3f}")
        return
    say(f"step {step:6d} eval loss {loss:.4f} (ppl {math.exp(min(loss, 50)):.2f})")


def say(line: str) -> None:
    """One line on stdout that keeps an open bar intact (tqdm clears it, writes, redraws it)."""
    tqdm.write(line, file=sys.stdout)
    sys.stdout.flush()
