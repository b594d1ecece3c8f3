"""Training throughput: curate's loop vs nanoGPT's model.py and HF Trainer, same GPU, same model
size, same batch x seq, one command, one table with the ratios.

    python bench/train.py --preset gpt2-124m --batch-size 32 --steps 50 \\
        --arms nanogpt,plain,fused,fused+attention=cudnn,hf --nanogpt .bench/nanogpt

An arm is `nanogpt` (nanoGPT's own model.py, from an ignored copy: `--nanogpt DIR` or
$CURATE_NANOGPT; its timing is the anchor script's: 10 warm-up steps, then --steps timed on one
in-memory batch), `hf` (bench/train_hf.py: HF Trainer, torch_compile, bf16, fused AdamW) or a
curate run: `plain` (transformers' forward, `kernels: plain`) or `fused` (train/fused.py), each
optionally followed by `+key=value` TrainConfig overrides (`fused+attention=cudnn+loss_chunk=8192`)
or `+synthetic=1` (the loader replaced by one batch kept on the GPU: what the loader costs).

Synthetic token shards (random tokens, GPT-2's vocabulary size) are read with the real streaming
loader. Each arm runs in its own process (torchrun for --nproc > 1); curate's tokens/s is the median
over log intervals after the first (compilation excluded), MFU is nanoGPT's formula against the
GPU's dense bf16 peak (989 TFLOP/s on H100/H200), peak memory is torch.cuda.max_memory_allocated.
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
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _bench_common import REPO, import_curate_train, synthetic_shards, synthetic_tokenizer  # noqa: E402

HERE = Path(__file__).resolve().parent


def parse_arm(arm: str) -> tuple[str, dict]:
    """'fused+attention=cudnn+loss_chunk=8192' -> ('fused', {'attention': 'cudnn', 'loss_chunk': 8192})."""
    base, *rest = arm.split("+")
    kw: dict = {}
    for r in rest:
        k, _, v = r.partition("=")
        kw[k] = int(v) if v.lstrip("-").isdigit() else v
    return base, kw


def _keep_one_batch_on_gpu() -> None:
    """Replace the loop's loader by the first batch, on the GPU, forever (loader cost = 0)."""
    import torch

    import curate.train.loop as loop

    class OneBatch:
        def __init__(self, it, depth=4, pin=False):
            b, st = next(iter(it))
            dev = "cuda" if torch.cuda.is_available() else "cpu"
            self.item = ({k: v.to(dev) for k, v in b.items()}, st)

        def __iter__(self):
            return self

        def __next__(self):
            return self.item

        def close(self):
            pass

    loop.Prefetcher = OneBatch


