"""The DCLM-style recipe around the quality classifier: sides from text SPECs, chunks, balance, AUC.

DCLM (Li et al. 2024, section 4.4) trains a fastText bigram classifier on reference text
(OpenHermes 2.5 and ELI5 answers) against unfiltered web text (RefinedWeb) and keeps the documents
that score high. The recipe here is that shape over files a user has:

* a **side** (positives or negatives) is a list of text SPECs in `curate eval`'s grammar
  (:mod:`curate.eval.textsets`): ``.txt[.gz]`` files (one document each), JSONL/Parquet/JSON-array
  rows with ``#COLUMN`` and ``?KEY=VALUE`` filters, ``strip_markup``; a folder stands for the
  Parquet and JSONL files under it (a ``curate run`` output's ``data/``). A SPEC may be named
  (``books=PATH``); a bare one is named after its position (``pos1``, ``neg2``, ...).
* **chunks**: long documents (books, a WikiText file) are cut at paragraph breaks into pieces of
  at most ``chunk_chars`` characters, so one book is many examples, not one averaged bag;
* **per-source cap** (``max_per_source``): a seeded sample of each SPEC's chunks, so a large source
  does not drown the others;
* **balance**: the larger side is sampled down to the smaller one (DCLM trains on equal counts);
* **held-out AUC**: the trained model scores held-out positives and negatives that the user names
  (never the training files); the AUC is the Mann-Whitney probability that a random positive
  scores above a random negative (ties count a half), overall and per positive set.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from curate.eval.textsets import TextSpec, parse_spec, read_spec
from curate.filters.classifier import QualityModel, load_scorer

_PARA = re.compile(r"\n[ \t]*\n")
_BARE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*=")


def side_spec(spec: str, default_name: str) -> TextSpec:
    """Parse ``[NAME=]SPEC``; a folder becomes the Parquet and JSONL files under it."""
    text = spec if _BARE.match(spec) else f"{default_name}={spec}"
    s = parse_spec(text)
    parts = []
    for part in s.path.split("|"):
        if os.path.isdir(part):
            found = sorted(str(p) for p in Path(part).rglob("*") if p.is_file() and _is_rows(p.name))
            if not found:
                raise FileNotFoundError(f"{s.name}: folder {part} holds no .parquet or .jsonl[.gz] files")
            parts += found
        else:
            parts.append(part)
    return TextSpec(s.name, "|".join(parts), s.column, s.filters, s.strip_markup)


def _is_rows(name: str) -> bool:
    return name.endswith(".parquet") or ".jsonl" in name


def chunk(doc: str, chunk_chars: int) -> list[str]:
    """Pieces of at most ``chunk_chars`` characters, cut at paragraph breaks (else at a space).

    ``chunk_chars <= 0`` keeps the document whole.
    """
    if chunk_chars <= 0 or len(doc) <= chunk_chars:
        return [doc.strip()] if doc.strip() else []
    out: list[str] = []
    cur = ""
    for para in _PARA.split(doc):
        para = para.strip()
        while len(para) > chunk_chars:  # one paragraph longer than a chunk: cut at the last space
            cut = para.rfind(" ", 0, chunk_chars)
            cut = cut if cut > 0 else chunk_chars
            if cur:
                out.append(cur)
                cur = ""
            out.append(para[:cut].strip())
            para = para[cut:].strip()
        if not para:
            continue
        if cur and len(cur) + 2 + len(para) > chunk_chars:
            out.append(cur)
            cur = para
        else:
            cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        out.append(cur)
    return [c for c in out if c]


@dataclass
class SourceCount:
    """What one SPEC gave: documents read, chunks cut, chunks kept after the cap."""

    name: str
    spec: str
    docs: int
    chunks: int
    kept: int


@dataclass
class Side:
    """The texts of one side, which SPEC each came from, and the counts per SPEC."""

    texts: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    counts: list[SourceCount] = field(default_factory=list)


def load_side(
    specs: list[str], prefix: str, chunk_chars: int = 4000, max_per_source: int | None = None, seed: int = 0
) -> Side:
    """Read, chunk and cap every SPEC of a side (see the module docstring)."""
    side = Side()
    names = set()
    for i, raw in enumerate(specs, 1):
        spec = side_spec(raw, f"{prefix}{i}")
        if spec.name in names:
            raise ValueError(f"two {prefix} sets are named {spec.name!r}; name them NAME=SPEC")
        names.add(spec.name)
        docs = read_spec(spec)
        chunks = [c for d in docs for c in chunk(d, chunk_chars)]
        if max_per_source is not None and len(chunks) > max_per_source:
            rng = np.random.default_rng([seed, i, len(chunks)])
            keep = np.sort(rng.choice(len(chunks), size=max_per_source, replace=False))
            kept = [chunks[k] for k in keep]
        else:
            kept = chunks
        if not kept:
            raise ValueError(f"{prefix} set {spec.name!r} ({raw}) gave no text")
        side.texts += kept
        side.source += [spec.name] * len(kept)
        side.counts.append(SourceCount(spec.name, raw, len(docs), len(chunks), len(kept)))
    return side


def balance(pos: Side, neg: Side, seed: int = 0) -> tuple[Side, Side]:
    """Sample the larger side down to the size of the smaller (a seeded sample, order kept)."""
    n = min(len(pos.texts), len(neg.texts))

    def down(s: Side, salt: int) -> Side:
        if len(s.texts) == n:
            return s
        keep = np.sort(np.random.default_rng([seed, salt]).choice(len(s.texts), size=n, replace=False))
        return Side([s.texts[k] for k in keep], [s.source[k] for k in keep], s.counts)

    return down(pos, 1), down(neg, 2)


def auc(pos_scores: np.ndarray, neg_scores: np.ndarray) -> float:
    """ROC AUC: P(a random positive scores above a random negative), ties counting a half."""
    pos_scores, neg_scores = np.asarray(pos_scores, float), np.asarray(neg_scores, float)
    if pos_scores.size == 0 or neg_scores.size == 0:
        return float("nan")
    allv = np.concatenate([pos_scores, neg_scores])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(allv.size)
    sorted_v = allv[order]
    # average ranks over ties (1-based), the Mann-Whitney U statistic's ranks
    _, start, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = start + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    r_pos = ranks[: pos_scores.size].sum()
    u = r_pos - pos_scores.size * (pos_scores.size + 1) / 2.0
    return float(u / (pos_scores.size * neg_scores.size))


def evaluate(score, pos: Side, neg: Side, threshold: float = 0.5) -> dict:
    """AUC of ``score`` (texts -> probabilities) on held-out sides, overall and per positive set."""
    t0 = time.perf_counter()
    sp = score(pl.Series(pos.texts, dtype=pl.Utf8))
    sn = score(pl.Series(neg.texts, dtype=pl.Utf8))
    seconds = time.perf_counter() - t0
    src = np.array(pos.source)
    per = {c.name: {"n": int((src == c.name).sum()), "auc": auc(sp[src == c.name], sn)} for c in pos.counts}
    nsrc = np.array(neg.source)
    per_neg = {
        c.name: {"n": int((nsrc == c.name).sum()), "auc": auc(sp, sn[nsrc == c.name])} for c in neg.counts
    }
    acc = (np.sum(sp >= threshold) + np.sum(sn < threshold)) / (sp.size + sn.size)
    return {
        "auc": auc(sp, sn),
        "accuracy": float(acc),
        "threshold": threshold,
        "positives": int(sp.size),
        "negatives": int(sn.size),
        "auc_by_positive_set": per,
        "auc_by_negative_set": per_neg,
        "score_docs_per_s": (sp.size + sn.size) / seconds if seconds > 0 else None,
        "pos_counts": [asdict(c) for c in pos.counts],
        "neg_counts": [asdict(c) for c in neg.counts],
    }


@dataclass
class RecipeOptions:
    """The recipe's knobs; ``curate classifier train`` exposes each as a flag."""

    chunk_chars: int = 4000
    max_per_source: int | None = None
    balance: bool = True
    epochs: int = 5
    # Adagrad's rate, picked on the recipe's own 10% validation split of the bench data (never the
    # held-out sets): validation AUC 0.841 at 0.1, 0.843 at 0.5, 0.841 at 1, 0.835 at 2, 0.827 at 5.
    lr: float = 0.5
    buckets: int = 1 << 20
    ngrams: int = 2
    seed: int = 0


