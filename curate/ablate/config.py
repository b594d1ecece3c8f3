"""ABLATION.yaml: arms, one tokenizer, one training recipe, a token budget, seeds, evaluation.

    name: web-arms
    out: out/ablation                  # `curate ablate -o` overrides it
    baseline: raw                      # paired differences are taken against this arm
    arms:
      raw:    {data: out/raw/data}                       # shards written by `curate run`
      curate: {pipeline: pipelines/web.yaml,             # run first, into OUT/arms/curate
               set: ["inputs.0.paths=data/train/*.warc.gz"]}
    tokenizer: {train: {vocab_size: 8192, sample_bytes: 64000000}}   # or a tokenizer directory
    train: {preset: small, seq_len: 512, batch_size: 32, lr: 3.0e-3}  # any `curate train` key
    tokens: 5.2e6                      # training tokens per run, the same for every arm
    seeds: [0, 1, 2]
    eval:
      text: {gold: {paths: heldout.parquet, column: gold_text, where: {split: heldout}},
             books: "books/*.txt"}
      points: 10                       # evaluations along each run (the curves)
      max_bytes: 200000                # per text set, for the curve points
      tasks_dir: data/evals            # multiple-choice tasks for the final evaluation
      overlap_ngram: 13                # held-out 13-grams found in each arm's text (0: off)

Relative paths are resolved against the YAML file's folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

M = TypeVar("M", bound=BaseModel)

# TrainConfig keys the ablation owns: every arm must get the same value, computed from the budget.
OWNED_TRAIN_KEYS = {"task", "data", "out", "tokenizer", "max_steps", "seed", "eval_data", "eval_rows",
                    "eval_interval", "ckpt_interval", "resume", "init_from"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ArmSpec(_Strict):
    """One arm: a shard folder, or a pipeline to run first (its output is the arm's data)."""

    data: str | None = Field(
        default=None, description="Shard folder (OUT/data of `curate run`) or one Parquet file."
    )
    pipeline: str | None = Field(default=None, description="Pipeline YAML to run into OUT/arms/NAME first.")
    set: list[str] = Field(
        default_factory=list, description="KEY=VALUE overrides for the pipeline (e.g. its inputs)."
    )
    workers: int = Field(default=1, ge=1, description="Worker processes for the pipeline run.")

    @model_validator(mode="after")
    def _one_source(self) -> ArmSpec:
        if (self.data is None) == (self.pipeline is None):
            raise ValueError(
                "an arm needs exactly one of `data` (a shard folder) or `pipeline` (a YAML to run)"
            )
        if self.set and self.pipeline is None:
            raise ValueError("`set` overrides apply to a `pipeline` arm only")
        return self


class TokenizerTrain(_Strict):
    vocab_size: int = Field(default=8192, ge=261)
    sample_bytes: int = Field(
        default=64_000_000, gt=0, description="Total text sampled, split evenly over the arms."
    )
    min_frequency: int = Field(default=2, ge=1)


class TokenizerSpec(_Strict):
    """A tokenizer directory, or `train:` one on an even sample of every arm (equal bytes per arm)."""

    path: str | None = None
    train: TokenizerTrain | None = None

    @model_validator(mode="after")
    def _one(self) -> TokenizerSpec:
        if (self.path is None) == (self.train is None):
            raise ValueError("tokenizer: give a directory (a string) or `train: {vocab_size: ...}`")
        return self


class TextSetSpec(_Strict):
    """Held-out text: plain .txt[.gz] files, or JSONL/Parquet with a text column and row filters."""

    paths: str | list[str] = Field(description="File, folder or glob, or a list of them (read in order).")
    column: str = "text"
    where: dict[str, Any] = Field(
        default_factory=dict, description="Keep rows whose columns equal these values."
    )
    strip_markup: bool = False


class EvalSpec(_Strict):
    text: dict[str, TextSetSpec] = Field(description="Held-out text sets by name (at least one).")
    points: int = Field(default=10, ge=1, description="Evaluations along each run (the curves).")
    max_bytes: int = Field(
        default=200_000, gt=0, description="Bytes of each text set scored at a curve point."
    )
    final_max_bytes: int | None = Field(
        default=None, description="Bytes per set for the final eval (default: all)."
    )
    tasks_dir: str | None = Field(default=None, description="Task files (curate eval's) for the final eval.")
    task_limit: int | None = Field(
        default=None, gt=0, description="First N items of each task (default: all)."
    )
    batch_size: int = Field(default=16, ge=1)
    overlap_ngram: int = Field(
        default=13, ge=0,
        description="Report the share of each text set's word n-grams found verbatim in each arm's "
        "training text (memorisation, not generalisation); 0 turns it off.",
    )

    @field_validator("text", mode="before")
    @classmethod
    def _strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"paths": s} if isinstance(s, str) else s for k, s in v.items()}
        return v

    @model_validator(mode="after")
    def _some(self) -> EvalSpec:
        if not self.text:
            raise ValueError("eval.text needs at least one held-out text set")
        return self


