"""lineage.json: which manifest and which shards (by sha256) a model was trained on."""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Any

from . import storage
from .storage import sha256_file


def _candidates(data: str | Path) -> list[str | Path]:
    """``data`` and up to three folders above it: where OUT (its manifest) may be."""
    if storage.is_uri(data):
        out, d = [str(data).rstrip("/")], str(data).rstrip("/")
        for _ in range(3):
            d = storage.parent(d)
            if "://" not in d or d.endswith(":/"):
                break
            out.append(d)
        return out
    p = Path(data).resolve()
    return [p, *p.parents[:3]]


def _join(d: str | Path, name: str) -> str | Path:
    return f"{d}/{name}" if isinstance(d, str) else d / name


def find_manifest(data: str | Path) -> str | Path | None:
    """OUT/manifest.json for --data OUT/data (or OUT itself, or a file inside OUT/data); a URI for
    data behind one."""
    for d in _candidates(data):
        m = _join(d, "manifest.json")
        if storage.is_file(m):
            return m
    return None


def find_chat_template(data: str | Path) -> str | Path | None:
    """OUT/chat_template.jinja, written by the SFT stage next to its manifest."""
    m = find_manifest(data)
    here = _candidates(data)[1:2]  # the folder above data
    for d in ([storage.parent(str(m)) if storage.is_uri(m) else Path(m).parent] if m else []) + here:
        t = _join(d, "chat_template.jinja")
        if storage.is_file(t):
            return t
    return None


def read_text(path: str | Path) -> str:
    return storage.read_bytes(path).decode("utf-8")


def data_lineage(data: str | Path | list, files: list) -> dict[str, Any]:
    """The manifest's hashes, and each shard used with the sha256 the manifest lists for it.

    Shards the manifest does not list (or data without a manifest) are hashed here. Several
    --data entries (or a glob) give one lineage per entry under "sources".
    """
    if isinstance(data, list | tuple) or any(c in str(data) for c in "*?["):
        from .data import list_shards

        entries = (
            list(data) if isinstance(data, list | tuple) else sorted(glob.glob(str(data), recursive=True))
        )
        if len(entries) == 1 and isinstance(data, list | tuple):
            return data_lineage(entries[0], files)
        used, parts = {str(f) for f in files}, []
        for d in entries:
            mine = [f for f in list_shards(d) if str(f) in used]
            if mine:
                parts.append(data_lineage(d, mine))
        return {"data": data if isinstance(data, str) else list(data), "manifest": None,
                "shards": [s for p in parts for s in p["shards"]], "sources": parts}
    man_path = find_manifest(data)
    remote = storage.is_uri(data)
    listed: dict[str, dict] = {}
    out: dict[str, Any] = {"data": str(data), "manifest": None}
    root = None
    if man_path is not None:
        man = json.loads(read_text(man_path))
        root = storage.parent(str(man_path)) if remote else Path(man_path).parent
        out["manifest"] = {"path": str(man_path), "sha256": sha256_file(man_path),
                           "config_sha256": man.get("config_sha256")}
        for s in man.get("shards", []):
            listed[f"{root}/{s['path']}" if remote else str((root / s["path"]).resolve())] = s
    shards = []
    for f in files:
        key = str(f) if remote else str(Path(f).resolve())
        s = listed.get(key)
        inside = root is not None and key.startswith(str(root) + "/")
        rel = key[len(str(root)) + 1:] if inside else str(f)
        if s and s.get("sha256"):
            shards.append({"path": rel, "sha256": s["sha256"], "rows": s.get("rows"), "from": "manifest"})
        else:
            shards.append({"path": rel, "sha256": sha256_file(f), "rows": None, "from": "hashed"})
    out["shards"] = shards
    return out


def write_lineage(
    run_dir: str | Path,
    *,
    task: str,
    data: dict,
    eval_data: dict | None,
    init_from: str | None,
    tokenizer: str | None,
    steps: int,
    tokens: int,
    config: dict,
) -> dict:
    """Write RUN/lineage.json; a parent run's lineage (init_from) is nested, so SFT names pretraining too."""
    parent = None
    if init_from and (Path(init_from) / "lineage.json").is_file():
        parent = json.loads((Path(init_from) / "lineage.json").read_text())
    lin = {"task": task, "train_data": data, "eval_data": eval_data, "init_from": init_from,
           "tokenizer": tokenizer, "steps": steps, "tokens": tokens, "config": config, "parent": parent}
    Path(run_dir, "lineage.json").write_text(json.dumps(lin, indent=2))
    return lin
