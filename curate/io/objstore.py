"""Object stores with conditional puts, for work state (``--work-dir s3://bucket/run`` or ``gs://``).

:mod:`curate.io.storage` reads inputs and publishes outputs through pyarrow, which has no
conditional writes. Work state relies on them (the run's lease is created only if absent and renewed
only if still ours), so this module speaks to each store through its own client:

* ``s3://``: boto3, ``PutObject`` with ``If-None-Match`` / ``If-Match`` (AWS S3 since 2024, moto);
  a version is its ETag;
* ``gs://``: google-cloud-storage, ``ifGenerationMatch`` (0: only if absent); a version is the
  object's generation.

Every write is one atomic upload (S3 multipart and GCS resumable uploads too show the object only
once complete): a reader sees no object or the whole object, never a torn one. Each version of an
object has its own tag (``Obj.etag``: the ETag or the generation), which is what the caches in
:mod:`curate.engine.workstore` key by. Other schemes (``hdfs://``, ``az://``, ``file://``...) lack
a conditional put or were not checked; they are refused by name before any work.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from curate.io.storage import StorageError, split_uri

WORK_SCHEMES = ("s3", "gs")
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
    raise StorageError(
        f"--work-dir {uri}: {scheme}:// has no conditional put that curate uses; work state on object "
        "storage supports "
        f"{', '.join(s + '://' for s in WORK_SCHEMES)} (or give a local folder)"
    )


@functools.cache
def _s3():
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


def open_store(uri: str) -> ObjectStore:
    """The store for ``uri`` (``s3://bucket/prefix`` or ``gs://bucket/prefix``); others refused."""
    check_work_uri(uri)
    return {"s3": S3Store, "gs": GCSStore}[split_uri(uri)[0]](uri)


class ObjectStore:
    """The objects under one ``scheme://bucket/prefix``: list, get, atomic put, conditional put,
    delete. :func:`open_store` picks the implementation by scheme."""

    def __init__(self, uri: str):
        check_work_uri(uri)
        self.uri = uri.rstrip("/")
        _, self.bucket, prefix = split_uri(uri)
        self.prefix = f"{prefix}/" if prefix else ""

    def __reduce__(self):  # workers rebuild their own client from the URI
        return (open_store, (self.uri,))

    def key(self, rel: str) -> str:
        return self.prefix + rel

    def list(self, under: str = "") -> dict[str, Obj]:
        """Every object whose relative key starts with ``under``, by relative key."""
        raise NotImplementedError

    def get_bytes(self, rel: str) -> tuple[bytes, str]:
        """(content, version tag) of one object; FileNotFoundError when there is none."""
        raise NotImplementedError

    def download(self, rel: str, dest: Path, etag: str | None = None) -> None:
        """Write one object to ``dest`` (the caller renames it into place). With ``etag``, only
        that version: a newer one in between raises :class:`PreconditionFailed`."""
        raise NotImplementedError

    def upload(self, src: Path, rel: str) -> str:
        """Put a local file in one atomic upload; its version tag."""
        raise NotImplementedError

    def put_bytes(self, rel: str, data: bytes, if_absent: bool = False, if_match: str | None = None) -> str:
        """Put ``data``; ``if_absent``: only if no object is there, ``if_match``: only if the object
        is still that version (else :class:`PreconditionFailed`). Returns the new version tag."""
        raise NotImplementedError

    def delete(self, rels: Iterable[str], if_match: str | None = None) -> None:
        """Delete these objects (absent ones are no error); with ``if_match``, each only if it is
        still that version."""
        raise NotImplementedError

    def delete_all(self) -> None:
        self.delete(self.list())


class S3Store(ObjectStore):
    """``s3://``: boto3; endpoint and credentials from the environment as boto3 reads them."""

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
            page = self._call("list", under, _s3().list_objects_v2, **kw)
            for o in page.get("Contents", []):
                rel = o["Key"][len(self.prefix):]
                out[rel] = Obj(rel, o["ETag"], int(o["Size"]))
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def get_bytes(self, rel: str) -> tuple[bytes, str]:
        """(content, ETag) of one object; FileNotFoundError when there is none."""
        r = self._call("read", rel, _s3().get_object, Key=self.key(rel))
        return r["Body"].read(), r["ETag"]

    def download(self, rel: str, dest: Path, etag: str | None = None) -> None:
        """Write one object to ``dest`` (the caller renames it into place). With ``etag``, only
        that version: a newer one in between raises :class:`PreconditionFailed`."""
        kw = {"Key": self.key(rel)}
        if etag:
            kw["IfMatch"] = etag
        r = self._call("read", rel, _s3().get_object, **kw)
        with open(dest, "wb") as f:
            for chunk in r["Body"].iter_chunks(8 << 20):
                f.write(chunk)

    def upload(self, src: Path, rel: str) -> str:
        """Put a local file (one atomic PUT, or a multipart upload for large files); its ETag."""
        if src.stat().st_size <= MULTIPART_BYTES:
            with open(src, "rb") as f:
                return self._call("write", rel, _s3().put_object, Key=self.key(rel), Body=f)["ETag"]
        from boto3.s3.transfer import TransferConfig

        cfg = TransferConfig(multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES)
        self._call("write", rel, lambda **kw: _s3().upload_file(str(src), kw["Bucket"], kw["Key"],
                                                                    Config=cfg), Key=self.key(rel))
        return self._call("stat", rel, _s3().head_object, Key=self.key(rel))["ETag"]

    def put_bytes(self, rel: str, data: bytes, if_absent: bool = False, if_match: str | None = None) -> str:
        """Put ``data``; ``if_absent``: only if no object is there, ``if_match``: only if the object
        is still that ETag (else :class:`PreconditionFailed`). Returns the new ETag."""
        kw = {"Key": self.key(rel), "Body": data}
        if if_absent:
            kw["IfNoneMatch"] = "*"
        if if_match:
            kw["IfMatch"] = if_match
        return self._call("write", rel, _s3().put_object, **kw)["ETag"]

    def delete(self, rels: Iterable[str], if_match: str | None = None) -> None:
        rels = list(rels)
        if if_match is not None:
            for rel in rels:
                self._call("delete", rel, _s3().delete_object, Key=self.key(rel), IfMatch=if_match)
            return
        for i in range(0, len(rels), 1000):
            chunk = rels[i : i + 1000]
            self._call("delete", chunk[0], _s3().delete_objects,
                       Delete={"Objects": [{"Key": self.key(r)} for r in chunk], "Quiet": True})


@functools.cache
def _gcs():
    try:
        from google.cloud import storage
    except ImportError:
        raise StorageError("--work-dir gs://... needs google-cloud-storage (pip install 'curate[objstore]')"
                           ) from None
    # Credentials and project as google-auth finds them (GOOGLE_APPLICATION_CREDENTIALS, the
    # metadata server); STORAGE_EMULATOR_HOST points the client at an emulator, anonymously.
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "curate"),
                              credentials=AnonymousCredentials())
    try:
        return storage.Client()
    except Exception as e:  # noqa: BLE001  (google-auth's DefaultCredentialsError and kin)
        raise StorageError(f"--work-dir gs://...: no Google Cloud credentials: {e}") from None


