"""What a training run is built from: its data, its model (wrapped for DDP/FSDP, compiled), its
optimizer. The loop (loop.py) only drives them.
"""

from __future__ import annotations

import contextlib
import copy
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._dynamo

from . import distributed
from .config import TrainConfig, parse_lora
from .data import (
    RowConverter,
    ShardStream,
    Unit,
    detect_kind,
    first_source,
    list_shards,
    scan_units,
    split_holdout,
)
from .fp8 import fp8_unavailable_reason
from .fused import KERNELS, FusedCausalLMLoss, unfusable_reason
from .lineage import find_chat_template, read_text
from .model import CausalLMLoss, build_model, compile_losses, dpo_loss_sum, load_tokenizer, set_causal_only
from .presets import FSDP_PRESETS
from .reward import RewardForward, bradley_terry_loss_sum, build_reward_model
from .vocab import check_vocab

# rm (the reward model) trains on the preference shards DPO reads
TASK_KINDS = {"pretrain": ("tokens", "text"), "sft": ("sft",), "dpo": ("dpo",), "rm": ("dpo",)}


@dataclass
class TrainData:
    """The run's tokenizer, shards and sample streams."""

    tokenizer: Any
    kind: str                            # tokens | text | sft | dpo (data.py)
    files: list                          # the training shards used
    eval_files: list | None              # --eval-data shards used (None: held out of `files`)
    eval_units: list[Unit]
    converter: RowConverter
    stream: ShardStream

    @property
    def packed(self) -> bool:
        """Rows restart positions per document/conversation (needs a block-diagonal mask)."""
        return any(c in self.stream.columns for c in ("position_ids", "doc_lens"))


def build_data(cfg: TrainConfig, info: distributed.DistInfo) -> TrainData:
    """Load the tokenizer, find the shards (checking they suit the task) and open this rank's stream."""
    tok_src = cfg.tokenizer or cfg.init_from
    if not tok_src:
        raise ValueError("give --tokenizer DIR (or --from a run/model directory that holds one)")
    tok = load_tokenizer(tok_src)
    files = list_shards(cfg.data)
    kind = detect_kind(files, cfg.task)
    data_template = find_chat_template(first_source(cfg.data)) if kind in ("sft", "dpo") else None
    if data_template is not None and read_text(data_template) != (tok.chat_template or ""):
        # the SFT stage writes the template that rendered its rows: the saved model must carry it
        tok.chat_template = read_text(data_template)
        if info.main:
            print(f"chat template: {data_template} (the template the rows were rendered with)")
    if kind not in TASK_KINDS[cfg.task]:
        raise ValueError(
            f"{cfg.task} needs {' or '.join(TASK_KINDS[cfg.task])} shards; {cfg.data} holds {kind} rows"
        )
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
    return TrainData(tok, kind, files, eval_files, eval_units, conv, stream)


def seed_all(seed: int) -> None:
    """Seed Python, NumPy and torch (identical initial weights on every rank)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def apply_lora(model, spec: dict, task_type: str = "CAUSAL_LM"):
    """Wrap `model` in peft LoRA adapters (spec from config.parse_lora); SEQ_CLS for a reward
    model (peft then trains the score head in full beside the adapters)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:  # optional dependency
        raise RuntimeError("--lora needs the `peft` package (pip install peft)") from e
    return get_peft_model(
        model,
        LoraConfig(
            r=spec["r"],
            lora_alpha=spec["alpha"],
            lora_dropout=spec["dropout"],
            target_modules=spec["targets"],
            task_type=task_type,
        ),
    )