class AblationConfig(_Strict):
    """The whole ablation (see the module docstring for an example)."""

    name: str = "ablation"
    out: str | None = None
    arms: dict[str, ArmSpec]
    baseline: str | None = Field(
        default=None, description="Arm the paired differences are taken against (default: the first)."
    )
    tokenizer: TokenizerSpec
    train: dict[str, Any] = Field(
        default_factory=dict, description="`curate train` keys shared by every run."
    )
    tokens: int = Field(gt=0, description="Training tokens per run (the same for every arm).")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    checkpoint_interval: int | None = Field(default=None, ge=0, description=(
        "Steps between checkpoints (what a killed run resumes from); default: every curve point, "
        "0: only at the end of each run."))
    eval: EvalSpec
    base_dir: str = Field(default=".", exclude=True)

    @field_validator("tokens", mode="before")
    @classmethod
    def _float_tokens(cls, v: Any) -> Any:
        return int(float(v)) if isinstance(v, str | float) else v  # `5.2e6` in YAML

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _tok_string(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> AblationConfig:
        if not self.arms:
            raise ValueError("arms: give at least one arm")
        for name in self.arms:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"arm name {name!r} must be a plain folder name")
        if self.baseline is None:
            self.baseline = next(iter(self.arms))
        if self.baseline not in self.arms:
            raise ValueError(f"baseline {self.baseline!r} is not an arm; arms: {list(self.arms)}")
        owned = sorted(OWNED_TRAIN_KEYS & set(self.train))
        if owned:
            raise ValueError(
                f"train: {owned} are set by the ablation itself (tokens, seeds, arms), not per run"
            )
        from curate.train.config import TrainConfig  # a dataclass: no torch needed

        TrainConfig.from_dict(dict(self.train))  # unknown keys: one message naming the valid ones
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds} repeat a seed")
        return self

    def resolve(self, path: str | None) -> str | None:
        """A path from the YAML, relative to the YAML's folder (globs and URIs kept)."""
        if path is None or "://" in path or Path(path).is_absolute():
            return path
        return str(Path(self.base_dir) / path)

    def to_json(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())


class AblationError(ValueError):
    """A config or arm that cannot run, with one readable message."""


def load_yaml_config(path: str | Path, model: type[M], error: type[ValueError], what: str,
                     out: str | None = None) -> M:
    """Read and validate a YAML job file (ablation, mix search) as `model`: paths in it resolve
    against its folder (`base_dir`), `out` overrides its `out:`; every problem is one `error`
    naming the file."""
    import yaml

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror}") from None
    if not isinstance(doc, dict):
        raise error(f"{p}: expected a mapping at the top level")
    doc["base_dir"] = str(p.resolve().parent)
    if out is not None:
        doc["out"] = str(Path(out).resolve())  # -o is relative to the working folder
    try:
        cfg = model.model_validate(doc)
    except ValidationError as e:
        lines = [f"  {'.'.join(str(x) for x in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()]
        raise error(f"{p}: invalid {what}\n" + "\n".join(lines)) from None
    if getattr(cfg, "out", None) is None:
        raise error(f"{p}: no output folder: set `out:` or give -o OUT")
    return cfg


def load_ablation(path: str | Path, out: str | None = None) -> AblationConfig:
    """Read and validate ABLATION.yaml; `out` overrides its `out:`."""
    return load_yaml_config(path, AblationConfig, AblationError, "ablation", out)
