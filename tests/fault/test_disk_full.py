"""Disk full: the run stops with a clear message, leaves nothing corrupt, and resumes once space is freed.

A real full disk is a small tmpfs mounted over the output folder (needs root, as in CI containers);
without permission to mount, the test skips and says why.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.fault.conftest import make_corpus, make_random_corpus, output_hashes, pipeline_yaml, run_cli

pytestmark = pytest.mark.fault


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 2 MB tmpfs (needs root): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _all_committed_files_are_whole(out: Path) -> None:
    """Every file with a final name is complete: Parquet files open and hold the rows their
    footer says, JSON files parse. (Temp names are allowed: the next run sweeps them.)"""
    for p in out.rglob("*.parquet"):
        meta = pq.ParquetFile(p).metadata
        assert pq.read_table(p).num_rows == meta.num_rows, p
    for p in out.rglob("*.json"):
        json.loads(p.read_text())


def test_disk_full_clear_error_nothing_corrupt_then_resume(tmp_path, small_disk, fault_mods):
    # ~3.6 MB of incompressible text: does not fit in 2 MB (shards + phase outputs + rejects)
    make_random_corpus(tmp_path / "corpus", n_files=4, rows=1500, chars=600)
    pipeline_yaml(tmp_path)
    ref = run_cli(["run", "pipeline.yaml", "-o", "reference", "-w", "1", "-q"], tmp_path, fault_mods)
    assert ref.returncode == 0, ref.stderr

    out = small_disk / "out"
    r = run_cli(["run", "pipeline.yaml", "-o", str(out), "-w", "1", "-q"], tmp_path, fault_mods)
    assert r.returncode == 1, r.stderr
    assert "disk full" in r.stderr and "re-run the same command" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert not (out / "manifest.json").exists()
    _all_committed_files_are_whole(out)
    st = run_cli(["status", str(out)], tmp_path, fault_mods)
    assert (
        "state: failed" in st.stdout and "No space left on device" in st.stdout and "tasks done" in st.stdout
    ), st.stdout

    # free space (grow the file system) and run the same command again: it resumes
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    r = run_cli(["run", "pipeline.yaml", "-o", str(out), "-w", "1", "-q"], tmp_path, fault_mods)
    assert r.returncode == 0, r.stderr
    assert output_hashes(out) == output_hashes(tmp_path / "reference")
    _all_committed_files_are_whole(out)


def test_temp_files_left_by_a_full_disk_are_swept_before_the_run_exits(tmp_path, monkeypatch, fault_mods):
    """ENOSPC from the writer mid-task (faked: no mount needed): the run fails as a full disk, no
    temp file is left behind when it exits, and the same run afterwards gives the reference bytes."""
    import errno

    from curate.cli import _disk_full
    from curate.engine.errors import TaskFailed
    from curate.engine.runner import run_pipeline
    from curate.engine.spec import load_spec
    from curate.io import writer

    monkeypatch.chdir(tmp_path)
    make_corpus(tmp_path / "corpus", n_files=2, rows=600)  # bad lines and short ones: rejects are written too
    spec = load_spec(str(pipeline_yaml(tmp_path, batch_rows=100)))
    run_pipeline(spec, tmp_path / "reference", quiet=True)

    real_write, real_close = writer.ShardWriter.write, writer._File.close
    disk = {"writes": 0, "full": False}

    def no_space():
        return OSError(errno.ENOSPC, "No space left on device")

    def write(self, df):  # the 4th write fills the disk; every write and close after it fails
        if disk["full"]:
            raise no_space()
        real_write(self, df)
        disk["writes"] += 1
        if disk["writes"] == 4:
            disk["full"] = True
            raise no_space()

    def close(self):
        if disk["full"]:
            raise no_space()
        real_close(self)

    monkeypatch.setattr(writer.ShardWriter, "write", write)
    monkeypatch.setattr(writer._File, "close", close)
    with pytest.raises(TaskFailed) as e:
        run_pipeline(spec, tmp_path / "out", quiet=True)
    assert _disk_full(e.value)
    assert not list((tmp_path / "out").rglob(f"*{writer.TMP_MARK}*"))
    monkeypatch.setattr(writer.ShardWriter, "write", real_write)
    monkeypatch.setattr(writer._File, "close", real_close)
    run_pipeline(spec, tmp_path / "out", quiet=True)
    assert output_hashes(tmp_path / "out") == output_hashes(tmp_path / "reference")
