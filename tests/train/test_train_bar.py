"""Training shows a bar with tokens/s, loss and ETA (--progress bar), log lines only (log), or
nothing per step (quiet) (issue 15 item 17)."""

from __future__ import annotations

import re

import pytest
from conftest import write_pretrain_shards

from curate.train.loop import pretrain


@pytest.fixture(scope="module")
def shards(tmp_path_factory, tokenizer):
    return write_pretrain_shards(tmp_path_factory.mktemp("pt") / "pt", tokenizer, seq_len=32, n_docs=200)


def _train(shards, tokenizer_dir, out, progress: str):
    return pretrain(data=str(shards), out=str(out), tokenizer=str(tokenizer_dir), preset="tiny", max_steps=4,
                    batch_size=4, eval_interval=0, num_threads=1, device="cpu", log_interval=2,
                    warmup_steps=1,
                    progress=progress)


def test_bar_shows_steps_tokens_per_second_and_eta(shards, tokenizer_dir, tmp_path, capfd):
    _train(shards, tokenizer_dir, tmp_path / "run", "bar")
    cap = capfd.readouterr()
    assert re.search(r"4/4 \[[0-9:]+<[0-9:]+", cap.err), cap.err  # steps done/total [elapsed<ETA
    assert re.search(r"[0-9,]+ tok/s, loss [0-9.]+", cap.err), cap.err
    assert "step      2 loss" in cap.out and "step      4 loss" in cap.out  # the log lines stay


def test_log_and_quiet_draw_no_bar(shards, tokenizer_dir, tmp_path, capfd):
    _train(shards, tokenizer_dir, tmp_path / "log", "log")
    cap = capfd.readouterr()
    assert "tok/s, loss" not in cap.err and "step      4 loss" in cap.out
    _train(shards, tokenizer_dir, tmp_path / "quiet", "quiet")
    cap = capfd.readouterr()
    assert "tok/s, loss" not in cap.err and "step      4 loss" not in cap.out


def test_unknown_progress_mode_is_refused(shards, tokenizer_dir, tmp_path):
    with pytest.raises(ValueError, match="progress must be one of auto, bar, log, quiet"):
        _train(shards, tokenizer_dir, tmp_path / "x", "fancy")
