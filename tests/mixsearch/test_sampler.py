"""The candidate sampler: bounds are respected, the same seed gives the same candidates."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.mixsearch import sampler

NAMES = ["web", "books", "code", "chat"]
SIZES = {"web": 8_000_000, "books": 2_000_000, "code": 500_000, "chat": 100_000}


def box(budget=1_000_000, **kw):
    args = {"max_epochs": {}, "caps": {}, "min_weight": {}, "max_weight": {}} | kw
    return sampler.make_box(NAMES, SIZES, budget, **args)


def test_bounds_from_epochs_caps_and_weights():
    b = box(
        1_000_000,
        max_epochs={"chat": 2.0},
        caps={"web": 300_000},
        max_weight={"books": 0.5},
        min_weight={"code": 0.05},
    )
    assert b.hi.tolist() == pytest.approx([0.3, 0.5, 1.0, 0.2])
    assert b.lo.tolist() == pytest.approx([0, 0, 0.05, 0])


def test_infeasible_bounds_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="at most 40.0% of the mix"):
        box(1_000_000, caps={"web": 100_000, "books": 100_000, "code": 100_000}, max_epochs={"chat": 1.0})
    with pytest.raises(ValueError, match="cannot give their min_weight"):
        box(1_000_000, min_weight={"chat": 0.5}, max_epochs={"chat": 1.0})


def test_candidates_respect_the_bounds_and_include_the_anchors():
    b = box(1_000_000, max_epochs={"chat": 1.0}, caps={"web": 400_000}, min_weight={"code": 0.1})
    nat = sampler.natural_shares(NAMES, SIZES)
    w = sampler.candidates(64, nat, b, seed=3)
    assert w.shape == (64, 4)
    assert b.contains(w)
    assert np.all(w[:, 3] <= 0.1 + 1e-9) and np.all(w[:, 0] <= 0.4 + 1e-9) and np.all(w[:, 2] >= 0.1 - 1e-9)
    # the first two are the natural and the uniform mix, each moved into the box
    assert w[0] == pytest.approx(sampler.project(nat, b)[0])
    assert w[1] == pytest.approx(sampler.project(np.full(4, 0.25), b)[0])
    # spread: the draws are not all near the natural mix
    assert np.abs(w[2:] - w[0]).sum(axis=1).max() > 0.3


def test_same_seed_same_candidates_other_seed_other_candidates():
    b = box()
    nat = sampler.natural_shares(NAMES, SIZES)
    a1 = sampler.candidates(32, nat, b, seed=0)
    a2 = sampler.candidates(32, nat, b, seed=0)
    a3 = sampler.candidates(32, nat, b, seed=1)
    assert np.array_equal(a1, a2)
    assert not np.allclose(a1[2:], a3[2:])


def test_draws_centre_on_the_natural_shares():
    b = box(10**12)  # no bound binds
    nat = sampler.natural_shares(NAMES, SIZES)
    w = sampler.draw(4000, nat, b, np.random.default_rng(0), concentration=5.0, spread=(1.0, 1.0), floor=0.0)
    assert w.mean(axis=0) == pytest.approx(nat, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-2, 3), min_size=4, max_size=4), st.lists(st.floats(0.05, 1.0), min_size=4, max_size=4)
)
def test_projection_lands_in_the_box_and_keeps_inside_points(v, hi):
    hi = np.array(hi)
    if hi.sum() < 1:
        hi = hi / hi.sum()
    b = sampler.Box(tuple(NAMES), np.zeros(4), np.minimum(hi, 1.0))
    p = sampler.project(np.array(v), b)
    assert b.contains(p, tol=1e-7)
    q = sampler.project(p, b)  # a point inside stays where it is
    assert q == pytest.approx(p, abs=1e-7)
