"""`curate inspect` and `curate status`: read a run's output folder and say what is in it."""

from __future__ import annotations

import contextlib
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
    lines = [
        f"run {manifest['name']!r} in {out}",
        f"  config sha256 {manifest['config_sha256'][:16]}..., curate {manifest['tool']['version']}",
    ]
    lines.append(
        f"  {manifest['rows']:,} rows in {len(manifest['shards'])} shard(s), "
        f"{sum(s['bytes'] for s in manifest['shards']) / 1e6:.1f} MB"
    )
    lines.append("\nfunnel:")
    for s in stats["stages"]:
        drop = sum(s["dropped"].values())
        lines.append(
            f"  {s['name']:<22} in {s['in']:>10,}  out {s['out']:>10,}  dropped {drop:>9,}  "
            f"{s['seconds']:>8.2f} s"
        )
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
                # a reader reject says what was wrong in `detail` (its raw bytes may be empty)
                detail = f" ({row['detail']})" if row.get("detail") else ""
                lines.append(f"  {stage:<18} {row.get('reason'):<28} {text!r}{detail}")
    return "\n".join(lines)


def run_status(out: Path) -> str:
    """What a running or stopped run has done and what is left, from its plan, done markers and log.

    Phases and reduce steps with done/total counts, documents read so far, the state (running with
    its pid, stopped, failed with the error, finished), and for a running run its task rate and a
    rough ETA over the tasks left in the phases planned so far.
    """
    import time

    from curate.engine.resume import resume_advice

    layout = RunLayout(out)
    plan_file = layout.work / "plan.json"
    if not plan_file.exists():
        return f"{out}: no run has started here"
    plan = json.loads(plan_file.read_text())
    done_dir = layout.work / "done"
    done = {p.stem: p for p in done_dir.glob("*.json")} if done_dir.exists() else {}
    stage_names = _stage_names(layout)
    events = _last_run_events(layout)
    start = next((e for e in events if e.get("event") == "run_start"), None)
    failed = next((e for e in reversed(events) if e.get("event") == "run_failed"), None)

    running = _locked(layout)
    if layout.manifest.exists() and not running:
        state = "finished"
    elif running:
        pid = layout.lock.read_text().strip() if layout.lock.exists() else "?"
        state = f"running (pid {pid})"
    elif failed:
        state = f"failed: {failed.get('error')}\n  next: {resume_advice(layout)}"
    else:
        state = f"stopped (killed or interrupted)\n  next: {resume_advice(layout)}"
    lines = [f"{out}:", f"  state: {state}"]
    if start:
        ago = time.time() - start["t"]
        lines.append(
            f"  started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(start['t']))} ({_ago(ago)} ago), "
            f"executor {start.get('executor', '?')}, {start.get('workers', '?')} worker(s)"
        )
    n = len(plan["units"])
    left = 0
    for ph in plan["phases"]:
        names = [f"p{ph['index']}-{u['task']}" for u in plan["units"]]
        k = sum(1 for t in names if t in done)
        left += n - k
        what = ", ".join(stage_names.get(i, str(i)) for i in ph["stages"]) or "read"
        extra = ""
        if ph["index"] == 0 and k:
            docs = sum(_read_docs(done[t]) for t in names if t in done)
            extra = f", {docs:,} documents read"
        lines.append(f"  phase {ph['index']} ({what}): {k}/{n} tasks done{extra}")
        if ph.get("collect") is not None:
            steps: dict[str, int] = {}
            prefix = f"r{ph['collect']:02d}-"
            for d in done:
                if d.startswith(prefix):
                    step = d[len(prefix):].rsplit("-", 1)[0]
                    steps[step] = steps.get(step, 0) + 1
            label = stage_names.get(ph["collect"], str(ph["collect"]))
            body = (
                ", ".join(
                    f"{s.split('-', 1)[-1]}: {c} partition(s) done"
                    # in step order: a components round per step makes more than 10 of them
                    for s, c in sorted(steps.items(), key=lambda kv: int(kv[0].split("-", 1)[0]))
                )
                or "not started"
            )
            lines.append(f"  {label} (global reduce): {body}")
    target = layout.work / "target.json"  # the URI a work folder publishes to
    uri = json.loads(target.read_text()).get("output") if target.exists() else None
    if uri:
        published = any(e.get("event") == "published" for e in events)
        lines.append(f"  publishes to {uri}" + (" (published)" if published else " (not yet published)"))
    if state == "finished":
        m = json.loads(layout.manifest.read_text())
        lines.append(
            f"  output: {m['rows']:,} rows in {len(m['shards'])} shard(s); see `curate inspect {uri or out}`"
        )
    else:
        lines.append(f"  left: {left} phase task(s) (+ global reduce steps not yet done)")
        if running and start:
            left_per_phase = {
                ph["index"]: sum(1 for u in plan["units"] if f"p{ph['index']}-{u['task']}" not in done)
                for ph in plan["phases"]
            }
            eta = phase_eta(events, left_per_phase, int(start.get("workers") or 1), time.time() - start["t"])
            if eta:
                lines.append(f"  {eta}")
    if events:
        last = events[-1]
        detail = last.get("task") or last.get("phase") or last.get("error") or ""
        lines.append(
            f"  last event: {last.get('event')} {detail} ({_ago(time.time() - last['t'])} ago)".rstrip()
        )
    return "\n".join(lines)


def _stage_names(layout: RunLayout) -> dict[int, str]:
    try:
        cfg = json.loads(layout.spec.read_text())["config"]
        return {i: s["stage"] for i, s in enumerate(cfg.get("stages", []))}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _last_run_events(layout: RunLayout) -> list[dict]:
    """The log events of the most recent run (from its last run_start); torn lines are skipped."""
    log = layout.logs / "run.jsonl"
    if not log.exists():
        return []
    events = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and "t" in e:
            if e.get("event") == "run_start":
                events = []
            events.append(e)
    return events


def _read_docs(marker: Path) -> int:
    try:
        r = json.loads(marker.read_text())
    except (OSError, ValueError):
        return 0
    return next((s["in"] for s in r.get("stages", []) if s.get("name") == "read"), 0)


def phase_eta(events: list[dict], left: dict[int, int], workers: int, elapsed: float) -> str | None:
    """Rate and ETA from what this run observed: each phase's tasks left times the mean seconds
    its tasks took in this run (a phase not yet seen: the mean over all phase tasks seen), run
    ``workers`` at a time; plus the documents/s read so far. None before any phase task ended."""
    took: dict[int, list[float]] = {}
    docs = 0
    for e in events:
        name = str(e.get("task") or "")
        if e.get("event") != "task_done" or not name.startswith("p") or e.get("seconds") is None:
            continue
        with contextlib.suppress(ValueError):
            phase = int(name[1:].split("-", 1)[0])
            took.setdefault(phase, []).append(float(e["seconds"]))
            docs += int(e.get("rows") or 0) if phase == 0 else 0
    seen = [t for ts in took.values() for t in ts]
    if not seen:
        return None
    overall = sum(seen) / len(seen)
    seconds = 0.0
    for phase, n in left.items():
        if n:
            ts = took.get(phase)
            per_task = sum(ts) / len(ts) if ts else overall
            # n tasks on `workers` workers: ceil(n / workers) rounds of one task each
            seconds += per_task * -(-n // max(1, min(workers, n)))
    rate = f"{docs / elapsed:,.0f} documents/s read, " if docs and elapsed > 0 else ""
    return (f"rate: {rate}{overall:.1f} s per task observed in this run; "
            f"ETA ~{_ago(seconds)} for the {sum(left.values())} phase task(s) left")


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


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
