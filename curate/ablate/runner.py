"""Train every (arm, seed) at the same token budget in this one process, evaluate, summarise.

Each run is a normal training run directory, OUT/runs/ARM/seedN: a finished one (its
`ablate_result.json` written) is skipped, a half one resumes from its latest checkpoint through
the trainer's own resume. Checkpoints are written at every curve point, so a kill loses at most
one interval. Runs share this process, so on GPU `torch.compile` compiles once and later arms
reuse the compiled graphs (same shapes, same code).

The curves come from a training callback: about `eval.points` times per run, the model scores a
bounded sample (`eval.max_bytes`) of each held-out text set; the points land in the run's
log.jsonl (field `ablate_bpb`), which resume truncates to the checkpoint like every other record.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .arms import Arm, count_tokens, measure_overlap, prepare_arm, sample_for_tokenizer
from .config import AblationConfig, AblationError
from .scoring import bounded, load_text_set, score_bpb, score_tasks

RESULT = "ablate_result.json"   # written last in a run dir: the run is finished and evaluated
KEY = "ablate_key.json"         # what the run was started with; a different ablation is refused
CURVE = "curve.jsonl"           # one line per curve point, appended as it is scored


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _file_sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# -------------------------------------------------------------------------- tokenizer
def prepare_tokenizer(cfg: AblationConfig, arms: list[Arm], out: Path) -> dict[str, Any]:
    """The one tokenizer of the ablation: given, or trained on equal bytes of every arm (reused on resume)."""
    spec = cfg.tokenizer
    if spec.path is not None:
        path = Path(cfg.resolve(spec.path))
        if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
            raise AblationError(f"tokenizer {path}: not a tokenizer directory")
        info: dict[str, Any] = {"path": str(path), "trained": False}
    else:
        t = spec.train
        path = out / "tokenizer"
        want = {"vocab_size": t.vocab_size, "sample_bytes": t.sample_bytes, "min_frequency": t.min_frequency,
                "arms": {a.name: a.lineage.get("shards") for a in arms}}
        done = path / "ablate_tokenizer.json"
        if done.is_file() and json.loads(done.read_text()).get("key") == _sha(want):
            info = {**json.loads(done.read_text())["info"], "path": str(path)}  # the folder may have moved
        else:
            from curate.train.tokenizer import train_tokenizer

            sample_dir = out / "tokenizer_sample"
            files = sample_for_tokenizer(arms, sample_dir, t.sample_bytes)
            per_arm = {
                a.name: sum(len(s.encode("utf-8")) for s in _texts(f))
                for a, f in zip(arms, files, strict=True)
            }
            print(f"tokenizer: training a {t.vocab_size}-token BPE on {sum(per_arm.values()):,} bytes "
                  f"({', '.join(f'{k} {v:,}' for k, v in per_arm.items())})", flush=True)
            train_tokenizer(
                files,
                path,
                vocab_size=t.vocab_size,
                sample_bytes=sum(per_arm.values()) + len(files),
                min_frequency=t.min_frequency,
            )
            shutil.rmtree(sample_dir)
            info = {"path": str(path), "trained": True, "vocab_size": t.vocab_size,
                    "sample_bytes_per_arm": per_arm, "min_frequency": t.min_frequency}
            done.write_text(json.dumps({"key": _sha(want), "info": info}, indent=2))
    tj = path / "tokenizer.json"
    info["sha256"] = _file_sha(tj) if tj.is_file() else None
    return info


def _texts(f: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(f, columns=["text"]).column(0).to_pylist()


# -------------------------------------------------------------------------- budget
def budget(cfg: AblationConfig, arms: list[Arm]) -> dict[str, Any]:
    """Steps from the token budget: tokens / (batch_size x grad_accum x tokens per row x world)."""
    from curate.train.config import TrainConfig

    tc = TrainConfig.from_dict({k: v for k, v in cfg.train.items()})
    seq_lens = {a.name: (a.row_len - 1 if a.kind == "tokens" else tc.seq_len) for a in arms}
    if len(set(seq_lens.values())) > 1:
        raise AblationError(f"arms train on rows of different lengths {seq_lens}: equal tokens need one row "
                            "length (tokenize every arm with the same seq_len, or use text shards)")
    seq = next(iter(seq_lens.values()))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = tc.batch_size * tc.grad_accum * seq * world
    steps = max(1, round(cfg.tokens / per_step))
    return {
        "tokens": cfg.tokens,
        "train_tokens": steps * per_step,
        "steps": steps,
        "tokens_per_step": per_step,
        "seq_len": seq,
        "batch_size": tc.batch_size,
        "grad_accum": tc.grad_accum,
        "world": world,
        "preset": tc.preset,
        "eval_every": max(1, steps // cfg.eval.points),
    }


# -------------------------------------------------------------------------- one run
def _has_callbacks() -> bool:
    from curate.train import pretrain

    return "callbacks" in inspect.signature(pretrain).parameters


def curve_callback(text_sets: dict[str, list[str]], every: int, seq_len: int, batch_size: int) -> Callable:
    """A training callback that scores the held-out samples every `every` steps and at the end.

    Each point is appended to RUN/curve.jsonl at once (and joins the step's log.jsonl record). A run
    killed after a point and resumed from an earlier checkpoint scores the same steps again from
    the same state; `read_curve` keeps the last line per step.
    """

    def cb(info) -> None:
        if info.step % every and info.step != info.max_steps:
            return
        bpb = score_bpb(info.model, info.tokenizer, text_sets, seq_len=seq_len, batch_size=batch_size)
        info.log({"ablate_bpb": bpb})
        if info.rank == 0:
            with open(Path(info.run_dir) / CURVE, "a") as f:
                f.write(json.dumps({"step": info.step, "tokens": info.tokens, "bpb": _clean(bpb)}) + "\n")
            print(
                f"step {info.step:6d} held-out bpb " + " ".join(f"{k} {v:.4f}" for k, v in bpb.items()),
                flush=True,
            )

    return cb


def _inference(cb: Callable) -> Callable:
    """Run `cb` with the model in eval mode, attention honouring masks (StepInfo.inference())."""

    def wrapped(info) -> None:
        with info.inference():
            cb(info)

    return wrapped


def read_curve(run_dir: Path) -> list[dict[str, Any]]:
    """The curve points of a run (RUN/curve.jsonl), one per step, in step order."""
    pts: dict[int, dict[str, Any]] = {}
    f = run_dir / CURVE
    if f.is_file():
        for line in f.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                pts[rec["step"]] = rec
    return [pts[k] for k in sorted(pts)]


def final_eval(run_dir: Path, text_sets: dict[str, list[str]], cfg: AblationConfig, seq_len: int,
               device: str) -> dict[str, Any]:
    """Bits per byte on each whole text set (or `final_max_bytes` of it) and task accuracies."""
    import torch
    from transformers import AutoModelForCausalLM

    from curate.train.model import load_tokenizer

    dev = (
        "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    )
    model = AutoModelForCausalLM.from_pretrained(str(run_dir), dtype=torch.float32).to(dev).eval()
    tok = load_tokenizer(run_dir)
    out: dict[str, Any] = {
        "bpb": score_bpb(
            model,
            tok,
            text_sets,
            seq_len=seq_len,
            batch_size=cfg.eval.batch_size,
            max_bytes=cfg.eval.final_max_bytes,
        )
    }
    if cfg.eval.tasks_dir:
        out["tasks"] = score_tasks(
            model,
            tok,
            cfg.resolve(cfg.eval.tasks_dir),
            batch_size=cfg.eval.batch_size,
            limit=cfg.eval.task_limit,
        )
    del model
    return out


def train_one(cfg: AblationConfig, arm: Arm, seed: int, run_dir: Path, tok: dict[str, Any],
              bud: dict[str, Any], curve_sets: dict[str, list[str]], full_sets: dict[str, list[str]],
              force: bool, callbacks: Sequence[Callable],
              train: bool = True) -> tuple[dict[str, Any] | None, str]:
    """Train (or resume, or skip) one run; returns (its record, 'done' | 'resumed' | 'trained').

    With `train=False` a finished run is read and anything else is left alone: (None, 'skipped').
    """
    tok_path = tok["path"]
    from curate.train import pretrain

    train_cfg = {
        **cfg.train,
        "task": "pretrain",
        "data": arm.data,
        "out": str(run_dir),
        "tokenizer": tok_path,
        "max_steps": bud["steps"],
        "seed": seed,
        "eval_rows": 0,
        "eval_interval": 0,
        "ckpt_interval": bud["eval_every"] if cfg.checkpoint_interval is None else cfg.checkpoint_interval,
        "keep_checkpoints": cfg.train.get("keep_checkpoints", 1),
        "resume": True,
    }
    ev = cfg.eval
    # The key names the data and tokenizer by content, not by path, so an ablation folder that moves
    # (or whose runs were trained on another machine and copied back) keeps its finished runs.
    where = ("out", "data", "tokenizer")
    key = {"train": {k: v for k, v in train_cfg.items() if k not in where},
           "shards": [s["sha256"] for s in arm.lineage.get("shards", [])],
           "tokenizer": tok.get("sha256") or tok_path,
           # the curves depend on these eval settings, the final eval is redone apart
           "curve": {"text": {k: v.model_dump() for k, v in ev.text.items()}, "points": ev.points,
                     "max_bytes": ev.max_bytes, "batch_size": ev.batch_size}}
    final_key = _sha(
        {
            "text": {k: v.model_dump() for k, v in ev.text.items()},
            "final_max_bytes": ev.final_max_bytes,
            "tasks_dir": ev.tasks_dir,
            "task_limit": ev.task_limit,
            "batch_size": ev.batch_size,
        }
    )
    key_sha = _sha(key)
    kf = run_dir / KEY
    if kf.is_file() and json.loads(kf.read_text()).get("sha256") != key_sha:
        if not force:
            raise AblationError(f"{run_dir} was started by a different ablation (config, data or tokenizer "
                                "changed): use another output folder, or --force to retrain it")
        shutil.rmtree(run_dir)
    rf = run_dir / RESULT
    device = str(cfg.train.get("device", "auto"))
    if rf.is_file():
        rec = json.loads(rf.read_text())
        if rec.get("final_key") != final_key:  # only the final evaluation changed: redo it, keep the run
            rec["final"] = _clean(final_eval(run_dir, full_sets, cfg, bud["seq_len"], device))
            rec["final_key"] = final_key
            rf.write_text(json.dumps(rec, indent=2))
        return rec, "done"
    if not train:
        return None, "skipped"
    status = "resumed" if (run_dir / "checkpoints" / "latest").is_file() else "trained"
    if status == "trained" and run_dir.exists():
        shutil.rmtree(run_dir)  # started, but killed before its first checkpoint: nothing to keep
    run_dir.mkdir(parents=True, exist_ok=True)
    kf.write_text(json.dumps({"sha256": key_sha, "key": key}, indent=2, default=str))
    cb = _inference(curve_callback(curve_sets, bud["eval_every"], bud["seq_len"], cfg.eval.batch_size))
    t0 = time.perf_counter()
    res = pretrain(train_cfg, callbacks=[cb, *callbacks])
    rec = {
        "arm": arm.name,
        "seed": seed,
        "run_dir": str(run_dir),
        "steps": res.steps,
        "train_tokens": res.tokens,
        "tokens_per_s": res.tokens_per_s,
        "train_s": time.perf_counter() - t0,
        "curve": read_curve(run_dir),
        "final": _clean(final_eval(run_dir, full_sets, cfg, bud["seq_len"], device)),
        "final_key": final_key,
    }
    rf.write_text(json.dumps(rec, indent=2))
    return rec, status


# -------------------------------------------------------------------------- the whole ablation
def run_ablation(cfg: AblationConfig, *, force: bool = False, quiet: bool = False,
                 callbacks: Sequence[Callable] = (), seeds: Sequence[int] | None = None,
                 only_arms: Sequence[str] | None = None, prepare_only: bool = False) -> dict[str, Any]:
    """Run (or resume) the ablation; writes OUT/ablation.json and OUT/ablation.html, returns the JSON.

    `seeds` / `only_arms` train just those runs in this call (so one ablation can be spread over
    several machines or time-limited calls); finished runs of the others are still reported.
    `prepare_only` stops after the arms, the tokenizer and the budget (nothing is trained) and
    returns them. `callbacks` are extra training callbacks given to every run (tests use one to
    simulate a kill).
    """
    for name in only_arms or ():
        if name not in cfg.arms:
            raise AblationError(f"--arms: no arm {name!r} in the ablation (arms: {', '.join(cfg.arms)})")
    for sd in seeds or ():
        if sd not in cfg.seeds:
            raise AblationError(f"--seeds: seed {sd} is not in the ablation's seeds {cfg.seeds}")
    from .report import write_report
    from .summary import summarize

    if not _has_callbacks():
        raise AblationError(
            "curate ablate needs the trainer's callbacks API (pretrain(..., callbacks=[...]))"
        )
    out = Path(cfg.resolve(cfg.out)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    arms = [prepare_arm(cfg, name, spec, out, quiet=quiet) for name, spec in cfg.arms.items()]
    tok_info = prepare_tokenizer(cfg, arms, out)
    from curate.train.model import load_tokenizer

    tok = load_tokenizer(tok_info["path"])
    for a in arms:
        count_tokens(a, tok)
    bud = budget(cfg, arms)
    full_sets = {n: load_text_set(s, cfg.resolve, n) for n, s in cfg.eval.text.items()}
    curve_sets = {n: bounded(d, cfg.eval.max_bytes) for n, d in full_sets.items()}
    text_info = {n: {"docs": len(d), "bytes": sum(len(x.encode("utf-8")) for x in d),
                     "curve_bytes": sum(len(x.encode("utf-8")) for x in curve_sets[n]),
                     "spec": cfg.eval.text[n].model_dump()} for n, d in full_sets.items()}
    for a in arms:
        measure_overlap(a, full_sets, cfg.eval.overlap_ngram)
    print(f"ablation {cfg.name}: {len(arms)} arms x {len(cfg.seeds)} seeds, {bud['steps']} steps of "
          f"{bud['tokens_per_step']:,} tokens = {bud['train_tokens']:,} tokens per run", flush=True)
    for a in arms:
        print(
            f"  {a.name}: {a.unique_tokens:,} unique tokens, "
            f"{bud['train_tokens'] / max(1, a.unique_tokens):.2f} epochs"
            + ("" if not a.overlap else "; held-out n-grams in its text: "
               + ", ".join(f"{n} {o['share']:.2%}" for n, o in a.overlap.items())),
            flush=True,
        )
    if prepare_only:
        return {"tokenizer": tok_info, "budget": bud, "text_sets": text_info,
                "arms": {a.name: {"unique_tokens": a.unique_tokens, "text_bytes": a.text_bytes,
                                  "epochs": bud["train_tokens"] / max(1, a.unique_tokens)} for a in arms}}
    runs: dict[str, dict[int, dict]] = {a.name: {} for a in arms}
    statuses = {}
    for seed in cfg.seeds:  # seed-major: after the first pass every arm has one run
        for a in arms:
            run_dir = out / "runs" / a.name / f"seed{seed}"
            chosen = (seeds is None or seed in seeds) and (only_arms is None or a.name in only_arms)
            rec, st = train_one(
                cfg, a, seed, run_dir, tok_info, bud, curve_sets, full_sets, force, callbacks, train=chosen
            )
            statuses[f"{a.name}/seed{seed}"] = st
            print(f"run {a.name}/seed{seed}: {st}", flush=True)
            if rec is not None:
                runs[a.name][seed] = rec
    doc = {
        "name": cfg.name,
        "config": cfg.to_json(),
        "tokenizer": tok_info,
        "budget": bud,
        "text_sets": text_info,
        "baseline": cfg.baseline,
        "arms": {
            a.name: {
                "data": a.data,
                "kind": a.kind,
                "unique_tokens": a.unique_tokens,
                "text_bytes": a.text_bytes,
                "epochs": bud["train_tokens"] / max(1, a.unique_tokens),
                "overlap": a.overlap,
                "lineage": a.lineage,
                "runs": {str(s): r for s, r in runs[a.name].items()},
            }
            for a in arms
        },
        "statuses": statuses,
    }
    doc["summary"] = summarize(doc)
    doc = _clean(doc)
    (out / "ablation.json").write_text(json.dumps(doc, indent=2, allow_nan=False, default=str))
    write_report(doc, out / "ablation.html")
    return doc


def _clean(x: Any) -> Any:
    """NaN/inf (a diverged run) become null: ablation.json stays plain JSON."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x
