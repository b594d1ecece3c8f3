"""Packed SFT throughput: curate (many real conversations per 2,048-token row, attention kept inside
each conversation) vs HF Trainer on the same conversations per step, padded to the longest.

    python bench/train_sft.py prepare --instruct ../shared/data/instruct \\
        --books ../shared/data/clean_text/gutenberg --out .bench/data      # CPU, once
    python bench/train_sft.py run --data .bench/data --arms fused,plain,hf --steps 50 --batch-size 8

`prepare` trains a 32k byte-level BPE on Gutenberg books + the conversations, renders the real
conversations of LLaMA-Factory's demo sets (alpaca_en, alpaca_zh, glaive tool calls) in ChatML
(trained: the assistant turns and their <|im_end|>), packs them in order into rows of at most
2,048 tokens with restarting position_ids (`sft/`), and writes the books as tokenized pretrain rows
(`text/`, 1,025 tokens, for bench/train.py's real-text loss check).

`run` builds one gpt2-124m-shaped model (seed 0) that every arm starts from. The curate arms
(`fused`: train/fused.py with flex document masks; `plain`: transformers' forward with its packed
mask) train on the packed rows; the `hf` arm gets, at each step, exactly the conversations of that
step's packed rows (read back through curate's own stream, same seed), split in `--hf-micro`
micro-batches (gradient accumulation; default 8) each padded to its longest, HF Trainer with
torch_compile (`--hf-no-compile`: eager), bf16 and fused AdamW. Same constant LR, no warmup,
clip 1.0, loss averaged over trained tokens. Prints non-pad tokens/s (steps 10..end, GPU synchronised), peak
memory, and the per-step losses side by side.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _bench_common import REPO, import_curate_train  # noqa: E402

HERE = Path(__file__).resolve().parent
IGNORE = -100
SEQ = 2048


# ---------------------------------------------------------------- prepare (CPU)


def conversations(instruct: Path) -> list[list[dict]]:
    """The real conversations of the demo sets, as [{'role', 'content'}, ...]."""
    out = []
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        for r in json.loads((instruct / name).read_text()):
            user = r["instruction"] + (("\n\n" + r["input"]) if r.get("input") else "")
            out.append([{"role": "user", "content": user}, {"role": "assistant", "content": r["output"]}])
    roles = {"human": "user", "gpt": "assistant", "function_call": "assistant", "observation": "tool"}
    for r in json.loads((instruct / "glaive_toolcall_en_demo.json").read_text()):
        msgs = [{"role": "system", "content": "Tools: " + str(r.get("tools", ""))}]
        msgs += [{"role": roles.get(t["from"], "user"), "content": t["value"]} for t in r["conversations"]]
        out.append(msgs)
    random.Random(0).shuffle(out)
    return out


def encode(tok, msgs: list[dict]) -> tuple[list[int], list[int]]:
    """ChatML ids and labels (assistant content + <|im_end|> trained, the rest IGNORE)."""
    ids, labels = [], []
    for m in msgs:
        head = tok.encode(f"<|im_start|>{m['role']}\n", add_special_tokens=False)
        body = tok.encode(m["content"] + "<|im_end|>", add_special_tokens=False)
        tail = tok.encode("\n", add_special_tokens=False)
        ids += head + body + tail
        labels += [IGNORE] * len(head) + (body if m["role"] == "assistant" else [IGNORE] * len(body))
        labels += [IGNORE] * len(tail)
    return ids[:SEQ], labels[:SEQ]


def prepare(a) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import_curate_train()
    from curate.train.model import load_tokenizer
    from curate.train.tokenizer import train_tokenizer

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    books = sorted(Path(a.books).glob("*.txt.gz"))[: a.n_books]
    if not books:
        raise SystemExit(f"--books {a.books}: no *.txt.gz files (the Gutenberg folder, clean_text/gutenberg)")
    texts = [gzip.open(b, "rt", errors="replace").read() for b in books]
    convs = conversations(Path(a.instruct))
    corpus = out / "corpus.parquet"
    pq.write_table(pa.table({"text": texts + [m["content"] for c in convs for m in c]}), corpus)
    tok_dir = out / "tok"
    if not (tok_dir / "tokenizer.json").exists():
        train_tokenizer([corpus], tok_dir, vocab_size=a.vocab, sample_bytes=64 << 20)
    corpus.unlink()
    tok = load_tokenizer(tok_dir)
    # packed SFT rows, conversations in order, a new row when the next one does not fit
    enc = [encode(tok, c) for c in convs]
    assert all(lab[0] == IGNORE for _, lab in enc), "a conversation must not start with a trained token"
    rows, cur = [], ([], [], [])
    for ids, lab in enc:
        if len(cur[0]) + len(ids) > SEQ:
            rows.append(cur)
            cur = ([], [], [])
        cur[0].extend(ids)
        cur[1].extend(lab)
        cur[2].extend(range(len(ids)))
    rows.append(cur)
    (out / "sft" / "data").mkdir(parents=True, exist_ok=True)
    i32 = pa.list_(pa.int32())
    pq.write_table(
        pa.table(
            {
                "input_ids": pa.array([r[0] for r in rows], i32),
                "labels": pa.array([r[1] for r in rows], i32),
                "position_ids": pa.array([r[2] for r in rows], i32),
            }
        ),
        out / "sft" / "data" / "part-00000.parquet",
        row_group_size=64,
    )
    # the books as pretrain rows of 1,025 tokens (documents joined with EOS)
    flat = np.fromiter(
        (t for x in tok(texts, add_special_tokens=False)["input_ids"] for t in (*x, tok.eos_token_id)),
        dtype=np.uint16,
    )
    L = 1025
    n = min(len(flat) // L, a.text_rows)
    arr = flat[: n * L]
    col = pa.FixedSizeListArray.from_arrays(pa.array(arr), L).cast(pa.list_(pa.uint16()))
    (out / "text" / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table({"input_ids": col}), out / "text" / "data" / "part-00000.parquet", row_group_size=512
    )
    n_tok = sum(len(r[0]) for r in rows)
    print(
        json.dumps(
            {
                "conversations": len(enc),
                "packed_rows": len(rows),
                "sft_tokens": n_tok,
                "mean_conv_tokens": n_tok / len(enc),
                "text_rows": n,
                "vocab": len(tok),
            }
        )
    )


# ---------------------------------------------------------------- run (GPU)


def step_groups(sft_dir: Path, tok_dir: Path, batch_size: int, steps: int) -> list[list[tuple]]:
    """The conversations of each step's packed rows, in the order curate's stream yields them
    (seed 0, nothing held out): [(input_ids, labels), ...] per step."""
    import numpy as np

    import_curate_train()
    from curate.train.data import RowConverter, ShardStream, list_shards, scan_units

    units = scan_units(list_shards(sft_dir), "sft")
    stream = ShardStream(units, "sft", RowConverter("sft", seq_len=SEQ), seed=0)
    groups, cur, rows = [], [], 0
    for s, _ in stream():
        pos, ids, tgt = s["position_ids"], s["input_ids"], s["targets"]
        starts = list(np.flatnonzero(pos == 0)) + [len(ids)]
        for b, e in zip(starts[:-1], starts[1:], strict=True):
            lab = np.concatenate([[IGNORE], tgt[b : e - 1]])  # labels[j] = targets[j-1]; first untrained
            cur.append((ids[b:e].tolist(), lab.tolist()))
        rows += 1
        if rows == batch_size:
            groups.append(cur)
            cur, rows = [], 0
            if len(groups) == steps:
                break
    return groups


def make_init(data: Path, work: Path, preset: str) -> Path:
    import torch

    import_curate_train()
    from curate.train.build import seed_all
    from curate.train.model import build_model, load_tokenizer

    init = work / "init"
    if (init / "config.json").exists():
        return init
    tok = load_tokenizer(data / "tok")
    seed_all(0)
    model = build_model(preset, tok, max_positions=SEQ)
    model.save_pretrained(str(init))
    tok.save_pretrained(str(init))
    del model
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return init


def curate_arm(a, arm: str, init: Path, real_tokens: list[int]) -> dict:
    import torch

    import_curate_train()
    from curate.train.loop import sft

    times: list[float] = []

    def clock(info):  # log_interval=1: the step's loss was read, so the GPU is synchronised
        times.append(time.perf_counter())

    kw: dict = dict(kernels="plain") if arm == "plain" else {}
    if a.cpu_smoke:
        kw.update(device="cpu", compile="false", kernels=kw.get("kernels", "fused"))
    if "+" in arm:
        for r in arm.split("+")[1:]:
            k, _, v = r.partition("=")
            kw[k] = int(v) if v.isdigit() else v
    res = sft(
        data=str(Path(a.data) / "sft" / "data"),
        init_from=str(init),
        out=str(Path(a.work) / f"run_{arm}"),
        batch_size=a.batch_size,
        max_steps=a.steps,
        lr=a.lr,
        warmup_steps=0,
        min_lr_ratio=1.0,
        weight_decay=0.1,
        grad_clip=1.0,
        eval_rows=0,
        eval_interval=0,
        log_interval=1,
        resume=False,
        seed=0,
        progress="log",
        callbacks=[clock],
        **kw,
    )
    w = a.warm
    tps = sum(real_tokens[w : a.steps]) / (times[a.steps - 1] - times[w - 1])
    return {
        "arm": f"curate {arm}",
        "nonpad_tok_s": tps,
        "losses": [v for _, v in res.losses],
        "peak_mem_gb": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
    }


def hf_arm(a, init: Path, groups: list) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    class Convs(torch.utils.data.Dataset):
        def __init__(self):
            self.items = [c for g in groups for c in g]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    def pad(batch):
        T = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), T), 0, dtype=torch.long)
        lab = torch.full((len(batch), T), IGNORE, dtype=torch.long)
        att = torch.zeros((len(batch), T), dtype=torch.long)
        for i, (x, y) in enumerate(batch):
            ids[i, : len(x)], lab[i, : len(y)], att[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
        return {"input_ids": ids, "labels": lab, "attention_mask": att}

    # each step's conversations in `--hf-micro` micro-batches, in their packed order, padded to the
    # longest of each and accumulated: all ~80 of a step padded together need ~20 GB of float32
    # logits alone (out of memory on an 80 GB H100)
    offs, sampler = 0, []
    for i, g in enumerate(groups):
        if len(g) < a.hf_micro:
            raise SystemExit(f"step {i + 1} has {len(g)} conversations, fewer than --hf-micro {a.hf_micro}")
        bounds = [offs + round(k * len(g) / a.hf_micro) for k in range(a.hf_micro + 1)]
        sampler += [list(range(lo, hi)) for lo, hi in zip(bounds, bounds[1:], strict=False)]
        offs += len(g)

    class SameSteps(Trainer):
        def get_train_dataloader(self):
            return torch.utils.data.DataLoader(
                self.train_dataset, batch_sampler=sampler, collate_fn=pad, num_workers=2, pin_memory=True
            )

    times: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if not a.cpu_smoke:
                torch.cuda.synchronize()
            times.append(time.perf_counter())

    torch._dynamo.config.cache_size_limit = 64
    model = AutoModelForCausalLM.from_pretrained(str(init), dtype=torch.float32, attn_implementation="sdpa")
    args = TrainingArguments(
        output_dir=str(Path(a.work) / "hf"),
        per_device_train_batch_size=1,
        gradient_accumulation_steps=a.hf_micro,
        max_steps=a.steps,
        learning_rate=a.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.1,
        adam_beta1=0.9,
        adam_beta2=0.95,
        adam_epsilon=1e-8,
        max_grad_norm=1.0,
        bf16=not a.cpu_smoke,
        use_cpu=a.cpu_smoke,
        torch_compile=a.hf_compile and not a.cpu_smoke,
        optim="adamw_torch" if a.cpu_smoke else "adamw_torch_fused",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        seed=0,
    )
    tr = SameSteps(model=model, args=args, train_dataset=Convs(), callbacks=[Clock()])
    tr.train()
    w = a.warm
    real = [sum(len(x) for x, _ in g) for g in groups]
    padded = sum(len(b) * max(len(tr.train_dataset[j][0]) for j in b) for b in sampler)
    losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
    return {
        "arm": f"hf_trainer (padded, {a.hf_micro} micro)",
        "nonpad_tok_s": sum(real[w : a.steps]) / (times[a.steps - 1] - times[w - 1]),
        "losses": losses,
        "peak_mem_gb": None if a.cpu_smoke else torch.cuda.max_memory_allocated() / 2**30,
        "pad_fraction": 1 - sum(real) / padded,
    }


def run(a) -> None:
    data, work = Path(a.data), Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if a.role != "all":
        init = Path(a.init)
        groups = json.loads(Path(a.groups).read_text())
        if a.role == "hf":
            res = hf_arm(a, init, groups)
        else:
            res = curate_arm(a, a.role, init, [sum(len(x) for x, _ in g) for g in groups])
        Path(a.json).write_text(json.dumps(res))
        return
    init = make_init(data, work, a.preset)
    groups = step_groups(data / "sft" / "data", data / "tok", a.batch_size, a.steps)
    gpath = work / "groups.json"
    gpath.write_text(json.dumps(groups))
    per_step = [len(g) for g in groups]
    print(
        f"conversations per step: min {min(per_step)} mean {sum(per_step) / len(per_step):.1f} "
        f"max {max(per_step)}",
        flush=True,
    )
    results = []
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for i, arm in enumerate(a.arms.split(",")):
        js = work / f"sft_arm{i}.json"
        js.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            str(HERE / "train_sft.py"),
            "run",
            "--role",
            arm,
            "--data",
            str(data),
            "--work",
            str(work),
            "--init",
            str(init),
            "--groups",
            str(gpath),
            "--json",
            str(js),
            "--steps",
            str(a.steps),
            "--batch-size",
            str(a.batch_size),
            "--lr",
            str(a.lr),
            "--warm",
            str(a.warm),
            "--preset",
            a.preset,
        ]
        cmd += ["--hf-micro", str(a.hf_micro)]
        cmd += (["--hf-no-compile"] if not a.hf_compile else []) + (["--cpu-smoke"] if a.cpu_smoke else [])
        print(f"== arm {arm}", flush=True)
        r = subprocess.run(cmd, env=env, cwd=str(REPO))
        if r.returncode == 0 and js.exists():
            results.append(json.loads(js.read_text()))
        else:
            print(f"arm {arm} failed (exit {r.returncode})", flush=True)
    report(results, a)
    if a.json:
        Path(a.json).write_text(json.dumps(results))


def report(results: list[dict], a) -> None:
    hf = next((r for r in results if r["arm"].startswith("hf")), None)
    print(f"\n{'arm':34s} {'non-pad tok/s':>14s} {'peak GB':>8s} {'vs HF':>7s}")
    for r in results:
        vs = f"{r['nonpad_tok_s'] / hf['nonpad_tok_s']:.2f}x" if hf else "-"
        mem = f"{r['peak_mem_gb']:.1f}" if r.get("peak_mem_gb") is not None else "-"
        print(f"{r['arm']:34s} {r['nonpad_tok_s']:14,.0f} {mem:>8s} {vs:>7s}")
    if hf:
        print(f"HF padding: {100 * hf['pad_fraction']:.0f}% of its tokens are padding")
    ref = results[0]["losses"]
    for r in results[1:]:
        d = [abs(x - y) / y for x, y in zip(r["losses"], ref, strict=False)]
        if d:
            print(
                f"loss {r['arm']} vs {results[0]['arm']}: max rel diff {max(d):.4f}, "
                f"mean {sum(d) / len(d):.4f}"
                f" over {len(d)} steps; step 1 {r['losses'][0]:.4f} vs {ref[0]:.4f}, "
                f"last {r['losses'][-1]:.4f} vs {ref[-1]:.4f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--instruct", required=True)
    p.add_argument("--books", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--vocab", type=int, default=32768)
    p.add_argument("--n-books", type=int, default=30)
    p.add_argument("--text-rows", type=int, default=6000)
    r = sub.add_parser("run")
    r.add_argument("--data", required=True)
    r.add_argument("--work", default="/tmp/curate_sft_bench")
    r.add_argument("--arms", default="fused,plain,hf")
    r.add_argument("--steps", type=int, default=50)
    r.add_argument("--batch-size", type=int, default=8)
    r.add_argument("--lr", type=float, default=3e-4)
    r.add_argument("--warm", type=int, default=10, help="steps left out of the timing (compilation)")
    r.add_argument("--hf-no-compile", dest="hf_compile", action="store_false")
    r.add_argument("--hf-micro", type=int, default=8,
                   help="HF arm: micro-batches per step (gradient accumulation), each padded to its longest")
    r.add_argument("--preset", default="gpt2-124m")
    r.add_argument(
        "--cpu-smoke", action="store_true", help="check the script on a CPU (tiny, no bf16/compile)"
    )
    r.add_argument("--role", default="all")
    r.add_argument("--init")
    r.add_argument("--groups")
    r.add_argument("--json")
    a = ap.parse_args()
    prepare(a) if a.cmd == "prepare" else run(a)


if __name__ == "__main__":
    main()
