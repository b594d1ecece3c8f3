"""Reading from and publishing to S3, against the raw transfer it rests on.

    python -m bench.remote --size-mb 200 --files 8          (a local moto S3 server is started)
    python -m bench.remote --endpoint-env                   (use the S3 your AWS_* variables name;
                                                             needs --bucket, which it writes into)

Generates a JSONL corpus (bench.engine's generator), uploads it, then times on the same objects:
  * pyarrow download: every object read once through pyarrow.fs, one stream at a time (what one
    worker can pull; the ceiling for a reader that fetches its files in sequence)
  * curate run, local files -> local OUT (no storage in the way)
  * curate run, s3 inputs -> local OUT
  * curate run, s3 inputs -> s3 OUT (includes publishing)
Each curate run is one worker in its own process (fastest of --rounds); prints MB/s, docs/s, peak
RSS and the ratios. The moto server runs in this process and shares the CPU with the run, so on a
small machine its figures are a floor for what a real endpoint gives.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.engine import generate

RUNNER = """
import sys, json, time
from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
spec = spec_from_dict(json.loads(sys.argv[1]))
t = time.perf_counter()
r = run_pipeline(spec, sys.argv[2], workers=1, quiet=True, force=True, work_dir=sys.argv[3] or None)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": r.manifest["rows"],
                  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent
                  "rss_mb": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024}))
"""  # noqa: E501


def curate_run(inputs: str, out: str, work_dir: str = "") -> dict:
    spec = {
        "name": "bench-remote",
        "inputs": [{"source": "b", "reader": "jsonl", "paths": inputs}],
        "output": {"shard_rows": 100_000},
    }
    res = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(spec), out, work_dir],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"curate run failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument(
        "--endpoint-env", action="store_true", help="use the S3 that AWS_* variables name instead of moto"
    )
    ap.add_argument("--bucket", default="curate-bench")
    ap.add_argument("--rounds", type=int, default=2, help="runs per configuration; the fastest is shown")
    args = ap.parse_args()

    server = None
    if not args.endpoint_env:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ENDPOINT_URL=f"http://{host}:{port}",
            AWS_EC2_METADATA_DISABLED="true",
        )
        import boto3

        boto3.client("s3").create_bucket(Bucket=args.bucket)
    from curate.io import storage

    tmp = Path(tempfile.mkdtemp(prefix="curate-bench-remote-"))
    try:
        corpus = tmp / "corpus"
        docs, nbytes = generate(corpus, args.size_mb, args.files)
        mb = nbytes / 1e6
        root = f"s3://{args.bucket}/bench-remote-{os.getpid()}"
        t = time.perf_counter()
        storage.upload_many([(p, f"{root}/in/{p.name}") for p in sorted(corpus.glob("*.jsonl"))])
        up = time.perf_counter() - t

        downs = []
        for _ in range(args.rounds):
            t = time.perf_counter()
            for u, _ in storage.walk(f"{root}/in"):
                storage.download(u, tmp / "dl" / u.rsplit("/", 1)[-1])
            downs.append(time.perf_counter() - t)
            shutil.rmtree(tmp / "dl")
        down = min(downs)

        def best(*a) -> dict:
            return min((curate_run(*a) for _ in range(args.rounds)), key=lambda r: r["seconds"])

        rows = []
        local = best(str(corpus / "*.jsonl"), str(tmp / "out-local"))
        rows.append(("curate local -> local", local))
        rows.append(("curate s3 -> local", best(f"{root}/in/*.jsonl", str(tmp / "out-s3in"))))
        rows.append(
            ("curate s3 -> s3 (with publish)", best(f"{root}/in/*.jsonl", f"{root}/out", str(tmp / "work")))
        )
        for _, r in rows:
            assert r["rows"] == docs, (r, docs)

        where = "moto server on localhost" if server else os.environ.get("AWS_ENDPOINT_URL", "AWS S3")
        print(f"\ncorpus: {docs:,} docs, {mb:.0f} MB JSONL in {args.files} objects; S3: {where}")
        print(f"upload (8 threads): {mb / up:.1f} MB/s")
        print(
            f"{'':34}{'wall s':>8}{'MB/s':>9}{'docs/s':>10}{'RSS MB':>8}{'vs local':>10}{'vs download':>13}"
        )
        print(
            f"{'pyarrow download, one stream':34}{down:>8.1f}{mb / down:>9.1f}{'':>10}{'':>8}{'':>10}"
            f"{1.0:>12.2f}x"
        )
        for name, r in rows:
            s = r["seconds"]
            print(f"{name:34}{s:>8.1f}{mb / s:>9.1f}{docs / s:>10,.0f}{r['rss_mb']:>8.0f}"
                  f"{local['seconds'] / s:>9.2f}x{(mb / s) / (mb / down):>12.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
