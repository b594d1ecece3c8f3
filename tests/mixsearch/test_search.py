"""`curate mix search` end to end on CPU with the tiny preset: proxies, fit, mix block, page, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.mixsearch.conftest import BATCH, CANDIDATES, PROXY_STEPS, SEQ, VALIDATE_STEPS


def test_every_candidate_trains_a_proxy_at_the_same_budget(searched):
    doc = searched["doc"]
    assert [r["name"] for r in doc["candidates"]] == [f"c{i:03d}" for i in range(CANDIDATES)]
    assert doc["budget"]["steps"] == PROXY_STEPS
    for r in doc["candidates"]:
        assert r["steps"] == PROXY_STEPS and r["target"] is not None
        assert r["tokens"] == pytest.approx(PROXY_STEPS * SEQ * BATCH, rel=0.15)  # whole documents
        assert sum(r["shares"].values()) == pytest.approx(1.0)
        # the target is the weighted mean of the sets (held weighs 2, held2 1)
        assert r["target"] == pytest.approx((2 * r["bpb"]["held"] + r["bpb"]["held2"]) / 3)
        assert (searched["out"] / "runs" / r["name"] / "seed0" / "ablate_result.json").is_file()


def test_bounds_hold_for_candidates_and_the_chosen_mix(searched):
    doc = searched["doc"]
    hi = doc["sources"]["noise"]["hi"]
    assert hi == pytest.approx(1500 / doc["bounds_tokens"]) and hi < 0.5  # the cap, at the validation budget
    assert all(r["requested"]["noise"] <= hi + 1e-9 for r in doc["candidates"])
    assert doc["fit"]["in_bounds"] and doc["fit"]["chosen"]["weights"]["noise"] <= hi + 1e-6


def test_the_fit_is_cross_validated_and_the_search_moves_away_from_noise(searched):
    fit = searched["doc"]["fit"]
    assert fit["model"]["model"] in {"quadratic", "gbm", "lightgbm"}
    assert len(fit["model"]["spearman_folds"]) == 3
    assert all(r.get("predicted_oof") is not None for r in searched["doc"]["candidates"])
    # shuffled characters teach nothing about the target: the chosen mix gives them less than natural
    assert fit["chosen"]["weights"]["noise"] < fit["anchors"]["natural"]["weights"]["noise"]


def test_mix_yaml_is_a_valid_mix_stage_block(searched):
    from curate.mix.stage import Mix

    text = (searched["out"] / "mix.yaml").read_text()
    assert text.startswith("# curate mix search tiny-search")
    assert "k-fold Spearman" in text and "c005" in text  # the header and the candidates' table
    doc = yaml.safe_load(text)
    [stage] = doc["stages"]
    cfg = Mix.Config.model_validate(stage["mix"])
    assert cfg.unit == "tokens" and cfg.caps == {"noise": 1500} and cfg.max_epochs == 3
    assert cfg.weights == pytest.approx(searched["doc"]["fit"]["chosen"]["weights"])
    assert [i["source"] for i in doc["inputs"]] == ["clean", "noise", "other"]
    from curate.io.paths import expand_glob

    for i in doc["inputs"]:  # each input finds its source's shards
        assert [Path(p).name for p in expand_glob(i["paths"], Path("/"))] == ["part-00000.parquet"]
    rows = (searched["out"] / "candidates.csv").read_text().splitlines()
    assert len(rows) == CANDIDATES + 1 and rows[0].startswith("name,status,requested_clean")


def test_validation_trains_three_mixes_at_the_larger_budget(searched):
    v = searched["doc"]["validation"]
    assert set(v["table"]) == {"chosen", "natural", "uniform"}
    assert v["budget"]["steps"] == VALIDATE_STEPS and v["seeds"] == [0]
    for t in v["table"].values():
        assert len(t["values"]) == 1 and t["mean"] is not None
    assert v["table"]["chosen"]["weights"] == searched["doc"]["fit"]["chosen"]["weights"]
    for p in v["paired"].values():  # one seed: a difference, but no std to judge it by
        assert p["n"] == 1 and p["mean"] is not None and p["beats"] is None
    abl = json.loads((searched["out"] / "validate" / "ablation.json").read_text())
    assert abl["baseline"] == "natural" and (searched["out"] / "validate" / "ablation.html").is_file()


@pytest.mark.slow
def test_validation_over_seeds_gives_paired_differences_with_a_std(searched_seeds):
    v = searched_seeds["doc"]["validation"]
    assert v["seeds"] == [0, 1]
    for t in v["table"].values():
        assert len(t["values"]) == 2 and t["std"] is not None
    for k, p in v["paired"].items():
        assert p["n"] == 2 and p["std"] is not None and p["beats"] in (True, False)
        a, b = k.split("-")
        want = [v["table"][a]["values"][s] - v["table"][b]["values"][s] for s in ("0", "1")]
        assert p["diffs"] == pytest.approx(want)
    assert v["beats_both"] == (
        v["paired"]["chosen-natural"]["beats"] and v["paired"]["chosen-uniform"]["beats"]
    )
    assert (
        searched_seeds["doc"]["fit"]["chosen"]["weights"]["noise"]
        < (searched_seeds["doc"]["fit"]["anchors"]["natural"]["weights"]["noise"])
    )


def test_a_second_run_skips_every_finished_run_and_gives_the_same_result(searched):
    again = searched["again"]
    assert {r["status"] for r in again["candidates"]} == {"done"}
    assert again["fit"]["chosen"] == searched["doc"]["fit"]["chosen"]
    assert (
        again["validation"]["table"]["chosen"]["values"]
        == searched["doc"]["validation"]["table"]["chosen"]["values"]
    )


def test_page_is_self_contained_and_shows_the_fit(searched):
    html = (searched["out"] / "search.html").read_text()
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    for part in (
        "Predicted vs measured loss",
        "Spearman",
        "chosen",
        "natural",
        "uniform",
        "Paired differences",
        "c005",
    ):
        assert part in html


def test_cli_report_only_and_validate_only(searched):
    from curate.cli import main

    r = CliRunner().invoke(main, ["mix", "search", str(searched["yaml"]), "--report-only"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["mix", "search", str(searched["yaml"]), "--validate-only", "-q"])
    assert r.exit_code == 0, r.output
    assert "validation chosen" in r.output and "Spearman on held-out candidates" in r.output


@pytest.mark.parametrize(
    "change, message",
    [
        ({"budget": {"tokens": 10, "epochs_of_smallest": 1}}, "exactly one of them"),
        ({"bounds": {"caps": {"zzz": 1}}}, "which are not sources"),
        ({"train": {"max_steps": 3}}, "set by the search itself"),
        ({"sources": {"a": "x"}}, "at least two sources"),
    ],
)
def test_a_bad_config_is_one_clear_error(tmp_path, change, message):
    from curate.cli import main

    p = tmp_path / "s.yaml"
    base = {
        "out": "o",
        "sources": {"a": "x", "b": "y"},
        "target": {"t": "t.txt"},
        "tokenizer": "tok",
        "budget": {"tokens": 10},
    }
    p.write_text(yaml.safe_dump(base | change))
    r = CliRunner().invoke(main, ["mix", "search", str(p)])
    assert r.exit_code == 2
    assert "invalid mix search" in r.output and message in r.output


def test_results_alone_resume_without_training_in_another_folder(searched, tmp_path):
    """What bench/mixsearch/run.sh carries between machines: the results and keys, no data, no
    weights, into another folder. Each candidate's data is written again with the same bytes, and
    run keys name data and tokenizer by content, so every run stays finished."""
    import shutil

    from curate.mixsearch import load_search, run_search

    src, dst = searched["out"], tmp_path / "moved"
    keep = [
        "search.json",
        "tokenizer/*",
        "runs/*/seed*/ablate_*.json",
        "runs/*/seed*/curve.jsonl",
        "candidates/*/mix_plan.json",
        "validate/mixes/*/mix_plan.json",
        "validate/runs/*/seed*/ablate_*.json",
        "validate/runs/*/seed*/curve.jsonl",
    ]
    for pat in keep:
        for f in src.glob(pat):
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst / f.relative_to(src))
    assert not list(dst.rglob("*.safetensors")) and not list(dst.rglob("part-*.parquet"))
    doc = run_search(load_search(searched["yaml"], out=str(dst)), quiet=True)
    assert {r["status"] for r in doc["candidates"]} == {"done"}
    assert doc["fit"]["chosen"] == searched["doc"]["fit"]["chosen"]
    assert doc["validation"]["table"] == searched["doc"]["validation"]["table"]
    assert not list(dst.rglob("*.safetensors"))  # nothing was trained


def test_mix_yaml_runs_as_a_pipeline_and_hits_the_chosen_shares(searched, tmp_path):
    from curate.engine.runner import run_pipeline

    doc = yaml.safe_load((searched["out"] / "mix.yaml").read_text())
    doc["stages"][0]["mix"]["total"] = 4000  # what these small sources can give at every share
    doc |= {"name": "mixed", "output": {"path": str(tmp_path / "mixed")}}
    p = tmp_path / "mixed.yaml"
    p.write_text(yaml.safe_dump(doc))
    run_pipeline(p, quiet=True)
    stats = json.loads((tmp_path / "mixed" / "stats.json").read_text())
    mix = next(v for k, v in stats["global"].items() if "mix" in k)
    chosen = searched["doc"]["fit"]["chosen"]["weights"]
    for g, s in mix["groups"].items():
        assert s["achieved_share"] == pytest.approx(chosen[g], abs=0.08), g  # whole documents
