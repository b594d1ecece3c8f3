"""SEARCH.yaml: sources, a weighted target, a proxy recipe and budget, candidates, bounds, validation.

    name: web-books-code
    out: out/mixsearch                 # `curate mix search -o` overrides it
    sources:                           # shard folders (OUT/data of `curate run`), one per mix group
      web: sources/web/data
      books: {data: sources/books/data}
    target:                            # held-out text sets, as `curate eval` / `curate ablate` take them
      gold: {paths: heldout/gold_en.jsonl.gz, weight: 1}
      books: {paths: heldout/books, weight: 1}
      wikitext: heldout/wikitext_test.txt.gz          # weight 1
    tokenizer: {train: {vocab_size: 8192, sample_bytes: 20000000}}   # or a tokenizer directory
    train: {preset: tiny, seq_len: 256, batch_size: 32, lr: 3.0e-3}  # any `curate train` key
    budget: {epochs_of_smallest: 1.0}  # or {tokens: 2e6}: training tokens per proxy
    candidates: 64
    seed: 0
    sampler: {concentration: 1.0, spread: [0.3, 3.0]}
    bounds: {max_epochs: 4, caps: {web: 5.0e6}, max_weight: {}, min_weight: {}}
    regression: {model: auto, folds: 5, search_samples: 100000, top_k: 100}
    eval: {max_bytes: 300000, batch_size: 16}
    validate: {budget: {epochs_of_smallest: 3}, seeds: [0, 1, 2]}

Relative paths are resolved against the YAML file's folder. Bounds hold at the budget the chosen
mix is meant for (`bounds.budget`, default the validation budget, else the search budget): a
source may get at most `min(cap, max_epochs x its tokens) / that budget` of the mix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.ablate.config import OWNED_TRAIN_KEYS, TextSetSpec, TokenizerSpec, load_yaml_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _float_int(v: Any) -> Any:
    return int(float(v)) if isinstance(v, str | float) else v  # `2e6` in YAML


class SourceSpec(_Strict):
    """One mix group: a folder of text shards (what `mix` sees as one value of its `by` column)."""

    data: str = Field(description="Shard folder (OUT/data of `curate run`) or one Parquet file.")
    text_column: str = "text"


class TargetSetSpec(TextSetSpec):
    """A held-out text set of the target, with its weight in the target loss."""

    weight: float = Field(default=1.0, gt=0, description="Weight of this set's bits per byte (normalised).")


class Budget(_Strict):
    """Training tokens: given, or a number of epochs of the smallest source (in tokens)."""

    tokens: int | None = Field(default=None, gt=0)
    epochs_of_smallest: float | None = Field(default=None, gt=0)

    @field_validator("tokens", mode="before")
    @classmethod
    def _float_tokens(cls, v: Any) -> Any:
        return _float_int(v)

    @model_validator(mode="after")
    def _one(self) -> Budget:
        if (self.tokens is None) == (self.epochs_of_smallest is None):
            raise ValueError("a budget is `tokens: N` or `epochs_of_smallest: E`, exactly one of them")
        return self

    def resolve(self, smallest_tokens: int) -> int:
        """Training tokens, given the smallest source's unique tokens."""
        if self.tokens is not None:
            return self.tokens
        return max(1, round(self.epochs_of_smallest * smallest_tokens))


class SamplerSpec(_Strict):
    """Candidates ~ Dirichlet(alpha = c x n_sources x natural share), c log-uniform in concentration x spread.

    A wide spread gives both near-natural candidates (large c) and corner ones (small c), as RegMix's
    sampler does; `floor` keeps a tiny source's alpha from vanishing.
    """

    concentration: float = Field(default=1.0, gt=0)
    spread: tuple[float, float] = (0.3, 3.0)
    floor: float = Field(default=0.02, ge=0, lt=1, description="Least share a source's alpha is built on.")
    include_anchors: bool = Field(
        default=True, description="Candidates 0 and 1 are the natural and the uniform mix (under the bounds)."
    )

    @model_validator(mode="after")
    def _spread(self) -> SamplerSpec:
        if not 0 < self.spread[0] <= self.spread[1]:
            raise ValueError("sampler.spread is [low, high] with 0 < low <= high")
        return self


class BoundsSpec(_Strict):
    """Limits every candidate and the searched mix respect (also written into the `mix` block)."""

    max_epochs: float | dict[str, float] = Field(
        default=4.0, description="Most passes over a source at the bounds' budget (one value or per source)."
    )
    caps: dict[str, float] = Field(
        default_factory=dict, description="Most tokens of a source at that budget."
    )
    max_weight: dict[str, float] = Field(default_factory=dict, description="Largest share per source.")
    min_weight: dict[str, float] = Field(default_factory=dict, description="Smallest share per source.")
    budget: Budget | None = Field(default=None, description="Budget the bounds hold at (default: see above).")

    @model_validator(mode="after")
    def _ranges(self) -> BoundsSpec:
        me = self.max_epochs if isinstance(self.max_epochs, dict) else {"*": self.max_epochs}
        if any(v <= 0 for v in me.values()) or any(v <= 0 for v in self.caps.values()):
            raise ValueError("bounds: max_epochs and caps must be > 0")
        for k, d in (("max_weight", self.max_weight), ("min_weight", self.min_weight)):
            if any(not 0 <= v <= 1 for v in d.values()):
                raise ValueError(f"bounds.{k}: shares are between 0 and 1")
        return self

    def epochs_of(self, source: str) -> float:
        return self.max_epochs.get(source, 4.0) if isinstance(self.max_epochs, dict) else self.max_epochs


