"""The quality-classifier recipe on real data, and real fastText trained on the same data.

    CURATE_SHARED_DATA=../shared/data python bench/classifier.py [-o out/bench/classifier]
        [--fasttext] [--max-per-source 2000] [--chunk-chars 4000]

1. Negatives from web_real (../shared/data): every page's full visible text, as a WET file
   carries it (resiliparse, `main_content=False`, the `extract` of pipelines/web.yaml), written
   per split: OUT/raw_train.parquet (`train` pages only) and OUT/raw_heldout.parquet.
2. The recipe (`curate classifier train`, :mod:`curate.filters.classifier_recipe`) with the
   positives of issue 17: Gutenberg books of the first 30 authors (Barrie ... Jowett), WikiText-103
   `valid`, the gold text of the `train` pages, Alpaca responses (`alpaca_en_demo.json#output`);
   negatives: OUT/raw_train.parquet. Held out (never trained on): the gold text of the `heldout`
   pages, WikiText-103 `test`, the books of the other 30 authors, against OUT/raw_heldout.parquet.
   Prints the exact `curate classifier train` command it ran; the report is OUT/quality.bin.json.
3. With `--fasttext`: the identical training documents (same chunks, balance and 10% validation
   split, lower-cased words as our features see them) go to real fastText 0.9.2 in .venv-fasttext
   (bench/make_fasttext_venv.sh; bench/fasttext_ref.py runs there), which predicts the same held-out
   documents. Both sides run on one thread (POLARS_MAX_THREADS=1, fastText `thread=1`).

Prints AUC (overall and per held-out positive set), the gap, train and predict docs/s and ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one thread, as fastText's thread=1
_HERE = os.path.dirname(os.path.abspath(__file__))
# bench/tokenize.py shadows the stdlib module: put bench/ last on the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CURATE_SHARED_DATA", REPO.parent / "shared" / "data"))
FT_PYTHON = REPO / ".venv-fasttext" / "bin" / "python"


def raw_pages(shared: Path, out: Path) -> dict:
    """OUT/raw_<split>.parquet: url, lang and full visible text of each web_real page, by split."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    if all((out / f"raw_{s}.parquet").exists() for s in ("train", "heldout")):
        return {
            s: pl.scan_parquet(out / f"raw_{s}.parquet").select(pl.len()).collect().item()
            for s in ("train", "heldout")
        }
    gold = {}
    with gzip.open(shared / "web_real/gold.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            gold[r["url"]] = r
    rows: dict[str, dict[str, list]] = {s: {"url": [], "lang": [], "text": []} for s in ("train", "heldout")}
    for warc in sorted((shared / "web_real/warc").glob("*.warc.gz")):
        with open(warc, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                url = rec.headers.get("WARC-Target-URI")
                g = gold.get(url)
                if g is None:
                    continue
                body = rec.reader.read()
                text = extract_plain_text(bytes_to_str(body, detect_encoding(body)), main_content=False)
                if text.strip():
                    r = rows[g["split"]]
                    r["url"].append(url)
                    r["lang"].append(g["lang"])
                    r["text"].append(text)
    out.mkdir(parents=True, exist_ok=True)
    for s, r in rows.items():
        pl.DataFrame(r).write_parquet(out / f"raw_{s}.parquet")
    return {s: len(r["url"]) for s, r in rows.items()}


def specs(out: Path) -> dict[str, list[str]]:
    d = SHARED
    g = d / "clean_text/gutenberg"
    gold = d / "web_real/gold.jsonl.gz"
    return {
        "pos": [
            f"books={g}/[A-I]*.txt.gz|{g}/James*.txt.gz|{g}/Jowett*.txt.gz",  # the first 30 authors
            f"wiki={d}/clean_text/wikitext103/valid.txt.gz",
            f"gold={gold}#gold_text?split=train&strip_markup",
            f"instruct={d}/instruct/alpaca_en_demo.json#output",
        ],
        "neg": [f"raw={out}/raw_train.parquet"],
        "eval_pos": [
            f"gold_heldout={gold}#gold_text?split=heldout&strip_markup",
            f"wiki_test={d}/clean_text/wikitext103/test.txt.gz",
            f"books_heldout={g}/Joy*.txt.gz|{g}/[K-Z]*.txt.gz",
        ],
        "eval_neg": [f"raw_heldout={out}/raw_heldout.parquet"],
    }


def words(texts: list[str]) -> list[str]:
    """What our features see, as fastText input: lower-cased letter/digit runs, one line each."""
    s = pl.Series(texts, dtype=pl.Utf8).str.to_lowercase().str.extract_all(r"[\p{L}\p{N}]+").list.join(" ")
    return s.to_list()


def run_fasttext(work: Path, train_texts, train_labels, eval_pos, eval_neg, args) -> dict:
    """Train and predict with real fastText in its own venv on exactly these documents."""
    from curate.filters.classifier_recipe import auc

    t0 = time.perf_counter()
    lab = np.where(np.asarray(train_labels) == 1, "__label__hq", "__label__lq")
    lines = [f"{a} {w}" for a, w in zip(lab, words(train_texts), strict=True)]
    ev = words(eval_pos.texts + eval_neg.texts)
    prep_s = time.perf_counter() - t0
    (work / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / "eval.txt").write_text("\n".join(ev) + "\n", encoding="utf-8")
    cmd = [
        str(FT_PYTHON),
        str(REPO / "bench/fasttext_ref.py"),
        str(work),
        "--lr",
        str(args.ft_lr),
        "--dim",
        str(args.ft_dim),
        "--epoch",
        str(args.epochs),
    ]
    subprocess.run(cmd, check=True)
    r = json.loads((work / "fasttext_scores.json").read_text())
    sc = np.array(r["scores"])
    sp, sn = sc[: len(eval_pos.texts)], sc[len(eval_pos.texts) :]
    src = np.array(eval_pos.source)
    return {
        "auc": auc(sp, sn),
        "by_set": {c.name: auc(sp[src == c.name], sn) for c in eval_pos.counts},
        "train_docs_per_s": r["train_docs"] * args.epochs / r["train_seconds"],
        "predict_docs_per_s": len(sc) / r["predict_seconds"],
        "prep_docs_per_s": (len(lines) + len(ev)) / prep_s,
        "settings": r["settings"],
        "command": shlex.join(cmd),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=Path("out/bench/classifier"))
    ap.add_argument("--fasttext", action="store_true", help="also train real fastText (.venv-fasttext)")
    ap.add_argument("--chunk-chars", type=int, default=4000)
    ap.add_argument("--max-per-source", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--ft-lr", type=float, default=0.1, help="fastText's learning rate (its default)")
    ap.add_argument("--ft-dim", type=int, default=100, help="fastText's embedding size (its default)")
    args = ap.parse_args()
    if not (SHARED / "web_real").is_dir():
        sys.exit(f"no shared data at {SHARED} (set CURATE_SHARED_DATA)")
    sys.path.insert(0, str(REPO))
    from curate.filters.classifier_recipe import (
        RecipeOptions,
        drop_seen,
        load_side,
        train_recipe,
        training_set,
        validation_split,
    )

    out = args.out
    print("raw pages:", raw_pages(SHARED, out))
    sp = specs(out)
    opt = RecipeOptions(chunk_chars=args.chunk_chars, max_per_source=args.max_per_source, epochs=args.epochs)
    model = out / "quality.bin"
    cli = [
        "curate",
        "classifier",
        "train",
        *[a for s in sp["pos"] for a in ("--pos", s)],
        *[a for s in sp["neg"] for a in ("--neg", s)],
        *[a for s in sp["eval_pos"] for a in ("--eval-pos", s)],
        *[a for s in sp["eval_neg"] for a in ("--eval-neg", s)],
        "--chunk-chars",
        str(args.chunk_chars),
        "--max-per-source",
        str(args.max_per_source),
        "--epochs",
        str(args.epochs),
        "-o",
        str(model),
    ]
    print("recipe:", shlex.join(cli))
    rep = train_recipe(sp["pos"], sp["neg"], str(model), opt, sp["eval_pos"], sp["eval_neg"])
    h = rep["held_out"]
    rows = [("held-out AUC, all positives", h["auc"], None)]
    rows += [(f"  AUC {k} vs raw_heldout", v["auc"], None) for k, v in h["auc_by_positive_set"].items()]
    print(json.dumps({k: rep[k] for k in ("before_balance", "positives", "negatives", "validation")}))
    print(
        "train sources:",
        [(c["name"], c["docs"], c["chunks"], c["kept"]) for c in rep["pos_counts"] + rep["neg_counts"]],
    )
    print(
        "held-out sources:",
        [(c["name"], c["docs"], c["chunks"]) for c in h["pos_counts"] + h["neg_counts"]],
        "dropped (seen in training):",
        h["dropped_seen_in_training"],
    )
    ours_train, ours_pred = rep["train_docs_per_s"], h["score_docs_per_s"]
    if not args.fasttext:
        for name, v, _ in rows:
            print(f"{name:<40} {v:.4f}")
        print(f"train docs/s (x epochs) {ours_train:,.0f}   predict docs/s {ours_pred:,.0f}")
        return
    if not FT_PYTHON.exists():
        sys.exit(f"{FT_PYTHON} missing: run bench/make_fasttext_venv.sh")
    p, n, _ = training_set(sp["pos"], sp["neg"], opt)
    texts = p.texts + n.texts
    labels = np.concatenate([np.ones(len(p.texts)), np.zeros(len(n.texts))])
    _, tr = validation_split(len(texts), opt.seed)
    hp = load_side(sp["eval_pos"], "eval_pos", opt.chunk_chars)
    hn = load_side(sp["eval_neg"], "eval_neg", opt.chunk_chars)
    hp, hn, _ = drop_seen(hp, hn, set(texts))
    ft = run_fasttext(out, [texts[i] for i in tr], labels[tr], hp, hn, args)
    print("fasttext:", ft["command"], ft["settings"])
    print(f"{'measure':<40} {'curate':>10} {'fastText':>10} {'ours-ft':>9}")
    gap = h["auc"] - ft["auc"]
    print(f"{'held-out AUC, all positives':<40} {h['auc']:>10.4f} {ft['auc']:>10.4f} {gap:>+9.4f}")
    for k, v in h["auc_by_positive_set"].items():
        f = ft["by_set"][k]
        print(f"{'  AUC ' + k + ' vs raw_heldout':<40} {v['auc']:>10.4f} {f:>10.4f} {v['auc'] - f:>+9.4f}")
    print(
        f"{'train docs/s (x epochs)':<40} {ours_train:>10,.0f} {ft['train_docs_per_s']:>10,.0f} "
        f"{ours_train / ft['train_docs_per_s']:>8.2f}x"
    )
    print(
        f"{'predict docs/s':<40} {ours_pred:>10,.0f} {ft['predict_docs_per_s']:>10,.0f} "
        f"{ours_pred / ft['predict_docs_per_s']:>8.2f}x"
    )
    print(
        f"(fastText's input was lower-cased words made by Polars at {ft['prep_docs_per_s']:,.0f} docs/s, "
        "not counted in its figures)"
    )


if __name__ == "__main__":
    main()
