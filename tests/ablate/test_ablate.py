"""`curate ablate` on CPU: the corrupted arm ranks last, equal tokens, epochs reported, resume."""

from __future__ import annotations

import json

import pytest

from tests.ablate.conftest import EVERY, KILL_AT, STEPS, TOKENS_PER_STEP


def test_corrupted_arm_ranks_last_on_heldout_bpb(killed_and_resumed):
    doc = killed_and_resumed["json"]
    s = doc["summary"]
    assert s["metrics"][0] == "bpb/held" and "copa/acc" in s["metrics"] and "copa/acc_norm" in s["metrics"]
    assert s["table"]["clean"]["copa/acc"]["mean"] >= s["table"]["shuffled"]["copa/acc"]["mean"]
    assert s["ranking"]["bpb/held"] == ["clean", "shuffled"]
    clean = s["table"]["clean"]["bpb/held"]["mean"]
    bad = s["table"]["shuffled"]["bpb/held"]["mean"]
    assert bad > clean + 0.5, (clean, bad)  # shuffled characters teach almost nothing about English
    # one seed: a paired difference, but no std to call it clear with
    p = s["paired"]["shuffled"]["bpb/held"]
    assert p["n"] == 1 and p["std"] is None and p["clear"] is None
    assert p["mean"] == pytest.approx(bad - clean) and p["better"] is False


def test_every_arm_trains_the_same_tokens_and_reports_epochs(killed_and_resumed):
    doc = killed_and_resumed["json"]
    b = doc["budget"]
    assert (
        b["steps"] == STEPS and b["train_tokens"] == STEPS * TOKENS_PER_STEP == b["tokens_per_step"] * STEPS
    )
    runs = [r for a in doc["arms"].values() for r in a["runs"].values()]
    assert len(runs) == 2
    assert {r["train_tokens"] for r in runs} == {b["train_tokens"]}
    assert {r["steps"] for r in runs} == {STEPS}
    epochs = {}
    for name, a in doc["arms"].items():
        assert a["unique_tokens"] > 0
        assert a["epochs"] == pytest.approx(b["train_tokens"] / a["unique_tokens"])
        epochs[name] = a["epochs"]
    assert epochs["shuffled"] > 1.0  # the corrupted arm has half the documents: it repeats
    assert epochs["shuffled"] != pytest.approx(epochs["clean"])


def test_curves_have_a_point_per_interval(killed_and_resumed):
    doc = killed_and_resumed["json"]
    for a in doc["arms"].values():
        curve = a["runs"]["0"]["curve"]
        assert [p["step"] for p in curve] == list(range(EVERY, STEPS + 1, EVERY))
        assert [p["tokens"] for p in curve] == [s * TOKENS_PER_STEP for s in range(EVERY, STEPS + 1, EVERY)]
        assert all(p["bpb"]["held"] > 0 for p in curve)
    clean = doc["arms"]["clean"]["runs"]["0"]["curve"]
    assert clean[-1]["bpb"]["held"] < clean[0]["bpb"]["held"]  # it learns


def test_killed_ablation_resumes_and_skips_finished_runs(killed_and_resumed):
    k = killed_and_resumed
    assert k["first"]["shuffled_finished"] is False
    assert k["first"]["shuffled_checkpoint"].endswith(f"step_{KILL_AT:07d}")
    assert k["doc"]["statuses"] == {"clean/seed0": "done", "shuffled/seed0": "resumed"}
    out = k["out"]
    # the finished run was not touched again
    mtime = (out / "runs/clean/seed0/ablate_result.json").stat().st_mtime_ns
    assert mtime == k["first"]["clean_result_mtime"]
    log = [json.loads(x) for x in (out / "runs/shuffled/seed0/log.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in log) == STEPS


def test_outputs_are_plain_json_and_a_self_contained_page(killed_and_resumed):
    out = killed_and_resumed["out"]
    doc = json.loads((out / "ablation.json").read_text())  # strict JSON: no NaN
    assert doc["tokenizer"]["trained"] is True
    per_arm = doc["tokenizer"]["sample_bytes_per_arm"]
    assert set(per_arm) == {"clean", "shuffled"}
    assert abs(per_arm["clean"] - per_arm["shuffled"]) < 0.1 * per_arm["clean"]  # an even sample
    for a in doc["arms"].values():
        assert a["lineage"]["manifest"]["sha256"] and a["lineage"]["shards"]
    html = (out / "ablation.html").read_text()
    for sid in ("overview", "arms", "curves", "final", "lineage"):
        assert f'id="{sid}"' in html
    assert "<polyline" in html and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_a_different_ablation_in_the_same_folder_is_refused(killed_and_resumed, tmp_path):
    import yaml

    from curate.ablate import load_ablation, run_ablation
    from curate.ablate.config import AblationError

    root = killed_and_resumed["root"]
    d = yaml.safe_load((root / "ablation.yaml").read_text())
    d["train"]["lr"] = 1e-3
    p = root / "changed.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(AblationError, match="different ablation"):
        run_ablation(load_ablation(p))


def test_cli_rebuilds_the_page_and_prints_the_table(killed_and_resumed, capsys):
    from click.testing import CliRunner

    from curate.ablate.cli import print_table
    from curate.cli import main

    root, out = killed_and_resumed["root"], killed_and_resumed["out"]
    (out / "ablation.html").unlink()
    r = CliRunner().invoke(main, ["ablate", str(root / "ablation.yaml"), "--report-only"])
    assert r.exit_code == 0, r.output
    assert (out / "ablation.html").is_file()
    print_table(killed_and_resumed["json"])
    text = capsys.readouterr().out
    assert "bpb/held" in text and "shuffled−clean" in text and "epochs" in text


def test_each_arm_reports_how_much_held_out_text_it_contains(killed_and_resumed):
    arms = killed_and_resumed["json"]["arms"]
    clean, bad = arms["clean"]["overlap"]["held"], arms["shuffled"]["overlap"]["held"]
    assert clean["ngram"] == 13 and clean["ngrams"] > 0
    assert clean["docs_scored"] == 3  # the three held-out files
    assert 0.0 <= bad["share"] < 0.01  # shuffled characters make no English 13-gram
    assert clean["share"] >= bad["share"]
    page = (killed_and_resumed["out"] / "ablation.html").read_text()
    assert "Held-out text the arm already contains" in page
