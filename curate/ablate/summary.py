"""The ablation's summary: mean ± std per arm and metric, and paired differences vs the baseline.

A metric is `bpb/SET` (bits per byte on a held-out text set; lower is better) or `TASK/MEASURE`
(accuracy; higher is better). The paired difference of an arm is taken seed by seed
(arm − baseline on the same seed, so the seed's shared noise cancels); it is called clear when
|mean| > 3 × the std of those per-seed differences (which needs two seeds or more).
"""

from __future__ import annotations

import math
from typing import Any


def run_metrics(final: dict[str, Any]) -> dict[str, float]:
    """Flatten a run's final scores to {metric: value}."""
    out = {f"bpb/{k}": v for k, v in (final.get("bpb") or {}).items()}
    for task, scores in (final.get("tasks") or {}).items():
        if isinstance(scores, dict):
            out.update({f"{task}/{m}": v for m, v in scores.items() if isinstance(v, int | float)})
        elif isinstance(scores, int | float):
            out[f"{task}/acc"] = scores
    return out


def lower_is_better(metric: str) -> bool:
    m = metric.split("/", 1)[-1]
    return metric.startswith("bpb/") or m in ("ppl", "perplexity", "loss")


def mean_std(xs: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (n-1); std is None for one value."""
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return None, None
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, None
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def summarize(doc: dict[str, Any]) -> dict[str, Any]:
    """Table, paired differences and a ranking per metric from ablation.json's `arms`."""
    base = doc["baseline"]
    per: dict[str, dict[str, dict[int, float]]] = {}  # arm -> metric -> seed -> value
    for arm, a in doc["arms"].items():
        per[arm] = {}
        for seed, r in a["runs"].items():
            for m, v in run_metrics(r.get("final") or {}).items():
                per[arm].setdefault(m, {})[int(seed)] = v
    metrics = sorted({m for d in per.values() for m in d}, key=lambda m: (not m.startswith("bpb/"), m))
    table: dict[str, dict[str, Any]] = {}
    paired: dict[str, dict[str, Any]] = {}
    for arm, d in per.items():
        table[arm] = {}
        for m in metrics:
            vals = d.get(m, {})
            mean, std = mean_std(list(vals.values()))
            table[arm][m] = {
                "mean": mean,
                "std": std,
                "n": len(vals),
                "values": {str(s): v for s, v in sorted(vals.items())},
            }
        if arm == base:
            continue
        paired[arm] = {}
        for m in metrics:
            a_vals, b_vals = d.get(m, {}), per.get(base, {}).get(m, {})
            seeds = sorted(set(a_vals) & set(b_vals))
            diffs = [a_vals[s] - b_vals[s] for s in seeds]
            mean, std = mean_std(diffs)
            clear = None if mean is None or std is None else abs(mean) > 3 * std
            better = None if mean is None else (mean < 0) == lower_is_better(m) and mean != 0
            paired[arm][m] = {"mean": mean, "std": std, "n": len(seeds), "clear": clear, "better": better}
    ranking = {}
    for m in metrics:
        scored = [(t[m]["mean"], arm) for arm, t in table.items() if t[m]["mean"] is not None]
        scored.sort(reverse=not lower_is_better(m))
        ranking[m] = [arm for _, arm in scored]  # best first
    return {"baseline": base, "metrics": metrics, "table": table, "paired": paired, "ranking": ranking}
