"""May this run start, or resume, in this folder? The checks before any task runs.

One run per folder (:class:`~curate.engine.lock.RunLock`: a ``flock``, or a lease on a store); a
folder that holds a run with another config, other input files or other library versions is
refused with what changed named (``force=True`` clears it and starts over); temp files a killed
run left are swept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from curate.engine.errors import RunRefused
from curate.engine.fingerprint import changes as fingerprint_changes
from curate.engine.fingerprint import digest as fingerprint_digest
from curate.engine.layout import RunLayout
from curate.engine.lock import RunLock
from curate.engine.publish import bound_output, clear, remote_manifest
from curate.engine.spec import PipelineSpec
from curate.io.writer import sweep_temp_files, write_json_atomic

# Libraries whose version can change output bytes (hashing, parsing, writing, extraction, tokens).
VERSIONED = ("curate", "polars", "pyarrow", "numpy", "orjson", "xxhash", "fastwarc", "trafilatura",
             "resiliparse", "fasttext-predict", "tokenizers")


def run_lock(layout: RunLayout) -> RunLock:
    """An exclusive lock on the output folder for the run's duration (released by the OS on kill)."""
    return RunLock.local(layout.lock, str(layout.root))


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(d, list):
        out = {}
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: d}


def changed_keys(old: dict, new: dict) -> list[str]:
    """The dotted keys (``stages[0].config.min_chars``) whose values differ between two configs."""
    a, b = _flatten(old), _flatten(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def refusal(layout: RunLayout, spec: PipelineSpec, inputs: dict | None) -> str | None:
    """Why a run of ``spec`` over ``inputs`` (a fingerprint; None: not checked) may not resume in
    this folder: another config, other library versions, changed input files. None: it may."""
    if not layout.spec.exists():
        return None
    old = json.loads(layout.spec.read_text())
    if old.get("config_sha256") != spec.config_sha256():
        keys = changed_keys(old.get("config", {}), spec.hashed_dict())
        return (
            f"{layout.root} holds a run with a different config (changed: {', '.join(keys) or '?'}); "
            "use --force to start over, or another output folder"
        )
    now = library_versions()
    moved = {k: v for k, v in (old.get("versions") or {}).items() if now.get(k) != v}
    if moved:
        what = ", ".join(f"{k} {v} -> {now.get(k)}" for k, v in moved.items())
        pins = " ".join(f"{k}=={v}" for k, v in moved.items())
        return (
            f"{layout.root} was begun with other library versions ({what}); finished tasks "
            f"might not match new ones byte for byte. Reinstall them (pip install {pins}) to resume, "
            "or use --force to start over"
        )
    if inputs is not None and old.get("inputs_sha256") not in (None, fingerprint_digest(inputs)):
        inputs_file = layout.work / "inputs.json"
        before = json.loads(inputs_file.read_text()) if inputs_file.exists() else {}
        what = "\n  ".join(fingerprint_changes(before, inputs)) or "?"
        return (
            f"{layout.root} was built from files that have changed since (finished tasks would be stale):\n  "
            f"{what}\n"
            "use --force to start over, or another output folder"
        )
    return None


def check_or_record_spec(layout: RunLayout, spec: PipelineSpec, inputs: dict, force: bool) -> None:
    """Refuse to resume a folder whose run had another config or read other files; else record ours."""
    new = spec.hashed_dict()
    inputs_file = layout.work / "inputs.json"
    if layout.spec.exists() and not force:
        why = refusal(layout, spec, inputs)
        if why:
            raise RunRefused(why)
        return
    if force:
        for p in (layout.data, layout.rejects, layout.work, layout.logs):
            shutil.rmtree(p, ignore_errors=True)
        for p in (layout.manifest, layout.stats, layout.report, layout.root / "chat_template.jinja"):
            p.unlink(missing_ok=True)
    write_json_atomic(inputs_file, inputs)
    write_json_atomic(layout.spec, {
        "config": new,
        "config_sha256": spec.config_sha256(),
        "inputs_sha256": fingerprint_digest(inputs),
        "versions": library_versions(),
        # where the run came from, so `curate status` can tell whether re-running it would resume
        "origin": str(Path(spec.origin).resolve()) if Path(spec.origin).is_file() else spec.origin,
        "overrides": spec.overrides,
        "cwd": os.getcwd(),
    })


def check_remote(layout: RunLayout, uri: str, spec: PipelineSpec, force: bool) -> None:
    """A URI output: refuse a work folder that serves another output, or overwriting another
    config's output; ``force`` clears the output's contract files first."""
    bound = bound_output(layout)
    if bound not in (None, uri):
        raise RunRefused(
            f"work folder {layout.root} belongs to the run publishing to {bound}; give another --work-dir"
        )
    if force:
        clear(uri)
        return
    old = remote_manifest(uri)
    if old is not None and old.get("config_sha256") != spec.config_sha256():
        keys = changed_keys(old.get("config", {}), spec.hashed_dict())
        raise RunRefused(
            f"{uri} holds the output of a run with a different config (changed: {', '.join(keys) or '?'}); "
            "use --force to replace it, or another output"
        )


def sweep(layout: RunLayout) -> int:
    """Remove the temp files a killed or failed run left in the folder; returns how many."""
    return sweep_temp_files(layout.root)


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries a run's bytes depend on (recorded when a run begins)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def resume_advice(layout: RunLayout) -> str:
    """What to run to finish a stopped or failed run in this folder, checked the way a re-run would
    check it: the pipeline file it came from, loaded again, against the config, library versions
    and input files the folder's run began with."""
    import shlex

    from curate.engine.errors import SpecError
    from curate.engine.fingerprint import fingerprint
    from curate.engine.plan import plan_units
    from curate.engine.spec import load_spec

    layout = RunLayout(layout.root.resolve())  # the advice must work from any directory
    old = json.loads(layout.spec.read_text()) if layout.spec.exists() else {}
    origin, overrides = old.get("origin"), old.get("overrides") or []
    if not origin or not Path(origin).is_file():
        return ("re-run the same command to resume (if the pipeline changed since, that run is refused: "
                "add --force to start over, or use another -o)")
    sets = "".join(f" --set {shlex.quote(o)}" for o in overrides)
    command = f"curate run {shlex.quote(origin)} -o {shlex.quote(str(layout.root))}{sets}"
    here = os.getcwd()
    try:
        os.chdir(old.get("cwd") or here)  # input globs are relative to where the run started
        spec = load_spec(origin, overrides, check_inputs=False)
        try:
            units = plan_units(spec)
            inputs = fingerprint([f.path for u in units for f in u.files], [s.config for s in spec.stages])
        except Exception:  # inputs gone or unreadable: the re-run will say so itself
            inputs = None
        why = refusal(layout, spec, inputs)
    except SpecError as e:
        return f"{origin} no longer loads ({e.problems[0]}); fix it, then resume with: {command}"
    finally:
        os.chdir(here)
    if why:
        return f"re-running {origin} here is refused: {why} (e.g. {command} --force)"
    return f"fix the cause, then resume with: {command}"
