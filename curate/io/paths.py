"""Input path expansion: globs relative to the pipeline file, stable relative names for ids.

A pattern is a local path or glob, or a URI (``s3://bucket/cc/*.warc.gz``) that
:mod:`curate.io.storage` lists. Matches come back as strings either way; the stable name of a file
(its path below the glob's static root) is the same whether the corpus sits on disk or in a bucket.
"""

from __future__ import annotations

import functools
import glob
import os
from pathlib import Path

from curate.io import storage

GLOB_CHARS = storage.GLOB_CHARS


def has_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


def resolve(pattern: str, base: Path) -> str:
    """Absolute form of a path or glob written relative to ``base`` (the pipeline file's folder)."""
    if storage.is_uri(pattern):
        return pattern
    p = os.path.expanduser(storage.strip_file_scheme(pattern))
    return p if os.path.isabs(p) else os.path.join(str(base), p)


def static_root(pattern: str) -> str:
    """The leading part of a glob with no wildcard in it: ``data/cc/*.warc.gz`` -> ``data/cc``."""
    if storage.is_uri(pattern):
        return _uri_static_root(pattern)
    parts = Path(pattern).parts
    kept: list[str] = []
    for part in parts:
        if any(c in GLOB_CHARS for c in part):
            break
        kept.append(part)
    if len(kept) == len(parts):  # no wildcard: a file's root is its folder, a folder's is itself
        p = Path(*parts)
        return str(p if p.is_dir() else p.parent)
    return str(Path(*kept)) if kept else "."


@functools.lru_cache(maxsize=256)
def _uri_static_root(pattern: str) -> str:
    root = storage.static_root(pattern)
    if root == pattern and storage.info(pattern).type == storage.pafs.FileType.File:
        return pattern.rsplit("/", 1)[0]
    return root


def expand_glob(pattern: str, base: Path) -> list[str]:
    """Files matching ``pattern`` (``**`` recurses), sorted; a plain folder means every file in it."""
    full = resolve(pattern, base)
    if storage.is_uri(full):
        return storage.glob(full)
    if not has_glob(full):
        p = Path(full)
        if p.is_dir():
            return sorted(str(q) for q in p.rglob("*") if q.is_file())
        return [full] if p.exists() else []
    return sorted(p for p in glob.glob(full, recursive=True) if os.path.isfile(p))


def relative_name(path: str | Path, pattern: str, base: Path) -> str:
    """The stable name of ``path`` used in record ids: relative to the glob's static root."""
    path = str(path)
    root = static_root(resolve(pattern, base))
    if storage.is_uri(path):
        prefix = root.rstrip("/") + "/"
        return path[len(prefix) :] if path.startswith(prefix) else path.rsplit("/", 1)[-1]
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).name


def name_parts(path: str) -> list[str]:
    """The ``/``-separated parts of a local path or a URI's key (for folder filters)."""
    if storage.is_uri(path):
        return path.split("://", 1)[1].split("/")
    return list(Path(path).parts)