def training_set(pos: list[str], neg: list[str], opt: RecipeOptions) -> tuple[Side, Side, dict]:
    """The chunked, capped, balanced positives and negatives, and their counts before balance."""
    p = load_side(pos, "pos", opt.chunk_chars, opt.max_per_source, opt.seed)
    n = load_side(neg, "neg", opt.chunk_chars, opt.max_per_source, opt.seed)
    before = {"positives": len(p.texts), "negatives": len(n.texts)}
    if opt.balance:
        p, n = balance(p, n, opt.seed)
    return p, n, before


def validation_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(validation, training) indices: a seeded 10% for the report's validation figures (none under 20)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, n // 10) if n >= 20 else 0
    return order[:n_val], order[n_val:]


def train_recipe(
    pos: list[str],
    neg: list[str],
    out: str,
    opt: RecipeOptions | None = None,
    eval_pos: list[str] = (),
    eval_neg: list[str] = (),
) -> dict:
    """Train on positives vs negatives, save the model to ``out`` and a report to ``out + '.json'``.

    The report holds the SPECs, the options, the counts per source, an internal 10% validation
    split's accuracy and AUC, the train docs/s and, given ``eval_pos`` and ``eval_neg``, the
    held-out AUC (:func:`evaluate`).
    """
    opt = opt or RecipeOptions()
    if bool(eval_pos) != bool(eval_neg):
        raise ValueError("held-out evaluation needs both --eval-pos and --eval-neg")
    p, n, before = training_set(pos, neg, opt)
    texts = pl.Series(p.texts + n.texts, dtype=pl.Utf8)
    labels = np.concatenate([np.ones(len(p.texts)), np.zeros(len(n.texts))])
    val, tr = validation_split(texts.len(), opt.seed)
    n_val = len(val)
    t0 = time.perf_counter()
    model = QualityModel(opt.buckets, opt.ngrams).fit(
        texts.gather(tr), labels[tr], epochs=opt.epochs, lr=opt.lr, seed=opt.seed
    )
    train_s = time.perf_counter() - t0
    report: dict = {
        "model": str(out),
        "options": asdict(opt),
        "pos": list(pos),
        "neg": list(neg),
        "before_balance": before,
        "positives": len(p.texts),
        "negatives": len(n.texts),
        "pos_counts": [asdict(c) for c in p.counts],
        "neg_counts": [asdict(c) for c in n.counts],
        "train_seconds": round(train_s, 3),
        "train_docs_per_s": round(len(tr) * opt.epochs / train_s, 1) if train_s > 0 else None,
    }
    if n_val:
        s = model.score(texts.gather(val))
        report["validation"] = {
            "n": int(n_val),
            "accuracy": float(((s > 0.5) == labels[val]).mean()),
            "auc": auc(s[labels[val] == 1], s[labels[val] == 0]),
        }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    if eval_pos:
        hp = load_side(list(eval_pos), "eval_pos", opt.chunk_chars, None, opt.seed)
        hn = load_side(list(eval_neg), "eval_neg", opt.chunk_chars, None, opt.seed)
        hp, hn, leaked = drop_seen(hp, hn, set(p.texts + n.texts))
        report["held_out"] = {
            **evaluate(model.score, hp, hn),
            "dropped_seen_in_training": leaked,
            "eval_pos": list(eval_pos),
            "eval_neg": list(eval_neg),
        }
    Path(f"{out}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def drop_seen(pos: Side, neg: Side, seen: set[str]) -> tuple[Side, Side, int]:
    """Held-out sides without the pieces whose exact text is also a training piece (and how many).

    Real corpora repeat themselves (the same page in two extraction benchmarks, a boilerplate
    paragraph): a piece seen in training would flatter the AUC.
    """

    def keep(s: Side) -> Side:
        idx = [i for i, t in enumerate(s.texts) if t not in seen]
        return Side([s.texts[i] for i in idx], [s.source[i] for i in idx], s.counts)

    kp, kn = keep(pos), keep(neg)
    return kp, kn, len(pos.texts) + len(neg.texts) - len(kp.texts) - len(kn.texts)


def evaluate_model(
    model: str,
    pos: list[str],
    neg: list[str],
    chunk_chars: int = 4000,
    label: str = "__label__hq",
    threshold: float = 0.5,
) -> dict:
    """Held-out AUC of a saved model (ours or a fastText ``.bin``) on the sides the SPECs name."""
    hp = load_side(pos, "pos", chunk_chars)
    hn = load_side(neg, "neg", chunk_chars)
    return {"model": model, **evaluate(load_scorer(model, label), hp, hn, threshold)}