@dataclass
class TrainModel:
    """The model and the modules that train it: loss wrapper, DDP/FSDP wrapper, DPO reference."""

    model: torch.nn.Module               # the model (a PeftModel under LoRA)
    hf_model: torch.nn.Module            # the HF model inside it
    lora: dict | None
    loss_module: CausalLMLoss | RewardForward  # model + token losses (or rewards, for rm), unwrapped
    wrapped: torch.nn.Module             # loss_module under DDP/FSDP (itself in one process)
    ref_module: CausalLMLoss | None      # DPO's frozen reference (None: LoRA's disabled adapters)
    fsdp: bool
    compiled: bool
    dpo_beta: float | None               # None: a language-modelling loss
    reward: bool = False                 # a reward model: Bradley-Terry loss on its scores
    fused: bool = False                  # the fused forward (fused.py) instead of transformers'

    def loss_sum(self, b: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        """(summed loss, extra stats) of one micro-batch."""
        if self.reward:
            return bradley_terry_loss_sum(self.wrapped(b["input_ids"], b.get("position_ids")))
        args = (b["input_ids"], b["targets"], b.get("position_ids"))
        if self.dpo_beta is None:
            return self.wrapped(*args), {}
        policy = -self.wrapped(*args, per_row=True)
        with torch.no_grad():
            if self.ref_module is not None:
                ref = -self.ref_module(*args, per_row=True)
            else:
                with self.model.disable_adapter():
                    ref = -self.loss_module(*args, per_row=True)
        return dpo_loss_sum(policy, ref, self.dpo_beta)

    def trainable(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]


def make_model(cfg: TrainConfig, tok) -> torch.nn.Module:
    """The task's model before LoRA: a causal LM, or for rm a one-label sequence classifier."""
    make = build_reward_model if cfg.task == "rm" else build_model
    return make(cfg.preset, tok, cfg.init_from, max_positions=cfg.seq_len)


def build_train_model(cfg: TrainConfig, data: TrainData, info: distributed.DistInfo) -> TrainModel:
    """Build (or load) the model, add LoRA, wrap it for DDP/FSDP and compile it as the config says."""
    seed_all(cfg.seed)  # identical initial weights on every rank
    model = make_model(cfg, data.tokenizer)
    check_vocab(cfg, data.stream.units + data.eval_units, data.kind, data.tokenizer,
                model.get_input_embeddings().num_embeddings)
    lora = parse_lora(cfg.lora)
    reward = cfg.task == "rm"
    if lora:
        model = apply_lora(model, lora, "SEQ_CLS" if reward else "CAUSAL_LM")
    model.to(info.device)
    hf_model = model.get_base_model() if hasattr(model, "get_base_model") else model
    # unpacked rows (no per-document restarts) need no attention mask: plain causal SDPA
    set_causal_only(hf_model, not data.packed)
    fsdp = info.world > 1 and (
        cfg.parallel == "fsdp"
        or (cfg.parallel == "auto" and cfg.preset in FSDP_PRESETS and not cfg.init_from)
    )
    fused = use_fused(cfg, hf_model, lora, fsdp, info)
    if cfg.fp8:
        why = fp8_unavailable_reason(info.device)
        if not fused:
            why = why or "it needs the fused forward, not used here (kernels, task, LoRA, FSDP)"
        if why:
            raise ValueError(f"fp8: true cannot run here: {why}")
    use_compile = cfg.compile == "true" or (cfg.compile == "auto" and info.device.type == "cuda")
    if fused:
        loss_module = FusedCausalLMLoss(hf_model, attention=cfg.attention, loss_chunk=cfg.loss_chunk,
                                        compile=use_compile, compile_mode=cfg.compile_mode, fp8=cfg.fp8)
    else:
        loss_module = RewardForward(model) if reward else CausalLMLoss(model)
    ref_module = None
    if cfg.task == "dpo" and not lora:
        ref_module = CausalLMLoss(copy.deepcopy(model).eval().requires_grad_(False))
    wrapped = distributed.wrap(
        loss_module, info, "fsdp" if fsdp else "ddp", layers=distributed.decoder_layers(model)
    )
    whole = use_compile and not data.packed and not fsdp
    if use_compile and not fused:
        # one graph serves every block; leave room for a few shape variants (SFT lengths)
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        for m in [loss_module] + ([ref_module] if ref_module is not None else []):
            if whole:
                m.compile()  # model + loss in one graph (nanoGPT-style)
            else:
                # packed rows / FSDP: compile the blocks; mask creation stays eager, so it can
                # tell packed batches from plain ones
                for layer in distributed.decoder_layers(m.model):
                    layer.compile()
    compile_losses(use_compile and not whole and not fused)
    return TrainModel(model, hf_model, lora, loss_module, wrapped, ref_module, fsdp, use_compile,
                      cfg.dpo_beta if cfg.task == "dpo" else None, reward, fused)


def use_fused(cfg: TrainConfig, hf_model, lora: dict | None, fsdp: bool, info: distributed.DistInfo) -> bool:
    """Whether the run trains through the fused forward (fused.py): `kernels: fused` asks for it
    (an error where it cannot run), `auto` takes it on GPU for pretrain/SFT of a plain Llama
    model on one process or under DDP; DPO, LoRA and FSDP keep transformers' forward."""
    if cfg.kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, not {cfg.kernels!r}")
    if cfg.kernels == "plain":
        return False
    why = unfusable_reason(hf_model)
    if cfg.task == "dpo":
        why = why or "DPO scores rows one by one"
    if cfg.task == "rm":
        why = why or "the reward model scores through its own head"
    if lora:
        why = why or "LoRA adapters wrap the projections"
    if fsdp:
        why = why or "FSDP shards the weights the fused matmuls concatenate"
    if cfg.kernels == "fused" and why:
        raise ValueError(f"kernels: fused cannot run here: {why}")
    return why is None and (cfg.kernels == "fused" or info.device.type == "cuda")


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not norms/biases); fused kernel on GPU."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8, fused=fused)


def uses_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    return cfg.dtype == "bf16" or (cfg.dtype == "auto" and device.type == "cuda")


def autocast_context(cfg: TrainConfig, device: torch.device):
    """bf16 autocast on GPU (or when asked for); a no-op context otherwise. Reusable."""
    if uses_bf16(cfg, device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_run_dir(cfg: TrainConfig, info: distributed.DistInfo) -> Path:
    """Create RUN and write the resolved config (rank 0), then wait for every rank."""
    run_dir = Path(cfg.out)
    if info.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.yaml")
    distributed.barrier()
    return run_dir
