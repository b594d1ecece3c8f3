"""RunLock: the local flock and the lease on an object store behave the same way to a second driver;
a dead driver's lease expires and the next driver takes over and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from curate.engine.errors import RunRefused
from curate.engine.lock import LEASE_KEY, RunLock
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from curate.io.objstore import open_store


def test_local_lock_refuses_a_second_driver(tmp_path):
    refused = pytest.raises(RunRefused, match=rf"in use by another curate run \(pid {os.getpid()}\)")
    lock = tmp_path / ".lock"
    with RunLock.local(lock, str(tmp_path)), refused, RunLock.local(lock, str(tmp_path)):
        pass
    with RunLock.local(lock, str(tmp_path)):  # released
        pass


def test_lease_refuses_a_second_driver_naming_the_owner(bucket):
    store = open_store(f"{bucket}/w")
    with RunLock.lease(store, seconds=30) as first:
        held = json.loads(store.get_bytes(LEASE_KEY)[0])
        assert held["owner"] == first.backend.owner and held["expires"] > time.time() + 20
        refused = pytest.raises(RunRefused, match=rf"lease owner {held['owner']}, expires in \d+ s")
        with refused, RunLock.lease(open_store(f"{bucket}/w"), seconds=30):
            pass
    assert LEASE_KEY not in store.list()  # released at the end
    with RunLock.lease(store, seconds=30):
        pass


def test_lease_is_renewed_while_held(bucket):
    store = open_store(f"{bucket}/w")
    with RunLock.lease(store, seconds=1.5):
        time.sleep(3.5)  # over two terms: only renewal keeps it
        with pytest.raises(RunRefused, match="lease owner"), RunLock.lease(store, seconds=1.5):
            pass


def test_expired_lease_is_taken_over_and_the_old_driver_stops(bucket):
    store = open_store(f"{bucket}/w")
    dead = RunLock.lease(store, seconds=1)
    dead.backend.etag = store.put_bytes(LEASE_KEY, dead.backend._body(), if_absent=True)  # never renewed
    time.sleep(1.2)
    with RunLock.lease(store, seconds=30) as new:
        assert json.loads(store.get_bytes(LEASE_KEY)[0])["owner"] == new.backend.owner
        dead.backend._stop.set()
        dead.backend.lost = None
        # the dead one, were it to wake, cannot renew over the new owner's lease
        with pytest.raises(Exception, match="precondition"):
            store.put_bytes(LEASE_KEY, b"{}", if_match=dead.backend.etag)


DRIVER = textwrap.dedent("""
    import sys, time
    from curate.engine import tasks
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import spec_from_dict
    import json
    spec, out, work = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    real = tasks.run_phase_task
    def slow(task):  # the second task hangs, so the test can kill this driver mid-run
        if task.unit.task_id.endswith("1"):
            print("HANG", flush=True)
            time.sleep(600)
        return real(task)
    import curate.engine.runner as runner
    runner.run_phase_task = slow
    run_pipeline(spec_from_dict(spec), out, quiet=True, work_dir=work, lease_seconds=2)
""")


def test_dead_driver_lease_expires_and_a_new_driver_resumes(bucket, tmp_path, s3_endpoint):
    demo = tmp_path / "in"
    demo.mkdir()
    for i in range(3):
        (demo / f"{i}.jsonl").write_text("".join(
            json.dumps({"id": f"{i}-{j}", "text": f"document {i} {j} " + "word " * (20 + j)}) + "\n"
            for j in range(30)))
    spec = {"name": "lease", "inputs": [{"source": "s", "reader": "jsonl", "paths": f"{demo}/*.jsonl"}],
            "stages": [{"exact_dedup": {}}, {"length": {"min": 10}}]}
    work = f"{bucket}/work"
    env = dict(os.environ, CURATE_STAGING=str(tmp_path / "stage-a"))
    p = subprocess.Popen([sys.executable, "-c", DRIVER, json.dumps(spec), str(tmp_path / "a"), work],
                         stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert p.stdout.readline().strip() == "HANG"
        with pytest.raises(RunRefused, match=r"lease owner [^ ]+:\d+:[0-9a-f]+"):  # alive: refused
            run_pipeline(spec_from_dict(spec), tmp_path / "b", quiet=True, work_dir=work)
        os.kill(p.pid, signal.SIGKILL)  # dies without releasing anything
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
    store = open_store(work)
    assert LEASE_KEY in store.list() and "_work/done/p0-00000.json" in store.list()  # its first task
    time.sleep(2.2)  # the dead driver's term runs out
    os.environ["CURATE_STAGING"] = str(tmp_path / "stage-b")
    try:
        r = run_pipeline(spec_from_dict(spec), tmp_path / "b", quiet=True, work_dir=work)
    finally:
        del os.environ["CURATE_STAGING"]
    log = [json.loads(line) for line in (tmp_path / "b" / "logs" / "run.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resume" and e["skipped"] >= 1 for e in log)  # took over and resumed
    ref = run_pipeline(spec_from_dict(spec), tmp_path / "local", quiet=True)
    assert [s["sha256"] for s in r.manifest["shards"]] == [s["sha256"] for s in ref.manifest["shards"]]
    assert Path(tmp_path / "b" / "manifest.json").exists() and LEASE_KEY not in store.list()
