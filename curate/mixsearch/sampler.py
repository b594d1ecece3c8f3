"""Candidate mixes: seeded Dirichlet draws around the natural token shares, inside box bounds.

Bounds are a box on the simplex, ``lo_s <= w_s <= hi_s`` with ``sum(w) = 1``; the box comes from
`min_weight`/`max_weight` and from what a source can give at the bounds' budget
(``min(cap, max_epochs x tokens) / budget``). The feasible set is convex, so a mean of feasible
points (the search's top-k average) is feasible too. A draw outside the box is moved to the nearest
point inside it (the Euclidean projection, by bisection on the shift ``tau`` of
``clip(v - tau, lo, hi)``), rather than rejected: rejection starves when a bound is tight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Box:
    """Per-source share limits, in the order of `names`."""

    names: tuple[str, ...]
    lo: np.ndarray
    hi: np.ndarray

    def contains(self, w: np.ndarray, tol: float = 1e-9) -> bool:
        w = np.atleast_2d(w)
        return bool(
            np.all(w >= self.lo - tol)
            and np.all(w <= self.hi + tol)
            and np.allclose(w.sum(axis=1), 1.0, atol=1e-9)
        )


def make_box(
    names: list[str],
    sizes: dict[str, int],
    budget_tokens: int,
    *,
    max_epochs: dict[str, float],
    caps: dict[str, float],
    min_weight: dict[str, float],
    max_weight: dict[str, float],
) -> Box:
    """The bounds as shares at `budget_tokens`; raises ValueError when no mix fits them."""
    lo = np.array([float(min_weight.get(s, 0.0)) for s in names])
    hi = []
    for s in names:
        can_give = min(sizes[s] * max_epochs.get(s, math.inf), caps.get(s, math.inf))
        hi.append(min(1.0, float(max_weight.get(s, 1.0)), can_give / budget_tokens))
    hi_a = np.array(hi)
    if np.any(lo > hi_a + 1e-12):
        bad = [s for s, a, b in zip(names, lo, hi_a, strict=True) if a > b + 1e-12]
        raise ValueError(
            f"bounds: {bad} cannot give their min_weight at {budget_tokens:,} tokens "
            "(caps or max_epochs too small)"
        )
    if hi_a.sum() < 1 - 1e-9:
        raise ValueError(
            f"bounds: at {budget_tokens:,} tokens the sources can give at most {hi_a.sum():.1%} of the mix "
            "(raise max_epochs or caps, or lower the budget the bounds hold at)"
        )
    if lo.sum() > 1 + 1e-9:
        raise ValueError("bounds: min_weight adds up to more than 1")
    return Box(tuple(names), lo, hi_a)


def project(v: np.ndarray, box: Box, iters: int = 100) -> np.ndarray:
    """The nearest point of the bounded simplex to each row of `v` (rows of shares)."""
    v = np.atleast_2d(np.asarray(v, dtype=float))
    lo_t = (v - box.hi).min(axis=1, keepdims=True) - 1.0  # sum(clip) = sum(hi) >= 1 at this tau
    hi_t = (v - box.lo).max(axis=1, keepdims=True) + 1.0  # sum(clip) = sum(lo) <= 1 here
    for _ in range(iters):  # sum(clip(v - tau)) falls as tau rises: bisect for the tau giving 1
        mid = (lo_t + hi_t) / 2
        s = np.clip(v - mid, box.lo, box.hi).sum(axis=1, keepdims=True)
        above = s > 1
        lo_t = np.where(above, mid, lo_t)
        hi_t = np.where(above, hi_t, mid)
    w = np.clip(v - (lo_t + hi_t) / 2, box.lo, box.hi)
    return w / w.sum(axis=1, keepdims=True)  # removes the bisection's last ~1e-15


def natural_shares(names: list[str], sizes: dict[str, int]) -> np.ndarray:
    """Each source's share of all unique tokens."""
    t = np.array([float(sizes[s]) for s in names])
    return t / t.sum()


def draw(
    n: int,
    natural: np.ndarray,
    box: Box,
    rng: np.random.Generator,
    *,
    concentration: float = 1.0,
    spread: tuple[float, float] = (0.3, 3.0),
    floor: float = 0.02,
) -> np.ndarray:
    """`n` mixes: Dirichlet(c x k x max(natural, floor)), c log-uniform in concentration x spread,
    each projected into the box."""
    k = len(natural)
    base = np.maximum(natural, floor)
    base = base / base.sum()
    c = concentration * np.exp(rng.uniform(math.log(spread[0]), math.log(spread[1]), size=n))
    alphas = c[:, None] * k * base[None, :]
    g = rng.gamma(alphas)  # Dirichlet by normalised gammas, vectorised over rows of alpha
    g = np.where(g.sum(axis=1, keepdims=True) > 0, g, base)  # all-zero underflow at tiny alpha
    return project(g / g.sum(axis=1, keepdims=True), box)


def candidates(
    n: int,
    natural: np.ndarray,
    box: Box,
    seed: int,
    *,
    concentration: float = 1.0,
    spread: tuple[float, float] = (0.3, 3.0),
    floor: float = 0.02,
    include_anchors: bool = True,
) -> np.ndarray:
    """The search's candidate mixes (rows), seeded: the natural and uniform mixes first (projected),
    then Dirichlet draws. The same arguments give the same array."""
    rng = np.random.default_rng(seed)
    anchors = (
        project(np.stack([natural, np.full(len(natural), 1 / len(natural))]), box)
        if include_anchors
        else np.zeros((0, len(natural)))
    )
    rest = draw(n - len(anchors), natural, box, rng, concentration=concentration, spread=spread, floor=floor)
    return np.concatenate([anchors, rest])[:n]
