"""`curate train pretrain|sft|dpo|rm`, `curate generate`, `curate chat`: a thin layer over loop.py
and generate.py. Flags override a `--config` YAML file; the resolved config lands in RUN/config.yaml.
Multi-GPU: `torchrun --nproc_per_node N -m curate.train.cli pretrain ...` (same flags).
"""

from __future__ import annotations

import functools
import os
import sys

import click

from .config import TrainConfig
from .presets import FINETUNE_LR, PRESET_LR, PRESETS


class Refused(click.ClickException):
    """A run folder or input we will not use as it is (exit 2: fix the command, as for a usage error)."""

    exit_code = 2


# flag name -> TrainConfig field
_FLAGS = {
    "data": "data", "out": "out", "tokenizer": "tokenizer", "preset": "preset", "init_from": "init_from",
    "eval_data": "eval_data", "steps": "max_steps", "batch_size": "batch_size", "grad_accum": "grad_accum",
    "seq_len": "seq_len", "lr": "lr", "warmup": "warmup_steps", "eval_interval": "eval_interval",
    "ckpt_interval": "ckpt_interval", "log_interval": "log_interval", "lora": "lora", "device": "device",
    "compile": "compile", "dtype": "dtype", "seed": "seed", "parallel": "parallel", "beta": "dpo_beta",
    "tensorboard": "tensorboard", "progress": "progress", "resume": "resume",
    "doc_attention": "doc_attention", "weight_decay": "weight_decay", "grad_clip": "grad_clip",
    "fp8": "fp8",
}


def _default(name: str) -> str:
    """TrainConfig's default for a field, as --help shows it (flags default to None so that a
    --config file's value is only overridden by a flag actually given)."""
    v = TrainConfig.__dataclass_fields__[name].default
    return "on" if v is True else "off" if v is False else str(v)


def _opt(*decls, field: str, help: str = "", **kw):
    return click.option(*decls, help=f"{help}  [default: {_default(field)}]".strip(), **kw)


_LR_HELP = ("Peak learning rate. Default: the preset's (" +
            ", ".join(f"{k} {v:g}" for k, v in PRESET_LR.items()) + f"); {FINETUNE_LR:g} with --from.")


