"""The mixing arithmetic: per-source budgets, then an exact hash-ranked selection per source.

Budgets. Each source ``s`` has a size ``n_s`` (in the mix's unit: documents, tokens or bytes) and
an upper limit ``L_s = min(n_s * max_epochs_s, cap_s)``. Its weight is either given, or derived
from sizes by temperature sampling, ``w_s ∝ min(n_s, cap_s) ** (1/T)`` (T=1 is FLAN's
examples-proportional mixing with a cap; T>1 flattens towards small sources, as in multilingual
mixes). With ``total`` given, the budget is ``B_s = min(w_s * total, L_s)`` and a source whose
limit binds is reported as too small for its weight. Without ``total``, the largest total that
every source can honour is taken, ``total = min_s L_s / w_s``, so shares are exact.

Selection. A budget of ``B_s = k * n_s + R`` units is met with ``k`` whole copies of every
document plus a prefix of the documents ranked by ``xxh64(id, seed)`` whose units add up to
``R`` (nearest to R, never over a cap or ``max_epochs``). The prefix is stored as a hash
threshold, so applying it needs only ``(seed, id)`` per row: independent of shard layout and
worker count, and exact to within one document per source.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

HASH_SPACE = 1 << 64  # threshold meaning "every document gets the extra copy"


@dataclasses.dataclass
class SourcePlan:
    """The plan for one source (one value of the ``by`` column)."""

    docs: int
    size: int  # units available (one epoch)
    weight: float  # requested share (normalised; 0 = excluded)
    limit: float  # most units allowed: min(size * max_epochs, cap)
    budget: float = 0.0  # units asked of this source
    binding: str = "weight"  # weight | cap | max_epochs | excluded
    copies: int = 0  # whole copies of every document
    threshold: int = 0  # documents with hash < threshold get one more copy
    units: int = 0  # units selected (exact)
    rows: int = 0  # rows emitted (documents * copies)
    docs_kept: int = 0  # documents kept at least once
    smallest_doc: int = 0  # units of the source's smallest / median document (why a budget can be missed)
    median_doc: float = 0.0

    @property
    def epochs(self) -> float:
        return self.units / self.size if self.size else 0.0


def derive_weights(
    sizes: dict[str, int],
    weights: dict[str, float] | None,
    temperature: float | None,
    caps: dict[str, float],
) -> dict[str, float]:
    """Normalised weights: the given ones, or ``min(size, cap) ** (1/T)`` when none are given."""
    if weights is not None:
        raw = {s: float(weights.get(s, 0.0)) for s in set(sizes) | set(weights)}
    else:
        t = temperature or 1.0
        raw = {s: min(float(n), caps.get(s, math.inf)) ** (1.0 / t) for s, n in sizes.items()}
    total = sum(raw.values())
    if total <= 0:
        raise ValueError("mix: the weights add up to 0: nothing would be kept")
    return {s: w / total for s, w in raw.items()}


def plan_budgets(
    sizes: dict[str, int],
    docs: dict[str, int],
    weights: dict[str, float],
    total: float | None,
    caps: dict[str, float],
    max_epochs: dict[str, float],
) -> tuple[dict[str, SourcePlan], list[str]]:
    """Budget per source (see the module docstring) and the warnings a user must see."""
    warnings: list[str] = []
    plans: dict[str, SourcePlan] = {}
    for s in sorted(set(sizes) | set(weights)):
        n = int(sizes.get(s, 0))
        limit = min(n * max_epochs.get(s, 1.0), caps.get(s, math.inf))
        plans[s] = SourcePlan(docs=int(docs.get(s, 0)), size=n, weight=weights.get(s, 0.0), limit=limit)
    for s, p in plans.items():
        if p.weight > 0 and p.size == 0:
            warnings.append(f"source {s!r} has weight {p.weight:.4f} but no data: it contributes nothing")
        if p.weight == 0 and p.size > 0:
            p.binding = "excluded"
            warnings.append(f"source {s!r} has {p.docs} documents but weight 0 (not in weights): all dropped")
    live = {s: p for s, p in plans.items() if p.weight > 0 and p.size > 0}
    if not live:
        raise ValueError("mix: no source has both data and a positive weight")
    if total is None:
        # The largest total all sources can honour; renormalise over the sources that have data.
        wsum = sum(p.weight for p in live.values())
        total = min(p.limit / (p.weight / wsum) for p in live.values())
        for p in live.values():
            p.weight = p.weight / wsum
    for s, p in live.items():
        want = p.weight * total
        if want > p.limit * (1 + 1e-12):
            p.budget = p.limit
            capped = p.limit < p.size * max_epochs.get(s, 1.0)
            p.binding = "cap" if capped else "max_epochs"
            if not capped:
                warnings.append(
                    f"source {s!r} is too small for its weight: {want:,.0f} units wanted, at most "
                    f"{p.limit:,.0f} available ({p.size:,} x max_epochs {max_epochs.get(s, 1.0):g}); "
                    "its share will be lower than requested"
                )
        else:
            p.budget = min(want, p.limit)
            if math.isclose(p.budget, p.limit, rel_tol=1e-12):  # the source that set the total
                p.binding = "cap" if p.limit < p.size * max_epochs.get(s, 1.0) else "max_epochs"
    return plans, warnings


def select(units: np.ndarray, hashes: np.ndarray, plan: SourcePlan) -> None:
    """Fill ``copies``, ``threshold``, ``units``, ``rows``, ``docs_kept`` of ``plan`` (exact budget).

    ``units`` and ``hashes`` are the source's documents in any order (the ranking sorts them).
    """
    if len(units):
        plan.smallest_doc, plan.median_doc = int(units.min()), float(np.median(units))
    if plan.size == 0 or plan.budget <= 0:
        plan.copies, plan.threshold = 0, 0
        return
    k = int(plan.budget // plan.size)
    rest = plan.budget - k * plan.size
    order = np.argsort(hashes, kind="stable")
    cum = np.concatenate(([0], np.cumsum(units[order], dtype=np.int64)))
    # Nearest prefix to the remaining budget, but never past the limit (caps, max_epochs).
    allowed = cum[cum <= plan.limit - k * plan.size + 1e-9]
    n = int(np.argmin(np.abs(allowed - rest)))
    plan.copies = k
    plan.threshold = 0 if n == 0 else int(hashes[order[n]]) if n < len(order) else HASH_SPACE
    plan.units = int(k * plan.size + cum[n])
    plan.rows = int(k * len(units) + n)
    plan.docs_kept = len(units) if k > 0 else n


def share_warnings(plans: dict[str, SourcePlan], tolerance: float, unit: str, caps: dict[str, float],
                   max_epochs: dict[str, float]) -> list[str]:
    """A warning for every group whose achieved share misses its requested share by more than
    ``tolerance`` (absolute: 0.01 = one percentage point), with the reason: documents too large for
    the budget (selection keeps whole documents), a cap, ``max_epochs``, or other groups falling
    short (which raises the share of the rest)."""
    achieved_total = sum(p.units for p in plans.values())
    if not achieved_total:
        return []
    share = {g: p.units / achieved_total for g, p in plans.items()}
    short = sorted(g for g, p in plans.items() if share[g] < p.weight - tolerance)
    over_budget = sorted(g for g, p in plans.items() if p.units > p.budget * (1 + 1e-6) + 1e-9)
    out = []
    for g, p in sorted(plans.items()):
        got, want = share[g], p.weight
        if abs(got - want) <= tolerance or p.binding == "excluded":
            continue
        head = (f"group {g!r}: achieved share {got:.1%}, requested {want:.1%} (more than "
                f"share_tolerance {tolerance:.1%} apart): ")
        docs = f"(smallest document {p.smallest_doc:,}, median {p.median_doc:,.0f} {unit})"
        at_limit = p.size > 0 and p.budget >= p.limit * (1 - 1e-9)
        if got < want:
            if p.size == 0:
                why = "it has no data"
            elif p.binding == "cap" and at_limit:
                why = f"its cap is {caps.get(g, math.inf):,.0f} {unit}"
            elif p.binding == "max_epochs" and at_limit:
                why = (f"all its data x max_epochs {max_epochs.get(g, 1.0):g} is {p.limit:,.0f} {unit} "
                       f"({p.size:,} {unit} in one epoch)")
            elif p.units < p.budget * (1 - 1e-6):
                why = (f"its budget is {p.budget:,.0f} {unit} but selection keeps whole documents and its "
                       f"documents are large for that {docs}: {p.units:,} {unit} selected")
            else:
                others = ", ".join(repr(x) for x in over_budget if x != g) or "other groups"
                why = f"its budget of {p.budget:,.0f} {unit} was met, but {others} got more than theirs"
        elif p.units > p.budget * (1 + 1e-6) + 1e-9:
            why = (
                f"selection keeps whole documents: {p.units:,} {unit} for a budget of {p.budget:,.0f} {docs}"
            )
        else:
            others = ", ".join(repr(x) for x in short if x != g) or "other groups"
            why = f"{others} fell short of their share, which raises the share of the rest"
        out.append(head + why)
    return out
