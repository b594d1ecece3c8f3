"""The mixing arithmetic on its own: budgets, temperature weights, exact hash-ranked selection."""

from __future__ import annotations

import numpy as np
import pytest

from curate.mix.plan import HASH_SPACE, SourcePlan, derive_weights, plan_budgets, select


def test_temperature_weights():
    w = derive_weights({"a": 900, "b": 100}, None, 2.0, {})
    assert w["a"] == pytest.approx(30 / 40) and w["b"] == pytest.approx(10 / 40)
    w = derive_weights({"a": 900, "b": 100}, None, None, {"a": 100})  # FLAN: cap then proportional
    assert w == {"a": 0.5, "b": 0.5}


def test_total_defaults_to_largest_honourable():
    plans, warnings = plan_budgets({"a": 1000, "b": 100}, {"a": 10, "b": 1}, {"a": 0.5, "b": 0.5}, None, {},
                                   {"a": 1.0, "b": 1.0})
    assert plans["a"].budget == 100 and plans["b"].budget == 100
    assert plans["b"].binding == "max_epochs" and plans["a"].binding == "weight"
    assert warnings == []


def test_select_exact_and_upsampling():
    rng = np.random.default_rng(0)
    units = rng.integers(1, 100, 1000)
    hashes = rng.integers(0, 2**63, 1000, dtype=np.int64).astype(np.uint64)
    p = SourcePlan(
        docs=1000, size=int(units.sum()), weight=1.0, limit=3 * units.sum(), budget=2.5 * units.sum()
    )
    select(units, hashes, p)
    assert p.copies == 2
    extra = hashes < np.uint64(p.threshold)
    assert p.units == 2 * units.sum() + units[extra].sum()
    assert abs(p.units - p.budget) <= units.max()
    full = SourcePlan(docs=1000, size=int(units.sum()), weight=1.0, limit=units.sum(), budget=units.sum())
    select(units, hashes, full)
    assert full.copies == 1 and full.threshold == 0 and full.units == units.sum()
    capped = SourcePlan(docs=1000, size=int(units.sum()), weight=1.0, limit=5000, budget=5000)
    select(units, hashes, capped)
    assert capped.units <= 5000 and capped.threshold < HASH_SPACE
