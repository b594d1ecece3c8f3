"""A run's work state on object storage (``--work-dir s3://bucket/run`` or ``gs://``): no shared disk needed.

The store holds what a run folder holds (``_work/`` markers, plans, phase outputs and side files;
``data/``, ``rejects/``, the contract files), one object per file, at the same relative paths. Nobody
reads or writes it in place: every task and the driver keep working on an ordinary local folder,
so the stages, the writer and resume run the same code as a local run and write the same bytes.

* **A task** (:func:`run_staged`, on whatever node runs it) gets a fresh staging folder, links in
  the objects under the prefixes it may read (the global stages' side files, its unit's previous
  phase output; a merge its bin's shards; never done markers: :func:`task_reads`) from its node's
  cache, runs as usual, then puts what it added or replaced and deletes what it removed, its done
  marker last: a marker in the store means its outputs are there. Nothing is uploaded
  for a task that fails, and a task re-run elsewhere writes the same bytes to the same keys.
* **The node cache** (``$CURATE_STAGING`` or the temp folder) keeps each object version once,
  named by its key and version tag (S3 ETag, GCS generation), so a node downloads an object once
  however many tasks read it; staging folders hard-link to it (writers replace files by rename,
  so a link is never written through).
* **The driver** (:class:`WorkMirror`) keeps its own folder (OUT, or a local folder for a URI
  output) in step with the store: at the start it becomes a copy of the store, then before each
  batch of tasks it puts what it wrote (spec, plans, compaction plans, shards finalize rewrote),
  and after it takes what the tasks wrote.

Every put is one atomic upload (see :mod:`curate.io.objstore`); a rewrite is a new version with a
new tag, so no cache ever serves a stale one. The lock is a lease object (:mod:`curate.engine.lock`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from curate.engine.errors import RunRefused
from curate.engine.layout import RunLayout
from curate.engine.lock import RunLock
from curate.engine.tasks import MergeTask, PhaseTask
from curate.io.objstore import Obj, ObjectStore, open_store, parallel
from curate.io.storage import StorageError, is_uri
from curate.io.writer import TMP_MARK

DONE_PREFIX = "_work/done/"
LEASE = ".lease"
# Never mirrored: the local lock, the driver's log (appended), temp files, per-GPU lock files.
_LOCAL_ONLY_TOP = {".lock", LEASE, "logs"}


def local_only(rel: str) -> bool:
    return rel.split("/", 1)[0] in _LOCAL_ONLY_TOP or TMP_MARK in rel or rel.endswith(".lock")


Snapshot = dict[str, tuple[int, int, int]]  # rel -> (inode, size, mtime_ns)


def snapshot(root: Path) -> Snapshot:
    out: Snapshot = {}
    if not root.exists():
        return out
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath, f)
            rel = p.relative_to(root).as_posix()
            if local_only(rel):
                continue
            st = p.stat()
            out[rel] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def _changes(root: Path, before: Snapshot) -> tuple[list[str], list[str]]:
    """(files added or replaced since ``before``, files removed since) under ``root``."""
    now = snapshot(root)
    changed = sorted(r for r, s in now.items() if before.get(r) != s)
    removed = sorted(r for r in before if r not in now)
    return changed, removed


def push(store: ObjectStore, root: Path, changed: list[str], removed: list[str]) -> dict[str, str]:
    """Put ``changed`` (done markers last, so a marker implies its outputs) and delete ``removed``;
    returns the new ETags by relative path."""
    markers = [r for r in changed if r.startswith(DONE_PREFIX)]
    rest = [r for r in changed if not r.startswith(DONE_PREFIX)]
    etags: dict[str, str] = {}
    for batch in (rest, markers):
        for rel, etag in zip(batch, parallel(lambda r: store.upload(root / r, r), batch), strict=True):
            etags[rel] = etag
    if removed:
        store.delete(removed)
    return etags


def staging_base(store: ObjectStore) -> Path:
    """This node's folder for one store's cache and task staging folders."""
    base = Path(os.environ.get("CURATE_STAGING") or Path(tempfile.gettempdir()) / "curate-staging")
    slug = hashlib.sha256(store.uri.encode()).hexdigest()[:12]
    return base / slug


def _cached(store: ObjectStore, cache: Path, o: Obj) -> Path:
    """The node's copy of one object version, downloaded if this node has none yet. Named by the
    key and the version: a GCS generation is unique per object only (two objects uploaded in one
    microsecond share it), and an S3 ETag is the content's MD5, the same for equal files."""
    tag = "".join(c for c in o.etag if c.isalnum() or c == "-") or "none"
    name = f"{hashlib.sha1(o.rel.encode()).hexdigest()[:16]}-{tag}"
    p = cache / name
    if not p.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"{name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            store.download(o.rel, tmp, etag=o.etag)
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)
    return p


