"""pipelines/sft.yaml through the real engine on generated demo data; the preview CLI."""

from __future__ import annotations

import glob
import json

import polars as pl
import pytest
from click.testing import CliRunner

import curate.sft  # noqa: F401  (registers the sft_jsonl reader and the stages)
from curate.sft.templates import get_template

from .test_format import assert_row_ok

PLANTED = {  # demo-data's planted kind -> our reason (prefix)
    "missing_key": "sft_missing_key:", "empty_turn": "sft_empty_turn", "not_a_list": "sft_not_a_list:",
    "roles_out_of_order": "sft_roles_out_of_order", "invalid_json": "malformed:json",
}


@pytest.fixture(scope="module")
def demo_sft(tmp_path_factory):
    from curate.demo.sft import write_sft_file

    root = tmp_path_factory.mktemp("demo")
    truth = {
        f: write_sft_file(root / "sft" / f"{f}.jsonl", f, 150, 0)
        for f in ("alpaca", "sharegpt", "openai", "preference")
    }
    return root, truth


def _read(pattern: str) -> pl.DataFrame:
    files = sorted(glob.glob(pattern, recursive=True))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files else pl.DataFrame()


def test_sft_pipeline_end_to_end(demo_sft, tokenizer_dir, tokenizer, tmp_path, monkeypatch):
    from curate.engine.runner import run_pipeline

    root, truth = demo_sft
    monkeypatch.setenv("CURATE_DATA", str(root))
    monkeypatch.setenv("CURATE_TOKENIZER", str(tokenizer_dir))
    out = tmp_path / "out"
    run_pipeline("pipelines/sft.yaml", out, workers=1, quiet=True)
    stats = json.loads((out / "stats.json").read_text())
    for st in stats["stages"]:  # counts balance at every stage
        assert st["in"] == st["out"] + sum(st["dropped"].values()), st["name"]
    assert stats["stages"][0]["in"] == 600

    # every planted invalid row is rejected, with the planted reason
    rejects = {}
    for d in glob.glob(str(out / "rejects" / "*")):
        for f in glob.glob(d + "/**/*.parquet", recursive=True):
            df = pl.read_parquet(f)
            for row in df.iter_rows(named=True):
                line = (
                    row["position"] if row.get("position") is not None else int(row["id"].rsplit("-", 1)[1])
                )
                rejects[(row["source"], line - 1)] = row["reason"]
    for fmt, t in truth.items():
        for bad in t["invalid"]:
            got = rejects.get((fmt, bad["index"]))
            assert got is not None and got.startswith(PLANTED[bad["reason"]]), (fmt, bad, got)
        for dup in t["duplicates"]:  # byte-identical rows share a prompt: prompt dedup drops them
            assert rejects.get((fmt, dup["index"])) == "exact_duplicate", (fmt, dup)

    data = _read(str(out / "data" / "**" / "*.parquet"))
    assert data.height == stats["stages"][-1]["out"]
    sft_rows = data.filter(pl.col("sft_kind") == "sft")
    pref_rows = data.filter(pl.col("sft_kind") == "preference")
    assert sft_rows.height > 300 and pref_rows.height > 100
    for row in sft_rows.iter_rows(named=True):
        assert_row_ok(row, tokenizer, "chatml")
    for row in pref_rows.iter_rows(named=True):
        for side in ("chosen", "rejected"):
            assert_row_ok({k.removeprefix(side + "_"): v for k, v in row.items() if k.startswith(side + "_")},
                          tokenizer, "chatml", "last_turn")


def test_preview_cli(demo_sft, tokenizer_dir):
    from curate.sft.cli import sft

    root, _ = demo_sft
    runner = CliRunner()
    res = runner.invoke(
        sft, ["preview", str(root / "sft" / "sharegpt.jsonl"), "-t", "llama3", "-n", "2"], color=True
    )
    assert res.exit_code == 0, res.output
    assert "\x1b[" in res.output and "<|start_header_id|>assistant<|end_header_id|>" in res.output
    res = runner.invoke(
        sft,
        ["preview", str(root / "sft" / "openai.jsonl"), "--tokenizer", str(tokenizer_dir), "-n", "1"],
        color=True,
    )
    assert res.exit_code == 0, res.output
    assert "tokens" in res.output and "trained" in res.output
    green = "\x1b[32m"  # trained spans are green; the assistant end-of-turn marker is among them
    assert green in res.output and get_template("chatml").eot in res.output
    res = runner.invoke(sft, ["preview", str(root / "sft" / "openai.jsonl"), "-t", "nope"])
    assert res.exit_code != 0 and "unknown chat template" in res.output


def test_packed_sft_through_the_engine(demo_sft, tokenizer_dir, tokenizer, tmp_path):
    """format: {kind: sft, packing: true}: consumed/flush accounting holds and every packed sequence checks
    out."""
    from curate.engine.runner import run_pipeline

    root, _ = demo_sft
    spec = tmp_path / "packed.yaml"
    spec.write_text(f"""
name: sft-packed
inputs:
  - {{source: openai, reader: sft_jsonl, paths: "{root}/sft/openai.jsonl"}}
  - {{source: sharegpt, reader: sft_jsonl, paths: "{root}/sft/sharegpt.jsonl"}}
stages:
  - sft_normalize: {{}}
  - format: {{kind: sft, template: chatml, tokenizer: "{tokenizer_dir}", max_len: 512, truncation: left, packing: true}}
output: {{path: {tmp_path / "out"}, keep_rejects: true}}
""")  # noqa: E501
    run_pipeline(spec, tmp_path / "out", workers=1, quiet=True)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    fmt = stats["stages"][-1]
    assert fmt["in"] == fmt["out"] + sum(fmt["dropped"].values())
    data = _read(str(tmp_path / "out" / "data" / "**" / "*.parquet"))
    assert data["n_sequences"].sum() == fmt["out"]  # every accepted conversation is in exactly one pack
    assert data.height < fmt["out"]
    for row in data.iter_rows(named=True):
        assert row["n_tokens"] <= 512 and sum(row["seq_lens"]) == row["n_tokens"]
        start = 0
        for n, text in zip(row["seq_lens"], row["texts"], strict=True):
            ids = row["input_ids"][start : start + n]
            assert row["position_ids"][start : start + n] == list(range(n))
            assert tokenizer.decode(ids, skip_special_tokens=False) == text
            start += n
