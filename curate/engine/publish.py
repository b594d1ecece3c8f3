"""Runs whose output is a URI (``-o s3://bucket/run``): a local work folder, then a publish step.

Object stores cannot rename, append or lock, and resuming needs all three; so such a run works in a
local folder laid out exactly like a local OUT (``--work-dir``, default under
``$CURATE_WORK_DIR`` or ``~/.cache/curate/work``), reading its inputs straight from the store, and
publishes the output contract when it finishes. The old ``manifest.json`` is withdrawn first and
the new one written last, so the manifest is the commit point: a reader that finds it finds every
shard it lists, complete. A re-run after a kill resumes in the work folder and publishes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from curate.engine.layout import RunLayout
from curate.io import storage
from curate.io.writer import TMP_MARK

CONTRACT_DIRS = ("data", "rejects", "logs")
CONTRACT_FILES = ("manifest.json", "stats.json", "report.html", "chat_template.jinja")
TARGET_FILE = "target.json"


def default_work_dir(uri: str) -> Path:
    """Where a run publishing to ``uri`` works, unless ``--work-dir`` says otherwise."""
    base = os.environ.get("CURATE_WORK_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "curate", "work")
    scheme, netloc, key = storage._split(uri)
    tail = key.rstrip("/").rsplit("/", 1)[-1] or netloc
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{scheme}-{netloc}-{tail}")
    return Path(base) / f"{slug}-{hashlib.sha256(uri.rstrip('/').encode()).hexdigest()[:10]}"


def bound_output(layout: RunLayout) -> str | None:
    """The URI a work folder publishes to (None for a fresh folder)."""
    marker = layout.work / TARGET_FILE
    return json.loads(marker.read_text()).get("output") if marker.exists() else None


def bind_work_dir(layout: RunLayout, uri: str) -> None:
    """Tie a work folder to one output URI (checked by the next run that uses the folder)."""
    marker = layout.work / TARGET_FILE
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"output": uri}) + "\n")


def remote_manifest(uri: str) -> dict | None:
    u = storage.join(uri, "manifest.json")
    return json.loads(storage.read_bytes(u)) if storage.exists(u) else None


def clear(uri: str) -> None:
    """Delete the output contract under ``uri`` (manifest first); other files there are left alone."""
    storage.delete([storage.join(uri, "manifest.json")])
    for d in CONTRACT_DIRS:
        storage.delete_tree(storage.join(uri, d))
    storage.delete(storage.join(uri, f) for f in CONTRACT_FILES[1:])


def _contract_files(root: Path) -> list[Path]:
    out = []
    for name in CONTRACT_FILES[1:]:
        if (root / name).is_file():
            out.append(root / name)
    for d in CONTRACT_DIRS:
        if (root / d).is_dir():
            out += sorted(p for p in (root / d).rglob("*") if p.is_file() and TMP_MARK not in p.name)
    return out


def publish(layout: RunLayout, uri: str, threads: int = 8) -> dict:
    """Copy a finished run's output contract from its work folder to ``uri``; returns counts."""
    t0 = time.perf_counter()
    root = layout.root
    storage.delete([storage.join(uri, "manifest.json")])  # withdrawn until everything is there
    files = _contract_files(root)
    rel = {p: p.relative_to(root).as_posix() for p in files}
    storage.upload_many([(p, storage.join(uri, r)) for p, r in rel.items()], threads=threads)
    keep = set(rel.values())
    stale = []
    for d in CONTRACT_DIRS:  # shards of an earlier, different run would otherwise look like ours
        base = storage.join(uri, d)
        stale += [u for u, _ in storage.walk(base) if f"{d}/{u[len(base) + 1:]}" not in keep]
    storage.delete(stale)
    storage.upload(layout.manifest, storage.join(uri, "manifest.json"))
    return {
        "files": len(files) + 1,
        "bytes": sum(p.stat().st_size for p in files) + layout.manifest.stat().st_size,
        "stale_deleted": len(stale),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def local_copy_for_reading(uri: str, dest: Path, samples: bool = True) -> Path:
    """The small files of a published run (manifest, stats, report, the first data shard and the
    first reject shard per stage) under ``dest``, for ``curate inspect`` away from its work folder."""
    man = remote_manifest(uri)
    if man is None:
        raise FileNotFoundError(f"{uri}: no manifest.json - nothing published there (yet)")
    for name in CONTRACT_FILES:
        u = storage.join(uri, name)
        if storage.exists(u):
            storage.download(u, dest / name)
    if samples:
        if man["shards"]:
            p = man["shards"][0]["path"]
            storage.download(storage.join(uri, p), dest / p)
        firsts: dict[str, str] = {}
        base = storage.join(uri, "rejects")
        for u, _ in storage.walk(base):
            stage = u[len(base) + 1 :].split("/", 1)[0]
            firsts.setdefault(stage, u)
        for u in firsts.values():
            storage.download(u, dest / "rejects" / u[len(base) + 1 :])
    return dest
