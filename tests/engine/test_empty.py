"""No silent empty outputs: a file or source that ends with 0 rows is reported at the end of a
run (CLI and stats.json), and ``--strict`` fails when reader/format rejections emptied it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.empty import is_format_reason


@pytest.mark.parametrize("reason", ["malformed:json", "malformed:empty_file", "sft_missing_key:prompt",
                                    "sft_bad_type:messages", "sft_unknown_format"])
def test_format_reasons(reason):
    assert is_format_reason(reason)


@pytest.mark.parametrize(
    "reason", ["too_short", "langid", "lang_not_kept", "exact_duplicate", "sft_too_long", "gopher_stop_words"]
)
def test_quality_reasons_are_not_format_reasons(reason):
    assert not is_format_reason(reason)


def _corpus(tmp_path):
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "a.jsonl").write_text(
        "".join(json.dumps({"text": f"a long enough document number {i}"}) + "\n" for i in range(20))
    )
    # every row too short: emptied by a quality decision, in a source that has other rows
    (tmp_path / "good" / "b.jsonl").write_text("".join(json.dumps({"text": "tiny"}) + "\n" for _ in range(7)))
    (tmp_path / "hh").mkdir()  # read as it ships, every line unreadable by the jsonl reader
    (tmp_path / "hh" / "x.jsonl").write_text("".join("{'chosen': 'not json'\n" for _ in range(5)))
    (tmp_path / "hh" / "y.jsonl").write_text("")


def _pipeline(tmp_path, stages_module, bad: bool = True):
    inputs = [{"source": "good", "reader": "jsonl", "paths": "good/*.jsonl"}]
    if bad:
        inputs.append({"source": "hh", "reader": "jsonl", "paths": "hh/*.jsonl"})
    doc = {
        "name": "e",
        "inputs": inputs,
        "stages": [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 10}}],
    }
    p = tmp_path / "p.yaml"
    p.write_text(json.dumps(doc))  # JSON is YAML
    return str(p)


def test_empty_source_and_file_are_reported_and_strict_fails_on_format(tmp_path, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _corpus(tmp_path)
    r = CliRunner().invoke(main, ["run", _pipeline(tmp_path, stages_module), "-o", "out", "-q"])
    assert r.exit_code == 0, r.output
    assert "warning: source 'hh' ended with 0 rows (2 file(s): x.jsonl, y.jsonl;" in r.output, r.output
    assert "malformed:json 5" in r.output and "not by quality filters" in r.output
    assert "warning: 1 input file(s) ended with 0 rows:" in r.output
    assert "good: b.jsonl (7 records in; top drop reasons: too_short 7)" in r.output
    empty = json.loads((tmp_path / "out" / "stats.json").read_text())["empty"]
    assert [(e["source"], e["files"], e["records_in"], e["format"]) for e in empty["sources"]] == [
        ("hh", ["x.jsonl", "y.jsonl"], 6, True)
    ]
    assert empty["sources"][0]["top_reasons"] == {"malformed:json": 5, "malformed:empty_file": 1}
    assert [(e["source"], e["files"], e["top_reasons"], e["format"]) for e in empty["files"]] == [
        ("good", ["b.jsonl"], {"too_short": 7}, False)
    ]

    strict = CliRunner().invoke(
        main, ["run", _pipeline(tmp_path, stages_module), "-o", "out", "-q", "--strict"]
    )
    assert strict.exit_code == 1, strict.output
    assert "error: --strict: 1 input(s) ended with 0 rows through reader/format rejections" in strict.output


def test_strict_passes_when_only_quality_filters_emptied_a_file(tmp_path, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _corpus(tmp_path)
    r = CliRunner().invoke(
        main, ["run", _pipeline(tmp_path, stages_module, bad=False), "-o", "out", "-q", "--strict"]
    )
    assert r.exit_code == 0, r.output
    assert "good: b.jsonl" in r.output and "source 'good'" not in r.output


def test_nothing_is_reported_when_every_input_has_rows(tmp_path, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _corpus(tmp_path)
    (tmp_path / "good" / "b.jsonl").unlink()
    r = CliRunner().invoke(
        main, ["run", _pipeline(tmp_path, stages_module, bad=False), "-o", "out", "-q", "--strict"]
    )
    assert r.exit_code == 0 and "warning" not in r.output, r.output
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["empty"] == {"sources": [], "files": []}
