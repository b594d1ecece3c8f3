"""From mix weights to target loss: fit, cross-validate by rank, search the fit under the bounds.

Models (RegMix, Liu et al. 2024, fits LightGBM; with 4-8 sources and ~64 candidates a smooth
low-order fit is often as good, so both kinds are here and `auto` picks by held-out rank):

- ``quadratic``: ridge regression on the shares and their pairwise products (standardised),
  closed form in NumPy, so it needs nothing beyond the training stack;
- ``gbm``: scikit-learn's gradient-boosted trees (the ``mixsearch`` extra);
- ``lightgbm``: LightGBM's regressor with RegMix's small-data settings, when LightGBM is installed.

How well a model ranks mixes is measured out of sample: k-fold over the candidates, each fold
predicted by a model fit on the others, Spearman's rho of those predictions against the measured
losses. The search (RegMix's) scores many draws of the prior with the fit and averages the
`top_k` best: averaging smooths the fit's noise, and stays inside the bounds since the bounded
simplex is convex.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MODELS = ("quadratic", "gbm", "lightgbm")


class MissingModel(RuntimeError):
    """A regression model whose library is not installed, with the install line."""


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (Pearson on ranks, ties share their mean rank); nan when a side is constant."""

    def ranks(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x), dtype=float)
        for v in np.unique(x):  # average the ranks of ties
            m = x == v
            if m.sum() > 1:
                r[m] = r[m].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _quad_features(w: np.ndarray) -> np.ndarray:
    w = np.atleast_2d(w)
    k = w.shape[1]
    pairs = [w[:, i] * w[:, j] for i in range(k) for j in range(i, k)]
    return np.column_stack([w, *pairs])


class QuadraticRidge:
    """Ridge on [w, w_i w_j] with standardised features and an unpenalised intercept."""

    def __init__(self, ridge: float = 1e-4):
        self.ridge = ridge

    def fit(self, w: np.ndarray, y: np.ndarray) -> QuadraticRidge:
        f = _quad_features(w)
        self.mu, self.sd = f.mean(axis=0), f.std(axis=0)
        self.sd[self.sd == 0] = 1.0
        z = (f - self.mu) / self.sd
        self.y0 = float(np.mean(y))
        a = z.T @ z + self.ridge * len(y) * np.eye(z.shape[1])
        self.coef = np.linalg.solve(a, z.T @ (np.asarray(y, float) - self.y0))
        return self

    def predict(self, w: np.ndarray) -> np.ndarray:
        return ((_quad_features(w) - self.mu) / self.sd) @ self.coef + self.y0


def _gbm(seed: int) -> Any:
    try:
        from sklearn.ensemble import GradientBoostingRegressor
    except ImportError:
        raise MissingModel(
            "regression model 'gbm' needs scikit-learn: pip install 'curate[mixsearch]' "
            "(or scikit-learn>=1.4,<2), or use model: quadratic"
        ) from None
    # Shallow trees, many small steps and row subsampling: the small-sample setting.
    return GradientBoostingRegressor(
        n_estimators=300,
        max_depth=2,
        learning_rate=0.05,
        subsample=0.8,
        min_samples_leaf=3,
        random_state=seed,
    )


def _lightgbm(seed: int) -> Any:
    try:
        import lightgbm as lgb
    except ImportError:
        raise MissingModel(
            "regression model 'lightgbm' needs LightGBM: pip install 'lightgbm>=4,<5', "
            "or use model: quadratic or gbm"
        ) from None
    # RegMix's settings, with leaves allowed on few rows (it fits 512 candidates; we fit ~64).
    return lgb.LGBMRegressor(
        objective="regression",
        n_estimators=500,
        learning_rate=0.02,
        num_leaves=7,
        min_child_samples=3,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=1.0,
        random_state=seed,
        verbose=-1,
    )


def make_model(name: str, *, ridge: float = 1e-4, seed: int = 0) -> Any:
    """A fresh, unfitted model with `fit(w, y)` and `predict(w)`."""
    if name == "quadratic":
        return QuadraticRidge(ridge)
    if name == "gbm":
        return _gbm(seed)
    if name == "lightgbm":
        return _lightgbm(seed)
    raise ValueError(f"unknown regression model {name!r}; valid: {', '.join(MODELS)}")


