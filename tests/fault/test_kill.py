"""kill -9 of the driver or of one worker at a random moment -> re-run -> byte-identical output.

The reference is an uninterrupted run of the same pipeline file. "Byte-identical" covers every
file under data/ and rejects/ (a leftover temp file would show up as a difference too).
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests.fault.conftest import (
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


def test_kill_9_one_worker_fails_cleanly_then_resume(kill_setup, fault_mods):
    """The local pool cannot finish a task whose worker died: the run stops with a clear error
    naming the task (no traceback), and the same command resumes to identical output."""
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
    assert p.returncode == 1, err
    assert "error: task " in err and "failed" in err and "Traceback" not in err, err
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
