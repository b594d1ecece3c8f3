"""The pipeline spec: YAML in, a validated :class:`PipelineSpec` out, or one clear :class:`SpecError`.

Everything is checked before any work starts: unknown stages, unknown keys, wrong types, inputs that
match no file, bad globs. Each problem is reported as ``FILE:LINE: where: what (valid: ...)``.
CLI overrides (``--set output.shard_rows=5000``) are applied to the raw document first, so they are
validated like everything else and recorded in the manifest.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curate.engine.errors import SpecError
from curate.engine.registry import builtin_stages, is_import_path, resolve_stage
from curate.engine.stage import StageConfig
from curate.io.paths import expand_glob, has_glob, resolve, suggest_path

INPUT_KEYS = ("source", "reader", "paths")
TOP_KEYS = ("name", "seed", "inputs", "stages", "output", "batch_rows")


class InputSpec(BaseModel):
    """One input: a named source read by one reader from files matching ``paths``."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(description="Name of this source; becomes the `source` column and prefixes ids.")
    reader: str = Field(description="Reader: jsonl, parquet, text, code, hf, warc.")
    paths: list[str] = Field(
        description="Files, folders or globs (`**` recurses), relative to the current directory."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Reader options (the other keys of the entry)."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="This input's column mapping (canonical name -> column in its files, LLaMA-Factory "
        "style), applied to its rows by stages that take one (sft_normalize), so inputs in different "
        "layouts share one pipeline.",
    )


class OutputSpec(BaseModel):
    """Where and how shards are written."""

    model_config = ConfigDict(extra="forbid")
    path: str | None = Field(default=None, description="Output folder (OUT); `curate run -o` overrides it.")
    shard_rows: int = Field(default=100_000, gt=0, description="Rows per Parquet shard (at most).")
    min_shard_mb: float = Field(
        default=4.0,
        ge=0,
        description="Shards under this size are merged at the end of a run, in order, into shards of at "
        "least this size where there is enough (and at most shard_rows rows), per folder; reject files too. "
        "Each task writes its own shards, so without this many small inputs give many small shards. 0: no "
        "merging.",
    )
    row_group_rows: int = Field(default=8192, gt=0, description="Rows per Parquet row group.")
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = Field(
        default="zstd", description="Parquet codec."
    )
    compression_level: int | None = Field(
        default=3, description="Codec level (zstd 1-22); null for the default."
    )
    keep_rejects: bool = Field(
        default=False, description="Write dropped rows to OUT/rejects/<stage>/ with id, reason, stage."
    )


class StageSpec(BaseModel):
    """One stage entry: a registered name (or ``module:Class`` import path) and its validated config."""

    model_config = ConfigDict(extra="forbid")
    stage: str
    config: dict[str, Any] = Field(default_factory=dict)


