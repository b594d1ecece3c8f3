"""What a search hands on: OUT/mix.yaml (a ready `mix` stage block) and OUT/candidates.csv.

mix.yaml is a pipeline fragment: an `inputs:` list reading each source's shards (Parquet, `source:`
set to the source's name, the group `mix` weights) and a `stages:` list holding the `mix` stage
with the chosen weights, `unit: tokens`, the bounds' budget as `total`, the bounds as `max_epochs`
and `caps`, and the search's tokenizer; the header comments carry the predicted and measured
losses and the candidates' table. Paste the stage into a pipeline, or run the fragment after
adding a `format` stage and an `output:`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from curate.io.writer import write_bytes_atomic


def mix_block(doc: dict[str, Any]) -> dict[str, Any]:
    """The `mix` stage's config for the chosen weights (plain data, as the stage's YAML takes it)."""
    cfg = doc["config"]
    b = cfg["bounds"]
    names = list(doc["sources"])
    me = b["max_epochs"]
    block: dict[str, Any] = {
        "weights": doc["fit"]["chosen"]["weights"],
        "unit": "tokens",
        "total": int(doc["bounds_tokens"]),
        "max_epochs": {n: float(me.get(n, 4.0)) for n in names} if isinstance(me, dict) else float(me),
        "tokenizer": doc["tokenizer"]["path"],
        "seed": cfg["seed"],
    }
    if b.get("caps"):
        block["caps"] = {k: float(v) for k, v in b["caps"].items()}
    return block


def _header(doc: dict[str, Any]) -> list[str]:
    fit = doc["fit"]
    lines = [
        f"# curate mix search {doc['name']}: the chosen mix for {doc['bounds_tokens']:,} tokens",
        f"# regression {fit['model']['model']}, k-fold Spearman (held-out candidates) "
        f"{_n(fit['model']['spearman_oof'])}",
        f"# predicted target bpb: chosen {_n(fit['chosen']['predicted'])}, natural "
        f"{_n(fit['anchors']['natural']['predicted'])}, uniform {_n(fit['anchors']['uniform']['predicted'])}",
        f"# best measured proxy {fit['best_measured']['name']}: {_n(fit['best_measured']['target'])}",
    ]
    val = doc.get("validation")
    if val:
        t = val["table"]
        lines.append(
            "# validation (" + ", ".join(f"{k} {_n(t[k]['mean'])}" for k in t) + f"), "
            f"beats natural and uniform by 3 std: {val['beats_both']}"
        )
    names = list(doc["sources"])
    lines.append("# candidates (achieved token shares -> measured / out-of-fold predicted target bpb):")
    lines.append("#   name  " + "  ".join(f"{n:>8.8}" for n in names) + "  measured  predicted")
    for r in doc["candidates"]:
        lines.append(
            "#   "
            + r["name"]
            + "  "
            + "  ".join(f"{r['shares'][n]:8.4f}" for n in names)
            + f"  {_n(r['target']):>8}  {_n(r.get('predicted_oof')):>9}"
        )
    return lines


def _n(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def _glob(data: str) -> str:
    """A source folder as the input glob of its shards (a file or a glob stays as it is)."""
    return f"{data.rstrip('/')}/**/*.parquet" if Path(data).is_dir() else data


def render_mix_yaml(doc: dict[str, Any]) -> str:
    """mix.yaml's text: the header comments, `inputs:` for the sources, `stages: [mix: ...]`."""
    inputs = [
        {"source": n, "reader": "parquet", "paths": _glob(s["data"])} for n, s in doc["sources"].items()
    ]
    body = yaml.safe_dump(
        {"inputs": inputs, "stages": [{"mix": mix_block(doc)}]}, sort_keys=False, default_flow_style=False
    )
    return "\n".join(_header(doc)) + "\n" + body


def write_mix_block(doc: dict[str, Any], path: Path) -> Path:
    write_bytes_atomic(path, render_mix_yaml(doc).encode("utf-8"))
    return path


def write_candidates_csv(doc: dict[str, Any], path: Path) -> Path:
    """One row per proxy: requested and achieved shares, epochs, bpb per target set, target, predictions."""
    names = list(doc["sources"])
    sets = list(doc["target_weights"])
    head = (
        ["name", "status"]
        + [f"requested_{n}" for n in names]
        + [f"share_{n}" for n in names]
        + [f"epochs_{n}" for n in names]
        + [f"bpb_{s}" for s in sets]
        + ["target", "predicted_oof", "predicted", "tokens", "train_s"]
    )
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(head)
        for r in doc["candidates"]:
            wr.writerow(
                [r["name"], r["status"]]
                + [r["requested"][n] for n in names]
                + [r["shares"][n] for n in names]
                + [r["epochs"][n] for n in names]
                + [(r["bpb"] or {}).get(s) for s in sets]
                + [r["target"], r.get("predicted_oof"), r.get("predicted"), r["tokens"], r["train_s"]]
            )
    tmp.replace(path)
    return path
