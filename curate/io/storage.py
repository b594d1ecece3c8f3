"""Remote storage: paths with a scheme (``s3://``, ``gs://``, ``hdfs://``, ``az://``...).

A plain path (or ``file://``) is local and never comes here. A URI is served by the pyarrow
filesystem for its scheme (S3, GCS, HDFS), else by fsspec's (any installed protocol: ``az://`` with
adlfs, ``hf://``, ``memory://``...) wrapped so that the rest of curate sees one pyarrow API.

Where to connect and with what credentials comes from the environment, as each library reads it
(``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ``~/.aws/config``, ``GOOGLE_APPLICATION_CREDENTIALS``);
a URI carries no query string, since ``?`` is a glob character in ``paths``.

Writes are atomic: object stores (S3, GCS) only show an object once its upload completes, and an
upload cut short is deleted; other filesystems get a temporary name and a rename.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.fs as pafs

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
CHUNK = 8 << 20
# Object stores: a PUT (or a completed multipart upload) is all-or-nothing, and rename is a copy.
ATOMIC_PUT = frozenset({"s3", "gcs"})
GLOB_CHARS = set("*?[")


class StorageError(OSError):
    """A remote path could not be listed, read or written; the message names it and why."""


def is_uri(path: str | Path) -> bool:
    """True for ``scheme://...`` paths other than ``file://`` (which is just a local path)."""
    m = _SCHEME.match(str(path))
    return bool(m) and m.group(1).lower() != "file"


def strip_file_scheme(path: str) -> str:
    return path[len("file://") :] if path.lower().startswith("file://") else path


def split_uri(uri: str) -> tuple[str, str, str]:
    """``s3://bucket/a/b`` -> ("s3", "bucket", "a/b")."""
    m = _SCHEME.match(uri)
    if not m:
        raise ValueError(f"not a URI: {uri!r}")
    rest = uri[m.end() :]
    netloc, _, key = rest.partition("/")
    return m.group(1).lower(), netloc, key.strip("/")


