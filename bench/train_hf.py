"""Reference: HF `Trainer` (torch_compile=True, bf16, fused AdamW) on the same model, data and batch.

    python bench/train_hf.py --preset gpt2-124m --batch-size 16 --steps 40 --data DIR --tokenizer DIR \\
        --json OUT

Tokens/s is measured between the end of step `--warmup-steps` and the last step (compilation
excluded), with the GPU synchronised at both ends; MFU uses nanoGPT's flops-per-token formula.
"""

from __future__ import annotations

import os
import sys

# bench/ holds a tokenize.py that would shadow the standard library's when bench/ is sys.path[0]:
# move bench/ behind the standard library (it is still needed for _bench_common).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from _bench_common import import_curate_train  # noqa: E402

import_curate_train()

import pyarrow.parquet as pq  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from curate.train.data import list_shards  # noqa: E402
from curate.train.mfu import flops_per_token, peak_flops  # noqa: E402
from curate.train.model import load_tokenizer  # noqa: E402
from curate.train.presets import preset_config, round_vocab  # noqa: E402


class Rows(torch.utils.data.Dataset):
    """The same tokenized rows our loader reads: input_ids = row[:-1] (HF shifts labels itself)."""

    def __init__(self, data: str):
        cols = [pq.read_table(f, columns=["input_ids"]).column("input_ids") for f in list_shards(data)]
        self.rows = [r for c in cols for r in c.to_pylist()]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        ids = torch.tensor(self.rows[i][:-1], dtype=torch.long)
        return {"input_ids": ids, "labels": ids}


class Clock(TrainerCallback):
    def __init__(self, warm: int):
        self.warm, self.t0, self.t1, self.n = warm, None, None, 0

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= self.warm and torch.cuda.is_available():
            torch.cuda.synchronize()
        if state.global_step == self.warm:
            self.t0 = time.perf_counter()
        elif state.global_step > self.warm:
            self.t1, self.n = time.perf_counter(), state.global_step - self.warm


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpt2-124m")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup-steps", type=int, default=10)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", default="/tmp/hf_bench")
    ap.add_argument("--json", default=None)
    ap.add_argument("--cpu-smoke", action="store_true", help="check the script on a CPU (no bf16/compile)")
    a = ap.parse_args()
    gpu = not a.cpu_smoke
    tok = load_tokenizer(a.tokenizer)
    cfg = preset_config(a.preset, round_vocab(len(tok)), bos_token_id=tok.bos_token_id,
                        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa", dtype=torch.float32)
    ds = Rows(a.data)
    T = len(ds[0]["input_ids"])
    args = TrainingArguments(
        output_dir=a.out,
        per_device_train_batch_size=a.batch_size,
        gradient_accumulation_steps=1,
        max_steps=a.steps,
        learning_rate=6e-4,
        lr_scheduler_type="cosine",
        warmup_steps=5,
        weight_decay=0.1,
        adam_beta1=0.9,
        adam_beta2=0.95,
        max_grad_norm=1.0,
        bf16=gpu,
        torch_compile=gpu,
        use_cpu=not gpu,
        optim="adamw_torch_fused" if gpu else "adamw_torch",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        dataloader_num_workers=2,
        dataloader_pin_memory=True,
        remove_unused_columns=False,
        seed=0,
    )
    clock = Clock(a.warmup_steps)
    Trainer(model=model, args=args, train_dataset=ds, callbacks=[clock]).train()
    tps = clock.n * a.batch_size * T / (clock.t1 - clock.t0)
    peak = peak_flops(torch.device("cuda" if gpu else "cpu"))
    mfu = tps * flops_per_token(model, T) / peak if peak else None
    res = {"impl": "hf_trainer", "preset": a.preset, "batch_size": a.batch_size, "seq_len": T,
           "tokens_per_s": tps, "mfu": mfu, "steps_timed": clock.n,
           "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else None,
           "params": sum(p.numel() for p in model.parameters())}
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
