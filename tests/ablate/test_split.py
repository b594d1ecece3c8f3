"""One ablation spread over several calls and machines: --prepare-only, --seeds/--arms, and run
folders that keep counting as finished after the ablation folder moves."""

from __future__ import annotations

import shutil

import pytest

from curate.ablate.config import AblationError, load_ablation
from curate.ablate.runner import run_ablation
from tests.ablate.conftest import ablation_yaml


def test_prepare_then_train_seeds_apart_in_a_moved_folder(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    y = ablation_yaml(a, seeds=[0, 1])
    prep = run_ablation(load_ablation(y), quiet=True, prepare_only=True)
    assert set(prep["arms"]) == {"clean", "shuffled"}
    assert prep["arms"]["shuffled"]["epochs"] > prep["arms"]["clean"]["epochs"]
    assert not (a / "out" / "runs").exists()  # nothing trained

    first = run_ablation(load_ablation(y), quiet=True, seeds=[0], only_arms=["clean"])
    assert first["statuses"] == {"clean/seed0": "trained", "shuffled/seed0": "skipped",
                                 "clean/seed1": "skipped", "shuffled/seed1": "skipped"}
    assert first["arms"]["shuffled"]["runs"] == {}

    b = tmp_path / "b"  # the whole folder moves (or the runs come back from another machine)
    shutil.copytree(a, b)
    shutil.rmtree(a)
    second = run_ablation(load_ablation(b / "ablation.yaml"), quiet=True, seeds=[1], only_arms=["clean"])
    assert second["statuses"]["clean/seed0"] == "done"  # keyed by content, not by path
    assert second["statuses"]["clean/seed1"] == "trained"
    assert set(second["arms"]["clean"]["runs"]) == {"0", "1"}
    t = second["summary"]["table"]["clean"]
    assert all(c["n"] == 2 for c in t.values())


def test_unknown_seed_or_arm_is_refused_before_any_work(tmp_path):
    y = ablation_yaml(tmp_path, seeds=[0])
    with pytest.raises(AblationError, match="seed 3 is not in"):
        run_ablation(load_ablation(y), quiet=True, seeds=[3])
    with pytest.raises(AblationError, match="no arm 'nope'"):
        run_ablation(load_ablation(y), quiet=True, only_arms=["nope"])
    assert not (tmp_path / "out" / "runs").exists()