def _train_options(f):
    opts = [
        click.option(
            "--config",
            "config_file",
            type=click.Path(exists=True, dir_okay=False),
            help="YAML file with TrainConfig keys; flags given here override it.",
        ),
        click.option(
            "--data",
            multiple=True,
            help="Shard directory (OUT/data), Parquet file or glob (out/*/data); repeat for several.",
        ),
        click.option("-o", "--out", help="Run directory (created; resumed if it holds a checkpoint)."),
        click.option("--tokenizer", help="Tokenizer directory (default: the --from directory's)."),
        _opt(
            "--preset",
            field="preset",
            help="Model preset: " + ", ".join(PRESETS) + " (curate train presets).",
        ),
        click.option("--from", "init_from", help="Start from a run directory or a local HF model directory."),
        click.option("--eval-data", help="Held-out shards (default: the tail rows of --data)."),
        _opt("--steps", field="max_steps", type=int, help="Optimizer steps."),
        _opt("--batch-size", field="batch_size", type=int, help="Rows per micro-batch per GPU."),
        _opt("--grad-accum", field="grad_accum", type=int, help="Micro-batches per optimizer step."),
        _opt("--seq-len", field="seq_len", type=int, help="Row length for text shards packed on the fly."),
        click.option("--lr", type=float, help=_LR_HELP),
        _opt("--warmup", field="warmup_steps", type=int, help="Warmup steps."),
        _opt("--weight-decay", field="weight_decay", type=float),
        _opt("--grad-clip", field="grad_clip", type=float),
        _opt(
            "--eval-interval",
            field="eval_interval",
            type=int,
            help="Steps between held-out evals (0: at the end).",
        ),
        _opt(
            "--ckpt-interval",
            field="ckpt_interval",
            type=int,
            help="Steps between checkpoints (0: at the end).",
        ),
        _opt("--log-interval", field="log_interval", type=int),
        click.option("--lora", help="LoRA adapters, e.g. r=16,alpha=32 (needs peft)."),
        _opt("--device", field="device", type=click.Choice(["auto", "cpu", "cuda"])),
        _opt("--compile", field="compile", type=click.Choice(["auto", "true", "false"])),
        _opt("--dtype", field="dtype", type=click.Choice(["auto", "fp32", "bf16"])),
        _opt("--parallel", field="parallel", type=click.Choice(["auto", "ddp", "fsdp"])),
        _opt("--seed", field="seed", type=int),
        _opt(
            "--doc-attention/--no-doc-attention",
            field="doc_attention",
            default=None,
            help="Pretrain rows with doc_lens: attend within each document only.",
        ),
        _opt("--fp8/--no-fp8", field="fp8", default=None,
             help="FP8 matmuls in the fused forward's blocks (Ada/Hopper GPUs; lm_head stays bf16)."),
        _opt("--tensorboard/--no-tensorboard", field="tensorboard", default=None),
        _opt("--progress", field="progress", type=click.Choice(["auto", "bar", "log", "quiet"]),
             help="Per step: a bar with tokens/s and ETA (auto: on a terminal) and log lines; "
                  "log: lines only; quiet: neither."),
        _opt("--resume/--no-resume", field="resume", default=None,
             help="Continue from RUN/checkpoints/latest."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _config(task: str, config_file: str | None, flags: dict) -> TrainConfig:
    data = flags.pop("data", ())
    if data:  # one --data: a string (as in a YAML file); several: a list
        flags["data"] = data[0] if len(data) == 1 else list(data)
    over = {_FLAGS[k]: v for k, v in flags.items() if k in _FLAGS and v is not None}
    over["task"] = task
    cfg = TrainConfig.load(config_file, **over) if config_file else TrainConfig.from_dict(over)
    missing = [n for n, v in (("--data", cfg.data), ("-o/--out", cfg.out)) if not v]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)}")
    return cfg


def _run(task: str):
    def deco(f):
        @functools.wraps(f)
        def cmd(config_file, **flags):
            from . import loop
            from .checkpoint import CheckpointRefused
            from .model import UnsafeModelFile

            cfg = _config(task, config_file, flags)
            try:
                res = loop.run(cfg)
            except (CheckpointRefused, UnsafeModelFile) as e:
                raise Refused(str(e)) from None
            except (ValueError, FileNotFoundError) as e:
                raise click.ClickException(str(e)) from e
            last = res.losses[-1][1] if res.losses else float("nan")
            if os.environ.get("RANK", "0") == "0":
                click.echo(f"done: {res.steps} steps, final loss {last:.4f}, model saved to {res.run_dir}")
                if res.eval_metrics:
                    acc = res.eval_metrics[-1][1]["reward_acc"]
                    click.echo(f"held-out pairwise accuracy {acc:.3f} (chosen scored above rejected)")
        return cmd
    return deco


@click.group()
def train():
    """Train the bundled causal LM from curated shards (pretrain, sft, dpo, rm)."""


@train.command("presets")
def presets_cmd():
    """The model presets: shape, parameters at an 8k vocabulary, default learning rate."""
    from .presets import PRESETS, default_lr

    click.echo(
        f"{'preset':<10} {'layers':>6} {'hidden':>6} {'heads':>5} {'kv':>3} {'params@8k':>10} {'lr':>7}"
    )
    for name, p in PRESETS.items():
        h, n_layers, ff = p["hidden_size"], p["num_hidden_layers"], p["intermediate_size"]
        kv_dim = h // p["num_attention_heads"] * p["num_key_value_heads"]
        per_layer = 2 * h * h + 2 * h * kv_dim + 3 * h * ff + 2 * h
        params = n_layers * per_layer + 8192 * h * (1 if p["tie_word_embeddings"] else 2) + h
        click.echo(
            f"{name:<10} {n_layers:>6} {h:>6} {p['num_attention_heads']:>5} {p['num_key_value_heads']:>3} "
            f"{params / 1e6:>9.1f}M {default_lr(name, None):>7g}"
        )


