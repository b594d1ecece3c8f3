"""The search's sources in memory, and one mixed shard folder per candidate, by the `mix` arithmetic.

A source is a folder of text shards: its documents, their ids (the `id` column, else
``NAME/<file>/<row>``) and their tokens under the search's tokenizer (one EOS after each document,
as the trainer packs text rows and as `curate ablate` counts them). A candidate's data is what
the `mix` stage would select for those weights at that total: `curate.mix.plan`'s budgets and its
hash-ranked selection (``xxh64(id, seed)``), whole copies plus a ranked prefix per source, exact
to one document. The same seed for every candidate makes selections nested (a source's documents
at a smaller weight are a prefix of those at a larger one), so candidates differ by their weights,
not by which documents the dice picked. Rows are shuffled (seeded) and written as one Parquet file.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .config import SearchConfig, SearchError

DONE = "mix_plan.json"  # written last in a candidate's data folder: its selection, achieved shares
SHARD = "part-00000.parquet"  # the one shard of a candidate's data folder
_U64 = (1 << 64) - 1


@dataclass
class Source:
    """One mix group's documents, ready to select from."""

    name: str
    data: str
    texts: list[str]
    ids: list[str]
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per document
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    shards: list[dict[str, Any]] = field(default_factory=list)  # lineage: path + sha256

    @property
    def size(self) -> int:
        return int(self.tokens.sum())


def doc_hashes(ids: list[str], seed: int) -> np.ndarray:
    """``xxh64(id, seed)``: the `mix` stage's rank (the same function, so the same documents win)."""
    import xxhash

    f, s = xxhash.xxh64_intdigest, seed & _U64
    return np.fromiter((f(i.encode(), s) for i in ids), dtype=np.uint64, count=len(ids))


def load_source(cfg: SearchConfig, name: str) -> Source:
    """Read a source's text shards (documents with empty text are left out: they train nothing)."""
    from curate.train.data import detect_kind, list_shards
    from curate.train.lineage import data_lineage

    spec = cfg.sources[name]
    data = cfg.resolve(spec.data)
    try:
        files = list_shards(data)
    except FileNotFoundError as e:
        raise SearchError(f"source {name}: {e}") from None
    kind = detect_kind(files, "pretrain")
    if kind != "text":
        raise SearchError(
            f"source {name}: {data} holds {kind} rows; the search mixes text shards "
            "(the `mix` stage runs before `format`)"
        )
    texts, ids = [], []
    for fi, f in enumerate(files):
        cols = pq.read_schema(f).names
        want = [spec.text_column] + (["id"] if "id" in cols else [])
        t = pq.read_table(f, columns=want)
        tx = t.column(spec.text_column).to_pylist()
        ix = t.column("id").to_pylist() if "id" in cols else [None] * len(tx)
        for r, (txt, i) in enumerate(zip(tx, ix, strict=True)):
            if txt:
                texts.append(txt)
                ids.append(str(i) if i is not None else f"{name}/{fi}/{r}")
    if not texts:
        raise SearchError(f"source {name}: no text under {data}")
    lin = data_lineage(data, files)
    return Source(
        name,
        str(data),
        texts,
        ids,
        shards=[{"path": s["path"], "sha256": s["sha256"]} for s in lin.get("shards", [])],
    )


def count_tokens(src: Source, tokenizer: Any, seed: int, batch: int = 512) -> None:
    """Tokens per document (plus one EOS) and the selection hashes."""
    n = []
    for i in range(0, len(src.texts), batch):
        enc = tokenizer(src.texts[i : i + batch], add_special_tokens=False)["input_ids"]
        n.extend(len(x) + 1 for x in enc)
    src.tokens = np.asarray(n, dtype=np.int64)
    src.hashes = doc_hashes(src.ids, seed)


def select_mix(sources: list[Source], weights: dict[str, float], total: int) -> dict[str, Any]:
    """The `mix` stage's plan for these weights at `total` tokens: copies and hash thresholds per source.

    No max_epochs here: the weights come from inside the bounds, which already say how much of a
    source the mix may take at the budget it is meant for.
    """
    from curate.mix.plan import plan_budgets, select

    sizes = {s.name: s.size for s in sources}
    docs = {s.name: len(s.texts) for s in sources}
    huge = {s.name: 1e12 for s in sources}
    plans, _ = plan_budgets(sizes, docs, weights, float(total), caps={}, max_epochs=huge)
    for s in sources:
        select(s.tokens, s.hashes, plans[s.name])
    achieved = sum(p.units for p in plans.values())
    return {
        "plans": plans,
        "total": achieved,
        "shares": {s.name: plans[s.name].units / achieved if achieved else 0.0 for s in sources},
        "epochs": {s.name: plans[s.name].epochs for s in sources},
    }


def write_mix(
    sources: list[Source], weights: dict[str, float], total: int, folder: Path, seed: int, key: str
) -> dict[str, Any]:
    """Write the candidate's shard folder (FOLDER/data/part-00000.parquet) unless it is there with
    the same key; returns its plan record (requested and achieved shares, epochs, tokens)."""
    done = folder / DONE
    if done.is_file() and (folder / "data" / SHARD).is_file():
        rec = json.loads(done.read_text())
        if rec.get("key") == key:
            return rec
    # (written again when only the marker came back from another machine: the same bytes, since
    # selection, order and the Parquet writer are deterministic, so the proxy's key still matches)
    sel = select_mix(sources, weights, total)
    texts, srcs, ids = [], [], []
    for s in sources:
        p = sel["plans"][s.name]
        extra = (
            s.hashes < np.uint64(min(p.threshold, _U64))
            if p.threshold < (1 << 64)
            else np.ones(len(s.texts), dtype=bool)
        )
        copies = p.copies + extra.astype(np.int64)
        for i in np.nonzero(copies)[0]:
            for c in range(int(copies[i])):
                texts.append(s.texts[i])
                srcs.append(s.name)
                ids.append(s.ids[i] if c == 0 else f"{s.ids[i]}#r{c}")
    order = np.random.default_rng(seed).permutation(len(texts))
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "data").mkdir(parents=True)
    table = pa.table(
        {"id": [ids[i] for i in order], "source": [srcs[i] for i in order], "text": [texts[i] for i in order]}
    )
    pq.write_table(table, tmp / "data" / SHARD, row_group_size=256, compression="zstd")
    rec = {
        "key": key,
        "requested": weights,
        "shares": sel["shares"],
        "epochs": sel["epochs"],
        "tokens": sel["total"],
        "rows": len(texts),
        "plans": {
            n: {"copies": p.copies, "threshold": str(p.threshold), "units": p.units, "rows": p.rows}
            for n, p in sel["plans"].items()
        },
    }
    (tmp / DONE).write_text(json.dumps(rec, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return rec