class RegressionSpec(_Strict):
    """The regression from candidate weights to target loss, its cross-validation and the search over it."""

    model: Literal["auto", "quadratic", "gbm", "lightgbm"] = Field(
        default="auto", description="auto: every model available, the best by k-fold Spearman."
    )
    folds: int = Field(default=5, ge=2)
    ridge: float = Field(default=1e-4, ge=0, description="quadratic: ridge penalty on standardised features.")
    search_samples: int = Field(default=100_000, ge=100, description="Points of the prior scored by the fit.")
    top_k: int = Field(default=100, ge=1, description="The chosen mix is the mean of the k best (RegMix).")
    trust: float | None = Field(
        default=0.05,
        ge=0,
        description="Search only where the proxies measured: each source's share within the candidates' "
        "[min, max] widened by this much (null: the whole prior). A fit extrapolates outside its data.",
    )


class EvalSpec(_Strict):
    max_bytes: int | None = Field(
        default=300_000, gt=0, description="Bytes of each target set a proxy is scored on (None: all)."
    )
    batch_size: int = Field(default=16, ge=1)


class ValidateSpec(_Strict):
    """Train the chosen, the natural and the uniform mix at a larger budget, over seeds (an ablation)."""

    budget: Budget
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    max_bytes: int | None = Field(default=None, gt=0, description="Bytes per target set (default: all).")
    points: int = Field(default=5, ge=1, description="Curve points per run.")
    train: dict[str, Any] = Field(default_factory=dict, description="`curate train` keys over the search's.")


class SearchConfig(_Strict):
    """The whole search (see the module docstring for an example)."""

    name: str = "mix-search"
    out: str | None = None
    sources: dict[str, SourceSpec]
    target: dict[str, TargetSetSpec]
    tokenizer: TokenizerSpec
    train: dict[str, Any] = Field(default_factory=dict, description="`curate train` keys of every proxy.")
    budget: Budget
    candidates: int = Field(default=64, ge=4)
    seed: int = 0
    sampler: SamplerSpec = Field(default_factory=SamplerSpec)
    bounds: BoundsSpec = Field(default_factory=BoundsSpec)
    regression: RegressionSpec = Field(default_factory=RegressionSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    validate_: ValidateSpec | None = Field(default=None, alias="validate")
    base_dir: str = Field(default=".", exclude=True)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("sources", mode="before")
    @classmethod
    def _source_strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"data": s} if isinstance(s, str) else s for k, s in v.items()}
        return v

    @field_validator("target", mode="before")
    @classmethod
    def _target_strings(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: {"paths": s} if isinstance(s, str) else s for k, s in v.items()}
        return v

    @field_validator("tokenizer", mode="before")
    @classmethod
    def _tok_string(cls, v: Any) -> Any:
        return {"path": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        if len(self.sources) < 2:
            raise ValueError("sources: a mix needs at least two sources")
        if not self.target:
            raise ValueError("target: give at least one held-out text set")
        for name in self.sources:
            if not name or "/" in name or name.startswith(".") or name in ("natural", "uniform", "chosen"):
                raise ValueError(f"source name {name!r} must be a plain folder name (and not a mix name)")
        b = self.bounds
        unknown = sorted(
            (
                set(b.caps)
                | set(b.max_weight)
                | set(b.min_weight)
                | (set(b.max_epochs) if isinstance(b.max_epochs, dict) else set())
            )
            - set(self.sources)
        )
        if unknown:
            raise ValueError(f"bounds name {unknown}, which are not sources ({sorted(self.sources)})")
        if sum(b.min_weight.values()) > 1:
            raise ValueError("bounds.min_weight adds up to more than 1")
        for s in self.sources:
            if b.min_weight.get(s, 0.0) > b.max_weight.get(s, 1.0):
                raise ValueError(f"bounds: min_weight of {s!r} is above its max_weight")
        owned = sorted(
            OWNED_TRAIN_KEYS & (set(self.train) | set(self.validate_.train if self.validate_ else {}))
        )
        if owned:
            raise ValueError(f"train: {owned} are set by the search itself (budget, seeds, candidates)")
        from curate.train.config import TrainConfig  # a dataclass: no torch needed

        TrainConfig.from_dict(dict(self.train))
        if self.validate_ is not None:
            TrainConfig.from_dict({**self.train, **self.validate_.train})
            if len(set(self.validate_.seeds)) != len(self.validate_.seeds):
                raise ValueError(f"validate.seeds {self.validate_.seeds} repeat a seed")
        if self.regression.folds > self.candidates:
            raise ValueError("regression.folds is larger than the number of candidates")
        return self

    def resolve(self, path: str | None) -> str | None:
        """A path from the YAML, relative to the YAML's folder (globs and URIs kept)."""
        if path is None or "://" in path or Path(path).is_absolute():
            return path
        return str(Path(self.base_dir) / path)

    def target_weights(self) -> dict[str, float]:
        total = sum(t.weight for t in self.target.values())
        return {k: t.weight / total for k, t in self.target.items()}

    def to_json(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json(by_alias=True))


class SearchError(ValueError):
    """A config, source or step that cannot run, with one readable message."""


def load_search(path: str | Path, out: str | None = None) -> SearchConfig:
    """Read and validate SEARCH.yaml; `out` overrides its `out:`."""
    return load_yaml_config(path, SearchConfig, SearchError, "mix search", out)
