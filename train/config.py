"""Run configuration: one dataclass, filled from defaults < YAML file < command-line flags.

The resolved config is written to RUN/config.yaml so a run can be repeated or resumed from it.
PyYAML is imported lazily: transformers itself requires it, so it is present wherever `train/`
can run (the import whitelist test allows it for that reason).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    """Everything a pretrain / SFT / DPO run needs. Field names are the YAML keys and CLI flags."""

    task: str = "pretrain"                 # pretrain | sft | dpo
    data: str | list[str] = ""             # shard directories (OUT/data), Parquet files or globs
    out: str = ""                          # the run directory
    tokenizer: str | None = None           # tokenizer directory (defaults to init_from's)
    preset: str | None = "tiny"            # model preset, used when init_from is not given
    init_from: str | None = None           # a run dir or any local HF model directory
    eval_data: str | None = None           # held-out shards; default: the tail rows of `data`
    eval_rows: int = 256                   # rows held out of `data` when eval_data is not given
    seq_len: int = 256                     # model context for text / padded batches
    batch_size: int = 8                    # rows per micro-batch (per rank)
    grad_accum: int = 1                    # micro-batches per optimizer step (per rank)
    max_steps: int = 100
    lr: float | None = None                # None: the preset's (presets.PRESET_LR), 3e-4 with init_from
    min_lr_ratio: float = 0.1              # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 10
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    seed: int = 0
    shuffle_buffer: int = 4096             # rows per shuffle window (whole row groups are read)
    doc_attention: bool = False            # pretrain rows with doc_lens/position_ids: attend within a
    #                                        document only (default: across documents, GPT-2/nanoGPT style)
    eval_interval: int = 50                # 0 = only at the end
    eval_batches: int = 8
    log_interval: int = 10
    ckpt_interval: int = 0                 # 0 = only at the end
    keep_checkpoints: int = 2
    resume: bool = True                    # continue from RUN/checkpoints/latest if present
    device: str = "auto"                   # auto | cpu | cuda
    dtype: str = "auto"                    # auto (bf16 autocast on GPU) | fp32 | bf16
    compile: str = "auto"                  # auto (on GPU) | true | false
    compile_mode: str = "default"          # torch.compile mode: default | max-autotune-no-cudagraphs | ...
    kernels: str = "auto"                  # auto (fused forward on GPU where it can run) | fused | plain
    attention: str = "auto"                # fused path: auto | cudnn | flash | efficient | math | flex
    loss_chunk: int = 0                    # fused path: >0 = linear + cross entropy in chunks of this
    #                                        many tokens, logits never stored whole (0: whole logits)
    fp8: bool = False                      # fused path: block matmuls with FP8 operands, dynamic
    #                                        tensorwise scales (train/fp8.py); CUDA, capability >= 8.9
    parallel: str = "auto"                 # auto | ddp | fsdp
    lora: str | None = None                # "r=16,alpha=32[,dropout=0.05,targets=q_proj+v_proj]"
    dpo_beta: float = 0.1
    tensorboard: bool = False
    progress: str = "auto"                 # auto (a bar on a terminal) | bar | log (step lines only) | quiet
    peak_tflops: float | None = None       # for MFU; default from the GPU name
    deterministic: bool = False            # torch.use_deterministic_algorithms (CPU tests)
    num_threads: int | None = None         # torch CPU threads
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; valid keys: {sorted(names)}")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Read a YAML (or JSON) file, then apply non-None overrides."""
        text = Path(path).read_text()
        if str(path).endswith(".json"):
            d = json.loads(text)
        else:
            import yaml  # a hard dependency of transformers

            d = yaml.safe_load(text) or {}
        d.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_dict(d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML (JSON if PyYAML is missing)."""
        try:
            import yaml

            Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        except ImportError:
            Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def parse_lora(spec: str | None) -> dict[str, Any] | None:
    """'r=16,alpha=32,dropout=0.05,targets=q_proj+v_proj' -> dict; None/'' -> None."""
    if not spec:
        return None
    out: dict[str, Any] = {
        "r": 16,
        "alpha": 32,
        "dropout": 0.0,
        "targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    }
    for part in spec.split(","):
        if not part.strip():
            continue
        k, _, v = part.partition("=")
        k = k.strip()
        if k in ("r", "alpha"):
            out[k] = int(v)
        elif k == "dropout":
            out[k] = float(v)
        elif k == "targets":
            out[k] = [t for t in v.split("+") if t]
        else:
            raise ValueError(f"unknown LoRA option {k!r} in {spec!r}; use r, alpha, dropout, targets")
    return out
