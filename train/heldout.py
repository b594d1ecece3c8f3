"""Held-out loss: the mean loss per trained token (per pair for DPO and the reward model) over up
to `eval_batches` batches of the held-out rows, the same batches at every evaluation, summed over
all ranks; for pairs also the pairwise accuracy (`reward_acc`: chosen scored above rejected) and
the mean margin."""

from __future__ import annotations

import torch

from . import distributed
from .build import TrainData, TrainModel
from .config import TrainConfig
from .data import ShardStream, batches


def to_device(b: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The batch's tensors on `device` (asynchronous from pinned memory). 0-dim ones (counts) stay
    on the host: they are never pinned, and a pageable copy waits for the GPU to drain first."""
    return {k: v.to(device, non_blocking=True) if v.dim() else v for k, v in b.items()}


class HeldOut:
    """Evaluates a `TrainModel` on the held-out rows (read once, on first use)."""

    def __init__(self, data: TrainData, cfg: TrainConfig, info: distributed.DistInfo):
        self.data, self.cfg, self.info = data, cfg, info
        self._batches: list[dict[str, torch.Tensor]] | None = None

    def _load(self) -> list[dict[str, torch.Tensor]]:
        if self._batches is None:
            d, cfg, info = self.data, self.cfg, self.info
            es = ShardStream(
                d.eval_units,
                d.kind,
                d.converter,
                seed=cfg.seed,
                rank=info.rank,
                world=info.world,
                shuffle=False,
                loop=False,
                split_rows=True,
            )
            self._batches = []
            for b, _ in batches(es, cfg.batch_size, d.tokenizer.pad_token_id):
                self._batches.append(b)
                if len(self._batches) >= cfg.eval_batches:
                    break
        return self._batches

    def loss(self, tm: TrainModel, autocast) -> float | None:
        """The held-out loss (None without held-out rows); collective across ranks."""
        return self.evaluate(tm, autocast)[0]

    def evaluate(self, tm: TrainModel, autocast) -> tuple[float | None, dict[str, float]]:
        """(held-out loss, per-pair means of the loss's extra stats: reward_acc, margin for pairs);
        (None, {}) without held-out rows. Collective across ranks."""
        if not self.data.eval_units:
            return None, {}
        cache, dev = self._load(), self.info.device
        # every rank runs the same number of batches (a collective per forward under FSDP)
        n_b = distributed.all_reduce(torch.tensor(len(cache), device=dev),
                                     op=torch.distributed.ReduceOp.MIN if self.info.world > 1 else None)
        tm.wrapped.eval()
        tot = torch.zeros(2, device=dev, dtype=torch.float64)
        names: list[str] = []
        extra: torch.Tensor | None = None
        with torch.no_grad(), autocast:
            for b in cache[: int(n_b)]:
                b = to_device(b, dev)
                ls, stats = tm.loss_sum(b)
                tot[0] += ls.double()
                tot[1] += b["n"].double()
                if stats:
                    names = sorted(stats)
                    v = torch.stack([stats[k].double() for k in names])
                    extra = v if extra is None else extra + v
        tm.wrapped.train()
        distributed.all_reduce(tot)
        n = tot[1].clamp(min=1)
        metrics = {}
        if extra is not None:
            distributed.all_reduce(extra)
            metrics = {k: float(x / n) for k, x in zip(names, extra, strict=True)}
        return float(tot[0] / n), metrics
