"""lineage.json: which manifest and which shards (by sha256) a model was trained on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def find_manifest(data: str | Path) -> Path | None:
    """OUT/manifest.json for --data OUT/data (or OUT itself, or a file inside OUT/data)."""
    p = Path(data).resolve()
    for d in (p, *p.parents[:3]):
        m = d / "manifest.json"
        if m.is_file():
            return m
    return None


def find_chat_template(data: str | Path) -> Path | None:
    """OUT/chat_template.jinja, written by the SFT stage next to its manifest."""
    m = find_manifest(data)
    for d in ([m.parent] if m else []) + [Path(data).resolve().parent]:
        if (d / "chat_template.jinja").is_file():
            return d / "chat_template.jinja"
    return None


def data_lineage(data: str | Path, files: list[Path]) -> dict[str, Any]:
    """The manifest's hashes, and each shard used with the sha256 the manifest lists for it.

    Shards the manifest does not list (or data without a manifest) are hashed here.
    """
    man_path = find_manifest(data)
    listed: dict[str, dict] = {}
    out: dict[str, Any] = {"data": str(data), "manifest": None}
    root = None
    if man_path is not None:
        man = json.loads(man_path.read_text())
        root = man_path.parent
        out["manifest"] = {"path": str(man_path), "sha256": sha256_file(man_path),
                           "config_sha256": man.get("config_sha256")}
        for s in man.get("shards", []):
            listed[str((root / s["path"]).resolve())] = s
    shards = []
    for f in files:
        key = str(Path(f).resolve())
        s = listed.get(key)
        rel = str(Path(f).resolve().relative_to(root)) if root and key.startswith(str(root)) else str(f)
        if s and s.get("sha256"):
            shards.append({"path": rel, "sha256": s["sha256"], "rows": s.get("rows"), "from": "manifest"})
        else:
            shards.append({"path": rel, "sha256": sha256_file(f), "rows": None, "from": "hashed"})
    out["shards"] = shards
    return out


def write_lineage(run_dir: str | Path, *, task: str, data: dict, eval_data: dict | None, init_from: str | None,
                  tokenizer: str | None, steps: int, tokens: int, config: dict) -> dict:
    """Write RUN/lineage.json; a parent run's lineage (init_from) is nested, so SFT names pretraining too."""
    parent = None
    if init_from and (Path(init_from) / "lineage.json").is_file():
        parent = json.loads((Path(init_from) / "lineage.json").read_text())
    lin = {"task": task, "train_data": data, "eval_data": eval_data, "init_from": init_from,
           "tokenizer": tokenizer, "steps": steps, "tokens": tokens, "config": config, "parent": parent}
    Path(run_dir, "lineage.json").write_text(json.dumps(lin, indent=2))
    return lin