def link_in(store: ObjectStore, objs: list[Obj], root: Path, cache: Path) -> None:
    """Put these objects at their paths under ``root``: hard links to the node cache (a copy where
    the cache is on another file system)."""

    def one(o: Obj) -> None:
        src = _cached(store, cache, o)
        dest = root / o.rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.unlink(missing_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copyfile(src, dest)

    parallel(one, objs)


# -- tasks -----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StagedTask:
    """A task (PhaseTask, ReduceTask, MergeTask) to run in a staging folder of its node."""

    fn: Any  # the task function (run_phase_task...): module-level, so it pickles by name
    task: Any
    store: ObjectStore
    reads: tuple[str, ...] = ("_work/",)

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def inputs(self) -> list[str]:
        return list(getattr(self.task, "inputs", None) or [])


def run_staged(st: StagedTask) -> dict:
    """Run one task against the store: stage what it reads, run it, put what it wrote."""
    base = staging_base(st.store)
    root = base / "tasks" / f"{st.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        listing = {}
        for prefix in st.reads:
            listing.update(st.store.list(prefix))
        objs = [o for r, o in sorted(listing.items()) if not r.startswith(DONE_PREFIX) and not local_only(r)]
        link_in(st.store, objs, root, base / "cache")
        before = snapshot(root)
        result = st.fn(dataclasses.replace(st.task, run_dir=str(root)))
        changed, removed = _changes(root, before)
        push(st.store, root, changed, removed)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the driver ------------------------------------------------------------------------------------


class WorkMirror:
    """The driver's folder kept in step with the store (see the module docstring)."""

    def __init__(self, store: ObjectStore, root: Path):
        self.store, self.root = store, root
        self.etags: dict[str, str] = {}  # rel -> the version the folder holds
        self.seen: Snapshot = {}

    def mirror(self) -> None:
        """Make the folder a copy of the store (a fresh machine resumes where the store is)."""
        listing = {r: o for r, o in self.store.list().items() if not local_only(r)}
        have = snapshot(self.root)
        for rel in have:
            if rel not in listing:
                (self.root / rel).unlink(missing_ok=True)
        self._take(list(listing.values()))
        self.etags = {r: o.etag for r, o in listing.items()}
        self.seen = snapshot(self.root)

    def _take(self, objs: list[Obj]) -> None:
        def one(o: Obj) -> None:
            dest = self.root / o.rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f"{dest.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                self.store.download(o.rel, tmp, etag=o.etag)
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)

        parallel(one, objs)

    def push(self) -> int:
        """Put what the driver wrote or removed since the last sync; how many objects changed."""
        changed, removed = _changes(self.root, self.seen)
        self.etags.update(push(self.store, self.root, changed, removed))
        for r in removed:
            self.etags.pop(r, None)
        self.seen = snapshot(self.root)
        return len(changed) + len(removed)

    def pull(self) -> int:
        """Take what tasks wrote or removed in the store since the last sync; how many changed."""
        listing = {r: o for r, o in self.store.list().items() if not local_only(r)}
        new = [o for r, o in listing.items() if self.etags.get(r) != o.etag]
        gone = [r for r in self.etags if r not in listing]
        self._take(new)
        for r in gone:
            with contextlib.suppress(FileNotFoundError):
                (self.root / r).unlink()
        self.etags = {r: o.etag for r, o in listing.items()}
        self.seen = snapshot(self.root)
        return len(new) + len(gone)

    def clear(self) -> None:
        """``--force``: the store's work state goes too (the lease stays: it is ours)."""
        self.store.delete([r for r in self.store.list() if r != LEASE])
        self.etags, self.seen = {}, {}


# -- the driver's hooks (runner.py) ----------------------------------------------------------------


def work_store(work_dir: str | Path | None) -> ObjectStore | None:
    """The object store ``--work-dir`` names, or None for a local folder (or none given)."""
    if work_dir is None or not is_uri(str(work_dir)):
        return None
    try:
        return open_store(str(work_dir))
    except StorageError as e:  # a scheme without conditional puts, no boto3: refused by name
        raise RunRefused(str(e)) from None


def open_mirror(store: ObjectStore, layout: RunLayout, force: bool) -> WorkMirror:
    """The driver's folder as a copy of the store's work state (``force``: both emptied first)."""
    mirror = WorkMirror(store, layout.root)
    if force:
        mirror.clear()
    elif layout.spec.exists() and not store.list("_work/spec.json"):
        raise RunRefused(
            f"{layout.root} holds a run whose work state is local, not in {store.uri}; resume it without "
            "--work-dir, or use --force (or another -o) to start over with the work state in the store"
        )
    mirror.mirror()
    return mirror


@dataclasses.dataclass
class Sync:
    """The driver's side of work state in a store: sync before and after each batch of tasks,
    stopping if the lease was lost."""

    mirror: WorkMirror
    lock: RunLock

    def before(self) -> None:
        self.lock.check()
        self.mirror.push()

    def after(self) -> None:
        self.mirror.pull()
        self.lock.check()

    def wrap(self, fn, tasks: list) -> tuple[Any, list]:
        """The task function and tasks to hand the executor: each task runs in a staging folder."""
        return run_staged, [StagedTask(fn, t, self.mirror.store, task_reads(t)) for t in tasks]


def task_reads(task: Any) -> tuple[str, ...]:
    """The store prefixes a task may read, so a node fetches only those: a merge its bin's shards;
    a phase task the global stages' side files and its own unit's output of the phase before; a
    reduce task the side files. Never the output, other units' phase outputs or done markers."""
    side = "_work/stage"
    if isinstance(task, MergeTask):
        return tuple(task.bin["members"])
    if isinstance(task, PhaseTask) and task.phase.index > 0:
        prev = RunLayout(Path("")).phase_output(task.phase.index - 1).as_posix()
        return (side, f"{prev}/{task.unit.task_id}-")
    return (side,)
