"""The malformed-input zoo (tests/fault/zoo.py): every kind gives its reject reason, keeps every
good record beside the damage, and stays under 1.5 GB of RSS; kill -9 + resume over the whole zoo
gives the same bytes. The small zoo runs in the default suite; ``make test-fault`` runs the full
one (multi-GB bombs, kill/resume trials) and prints the table:

    kind | reason | rows lost | peak RSS MB          (one fresh process per kind)
    trials | identical after resume | processes left after a driver kill
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import polars as pl
import pytest

from tests.fault.conftest import output_hashes, run_cli, start_cli
from tests.fault.zoo import KINDS, MB, build_zoo, good_rows, read_kind, read_kind_in_subprocess

RSS_LIMIT_MB = 1500


def _check(kind, got: dict, scale: str, folder: Path) -> list[str]:
    """What is wrong with one kind's result (empty: all good)."""
    wrong = []
    if kind.reason and kind.reason not in got["reasons"]:
        wrong.append(f"reasons {got['reasons']} lack {kind.reason}")
    if not kind.reason and got["reasons"]:
        wrong.append(f"unexpected rejects {got['reasons']}")
    if got["rows"] != good_rows(kind, scale, folder):
        wrong.append(f"{got['rows']} rows, expected {good_rows(kind, scale, folder)} (rows lost)")
    return wrong


def test_small_zoo_every_kind(tmp_path):
    """Default run: every kind of the zoo, read in this process, gives its reason and loses nothing."""
    build_zoo(tmp_path, "small")
    wrong = {}
    for kind in KINDS:
        problems = _check(kind, read_kind(kind, tmp_path, "small"), "small", tmp_path)
        if problems:
            wrong[kind.name] = problems
    assert not wrong, wrong


def test_small_bomb_peak_rss(tmp_path):
    """Default run: one bomb in a fresh process (48 MB inflated, 4 MB window): RSS stays near the baseline."""
    kind = next(k for k in KINDS if k.name == "zstd_bomb")
    build_zoo(tmp_path, "small", [kind.name])
    got = read_kind_in_subprocess(kind, tmp_path, "small")
    assert not _check(kind, got, "small", tmp_path), got
    assert got["peak_rss_mb"] < RSS_LIMIT_MB


# -- the full table (make test-fault) -----------------------------------------------------------


def _zoo_pipeline(root: Path) -> None:
    import yaml

    doc = {
        "name": "zoo",
        "inputs": [
            {"source": "jsonl", "reader": "jsonl", "paths": "zoo/jsonl/*", "max_line_bytes": 16 * MB},
            {"source": "warc", "reader": "warc", "paths": "zoo/warc/*"},
            {"source": "parquet", "reader": "parquet", "paths": "zoo/parquet/*"},
        ],
        "stages": [],
        "output": {"keep_rejects": True, "shard_rows": 50},
    }
    (root / "zoo.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _group_left(pgid: int) -> list[int]:
    """Processes still alive in process group ``pgid`` (the killed driver's workers)."""
    left = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                left.append(int(d.name))
    return left


@pytest.mark.fault
@pytest.mark.timeout(3600)  # multi-GB bombs and kill/resume trials: minutes on a loaded machine
def test_full_zoo_table(tmp_path, fault_mods):
    root = tmp_path
    build_zoo(root / "zoo", "full")
    rows, wrong = [], {}
    for kind in KINDS:
        got = read_kind_in_subprocess(kind, root / "zoo", "full")
        problems = _check(kind, got, "full", root / "zoo")
        if got["peak_rss_mb"] != got["peak_rss_mb"] or got["peak_rss_mb"] >= RSS_LIMIT_MB:
            problems.append(f"peak RSS {got['peak_rss_mb']:.0f} MB")
        if problems:
            wrong[kind.name] = problems
        lost = good_rows(kind, "full", root / "zoo") - got["rows"]
        rows.append(
            (
                kind.name,
                kind.reason or "(none: read)",
                ",".join(got["reasons"]) or "-",
                lost,
                got["peak_rss_mb"],
            )
        )

    print("\n\nmalformed-input zoo (full scale; one fresh process per kind)")
    print(f"{'kind':<28}{'expected reason':<28}{'reasons given':<34}{'rows lost':>10}{'peak RSS MB':>13}")
    for name, reason, given, lost, rss in rows:
        print(f"{name:<28}{reason:<28}{given:<34}{lost:>10}{rss:>13.0f}")

    # the whole zoo through `curate run`: a clean reference, then kill -9 of the driver and resume
    _zoo_pipeline(root)
    t0 = time.monotonic()
    r = run_cli(["run", "zoo.yaml", "-o", "ref", "-w", "2", "-q"], root, fault_mods, timeout=900)
    clean_s = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    ref = output_hashes(root / "ref")
    stats = json.loads((root / "ref" / "stats.json").read_text())["stages"][0]
    out = pl.read_parquet(root / "ref" / "data" / "**" / "*.parquet")
    expected_rows = sum(good_rows(k, "full", root / "zoo") for k in KINDS)
    rng = random.Random(14)
    trials = int(os.environ.get("CURATE_ZOO_TRIALS", "5"))
    identical, left_counts = 0, []
    for t in range(trials):
        target = root / f"trial{t}"
        p = start_cli(["run", "zoo.yaml", "-o", target.name, "-w", "2", "-q"], root, fault_mods)
        time.sleep(rng.uniform(0.5, max(0.6, clean_s * 0.8)))
        try:
            os.kill(p.pid, signal.SIGKILL)  # the driver only: do its workers die with it?
        except ProcessLookupError:
            pass
        p.wait(timeout=60)  # the driver; its pipes stay open while a worker lives
        time.sleep(2)
        left = _group_left(p.pid)
        left_counts.append(len(left))
        if left:
            os.killpg(p.pid, signal.SIGKILL)  # our own leftovers, before the resume
        p.communicate(timeout=60)
        r = run_cli(["run", "zoo.yaml", "-o", target.name, "-w", "2", "-q"], root, fault_mods, timeout=900)
        assert r.returncode == 0, r.stderr
        identical += output_hashes(target) == ref
        print(
            f"trial {t}: killed the driver, {len(left)} processes left, resumed identical: "
            f"{output_hashes(target) == ref}"
        )

    print(
        f"\ncurate run over the zoo: {len(KINDS)} kinds, read in={stats['in']} out={stats['out']} "
        f"(expected out {expected_rows}, got {out.height} rows in data/)\n"
        f"kill -9 of the driver + resume: trials {trials}, identical after resume {identical}/{trials}, "
        f"processes left after a driver kill {left_counts}"
    )
    assert not wrong, wrong
    assert out.height == expected_rows and stats["out"] == expected_rows
    assert identical == trials
