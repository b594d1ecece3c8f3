"""The training loop for pretraining, SFT, DPO and the reward model (nanoGPT-style: one readable
loop, no framework).

Per optimizer step: gather `grad_accum` micro-batches, count the trained targets of all of them
on all ranks, and back-propagate each micro-batch's *summed* loss divided by that global count
(times the world size, since DDP averages gradients). The step's loss is then the mean over every
trained token of the step, not a mean of per-batch means. bf16 autocast on GPU, per-layer
`torch.compile` (the mask creation stays eager so unpacked rows keep SDPA's is_causal/flash path),
fused AdamW, cosine LR with warmup, gradient clipping, periodic held-out eval, checkpoints with
exact resume, tokens/s and MFU to stdout, RUN/log.jsonl and optionally TensorBoard.

What the run is made of is built in build.py (data, model, optimizer); logging is logger.py,
held-out loss heldout.py, the final model directory export.py, checkpoints checkpoint.py; the
reward model's head and Bradley-Terry loss reward.py (it trains on DPO's preference shards, so
the loop is the same: `n` counts pairs).

Callbacks: `pretrain/sft/dpo(..., callbacks=[fn, ...])` calls each `fn(info)` after every
optimizer step with a `StepInfo` (callbacks.py): step, max_steps, lr, tokens, loss (None on steps
log_interval skips), eval_loss, the checkpoint this step wrote (or None), run_dir, the unwrapped
model, tokenizer, device, rank, world; `info.log({...})` adds fields to that step's record in
RUN/log.jsonl. Callbacks run on every rank, after the step's eval and checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import checkpoint, distributed
from .build import (
    TrainData,
    TrainModel,
    autocast_context,
    build_data,
    build_optimizer,
    build_train_model,
    prepare_run_dir,
    uses_bf16,
)
from .callbacks import Callback, StepInfo
from .config import TrainConfig
from .data import Prefetcher, batches
from .export import save_final
from .heldout import HeldOut, to_device
from .logger import MetricsLog, Throughput, TrainBar, print_eval, print_train, say
from .mfu import peak_flops
from .model import set_causal_only
from .presets import default_lr
from .schedule import cosine_lr


@dataclass
class TrainResult:
    """What a finished run reports (also in RUN/log.jsonl and RUN/lineage.json)."""

    run_dir: Path
    steps: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    eval_metrics: list[tuple[int, dict[str, float]]] = field(default_factory=list)  # reward_acc, margin
    tokens: int = 0
    tokens_per_s: float | None = None
    mfu: float | None = None
    elapsed_s: float = 0.0


def pretrain(
    config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any
) -> TrainResult:
    """Pretrain from tokenized (or text) shards. `config` fields can also be given as keywords;
    each of `callbacks` gets a `StepInfo` after every optimizer step."""
    return run(_config(config, kw, "pretrain"), callbacks)


def sft(
    config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any
) -> TrainResult:
    """Supervised fine-tuning on SFT shards (`input_ids`, `labels`), usually with init_from=a run dir."""
    return run(_config(config, kw, "sft"), callbacks)


def dpo(
    config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any
) -> TrainResult:
    """DPO on preference shards, with a frozen copy of init_from (or the LoRA-free base) as reference."""
    return run(_config(config, kw, "dpo"), callbacks)


def rm(
    config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any
) -> TrainResult:
    """A reward model on preference shards: the bundled model (or init_from) with a scalar head,
    Bradley-Terry loss, held-out pairwise accuracy; saved as a sequence-classification folder."""
    return run(_config(config, kw, "rm"), callbacks)


def _config(config, kw, task) -> TrainConfig:
    if config is None:
        config = TrainConfig()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    d = config.to_dict()
    d.update(kw)
    d["task"] = task
    return TrainConfig.from_dict(d)


def run(cfg: TrainConfig, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Run one training job to cfg.max_steps (resuming from RUN/checkpoints/latest when present),
    calling each of `callbacks` with a `StepInfo` after every optimizer step."""
    if cfg.task not in ("pretrain", "sft", "dpo", "rm"):
        raise ValueError(f"unknown task {cfg.task!r}; choose pretrain, sft, dpo or rm")
    if not cfg.data or not cfg.out:
        raise ValueError("data and out are required")
    if cfg.lr is None:
        cfg = dataclasses.replace(cfg, lr=default_lr(cfg.preset, cfg.init_from))
    info = distributed.setup(cfg.device)
    # the run sets process-wide torch switches (threads, determinism, flush-denormal); a library
    # call must leave the caller's process as it found it.
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        _torch_settings(cfg, info.device)
        return _run(cfg, info, list(callbacks))
    finally:
        distributed.teardown()
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_flush_denormal(False)


