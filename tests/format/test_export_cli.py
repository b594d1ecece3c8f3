"""`curate export RUN`: a finished tokenized run exported afterwards, through the command line.

The export must equal the input documents (read back by megatron-core, NumPy as nanoGPT does, and
mosaicml-streaming), equal byte for byte what the run's own ``format: {export: [...]}`` writes,
be byte-identical on a re-run, and refuse bad runs with the path and what was expected.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from tests.format.test_export import (
    assert_targets_hold,
    expected_documents,
    read_mds,
    spec,
    tree_hashes,
    write_inputs,
)

ALL = ["megatron", "nanogpt", "mds"]


@pytest.fixture
def src(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path / "src")
    return tmp_path


def cli(*args: str):
    return CliRunner().invoke(main, ["export", *args], catch_exceptions=False)


def exported(out) -> dict[str, str]:
    """The target files of an export folder (export.json and the done marker left out)."""
    return {k: v for k, v in tree_hashes(out).items() if not k.startswith("_work") and k != "export.json"}


def test_export_equals_the_documents_and_the_runs_own_export(src, tiny_tokenizer):
    run_pipeline(spec(tiny_tokenizer, []), src / "run", workers=2, quiet=True)  # no export in the run
    run_pipeline(spec(tiny_tokenizer, ALL), src / "ref", quiet=True)  # the stage's export, 1 worker
    r = cli("run", "--to", "megatron,nanogpt", "--to", "mds", "-o", "x", "-q")
    assert r.exit_code == 0, r.output
    assert "120 documents" in r.output
    assert exported(src / "x") == tree_hashes(src / "ref" / "export")

    ids, docs = expected_documents(src / "run", tiny_tokenizer)
    assert len(ids) == 120
    assert_targets_hold(src / "x", ids, docs)

    record = json.loads((src / "x/export.json").read_text())
    manifest = json.loads((src / "run/manifest.json").read_text())
    assert record["documents"] == 120 and record["tokens"] == sum(map(len, docs))
    assert record["config_sha256"] == manifest["config_sha256"] and record["shuffle"] is False
    assert {f["path"] for f in record["files"]} == set(exported(src / "x"))


def test_reruns_are_byte_identical_and_the_shuffle_is_the_stages(src, tiny_tokenizer):
    run_pipeline(spec(tiny_tokenizer, []), src / "run", quiet=True)
    run_pipeline(spec(tiny_tokenizer, ["nanogpt", "mds"], export_shuffle=True), src / "ref", quiet=True)
    for out in ("a", "b"):
        assert cli("run", "--to", "nanogpt,mds", "--shuffle-seed", "3", "-o", out, "-q").exit_code == 0
    assert exported(src / "a") == exported(src / "b") == tree_hashes(src / "ref" / "export")

    before = (src / "a/nanogpt/train.bin").stat().st_mtime_ns  # same shards and options: kept
    assert cli("run", "--to", "nanogpt,mds", "--shuffle-seed", "3", "-o", "a", "-q").exit_code == 0
    assert (src / "a/nanogpt/train.bin").stat().st_mtime_ns == before

    ids, docs = expected_documents(src / "run", tiny_tokenizer)
    order = np.random.default_rng(3).permutation(len(ids)).tolist()
    assert [s["id"] for s in read_mds(src / "a/mds")] == [ids[i] for i in order]
    assert cli("run", "--to", "nanogpt", "--shuffle-seed", "4", "-o", "c", "-q").exit_code == 0
    flat_a = np.fromfile(src / "a/nanogpt/train.bin", dtype=np.uint16)
    flat_c = np.fromfile(src / "c/nanogpt/train.bin", dtype=np.uint16)
    assert flat_c.tolist() != flat_a.tolist() and sorted(flat_c.tolist()) == sorted(flat_a.tolist())
    assert json.loads((src / "c/export.json").read_text())["seed"] == 4


def test_progress_bars_on_stderr(src, tiny_tokenizer):
    run_pipeline(spec(tiny_tokenizer, []), src / "run", quiet=True)
    r = CliRunner().invoke(main, ["export", "run", "--to", "megatron", "-o", "x"])
    assert r.exit_code == 0, r.output
    assert "read shards" in r.stderr and "write megatron" in r.stderr
    assert "read shards" not in r.stdout


def plain_run(src, out, fmt):
    s = spec_from_dict({
        "name": "plain",
        "inputs": [{"source": "web", "reader": "parquet", "paths": "src/*.parquet"}],
        "stages": [{"format": fmt}],
        "output": {"shard_rows": 7, "min_shard_mb": 0},
    })
    run_pipeline(s, src / out, quiet=True)


def test_bad_inputs_name_the_path_and_what_was_expected(src, tiny_tokenizer):
    def refused(*args: str) -> str:
        r = cli(*args)
        assert r.exit_code == 2, r.output
        assert not (src / "x").exists()  # nothing written before the checks pass
        return r.output

    assert "nope: not a folder" in refused("nope", "--to", "mds", "-o", "x")
    (src / "empty").mkdir()
    assert "empty/manifest.json: not found" in refused("empty", "--to", "mds", "-o", "x")
    (src / "empty/_work").mkdir()
    assert "has not finished" in refused("empty", "--to", "mds", "-o", "x")
    (src / "empty/manifest.json").write_text("{not json")
    assert "manifest.json: not valid JSON" in refused("empty", "--to", "mds", "-o", "x")

    plain_run(src, "text", {"kind": "pretrain"})
    out = refused("text", "--to", "megatron", "-o", "x")
    assert "text/data/" in out and "no input_ids column (pretrain text rows)" in out
    assert "kind: tokenized" in out
    plain_run(src, "nobounds", {"kind": "tokenized", "tokenizer": str(tiny_tokenizer), "boundaries": False})
    assert "no doc_lens column" in refused("nobounds", "--to", "nanogpt", "-o", "x")

    run_pipeline(spec(tiny_tokenizer, []), src / "run", quiet=True)
    assert "unknown export target parquet (valid: megatron, nanogpt, mds)" in refused(
        "run", "--to", "parquet", "-o", "x"
    )
    assert "named twice" in refused("run", "--to", "mds,mds", "-o", "x")
    assert "run's own folder" in refused("run", "--to", "mds", "-o", "run")
    assert "run's own folder" in refused("run", "--to", "mds", "-o", "run/data/out")
    assert "export reads and writes local folders" in refused("run", "--to", "mds", "-o", "s3://b/x")

    shards = sorted((src / "run/data").glob("*.parquet"))
    with open(shards[1], "ab") as f:
        f.write(b"\0")
    out = refused("run", "--to", "mds", "-o", "x")
    assert f"{shards[1].name}: " in out and "the shard changed after the run finished" in out
    shards[0].unlink()  # checked before shards[1]
    assert f"{shards[0].name}: listed in " in refused("run", "--to", "mds", "-o", "x")