@train.command("pretrain")
@_train_options
@_run("pretrain")
def pretrain_cmd(**kw):
    """Pretrain from tokenized (input_ids) or text shards:
    --data OUT/data --tokenizer DIR --preset small -o RUN."""


@train.command("sft")
@_train_options
@_run("sft")
def sft_cmd(**kw):
    """Supervised fine-tuning on SFT shards: --data SFT_OUT/data --from RUN -o RUN2 [--lora r=16,alpha=32]."""


@train.command("dpo")
@_train_options
@click.option(
    "--beta", type=float, help="DPO beta: how far the policy may move from the reference (default 0.1)."
)
@_run("dpo")
def dpo_cmd(**kw):
    """DPO on preference shards (chosen_/rejected_ input_ids + labels): --from SFT_RUN --beta 0.1 -o RUN3."""


@train.command("rm")
@_train_options
@_run("rm")
def rm_cmd(**kw):
    """A reward model on preference shards: --data SFT_OUT/data/preference [--from RUN] -o RM.
    Scalar head on the last non-pad token, Bradley-Terry loss, held-out pairwise accuracy; RM loads
    with AutoModelForSequenceClassification.from_pretrained."""


def _load_run(run_dir: str, device: str):
    """(model, tokenizer) from RUN_DIR; a weights file that could run code is refused (exit 2)."""
    from .generate import load_run
    from .model import UnsafeModelFile

    try:
        return load_run(run_dir, device)
    except UnsafeModelFile as e:
        raise Refused(str(e)) from None


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--prompt", "prompts", multiple=True, required=True, help="Prompt text (repeatable).")
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--top-k", type=int, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--device", default="auto", show_default=True)
def generate(run_dir, prompts, max_new_tokens, temperature, top_k, seed, device):
    """Continue each --prompt with the model in RUN_DIR."""
    from transformers.utils import logging as hf_logging

    from .generate import generate as gen

    hf_logging.disable_progress_bar()

    model, tok = _load_run(run_dir, device)
    for p in prompts:
        click.echo(p + gen(model, tok, p, max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                           seed=seed))


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--system", default=None, help="System message.")
@click.option("--message", "messages", multiple=True, help="User turn(s) to send without the prompt loop.")
@click.option("--max-new-tokens", type=int, default=256, show_default=True)
@click.option("--temperature", type=float, default=0.0, show_default=True)
@click.option("--top-k", type=int, default=None)
@click.option("--device", default="auto", show_default=True)
def chat(run_dir, system, messages, max_new_tokens, temperature, top_k, device):
    """Chat with the model in RUN_DIR through its chat template (empty line or EOF ends)."""
    from transformers.utils import logging as hf_logging

    from .generate import chat_reply

    hf_logging.disable_progress_bar()

    model, tok = _load_run(run_dir, device)
    history = [{"role": "system", "content": system}] if system else []

    def turn(text):
        history.append({"role": "user", "content": text})
        reply, _ = chat_reply(model, tok, history, max_new_tokens=max_new_tokens, temperature=temperature,
                              top_k=top_k)
        history.append({"role": "assistant", "content": reply})
        click.echo(reply)

    if messages:
        for m in messages:
            turn(m)
        return
    interactive = sys.stdin.isatty()
    while True:
        try:
            text = click.prompt("you", prompt_suffix="> ") if interactive else input()
        except (EOFError, click.Abort):
            break
        if not text.strip():
            break
        turn(text)


def main() -> None:
    """`python -m curate.train.cli pretrain ...` (the torchrun entry point)."""
    train()


if __name__ == "__main__":
    main()
