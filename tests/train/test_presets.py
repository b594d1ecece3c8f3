"""Each preset's default learning rate trains: 150 default steps of real English (Gutenberg)
bring the loss at least 20% below ln V (a uniform guess). Presets too large for a CPU test get
GPT-3's published rates for their size (presets.py)."""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

# ../shared/data beside the checkout (tests/conftest.py's SHARED_DATA), or where CURATE_SHARED_DATA says
SHARED = Path(
    os.environ.get("CURATE_SHARED_DATA") or Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
)
GUTENBERG = SHARED / "clean_text" / "gutenberg"


def test_every_preset_has_a_learning_rate_shown_in_help():
    from click.testing import CliRunner

    from curate.train.cli import train
    from curate.train.presets import PRESET_LR, PRESETS, default_lr

    assert set(PRESET_LR) == set(PRESETS)
    assert [PRESET_LR[p] for p in PRESETS] == sorted(PRESET_LR.values(), reverse=True)  # larger: smaller lr
    assert default_lr("tiny", None) == PRESET_LR["tiny"] and default_lr("tiny", "runs/pt") == 3e-4
    out = CliRunner().invoke(train, ["presets"]).output
    assert all(p in out for p in PRESETS)
    helptext = CliRunner().invoke(train, ["pretrain", "--help"]).output
    assert "tiny 0.003" in helptext and "[default: 100]" in helptext and "[default: 256]" in helptext


@pytest.mark.slow
@pytest.mark.external
@pytest.mark.timeout(1800)  # ~1 min on a free CPU; much longer on a shared one
@pytest.mark.skipif(not GUTENBERG.is_dir(), reason="needs ../shared/data/clean_text")
def test_tiny_default_lr_learns_real_english_in_150_steps(tmp_path):
    from curate.train.loop import pretrain
    from curate.train.tokenizer import train_tokenizer

    paras = []
    for f in sorted(GUTENBERG.glob("*.txt.gz"))[:12]:
        text = gzip.open(f, "rt", encoding="utf-8", errors="replace").read()
        paras += [p.strip() for p in text.split("\n\n") if len(p.strip()) > 40]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"text": paras}), tmp_path / "data" / "part-0.parquet", row_group_size=2000)
    tok = train_tokenizer([tmp_path / "data" / "part-0.parquet"], tmp_path / "tok", vocab_size=8192)
    r = pretrain(data=str(tmp_path / "data"), tokenizer=str(tok), preset="tiny", out=str(tmp_path / "run"),
                 max_steps=150, device="cpu", log_interval=50, eval_interval=150)
    from transformers import AutoTokenizer

    ln_v = math.log(len(AutoTokenizer.from_pretrained(str(tok))))
    assert r.losses[-1][1] <= 0.8 * ln_v, (r.losses, ln_v)
    assert r.eval_losses[-1][1] <= 0.8 * ln_v, (r.eval_losses, ln_v)
