"""Checkpoints hold tensors and plain values only: a pickle planted in a run folder never runs,
an old-format (pickled) checkpoint is refused naming --no-resume, and resume stays exact."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from click.testing import CliRunner
from conftest import write_pretrain_shards


class Planted:
    """A pickle that, if ever unpickled, creates MARKER (what an attacker's file would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(path, marker) -> None:
    torch.save({"step": 2, "model": {}, "optimizer": {}, "rng": Planted(marker)}, path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tokenizer, tokenizer_dir):
    d = tmp_path_factory.mktemp("ck")
    data = write_pretrain_shards(d / "pt", tokenizer, seq_len=32, n_docs=60)
    args = ["pretrain", "--data", str(data), "--tokenizer", str(tokenizer_dir), "--preset", "tiny",
            "--steps", "2", "--batch-size", "4", "--device", "cpu"]
    return d, args


def _train(args, out):
    from curate.train.cli import train

    return CliRunner().invoke(train, [*args, "-o", str(out)])


def test_checkpoint_files_load_with_weights_only(trained, tmp_path):
    _, args = trained
    r = _train(args, tmp_path / "run")
    assert r.exit_code == 0, r.output
    step = tmp_path / "run" / "checkpoints" / "step_0000002"
    assert sorted(p.name for p in step.iterdir()) == [
        "checkpoint.json", "model.safetensors", "optimizer.pt", "rank0.pt"]
    assert json.loads((step / "checkpoint.json").read_text())["format"] == 2
    for f in ("optimizer.pt", "rank0.pt"):
        torch.load(step / f, weights_only=True)  # raises on anything but tensors and plain values


@pytest.mark.parametrize("planted", ["optimizer.pt", "rank0.pt", "old_state.pt"])
def test_a_planted_pickle_never_runs_and_resume_is_refused(trained, tmp_path, planted):
    _, args = trained
    run, marker = tmp_path / "run", tmp_path / "PWNED"
    assert _train(args, run).exit_code == 0
    step = run / "checkpoints" / "step_0000002"
    if planted == "old_state.pt":  # a format-1 checkpoint: everything in one pickle
        shutil.rmtree(step)
        step.mkdir()
        _plant(step / "state.pt", marker)
        _plant(step / "rank0.pt", marker)
    else:
        _plant(step / planted, marker)
    r = _train([*args, "--steps", "4"], run)
    assert not marker.exists(), "a pickle in the run folder was executed"
    assert r.exit_code == 2, r.output
    assert "--no-resume" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    # --no-resume trains from scratch into the same folder (and still runs nothing)
    r = _train([*args, "--no-resume"], run)
    assert r.exit_code == 0, r.output
    assert not marker.exists()


def test_a_malicious_pytorch_model_bin_is_refused_in_one_line(trained, tmp_path):
    from curate.train.cli import chat, generate, train

    d, args = trained
    assert _train(args, tmp_path / "run").exit_code == 0
    evil, marker = tmp_path / "evil", tmp_path / "PWNED"
    evil.mkdir()
    for f in (tmp_path / "run").iterdir():
        if f.is_file() and f.suffix in (".json", ".jinja") and f.name != "lineage.json":
            shutil.copy(f, evil / f.name)
    _plant(evil / "pytorch_model.bin", marker)
    runs = [CliRunner().invoke(generate, [str(evil), "--prompt", "hi", "--device", "cpu"]),
            CliRunner().invoke(chat, [str(evil), "--message", "hi", "--device", "cpu"]),
            CliRunner().invoke(train, ["pretrain", "--data", str(d / "pt" / "data"), "--from", str(evil),
                                       "-o", str(tmp_path / "r2"), "--device", "cpu"])]
    assert not marker.exists()
    for r in runs:
        assert r.exit_code == 2, r.output + repr(r.exception)
        assert "pytorch_model.bin" in r.output and len(r.output.strip().splitlines()) == 1
