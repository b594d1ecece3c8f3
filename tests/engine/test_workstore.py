"""Work state on object storage (``--work-dir s3://...`` or ``gs://``): moto's S3 server or
fake-gcs-server is the only shared store.

A run whose markers, plans, phase outputs and side files live in the bucket writes the same bytes
as a run in a local folder; a driver on a fresh machine resumes from the bucket alone; schemes
without conditional puts are refused by name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curate.demo import generate
from curate.engine.errors import RunRefused
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from curate.io.objstore import open_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    generate(d, scale=0.05, seed=3)
    return d


def small(demo: Path) -> dict:
    """One global stage, a few tasks, small shards merged: the fast default test."""
    return {
        "name": "workstore-small",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": f"{demo}/jsonl/*.jsonl.gz"}],
        "stages": [{"exact_dedup": {}}, {"length": {"min": 40}}],
        "output": {"shard_rows": 150, "keep_rejects": True, "min_shard_mb": 0.05},
    }


def pipeline(demo: Path) -> dict:
    """Every kind of global stage state: URL/exact/line dedup and MinHash (bands, verify, the
    components rounds), several tasks, and small shards merged at the end."""
    return {
        "name": "workstore",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": f"{demo}/jsonl/*.jsonl.gz"}],
        "stages": [
            {"url_dedup": {}},
            {"exact_dedup": {}},
            {"line_dedup": {"max_occurrences": 10}},
            {"minhash_dedup": {"threshold": 0.7}},
            {"length": {"min": 40}},
        ],
        "output": {"shard_rows": 150, "keep_rejects": True, "min_shard_mb": 0.05},
    }


def tree(root: Path) -> dict[str, bytes]:
    """The output contract's bytes (shards and rejects; the manifest's shard table)."""
    out = {p.relative_to(root).as_posix(): p.read_bytes() for d in ("data", "rejects")
           for p in sorted((root / d).rglob("*")) if p.is_file()}
    out["shards"] = json.dumps(json.loads((root / "manifest.json").read_text())["shards"]).encode()
    return out


@pytest.fixture(scope="module")
def local_run(demo, tmp_path_factory):
    return run_pipeline(spec_from_dict(pipeline(demo)), tmp_path_factory.mktemp("l") / "out", workers=2,
                        quiet=True)


def test_small_run_equals_local_and_resumes_elsewhere(demo, bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_STAGING", str(tmp_path / "staging"))
    local = run_pipeline(spec_from_dict(small(demo)), tmp_path / "local", quiet=True)
    work, out = f"{bucket}/work", tmp_path / "out"
    r = run_pipeline(spec_from_dict(small(demo)), out, quiet=True, work_dir=work)
    assert any(k.startswith("data/") and "+" in k for k in tree(local.out))  # merges happened
    assert tree(out) == tree(local.out) and r.stats["totals"] == local.stats["totals"]
    keys = open_store(work).list()
    assert any(k.startswith("_work/done/r") for k in keys) and "_work/spec.json" in keys
    assert sorted(k for k in keys if k.startswith("data/")) == sorted(s["path"] for s in r.manifest["shards"])
    assert not any(".tmp-" in k or k == ".lease" for k in keys)
    shutil.rmtree(out)  # another machine: nothing local
    run_pipeline(spec_from_dict(small(demo)), out, quiet=True, work_dir=work)
    log = [json.loads(line) for line in (out / "logs" / "run.jsonl").read_text().splitlines()]
    assert [e["pending"] for e in log if e["event"] == "resume"] and all(
        e["pending"] == 0 for e in log if e["event"] == "resume")
    assert tree(out) == tree(local.out)


@pytest.mark.slow
def test_work_dir_equals_local_and_resumes_elsewhere(demo, local_run, bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_STAGING", str(tmp_path / "staging"))
    work = f"{bucket}/work"
    out = tmp_path / "out"
    r = run_pipeline(spec_from_dict(pipeline(demo)), out, workers=2, quiet=True, work_dir=work)
    ref = tree(local_run.out)
    assert any(k.startswith("data/") and "+" in k for k in ref)  # small shards were merged
    assert any(s["rows"] for s in r.manifest["shards"])
    assert tree(out) == ref
    assert r.stats["totals"] == local_run.stats["totals"]
    assert r.manifest["global"] == local_run.manifest["global"]

    keys = open_store(work).list()
    assert "_work/spec.json" in keys and "_work/plan.json" in keys and "manifest.json" in keys
    assert any(k.startswith("_work/done/r") for k in keys)  # reduce steps' markers
    assert any("-components" in k or "cc-" in k for k in keys)  # the components rounds' side files
    assert not any(".tmp-" in k or k.startswith("logs/") or k == ".lease" for k in keys)  # lease released
    # the merged-away small shards left the store too: data/ there is exactly the output's
    assert sorted(k for k in keys if k.startswith("data/")) == sorted(s["path"] for s in r.manifest["shards"])
    # staging folders are gone; the node cache stays
    assert not any((tmp_path / "staging").glob("*/tasks/*"))

    # A driver on another machine (nothing local) resumes from the bucket: nothing recomputed.
    shutil.rmtree(out)
    again = run_pipeline(spec_from_dict(pipeline(demo)), out, quiet=True, work_dir=work)
    log = [json.loads(line) for line in (out / "logs" / "run.jsonl").read_text().splitlines()]
    resumed = [e for e in log if e["event"] == "resume"]
    assert resumed and all(e["pending"] == 0 for e in resumed)
    assert tree(out) == ref and again.manifest["shards"] == r.manifest["shards"]

    # A changed config is refused from the store's spec, as locally.
    changed = pipeline(demo)
    changed["stages"][-1] = {"length": {"min": 80}}
    shutil.rmtree(out)
    with pytest.raises(RunRefused, match=r"stages\[4\].config.min"):
        run_pipeline(spec_from_dict(changed), out, quiet=True, work_dir=work)


@pytest.mark.slow
def test_interrupted_run_resumes_from_store(demo, local_run, s3_bucket, tmp_path, monkeypatch):
    """Done markers already in the store are skipped; the rest run; same bytes."""
    monkeypatch.setenv("CURATE_STAGING", str(tmp_path / "staging"))
    work = f"{s3_bucket}/work"
    out = tmp_path / "out"
    run_pipeline(spec_from_dict(pipeline(demo)), out, quiet=True, work_dir=work)
    store = open_store(work)
    # Pretend the driver died in phase 1: drop every later marker and the output contract.
    keys = store.list()
    late = [k for k in keys if (k.startswith("_work/done/") and not k.startswith("_work/done/p0-"))
            or k.startswith(("data/", "manifest", "stats", "report"))]
    store.delete(late)
    shutil.rmtree(out)
    r = run_pipeline(spec_from_dict(pipeline(demo)), out, quiet=True, work_dir=work)
    log = [json.loads(line) for line in (out / "logs" / "run.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resume" and e["skipped"] > 0 for e in log)
    assert tree(out) == tree(local_run.out)
    assert r.manifest["rows"] == local_run.manifest["rows"]


@pytest.mark.slow
def test_s3_output_with_s3_work_dir(demo, local_run, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_STAGING", str(tmp_path / "staging"))
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "driver"))
    r = run_pipeline(spec_from_dict(pipeline(demo)), f"{s3_bucket}/out", workers=2, quiet=True,
                     work_dir=f"{s3_bucket}/work")
    assert r.location == f"{s3_bucket}/out" and r.out.is_relative_to(tmp_path / "driver")
    assert [(s["path"], s["sha256"]) for s in r.manifest["shards"]] == [
        (s["path"], s["sha256"]) for s in local_run.manifest["shards"]
    ]
    assert open_store(f"{s3_bucket}/work").list("_work/target.json")  # bound to its one output


@pytest.mark.parametrize("uri,named", [("abfs://c/work", "abfs://"), ("hdfs://h/work", "hdfs://"),
                                       ("az://c/work", "az://")])
def test_other_schemes_refused_by_name(demo, tmp_path, uri, named):
    with pytest.raises(RunRefused, match=named.replace("/", r"\/")) as e:
        run_pipeline(spec_from_dict(small(demo)), tmp_path / "out", quiet=True, work_dir=uri)
    assert "s3://" in str(e.value)
    assert not (tmp_path / "out").exists() and not (Path.cwd() / named.rstrip("/")).exists()


def test_local_work_state_is_not_silently_replaced(demo, s3_bucket, tmp_path):
    """OUT holding a run whose state is local, then --work-dir s3://: refused, nothing deleted."""
    spec = {"name": "t", "inputs": small(demo)["inputs"], "stages": [{"length": {"min": 40}}]}
    out = tmp_path / "out"
    run_pipeline(spec_from_dict(spec), out, quiet=True)
    before = sorted(p.name for p in (out / "data").iterdir())
    with pytest.raises(RunRefused, match="work state is local"):
        run_pipeline(spec_from_dict(spec), out, quiet=True, work_dir=f"{s3_bucket}/w")
    assert sorted(p.name for p in (out / "data").iterdir()) == before


