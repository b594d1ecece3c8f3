"""Training data on local disk or behind a URI (``s3://``, ``gs://``, ``hdfs://``: pyarrow's
filesystems), so a run can train straight from an output curate published to object storage.

Credentials and endpoints come from the environment as pyarrow reads them (``AWS_*``,
``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``). Only pyarrow is used here: training
imports nothing beyond torch, transformers, tokenizers, pyarrow and numpy.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import pyarrow.fs as pafs
import pyarrow.parquet as pq

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def is_uri(path: str | Path) -> bool:
    m = _SCHEME.match(str(path))
    return bool(m) and m.group(1).lower() != "file"


@functools.cache
def _fs(scheme_netloc: str) -> tuple[pafs.FileSystem, str]:
    fs, root = pafs.FileSystem.from_uri(scheme_netloc)
    return fs, root.rstrip("/")


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem for ``uri`` and the path it knows the object by."""
    m = _SCHEME.match(uri)
    assert m is not None
    netloc, _, key = uri[m.end():].partition("/")
    try:
        fs, root = _fs(f"{m.group(1).lower()}://{netloc}")
    except Exception as e:  # noqa: BLE001 - ArrowInvalid for an unknown scheme, OSError for the rest
        raise FileNotFoundError(
            f"cannot open {uri}: {e} (training reads s3://, gs:// and hdfs:// URIs)"
        ) from None
    key = key.strip("/")
    return fs, f"{root}/{key}" if key else root


def open_parquet(path: str | Path) -> pq.ParquetFile:
    if is_uri(path):
        fs, p = resolve(str(path))
        return pq.ParquetFile(fs.open_input_file(p))
    return pq.ParquetFile(path)


def read_schema(path: str | Path):
    return open_parquet(path).schema_arrow


def kind_of(uri: str) -> pafs.FileType:
    fs, p = resolve(uri)
    return fs.get_file_info(p).type


def list_parquet(uri: str) -> list[str]:
    """The ``.parquet`` objects under ``uri`` (recursively, sorted; names starting with ``.`` or
    ``_`` skipped, as locally), or ``[uri]`` for one object."""
    fs, p = resolve(uri)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.File:
        return [uri]
    if info.type != pafs.FileType.Directory:
        raise FileNotFoundError(f"training data {uri!r} does not exist")
    base, prefix = uri.rstrip("/"), p.rstrip("/") + "/"
    out = []
    for i in fs.get_file_info(pafs.FileSelector(p, recursive=True)):
        rel = i.path[len(prefix):]
        if i.type == pafs.FileType.File and rel.endswith(".parquet") and not any(
            part.startswith((".", "_")) for part in rel.split("/")
        ):
            out.append(f"{base}/{rel}")
    return sorted(out)


def is_file(path: str | Path) -> bool:
    if is_uri(path):
        return kind_of(str(path)) == pafs.FileType.File
    return Path(path).is_file()


def read_bytes(path: str | Path) -> bytes:
    if is_uri(path):
        fs, p = resolve(str(path))
        with fs.open_input_stream(p, compression=None) as f:
            return f.read()
    return Path(path).read_bytes()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (a local path or a URI), read in 1 MiB chunks. The one sha256
    helper of the package: it lives here because training may import only pyarrow-level code."""
    h = hashlib.sha256()
    if is_uri(path):
        fs, p = resolve(str(path))
        f = fs.open_input_stream(p, compression=None)
    else:
        f = open(path, "rb")
    with f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def parent(path: str) -> str:
    """The folder holding ``path`` (a URI: cut at the last ``/``)."""
    return path.rstrip("/").rsplit("/", 1)[0]
