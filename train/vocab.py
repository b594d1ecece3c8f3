"""Before the first step: do the shards' token ids fit the tokenizer and the model?

Shards tokenized with one tokenizer and trained with another (or with a model whose embedding
table is smaller) would otherwise fail deep inside PyTorch with an IndexError on the embedding.
The largest id is read from the Parquet column statistics (no data read); a row group written
without statistics is read for that column only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from .config import TrainConfig
from .data import Unit, first_source
from .lineage import find_manifest, read_text
from .storage import open_parquet

# the columns that hold token ids, per shard kind (labels repeat input_ids or are -100)
ID_COLUMNS = {
    "tokens": ("input_ids",),
    "sft": ("input_ids",),
    "dpo": ("chosen_input_ids", "rejected_input_ids"),
}


def token_id_range(units: list[Unit], kind: str) -> tuple[int, int] | None:
    """(smallest, largest) token id in the row groups of `units` (None: no id columns / rows)."""
    cols = ID_COLUMNS.get(kind)
    if not cols:
        return None
    lo, hi = None, None
    for path, row_group in sorted({(u.path, u.row_group) for u in units}):
        pf = open_parquet(path)
        md = pf.metadata
        for j in range(md.num_columns):
            top = md.schema.column(j).path.split(".")[0]
            if top not in cols:
                continue
            st = md.row_group(row_group).column(j).statistics
            if st is not None and st.has_min_max:
                mn, mx = int(st.min), int(st.max)
            else:  # no statistics: read this column of this row group
                arr = pc.list_flatten(pf.read_row_group(row_group, columns=[top]).column(top))
                mm = pc.min_max(arr).as_py()
                if mm["min"] is None:
                    continue
                mn, mx = int(mm["min"]), int(mm["max"])
            lo = mn if lo is None else min(lo, mn)
            hi = mx if hi is None else max(hi, mx)
    return None if hi is None else (lo, hi)


def manifest_tokenizer(data: str) -> str | None:
    """The tokenizer folder the pipeline that wrote `data` names (its `tokenizer:` option), if any."""
    m = find_manifest(data)
    if m is None:
        return None
    try:
        config = json.loads(read_text(m)).get("config")
    except (OSError, ValueError):
        return None
    found: list[str] = []

    def walk(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "tokenizer" and isinstance(v, str):
                    found.append(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(config)
    return found[-1] if found else None


def check_vocab(cfg: TrainConfig, units: list[Unit], kind: str, tokenizer: Any, embeddings: int) -> None:
    """Raise ValueError naming what to pass when the shards' ids exceed the tokenizer or the model."""
    rng = token_id_range(units, kind)
    if rng is None:
        return
    lo, hi = rng
    tok_src = cfg.tokenizer or cfg.init_from
    if lo < 0:
        raise ValueError(
            f"{cfg.data}: the shards hold negative token ids ({lo}); they are not token ids of any "
            f"tokenizer (a labels column stored as input_ids?)"
        )
    n_tok = len(tokenizer)
    if hi < n_tok and hi < embeddings:
        return
    hint = manifest_tokenizer(first_source(cfg.data))
    same = hint is not None and tok_src is not None and Path(hint).resolve() == Path(tok_src).resolve()
    where = f" (the pipeline that wrote them used --tokenizer {hint})" if hint and not same else ""
    if hi >= n_tok:
        frm = " and --from a model trained with that tokenizer" if cfg.init_from else ""
        raise ValueError(f"{cfg.data}: the shards hold token ids up to {hi}, but the tokenizer {tok_src} has "
                         f"{n_tok} tokens: they were tokenized with another tokenizer. Pass --tokenizer the "
                         f"tokenizer that wrote them{where}{frm}")
    raise ValueError(
        f"{cfg.data}: the shards hold token ids up to {hi}, but the model has {embeddings} embeddings "
        f"(tokenizer {tok_src}: {n_tok} tokens). Pass --from a model whose vocabulary covers the "
        f"tokenizer, or --preset to build one sized to it"
    )
