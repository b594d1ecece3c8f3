"""Object stores with conditional puts, for work state (``--work-dir s3://bucket/run``).

:mod:`curate.io.storage` reads inputs and publishes outputs through pyarrow, which has no
conditional writes. Work state relies on them (the run's lease is created only if absent and renewed
only if still ours), so this module speaks to S3 through boto3 (``PutObject`` with ``If-None-Match``
/ ``If-Match``, supported by AWS S3 since 2024 and by moto). Every write is one atomic PUT (a
multipart upload for large files, which S3 also shows only once complete): a reader sees no object
or the whole object, never a torn one. Each version of an object has its own ETag, which is what
the caches in :mod:`curate.engine.workstore` key by.

Only ``s3://`` is built. ``gs://`` has the same primitives (``ifGenerationMatch``) but no client
here yet, and other schemes (``hdfs://``, ``az://``, ``file://``...) lack a conditional put or were
not checked; both are refused by name before any work.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from curate.io.storage import StorageError, split_uri

WORK_SCHEMES = ("s3",)
PLANNED = {"gs": "gs:// work state is not built yet (GCS has the conditional puts; no client here)"}
MULTIPART_BYTES = 64 << 20  # larger files go up as a multipart upload (atomic on completion too)


class PreconditionFailed(StorageError):
    """A conditional put or delete found the object not as expected (another writer won)."""


def check_work_uri(uri: str) -> None:
    """Refuse a work-state URI whose scheme is not built, naming the scheme and why."""
    scheme = split_uri(uri)[0]
    if scheme in WORK_SCHEMES:
        _, bucket, _ = split_uri(uri)
        if not bucket:
            raise StorageError(f"--work-dir {uri}: no bucket")
        return
    why = PLANNED.get(scheme, f"{scheme}:// has no conditional put that curate uses")
    raise StorageError(
        f"--work-dir {uri}: {why}; work state on object storage supports "
        f"{', '.join(s + '://' for s in WORK_SCHEMES)} (or give a local folder)"
    )


@functools.cache
def _client():
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StorageError("--work-dir s3://... needs boto3 (pip install 'curate[objstore]')") from None
    # Endpoint and credentials come from the environment as boto3 reads them (AWS_ENDPOINT_URL...).
    return boto3.client("s3", config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                            max_pool_connections=32))


@dataclasses.dataclass(frozen=True)
class Obj:
    """One object as a listing shows it: key relative to the store's prefix, ETag, size."""

    rel: str
    etag: str
    size: int


class ObjectStore:
    """The objects under one ``s3://bucket/prefix``: list, get, atomic put, conditional put, delete."""

    def __init__(self, uri: str):
        check_work_uri(uri)
        self.uri = uri.rstrip("/")
        _, self.bucket, prefix = split_uri(uri)
        self.prefix = f"{prefix}/" if prefix else ""

    def __reduce__(self):  # workers rebuild their own client from the URI
        return (ObjectStore, (self.uri,))

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def _call(self, what: str, rel: str, fn, **kw):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise PreconditionFailed(f"{self.uri}/{rel}: {what}: precondition failed") from None
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"{self.uri}/{rel}") from None
            raise StorageError(f"cannot {what} {self.uri}/{rel}: {e}") from None
        except BotoCoreError as e:
            raise StorageError(f"cannot {what} {self.uri}/{rel}: {e}") from None

    def list(self, under: str = "") -> dict[str, Obj]:
        """Every object whose relative key starts with ``under``, by relative key."""
        out: dict[str, Obj] = {}
        token = None
        while True:
            kw = {"Prefix": self.key(under)}
            if token:
                kw["ContinuationToken"] = token
            page = self._call("list", under, _client().list_objects_v2, **kw)
            for o in page.get("Contents", []):
                rel = o["Key"][len(self.prefix):]
                out[rel] = Obj(rel, o["ETag"], int(o["Size"]))
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def get_bytes(self, rel: str) -> tuple[bytes, str]:
        """(content, ETag) of one object; FileNotFoundError when there is none."""
        r = self._call("read", rel, _client().get_object, Key=self.key(rel))
        return r["Body"].read(), r["ETag"]

    def download(self, rel: str, dest: Path, etag: str | None = None) -> None:
        """Write one object to ``dest`` (the caller renames it into place). With ``etag``, only
        that version: a newer one in between raises :class:`PreconditionFailed`."""
        kw = {"Key": self.key(rel)}
        if etag:
            kw["IfMatch"] = etag
        r = self._call("read", rel, _client().get_object, **kw)
        with open(dest, "wb") as f:
            for chunk in r["Body"].iter_chunks(8 << 20):
                f.write(chunk)

    def upload(self, src: Path, rel: str) -> str:
        """Put a local file (one atomic PUT, or a multipart upload for large files); its ETag."""
        if src.stat().st_size <= MULTIPART_BYTES:
            with open(src, "rb") as f:
                return self._call("write", rel, _client().put_object, Key=self.key(rel), Body=f)["ETag"]
        from boto3.s3.transfer import TransferConfig

        cfg = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES)
        self._call("write", rel, lambda **kw: _client().upload_file(str(src), kw["Bucket"], kw["Key"],
                                                                    Config=cfg), Key=self.key(rel))
        return self._call("stat", rel, _client().head_object, Key=self.key(rel))["ETag"]

    def put_bytes(self, rel: str, data: bytes, if_absent: bool = False, if_match: str | None = None) -> str:
        """Put ``data``; ``if_absent``: only if no object is there, ``if_match``: only if the object
        is still that ETag (else :class:`PreconditionFailed`). Returns the new ETag."""
        kw = {"Key": self.key(rel), "Body": data}
        if if_absent:
            kw["IfNoneMatch"] = "*"
        if if_match:
            kw["IfMatch"] = if_match
        return self._call("write", rel, _client().put_object, **kw)["ETag"]

    def delete(self, rels: Iterable[str], if_match: str | None = None) -> None:
        rels = list(rels)
        if if_match is not None:
            for rel in rels:
                self._call("delete", rel, _client().delete_object, Key=self.key(rel), IfMatch=if_match)
            return
        for i in range(0, len(rels), 1000):
            chunk = rels[i : i + 1000]
            self._call("delete", chunk[0], _client().delete_objects,
                       Delete={"Objects": [{"Key": self.key(r)} for r in chunk], "Quiet": True})

    def delete_all(self) -> None:
        self.delete(self.list())


def parallel(fn, items: list, threads: int | None = None) -> list:
    """``fn`` over ``items`` on a thread pool (object store calls wait on the network); errors raise."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    n = threads or min(16, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items))
