"""Scaling of one pipeline over executors: local 1 and 2 workers, Ray 2 workers (a local instance
the run starts, and a cluster started before it).

    python -m bench.scale                          # demo data at --scale 1, pipelines/web.yaml
    python -m bench.scale --scale 4 --pipeline pipelines/dedup.yaml
    python -m bench.scale --data out/demo-data     # reuse generated demo data

(Run it as a module from the repo root: as a script, bench/tokenize.py would shadow the stdlib.)

Generates the demo corpus (``curate.demo.generate``) unless ``--data`` is given, then runs the same
pipeline file with ``curate run`` in a fresh process per configuration and prints one table:
documents/s by the run's own clock (stats.json: planning to finalize, the start-up of a Ray the run
starts included; the `ray-cluster` row starts its cluster before the run and stops it after), the
end-to-end wall time of the command, the speed-up over one local worker, the scaling efficiency
(speed-up / workers), and whether every shard is byte-identical to the one-worker run.

Without pipelines/web.yaml (or the named file) it falls back to a JSONL pipeline over the demo's
jsonl/ folder with the filters that are registered plus exact and MinHash dedup. One run each, no
warm-up: on a shared machine read the load average printed with the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# "ray-cluster": Ray on a cluster started before the run (`ray start --head`, as a real cluster is),
# so the run's clock holds no Ray start-up; "ray": the local instance `curate run` starts itself.
CONFIGS = [("local", 1), ("local", 2), ("ray", 2), ("ray-cluster", 2)]


def fallback_pipeline(data: Path, folder: Path) -> Path:
    """JSONL demo rows through whichever quality filters exist, then exact + near dedup."""
    import yaml

    from curate.engine.registry import builtin_stages

    have = builtin_stages()
    stages: list = [
        {name: {}} for name in ("gopher_quality", "gopher_repetition", "c4", "fineweb") if name in have
    ]
    stages += [{n: {}} for n in ("exact_dedup", "minhash_dedup") if n in have]
    doc = {
        "name": "scale-fallback",
        "inputs": [{"source": "web", "reader": "jsonl", "paths": str(data / "jsonl" / "*.jsonl.gz")}],
        "stages": stages,
        "output": {"shard_rows": 100_000, "keep_rejects": True},
    }
    p = folder / "scale-fallback.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def shard_hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "data").rglob("*.parquet"))
    }


def ray_cli(*args: str, env: dict) -> None:
    """`ray ARGS` from this interpreter's environment; a failure (a Ray already running) stops the bench."""
    ray = Path(sys.executable).with_name("ray")
    r = subprocess.run([str(ray), *args], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ray {' '.join(args)} failed ({r.returncode}):\n{r.stderr[-3000:]}")


def run_one(pipeline: Path, out: Path, executor: str, workers: int, data: Path) -> dict:
    env = {**os.environ, "CURATE_DATA": str(data), "RAY_AUTH_MODE": "disabled"}
    cluster = executor == "ray-cluster"
    if cluster:
        ray_cli(
            "start",
            "--head",
            f"--num-cpus={workers}",
            "--include-dashboard=false",
            "--disable-usage-stats",
            env=env,
        )
    try:
        return _run_one(pipeline, out, executor, workers, env, cluster)
    finally:
        if cluster:
            ray_cli("stop", "--force", env=env)


def _run_one(pipeline: Path, out: Path, executor: str, workers: int, env: dict, cluster: bool) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "curate.cli",
        "run",
        str(pipeline),
        "-o",
        str(out),
        "-w",
        str(workers),
        "-q",
        "--executor",
        "ray" if cluster else executor,
        *(["--address", "auto"] if cluster else []),
    ]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    stats = json.loads((out / "stats.json").read_text())
    return {
        "executor": executor,
        "workers": workers,
        "docs": stats["totals"]["input_records"],
        "rows_out": stats["totals"]["output_rows"],
        "run_s": stats["throughput"]["wall_seconds"],
        "docs_per_s": stats["totals"]["input_records"] / stats["throughput"]["wall_seconds"],
        "wall_s": wall,
        "hashes": shard_hashes(out),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipeline", type=Path, default=REPO / "pipelines" / "web.yaml")
    ap.add_argument(
        "--data", type=Path, default=None, help="existing demo data (default: generate into a temp folder)"
    )
    ap.add_argument("--scale", type=float, default=1.0, help="demo data scale when generating")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder with the outputs")
    ap.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="curate-scale-"))
    try:
        data = args.data
        if data is None:
            from curate.demo import generate

            data = tmp / "demo-data"
            t0 = time.perf_counter()
            counts = generate(data, scale=args.scale, workers=min(4, os.cpu_count() or 1))
            print(
                f"demo data (scale {args.scale}): {counts.get('web_pages')} web pages, "
                f"{counts.get('jsonl_rows')} jsonl rows, "
                f"{counts.get('bytes', 0) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s"
            )
        pipeline = args.pipeline if args.pipeline.exists() else fallback_pipeline(data, tmp)
        print(
            f"pipeline: {pipeline}"
            + ("" if args.pipeline.exists() else f" ({args.pipeline} not found: fallback)")
        )
        results = []
        for executor, workers in CONFIGS:
            res = run_one(pipeline, tmp / f"out-{executor}-{workers}", executor, workers, data)
            results.append(res)
            print(f"  ran {executor} x{workers}: {res['run_s']:.1f} s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    base = results[0]
    print(
        f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (before the table; others' load "
        "skews timings)"
    )
    print(
        f"{'executor':<11} {'workers':>7} {'docs':>8} {'rows out':>9} {'run s':>7} {'docs/s':>8} "
        f"{'wall s':>7} {'speed-up':>8} {'efficiency':>10}  identical"
    )
    for r in results:
        speedup = r["docs_per_s"] / base["docs_per_s"]
        same = "yes" if r["hashes"] == base["hashes"] and r["hashes"] else "NO"
        print(
            f"{r['executor']:<11} {r['workers']:>7} {r['docs']:>8,} {r['rows_out']:>9,} {r['run_s']:>7.1f} "
            f"{r['docs_per_s']:>8,.0f} "
            f"{r['wall_s']:>7.1f} {speedup:>7.2f}x {speedup / r['workers']:>9.0%}  {same}"
        )
    if args.json:
        args.json.write_text(
            json.dumps([{k: v for k, v in r.items() if k != "hashes"} for r in results], indent=1)
        )
    if any(r["hashes"] != base["hashes"] for r in results):
        raise SystemExit("outputs differ between executors")


if __name__ == "__main__":
    main()
