"""Input path expansion: globs relative to the pipeline file, stable relative names for ids.

A pattern is a local path or glob, or a URI (``s3://bucket/cc/*.warc.gz``) that
:mod:`curate.io.storage` lists. Matches come back as strings either way; the stable name of a file
(its path below the glob's static root) is the same whether the corpus sits on disk or in a bucket.
"""

from __future__ import annotations

import functools
import glob
import os
import re
from collections.abc import Iterator
from pathlib import Path

from curate.io import storage

GLOB_CHARS = storage.GLOB_CHARS


# A brace alternative: {en,de} (at least one comma; braces without one are literal characters).
_BRACE = re.compile(r"\{([^{}]*,[^{}]*)\}")


def has_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern) or _BRACE.search(pattern) is not None


def expand_braces(pattern: str) -> list[str]:
    """``data/{en,de}/*.txt`` -> ``data/en/*.txt``, ``data/de/*.txt`` (nested and repeated braces
    too), in the order written; a pattern without braces is itself."""
    m = _BRACE.search(pattern)
    if m is None:
        return [pattern]
    out: list[str] = []
    for alt in m.group(1).split(","):
        for p in expand_braces(pattern[: m.start()] + alt + pattern[m.end() :]):
            if p not in out:
                out.append(p)
    return out


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
        if has_glob(part):
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
    """Files matching ``pattern`` (``**`` recurses, ``{a,b}`` alternates), sorted; a plain folder
    means every file in it. Symlinked folders are followed, each real folder once (a symlink loop
    ends)."""
    found: set[str] = set()
    for one in expand_braces(pattern):
        found.update(_expand_one(one, base))
    return sorted(found)


def _expand_one(pattern: str, base: Path) -> list[str]:
    full = resolve(pattern, base)
    if storage.is_uri(full):
        return storage.glob(full)
    if not has_glob(full):
        p = Path(full)
        if p.is_dir():
            return list(walk_files(full))
        return [full] if p.exists() else []
    if "**" not in full:  # no recursion, so no loop: the standard library's glob
        return [p for p in glob.glob(full) if os.path.isfile(p)]
    root = storage.static_root(full) or "/"
    rx = storage.glob_regex(full)
    return [p for p in walk_files(root, hidden="/." in full[len(root) :]) if rx.match(p)]


def walk_files(root: str, hidden: bool = True) -> Iterator[str]:
    """Every file under ``root``, following symlinked folders but entering each real folder once
    (by device and inode): a branching symlink loop costs one visit, not forever. ``hidden=False``
    skips folders whose name starts with ``.`` (a ``**`` never matches them)."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirs, files in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()  # the path a folder is first met under must not depend on the file system
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.isfile(path):
                yield path


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


def suggest_path(pattern: str, base: Path, limit: int = 5000) -> str | None:
    """The existing path or glob nearest to ``pattern`` (which matches nothing), for a did-you-mean.

    Candidates are the files under the deepest folder of the pattern that exists, each as itself
    and as the glob of its folder and suffix (``corpus/a.jsonl`` -> ``corpus/*.jsonl``); the one
    closest to the pattern as written wins. Only the first ``limit`` files are looked at.
    """
    import difflib

    if storage.is_uri(pattern):
        return None
    full = resolve(pattern, base)
    root = Path(static_root(full))
    while not root.is_dir() and root != root.parent:
        root = root.parent
    prefix = full[: len(full) - len(pattern)] if full.endswith(pattern) else ""
    cands: set[str] = set()
    for n, f in enumerate(walk_files(str(root), hidden=False)):
        if n >= limit:
            break
        shown = f[len(prefix) :] if prefix and f.startswith(prefix) else f
        folder, name = os.path.split(shown)
        suffix = "".join(Path(name).suffixes)
        cands.add(shown)
        if suffix:
            cands.add(os.path.join(folder, "*" + suffix))
    for c in list(cands):  # nothing may suggest what matches nothing itself
        if c == pattern:
            cands.discard(c)
    best = difflib.get_close_matches(pattern, sorted(cands), n=1, cutoff=0.6)
    return best[0] if best else None
