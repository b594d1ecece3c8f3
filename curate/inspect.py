"""`curate inspect` and `curate status`: read a run's output folder and say what is in it."""

from __future__ import annotations

import json
from pathlib import Path

from curate.engine.layout import RunLayout


def inspect_run(out: Path, samples: int = 3) -> str:
    """A human summary of a finished run: funnel per stage, drop reasons, sources, samples."""
    import polars as pl

    layout = RunLayout(out)
    if not layout.manifest.exists():
        return f"{out}: no manifest.json - the run has not finished; see `curate status {out}`"
    manifest = json.loads(layout.manifest.read_text())
    stats = json.loads(layout.stats.read_text())
    lines = [f"run {manifest['name']!r} in {out}", f"  config sha256 {manifest['config_sha256'][:16]}..., curate {manifest['tool']['version']}"]
    lines.append(f"  {manifest['rows']:,} rows in {len(manifest['shards'])} shard(s), {sum(s['bytes'] for s in manifest['shards']) / 1e6:.1f} MB")
    lines.append("\nfunnel:")
    for s in stats["stages"]:
        drop = sum(s["dropped"].values())
        lines.append(f"  {s['name']:<22} in {s['in']:>10,}  out {s['out']:>10,}  dropped {drop:>9,}  {s['seconds']:>8.2f} s")
        for reason, n in sorted(s["dropped"].items(), key=lambda kv: -kv[1]):
            lines.append(f"      {reason:<36} {n:>9,}")
    if manifest.get("sources"):
        lines.append("\nsources:")
        for src, c in manifest["sources"].items():
            tok = f", {c['tokens']:,} tokens" if c.get("tokens") else ""
            lines.append(f"  {src:<20} {c['rows']:,} rows{tok}")
    if manifest["shards"] and samples:
        first = layout.root / manifest["shards"][0]["path"]
        df = pl.read_parquet(first, n_rows=samples)
        lines.append(f"\nsamples from {manifest['shards'][0]['path']}:")
        for row in df.iter_rows(named=True):
            text = row.get("text")
            text = (text[:200] + "...") if isinstance(text, str) and len(text) > 200 else text
            lines.append(f"  [{row.get('id')}] {text!r}")
    rej = sorted(layout.rejects.glob("*/*.parquet")) if layout.rejects.exists() else []
    if rej and samples:
        lines.append("\nsample rejects:")
        by_stage: dict[str, Path] = {}
        for p in rej:
            by_stage.setdefault(p.parent.name, p)
        for stage, p in by_stage.items():
            df = pl.read_parquet(p, n_rows=samples)
            for row in df.iter_rows(named=True):
                text = row.get("text") or row.get("raw") or ""
                text = text[:120] if isinstance(text, str) else ""
                lines.append(f"  {stage:<18} {row.get('reason'):<28} {text!r}")
    return "\n".join(lines)


def run_status(out: Path) -> str:
    """What a running or stopped run has done and what is left, from its plan and done markers."""
    layout = RunLayout(out)
    plan_file = layout.work / "plan.json"
    if not plan_file.exists():
        return f"{out}: no run has started here"
    plan = json.loads(plan_file.read_text())
    done = {p.stem for p in (layout.work / "done").glob("*.json")} if (layout.work / "done").exists() else set()
    lines = [f"{out}:"]
    lines.append("  state: " + ("finished" if layout.manifest.exists() else ("running" if _locked(layout) else "stopped (re-run the same command to resume)")))
    n = len(plan["units"])
    for ph in plan["phases"]:
        k = sum(1 for u in plan["units"] if f"p{ph['index']}-{u['task']}" in done)
        lines.append(f"  phase {ph['index']}: {k}/{n} tasks done")
    reduce_done = sorted(d for d in done if d.startswith("r"))
    if reduce_done:
        lines.append(f"  reduce partitions done: {len(reduce_done)}")
    return "\n".join(lines)


def _locked(layout: RunLayout) -> bool:
    import fcntl

    if not layout.lock.exists():
        return False
    with open(layout.lock, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False
