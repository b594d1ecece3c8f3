"""Input path expansion: globs relative to the pipeline file, stable relative names for ids."""

from __future__ import annotations

import glob
import os
from pathlib import Path

GLOB_CHARS = set("*?[")


def has_glob(pattern: str) -> bool:
    return any(c in GLOB_CHARS for c in pattern)


def resolve(pattern: str, base: Path) -> str:
    """Absolute form of a path or glob written relative to ``base`` (the pipeline file's folder)."""
    p = os.path.expanduser(pattern)
    return p if os.path.isabs(p) else os.path.join(str(base), p)


def static_root(pattern: str) -> Path:
    """The leading part of a glob with no wildcard in it: ``data/cc/*.warc.gz`` -> ``data/cc``."""
    parts = Path(pattern).parts
    root: list[str] = []
    for part in parts:
        if any(c in GLOB_CHARS for c in part):
            break
        root.append(part)
    if len(root) == len(parts):  # no wildcard: a file's root is its folder, a folder's is itself
        p = Path(*parts)
        return p if p.is_dir() else p.parent
    return Path(*root) if root else Path(".")


def expand_glob(pattern: str, base: Path) -> list[Path]:
    """Files matching ``pattern`` (``**`` recurses), sorted; a plain folder means every file in it."""
    full = resolve(pattern, base)
    if not has_glob(full):
        p = Path(full)
        if p.is_dir():
            return sorted(q for q in p.rglob("*") if q.is_file())
        return [p] if p.exists() else []
    return sorted(Path(p) for p in glob.glob(full, recursive=True) if os.path.isfile(p))


def relative_name(path: Path, pattern: str, base: Path) -> str:
    """The stable name of ``path`` used in record ids: relative to the glob's static root."""
    root = static_root(resolve(pattern, base))
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name