class GCSStore(ObjectStore):
    """``gs://``: google-cloud-storage; a version tag is the object's generation (as a string).
    Conditional writes are ``ifGenerationMatch`` (0: only if absent), which the client retries
    safely; unconditional ones are single uploads (multipart, or resumable for large files)."""

    def _call(self, what: str, rel: str, fn):
        from google.api_core import exceptions as gexc
        from google.resumable_media import InvalidResponse

        try:
            return fn()
        except gexc.PreconditionFailed:
            raise PreconditionFailed(f"{self.uri}/{rel}: {what}: precondition failed") from None
        except gexc.NotFound:
            if what in ("read", "delete"):
                raise FileNotFoundError(f"{self.uri}/{rel}") from None
            # a write or a listing finds no object only when the bucket itself is missing
            raise StorageError(f"cannot {what} {self.uri}/{rel}: no bucket gs://{self.bucket}") from None
        except FileNotFoundError:  # a local path (download's destination): the caller's to see
            raise
        except (gexc.GoogleAPIError, InvalidResponse, OSError) as e:
            raise StorageError(f"cannot {what} {self.uri}/{rel}: {e}") from None

    def _blob(self, rel: str):
        return _gcs().bucket(self.bucket).blob(self.key(rel))

    def list(self, under: str = "") -> dict[str, Obj]:
        def page():
            blobs = _gcs().list_blobs(self.bucket, prefix=self.key(under))  # pages as it iterates
            return [(b.name, b.generation, b.size) for b in blobs]

        return {name[len(self.prefix):]: Obj(name[len(self.prefix):], str(gen), int(size or 0))
                for name, gen, size in self._call("list", under, page)}

    def get_bytes(self, rel: str) -> tuple[bytes, str]:
        blob = self._blob(rel)
        data = self._call("read", rel, blob.download_as_bytes)
        return data, str(blob.generation)

    def download(self, rel: str, dest: Path, etag: str | None = None) -> None:
        # With a version: read exactly that generation (GET ...?generation=N), which fails once it
        # was replaced, where ifGenerationMatch on a read is not enforced by every emulator.
        blob = _gcs().bucket(self.bucket).blob(self.key(rel), generation=int(etag) if etag else None)
        try:
            self._call("read", rel, lambda: blob.download_to_filename(str(dest)))
        except FileNotFoundError:
            if etag:
                raise PreconditionFailed(f"{self.uri}/{rel}: read: version {etag} is gone") from None
            raise

    def upload(self, src: Path, rel: str) -> str:
        blob = self._blob(rel)
        self._call("write", rel, lambda: blob.upload_from_filename(str(src)))
        return str(blob.generation)

    def put_bytes(self, rel: str, data: bytes, if_absent: bool = False, if_match: str | None = None) -> str:
        blob = self._blob(rel)
        kw = {"if_generation_match": 0} if if_absent else {}
        if if_match:
            kw = {"if_generation_match": int(if_match)}
        self._call("write", rel, lambda: blob.upload_from_string(data, **kw))
        return str(blob.generation)

    def delete(self, rels: Iterable[str], if_match: str | None = None) -> None:
        kw = {"if_generation_match": int(if_match)} if if_match is not None else {}

        def one(rel: str) -> None:
            try:
                self._call("delete", rel, lambda: self._blob(rel).delete(**kw))
            except FileNotFoundError:
                pass

        parallel(one, list(rels))


def parallel(fn, items: list, threads: int | None = None) -> list:
    """``fn`` over ``items`` on a thread pool (object store calls wait on the network); errors raise."""
    if len(items) <= 1:
        return [fn(x) for x in items]
    n = threads or min(16, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items))