@functools.cache
def _filesystem(scheme: str, netloc: str) -> tuple[pafs.FileSystem, str, bool]:
    """(filesystem, the filesystem path of ``scheme://netloc``, whether it came from fsspec)."""
    root = f"{scheme}://{netloc}"
    try:
        fs, path = pafs.FileSystem.from_uri(root)
        return fs, path.rstrip("/"), False
    except Exception as e:  # noqa: BLE001 - pyarrow raises ArrowInvalid or OSError; fall back to fsspec
        arrow_error = e
    try:
        import fsspec

        ffs, path = fsspec.core.url_to_fs(root)
    except (ImportError, ValueError) as e:
        raise StorageError(
            f"no filesystem for {scheme}:// (pyarrow: {arrow_error}; fsspec: {e}); "
            "pyarrow serves s3, gs and hdfs, fsspec protocols need their package (adlfs for az://)"
        ) from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(ffs)), str(path).rstrip("/"), True


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem serving ``uri`` and the path it knows the object by."""
    scheme, netloc, key = split_uri(uri)
    fs, root, _ = _filesystem(scheme, netloc)
    return fs, f"{root}/{key}" if key else root


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(p.strip("/") for p in parts if p)])


def _wrap(what: str, uri: str, e: Exception) -> StorageError:
    return StorageError(f"cannot {what} {uri}: {e}")


def info(uri: str) -> pafs.FileInfo:
    fs, path = resolve(uri)
    try:
        return fs.get_file_info(path)
    except OSError as e:
        raise _wrap("stat", uri, e) from None


def exists(uri: str) -> bool:
    return info(uri).type != pafs.FileType.NotFound


def stat(uri: str) -> list[int] | None:
    """``[size, mtime_ns]`` of a file, or None when there is none (as the fingerprint wants it)."""
    i = info(uri)
    if i.type != pafs.FileType.File:
        return None
    return [int(i.size or 0), int(i.mtime_ns or 0)]


def stat_many(uris: Iterable[str]) -> dict[str, list[int] | None]:
    """:func:`stat` of many files with one listing per folder instead of one request per file."""
    by_parent: dict[str, list[str]] = {}
    for u in uris:
        by_parent.setdefault(u.rsplit("/", 1)[0], []).append(u)
    out: dict[str, list[int] | None] = {}
    for parent, members in by_parent.items():
        fs, path = resolve(parent)
        try:
            infos = fs.get_file_info(pafs.FileSelector(path, recursive=False, allow_not_found=True))
        except OSError as e:
            raise _wrap("list", parent, e) from None
        seen = {i.path.rsplit("/", 1)[-1]: i for i in infos if i.type == pafs.FileType.File}
        for u in members:
            i = seen.get(u.rsplit("/", 1)[-1])
            out[u] = None if i is None else [int(i.size or 0), int(i.mtime_ns or 0)]
    return out


def walk(uri: str) -> list[tuple[str, pafs.FileInfo]]:
    """Every file under the folder ``uri`` as (uri, info), sorted; [] when there is no such folder."""
    fs, path = resolve(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    except OSError as e:
        raise _wrap("list", uri, e) from None
    base = uri.rstrip("/")
    prefix = path.rstrip("/") + "/"
    out = [
        (f"{base}/{i.path[len(prefix) :]}", i)
        for i in infos
        if i.type == pafs.FileType.File and i.path.startswith(prefix)
    ]
    return sorted(out, key=lambda t: t[0])


def glob_regex(pattern: str) -> re.Pattern:
    """A regex for a glob over ``/``-separated names, with Python's :func:`glob.glob` semantics:
    ``**/`` spans folders, ``*`` and ``?`` do not, and no wildcard matches a leading ``.``."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        start = i == 0 or pattern[i - 1] == "/"
        hide = r"(?!\.)" if start else ""
        if start and pattern.startswith("**/", i):
            out.append(r"(?:(?!\.)[^/]+/)*")
            i += 3
            continue
        if start and pattern.startswith("**", i):
            out.append(r"(?:(?!\.)[^/]+(?:/|\Z))*")
            i += 2
            continue
        if c == "*":
            out.append(hide + "[^/]*")
        elif c == "?":
            out.append(hide + "[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(hide + f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def static_root(pattern: str) -> str:
    """The part of a URI glob before its first wildcard, cut at a ``/``."""
    cut = min((pattern.find(c) for c in GLOB_CHARS if c in pattern), default=-1)
    if cut < 0:
        return pattern
    return pattern[: pattern.rfind("/", 0, cut)]


def glob(pattern: str) -> list[str]:
    """Files matching a URI glob, sorted. A file is itself; a folder means every file under it."""
    root = static_root(pattern)
    if root == pattern:
        i = info(pattern)
        if i.type == pafs.FileType.File:
            return [pattern]
        return [u for u, _ in walk(pattern)]
    rx = glob_regex(pattern)
    return [u for u, _ in walk(root) if rx.match(u)]


def open_input(path: str | Path, seekable: bool = False):
    """A binary file object for a local path or a URI; random access when ``seekable`` (Parquet
    footers), else a forward stream. Bytes come as stored: no decompression by file name."""
    if not is_uri(str(path)):
        return open(path, "rb")
    fs, p = resolve(str(path))
    try:
        return (
            fs.open_input_file(p)
            if seekable
            else fs.open_input_stream(p, compression=None, buffer_size=CHUNK)
        )
    except OSError as e:
        raise _wrap("open", str(path), e) from None


def size(path: str | Path) -> int:
    """Size in bytes of a local file or a remote object."""
    if not is_uri(str(path)):
        return os.path.getsize(path)
    return int(info(str(path)).size or 0)


def read_bytes(uri: str) -> bytes:
    fs, path = resolve(uri)
    try:
        with fs.open_input_stream(path, compression=None) as f:
            return f.read()
    except OSError as e:
        raise _wrap("read", uri, e) from None


def download(uri: str, dest: Path) -> Path:
    """Copy a remote file to ``dest`` (a local path), in chunks; returns ``dest``."""
    fs, path = resolve(uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with fs.open_input_stream(path, compression=None) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except OSError as e:
        dest.unlink(missing_ok=True)
        raise _wrap("download", uri, e) from None
    return dest


def download_tree(uri: str, dest: Path) -> Path:
    """Copy every file under the remote folder ``uri`` into the local folder ``dest``."""
    for u, _ in walk(uri):
        download(u, dest / u[len(uri.rstrip("/")) + 1 :])
    return dest


def _atomic(fs: pafs.FileSystem) -> bool:
    return fs.type_name in ATOMIC_PUT


def _put(uri: str, fill, what: str) -> None:
    """Write an object with ``fill(stream)`` so that readers see the old object or the whole new
    one: in place on object stores (an upload completes all at once), else under a temp name
    renamed into place. A fill cut short leaves nothing behind."""
    fs, path = resolve(uri)
    target = path if _atomic(fs) else f"{path}.tmp-upload"
    try:
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        out = fs.open_output_stream(target, compression=None)
        try:
            fill(out)
        except BaseException:
            _discard(fs, out, target)
            raise
        out.close()
        if target != path:
            fs.move(target, path)
    except OSError as e:
        raise _wrap(what, uri, e) from None


def upload(src: Path, uri: str) -> None:
    """Copy a local file to ``uri`` so that readers see the old object or the whole new one."""

    def fill(out) -> None:
        with open(src, "rb") as f:
            shutil.copyfileobj(f, out, CHUNK)

    _put(uri, fill, "upload to")


def write_bytes(uri: str, data: bytes) -> None:
    _put(uri, lambda out: out.write(data), "write")


def _discard(fs: pafs.FileSystem, stream, path: str) -> None:
    """Give up an upload cut short. pyarrow has no abort for output streams (closing an S3 stream
    completes the upload), so close it and delete what that made. A process killed outright never
    completes its multipart upload, so nothing becomes visible then either."""
    try:
        stream.close()
        fs.delete_file(path)
    except OSError:
        pass


def delete(uris: Iterable[str]) -> None:
    for u in uris:
        fs, path = resolve(u)
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise _wrap("delete", u, e) from None


def delete_tree(uri: str) -> None:
    fs, path = resolve(uri)
    try:
        if fs.get_file_info(path).type == pafs.FileType.Directory:
            fs.delete_dir(path)
    except OSError as e:
        raise _wrap("delete", uri, e) from None


def upload_many(pairs: list[tuple[Path, str]], threads: int = 8) -> None:
    """Upload (local, uri) pairs in parallel; the first failure is raised after the rest finish."""
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for fut in [pool.submit(upload, src, uri) for src, uri in pairs]:
            fut.result()


def fetch(uri: str, dest_dir: Path) -> Path:
    """A local copy of a remote file (or saved-dataset folder) in ``dest_dir``, keeping its name
    (readers infer compression from it)."""
    dest = dest_dir / uri.rstrip("/").rsplit("/", 1)[-1]
    try:
        return download(uri, dest)
    except StorageError:
        if info(uri).type != pafs.FileType.Directory:
            raise
        return download_tree(uri, dest)


def local_copies(paths: list[str], scratch: Path | None = None) -> Iterator[tuple[str, Path]]:
    """``(path, local path)`` for each of ``paths``, in order. Local paths pass through; remote ones
    are downloaded to a temporary folder, the next while the current one is read, and deleted
    once the consumer moves on, so at most two copies are on disk at a time."""
    import tempfile

    if not any(is_uri(p) for p in paths):
        for p in paths:
            yield p, Path(p)
        return
    tmp = Path(tempfile.mkdtemp(prefix="curate-fetch-", dir=scratch))
    pool = ThreadPoolExecutor(max_workers=1)
    futures = {}

    def start(i: int) -> None:
        if i < len(paths) and is_uri(paths[i]):
            futures[i] = pool.submit(fetch, paths[i], tmp / f"{i:06d}")

    try:
        start(0)
        for i, p in enumerate(paths):
            start(i + 1)
            if not is_uri(p):
                yield p, Path(p)
                continue
            local = futures.pop(i).result()
            try:
                yield p, local
            finally:
                shutil.rmtree(tmp / f"{i:06d}", ignore_errors=True)
    finally:
        for f in futures.values():
            f.cancel()
        pool.shutdown(wait=True)
        shutil.rmtree(tmp, ignore_errors=True)
