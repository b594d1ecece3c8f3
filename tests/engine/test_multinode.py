"""A multi-node rehearsal: a Ray head and two worker "nodes" on this machine, each with its own
staging folder, no folder shared between driver and workers, moto's S3 or fake-gcs-server as the
only shared store.

The output equals a local run's bytes, and still does when one worker node is killed mid-run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from curate.demo import generate
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from curate.io.objstore import open_store

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

pytestmark = pytest.mark.slow  # three raylets and four runs: minutes on a shared machine


def spec(demo: Path) -> dict:
    return {
        "name": "multinode",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": f"{demo}/jsonl/*.jsonl.gz"}],
        "stages": [{"exact_dedup": {}}, {"minhash_dedup": {"threshold": 0.7}}, {"length": {"min": 40}}],
        "output": {"shard_rows": 150, "keep_rejects": True, "min_shard_mb": 0.05},
    }


def contract(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for d in ("data", "rejects")
            for p in sorted((root / d).rglob("*")) if p.is_file()}


@pytest.fixture
def cluster(tmp_path, s3_endpoint, gcs_endpoint, monkeypatch):  # nodes inherit both endpoints
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    c = cluster_utils.Cluster()
    c.add_node(num_cpus=0, env_vars={"CURATE_STAGING": str(tmp_path / "node-head")})  # driver only
    nodes = [c.add_node(num_cpus=1, env_vars={"CURATE_STAGING": str(tmp_path / f"node-{n}")})
             for n in ("a", "b")]
    c.wait_for_nodes()
    yield c, nodes
    ray.shutdown()
    c.shutdown()


def test_two_nodes_no_shared_disk_equal_local_and_survive_a_dead_node(cluster, bucket, tmp_path,
                                                                       monkeypatch):
    c, (node_a, node_b) = cluster
    demo = tmp_path / "demo"
    generate(demo, scale=0.05, seed=3)
    local = run_pipeline(spec_from_dict(spec(demo)), tmp_path / "local", workers=2, quiet=True)
    monkeypatch.setenv("CURATE_STAGING", str(tmp_path / "driver-staging"))  # in-driver tasks, if any

    work = f"{bucket}/work"
    r = run_pipeline(spec_from_dict(spec(demo)), tmp_path / "out1", executor="ray", address=c.address,
                     quiet=True, work_dir=work)
    assert contract(tmp_path / "out1") == contract(local.out)
    assert r.manifest["shards"] == local.manifest["shards"]
    for n in ("a", "b"):  # both nodes ran tasks, each from its own cache
        assert any((tmp_path / f"node-{n}").glob("*/cache/*")), n

    # Again in a fresh work prefix, killing node b once a few tasks are done.
    work2 = f"{bucket}/work2"
    store = open_store(work2)
    killed = threading.Event()

    def kill_when_started() -> None:
        deadline = time.time() + 300
        while time.time() < deadline:
            if sum(k.startswith("_work/done/") for k in store.list("_work/done/")) >= 2:
                c.remove_node(node_b, allow_graceful=False)
                killed.set()
                return
            time.sleep(0.2)

    th = threading.Thread(target=kill_when_started, daemon=True)
    th.start()
    r2 = run_pipeline(spec_from_dict(spec(demo)), tmp_path / "out2", executor="ray", address=c.address,
                      quiet=True, work_dir=work2)
    ended = killed.is_set()  # set before the run returned: the node died mid-run
    th.join(timeout=5)
    assert ended, "node b was not killed during the run"
    assert contract(tmp_path / "out2") == contract(local.out)
    assert r2.manifest["shards"] == local.manifest["shards"]