def test_node_cache_keeps_objects_with_one_version_tag_apart(bucket, tmp_path):
    """Two objects can share a version tag (GCS generations are per object; equal files share an
    S3 ETag): the node cache must still hand each key its own bytes."""
    from curate.engine.workstore import link_in
    from curate.io.objstore import Obj

    store = open_store(f"{bucket}/w")
    store.put_bytes("a/x.parquet", b"first")
    store.put_bytes("b/y.parquet", b"second")
    listing = store.list()
    objs = [Obj(o.rel, "1", o.size) for o in listing.values()]  # the same tag for both
    real = {o.rel: o.etag for o in listing.values()}
    store.download = lambda rel, dest, etag=None: type(store).download(store, rel, dest, real[rel])
    for o in sorted(objs, key=lambda o: o.rel):  # one after the other: the second finds a cached "1"
        link_in(store, [o], tmp_path / "root", tmp_path / "cache")
    assert (tmp_path / "root/a/x.parquet").read_bytes() == b"first"
    assert (tmp_path / "root/b/y.parquet").read_bytes() == b"second"



def test_cli_names_a_missing_bucket_without_a_traceback(demo, gcs_endpoint, tmp_path):
    import yaml
    from click.testing import CliRunner

    from curate.cli import main

    spec = tmp_path / "p.yaml"
    spec.write_text(yaml.safe_dump(small(demo)))
    r = CliRunner().invoke(main, ["run", str(spec), "-o", str(tmp_path / "out"), "-q",
                                  "--work-dir", "gs://no-such-bucket-here/w"])
    assert r.exit_code == 1 and "error: cannot write gs://no-such-bucket-here/w/.lease: no bucket" in r.output
    assert r.exc_info[0] is SystemExit  # a message, not a traceback
