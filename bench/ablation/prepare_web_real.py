"""Prepare the inputs of the web_real outcome ablation (issue 16) from `../shared/data`.

Writes, under OUT:

- `warc/train-NN.warc.gz`: the `train` pages only (held-out URLs never reach training);
- `raw/raw.parquet`: the raw arm, every train page's full visible text as a WET file would carry
  it (resiliparse `extract_plain_text(main_content=False)`);
- `heldout/gold_en.jsonl`, `heldout/gold_other.jsonl`: the gold main text of the held-out pages,
  CleanEval markers (`<p>`, `<h>`, `<l>`, a leading `URL:` line) stripped, field `text`, and
  `train_overlap`: the share of the text's word 13-grams that occur verbatim in the train pages'
  visible text (the raw arm: everything any arm could train on);
- `heldout/gold_en_novel.jsonl`: the English held-out pages with `train_overlap` < 0.1, so a score
  on them measures generalisation rather than memorised repeats (the train split repeats text of
  some held-out pages: one source site publishes the same articles under several URLs);
- `heldout/books/*.txt.gz`: the Gutenberg books of the second half of the authors (alphabetical
  by file prefix), Gutenberg's header and licence cut off, `heldout/wikitext_test.txt.gz`;
- `reference/books/*.txt.gz` (first half of the authors), `reference/wikitext_valid.txt.gz`, for
  reference models and classifier positives;
- `splits.json`: what went where, with counts.

Run: `python -m bench.ablation.prepare_web_real --shared ../shared/data -o out/abl/web_real`
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding

from curate.ablate.overlap import OverlapCounter

NOVEL_NGRAM = 13
NOVEL_MAX_OVERLAP = 0.1
_MARKER = re.compile(r"^\s*<(?:p|h|l)>\s*", re.MULTILINE)
_URL_LINE = re.compile(r"^\s*URL:\s*\S*\s*$", re.MULTILINE)


class _L3SText(HTMLParser):
    """The main content of an L3S-GN1 page (web_real's `page-signal-master` set).

    Its `gold_text` is not text but the whole annotated page: every text node sits in nested
    `<span class="x-nc-selN">` annotations, the innermost one being its label (0 not content,
    1 headline, 2 full text, 3 supplemental, 4 related content, 5 user comments; Kohlschuetter et
    al., WSDM 2010). The main content is labels 1-3; `<style>`/`<script>` text never is.
    """

    KEEP = {"1", "2", "3"}
    SKIP = {"style", "script", "noscript", "title", "head"}
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "ul", "ol",
             "blockquote", "pre", "section", "article", "dd", "dt"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.labels: list[str | None] = []  # one entry per open <span>
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "span":
            cls = dict(attrs).get("class") or ""
            m = re.search(r"x-nc-sel(\d)", cls)
            self.labels.append(m.group(1) if m else None)
        elif tag in self.SKIP:
            self.skip += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.labels:
            self.labels.pop()
        elif tag in self.SKIP and self.skip:
            self.skip -= 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        label = next((lab for lab in reversed(self.labels) if lab is not None), None)
        if not self.skip and label in self.KEEP:
            self.parts.append(data)


def l3s_main_text(page: str) -> str:
    """Headline, full text and supplemental text of an annotated L3S-GN1 page, one block a line."""
    p = _L3SText()
    p.feed(page)
    p.close()
    lines = (" ".join(ln.split()) for ln in "".join(p.parts).splitlines())
    return "\n".join(ln for ln in lines if ln)


def gold_main_text(dataset: str, text: str) -> str:
    """A page's gold main text as plain text, whatever form its source set stores it in.

    Most sets store text with CleanEval markers; L3S-GN1 (`page-signal-master`) stores the
    annotated HTML page and Readability's test pages store the article as HTML: without this, 54%
    of the held-out gold bytes were markup, CSS and navigation (measured 2026-12-07).
    """
    if dataset == "page-signal-master":
        return l3s_main_text(text)
    if dataset.startswith("readability") or re.match(r"\s*<(?:div|html|section|article)\b", text):
        text = extract_plain_text(text, main_content=False)
    return clean_gold(text)


def clean_gold(text: str) -> str:
    """Strip CleanEval-style markers and the leading `URL:` line; collapse blank runs."""
    text = _URL_LINE.sub("", text)
    text = _MARKER.sub("", text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return out


_START = re.compile(r"^\*\*\* ?START OF (?:THIS|THE) PROJECT GUTENBERG[^\n]*\n", re.MULTILINE)
_END = re.compile(r"^\*\*\* ?END OF (?:THIS|THE) PROJECT GUTENBERG", re.MULTILINE)


def strip_gutenberg(text: str) -> str:
    """The book between Gutenberg's START and END lines (the licence is the same in every book)."""
    start = _START.search(text)
    end = _END.search(text)
    return text[start.end() if start else 0 : end.start() if end else len(text)].strip()


def _copy_book(src: Path, dst: Path) -> None:
    with gzip.open(src, "rt", encoding="utf-8", errors="replace") as f:
        text = strip_gutenberg(f.read())
    with gzip.open(dst, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write(text + "\n")


def _author(name: str) -> str:
    return name.split("__", 1)[0]


def split_books(folder: Path) -> tuple[list[Path], list[Path]]:
    """Gutenberg books split by author, alphabetical: first half reference, second half held out."""
    books = sorted(folder.glob("*.txt.gz"))
    authors = sorted({_author(p.name) for p in books})
    first = set(authors[: len(authors) // 2])
    return [p for p in books if _author(p.name) in first], [p for p in books if _author(p.name) not in first]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("-o", "--out", type=Path, required=True)
    a = ap.parse_args()
    web = a.shared / "web_real"
    out = a.out
    for sub in ("warc", "raw", "heldout/books", "reference/books"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    gold = {}
    with gzip.open(web / "gold.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            gold[r["url"]] = r

    counts = {"train_pages": 0, "raw_docs": 0, "raw_chars": 0, "heldout_en": 0, "heldout_other": 0}
    raw_rows: dict[str, list] = {"id": [], "url": [], "text": []}
    for warc in sorted((web / "warc").glob("*.warc.gz")):
        with open(warc, "rb") as f:
            for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=True):
                url = rec.headers.get("WARC-Target-URI")
                if gold.get(url, {}).get("split") != "train":
                    continue
                body = rec.reader.read()
                counts["train_pages"] += 1
                html = bytes_to_str(body, detect_encoding(body))
                text = extract_plain_text(html, main_content=False)
                if text.strip():
                    raw_rows["id"].append(url)
                    raw_rows["url"].append(url)
                    raw_rows["text"].append(text)
                    counts["raw_docs"] += 1
                    counts["raw_chars"] += len(text)
        _copy_train_records(warc, out / "warc" / warc.name.replace("pages", "train"), gold)
    pq.write_table(pa.table(raw_rows), out / "raw" / "raw.parquet", compression="zstd")

    held = [(url, r, gold_main_text(r["dataset"], r["gold_text"] or ""))
            for url, r in sorted(gold.items()) if r["split"] == "heldout"]
    held = [(url, r, text) for url, r, text in held if text]
    counter = OverlapCounter({"held": [text for _, _, text in held]}, n=NOVEL_NGRAM)
    for i in range(0, len(raw_rows["text"]), 256):
        counter.add(raw_rows["text"][i : i + 256])
    shares = counter.doc_shares("held")
    counts["heldout_en_novel"] = 0
    with open(out / "heldout/gold_en.jsonl", "w", encoding="utf-8") as en, open(
        out / "heldout/gold_other.jsonl", "w", encoding="utf-8"
    ) as other, open(out / "heldout/gold_en_novel.jsonl", "w", encoding="utf-8") as novel:
        for (url, r, text), share in zip(held, shares, strict=True):
            share = 0.0 if share != share else round(float(share), 4)  # NaN: fewer than 13 words
            row = json.dumps({"url": url, "lang": r["lang"], "text": text, "train_overlap": share},
                             ensure_ascii=False) + "\n"
            if r["lang"] == "en":
                en.write(row)
                counts["heldout_en"] += 1
                if share < NOVEL_MAX_OVERLAP:
                    novel.write(row)
                    counts["heldout_en_novel"] += 1
            else:
                other.write(row)
                counts["heldout_other"] += 1

    ref, held = split_books(a.shared / "clean_text/gutenberg")
    for p in ref:
        _copy_book(p, out / "reference/books" / p.name)
    for p in held:
        _copy_book(p, out / "heldout/books" / p.name)
    shutil.copy(a.shared / "clean_text/wikitext103/test.txt.gz", out / "heldout/wikitext_test.txt.gz")
    shutil.copy(a.shared / "clean_text/wikitext103/valid.txt.gz", out / "reference/wikitext_valid.txt.gz")
    counts["books_reference"] = len(ref)
    counts["books_heldout"] = len(held)
    splits = {
        "counts": counts,
        "books_reference_authors": sorted({_author(p.name) for p in ref}),
        "books_heldout_authors": sorted({_author(p.name) for p in held}),
    }
    (out / "splits.json").write_text(json.dumps(splits, indent=2) + "\n")
    print(json.dumps(counts))


def _copy_train_records(src: Path, dst: Path, gold: dict) -> None:
    """Copy the train pages' records byte for byte (each record its own gzip member)."""
    with open(src, "rb") as f, open(dst, "wb") as out:
        for rec in ArchiveIterator(f, record_types=WarcRecordType.response, parse_http=False):
            url = rec.headers.get("WARC-Target-URI")
            if gold.get(url, {}).get("split") != "train":
                continue
            raw = io.BytesIO()
            rec.write(raw)
            out.write(gzip.compress(raw.getvalue(), mtime=0))


if __name__ == "__main__":
    main()
