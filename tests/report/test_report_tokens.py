"""Issue 15 item 18: packed token rows are decoded with the run's tokenizer, or shown as ids with a
note saying why when no tokenizer is named or it cannot be loaded."""

from __future__ import annotations

import glob
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from curate.report import build_report
from curate.report.samples import TokenDecoder, run_tokenizer
from tests.report.test_report import _sections, assert_self_contained


def _ids(run: Path) -> list[list[int]]:
    return [
        r["input_ids"]
        for f in sorted(glob.glob(str(run / "data" / "**" / "*.parquet"), recursive=True))
        for r in pq.read_table(f, columns=["input_ids"]).to_pylist()
    ]


def test_token_rows_are_decoded_with_the_run_tokenizer(tokenized_run):
    html = build_report(tokenized_run).read_text()
    assert_self_contained(html)
    sec = _sections(html)["samples"]
    cfg = json.loads((tokenized_run / "manifest.json").read_text())["config"]
    tok = run_tokenizer(cfg)
    assert tok and f"decoded with the run&#x27;s tokenizer ({tok})" in sec
    assert sec.count('<div class="text decoded">') == 3
    assert "hello world, the model answer" in sec and "&lt;/s&gt;" in sec  # EOS between documents, escaped
    assert '<div class="text ids">' not in sec


def _copy_with_tokenizer(run: Path, dest: Path, tokenizer: str | None) -> Path:
    shutil.copytree(run, dest)
    m = json.loads((dest / "manifest.json").read_text())
    for st in m["config"]["stages"]:
        if st["stage"] == "format":
            if tokenizer is None:
                st["config"].pop("tokenizer")
            else:
                st["config"]["tokenizer"] = tokenizer
    (dest / "manifest.json").write_text(json.dumps(m))
    return dest


def test_unloadable_tokenizer_falls_back_to_ids_with_a_note(tokenized_run, tmp_path):
    out = _copy_with_tokenizer(tokenized_run, tmp_path / "gone", str(tmp_path / "no-such-tokenizer"))
    sec = _sections(build_report(out).read_text())["samples"]
    assert "Token rows are shown as ids: tokenizer" in sec and "could not be loaded" in sec
    assert '<div class="text decoded">' not in sec and sec.count('<div class="text ids">') == 3
    shown = {" ".join(map(str, ids[:200])) for ids in _ids(out)}
    assert any(s in sec for s in shown)


def test_no_tokenizer_named_shows_ids_and_says_so(tokenized_run, tmp_path):
    out = _copy_with_tokenizer(tokenized_run, tmp_path / "none", None)
    sec = _sections(build_report(out).read_text())["samples"]
    assert "Token rows are shown as ids: no tokenizer is named in the run&#x27;s config." in sec


def test_decoder_is_lazy_and_relative_paths_try_the_pipeline_folder(tokenized_run, tmp_path, monkeypatch):
    import sys

    tok = Path(run_tokenizer(json.loads((tokenized_run / "manifest.json").read_text())["config"]))
    monkeypatch.chdir(tmp_path)
    d = TokenDecoder(tok.name, base=tok.parent)
    assert d._tok is None  # nothing loaded until a row with ids is shown
    assert d.decode(_ids(tokenized_run)[0][:8]) and "decoded" in d.note
    bad = TokenDecoder("x", base=None)
    assert bad.decode([1, 2]) is None and "could not be loaded" in bad.note
    # building a report imports neither tokenizers nor transformers until a token row needs decoding
    import subprocess

    code = (
        "import sys, curate.report.build; print('tokenizers' in sys.modules, 'transformers' in sys.modules)"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert r.stdout.split() == ["False", "False"]