def _torch_settings(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.set_flush_denormal(True)  # tiny losses make subnormal Adam states, very slow on CPUs


def _run(cfg: TrainConfig, info: distributed.DistInfo, callbacks: list[Callback]) -> TrainResult:
    t_start, cuda = time.perf_counter(), info.device.type == "cuda"
    run_dir = prepare_run_dir(cfg, info)
    data = build_data(cfg, info)
    tm = build_train_model(cfg, data, info)
    optimizer = build_optimizer(tm.model, cfg, info.device)
    autocast = autocast_context(cfg, info.device)
    heldout, log = HeldOut(data, cfg, info), MetricsLog(run_dir, info.main, cfg.tensorboard)
    step, data_state, tokens = _resume(cfg, run_dir, tm, optimizer, info, log)
    _describe(cfg, data, tm, info)
    pad_multiple = 128 if tm.compiled and data.kind in ("sft", "dpo") else 8
    it = Prefetcher(batches(data.stream, cfg.batch_size, data.tokenizer.pad_token_id, data_state,
                            multiple=pad_multiple), depth=max(4, 2 * cfg.grad_accum), pin=cuda)
    result = TrainResult(run_dir=run_dir, steps=step)
    meter = Throughput(tm.model, peak_flops(info.device, cfg.peak_tflops), info.world, step, tokens)
    bar = TrainBar(cfg.progress, info.main, cfg.task, cfg.max_steps, step, tokens)
    tm.wrapped.train()
    try:
        while step < cfg.max_steps:
            lr = cosine_lr(
                step, lr=cfg.lr, warmup=cfg.warmup_steps, total=cfg.max_steps, min_ratio=cfg.min_lr_ratio
            )
            for g in optimizer.param_groups:
                g["lr"] = lr
            # forward/backward over grad_accum micro-batches, normalised by the step's trained tokens
            mbs = [next(it) for _ in range(cfg.grad_accum)]
            data_state = mbs[-1][1]
            # The step's trained-token count from the host copies: a pageable host-to-device copy
            # made here waited for the GPU to drain every step (the queue restarted empty; ~5% at
            # gpt2-124m on an H200). One process keeps it a Python number; ranks sum a pinned copy.
            n_local = float(sum(int(b["n"]) for b, _ in mbs))
            if info.world > 1:
                n_t = torch.tensor([n_local], dtype=torch.float32)
                n_t = n_t.pin_memory().to(info.device, non_blocking=True) if cuda else n_t.to(info.device)
                n_global = distributed.all_reduce(n_t)[0].clamp(min=1)
            else:
                n_global = max(n_local, 1.0)
            step_loss = torch.zeros((), device=info.device, dtype=torch.float32)
            for i, (b, _) in enumerate(mbs):
                b = to_device(b, info.device)
                with distributed.no_grad_sync(tm.wrapped, i < cfg.grad_accum - 1), autocast:
                    ls, _ = tm.loss_sum(b)
                # DDP/FSDP average gradients over ranks; * world makes it sum / global count.
                (ls * (info.world / n_global)).backward()
                step_loss += ls.detach().float()
            grad_norm = (
                torch.nn.utils.clip_grad_norm_(tm.trainable(), cfg.grad_clip) if cfg.grad_clip > 0 else None
            )
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens += int(sum(b["input_ids"].numel() for b, _ in mbs)) * info.world
            last = step == cfg.max_steps
            # report, evaluate, checkpoint, call back; then write the step's records
            records, loss, ev, ck = [], None, None, None
            if step % max(1, cfg.log_interval) == 0 or last:
                loss = float(distributed.all_reduce(step_loss) / n_global)
                rec = {"kind": "train", "step": step, "loss": loss, "lr": lr,
                       "grad_norm": float(grad_norm) if grad_norm is not None else None, "tokens": tokens,
                       **meter.measure(step, tokens, b["input_ids"].shape[1], cuda)}
                records.append(rec)
                result.losses.append((step, loss))
                if bar.prints:
                    print_train(rec)
                if step > 1 or cfg.max_steps == 1:  # the first interval includes compilation
                    result.tokens_per_s, result.mfu = rec["tokens_per_s"], rec["mfu"]
            with meter.paused():  # eval, checkpoint and callback time stays out of tokens/s
                if (cfg.eval_interval and step % cfg.eval_interval == 0) or last:
                    ev, ev_metrics = heldout.evaluate(tm, autocast)
                    if ev is not None:
                        records.append({"kind": "eval", "step": step, "loss": ev, **ev_metrics})
                        result.eval_losses.append((step, ev))
                        if ev_metrics:
                            result.eval_metrics.append((step, ev_metrics))
                        if bar.prints:
                            print_eval(step, ev, ev_metrics)
                if (cfg.ckpt_interval and step % cfg.ckpt_interval == 0) or last:
                    ck = checkpoint.save(run_dir, step, tm.model, optimizer, data_state=data_state, info=info,
                                         fsdp=tm.fsdp, meta={"tokens": tokens}, keep=cfg.keep_checkpoints)
                if callbacks:
                    _call_back(
                        callbacks,
                        records,
                        StepInfo(
                            step=step,
                            max_steps=cfg.max_steps,
                            lr=lr,
                            tokens=tokens,
                            loss=loss,
                            eval_loss=ev,
                            checkpoint=ck,
                            run_dir=run_dir,
                            model=tm.model,
                            tokenizer=data.tokenizer,
                            device=info.device,
                            rank=info.rank,
                            world=info.world,
                            _set_inference=None
                            if data.packed
                            else lambda on: set_causal_only(tm.hf_model, not on),
                        ),
                    )
            for rec in records:
                log(rec)
            bar.update(tokens, loss)
    finally:
        bar.close()
        it.close()
        log.close()

    result.steps, result.tokens = step, tokens
    save_final(cfg, tm, data, info, steps=step, tokens=tokens)
    result.elapsed_s = time.perf_counter() - t_start
    return result


def _resume(cfg: TrainConfig, run_dir: Path, tm: TrainModel, optimizer, info: distributed.DistInfo,
            log: MetricsLog) -> tuple[int, tuple[int, int, int], int]:
    """(step, data position, tokens) from RUN/checkpoints/latest, or a fresh start."""
    ck = checkpoint.latest(run_dir) if cfg.resume else None
    if ck is None:
        log.start(None)
        return 0, (0, 0, 0), 0
    step, data_state, meta = checkpoint.load(ck, tm.model, optimizer, info=info, fsdp=tm.fsdp)
    log.start(step)
    if info.main:
        print(f"resumed from {ck} at step {step}")
    return step, data_state, meta.get("tokens", 0)


def _describe(cfg: TrainConfig, data: TrainData, tm: TrainModel, info: distributed.DistInfo) -> None:
    if not info.main:
        return
    n_params = sum(p.numel() for p in tm.model.parameters())
    n_train = sum(p.numel() for p in tm.trainable())
    mode = "fsdp" if tm.fsdp else "ddp" if info.world > 1 else "single"
    print(f"{cfg.task}: {data.kind} shards={len(data.files)} params={n_params/1e6:.2f}M "
          f"trainable={n_train/1e6:.2f}M world={info.world} device={info.device} "
          f"bf16={uses_bf16(cfg, info.device)} compile={tm.compiled} {mode}"
          + (f" kernels=fused attention={cfg.attention} loss_chunk={cfg.loss_chunk}"
             + (" fp8" if cfg.fp8 else "") if tm.fused else ""),
          flush=True)
    if cfg.task == "dpo":  # its first steps are slow and were silent (75 s on a CPU): say why, now
        ref = "the LoRA-disabled policy" if cfg.lora else "a frozen copy of the --from model"
        say(f"dpo: every step scores each chosen and rejected reply under the policy and under {ref}; "
            f"the first report comes after step {min(cfg.log_interval, cfg.max_steps)}")


def _call_back(callbacks: list[Callback], records: list[dict], info: StepInfo) -> None:
    """Run the callbacks; what they log() joins the step's train record (or a callback record)."""
    for cb in callbacks:
        cb(info)
    if not info.fields:
        return
    if records and records[0]["kind"] == "train":
        records[0].update(info.fields)
    else:
        records.insert(0, {"kind": "callback", "step": info.step, **info.fields})