def available_models() -> list[str]:
    """The models whose libraries import here (quadratic always)."""
    out = []
    for m in MODELS:
        try:
            make_model(m)
            out.append(m)
        except MissingModel:
            pass
    return out


def kfold_predictions(
    name: str, w: np.ndarray, y: np.ndarray, folds: int, seed: int, ridge: float = 1e-4
) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold predictions for every candidate and Spearman's rho within each fold."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    parts = np.array_split(order, folds)
    pred = np.empty(len(y))
    per_fold = []
    for test in parts:
        train = np.setdiff1d(order, test)
        m = make_model(name, ridge=ridge, seed=seed).fit(w[train], y[train])
        pred[test] = m.predict(w[test])
        per_fold.append(spearman(pred[test], y[test]))
    return pred, per_fold


@dataclass
class Fit:
    """A fitted model and how it ranks held-out candidates."""

    name: str
    model: Any
    oof: np.ndarray  # out-of-fold prediction per candidate
    spearman: float  # rho of all out-of-fold predictions against the measured losses
    fold_spearman: list[float]
    in_sample: np.ndarray  # the full fit's prediction per candidate

    def summary(self) -> dict[str, Any]:
        finite = [x for x in self.fold_spearman if np.isfinite(x)]
        return {
            "model": self.name,
            "spearman_oof": _f(self.spearman),
            "spearman_fold_mean": _f(float(np.mean(finite))) if finite else None,
            "spearman_folds": [_f(x) for x in self.fold_spearman],
        }


def _f(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def fit(
    w: np.ndarray, y: np.ndarray, *, model: str = "auto", folds: int = 5, seed: int = 0, ridge: float = 1e-4
) -> tuple[Fit, list[Fit]]:
    """Fit the named model (or, for `auto`, every available one) with k-fold Spearman; returns the one
    used (auto: the best out-of-fold rho, quadratic on ties) and all that were fit."""
    names = available_models() if model == "auto" else [model]
    fits = []
    for name in names:
        oof, per_fold = kfold_predictions(name, w, y, folds, seed, ridge)
        full = make_model(name, ridge=ridge, seed=seed).fit(w, y)
        fits.append(Fit(name, full, oof, spearman(oof, y), per_fold, full.predict(w)))
    best = max(fits, key=lambda f: (f.spearman if np.isfinite(f.spearman) else -2.0, f.name == "quadratic"))
    return best, fits


def trust_region(prior: np.ndarray, measured: np.ndarray, margin: float | None) -> np.ndarray:
    """The rows of `prior` whose every share lies within the measured candidates' range +- `margin`.

    A regression fitted on a few dozen proxies is only evidence where they are: 64 Dirichlet draws
    around natural shares rarely put a small source above a quarter, yet 100k prior draws do, and a
    quadratic fit is free to predict its lowest loss there (seen on issue 19's first GPU search: an
    85%-instruction mix, far from every measured point). The measured rows themselves always stay.
    """
    if margin is None:
        return prior
    lo = measured.min(axis=0) - margin
    hi = measured.max(axis=0) + margin
    keep = np.all((prior >= lo) & (prior <= hi), axis=1)
    return np.concatenate([prior[keep], measured])


def search(predict: Callable[[np.ndarray], np.ndarray], prior: np.ndarray, top_k: int) -> dict[str, Any]:
    """The mean of the `top_k` lowest-predicted rows of `prior`, its predicted loss, and the top rows."""
    p = np.asarray(predict(prior), dtype=float)
    order = np.argsort(p, kind="stable")
    top = prior[order[: max(1, min(top_k, len(prior)))]]
    best = top.mean(axis=0)
    best = best / best.sum()
    return {
        "weights": best,
        "predicted": float(predict(best[None, :])[0]),
        "top": prior[order[:5]],
        "top_predicted": p[order[:5]],
    }
