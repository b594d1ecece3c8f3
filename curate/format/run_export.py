"""``curate export RUN``: a finished run's tokenized shards to Megatron-LM, nanoGPT or MDS files.

The same writers as ``format: {export: [...]}`` (:func:`curate.format.export.write_exports`), fed
the shards the run's ``manifest.json`` lists, in its order: an export made afterwards is byte-for-
byte the one the run would have written with the same targets and seed. Everything is checked
before anything is written (the manifest, every shard's presence and size, the tokenized columns,
one token dtype), and each problem is an :class:`ExportError` naming the file and what was expected.

``OUT/<target>/`` holds each target's files, ``OUT/export.json`` the run it came from plus the
manifest-style entry (documents, tokens, files with sizes and sha256), ``OUT/_work/`` the done
marker that lets a re-run with unchanged shards and options keep the files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.format.documents import COLUMNS
from curate.format.export import TARGETS, write_exports

TOKEN_DTYPES = {pa.uint16(): np.dtype(np.uint16), pa.uint32(): np.dtype(np.uint32)}


class ExportError(ValueError):
    """A run folder that cannot be exported, or an OUT that would overwrite it: the message says why."""


def export_run(
    run_dir: str | Path,
    out: str | Path,
    targets: list[str],
    shuffle_seed: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Export ``run_dir``'s tokenized shards to ``out/<target>/`` for each of ``targets``.

    ``shuffle_seed`` permutes whole documents (``default_rng(seed).permutation``, as the stage's
    ``export_shuffle``); None keeps the shards' order. Returns what ``out/export.json`` holds.
    """
    run_dir, out = Path(run_dir), Path(out)
    targets = _check_targets(targets)
    manifest_path, manifest = _read_manifest(run_dir)
    _check_out(run_dir, out)
    shards = list(manifest["shards"])
    paths = [_check_shard(run_dir, manifest_path, s) for s in shards]
    dtype = _token_dtype(paths)
    shuffle = shuffle_seed is not None
    key = {
        "shards": [[s["path"], s["sha256"]] for s in shards],
        "export": targets,
        "shuffle": shuffle,
        "seed": shuffle_seed,
    }
    entry = write_exports(
        paths, out, out / "_work", targets, dtype, shuffle, shuffle_seed or 0, key,
        relative_to=out, progress=progress,
    )
    from curate.io.writer import write_json_atomic

    record = {
        "run": str(run_dir.resolve()),
        "name": manifest.get("name"),
        "config_sha256": manifest.get("config_sha256"),
        "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
        **entry,
    }
    write_json_atomic(out / "export.json", record)
    return record


def _check_targets(targets: list[str]) -> list[str]:
    if not targets:
        raise ExportError(f"no export target: give --to with one or more of {', '.join(TARGETS)}")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ExportError(f"unknown export target {', '.join(unknown)} (valid: {', '.join(TARGETS)})")
    if len(set(targets)) != len(targets):
        raise ExportError(f"an export target is named twice: {', '.join(targets)}")
    return list(targets)


def _read_manifest(run_dir: Path) -> tuple[Path, dict]:
    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: not a folder; expected a finished curate run folder (curate run -o)")
    path = run_dir / "manifest.json"
    if not path.is_file():
        why = (
            "the run has not finished (its _work/ is there; manifest.json is written last)"
            if (run_dir / "_work").is_dir()
            else "expected the folder `curate run -o` wrote (its manifest.json, data/)"
        )
        raise ExportError(f"{path}: not found; {why}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExportError(f"{path}: not valid JSON ({e}); expected a curate run manifest") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise ExportError(f"{path}: no shards list; expected a curate run manifest (shards: [{{path, ...}}])")
    if not manifest["shards"]:
        raise ExportError(f"{path}: the run wrote no shards; there is nothing to export")
    return path, manifest


def _check_out(run_dir: Path, out: Path) -> None:
    run, dest = run_dir.resolve(), out.resolve()
    if dest == run or dest.is_relative_to(run / "data"):
        raise ExportError(
            f"{out}: would write into the run's own folder or its data/; give another -o "
            f"(e.g. {run_dir / 'export'}, or a folder outside the run)"
        )
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out}: exists and is not a folder; -o names the folder the targets go in")


def _check_shard(run_dir: Path, manifest_path: Path, shard: dict) -> Path:
    if not isinstance(shard, dict) or "path" not in shard or "sha256" not in shard:
        raise ExportError(f"{manifest_path}: a shard entry without path/sha256: {shard!r}")
    path = run_dir / shard["path"]
    if not path.is_file():
        raise ExportError(f"{path}: listed in {manifest_path} but missing")
    size = path.stat().st_size
    if "bytes" in shard and size != shard["bytes"]:
        raise ExportError(
            f"{path}: {size:,} bytes, {manifest_path} says {shard['bytes']:,}: the shard changed after the "
            "run finished (re-run the pipeline to rebuild it)"
        )
    return path


def _token_dtype(paths: list[Path]) -> np.dtype:
    """The token dtype of ``input_ids``, the same in every shard, after checking the columns exports need."""
    dtype = None
    for path in paths:
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowInvalid, OSError) as e:
            raise ExportError(f"{path}: not a readable Parquet file ({e})") from None
        if "input_ids" not in schema.names:
            kind = "pretrain text rows" if "text" in schema.names else f"columns {', '.join(schema.names)}"
            raise ExportError(
                f"{path}: no input_ids column ({kind}); export needs a tokenized run, whose last stage "
                "is format: {kind: tokenized, tokenizer: ...}"
            )
        missing = [c for c in COLUMNS if c not in schema.names]
        if missing:
            sft = " (SFT rows are examples, not documents)" if "labels" in schema.names else ""
            raise ExportError(
                f"{path}: no {', '.join(missing)} column{sft}; export needs documents, i.e. format: "
                "{kind: tokenized, boundaries: true} (the default)"
            )
        typ = schema.field("input_ids").type
        value = typ.value_type if pa.types.is_list(typ) or pa.types.is_large_list(typ) else None
        if value not in TOKEN_DTYPES:
            raise ExportError(f"{path}: input_ids is {typ}; expected a list of uint16 or uint32 token ids")
        if dtype is not None and TOKEN_DTYPES[value] != dtype:
            raise ExportError(f"{path}: input_ids is list<{value}> but earlier shards hold {dtype.name} ids")
        dtype = TOKEN_DTYPES[value]
    return dtype
