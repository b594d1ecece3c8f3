"""Checkpoints for exact resume: model, optimizer, step (the LR schedule is a function of it),
RNG states and each rank's data position.

Layout: RUN/checkpoints/step_0000100/{state.pt, rank0.pt, rank1.pt, ...} and RUN/checkpoints/latest
(a one-line pointer, replaced atomically once the step directory is complete, so a kill at any
moment leaves the previous checkpoint usable).
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed


def _rng_state() -> dict[str, Any]:
    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _full_state(model, optimizer, fsdp: bool) -> tuple[dict, dict]:
    if fsdp:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(model, options=opts), get_optimizer_state_dict(model, optimizer, options=opts)
    return model.state_dict(), optimizer.state_dict()


def save(run_dir: str | Path, step: int, model, optimizer, *, data_state, info: distributed.DistInfo, fsdp: bool = False,
         meta: dict | None = None, keep: int = 2) -> Path:
    """Write checkpoint `step` (collective under FSDP: every rank must call it)."""
    ck = Path(run_dir) / "checkpoints"
    final = ck / f"step_{step:07d}"
    tmp = ck / f".tmp_step_{step:07d}"
    msd, osd = _full_state(model, optimizer, fsdp)
    if info.main:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        torch.save({"step": step, "model": msd, "optimizer": osd, "meta": meta or {}}, tmp / "state.pt")
    distributed.barrier()
    torch.save({"rng": _rng_state(), "data_state": tuple(data_state)}, tmp / f"rank{info.rank}.pt")
    distributed.barrier()
    if info.main:
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        ptr = ck / ".latest.tmp"
        ptr.write_text(final.name + "\n")
        os.replace(ptr, ck / "latest")
        old = sorted(p for p in ck.glob("step_*") if p != final)
        for p in old[: max(0, len(old) - (keep - 1))] if keep > 0 else []:
            shutil.rmtree(p, ignore_errors=True)
    distributed.barrier()
    return final


def latest(run_dir: str | Path) -> Path | None:
    ptr = Path(run_dir) / "checkpoints" / "latest"
    if not ptr.is_file():
        return None
    d = ptr.parent / ptr.read_text().strip()
    return d if (d / "state.pt").is_file() else None


def load(path: Path, model, optimizer, *, info: distributed.DistInfo, fsdp: bool = False) -> tuple[int, tuple, dict]:
    """Restore model, optimizer and this rank's RNG; return (step, data_state, meta)."""
    st = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
    if fsdp:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True)
        set_model_state_dict(model, st["model"], options=opts)
        set_optimizer_state_dict(model, optimizer, st["optimizer"], options=opts)
    else:
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
    rank_file = path / f"rank{info.rank}.pt"
    if not rank_file.is_file():
        raise RuntimeError(f"{path} was written by fewer ranks than {info.world}; resume with the same world size")
    rk = torch.load(rank_file, map_location="cpu", weights_only=False)
    _set_rng_state(rk["rng"])
    return st["step"], tuple(rk["data_state"]), st.get("meta", {})
