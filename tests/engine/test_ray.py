"""`--executor ray` on a real local Ray (2 CPUs): same tasks, byte-identical output, clear failures."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curate.engine.errors import RunRefused, TaskFailed
from curate.engine.registry import builtin_stages
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from tests.engine.conftest import write_corpus

ray = pytest.importorskip("ray")


def _hashes(out: Path) -> dict[str, str]:
    """sha256 of every shard and reject file (what a user would diff)."""
    files = sorted((out / "data").rglob("*.parquet")) + sorted((out / "rejects").rglob("*.parquet"))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _spec(mod: str, root: str = "corpus", **output):
    """Map filter + a global stage with a hash-partitioned reduce, then the real exact/near dedup and
    mix (file-based shuffles under OUT/_work) where they are registered."""
    stages: list = [
        {"stage": f"{mod}:MinChars", "config": {"min_chars": 12}},
        {"stage": f"{mod}:RareSource", "config": {"min_count": 3, "partitions": 3}},
    ]
    have = builtin_stages()
    if "exact_dedup" in have:
        stages.append({"exact_dedup": {}})
    if "minhash_dedup" in have:
        stages.append({"minhash_dedup": {"ngram": 2, "threshold": 0.7, "partitions": 4}})
    if "mix" in have:
        stages.append({"mix": {"weights": {"web": 0.6, "news": 0.4}, "unit": "docs", "seed": 1}})
    return spec_from_dict({
        "name": "ray-vs-local",
        "inputs": [
            {"source": "web", "reader": "jsonl", "paths": f"{root}/web/*.jsonl", "batch_rows": 128},
            {"source": "news", "reader": "jsonl", "paths": f"{root}/news/*.jsonl", "batch_rows": 128},
        ],
        "stages": stages,
        "output": {"shard_rows": 300, "keep_rejects": True, **output},
    })


def test_unreachable_cluster_refuses_the_run_clearly(monkeypatch):
    """ray.init failing (bad address, no loopback) is a RunRefused naming the address, no traceback."""
    from curate.engine.errors import RunRefused
    from curate.engine.ray_executor import RayExecutor

    def fail(*a, **k):
        raise ConnectionError("Could not find any running Ray instance")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", fail)
    ex = RayExecutor(2, "ray://head:10001")
    with pytest.raises(
        RunRefused, match=r"cannot start or reach the Ray cluster at ray://head:10001: ConnectionError"
    ):
        ex.__enter__()
    ex.close()  # nothing was started, nothing to shut down


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, s3_endpoint):
    """One local 2-CPU Ray for the module. PYTHONPATH (and the local S3 endpoint's variables) are
    set first so its workers can import the test stages module (written per test into this same
    folder) and reach the bucket."""
    mods = tmp_path_factory.mktemp("raymods")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(mods) + (os.pathsep + old if old else "")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield mods
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture
def ray_stages(ray_cluster, monkeypatch) -> str:
    from tests.engine.conftest import STAGES_MODULE

    (ray_cluster / "ray_test_stages.py").write_text(STAGES_MODULE)
    monkeypatch.syspath_prepend(str(ray_cluster))
    return "ray_test_stages"


def test_ray_output_is_byte_identical_to_local(tmp_path, ray_stages, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus" / "web", n_files=4, rows=300, seed=1, bad_every=89)
    write_corpus(tmp_path / "corpus" / "news", n_files=2, rows=300, seed=2)
    spec = _spec(ray_stages)
    local = run_pipeline(spec, tmp_path / "local", workers=1, quiet=True)
    on_ray = run_pipeline(spec, tmp_path / "ray", workers=2, quiet=True, executor="ray")
    assert ray.is_initialized()  # the executor used the cluster it found and left it running
    h_local, h_ray = _hashes(tmp_path / "local"), _hashes(tmp_path / "ray")
    assert h_local and any(k.startswith("rejects/") for k in h_local)
    assert h_ray == h_local
    assert [s["sha256"] for s in on_ray.manifest["shards"]] == [s["sha256"] for s in local.manifest["shards"]]
    # stats agree too (timings aside): same funnel, same global summaries
    strip = [{k: v for k, v in s.items() if k != "seconds"} for s in local.stats["stages"]]
    assert [{k: v for k, v in s.items() if k != "seconds"} for s in on_ray.stats["stages"]] == strip
    assert on_ray.stats["global"] == local.stats["global"]
    # the reduce step of the global stage ran as Ray tasks with done markers
    assert len(list((tmp_path / "ray" / "_work" / "done").glob("r*-count-*.json"))) == 3


def test_ray_reads_and_publishes_s3(tmp_path, ray_stages, s3_bucket, monkeypatch):
    """Workers read their inputs straight from the bucket; the output is published there, and its
    shards are the local executor's, byte for byte."""
    from curate.io import storage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CURATE_WORK_DIR", str(tmp_path / "work"))
    write_corpus(tmp_path / "corpus" / "web", n_files=3, rows=200, seed=4, bad_every=53)
    write_corpus(tmp_path / "corpus" / "news", n_files=2, rows=200, seed=5)
    for p in sorted((tmp_path / "corpus").rglob("*.jsonl")):
        storage.upload(p, f"{s3_bucket}/{p.relative_to(tmp_path).as_posix()}")
    local = run_pipeline(_spec(ray_stages), tmp_path / "local", workers=1, quiet=True)
    out = f"{s3_bucket}/out"
    on_ray = run_pipeline(
        _spec(ray_stages, root=f"{s3_bucket}/corpus"), out, workers=2, quiet=True, executor="ray"
    )
    assert [s["sha256"] for s in on_ray.manifest["shards"]] == [s["sha256"] for s in local.manifest["shards"]]
    for s in on_ray.manifest["shards"]:
        assert hashlib.sha256(storage.read_bytes(f"{out}/{s['path']}")).hexdigest() == s["sha256"]


def test_ray_task_error_names_the_task(tmp_path, ray_stages, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_corpus(tmp_path / "corpus" / "web", n_files=2, rows=50)
    # a stage that raises inside the worker: time.sleep(-1) -> ValueError
    spec = spec_from_dict({
        "name": "boom",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": "corpus/web/*.jsonl"}],
        "stages": [{"stage": f"{ray_stages}:MinChars", "config": {"min_chars": 5, "sleep": -1.0}}],
        "output": {},
    })
    with pytest.raises(
        TaskFailed, match=r"task p0-0000\d \(input \S*corpus/web/part\d\.jsonl\) failed: ValueError"
    ):
        run_pipeline(spec, tmp_path / "out", workers=2, quiet=True, executor="ray")


@pytest.mark.slow
def test_cli_ray_starts_and_stops_its_own_cluster(tmp_path, stages_module):
    """`curate run --executor ray` with no address: a private 2-CPU cluster, same bytes as local."""
    write_corpus(tmp_path / "corpus" / "web", n_files=3, rows=200, seed=3)
    write_corpus(tmp_path / "corpus" / "news", n_files=1, rows=200, seed=4)
    (tmp_path / "p.yaml").write_text(
        "name: cli-ray\ninputs:\n"
        "  - {source: web, reader: jsonl, paths: corpus/web/*.jsonl}\n"
        "  - {source: news, reader: jsonl, paths: corpus/news/*.jsonl}\n"
        f"stages:\n  - stage: {stages_module}:MinChars\n    config: {{min_chars: 12}}\n"
        f"  - stage: {stages_module}:RareSource\n"
        "output: {shard_rows: 200}\n"
    )
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    for ex, out in (("local", "a"), ("ray", "b")):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "curate.cli",
                "run",
                "p.yaml",
                "-o",
                out,
                "-w",
                "2",
                "-q",
                "--executor",
                ex,
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b") != {}


def test_every_node_must_see_the_run_folder(tmp_path, ray_cluster):
    """The probe reads back on each node what the driver wrote; a node that reads something else
    (another disk at that path) is named, and the run is refused before any task runs."""
    from curate.engine.ray_executor import RayExecutor, blind_nodes

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    assert blind_nodes(ray, nodes, tmp_path) == []
    assert blind_nodes(ray, nodes, tmp_path, token="what another disk holds") == [
        nodes[0]["NodeManagerAddress"]
    ]
    assert not list(tmp_path.iterdir())  # the probe file is removed
    ex = RayExecutor(2)
    ex.check_shared(tmp_path)  # one node, sees its own disk: no refusal
    # a blind node refuses the run, naming it and what to do
    import curate.engine.ray_executor as rx

    (tmp_path / "a.jsonl").write_text('{"text": "hello"}\n')
    spec = spec_from_dict(
        {"name": "x", "inputs": [{"source": "s", "reader": "jsonl", "paths": str(tmp_path / "a.jsonl")}]}
    )
    real = rx.blind_nodes
    try:
        rx.blind_nodes = lambda *a, **k: ["10.0.0.7"]
        with pytest.raises(RunRefused, match=r"not visible from Ray node\(s\) 10.0.0.7.*NFS"):
            run_pipeline(spec, tmp_path / "out", workers=2, quiet=True, executor="ray")
    finally:
        rx.blind_nodes = real
