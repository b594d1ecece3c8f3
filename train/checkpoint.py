"""Checkpoints for exact resume: model, optimizer, step (the LR schedule is a function of it),
RNG states and each rank's data position.

Layout (format 2): RUN/checkpoints/step_0000100/
    checkpoint.json     {"format": 2, "step", "world", "meta"}: written last, so its presence means complete
    model.safetensors   the full model state (tied weights stored once, their other names in its metadata)
    optimizer.pt        the full optimizer state: tensors and plain Python values only
    rank0.pt, rank1.pt  each rank's RNG states and data position: tensors and plain values only
and RUN/checkpoints/latest (a one-line pointer, replaced atomically once the step directory is
complete, so a kill at any moment leaves the previous checkpoint usable).

Nothing here is unpickled as code: `.pt` files load with `torch.load(weights_only=True)`, which
accepts tensors, containers and numbers only, so a file planted in a run folder cannot run
anything. Format 1 (curate before this change) kept arbitrary pickles in `state.pt`; such a
checkpoint is refused with `CheckpointRefused`, naming `--no-resume`.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import distributed

FORMAT = 2


class CheckpointRefused(ValueError):
    """A checkpoint that is not loaded: an old format, or a file that is not plain tensors/values."""


def _rng_state() -> dict[str, Any]:
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    st: dict[str, Any] = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    version, state, gauss = st["python"]
    random.setstate((version, tuple(state), gauss))
    n = st["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
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
        return get_model_state_dict(model, options=opts), get_optimizer_state_dict(
            model, optimizer, options=opts
        )
    return model.state_dict(), optimizer.state_dict()


def _save_weights(state: dict[str, torch.Tensor], path: Path) -> None:
    """safetensors refuses tensors that share memory (tied embeddings): store each once and keep
    the other names as aliases in the file's metadata."""
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for k, v in state.items():
        key = (v.device, v.data_ptr(), v.dtype, tuple(v.shape), v.stride())
        if v.numel() and key in seen:
            aliases[k] = seen[key]
            continue
        seen[key] = k
        tensors[k] = v.detach().to("cpu").contiguous()
    save_file(tensors, str(path), metadata={"aliases": json.dumps(aliases)})


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        aliases = json.loads((f.metadata() or {}).get("aliases", "{}"))
    state = load_file(str(path))
    for k, src in aliases.items():
        state[k] = state[src]
    return state


def save(run_dir: str | Path, step: int, model, optimizer, *, data_state, info: distributed.DistInfo,
         fsdp: bool = False, meta: dict | None = None, keep: int = 2) -> Path:
    """Write checkpoint `step` (collective under FSDP: every rank must call it)."""
    ck = Path(run_dir) / "checkpoints"
    final = ck / f"step_{step:07d}"
    tmp = ck / f".tmp_step_{step:07d}"
    msd, osd = _full_state(model, optimizer, fsdp)
    if info.main:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        _save_weights(msd, tmp / "model.safetensors")
        torch.save(osd, tmp / "optimizer.pt")
    distributed.barrier()
    torch.save({"rng": _rng_state(), "data_state": [int(x) for x in data_state]}, tmp / f"rank{info.rank}.pt")
    distributed.barrier()
    if info.main:
        (tmp / "checkpoint.json").write_text(json.dumps({"format": FORMAT, "step": step, "world": info.world,
                                                          "meta": meta or {}}))
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
    """The step directory RUN/checkpoints/latest points at (any format), or None."""
    ptr = Path(run_dir) / "checkpoints" / "latest"
    if not ptr.is_file():
        return None
    d = ptr.parent / ptr.read_text().strip()
    return d if (d / "checkpoint.json").is_file() or (d / "state.pt").is_file() else None


def _refuse(path: Path, why: str) -> CheckpointRefused:
    return CheckpointRefused(f"{path}: {why}; not resuming from it. Train from scratch into this folder with "
                             f"--no-resume (resume=False), or choose another -o")


def _load_plain(path: Path) -> Any:
    """torch.load that accepts only tensors and plain values; anything else is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, TypeError) as e:
        raise _refuse(
            path.parent, f"{path.name} is not plain tensors and values ({type(e).__name__})"
        ) from None


def load(
    path: Path, model, optimizer, *, info: distributed.DistInfo, fsdp: bool = False
) -> tuple[int, tuple, dict]:
    """Restore model, optimizer and this rank's RNG; return (step, data_state, meta)."""
    if not (path / "checkpoint.json").is_file():
        raise _refuse(path, "an old-format checkpoint (state.pt, a pickle that could run code when loaded)")
    try:
        head = json.loads((path / "checkpoint.json").read_text())
    except (OSError, ValueError):
        raise _refuse(path, "checkpoint.json is unreadable") from None
    if head.get("format") != FORMAT:
        raise _refuse(path, f"checkpoint format {head.get('format')!r}, this curate reads format {FORMAT}")
    rank_file = path / f"rank{info.rank}.pt"
    if not rank_file.is_file():
        raise RuntimeError(
            f"{path} was written by fewer ranks than {info.world}; resume with the same world size"
        )
    try:
        weights = _load_weights(path / "model.safetensors")
    except (OSError, SafetensorError, ValueError) as e:
        raise _refuse(path, f"model.safetensors is unreadable ({e})") from None
    osd = _load_plain(path / "optimizer.pt")
    rk = _load_plain(rank_file)
    if fsdp:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True)
        set_model_state_dict(model, weights, options=opts)
        set_optimizer_state_dict(model, optimizer, osd, options=opts)
    else:
        model.load_state_dict(weights)
        optimizer.load_state_dict(osd)
    _set_rng_state(rk["rng"])
    return int(head["step"]), tuple(rk["data_state"]), head.get("meta", {})
