"""Prepare each arm: run its pipeline if it has one, find its shards, count its unique tokens.

An arm's lineage is the manifest `curate run` wrote beside its shards (its sha256 and the
pipeline config's hash) plus each shard's sha256, as the trainer's lineage.json records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .config import AblationConfig, AblationError, ArmSpec


@dataclass
class Arm:
    """An arm ready to train on: its shard folder, row kind and lineage."""

    name: str
    data: str
    kind: str                         # "text" | "tokens"
    lineage: dict[str, Any] = field(default_factory=dict)
    row_len: int | None = None        # tokenized rows: tokens per row (seq_len + 1)
    unique_tokens: int | None = None  # tokens one pass over the arm's data trains on
    text_bytes: int | None = None
    overlap: dict[str, Any] | None = None  # per held-out text set: n-gram share in the arm's text


def prepare_arm(cfg: AblationConfig, name: str, spec: ArmSpec, out: Path, quiet: bool = False) -> Arm:
    """Run the arm's pipeline (resuming; finished tasks are skipped) or take its shard folder."""
    pipeline = None
    if spec.pipeline is not None:
        from curate.engine.runner import run_pipeline
        from curate.engine.spec import SpecError, load_spec

        pipeline = cfg.resolve(spec.pipeline)
        try:
            pspec = load_spec(pipeline, overrides=list(spec.set))
        except SpecError as e:
            raise AblationError(
                f"arm {name}: invalid pipeline {pipeline}\n" + "\n".join(f"  {p}" for p in e.problems)
            ) from None
        arm_out = out / "arms" / name
        print(f"arm {name}: running {pipeline} into {arm_out}", flush=True)
        run_pipeline(pspec, out=arm_out, workers=spec.workers, quiet=quiet)
        data = str(arm_out / "data")
    else:
        data = cfg.resolve(spec.data)
    from curate.train.data import detect_kind, list_shards
    from curate.train.lineage import data_lineage

    try:
        files = list_shards(data)
    except FileNotFoundError as e:
        raise AblationError(f"arm {name}: {e}") from None
    if not files:
        raise AblationError(f"arm {name}: no .parquet shards under {data}")
    kind = detect_kind(files, "pretrain")
    if kind not in ("text", "tokens"):
        raise AblationError(
            f"arm {name}: {data} holds {kind} rows; an ablation pretrains on text or tokenized shards"
        )
    lineage = data_lineage(data, files)
    lineage["pipeline"] = pipeline
    lineage["overrides"] = list(spec.set)
    arm = Arm(name=name, data=data, kind=kind, lineage=lineage)
    if kind == "tokens":
        lens = {
            len(r)
            for f in files[:1]
            for r in pq.read_table(f, columns=["input_ids"]).column(0).slice(0, 8).to_pylist()
        }
        arm.row_len = max(lens)
    return arm


def shard_files(arm: Arm) -> list:
    from curate.train.data import list_shards

    return list_shards(arm.data)


def count_tokens(arm: Arm, tokenizer: Any, batch_rows: int = 1024) -> None:
    """Fill `unique_tokens` (what one epoch trains on) and `text_bytes` of the arm.

    Text rows are tokenized with the ablation's tokenizer, one EOS after each document, exactly as
    the trainer packs them; tokenized rows are counted as stored.
    """
    n_tok, n_bytes = 0, 0
    for f in shard_files(arm):
        pf = pq.ParquetFile(f)
        if arm.kind == "tokens":
            for rg in range(pf.metadata.num_row_groups):
                col = pf.read_row_group(rg, columns=["input_ids"]).column(0)
                import pyarrow.compute as pc

                n_tok += int(pc.sum(pc.list_value_length(col)).as_py() or 0)
            continue
        for batch in pf.iter_batches(batch_size=batch_rows, columns=["text"]):
            texts = [t for t in batch.column(0).to_pylist() if t]
            if not texts:
                continue
            n_bytes += sum(len(t.encode("utf-8")) for t in texts)
            n_tok += sum(len(ids) + 1 for ids in tokenizer(texts, add_special_tokens=False)["input_ids"])
    arm.unique_tokens, arm.text_bytes = n_tok, (n_bytes if arm.kind == "text" else None)


def measure_overlap(arm: Arm, sets: dict[str, list[str]], n: int, batch_rows: int = 1024) -> None:
    """Fill `overlap`: how much of each held-out set the arm's training text holds verbatim."""
    if arm.kind != "text" or n <= 0:
        return
    try:
        from .overlap import OverlapCounter  # Polars hashes the words: the curation stack
    except ImportError as e:
        print(f"arm {arm.name}: held-out overlap not measured here ({e}); a run of the same "
              "ablation where the curation stack is installed adds it", flush=True)
        return

    counter = OverlapCounter(sets, n)
    for f in shard_files(arm):
        for batch in pq.ParquetFile(f).iter_batches(batch_size=batch_rows, columns=["text"]):
            counter.add([t for t in batch.column(0).to_pylist() if t])
    arm.overlap = counter.result()


def sample_for_tokenizer(arms: list[Arm], folder: Path, sample_bytes: int) -> list[Path]:
    """One Parquet file per arm, each with the same number of text bytes.

    Each arm gives up to `sample_bytes / n_arms`, spread over its shards (`iter_sample_texts`, so
    an arm of many shards is not represented by its first files only); then every sample is cut to
    the smallest one, so a small arm is not outweighed by a large one.
    """
    import pyarrow as pa

    from curate.train.tokenizer import iter_sample_texts

    from .scoring import bounded

    folder.mkdir(parents=True, exist_ok=True)
    per_arm = max(1, sample_bytes // len(arms))
    samples = {}
    for arm in arms:
        if arm.kind != "text":
            raise AblationError(
                f"arm {arm.name} holds tokenized rows: give `tokenizer:` the directory they were tokenized "
                "with"
            )
        samples[arm.name] = [t for b in iter_sample_texts(shard_files(arm), per_arm) for t in b]
    even = min(sum(len(t.encode("utf-8")) for t in texts) for texts in samples.values())
    if even == 0:
        raise AblationError("an arm has no text to train the tokenizer on")
    out = []
    for name, texts in samples.items():
        p = folder / f"{name}.parquet"
        pq.write_table(pa.table({"text": bounded(texts, even)}), p)
        out.append(p)
    return out
