"""Run (or resume) a mix search: tokenizer, sources, candidates, one proxy each, the fit, the search.

Every proxy is a `curate ablate` run: `curate.ablate.runner.train_one` trains it through
`curate.train.pretrain` in this one process (on GPU `torch.compile` compiles once: every proxy has
the same shapes), in OUT/runs/cNNN/seed<seed>, and scores it on the target sets. A finished proxy
(its `ablate_result.json`) is skipped on re-run, a candidate's data folder (OUT/candidates/cNNN,
done when its `mix_plan.json` is written) is reused while its key matches, and a run started by a
different search is refused (`--force` retrains it). The fit and the search are cheap and are
redone from the finished proxies every time.

Outputs: OUT/search.json (everything, the page is built from it alone), OUT/candidates.csv (one
row per proxy), OUT/mix.yaml (the ready `mix` stage block), OUT/search.html.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import regression, sampler
from .config import SearchConfig, SearchError
from .sources import Source, count_tokens, load_source, write_mix

PRIOR_SEED_OFFSET = 1  # the search's prior draws use seed + 1: not the candidates' stream


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def ablation_config(
    cfg: SearchConfig,
    out: Path,
    *,
    arms: dict[str, str],
    tokenizer: dict[str, Any],
    tokens: int,
    seeds: list[int],
    train: dict[str, Any],
    max_bytes: int | None,
    points: int = 1,
    baseline: str | None = None,
):
    """The `curate ablate` config a set of search runs share (proxies, or the validation's mixes)."""
    from curate.ablate.config import AblationConfig

    curve = max(1, max_bytes // 10) if max_bytes else 200_000  # the one curve point: a cheap look
    return AblationConfig.model_validate(
        {
            "name": cfg.name,
            "out": str(out),
            "arms": {k: {"data": v} for k, v in arms.items()},
            "baseline": baseline,
            "tokenizer": tokenizer,
            "train": train,
            "tokens": tokens,
            "seeds": seeds,
            "checkpoint_interval": 0 if points == 1 else None,
            "eval": {
                "text": {k: v.model_dump(exclude={"weight"}) for k, v in cfg.target.items()},
                "points": points,
                "max_bytes": curve,
                "final_max_bytes": max_bytes,
                "batch_size": cfg.eval.batch_size,
            },
            "base_dir": cfg.base_dir,
        }
    )


def target_loss(bpb: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The weighted mean of the target sets' bits per byte (None when a set has no score)."""
    if any(bpb.get(k) is None for k in weights):
        return None
    return float(sum(w * bpb[k] for k, w in weights.items()))


# -------------------------------------------------------------------------- preparation
def prepare(cfg: SearchConfig, out: Path, quiet: bool = False) -> dict[str, Any]:
    """Tokenizer (given, or trained on equal bytes of every source), sources with token counts, budgets,
    the bounds' box."""
    from curate.ablate.arms import prepare_arm
    from curate.ablate.config import ArmSpec
    from curate.ablate.runner import prepare_tokenizer
    from curate.train.model import load_tokenizer

    src_paths = {n: cfg.resolve(s.data) for n, s in cfg.sources.items()}
    abl = ablation_config(
        cfg,
        out,
        arms=src_paths,
        tokenizer=cfg.tokenizer.model_dump(exclude_none=True),
        tokens=1,
        seeds=[cfg.seed],
        train=cfg.train,
        max_bytes=cfg.eval.max_bytes,
    )
    arms = [prepare_arm(abl, n, ArmSpec(data=p), out, quiet=quiet) for n, p in src_paths.items()]
    tok_info = prepare_tokenizer(abl, arms, out)
    tok = load_tokenizer(tok_info["path"])
    sources: list[Source] = []
    for n in cfg.sources:
        s = load_source(cfg, n)
        count_tokens(s, tok, cfg.seed)
        sources.append(s)
    names = [s.name for s in sources]
    sizes = {s.name: s.size for s in sources}
    smallest = min(sizes.values())
    search_tokens = cfg.budget.resolve(smallest)
    validate_tokens = cfg.validate_.budget.resolve(smallest) if cfg.validate_ else None
    b = cfg.bounds
    bounds_tokens = b.budget.resolve(smallest) if b.budget else (validate_tokens or search_tokens)
    try:
        box = sampler.make_box(
            names,
            sizes,
            bounds_tokens,
            max_epochs={s: b.epochs_of(s) for s in names},
            caps=b.caps,
            min_weight=b.min_weight,
            max_weight=b.max_weight,
        )
    except ValueError as e:
        raise SearchError(str(e)) from None
    return {
        "tokenizer": tok_info,
        "sources": sources,
        "names": names,
        "sizes": sizes,
        "smallest": smallest,
        "search_tokens": search_tokens,
        "validate_tokens": validate_tokens,
        "bounds_tokens": bounds_tokens,
        "box": box,
        "natural": sampler.natural_shares(names, sizes),
    }


# -------------------------------------------------------------------------- proxies
def train_proxies(
    cfg: SearchConfig,
    out: Path,
    prep: dict[str, Any],
    weights: np.ndarray,
    *,
    force: bool = False,
    callbacks: Sequence[Callable] = (),
    quiet: bool = False,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Materialise and train every candidate (skipping finished ones); one row per candidate, and the
    budget (steps, training tokens) every proxy trained at."""
    from curate.ablate.arms import Arm, prepare_arm
    from curate.ablate.config import ArmSpec
    from curate.ablate.runner import budget, train_one
    from curate.ablate.scoring import bounded, load_text_set

    names, sources = prep["names"], prep["sources"]
    tok = {"path": prep["tokenizer"]["path"]}
    abl = ablation_config(
        cfg,
        out,
        arms={n: s.data for n, s in zip(names, sources, strict=True)},
        tokenizer=tok,
        tokens=prep["search_tokens"],
        seeds=[cfg.seed],
        train=cfg.train,
        max_bytes=cfg.eval.max_bytes,
    )
    full_sets = {n: load_text_set(s, cfg.resolve, n) for n, s in abl.eval.text.items()}
    full_sets = {n: bounded(d, cfg.eval.max_bytes) for n, d in full_sets.items()}
    curve_sets = {n: bounded(d, abl.eval.max_bytes) for n, d in full_sets.items()}
    tw = cfg.target_weights()
    rows: list[dict[str, Any]] = []
    src_key = {s.name: [x["sha256"] for x in s.shards] for s in sources}
    # Every candidate is text at the train seq_len: one budget (steps) for all of them.
    bud = budget(abl, [Arm("candidates", "", "text")])
    for i, w in enumerate(weights):
        name = f"c{i:03d}"
        want = {n: float(x) for n, x in zip(names, w, strict=True)}
        folder = out / "candidates" / name
        key = _sha({"w": want, "t": bud["train_tokens"], "src": src_key, "seed": cfg.seed})
        plan = write_mix(sources, want, bud["train_tokens"], folder, cfg.seed, key)
        arm = prepare_arm(abl, name, ArmSpec(data=str(folder / "data")), out)
        rec, status = train_one(
            abl,
            arm,
            cfg.seed,
            out / "runs" / name / f"seed{cfg.seed}",
            prep["tokenizer"],  # path and sha256: run keys name the tokenizer by content
            bud,
            curve_sets,
            full_sets,
            force,
            callbacks,
        )
        bpb = (rec.get("final") or {}).get("bpb") or {}
        loss = target_loss(bpb, tw)
        rows.append(
            {
                "name": name,
                "requested": want,
                "shares": plan["shares"],
                "epochs": plan["epochs"],
                "tokens": plan["tokens"],
                "bpb": bpb,
                "target": loss,
                "status": status,
                "train_s": rec.get("train_s"),
                "steps": rec.get("steps"),
                "run_dir": rec.get("run_dir"),
            }
        )
        if not quiet:
            shares = " ".join(f"{n} {plan['shares'][n]:.3f}" for n in names)
            print(
                f"proxy {name} ({status}): {shares} -> target {loss if loss is None else f'{loss:.4f}'}",
                flush=True,
            )
    return rows, bud


# -------------------------------------------------------------------------- fit and search
def fit_and_search(cfg: SearchConfig, prep: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The regression (k-fold Spearman per model), the searched mix and the predictions of the anchors."""
    names, box = prep["names"], prep["box"]
    ok = [r for r in rows if r["target"] is not None]
    if len(ok) < max(4, cfg.regression.folds):
        raise SearchError(f"only {len(ok)} proxies have a target loss (diverged runs?): too few to fit")
    w = np.array([[r["shares"][n] for n in names] for r in ok])
    y = np.array([r["target"] for r in ok])
    rg = cfg.regression
    try:
        best, fits = regression.fit(w, y, model=rg.model, folds=rg.folds, seed=cfg.seed, ridge=rg.ridge)
    except regression.MissingModel as e:
        raise SearchError(str(e)) from None
    for r, p_oof, p_in in zip(ok, best.oof, best.in_sample, strict=True):
        r["predicted_oof"], r["predicted"] = float(p_oof), float(p_in)
    rng = np.random.default_rng(cfg.seed + PRIOR_SEED_OFFSET)
    s = cfg.sampler
    prior = regression.trust_region(
        sampler.draw(
            rg.search_samples,
            prep["natural"],
            box,
            rng,
            concentration=s.concentration,
            spread=s.spread,
            floor=s.floor,
        ),
        sampler.project(w, box),  # achieved shares can sit a document outside the box: move them in
        rg.trust,
    )
    found = regression.search(best.model.predict, prior, rg.top_k)
    anchors = {
        "natural": sampler.project(prep["natural"], box)[0],
        "uniform": sampler.project(np.full(len(names), 1 / len(names)), box)[0],
    }
    measured_best = min(ok, key=lambda r: r["target"])
    return {
        "model": best.summary(),
        "models": [f.summary() for f in fits],
        "chosen": {"weights": _named(names, found["weights"]), "predicted": found["predicted"]},
        "anchors": {
            k: {"weights": _named(names, v), "predicted": float(best.model.predict(v[None, :])[0])}
            for k, v in anchors.items()
        },
        "top": [
            {"weights": _named(names, t), "predicted": float(p)}
            for t, p in zip(found["top"], found["top_predicted"], strict=True)
        ],
        "best_measured": {
            "name": measured_best["name"],
            "weights": measured_best["shares"],
            "target": measured_best["target"],
        },
        "in_bounds": bool(box.contains(found["weights"])),
    }


def _named(names: list[str], w: np.ndarray) -> dict[str, float]:
    return {n: round(float(x), 6) for n, x in zip(names, w, strict=True)}


# -------------------------------------------------------------------------- the whole search
def run_search(
    cfg: SearchConfig,
    *,
    force: bool = False,
    quiet: bool = False,
    validate: str = "auto",
    callbacks: Sequence[Callable] = (),
) -> dict[str, Any]:
    """Run (or resume) the search; writes search.json, candidates.csv, mix.yaml, search.html.

    `validate`: "auto" runs the `validate:` section when the config has one, "skip" does not, "only"
    trains the validation mixes of the search already in OUT/search.json (no proxies: for a second
    machine that has the sources, the target and OUT/search.json, and retrains nothing else).
    `callbacks` go to every training run (tests use one to simulate a kill).
    """
    from curate.ablate.runner import _clean

    out = Path(cfg.resolve(cfg.out)).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if validate == "only":
        if cfg.validate_ is None:
            raise SearchError("--validate-only: the config has no `validate:` section")
        if not (out / "search.json").is_file():
            raise SearchError(f"--validate-only: {out}/search.json does not exist: run the search first")
        doc = json.loads((out / "search.json").read_text())
        tok = doc["tokenizer"]["path"]
        if not Path(tok).is_dir():  # OUT carried from another machine: its tokenizer folder came along
            tok = str(out / "tokenizer")
        if not Path(tok).is_dir():
            raise SearchError(
                f"--validate-only: the search's tokenizer ({doc['tokenizer']['path']}, or {tok}) is missing"
            )
        cfg = cfg.model_copy(
            update={"tokenizer": cfg.tokenizer.model_copy(update={"path": tok, "train": None})}
        )
        prep = prepare(cfg, out, quiet=quiet)
        doc["validation"] = run_validation_step(cfg, out, prep, doc["fit"], quiet)
        return _write(_clean(doc), out)
    prep = prepare(cfg, out, quiet=quiet)
    s = cfg.sampler
    weights = sampler.candidates(
        cfg.candidates,
        prep["natural"],
        prep["box"],
        cfg.seed,
        concentration=s.concentration,
        spread=s.spread,
        floor=s.floor,
        include_anchors=s.include_anchors,
    )
    if not quiet:
        print(
            f"mix search {cfg.name}: {cfg.candidates} proxies of {prep['search_tokens']:,} tokens "
            f"(smallest source {prep['smallest']:,} tokens); bounds at {prep['bounds_tokens']:,} tokens",
            flush=True,
        )
    rows, bud = train_proxies(cfg, out, prep, weights, force=force, callbacks=callbacks, quiet=quiet)
    doc = {
        "name": cfg.name,
        "config": cfg.to_json(),
        "tokenizer": prep["tokenizer"],
        "budget": bud,
        "sources": {
            n: {
                "data": src.data,
                "tokens": prep["sizes"][n],
                "docs": len(src.texts),
                "natural_share": float(prep["natural"][i]),
                "lo": float(prep["box"].lo[i]),
                "hi": float(prep["box"].hi[i]),
                "shards": len(src.shards),
            }
            for i, (n, src) in enumerate(zip(prep["names"], prep["sources"], strict=True))
        },
        "smallest_tokens": prep["smallest"],
        "search_tokens": prep["search_tokens"],
        "validate_tokens": prep["validate_tokens"],
        "bounds_tokens": prep["bounds_tokens"],
        "target_weights": cfg.target_weights(),
        "candidates": rows,
    }
    doc["fit"] = fit_and_search(cfg, prep, rows)
    _write(_clean(doc), out)  # the search's result stands on its own before the validation starts
    if cfg.validate_ is not None and validate == "auto":
        doc["validation"] = run_validation_step(cfg, out, prep, doc["fit"], quiet)
    return _write(_clean(doc), out)


def run_validation_step(
    cfg: SearchConfig, out: Path, prep: dict[str, Any], fit: dict[str, Any], quiet: bool
) -> dict[str, Any]:
    from .validate import run_validation

    return run_validation(cfg, out, prep, fit, quiet=quiet)


def _write(doc: dict[str, Any], out: Path) -> dict[str, Any]:
    from .mixblock import write_candidates_csv, write_mix_block
    from .report import write_report

    (out / "search.json").write_text(json.dumps(doc, indent=2, allow_nan=False, default=str))
    write_candidates_csv(doc, out / "candidates.csv")
    write_mix_block(doc, out / "mix.yaml")
    write_report(doc, out / "search.html")
    return doc
