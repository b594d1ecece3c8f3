"""kill -9 of the driver or of one worker at a random moment -> re-run -> byte-identical output.

The reference is an uninterrupted run of the same pipeline file. "Byte-identical" covers every
file under data/ and rejects/ (a leftover temp file would show up as a difference too).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.fault.conftest import (
    STAGES,
    done_markers,
    kill_group,
    make_corpus,
    output_hashes,
    pipeline_yaml,
    run_cli,
    start_cli,
    wait_for,
)

pytestmark = pytest.mark.fault


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory, fault_mods):
    root = tmp_path_factory.mktemp("kill")
    make_corpus(root / "corpus")
    pipeline_yaml(root, sleep=0.04)
    # one in-process worker: the bytes do not depend on the worker count (tests/engine checks that)
    r = run_cli(["run", "pipeline.yaml", "-o", "reference", "-w", "1", "-q"], root, fault_mods)
    assert r.returncode == 0, r.stderr
    ref = output_hashes(root / "reference")
    assert ref["data"] and ref["rejects"]
    return root, ref


def _kill_driver_then_resume(root: Path, mods: Path, ref: dict, out: str, seed: int) -> None:
    rng = random.Random(seed)
    shutil.rmtree(root / out, ignore_errors=True)
    p = start_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q"], root, mods)
    wait_for(lambda: done_markers(root / out) or p.poll() is not None, what="a first done marker")
    if not done_markers(root / out):
        _, err = p.communicate(timeout=60)
        raise AssertionError(f"the run ended (rc {p.returncode}) before any task was done:\n{err}")
    if seed == 1:  # once: `curate status` on a live run
        st = run_cli(["status", out], root, mods)
        assert p.poll() is not None or "running (pid" in st.stdout, st.stdout
    time.sleep(rng.uniform(0.0, 1.5))
    finished_before_kill = p.poll() == 0
    kill_group(p)
    st = run_cli(["status", out], root, mods)
    assert st.returncode == 0, st.stderr
    if not finished_before_kill and not (root / out / "manifest.json").exists():
        assert "stopped" in st.stdout and "tasks done" in st.stdout, st.stdout
    r = run_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q"], root, mods)
    assert r.returncode == 0, r.stderr
    assert output_hashes(root / out) == ref
    st = run_cli(["status", out], root, mods)
    assert "finished" in st.stdout, st.stdout


def test_kill_9_driver_at_random_point_then_resume(kill_setup, fault_mods):
    root, ref = kill_setup
    _kill_driver_then_resume(root, fault_mods, ref, "killed-driver", seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_kill_9_driver_many_points(kill_setup, fault_mods, seed):
    root, ref = kill_setup
    _kill_driver_then_resume(root, fault_mods, ref, f"killed-driver-{seed}", seed=seed)


def _pool_workers(pid: int):
    psutil = pytest.importorskip("psutil")
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for k in kids:
        try:
            cmd = " ".join(k.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmd and "resource_tracker" not in cmd:
            out.append(k)
    return out


def test_kill_9_one_worker_is_retried_then_output_identical(kill_setup, fault_mods):
    """A worker killed mid-run costs a retry of the tasks it may have held, each on a fresh
    worker: the run itself finishes, with the same bytes as an uninterrupted one."""
    root, ref = kill_setup
    out = "killed-worker"
    p = start_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q"], root, fault_mods)
    try:
        wait_for(lambda: len(_pool_workers(p.pid)) >= 2 or p.poll() is not None, what="two pool workers")
        wait_for(lambda: done_markers(root / out) or p.poll() is not None, what="a first done marker")
        workers = _pool_workers(p.pid)
        assert workers, "run finished before a worker could be killed"
        random.Random(0).choice(workers).kill()
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            kill_group(p)
    assert p.returncode == 0, err
    assert "Traceback" not in err, err
    assert output_hashes(root / out) == ref


def test_killed_driver_takes_its_workers_with_it(kill_setup, fault_mods):
    """kill -9 of the driver alone (as the OOM killer does): no pool worker outlives it."""
    psutil = pytest.importorskip("psutil")
    root, _ = kill_setup
    out = "orphans"
    shutil.rmtree(root / out, ignore_errors=True)
    p = start_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q"], root, fault_mods)
    workers = []
    try:
        wait_for(lambda: len(_pool_workers(p.pid)) >= 2 or p.poll() is not None, what="two pool workers")
        wait_for(lambda: done_markers(root / out) or p.poll() is not None, what="a first done marker")
        workers = _pool_workers(p.pid)
        assert len(workers) >= 2 and p.poll() is None, "run finished before its driver could be killed"
        os.kill(p.pid, signal.SIGKILL)
        p.communicate(timeout=60)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"workers outlived their driver: {[w.pid for w in alive]}"
    finally:
        for w in workers:
            with contextlib.suppress(psutil.Error):
                w.kill()
        if p.poll() is None:
            kill_group(p)


def _die_pipeline(root: Path, times: int) -> None:
    (root / "die.yaml").write_text(
        "name: die\n"
        "inputs:\n  - {source: web, reader: jsonl, paths: corpus/*.jsonl, batch_rows: 100}\n"
        f"stages:\n  - stage: {STAGES}:MinChars\n    config: {{min_chars: 12, sleep: 0.01}}\n"
        f"  - stage: {STAGES}:DieInTask\n    config: {{task_id: '00001', times: {times}}}\n"
        "output: {shard_rows: 500, keep_rejects: true}\n"
    )


def test_a_worker_that_dies_once_is_retried_on_a_fresh_one(tmp_path, fault_mods):
    make_corpus(tmp_path / "corpus", n_files=4, rows=300)
    _die_pipeline(tmp_path, times=1)
    r = run_cli(["run", "die.yaml", "-o", "out", "-w", "2", "-q"], tmp_path, fault_mods)
    assert r.returncode == 0, r.stderr
    assert "a worker process died; running" in r.stderr and "p0-00001" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert len(list((tmp_path / "deaths").iterdir())) == 1
    events = [json.loads(x) for x in (tmp_path / "out" / "logs" / "run.jsonl").read_text().splitlines()]
    assert any(e["event"] == "task_retried" and e["task"] == "p0-00001" for e in events)
    # the same pipeline, its one death already spent, runs straight through: the same bytes
    ref = run_cli(["run", "die.yaml", "-o", "ref", "-w", "2", "-q"], tmp_path, fault_mods)
    assert ref.returncode == 0 and "worker process died" not in ref.stderr, ref.stderr
    assert output_hashes(tmp_path / "out") == output_hashes(tmp_path / "ref")


def test_a_task_whose_worker_dies_twice_fails_naming_it_and_its_input(tmp_path, fault_mods):
    make_corpus(tmp_path / "corpus", n_files=4, rows=300)
    _die_pipeline(tmp_path, times=2)
    r = run_cli(["run", "die.yaml", "-o", "out", "-w", "2", "-q"], tmp_path, fault_mods)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert (
        "error: task p0-00001 (input " in r.stderr
        and "part1.jsonl) failed: its worker process exited with code 3, twice" in r.stderr
    ), r.stderr
    assert len(list((tmp_path / "deaths").iterdir())) == 2
    assert not list((tmp_path / "out").rglob("*.tmp-*"))


def test_ctrl_c_ends_with_one_line_then_resumes(kill_setup, fault_mods):
    """SIGINT to the process group, as a terminal's Ctrl-C: one line, no traceback, no worker
    left, and the same command resumes to the uninterrupted run's bytes."""
    psutil = pytest.importorskip("psutil")
    root, ref = kill_setup
    out = "interrupted"
    shutil.rmtree(root / out, ignore_errors=True)
    p = start_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q"], root, fault_mods)
    workers = []
    try:
        wait_for(lambda: len(_pool_workers(p.pid)) >= 2 or p.poll() is not None, what="two pool workers")
        wait_for(lambda: done_markers(root / out) or p.poll() is not None, what="a first done marker")
        workers = _pool_workers(p.pid)
        assert p.poll() is None, "run finished before it could be interrupted"
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            kill_group(p)
    assert p.returncode == 130, err
    lines = [x for x in err.strip().splitlines() if not x.startswith("note: running custom stage code")]
    assert lines == ["interrupted: finished tasks are kept; re-run the same command to resume"], err
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
    assert not list((root / out).rglob("*.tmp-*"))
    st = run_cli(["status", out], root, fault_mods)
    assert "stopped" in st.stdout, st.stdout
    r = run_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q"], root, fault_mods)
    assert r.returncode == 0, r.stderr
    assert output_hashes(root / out) == ref


def _ray_task_workers():
    psutil = pytest.importorskip("psutil")
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if cmd.startswith("ray::run_phase_task") or cmd.startswith("ray::run_reduce_task"):
            out.append(proc)
    return out


@pytest.mark.slow
def test_kill_9_ray_worker_is_retried_and_output_identical(kill_setup, fault_mods):
    """On Ray a dead worker's task is retried (tasks are idempotent): the run itself succeeds."""
    pytest.importorskip("ray")
    root, ref = kill_setup
    out = "killed-ray-worker"
    p = start_cli(["run", "pipeline.yaml", "-o", out, "-w", "2", "-q", "--executor", "ray"], root, fault_mods)
    try:
        wait_for(lambda: _ray_task_workers() or p.poll() is not None, timeout=180, what="a running Ray task")
        victims = _ray_task_workers()
        assert victims, "run finished before a Ray worker could be killed"
        victims[0].kill()
        _, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            kill_group(p)
    assert p.returncode == 0, err
    assert output_hashes(root / out)["data"] == ref["data"]
    assert output_hashes(root / out)["rejects"] == ref["rejects"]
