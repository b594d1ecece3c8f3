"""Runs whose output is a URI (``-o s3://bucket/run``): a local work folder, then a publish step.

Object stores cannot rename, append or lock, and resuming needs all three; so such a run works in a
local folder laid out exactly like a local OUT (``--work-dir``, default under
``$CURATE_WORK_DIR`` or ``~/.cache/curate/work``), reading its inputs straight from the store, and
publishes the output contract as it goes: each final shard is uploaded when its task finishes, the
rest at the end. The old ``manifest.json`` is withdrawn when the run starts and the new one written
last, so the manifest is the commit point: a reader that finds it finds every shard it lists,
complete. A re-run after a kill resumes in the work folder and publishes again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from curate.engine.layout import RunLayout
from curate.io import storage
from curate.io.writer import TMP_MARK

CONTRACT_DIRS = ("data", "rejects", "logs", "export")
CONTRACT_FILES = ("manifest.json", "stats.json", "report.html", "chat_template.jinja")
TARGET_FILE = "target.json"


def default_work_dir(uri: str) -> Path:
    """Where a run publishing to ``uri`` works, unless ``--work-dir`` says otherwise."""
    base = os.environ.get("CURATE_WORK_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "curate", "work"
    )
    scheme, netloc, key = storage.split_uri(uri)
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


class Publisher:
    """Publishes a run to ``uri`` while it runs: the old manifest is withdrawn at the start, each
    final shard is uploaded as soon as its task finishes (so uploading overlaps the work), and
    :meth:`finish` uploads what is new or changed since (rejects, shards that finalize rewrote to
    the common schema, stats, report, logs), deletes stale files, and writes the manifest last."""

    def __init__(self, layout: RunLayout, uri: str, threads: int = 8):
        self.layout, self.uri = layout, uri
        self.pool = ThreadPoolExecutor(max_workers=max(1, threads))
        self.futures: list[Future] = []
        self.sent: dict[Path, tuple[int, int]] = {}  # local file -> (size, mtime_ns) when uploaded
        storage.delete([storage.join(uri, "manifest.json")])  # withdrawn until everything is there

    def send(self, paths: list[Path]) -> None:
        """Start uploading these files of the run's folder (shards a task just committed)."""
        for p in paths:
            self.futures.append(self.pool.submit(self._upload, p))

    def _upload(self, p: Path) -> None:
        st = p.stat()
        storage.upload(p, storage.join(self.uri, p.relative_to(self.layout.root).as_posix()))
        self.sent[p] = (st.st_size, st.st_mtime_ns)

    def _drain(self) -> None:
        futures, self.futures = self.futures, []
        for f in futures:
            f.result()

    def finish(self) -> dict:
        """Upload the rest of the output contract, delete stale files, then the manifest."""
        root, t0 = self.layout.root, time.perf_counter()
        try:
            self._drain()
            stats = {p: p.stat() for p in _contract_files(root)}
            files = list(stats)
            todo = [p for p, st in stats.items() if self.sent.get(p) != (st.st_size, st.st_mtime_ns)]
            self.send(todo)
            self._drain()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        keep = {p.relative_to(root).as_posix() for p in files}
        stale = []
        for d in CONTRACT_DIRS:  # shards of an earlier, different run would otherwise look like ours
            base = storage.join(self.uri, d)
            stale += [u for u, _ in storage.walk(base) if f"{d}/{u[len(base) + 1:]}" not in keep]
        storage.delete(stale)
        storage.upload(self.layout.manifest, storage.join(self.uri, "manifest.json"))
        return {
            "files": len(files) + 1,
            "bytes": sum(st.st_size for st in stats.values()) + self.layout.manifest.stat().st_size,
            "uploaded_at_finish": len(todo),
            "stale_deleted": len(stale),
            "seconds": round(time.perf_counter() - t0, 3),  # what publishing added after the work
        }

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


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