class PipelineSpec(BaseModel):
    """A whole pipeline, validated. ``config_of(i)`` gives stage i's typed config."""

    model_config = ConfigDict(extra="forbid")
    name: str
    seed: int = 0
    batch_rows: int = Field(default=4096, gt=0, description="Rows per batch between stages.")
    inputs: list[InputSpec]
    stages: list[StageSpec] = Field(default_factory=list)
    output: OutputSpec = Field(default_factory=OutputSpec)
    # Where the spec came from and what was overridden: recorded, not hashed.
    origin: str = Field(default="<python>", exclude=True)
    overrides: list[str] = Field(default_factory=list, exclude=True)

    def stage_config(self, i: int) -> StageConfig:
        s = self.stages[i]
        return resolve_stage(s.stage).Config(**s.config)

    def hashed_dict(self) -> dict[str, Any]:
        """What defines the run's output: everything except where it is written."""
        d = self.model_dump(mode="json")
        d["output"].pop("path", None)
        return d

    def config_sha256(self) -> str:
        blob = json.dumps(self.hashed_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()


# --------------------------------------------------------------------------- YAML with line numbers


def _compose(text: str, origin: str) -> tuple[Any, dict[tuple, int]]:
    """Parse YAML into plain Python plus a map from key path to 1-based line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise SpecError([f"{origin}:{line}: not valid YAML: {getattr(e, 'problem', e)}"]) from None
    lines: dict[tuple, int] = {}

    def walk(n: yaml.Node | None, path: tuple) -> Any:
        if n is None:
            return None
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = k.value
                lines[path + (key,)] = k.start_mark.line + 1
                out[key] = walk(v, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [walk(v, path + (i,)) for i, v in enumerate(n.value)]
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_object(n, deep=True)
        except yaml.YAMLError as e:  # an unknown tag (`!foo`, `!!python/...`): never constructed
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
            raise SpecError(
                [
                    f"{origin}:{n.start_mark.line + 1}: {where + ': ' if where else ''}unknown YAML tag "
                    f"{n.tag!r} "
                    f"({getattr(e, 'problem', e)}); only plain YAML values are allowed"
                ]
            ) from None

    return walk(node, ()), lines


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand_env(value: Any) -> Any:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in every string of the document."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- overrides


def apply_override(doc: dict, assignment: str) -> tuple:
    """Apply ``a.b.c=value`` (value parsed as YAML) to the raw document in place; returns the
    path it set in the document (so a problem there is reported against the override).

    Path parts are mapping keys, list indices, or - inside ``stages`` - a stage name
    (``stages.langid.min_score=0.5`` sets the first ``langid`` stage's option).
    """
    if "=" not in assignment:
        raise SpecError([f"--set {assignment}: expected KEY=VALUE, e.g. output.shard_rows=5000"])
    key, _, raw = assignment.partition("=")
    value = yaml.safe_load(raw) if raw.strip() else ""
    parts = key.strip().split(".")
    cur: Any = doc
    where: list = []  # the path set, in document terms
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(cur, list):
            idx = _list_index(cur, part, key)
            where.append(idx)
            if last:
                cur[idx] = value
                return tuple(where)
            cur = cur[idx]
            if isinstance(cur, dict) and "stage" in cur:  # {stage: mod:Class, config: {...}}
                if cur.get("config") is None:
                    cur["config"] = {}
                cur = cur["config"]
                where.append("config")
            elif isinstance(cur, dict) and len(cur) == 1:  # {name: {...}}; `stages.0.name.key` also works
                name = next(iter(cur))
                if parts[i + 1] != name:
                    if cur[name] is None:
                        cur[name] = {}
                    cur = cur[name]
                    where.append(name)
            continue
        if not isinstance(cur, dict):
            raise SpecError([f"--set {assignment}: {'.'.join(parts[:i])} is not a mapping"])
        where.append(part)
        if last:
            cur[part] = value
            return tuple(where)
        if cur.get(part) is None:
            cur[part] = {}
        cur = cur[part]
    return tuple(where)


def _list_index(items: list, part: str, key: str) -> int:
    if part.lstrip("-").isdigit():
        idx = int(part)
        if -len(items) <= idx < len(items):
            return idx
        raise SpecError([f"--set {key}: index {idx} out of range (0..{len(items) - 1})"])
    for idx, item in enumerate(items):
        if isinstance(item, dict) and (part in item or str(item.get("stage", "")).rpartition(":")[2] == part):
            return idx
    names = [next(iter(it)) if isinstance(it, dict) and it else "?" for it in items]
    raise SpecError([f"--set {key}: no entry named {part!r} (entries: {', '.join(map(str, names))})"])


# --------------------------------------------------------------------------- validation


def load_spec(
    path: str | Path, overrides: list[str] | None = None, check_inputs: bool = True
) -> PipelineSpec:
    """Read, override, expand and validate a pipeline YAML file. Raises :class:`SpecError`."""
    path = Path(path)
    origin = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise SpecError([f"{origin}: cannot read pipeline file: {e.strerror}"]) from None
    doc, lines = _compose(text, origin)
    return spec_from_dict(doc, origin=origin, lines=lines, overrides=overrides, check_inputs=check_inputs)


def spec_from_dict(
    doc: Any,
    origin: str = "<python>",
    lines: dict[tuple, int] | None = None,
    overrides: list[str] | None = None,
    check_inputs: bool = True,
) -> PipelineSpec:
    """Validate a pipeline given as a dict (the same shape as the YAML file)."""
    lines = lines or {}
    if not isinstance(doc, dict):
        raise SpecError([f"{origin}:1: a pipeline file must be a mapping with keys {', '.join(TOP_KEYS)}"])
    doc = copy.deepcopy(doc)
    overridden: dict[tuple, str] = {}
    for ov in overrides or []:
        overridden[apply_override(doc, ov)] = ov
    doc = _expand_env(doc)
    v = _Validator(origin, lines, overridden)
    spec = v.validate(doc)
    if check_inputs:
        v.check_inputs(v.inputs)
    if v.problems:
        raise SpecError(v.problems)
    assert spec is not None
    spec.origin = origin
    spec.overrides = list(overrides or [])
    return spec


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Validator:
    def __init__(self, origin: str, lines: dict[tuple, int], overridden: dict[tuple, str] | None = None):
        self.origin = origin
        self.lines = lines
        self.overridden = overridden or {}  # document path -> the --set that put it there
        self.problems: list[str] = []
        self.inputs: list[tuple[int, InputSpec]] = []

    def line(self, path: tuple) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def err(self, path: tuple, msg: str) -> None:
        where = _fmt_path(path)
        for set_path, ov in self.overridden.items():
            if path[: len(set_path)] == set_path:  # the override put it there, not a line of the file
                self.problems.append(f"--set {ov}: {where + ': ' if where else ''}{msg}")
                return
        self.problems.append(f"{self.origin}:{self.line(path)}: {where + ': ' if where else ''}{msg}")

    def pydantic(self, base: tuple, e: ValidationError, model: type[BaseModel]) -> None:
        for item in e.errors():
            loc = base + tuple(item["loc"])
            if item["type"] == "extra_forbidden":
                valid = ", ".join(model.model_fields)
                key = str(item["loc"][-1])
                self.err(
                    loc,
                    f"unknown key {key!r}{_did_you_mean(key, list(model.model_fields))}; valid keys: {valid}",
                )
            elif item["type"] == "missing":
                self.err(loc, "required key is missing")
            else:
                got = item.get("input")
                self.err(loc, f"{item['msg']} (got {got!r})")

    def validate(self, doc: dict) -> PipelineSpec | None:
        for key in doc:
            if key not in TOP_KEYS:
                self.err(
                    (key,),
                    f"unknown key {key!r}{_did_you_mean(str(key), list(TOP_KEYS))}; valid keys: "
                    f"{', '.join(TOP_KEYS)}",
                )
        for key in ("name", "inputs"):
            if key not in doc:
                self.err((), f"required key {key!r} is missing")
        inputs = [self.input(i, x) for i, x in enumerate(doc.get("inputs") or [])]
        self.inputs = [(i, x) for i, x in enumerate(inputs) if x is not None]
        if "inputs" in doc and not doc.get("inputs"):
            self.err(("inputs",), "at least one input is required")
        stages = [self.stage(i, x) for i, x in enumerate(doc.get("stages") or [])]
        self.input_columns(inputs, stages)
        out = None
        try:
            out = OutputSpec(**(doc.get("output") or {}))
        except ValidationError as e:
            self.pydantic(("output",), e, OutputSpec)
        except TypeError:
            self.err(("output",), "must be a mapping")
        if self.problems:
            return None
        try:
            return PipelineSpec(
                name=doc.get("name"),
                seed=doc.get("seed", 0),
                batch_rows=doc.get("batch_rows", 4096),
                inputs=inputs,
                stages=stages,
                output=out,
            )
        except ValidationError as e:
            self.pydantic((), e, PipelineSpec)
            return None

    def input(self, i: int, x: Any) -> InputSpec | None:
        from curate.io.readers.base import readers

        path = ("inputs", i)
        if not isinstance(x, dict):
            self.err(
                path, "each input must be a mapping like {source: web, reader: warc, paths: 'cc/*.warc.gz'}"
            )
            return None
        for key in INPUT_KEYS:
            if key not in x:
                self.err(path, f"required key {key!r} is missing")
        if any(k not in x for k in INPUT_KEYS):
            return None
        all_readers = readers()
        reader = x["reader"]
        if reader not in all_readers:
            self.err(
                path + ("reader",),
                f"unknown reader {reader!r}{_did_you_mean(str(reader), list(all_readers))}; valid readers: "
                f"{', '.join(all_readers)}",
            )
            return None
        options = {k: v for k, v in x.items() if k not in (*INPUT_KEYS, "columns")}
        columns = x.get("columns") or {}
        if not isinstance(columns, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
        ):
            self.err(
                path + ("columns",),
                "columns must map names to column names, e.g. {query: context, response: answer}",
            )
            return None
        cfg_cls = all_readers[reader].Config
        try:
            cfg_cls(**options)
        except ValidationError as e:
            self.pydantic(path, e, cfg_cls)
            return None
        paths = x["paths"] if isinstance(x["paths"], list) else [x["paths"]]
        if not all(isinstance(p, str) for p in paths):
            self.err(path + ("paths",), "paths must be a string or a list of strings")
            return None
        return InputSpec(
            source=str(x["source"]), reader=reader, paths=paths, options=options, columns=columns
        )

    def stage(self, i: int, x: Any) -> StageSpec | None:
        path = ("stages", i)
        if isinstance(x, str):
            x = {x: {}}
        if not isinstance(x, dict) or not x:
            self.err(path, "each stage must be `- name: {options}` or `- stage: module:Class` with `config:`")
            return None
        if "stage" in x:
            name, config, cpath = x["stage"], x.get("config") or {}, path + ("config",)
            extra = set(x) - {"stage", "config"}
            if extra:
                self.err(path, f"unknown key(s) {sorted(extra)} beside `stage:`; valid keys: stage, config")
        elif len(x) == 1:
            name = next(iter(x))
            config, cpath = x[name] or {}, path + (name,)
        else:
            empty = [k for k, v in x.items() if v is None]
            if len(empty) == 1:  # `- sft_normalize:` with its options at the same indentation
                name = empty[0]
                opts = ", ".join(str(k) for k in x if k != name)
                self.err(
                    path, f"indent options under {name!r}: {opts} sit beside the stage name, not under it"
                )
            else:
                self.err(path, f"a stage entry has one key (the stage name), got {list(x)}")
            return None
        if not isinstance(config, dict):
            self.err(cpath, "stage options must be a mapping")
            return None
        try:
            cls = resolve_stage(str(name))
        except KeyError:
            choices = list(builtin_stages())
            self.err(
                path,
                f"unknown stage {name!r}{_did_you_mean(str(name), choices)}; valid stages: "
                f"{', '.join(choices)} (or module:Class for a custom stage)",
            )
            return None
        except (ImportError, AttributeError, TypeError) as e:
            what = "custom stage" if is_import_path(str(name)) else "stage"
            self.err(path, f"cannot load {what} {name!r}: {type(e).__name__}: {e}")
            return None
        try:
            cls.Config(**config)
        except ValidationError as e:
            self.pydantic(cpath, e, cls.Config)
            return None
        return StageSpec(stage=str(name), config=config)

    def input_columns(self, inputs: list[InputSpec | None], stages: list[StageSpec | None]) -> None:
        """Hand each input's ``columns:`` to the stages that apply them per source (``input_columns``)."""
        by_source: dict[str, dict[str, str]] = {}
        first = None
        for i, inp in enumerate(inputs):
            if inp is None or not inp.columns:
                continue
            first = first if first is not None else i
            if by_source.setdefault(inp.source, inp.columns) != inp.columns:
                self.err(
                    ("inputs", i, "columns"),
                    f"another input of source {inp.source!r} has other columns; "
                    "give inputs in different layouts their own source names",
                )
        if not by_source:
            return
        takers = [
            s
            for s in stages
            if s is not None and "input_columns" in resolve_stage(s.stage).Config.model_fields
        ]
        if not takers:
            self.err(("inputs", first, "columns"), "columns: on an input is applied by sft_normalize, "
                     "and this pipeline has no sft_normalize stage")
        for s in takers:
            s.config = {**s.config, "input_columns": {**by_source, **(s.config.get("input_columns") or {})}}

    def check_inputs(self, inputs: list[tuple[int, InputSpec]]) -> None:
        for i, inp in inputs:
            for j, pattern in enumerate(inp.paths):
                p = ("inputs", i, "paths") + ((j,) if len(inp.paths) > 1 else ())
                if pattern.count("[") != pattern.count("]"):
                    self.err(p, f"bad glob {pattern!r}: unbalanced [ ]")
                    continue
                try:
                    found = expand_glob(pattern, Path.cwd())
                except OSError as e:  # a bucket that cannot be listed: no credentials, no network
                    self.err(p, str(e))
                    continue
                if not found:
                    what = "matches no file" if has_glob(pattern) else "does not exist"
                    near = suggest_path(pattern, Path.cwd())
                    hint = f"; did you mean {near!r}?" if near else ""
                    self.err(p, f"{pattern!r} {what} (looked in {resolve(pattern, Path.cwd())}){hint}")


def _fmt_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def custom_stage_names(spec: PipelineSpec) -> list[str]:
    """Custom (import-path) stages in a spec: these run user code, so the CLI names them."""
    return [s.stage for s in spec.stages if is_import_path(s.stage)]
