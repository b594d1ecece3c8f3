"""One driver per run: :class:`RunLock`, on a local folder or on an object store.

* **Local folder**: an exclusive ``flock`` on ``OUT/.lock`` holding the driver's pid. The OS
  releases it when the driver dies, however it dies.
* **Object store** (``--work-dir s3://...`` or ``gs://...``): nothing is released when a machine
  dies, so the lock is a *lease*: the object ``.lease`` holds its owner (host, pid, a random id)
  and an expiry. It is created only if absent (S3 ``If-None-Match``, GCS ``ifGenerationMatch=0``),
  renewed by a thread every third of its term only if still ours (``If-Match`` on its ETag, or its
  generation), and deleted at the end (again only if ours).
  A second driver is refused, naming the owner and when the lease runs out; once a dead driver's
  lease has expired, the next driver replaces it (``If-Match`` on the expired version, so of two
  drivers taking over at once one wins) and resumes from the store. Expiry is compared on the
  drivers' wall clocks: the term (default 60 s) must exceed their skew.

A driver whose renewal finds the lease gone or taken stops at its next sync with
:class:`~curate.engine.errors.RunRefused` rather than write beside the new owner.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from curate.engine.errors import RunRefused
from curate.io.objstore import ObjectStore, PreconditionFailed

LEASE_KEY = ".lease"
DEFAULT_LEASE_SECONDS = 60.0


class RunLock:
    """The run's exclusive lock: ``with RunLock.local(path): ...`` or ``RunLock.lease(store)``."""

    def __init__(self, backend: _Flock | _Lease):
        self.backend = backend

    @classmethod
    def local(cls, path: Path, what: str) -> RunLock:
        return cls(_Flock(path, what))

    @classmethod
    def lease(cls, store: ObjectStore, seconds: float = DEFAULT_LEASE_SECONDS) -> RunLock:
        return cls(_Lease(store, seconds))

    def check(self) -> None:
        """Raise RunRefused if the lock was lost (a lease that another driver took)."""
        self.backend.check()

    def __enter__(self) -> RunLock:
        self.backend.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.backend.release()


class _Flock:
    def __init__(self, path: Path, what: str):
        self.path, self.what, self.fh = path, what, None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise RunRefused(
                f"{self.what} is in use by another curate run (pid {holder}); wait for it or use another -o"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self.fh = fh

    def check(self) -> None:
        pass

    def release(self) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()
            self.fh = None


class _Lease:
    def __init__(self, store: ObjectStore, seconds: float):
        self.store, self.seconds = store, float(seconds)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.etag: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        now = time.time()
        return json.dumps({"owner": self.owner, "acquired": now, "expires": now + self.seconds,
                           "seconds": self.seconds}).encode()

    def acquire(self) -> None:
        try:
            self.etag = self.store.put_bytes(LEASE_KEY, self._body(), if_absent=True)
        except PreconditionFailed:
            self._take_over()
        self._thread = threading.Thread(target=self._renew, name="curate-lease", daemon=True)
        self._thread.start()

    def _take_over(self) -> None:
        try:
            data, etag = self.store.get_bytes(LEASE_KEY)
        except FileNotFoundError:  # released between our put and our read: try once more
            self.etag = self.store.put_bytes(LEASE_KEY, self._body(), if_absent=True)
            return
        held = json.loads(data)
        left = float(held.get("expires", 0)) - time.time()
        if left > 0:
            raise RunRefused(
                f"{self.store.uri} is in use by another curate run (lease owner {held.get('owner', '?')}, "
                f"expires in {left:.0f} s unless renewed); wait for it, or if that driver is dead, "
                "for its lease to expire"
            )
        try:  # expired: replace exactly that version, so of two drivers taking over one wins
            self.etag = self.store.put_bytes(LEASE_KEY, self._body(), if_match=etag)
        except PreconditionFailed:
            raise RunRefused(f"{self.store.uri}: another driver took over the expired lease first") from None

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            with self._lock:
                try:
                    self.etag = self.store.put_bytes(LEASE_KEY, self._body(), if_match=self.etag)
                except PreconditionFailed:
                    self.lost = "its lease was taken by another driver (this one failed to renew in time)"
                    return
                except OSError:  # the store is briefly unreachable: try again at the next beat
                    continue

    def check(self) -> None:
        if self.lost:
            raise RunRefused(f"{self.store.uri}: this run stopped: {self.lost}")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.lost is None and self.etag is not None:
            try:
                self.store.delete([LEASE_KEY], if_match=self.etag)
            except (PreconditionFailed, FileNotFoundError):
                pass
        self.etag = None
