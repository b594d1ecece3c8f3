"""ABLATION.yaml validation, pipeline arms, the summary's statistics and the CLI (no training)."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from click.testing import CliRunner

from curate.ablate.config import AblationError, load_ablation
from curate.ablate.summary import summarize
from curate.cli import main


def _write(tmp_path, doc) -> str:
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump(doc))
    return str(p)


BASE = {"out": "o", "arms": {"a": {"data": "x"}, "b": {"data": "y"}}, "tokenizer": "tok", "tokens": "5.2e6",
        "eval": {"text": {"held": "h.txt"}}}


def test_config_defaults_and_paths(tmp_path):
    cfg = load_ablation(_write(tmp_path, BASE))
    assert cfg.tokens == 5_200_000 and cfg.seeds == [0] and cfg.baseline == "a"
    assert cfg.tokenizer.path == "tok" and cfg.eval.text["held"].paths == "h.txt"
    assert cfg.resolve("x") == str(tmp_path / "x")  # relative to the YAML's folder
    assert load_ablation(_write(tmp_path, BASE), out="elsewhere").out.endswith("/elsewhere")


@pytest.mark.parametrize("change, msg", [
    ({"arms": {"a": {}}}, "exactly one of"),
    ({"arms": {"a": {"data": "x", "pipeline": "p.yaml"}}}, "exactly one of"),
    ({"baseline": "zzz"}, "not an arm"),
    ({"train": {"max_steps": 10}}, "set by the ablation"),
    ({"seeds": [0, 0]}, "repeat"),
    ({"train": {"presett": "tiny"}}, "unknown config key"),
    ({"eval": {"text": {}}}, "at least one"),
    ({"tokens": 0}, "greater than 0"),
    ({"arms": {"a": {"data": "x", "bogus": 1}}}, "Extra inputs"),
])
def test_config_errors_are_one_clear_message(tmp_path, change, msg):
    with pytest.raises(AblationError, match=msg):
        load_ablation(_write(tmp_path, {**BASE, **change}))


def test_a_pipeline_arm_runs_first_and_keeps_its_lineage(tmp_path):
    from curate.ablate.arms import prepare_arm

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.jsonl").write_text("".join(json.dumps({"text": f"document number {i} has words"}) + "\n"
                                            for i in range(50)))
    (tmp_path / "p.yaml").write_text(yaml.safe_dump({
        "name": "arm-pipe", "inputs": [{"source": "s", "reader": "jsonl", "paths": "nowhere/*.jsonl"}],
        "stages": [{"length": {"unit": "words", "min": 3}}], "output": {"shard_rows": 20}}))
    doc = {**BASE, "arms": {"piped": {"pipeline": "p.yaml", "set": [f"inputs.0.paths={corpus}/*.jsonl"]}}}
    cfg = load_ablation(_write(tmp_path, doc))
    arm = prepare_arm(cfg, "piped", cfg.arms["piped"], tmp_path / "o", quiet=True)
    assert arm.data == str(tmp_path / "o" / "arms" / "piped" / "data") and arm.kind == "text"
    lin = arm.lineage
    assert lin["pipeline"] == str(tmp_path / "p.yaml") and lin["overrides"] == doc["arms"]["piped"]["set"]
    assert (
        lin["manifest"]["config_sha256"]
        and lin["shards"]
        and all(s["from"] == "manifest" for s in lin["shards"])
    )
    again = prepare_arm(cfg, "piped", cfg.arms["piped"], tmp_path / "o", quiet=True)  # resumes: same output
    assert again.lineage["shards"] == lin["shards"]


def _doc(values: dict[str, dict[int, float]]) -> dict:
    return {
        "baseline": "raw",
        "arms": {
            a: {"runs": {str(s): {"final": {"bpb": {"gold": v}}} for s, v in d.items()}}
            for a, d in values.items()
        },
    }


def test_summary_mean_std_and_paired_differences():
    s = summarize(_doc({"raw": {0: 3.70, 1: 3.68, 2: 3.72},
                        "good": {0: 3.60, 1: 3.59, 2: 3.61},     # better by ~0.1 on every seed
                        "noisy": {0: 3.75, 1: 3.60, 2: 3.73}}))   # differences of both signs
    t = s["table"]["raw"]["bpb/gold"]
    assert t["mean"] == pytest.approx(3.70) and t["std"] == pytest.approx(0.02) and t["n"] == 3
    g = s["paired"]["good"]["bpb/gold"]
    assert g["mean"] == pytest.approx(-0.1) and g["std"] == pytest.approx(
        math.sqrt(((0.0) ** 2 + 0.01**2 + 0.01**2) / 2)
    )
    assert g["clear"] is True and g["better"] is True
    n = s["paired"]["noisy"]["bpb/gold"]
    assert n["clear"] is False
    assert s["ranking"]["bpb/gold"] == ["good", "noisy", "raw"]
    assert "raw" not in s["paired"]


def test_summary_accuracy_is_higher_is_better():
    doc = {"baseline": "a", "arms": {
        "a": {"runs": {"0": {"final": {"bpb": {}, "tasks": {"piqa": {"acc": 0.55}}}}}},
        "b": {"runs": {"0": {"final": {"bpb": {}, "tasks": {"piqa": {"acc": 0.60}}}}}}}}
    s = summarize(doc)
    assert s["metrics"] == ["piqa/acc"] and s["ranking"]["piqa/acc"] == ["b", "a"]
    assert s["paired"]["b"]["piqa/acc"]["better"] is True


def test_help_names_the_command_and_its_outputs():
    r = CliRunner().invoke(main, ["--help"])
    assert "ablate" in r.output
    r = CliRunner().invoke(main, ["ablate", "--help"])
    assert r.exit_code == 0 and "ablation.json" in r.output and "--report-only" in r.output


def test_cli_reports_a_bad_config_without_a_traceback(tmp_path):
    r = CliRunner().invoke(main, ["ablate", _write(tmp_path, {**BASE, "baseline": "nope"})])
    assert r.exit_code == 2 and "not an arm" in r.output and "Traceback" not in r.output


def test_a_text_set_reads_a_list_of_paths_with_filters(tmp_path):
    import gzip

    from curate.ablate.config import TextSetSpec
    from curate.ablate.scoring import load_text_set

    (tmp_path / "b1.txt").write_text("first book")
    with gzip.open(tmp_path / "b2.txt.gz", "wt") as f:
        f.write("second book")
    spec = TextSetSpec(paths=[str(tmp_path / "b2.txt.gz"), str(tmp_path / "b1.txt")])
    assert load_text_set(spec) == ["second book", "first book"]
    rows = [{"t": "keep me", "split": "heldout"}, {"t": "train row", "split": "train"}]
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = TextSetSpec(paths=str(tmp_path / "g.jsonl"), column="t", where={"split": "heldout"})
    assert load_text_set(spec) == ["keep me"]
    with pytest.raises(AblationError, match="held-out text"):
        load_text_set(TextSetSpec(paths=str(tmp_path / "missing-*.txt")), name="held")
