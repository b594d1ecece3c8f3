"""The regression and the search over it: a known optimum of a synthetic loss is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from curate.mixsearch import regression, sampler

NAMES = ["a", "b", "c", "d"]
OPT = np.array([0.45, 0.25, 0.2, 0.1])


def loss(w: np.ndarray, noise: float = 0.0, rng=None) -> np.ndarray:
    """A smooth bowl with its minimum at OPT (inside the simplex), plus optional noise."""
    w = np.atleast_2d(w)
    y = 2.5 + 3.0 * ((w - OPT) ** 2).sum(axis=1) + 0.5 * (w[:, 0] - OPT[0]) * (w[:, 1] - OPT[1])
    return y + (rng.normal(0, noise, len(y)) if noise else 0)


def data(n=64, seed=0, noise=0.002):
    b = sampler.Box(tuple(NAMES), np.zeros(4), np.ones(4))
    nat = np.array([0.6, 0.2, 0.15, 0.05])
    w = sampler.candidates(n, nat, b, seed=seed)
    return b, nat, w, loss(w, noise, np.random.default_rng(seed))


def test_spearman_matches_a_hand_count():
    assert regression.spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    assert regression.spearman(np.array([1, 2, 3, 4]), np.array([4, 3, 2, 1])) == pytest.approx(-1.0)
    # ties share ranks: x ranks 0, 1.5, 1.5, 3
    assert regression.spearman(np.array([1, 2, 2, 3]), np.array([1, 2, 3, 4])) == pytest.approx(0.9486833)
    assert np.isnan(regression.spearman(np.ones(4), np.arange(4)))


@pytest.mark.parametrize("model", ["quadratic", "gbm"])
def test_search_recovers_the_known_optimum(model):
    if model not in regression.available_models():
        pytest.skip(f"{model} needs its library")
    b, nat, w, y = data()
    best, fits = regression.fit(w, y, model=model, folds=5, seed=0)
    assert [f.name for f in fits] == [model]
    assert best.spearman > 0.8  # ranks held-out candidates well
    prior = sampler.draw(20_000, nat, b, np.random.default_rng(1))
    found = regression.search(best.model.predict, prior, top_k=50)
    tol = 0.06 if model == "quadratic" else 0.15  # trees are piecewise constant: a coarser optimum
    assert np.abs(found["weights"] - OPT).max() < tol
    # the excess loss over the true minimum (2.5) shrinks well below the natural mix's
    excess = 0.1 if model == "quadratic" else 0.35
    assert loss(found["weights"])[0] - 2.5 < excess * (loss(nat)[0] - 2.5)
    assert found["weights"].sum() == pytest.approx(1.0)


def test_search_stays_inside_the_bounds_when_the_optimum_is_outside():
    b = sampler.Box(tuple(NAMES), np.array([0.0, 0.0, 0.0, 0.2]), np.array([0.3, 1.0, 1.0, 1.0]))
    nat = np.array([0.3, 0.3, 0.2, 0.2])
    w = sampler.candidates(64, nat, b, seed=2)
    y = loss(w)
    best, _ = regression.fit(w, y, model="quadratic", folds=4)
    found = regression.search(best.model.predict, sampler.draw(20_000, nat, b, np.random.default_rng(3)), 50)
    assert b.contains(found["weights"], tol=1e-9)
    assert found["weights"][0] == pytest.approx(0.3, abs=0.03)  # pressed against the cap, as OPT wants more
    assert found["weights"][3] == pytest.approx(0.2, abs=0.03)  # and against the floor, as OPT wants less


def test_trust_region_keeps_the_search_where_candidates_were_measured():
    b = sampler.Box(tuple(NAMES), np.zeros(4), np.ones(4))
    nat = np.array([0.4, 0.3, 0.2, 0.1])
    measured = np.array([[0.5, 0.3, 0.15, 0.05], [0.3, 0.3, 0.25, 0.15], [0.4, 0.2, 0.2, 0.2]])
    prior = sampler.draw(5_000, nat, b, np.random.default_rng(0))
    kept = regression.trust_region(prior, measured, 0.05)
    lo, hi = measured.min(axis=0) - 0.05, measured.max(axis=0) + 0.05
    assert np.all((kept >= lo - 1e-12) & (kept <= hi + 1e-12))
    assert 3 < len(kept) < len(prior) + 3          # some draws left out, the measured rows kept
    assert np.array_equal(kept[-3:], measured)
    assert regression.trust_region(prior, measured, None) is prior
    # a fit whose optimum lies far outside the measured range is searched only inside it
    found = regression.search(lambda w: -w[:, 3], kept, 10)
    assert found["weights"][3] <= hi[3] + 1e-9
    assert regression.search(lambda w: -w[:, 3], prior, 10)["weights"][3] > hi[3]


def test_auto_fits_every_available_model_and_uses_the_best_ranker():
    _, _, w, y = data(noise=0.0)
    best, fits = regression.fit(w, y, model="auto", folds=5)
    assert {f.name for f in fits} == set(regression.available_models())
    assert best.spearman == max(f.spearman for f in fits)
    assert best.summary()["model"] == best.name


def test_a_missing_library_is_a_clear_error(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_lightgbm(name, *a, **k):
        if name == "lightgbm":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_lightgbm)
    with pytest.raises(regression.MissingModel, match="pip install 'lightgbm"):
        regression.make_model("lightgbm")
    assert "lightgbm" not in regression.available_models()