def ours(a) -> None:
    """One training run through curate.train.loop.pretrain (called under torchrun when --nproc > 1)."""
    import_curate_train()
    from curate.train.loop import pretrain

    base, kw = parse_arm(a.arm)
    if kw.pop("synthetic", 0):
        _keep_one_batch_on_gpu()
    kw.setdefault("kernels", "plain" if base == "plain" else "fused" if a.device == "cpu" else "auto")
    res = pretrain(
        data=a.data,
        tokenizer=a.tokenizer,
        out=a.out,
        preset=a.preset,
        batch_size=a.batch_size,
        grad_accum=a.grad_accum,
        max_steps=a.steps,
        log_interval=a.log_interval,
        eval_interval=0,
        eval_rows=0,
        warmup_steps=5,
        lr=6e-4,
        parallel=a.parallel,
        resume=False,
        compile=a.compile,
        seed=0,
        seq_len=a.seq_len,
        device=a.device,
        progress="log",
        **kw,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        recs = [json.loads(x) for x in Path(a.out, "log.jsonl").read_text().splitlines()]
        recs = [r for r in recs if r["kind"] == "train"][1:] or recs[-1:]  # the first includes compilation
        out = {
            "impl": f"curate {a.arm}",
            "preset": a.preset,
            "batch_size": a.batch_size,
            "grad_accum": a.grad_accum,
            "world": int(os.environ.get("WORLD_SIZE", "1")),
            "parallel": a.parallel,
            "tokens_per_s": statistics.median(r["tokens_per_s"] for r in recs),
            "mfu": statistics.median(r["mfu"] for r in recs) if recs[0]["mfu"] is not None else None,
            "step_ms": statistics.median(r["step_ms"] for r in recs),
            "peak_mem_gb": recs[-1].get("peak_mem_gb"),
            "final_loss": res.losses[-1][1],
            "loss_last20": statistics.mean(v for _, v in res.losses[-20:]),  # less noisy than one step
            "steps": res.steps,
        }
        print(json.dumps(out))
        Path(a.json).write_text(json.dumps(out))


def nanogpt(a) -> None:
    """nanoGPT's own model.py at the preset's shape (the anchor script's timing), in this process."""
    import torch

    import_curate_train()
    from curate.train.presets import PRESETS

    sys.path.insert(0, str(Path(a.nanogpt).resolve()))
    from model import GPT, GPTConfig  # nanoGPT's, from the ignored copy

    p = PRESETS[a.preset]
    if p["num_key_value_heads"] != p["num_attention_heads"]:
        raise SystemExit(f"nanoGPT has no grouped-query attention: no nanogpt arm for {a.preset}")
    L, H, D, B, T = (
        p["num_hidden_layers"],
        p["num_attention_heads"],
        p["hidden_size"],
        a.batch_size,
        a.seq_len,
    )
    dev = a.device
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    cfg = GPTConfig(block_size=T, vocab_size=50304, n_layer=L, n_head=H, n_embd=D, dropout=0.0, bias=False)
    model = GPT(cfg).to(dev)
    opt = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), dev)
    cmodel = torch.compile(model) if a.compile != "false" else model
    x = torch.randint(0, 50304, (B, T + 1), device=dev)
    X, Y = x[:, :-1].contiguous(), x[:, 1:].contiguous()
    ctx = torch.amp.autocast(device_type=dev, dtype=torch.bfloat16, enabled=dev == "cuda")

    def step():
        with ctx:
            _, loss = cmodel(X, Y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    def sync():
        if dev == "cuda":
            torch.cuda.synchronize()

    for _ in range(10):
        step()
    sync()
    t = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    dt = (time.perf_counter() - t) / a.steps
    N = model.get_num_params()
    tps = B * T / dt
    peak = 989e12 if dev == "cuda" else None
    out = {
        "impl": "nanogpt",
        "preset": a.preset,
        "batch_size": B,
        "world": 1,
        "tokens_per_s": tps,
        "mfu": tps * (6 * N + 12 * L * D * T) / peak if peak else None,
        "step_ms": 1000 * dt,
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else None,
        "final_loss": float(loss),
        "params": N,
    }
    print(json.dumps(out))
    Path(a.json).write_text(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role", default="all", choices=["all", "ours", "nanogpt"])
    ap.add_argument("--arms", default="plain,fused,hf", help="comma-separated arms (module docstring)")
    ap.add_argument("--arm", default="fused")
    ap.add_argument("--preset", default="gpt2-124m")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--log-interval", type=int, default=10)
    ap.add_argument("--nproc", type=int, default=1)
    ap.add_argument("--parallel", default="auto")
    ap.add_argument("--compile", default="auto")
    ap.add_argument("--device", default="cuda", help="cpu: a smoke run of the script, no timing meaning")
    ap.add_argument(
        "--nanogpt",
        default=os.environ.get("CURATE_NANOGPT"),
        help="folder holding nanoGPT's model.py (an ignored copy; never committed)",
    )
    ap.add_argument("--no-hf", action="store_true", help="drop the hf arm")
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
    if a.role == "nanogpt":
        return nanogpt(a)

    work = Path(a.work)
    tok = synthetic_tokenizer(work / "tokenizer")
    rows = a.steps * a.batch_size * a.grad_accum * a.nproc + 1024
    data = synthetic_shards(work / f"shards_{a.seq_len}", rows, a.seq_len)
    arms = [x for x in a.arms.split(",") if x and not (x == "hf" and (a.no_hf or a.nproc > 1))]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    common = [
        "--preset",
        a.preset,
        "--batch-size",
        str(a.batch_size),
        "--steps",
        str(a.steps),
        "--seq-len",
        str(a.seq_len),
        "--device",
        a.device,
        "--compile",
        a.compile,
    ]
    results = []
    for i, arm in enumerate(arms):
        js = work / f"arm{i}_{a.preset}_b{a.batch_size}_n{a.nproc}.json"
        js.unlink(missing_ok=True)
        if arm == "nanogpt":
            if not a.nanogpt:
                raise SystemExit(
                    "the nanogpt arm needs --nanogpt DIR (or CURATE_NANOGPT): nanoGPT's model.py"
                )
            cmd = [
                sys.executable,
                str(HERE / "train.py"),
                "--role",
                "nanogpt",
                "--nanogpt",
                a.nanogpt,
                "--json",
                str(js),
                *common,
            ]
        elif arm == "hf":
            cmd = [
                sys.executable,
                str(HERE / "train_hf.py"),
                "--preset",
                a.preset,
                "--batch-size",
                str(a.batch_size),
                "--steps",
                str(a.steps + 10),
                "--data",
                str(data),
                "--tokenizer",
                str(tok),
                "--json",
                str(js),
                "--out",
                str(work / f"hf_{i}"),
            ]
            if a.device == "cpu":
                cmd.append("--cpu-smoke")
        else:
            cmd = [
                sys.executable,
                str(HERE / "train.py"),
                "--role",
                "ours",
                "--arm",
                arm,
                *common,
                "--grad-accum",
                str(a.grad_accum),
                "--log-interval",
                str(a.log_interval),
                "--parallel",
                a.parallel,
                "--data",
                str(data),
                "--tokenizer",
                str(tok),
                "--out",
                str(work / f"run_{i}"),
                "--json",
                str(js),
            ]
            if a.nproc > 1:
                cmd = [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--standalone",
                    f"--nproc_per_node={a.nproc}",
                ] + cmd[1:]
        print(f"== arm {arm}", flush=True)
        r = subprocess.run(cmd, env=env, cwd=str(REPO))
        if r.returncode != 0 or not js.exists():
            print(f"arm {arm} failed (exit {r.returncode})", flush=True)
            continue
        res = json.loads(js.read_text())
        res["arm"] = arm
        results.append(res)
    print_table(results)
    if a.json:
        Path(a.json).write_text(json.dumps(results))


def print_table(results: list[dict]) -> None:
    ref = {r["arm"]: r["tokens_per_s"] for r in results if r["arm"] in ("nanogpt", "hf")}
    print(
        f"\n{'arm':40s} {'preset':10s} {'B':>3s} {'tok/s':>10s} {'MFU':>6s} {'peak GB':>8s} "
        f"{'vs nanoGPT':>10s} {'vs HF':>6s} {'loss, last 20 steps':>19s}"
    )
    for r in results:
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "-"
        mem = f"{r['peak_mem_gb']:.1f}" if r.get("peak_mem_gb") is not None else "-"
        vs = [f"{r['tokens_per_s'] / ref[k]:.3f}x" if k in ref else "-" for k in ("nanogpt", "hf")]
        loss = r.get("loss_last20", r.get("final_loss"))
        loss = f"{loss:.4f}" if loss is not None else "-"
        print(
            f"{r['arm']:40s} {r['preset']:10s} {r['batch_size']:3d} {r['tokens_per_s']:10,.0f} {mfu:>6s} "
            f"{mem:>8s} {vs[0]:>10s} {vs[1]:>6s} {loss:>19s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
