"""Training throughput: curate's loop vs HF Trainer (torch_compile=True), same model/data/batch.

    python bench/train.py --preset gpt2-124m --batch-size 16 --steps 50 [--no-hf] [--nproc 2]

Writes synthetic token shards (random tokens, GPT-2's vocabulary size) and reads them with the
real streaming loader. Each implementation runs in its own process (torchrun for --nproc > 1);
tokens/s is taken after the first log interval (compilation excluded), MFU with nanoGPT's formula
against the GPU's dense bf16 peak (989 TFLOP/s on H100/H200). Prints a table with the ratio.
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
import statistics  # noqa: E402
import subprocess  # noqa: E402
from pathlib import Path  # noqa: E402

from _bench_common import REPO, import_curate_train, synthetic_shards, synthetic_tokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent


def ours(a) -> None:
    """One training run through curate.train.loop.pretrain (called under torchrun when --nproc > 1)."""
    import_curate_train()
    from curate.train.loop import pretrain

    res = pretrain(data=a.data, tokenizer=a.tokenizer, out=a.out, preset=a.preset, batch_size=a.batch_size,
                   grad_accum=a.grad_accum, max_steps=a.steps, log_interval=a.log_interval, eval_interval=0,
                   eval_rows=0, warmup_steps=5, lr=6e-4, parallel=a.parallel, resume=False,
                   compile=a.compile, seed=0)
    if int(os.environ.get("RANK", "0")) == 0:
        recs = [json.loads(x) for x in Path(a.out, "log.jsonl").read_text().splitlines()]
        recs = [r for r in recs if r["kind"] == "train"][1:]  # the first interval includes compilation
        out = {"impl": "curate", "preset": a.preset, "batch_size": a.batch_size, "grad_accum": a.grad_accum,
               "world": int(os.environ.get("WORLD_SIZE", "1")), "parallel": a.parallel,
               "tokens_per_s": statistics.median(r["tokens_per_s"] for r in recs),
               "mfu": statistics.median(r["mfu"] for r in recs) if recs[0]["mfu"] is not None else None,
               "step_ms": statistics.median(r["step_ms"] for r in recs),
               "final_loss": res.losses[-1][1], "steps": res.steps}
        print(json.dumps(out))
        if a.json:
            Path(a.json).write_text(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", default="all", choices=["all", "ours"])
    ap.add_argument("--preset", default="gpt2-124m")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--log-interval", type=int, default=10)
    ap.add_argument("--nproc", type=int, default=1)
    ap.add_argument("--parallel", default="auto")
    ap.add_argument("--compile", default="auto")
    ap.add_argument("--no-hf", action="store_true")
    ap.add_argument("--work", default="/tmp/curate_bench")
    (
        ap.add_argument("--data"),
        ap.add_argument("--tokenizer"),
        ap.add_argument("--out"),
        ap.add_argument("--json"),
    )
    a = ap.parse_args()
    if a.role == "ours":
        return ours(a)

    work = Path(a.work)
    tok = synthetic_tokenizer(work / "tokenizer")
    rows = a.steps * a.batch_size * a.grad_accum * a.nproc + 1024
    data = synthetic_shards(work / f"shards_{a.seq_len}", rows, a.seq_len)
    tag = f"{a.preset}_b{a.batch_size}_n{a.nproc}"
    results = []
    cmd = [sys.executable, str(HERE / "train.py"), "--role", "ours", "--preset", a.preset,
           "--batch-size", str(a.batch_size), "--grad-accum", str(a.grad_accum), "--steps", str(a.steps),
           "--log-interval", str(a.log_interval), "--parallel", a.parallel, "--compile", a.compile,
           "--data", str(data), "--tokenizer", str(tok), "--out", str(work / f"run_{tag}"),
           "--json", str(work / f"ours_{tag}.json")]
    if a.nproc > 1:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={a.nproc}",
        ] + cmd[1:]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    subprocess.run(cmd, check=True, env=env, cwd=str(REPO))
    results.append(json.loads((work / f"ours_{tag}.json").read_text()))
    if not a.no_hf and a.nproc == 1:
        subprocess.run(
            [
                sys.executable,
                str(HERE / "train_hf.py"),
                "--preset",
                a.preset,
                "--batch-size",
                str(a.batch_size),
                "--steps",
                str(a.steps),
                "--data",
                str(data),
                "--tokenizer",
                str(tok),
                "--json",
                str(work / f"hf_{tag}.json"),
                "--out",
                str(work / f"hf_{tag}"),
            ],
            check=True,
            env=env,
            cwd=str(REPO),
        )
        results.append(json.loads((work / f"hf_{tag}.json").read_text()))
    print(f"\n{'impl':12s} {'preset':10s} {'B':>4s} {'GPUs':>4s} {'tok/s':>12s} {'MFU':>7s}")
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        print(f"{r['impl']:12s} {r['preset']:10s} {r['batch_size']:4d} {r.get('world', 1):4d} "
              f"{r['tokens_per_s']:12,.0f} {mfu:>7s}")
    if len(results) == 2:
        print(f"ratio curate / HF Trainer: {results[0]['tokens_per_s'] / results[1]['tokens_per_s']:.2f}x")
    if a.json:
        Path(a.json).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
