"""The validation step: the chosen, the natural and the uniform mix at a larger budget, over seeds.

It is an ablation (`curate.ablate.run_ablation`) of three arms, each the `mix` stage's selection
for its weights at the validation budget (OUT/validate/mixes/NAME), with the search's tokenizer,
recipe (plus `validate.train`) and target sets; it writes OUT/validate/ablation.json and
ablation.html. On top, the target loss (the weighted mean of the sets) per run, and the paired
differences chosen − natural and chosen − uniform seed by seed: the chosen mix *beats* another when
the mean difference is below 0 by more than 3 x the std of the per-seed differences (the outcome
issue's margin; it needs two seeds or more).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import SearchConfig
from .sources import write_mix

MIXES = ("chosen", "natural", "uniform")


def paired(a: dict[int, float], b: dict[int, float]) -> dict[str, Any]:
    """Seed-by-seed a − b: mean, std, n, and whether a beats b by 3 x the std."""
    from curate.ablate.summary import mean_std

    seeds = sorted(set(a) & set(b))
    diffs = [a[s] - b[s] for s in seeds]
    mean, std = mean_std(diffs)
    beats = None if mean is None or std is None else bool(mean < 0 and abs(mean) > 3 * std)
    return {"mean": mean, "std": std, "n": len(seeds), "diffs": diffs, "beats": beats}


def run_validation(
    cfg: SearchConfig, out: Path, prep: dict[str, Any], fit: dict[str, Any], quiet: bool = False
) -> dict[str, Any]:
    """Train the three mixes (resuming, like any ablation) and compare them on the target."""
    from curate.ablate.arms import Arm
    from curate.ablate.runner import budget, run_ablation

    from .runner import _sha, ablation_config, target_loss

    v = cfg.validate_
    vout = out / "validate"
    weights = {"chosen": fit["chosen"]["weights"], **{k: a["weights"] for k, a in fit["anchors"].items()}}
    train = {**cfg.train, **v.train}
    tok = {"path": prep["tokenizer"]["path"]}
    probe = ablation_config(
        cfg,
        vout,
        arms={"chosen": "."},
        tokenizer=tok,
        tokens=prep["validate_tokens"],
        seeds=v.seeds,
        train=train,
        max_bytes=v.max_bytes,
    )
    bud = budget(probe, [Arm("mixes", "", "text")])
    src_key = {s.name: [x["sha256"] for x in s.shards] for s in prep["sources"]}
    plans = {}
    for name in MIXES:
        folder = vout / "mixes" / name
        key = _sha({"w": weights[name], "t": bud["train_tokens"], "src": src_key, "seed": cfg.seed})
        plans[name] = write_mix(prep["sources"], weights[name], bud["train_tokens"], folder, cfg.seed, key)
    abl = ablation_config(
        cfg,
        vout,
        arms={n: str(vout / "mixes" / n / "data") for n in MIXES},
        tokenizer=tok,
        tokens=prep["validate_tokens"],
        seeds=v.seeds,
        train=train,
        max_bytes=v.max_bytes,
        points=v.points,
        baseline="natural",
    )
    if not quiet:
        print(
            f"validation: {len(MIXES)} mixes x {len(v.seeds)} seeds at {bud['train_tokens']:,} tokens",
            flush=True,
        )
    doc = run_ablation(abl, quiet=quiet)
    tw = cfg.target_weights()
    per: dict[str, dict[int, float]] = {}
    for name in MIXES:
        per[name] = {}
        for seed, r in doc["arms"][name]["runs"].items():
            loss = target_loss((r.get("final") or {}).get("bpb") or {}, tw)
            if loss is not None:
                per[name][int(seed)] = loss
    from curate.ablate.summary import mean_std

    table = {}
    for name in MIXES:
        m, s = mean_std(list(per[name].values()))
        table[name] = {
            "mean": m,
            "std": s,
            "values": {str(k): x for k, x in sorted(per[name].items())},
            "weights": weights[name],
            "shares": plans[name]["shares"],
            "epochs": plans[name]["epochs"],
            "bpb": {k: doc["summary"]["table"][name].get(f"bpb/{k}") for k in cfg.target},
        }
    pairs = {
        "chosen-natural": paired(per["chosen"], per["natural"]),
        "chosen-uniform": paired(per["chosen"], per["uniform"]),
    }
    per_set = {}
    for other in ("natural", "uniform"):
        for k in cfg.target:
            a = {int(s): x for s, x in doc["summary"]["table"]["chosen"][f"bpb/{k}"]["values"].items()}
            b = {int(s): x for s, x in doc["summary"]["table"][other][f"bpb/{k}"]["values"].items()}
            per_set[f"chosen-{other}/{k}"] = paired(a, b)
    return {
        "budget": bud,
        "seeds": v.seeds,
        "table": table,
        "paired": pairs,
        "paired_sets": per_set,
        "beats_both": bool(pairs["chosen-natural"]["beats"] and pairs["chosen-uniform"]["beats"]),
        "ablation": str(vout / "ablation.json"),
    }
