"""Inputs and outputs on object storage: a real S3 endpoint (moto's server) spoken to by pyarrow.

The same pipeline over the same files gives the same shards whether the files sit on disk or in a
bucket and whether OUT is a folder or ``s3://``; resume, refusal and ``--force`` work as they do
locally, and the published manifest is the commit point.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.demo import generate
from curate.engine.errors import RunRefused
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from curate.io import storage
from curate.io.paths import expand_glob, relative_name


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    generate(d, scale=0.05, seed=3)
    return d


def upload_tree(local: Path, uri: str) -> None:
    storage.upload_many(
        [
            (p, storage.join(uri, p.relative_to(local).as_posix()))
            for p in sorted(local.rglob("*"))
            if p.is_file()
        ]
    )


def pipeline(root: str) -> dict:
    """Four readers and a global stage, reading everything below ``root`` (a folder or a URI)."""
    return {
        "name": "remote",
        "inputs": [
            {"source": "web", "reader": "warc", "paths": f"{root}/web/*.warc.gz"},
            {"source": "jsonl", "reader": "jsonl", "paths": f"{root}/jsonl/*"},
            {"source": "code", "reader": "code", "paths": f"{root}/code"},
            {"source": "books", "reader": "text", "paths": f"{root}/books/**/*.txt"},
        ],
        "stages": [
            {"extract": {"engine": "resiliparse"}},
            {"length": {"min": 50}},
            {"exact_dedup": {}},
        ],
        "output": {"shard_rows": 200, "keep_rejects": True},
    }


def shard_hashes(manifest: dict) -> dict[str, str]:
    return {s["path"]: s["sha256"] for s in manifest["shards"]}


def remote_files(uri: str) -> dict[str, bytes]:
    return {u[len(uri) + 1 :]: storage.read_bytes(u) for u, _ in storage.walk(uri)}


def test_glob_listing_matches_local(demo, s3_bucket):
    upload_tree(demo, s3_bucket)
    for pattern in (
        "web/*.warc.gz",
        "jsonl/part-0000[0-2].jsonl.gz",
        "code/**/*.py",
        "books",
        "**/*.json",
        "sft/?lpaca*",
        "code/**",
    ):
        local = [relative_name(p, pattern, demo) for p in expand_glob(pattern, demo)]
        remote = [
            relative_name(u, f"{s3_bucket}/{pattern}", demo)
            for u in expand_glob(f"{s3_bucket}/{pattern}", demo)
        ]
        assert local and remote == local, pattern


def test_s3_in_s3_out_equals_local(demo, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    upload_tree(demo, f"{s3_bucket}/in")
    local = run_pipeline(spec_from_dict(pipeline(str(demo))), tmp_path / "local", workers=2, quiet=True)
    out = f"{s3_bucket}/out"
    remote = run_pipeline(spec_from_dict(pipeline(f"{s3_bucket}/in")), out, workers=2, quiet=True)
    assert remote.location == out and remote.out.is_relative_to(tmp_path / "work")
    # Same records, same ids, same bytes: the ids hash names relative to each glob's root.
    assert shard_hashes(remote.manifest) == shard_hashes(local.manifest)
    assert remote.stats["totals"] == local.stats["totals"]
    assert remote.stats["totals"]["output_rows"] > 50
    published = remote_files(out)
    assert json.loads(published["manifest.json"]) == remote.manifest
    for s in remote.manifest["shards"]:
        assert hashlib.sha256(published[s["path"]]).hexdigest() == s["sha256"]
    assert {"stats.json", "report.html", "logs/run.jsonl"} <= set(published)
    local_rejects = {p.relative_to(local.out).as_posix() for p in (local.out / "rejects").rglob("*.parquet")}
    assert local_rejects and {k for k in published if k.startswith("rejects/")} == local_rejects
    assert not any(k.startswith("_work") or ".tmp-" in k for k in published)


def test_resume_refuse_force_and_stale_shards(demo, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    upload_tree(demo / "jsonl", f"{s3_bucket}/in")
    spec = {
        "name": "r",
        "inputs": [{"source": "j", "reader": "jsonl", "paths": f"{s3_bucket}/in/*.gz"}],
        "stages": [{"length": {"min": 40}}],
        "output": {"shard_rows": 100},
    }
    out = f"{s3_bucket}/out"
    first = run_pipeline(spec_from_dict(spec), out, quiet=True)
    # A file left from some earlier run in data/ is not part of this output: publishing removes it.
    storage.write_bytes(f"{out}/data/part-zzz-0000.parquet", b"stale")
    again = run_pipeline(spec_from_dict(spec), out, quiet=True)
    log = [json.loads(line) for line in (again.out / "logs" / "run.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resume" and e["pending"] == 0 for e in log)  # nothing recomputed
    assert shard_hashes(again.manifest) == shard_hashes(first.manifest)
    assert sorted(k for k in remote_files(out) if k.startswith("data/")) == sorted(
        shard_hashes(first.manifest)
    )

    changed = dict(spec, stages=[{"length": {"min": 80}}])
    with pytest.raises(RunRefused, match=r"stages\[0\].config.min"):
        run_pipeline(spec_from_dict(changed), out, quiet=True)
    # Another work folder (another machine) is refused too: the published manifest says why.
    with pytest.raises(RunRefused, match=r"different config.*min"):
        run_pipeline(spec_from_dict(changed), out, quiet=True, work_dir=tmp_path / "elsewhere")
    forced = run_pipeline(spec_from_dict(changed), out, quiet=True, force=True)
    assert forced.manifest["rows"] < first.manifest["rows"]
    assert (
        json.loads(storage.read_bytes(f"{out}/manifest.json"))["config_sha256"]
        == forced.manifest["config_sha256"]
    )
    assert sorted(k for k in remote_files(out) if k.startswith("data/")) == sorted(
        shard_hashes(forced.manifest)
    )

    # A work folder serves one output only.
    with pytest.raises(RunRefused, match="belongs to the run publishing to"):
        run_pipeline(spec_from_dict(changed), f"{s3_bucket}/other", quiet=True, work_dir=forced.out)

    # A remote input rewritten since the run began: resuming is refused and names the object.
    storage.write_bytes(
        f"{s3_bucket}/in/part-00000.jsonl.gz", (demo / "jsonl" / "part-00001.jsonl.gz").read_bytes()
    )
    with pytest.raises(RunRefused, match=r"modified: s3://.*/in/part-00000.jsonl.gz"):
        run_pipeline(spec_from_dict(changed), out, quiet=True)


def test_malformed_remote_input_lands_in_rejects(s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    import gzip

    good = b"".join(json.dumps({"text": f"document number {i} " * 5}).encode() + b"\n" for i in range(50))
    files = {"a.jsonl.gz": gzip.compress(good), "b.jsonl.gz": gzip.compress(good)[:-30], "c.jsonl": b""}
    for name, data in files.items():
        storage.write_bytes(f"{s3_bucket}/in/{name}", data)
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)

    def spec(root):
        return spec_from_dict(
            {
                "name": "bad",
                "inputs": [{"source": "j", "reader": "jsonl", "paths": f"{root}/in/*"}],
                "output": {"keep_rejects": True},
            }
        )

    res = run_pipeline(spec(s3_bucket), f"{s3_bucket}/out", quiet=True)
    local = run_pipeline(spec(tmp_path), tmp_path / "out", quiet=True)
    read = res.stats["stages"][0]
    assert {"malformed:empty_file", "malformed:gzip"} <= set(read["dropped"])
    assert {**read, "seconds": 0} == {**local.stats["stages"][0], "seconds": 0}
    import polars as pl

    rej = pl.read_parquet(res.out / "rejects" / "read")
    assert set(rej["file"].to_list()) == {"b.jsonl.gz", "c.jsonl"}  # the name in the bucket, not a temp copy
    assert rej.equals(pl.read_parquet(local.out / "rejects" / "read"))


def test_cli_inspect_schema_status_report(demo, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    upload_tree(demo / "jsonl", f"{s3_bucket}/in")
    yml = tmp_path / "p.yaml"
    yml.write_text(
        f"name: cli\ninputs:\n  - {{source: j, reader: jsonl, paths: '{s3_bucket}/in/*'}}\n"
        "stages:\n  - length: {min: 200}\noutput: {keep_rejects: true}\n"
    )
    out = f"{s3_bucket}/out"
    cli = CliRunner()
    r = cli.invoke(main, ["run", str(yml), "-o", out, "-q"])
    assert r.exit_code == 0, r.output
    assert f"-> {out}" in r.output
    r = cli.invoke(main, ["status", out])
    assert r.exit_code == 0 and "finished" in r.output, r.output
    assert f"publishes to {out} (published)" in r.output, r.output
    # On another machine (no work folder): inspect reads what was published.
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "elsewhere"))
    r = cli.invoke(main, ["inspect", out])
    assert r.exit_code == 0, r.output
    assert "funnel:" in r.output and "length_too_short" in r.output and out in r.output, r.output
    r = cli.invoke(main, ["schema", out])
    assert r.exit_code == 0 and json.loads(r.output)["name"] == "cli"
    r = cli.invoke(main, ["status", out])
    assert r.exit_code == 2 and "no run publishing to" in r.output
    r = cli.invoke(main, ["report", out])
    assert r.exit_code == 2 and "no work folder" in r.output
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    before = storage.info(f"{out}/report.html").mtime_ns
    r = cli.invoke(main, ["report", out])
    assert r.exit_code == 0 and f"wrote {out}/report.html" in r.output, r.output
    assert storage.info(f"{out}/report.html").mtime_ns >= before


def test_unknown_bucket_is_a_spec_error(s3_endpoint, tmp_path):
    yml = tmp_path / "p.yaml"
    yml.write_text("name: x\ninputs:\n  - {source: j, reader: jsonl, paths: 's3://no-such-bucket-here/in/*.jsonl'}\n")
    r = CliRunner().invoke(main, ["validate", str(yml)])
    assert r.exit_code == 2
    assert f"{yml}:3" in r.output and "no-such-bucket-here" in r.output


def test_work_dir_needs_a_uri(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    spec = spec_from_dict(
        {"name": "x", "inputs": [{"source": "j", "reader": "jsonl", "paths": str(tmp_path / "*.jsonl")}]}
    )
    with pytest.raises(RunRefused, match="--work-dir is for outputs on remote storage"):
        run_pipeline(spec, tmp_path / "out", work_dir=tmp_path / "w", quiet=True)


def test_unknown_scheme_is_named():
    with pytest.raises(storage.StorageError, match="no filesystem for nosuchfs://"):
        storage.info("nosuchfs://x/y")


def test_memory_filesystem_through_fsspec():
    """A protocol pyarrow does not know goes through fsspec: same listing, reads and writes."""
    uri = f"memory://curate-test-{os.getpid()}"
    storage.write_bytes(f"{uri}/a/1.txt", b"one")
    storage.write_bytes(f"{uri}/a/b/2.txt", b"two")
    assert storage.glob(f"{uri}/a/**/*.txt") == [f"{uri}/a/1.txt", f"{uri}/a/b/2.txt"]
    assert storage.read_bytes(f"{uri}/a/b/2.txt") == b"two"
    assert storage.stat(f"{uri}/a/1.txt")[0] == 3
    # Bytes travel as stored: pyarrow would otherwise (de)compress by file name.
    import gzip

    blob = gzip.compress(b"{}\n")
    storage.write_bytes(f"{uri}/z.jsonl.gz", blob)
    assert storage.read_bytes(f"{uri}/z.jsonl.gz") == blob
    with storage.open_input(f"{uri}/z.jsonl.gz") as f:
        assert f.read() == blob


def test_publish_cut_short_leaves_no_manifest_and_resumes(demo, s3_bucket, tmp_path, monkeypatch):
    """The manifest is the commit point: a publish that dies half way leaves none, and the same
    command afterwards publishes the complete output without recomputing anything."""
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    upload_tree(demo / "jsonl", f"{s3_bucket}/in")
    spec = {
        "name": "p",
        "inputs": [{"source": "j", "reader": "jsonl", "paths": f"{s3_bucket}/in/*"}],
        "output": {"shard_rows": 20},
    }
    out = f"{s3_bucket}/out"
    first = run_pipeline(spec_from_dict(spec), out, quiet=True)
    real_upload, calls = storage.upload, []

    def flaky(src, uri):
        calls.append(uri)
        if len(calls) == 4:
            raise OSError("connection reset by peer")
        real_upload(src, uri)

    monkeypatch.setattr(storage, "upload", flaky)
    with pytest.raises(OSError, match="connection reset"):
        run_pipeline(spec_from_dict(spec), out, quiet=True, force=False)
    assert not storage.exists(f"{out}/manifest.json")
    monkeypatch.setattr(storage, "upload", real_upload)
    again = run_pipeline(spec_from_dict(spec), out, quiet=True)
    assert shard_hashes(again.manifest) == shard_hashes(first.manifest)
    published = remote_files(out)
    assert json.loads(published["manifest.json"]) == again.manifest
    for s in again.manifest["shards"]:
        assert hashlib.sha256(published[s["path"]]).hexdigest() == s["sha256"]


def test_saved_hf_datasets_in_a_bucket(s3_bucket, tmp_path, monkeypatch):
    """save_to_disk folders (a Dataset and a DatasetDict) read from a bucket as from disk."""
    import datasets

    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    ds = datasets.Dataset.from_dict(
        {"text": [f"row {i} of the saved set" for i in range(30)], "k": list(range(30))}
    )
    ds.save_to_disk(str(tmp_path / "hf" / "one"))
    datasets.DatasetDict({"train": ds.select(range(10)), "test": ds.select(range(10, 12))}).save_to_disk(
        str(tmp_path / "hf" / "dd")
    )
    upload_tree(tmp_path / "hf", f"{s3_bucket}/hf")

    def spec(root):
        return spec_from_dict(
            {"name": "hf", "inputs": [{"source": "h", "reader": "hf", "paths": f"{root}/hf"}]}
        )

    remote = run_pipeline(spec(s3_bucket), f"{s3_bucket}/out", quiet=True)
    local = run_pipeline(spec(tmp_path), tmp_path / "out", quiet=True)
    assert remote.manifest["rows"] == 40
    assert shard_hashes(remote.manifest) == shard_hashes(local.manifest)
