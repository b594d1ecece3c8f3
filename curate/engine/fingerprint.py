"""What a run read: input files (local or remote) and the local files its stage configs point at (tokenizers,
block lists, eval sets), as (size, mtime) per file.

Resuming is only correct if nothing the finished tasks read has changed since. The runner records
this fingerprint when a run starts and refuses to resume when it differs, naming what changed;
`--force` starts over. Size + modification time is what make and rsync trust: cheap for millions
of files, and any rewrite of a file (even with the same bytes) counts as a change.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from curate.io import storage

MAX_FILES_PER_CONFIG_DIR = 10_000


def _stat(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _config_paths(value: Any) -> Iterable[str]:
    """Local paths named by string values anywhere in a stage config (``hf:DIR`` included)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _config_paths(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _config_paths(v)
    elif isinstance(value, str) and value:
        candidate = value[3:] if value.startswith("hf:") else value
        # A bare word ("text", "en") that happens to name a folder here is not a path reference.
        if (os.sep in candidate and os.path.exists(candidate)) or os.path.isfile(candidate):
            yield candidate


def fingerprint(input_files: Iterable[str], stage_configs: Iterable[dict]) -> dict[str, list[int] | None]:
    """``{path: [size, mtime_ns]}`` for every input file and every file a stage config points at."""
    out: dict[str, list[int] | None] = {}
    remote = []
    for f in input_files:
        if storage.is_uri(f):
            remote.append(f)
        else:
            out[str(Path(f).resolve())] = _stat(f)
    out.update(storage.stat_many(remote))
    for cfg in stage_configs:
        for p in _config_paths(cfg):
            root = Path(p).resolve()
            if root.is_dir():
                for i, f in enumerate(sorted(q for q in root.rglob("*") if q.is_file())):
                    if i >= MAX_FILES_PER_CONFIG_DIR:
                        break
                    out[str(f)] = _stat(str(f))
            else:
                out[str(root)] = _stat(str(root))
    return dict(sorted(out.items()))


def digest(fp: dict) -> str:
    return hashlib.sha256(json.dumps(fp, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def changes(old: dict, new: dict, limit: int = 8) -> list[str]:
    """Human lines for what differs: added, removed, modified files (at most ``limit``, then a count)."""
    lines = []
    for path in sorted(set(old) | set(new)):
        if path not in old:
            lines.append(f"new: {path}")
        elif path not in new:
            lines.append(f"gone: {path}")
        elif old[path] != new[path]:
            lines.append(f"modified: {path}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines
