"""torchrun integration: process group (NCCL on GPU, gloo on CPU), DDP or FSDP2 wrapping."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process sits: rank, world size, and its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device_pref: str = "auto") -> DistInfo:
    """Initialise from torchrun's environment (RANK/WORLD_SIZE/LOCAL_RANK), or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() if device_pref == "auto" else device_pref.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise RuntimeError("device=cuda asked for but CUDA is not available")
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)
    return DistInfo(rank, world, local, device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce(t: torch.Tensor, op=None) -> torch.Tensor:
    """Sum (or `op`) across ranks, in place; a no-op in a single process."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=op or dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def wrap(model: torch.nn.Module, info: DistInfo, mode: str, layers: list[torch.nn.Module] | None = None
         ) -> torch.nn.Module:
    """DDP (replicas) or FSDP2 (`fully_shard` per decoder layer, then the root)."""
    if info.world == 1:
        return model
    if mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in layers if layers is not None else decoder_layers(model):
            fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[info.local_rank] if info.device.type == "cuda" else None)


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The transformer blocks of an HF causal LM (also under a PEFT wrapper)."""
    for name in ("model.layers", "base_model.model.model.layers", "transformer.h"):
        m = model
        try:
            for part in name.split("."):
                m = getattr(m, part)
            return list(m)
        except AttributeError:
            continue
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}")


def no_grad_sync(model: torch.nn.Module, skip: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an optimizer step."""
    if not skip:
        return contextlib.nullcontext()
    if hasattr(model, "no_sync"):  # DDP
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
        @contextlib.contextmanager
        def _fsdp():
            model.set_requires_gradient_sync(False)
            try:
                yield
            finally:
                model.set_requires_gradient_sync(True)
        return _fsdp()
    return contextlib.nullcontext()
