"""The training loop for pretraining, SFT and DPO (nanoGPT-style: one readable loop, no framework).

Per optimizer step: gather `grad_accum` micro-batches, count the trained targets of all of them
on all ranks, and back-propagate each micro-batch's *summed* loss divided by that global count
(times the world size, since DDP averages gradients). The step's loss is then the mean over every
trained token of the step, not a mean of per-batch means. bf16 autocast on GPU, per-layer
`torch.compile` (the mask creation stays eager so unpacked rows keep SDPA's is_causal/flash path),
fused AdamW, cosine LR with warmup, gradient clipping, periodic held-out eval, checkpoints with
exact resume, tokens/s and MFU to stdout, RUN/log.jsonl and optionally TensorBoard.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._dynamo

from . import checkpoint as C
from . import distributed as D
from .callbacks import Callback, StepInfo
from .config import TrainConfig, parse_lora
from .data import (
    Prefetcher,
    RowConverter,
    ShardStream,
    batches,
    detect_kind,
    list_shards,
    scan_units,
    split_holdout,
)
from .lineage import data_lineage, find_chat_template, read_text, write_lineage
from .mfu import flops_per_token, peak_flops
from .model import (
    CausalLMLoss,
    build_model,
    compile_losses,
    dpo_loss_sum,
    generation_config,
    load_tokenizer,
    set_causal_only,
)
from .presets import FSDP_PRESETS
from .schedule import cosine_lr

TASK_KINDS = {"pretrain": ("tokens", "text"), "sft": ("sft",), "dpo": ("dpo",)}


@dataclass
class TrainResult:
    """What a finished run reports (also in RUN/log.jsonl and RUN/lineage.json)."""

    run_dir: Path
    steps: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    tokens: int = 0
    tokens_per_s: float | None = None
    mfu: float | None = None
    elapsed_s: float = 0.0


def pretrain(config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any) -> TrainResult:
    """Pretrain from tokenized (or text) shards. `config` fields can also be given as keywords;
    each of `callbacks` gets a `StepInfo` after every optimizer step."""
    return run(_config(config, kw, "pretrain"), callbacks)


def sft(config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any) -> TrainResult:
    """Supervised fine-tuning on SFT shards (`input_ids`, `labels`), usually with init_from=a run dir."""
    return run(_config(config, kw, "sft"), callbacks)


def dpo(config: TrainConfig | dict | None = None, callbacks: Sequence[Callback] = (), **kw: Any) -> TrainResult:
    """DPO on preference shards, with a frozen copy of init_from (or the LoRA-free base) as reference."""
    return run(_config(config, kw, "dpo"), callbacks)


def _config(config, kw, task) -> TrainConfig:
    if config is None:
        config = TrainConfig()
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    d = config.to_dict()
    d.update(kw)
    d["task"] = task
    return TrainConfig.from_dict(d)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _apply_lora(model, spec: dict):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:  # optional dependency
        raise RuntimeError("--lora needs the `peft` package (pip install peft)") from e
    return get_peft_model(model, LoraConfig(r=spec["r"], lora_alpha=spec["alpha"], lora_dropout=spec["dropout"],
                                            target_modules=spec["targets"], task_type="CAUSAL_LM"))


def _optimizer(model, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not norms/biases); fused kernel on GPU."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8, fused=fused)


def _to(b: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in b.items()}


class _Logger:
    def __init__(self, run_dir: Path, main: bool, tensorboard: bool):
        self.main, self.path, self.tb = main, run_dir / "log.jsonl", None
        if main and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                print("tensorboard is not installed; logging to stdout and log.jsonl only")

    def truncate_after(self, step: int) -> None:
        """On resume, drop log lines of steps the checkpoint does not contain."""
        if self.main and self.path.is_file():
            keep = [ln for ln in self.path.read_text().splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= step]
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


def run(cfg: TrainConfig, callbacks: Sequence[Callback] = ()) -> TrainResult:
    """Run one training job to cfg.max_steps (resuming from RUN/checkpoints/latest when present),
    calling each of `callbacks` with a `StepInfo` after every optimizer step."""
    if cfg.task not in TASK_KINDS:
        raise ValueError(f"unknown task {cfg.task!r}; choose pretrain, sft or dpo")
    if not cfg.data or not cfg.out:
        raise ValueError("data and out are required")
    info = D.setup(cfg.device)
    # _run sets process-wide torch switches (threads, determinism, flush-denormal); a library call
    # must leave the caller's process as it found it.
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return _run(cfg, info, list(callbacks))
    finally:
        D.teardown()
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_flush_denormal(False)


def _run(cfg: TrainConfig, info: D.DistInfo, callbacks: list[Callback]) -> TrainResult:
    t_start = time.perf_counter()
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    cuda = info.device.type == "cuda"
    if not cuda:
        torch.set_flush_denormal(True)  # tiny losses make subnormal Adam states, very slow on CPUs
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run_dir = Path(cfg.out)
    if info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.yaml")
    D.barrier()

    # -- data --------------------------------------------------------------------------------
    tok_src = cfg.tokenizer or cfg.init_from
    if not tok_src:
        raise ValueError("give --tokenizer DIR (or --from a run/model directory that holds one)")
    tok = load_tokenizer(tok_src)
    files = list_shards(cfg.data)
    kind = detect_kind(files, cfg.task)
    data_template = find_chat_template(cfg.data) if kind in ("sft", "dpo") else None
    if data_template is not None and read_text(data_template) != (tok.chat_template or ""):
        # the SFT stage writes the template that rendered its rows: the saved model must carry it
        tok.chat_template = read_text(data_template)
        if info.main:
            print(f"chat template: {data_template} (the template the rows were rendered with)")
    if kind not in TASK_KINDS[cfg.task]:
        raise ValueError(f"{cfg.task} needs {' or '.join(TASK_KINDS[cfg.task])} shards; {cfg.data} holds {kind} rows")
    units = scan_units(files, kind)
    if not units:
        raise ValueError(f"{cfg.data}: no {kind} rows to train on")
    used = {u.path for u in units}
    files = [f for f in files if str(f) in used]  # e.g. an SFT run skips the preference shards
    if cfg.eval_data:
        eval_files = list_shards(cfg.eval_data)
        train_units, eval_units = units, scan_units(eval_files, kind)
        eval_files = [f for f in eval_files if str(f) in {u.path for u in eval_units}]
    else:
        eval_files = None
        train_units, eval_units = split_holdout(units, cfg.eval_rows)
    conv = RowConverter(kind, seq_len=cfg.seq_len, tokenizer=tok, eos_id=tok.eos_token_id,
                        doc_attention=cfg.doc_attention)
    stream = ShardStream(train_units, kind, conv, seed=cfg.seed, rank=info.rank, world=info.world,
                         shuffle_buffer=cfg.shuffle_buffer)

    # -- model -------------------------------------------------------------------------------
    _seed_all(cfg.seed)  # identical initial weights on every rank
    model = build_model(cfg.preset, tok, cfg.init_from, max_positions=cfg.seq_len)
    lora = parse_lora(cfg.lora)
    if lora:
        model = _apply_lora(model, lora)
    model.to(info.device)
    hf_model = model.get_base_model() if hasattr(model, "get_base_model") else model
    # unpacked rows (no per-document restarts) need no attention mask: plain causal SDPA
    packed = any(c in stream.columns for c in ("position_ids", "doc_lens"))
    set_causal_only(hf_model, not packed)
    train_module = CausalLMLoss(model)
    ref_module = None
    if cfg.task == "dpo" and not lora:
        ref_module = CausalLMLoss(copy.deepcopy(model).eval().requires_grad_(False))
    fsdp = info.world > 1 and (cfg.parallel == "fsdp" or (cfg.parallel == "auto" and cfg.preset in FSDP_PRESETS
                                                             and not cfg.init_from))
    wrapped = D.wrap(train_module, info, "fsdp" if fsdp else "ddp", layers=D.decoder_layers(model))
    optimizer = _optimizer(model, cfg, info.device)
    use_compile = cfg.compile == "true" or (cfg.compile == "auto" and cuda)
    whole = use_compile and not packed and not fsdp
    if use_compile:
        # one graph serves every block; leave room for a few shape variants (SFT lengths)
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        for m in [train_module] + ([ref_module] if ref_module is not None else []):
            if whole:
                m.compile()  # model + loss in one graph (nanoGPT-style)
            else:
                # packed rows / FSDP: compile the blocks; mask creation stays eager, so it can
                # tell packed batches from plain ones
                for layer in D.decoder_layers(m.model):
                    layer.compile()
    compile_losses(use_compile and not whole)
    bf16 = cfg.dtype == "bf16" or (cfg.dtype == "auto" and cuda)
    autocast = (torch.autocast(info.device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext())

    step, data_state = 0, (0, 0, 0)
    log = _Logger(run_dir, info.main, cfg.tensorboard)
    ck = C.latest(run_dir) if cfg.resume else None
    tokens_seen = 0
    if ck is not None:
        step, data_state, meta = C.load(ck, model, optimizer, info=info, fsdp=fsdp)
        tokens_seen = meta.get("tokens", 0)
        log.truncate_after(step)
        if info.main:
            print(f"resumed from {ck} at step {step}")
    elif info.main and log.path.exists():
        log.path.unlink()

    n_params = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    peak = peak_flops(info.device, cfg.peak_tflops)
    if info.main:
        print(f"{cfg.task}: {kind} shards={len(files)} params={n_params/1e6:.2f}M trainable={n_train/1e6:.2f}M "
              f"world={info.world} device={info.device} bf16={bf16} compile={use_compile} "
              f"{'fsdp' if fsdp else 'ddp' if info.world > 1 else 'single'}")

    def loss_sum(b):
        """(summed loss, extra stats) of one micro-batch."""
        args = (b["input_ids"], b["targets"], b.get("position_ids"))
        if cfg.task != "dpo":
            return wrapped(*args), {}
        policy = -wrapped(*args, per_row=True)
        with torch.no_grad():
            if ref_module is not None:
                ref = -ref_module(*args, per_row=True)
            else:
                with model.disable_adapter():
                    ref = -train_module(*args, per_row=True)
        return dpo_loss_sum(policy, ref, cfg.dpo_beta)

    eval_cache: list | None = None

    def evaluate() -> float | None:
        nonlocal eval_cache
        if not eval_units:
            return None
        if eval_cache is None:
            es = ShardStream(eval_units, kind, conv, seed=cfg.seed, rank=info.rank, world=info.world,
                             shuffle=False, loop=False, split_rows=True)
            eval_cache = []
            for b, _ in batches(es, cfg.batch_size, tok.pad_token_id):
                eval_cache.append(b)
                if len(eval_cache) >= cfg.eval_batches:
                    break
        n_b = D.all_reduce(torch.tensor(len(eval_cache), device=info.device), op=torch.distributed.ReduceOp.MIN
                           if info.world > 1 else None)
        wrapped.eval()
        tot = torch.zeros(2, device=info.device, dtype=torch.float64)
        with torch.no_grad(), autocast:
            for b in eval_cache[: int(n_b)]:
                b = _to(b, info.device)
                ls, _ = loss_sum(b)
                tot[0] += ls.double()
                tot[1] += b["n"].double()
        wrapped.train()
        D.all_reduce(tot)
        return float(tot[0] / tot[1].clamp(min=1))

    # -- loop ----------------------------------------------------------------------------------
    pad_multiple = 128 if use_compile and kind in ("sft", "dpo") else 8
    it = Prefetcher(batches(stream, cfg.batch_size, tok.pad_token_id, data_state, multiple=pad_multiple),
                    depth=max(4, 2 * cfg.grad_accum), pin=cuda)
    result = TrainResult(run_dir=run_dir, steps=step)
    params = [p for p in model.parameters() if p.requires_grad]
    wrapped.train()
    t_last, tok_last, step_last = time.perf_counter(), 0, step
    tokens_this_run, last_T = 0, cfg.seq_len
    try:
        while step < cfg.max_steps:
            lr = cosine_lr(step, lr=cfg.lr, warmup=cfg.warmup_steps, total=cfg.max_steps, min_ratio=cfg.min_lr_ratio)
            for g in optimizer.param_groups:
                g["lr"] = lr
            mbs = [next(it) for _ in range(cfg.grad_accum)]
            data_state = mbs[-1][1]
            n_global = D.all_reduce(sum(b["n"] for b, _ in mbs).to(info.device, torch.float32)).clamp(min=1)
            step_loss = torch.zeros((), device=info.device, dtype=torch.float32)
            for i, (b, _) in enumerate(mbs):
                b = _to(b, info.device)
                last_T = b["input_ids"].shape[1]
                tokens_this_run += b["input_ids"].numel() * info.world
                with D.no_grad_sync(wrapped, i < cfg.grad_accum - 1), autocast:
                    ls, _ = loss_sum(b)
                # DDP/FSDP average gradients over ranks; * world makes it sum / global count.
                (ls * (info.world / n_global)).backward()
                step_loss += ls.detach().float()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip > 0 else None
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_seen += int(sum(b["input_ids"].numel() for b, _ in mbs)) * info.world
            last = step == cfg.max_steps
            records, loss, ev, ck_path = [], None, None, None
            if step % max(1, cfg.log_interval) == 0 or last:
                loss = float(D.all_reduce(step_loss) / n_global)
                if cuda:
                    torch.cuda.synchronize()
                now = time.perf_counter()
                dt = now - t_last
                tps = (tokens_this_run - tok_last) / dt if dt > 0 else 0.0
                mfu = tps * flops_per_token(model, last_T) / (peak * info.world) if peak else None
                gn = float(grad_norm) if grad_norm is not None else None
                rec = {"kind": "train", "step": step, "loss": loss, "lr": lr, "grad_norm": gn,
                       "tokens": tokens_seen, "tokens_per_s": tps, "mfu": mfu,
                       "step_ms": 1000 * dt / max(1, step - step_last)}
                records.append(rec)
                result.losses.append((step, loss))
                if info.main:
                    m = f" mfu {100 * mfu:.1f}%" if mfu is not None else ""
                    print(f"step {step:6d} loss {loss:.4f} lr {lr:.2e} gnorm {gn or 0:.2f} "
                          f"{rec['step_ms']:.1f} ms/step {tps:,.0f} tok/s{m}", flush=True)
                if step > 1 or cfg.max_steps == 1:  # the first interval includes compilation
                    result.tokens_per_s, result.mfu = tps, mfu
                t_last, tok_last, step_last = time.perf_counter(), tokens_this_run, step
            if (cfg.eval_interval and step % cfg.eval_interval == 0) or last:
                ev = evaluate()
                if ev is not None:
                    records.append({"kind": "eval", "step": step, "loss": ev})
                    result.eval_losses.append((step, ev))
                    if info.main:
                        print(f"step {step:6d} eval loss {ev:.4f} (ppl {math.exp(min(ev, 50)):.2f})", flush=True)
                t_last = time.perf_counter()  # keep eval time out of tokens/s
            if (cfg.ckpt_interval and step % cfg.ckpt_interval == 0) or last:
                ck_path = C.save(run_dir, step, model, optimizer, data_state=data_state, info=info, fsdp=fsdp,
                                 meta={"tokens": tokens_seen}, keep=cfg.keep_checkpoints)
                t_last = time.perf_counter()
            if callbacks:
                si = StepInfo(step=step, max_steps=cfg.max_steps, lr=lr, tokens=tokens_seen, loss=loss,
                              eval_loss=ev, checkpoint=ck_path, run_dir=run_dir, model=model, tokenizer=tok,
                              device=info.device, rank=info.rank, world=info.world,
                              _set_inference=None if packed else lambda on: set_causal_only(hf_model, not on))
                for cb in callbacks:
                    cb(si)
                if si.fields:
                    if records and records[0]["kind"] == "train":
                        records[0].update(si.fields)
                    else:
                        records.insert(0, {"kind": "callback", "step": step, **si.fields})
                t_last = time.perf_counter()  # keep callback time out of tokens/s
            for rec in records:
                log(rec)
    finally:
        it.close()
        log.close()

    result.steps, result.tokens = step, tokens_seen
    set_causal_only(hf_model, False)  # the saved config names plain "sdpa"
    _save_final(cfg, run_dir, model, tok, info, fsdp, lora is not None, files, eval_files, step, tokens_seen)
    result.elapsed_s = time.perf_counter() - t_start
    return result


def _save_final(cfg, run_dir, model, tok, info, fsdp, lora, files, eval_files, step, tokens) -> None:
    """A standard HF model directory: weights, config, generation config, tokenizer + chat template."""
    state = None
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if lora:
            # peft can neither save nor merge sharded (DTensor) weights: rank 0 rebuilds the model
            # unsharded on the CPU from the gathered state, then saves it as a single process would.
            if info.main:
                model = _apply_lora(build_model(cfg.preset, tok, cfg.init_from, max_positions=cfg.seq_len), parse_lora(cfg.lora))
                model.load_state_dict(state)
            state = None
    if info.main:
        out = model
        if lora:
            model.save_pretrained(str(run_dir / "adapter"))
            out = model.merge_and_unload()
        out.generation_config = generation_config(tok)
        out.config.use_cache = True
        out.save_pretrained(str(run_dir), state_dict=state)
        tok.save_pretrained(str(run_dir))
        write_lineage(run_dir, task=cfg.task, data=data_lineage(cfg.data, files),
                      eval_data=data_lineage(cfg.eval_data, eval_files) if eval_files else None,
                      init_from=cfg.init_from, tokenizer=cfg.tokenizer or cfg.init_from, steps=step,
                      tokens=tokens, config=cfg.to_dict())
    D.barrier()
