"""Named held-out text sets for bits-per-byte scoring, from a small SPEC string.

SPEC syntax (``--text NAME=SPEC``)::

    PATH_OR_GLOB[|PATH_OR_GLOB...][#COLUMN][?KEY=VALUE&KEY=VALUE&FLAG]

* ``.txt`` / ``.txt.gz`` files (a glob or a folder of them): one document per file, UTF-8
  (undecodable bytes replaced), files in sorted order.
* ``.jsonl`` / ``.jsonl.gz`` / ``.parquet`` / ``.json`` (one JSON array of objects, as
  LLaMA-Factory's instruction files): one document per row, the text in ``#COLUMN``
  (default ``text``); ``KEY=VALUE`` keeps only rows whose field ``KEY`` equals ``VALUE`` (compared
  as text; ``true``/``false`` for booleans). All filters must hold.
* Flags: ``strip_markup`` removes the markup that hand-cleaned gold text carries (web_real's
  ``gold_text``): a leading ``URL:`` line, CleanEval's ``<p>``/``<h>``/``<l>`` markers and any
  other HTML tag (inline ones such as ``<a>``, ``<span>``, ``<b>`` vanish, block ones become a line
  break; comments and ``<style>``/``<script>``/``<head>``/``<noscript>`` go with their contents),
  then HTML entities are unescaped (``&#039;`` -> ``'``) and runs of blank lines collapse.

Several paths or globs join with ``|`` (files in the order given, each glob sorted). Examples:
``gold=/data/web_real/gold.jsonl.gz#gold_text?split=heldout&lang=en&strip_markup``;
``books=/data/gutenberg/Joy*.txt.gz|/data/gutenberg/[K-Z]*.txt.gz`` (the held-out authors).

``max_bytes`` bounds a set deterministically and spreads it over every document: each document
keeps its first ``c`` bytes (cut back to a UTF-8 character boundary) with the largest cap ``c``
whose total fits the budget, so short documents stay whole and long ones give their beginnings.
"""

from __future__ import annotations

import glob
import gzip
import html
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

FLAGS = {"strip_markup"}
_URL_LINE = re.compile(r"\A\s*URL:[^\n]*\n?")
_TAG = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*>")
# text no reader sees: comments and the bodies of style/script/head elements (a whole annotated page
# such as web_real's L3S-GN1 gold carries a CSS block and its <title>)
_HIDDEN = re.compile(r"<!--.*?-->|<(style|script|head|noscript)\b[^>]*>.*?</\1\s*>", re.S | re.I)
_INLINE = {
    "a", "abbr", "b", "big", "cite", "code", "em", "font", "i", "img", "small", "span", "strong", "sub",
    "sup", "u",
}
_BLANKS = re.compile(r"[ \t]*\n(?:[ \t]*\n)+")


@dataclass(frozen=True)
class TextSet:
    """A named list of documents (plain strings) to score."""

    name: str
    docs: list[str]

    @property
    def n_bytes(self) -> int:
        return sum(len(d.encode("utf-8")) for d in self.docs)


@dataclass(frozen=True)
class TextSpec:
    """A parsed SPEC: where the documents are and which rows to keep."""

    name: str
    path: str
    column: str = "text"
    filters: dict[str, str] = field(default_factory=dict)
    strip_markup: bool = False


class TextSpecError(ValueError):
    """A SPEC that cannot be parsed or read; the message names the set and the problem."""


def parse_spec(spec: str) -> TextSpec:
    """Parse ``NAME=PATH[#COLUMN][?KEY=VALUE&...&FLAG]``."""
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise TextSpecError(f"text set {spec!r}: expected NAME=PATH[#COLUMN][?KEY=VALUE&...]")
    rest, _, query = rest.partition("?")
    path, _, column = rest.partition("#")
    filters: dict[str, str] = {}
    flags: set[str] = set()
    for part in filter(None, query.split("&")):
        k, eq, v = part.partition("=")
        if eq:
            filters[k] = v
        elif k in FLAGS:
            flags.add(k)
        else:
            raise TextSpecError(
                f"text set {name!r}: unknown flag {k!r} (flags: {', '.join(sorted(FLAGS))}; filters are "
                "KEY=VALUE)"
            )
    return TextSpec(name, path, column or "text", filters, "strip_markup" in flags)


def strip_markup(text: str) -> str:
    """Gold text without its markup: the ``URL:`` line, tags (block ones as line breaks), entities."""
    text = _URL_LINE.sub("", text)
    text = _HIDDEN.sub("\n", text)
    text = _TAG.sub(lambda m: "" if m.group(1).lower() in _INLINE else "\n", text)
    return _BLANKS.sub("\n\n", html.unescape(text)).strip()


def _files(path: str) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file())
    if any(c in path for c in "*?["):
        return [Path(f) for f in sorted(glob.glob(path, recursive=True))]
    return [p]


def _kind(f: Path) -> str:
    n = f.name.lower()
    for ext in (".jsonl", ".parquet", ".txt", ".json"):
        if n.endswith(ext) or n.endswith(ext + ".gz"):
            return ext
    raise TextSpecError(f"{f}: expected .txt[.gz], .jsonl[.gz], .json[.gz] (an array) or .parquet")


def _open_text(f: Path) -> io.TextIOBase:
    if f.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(f, "rb"), encoding="utf-8", errors="replace")
    return open(f, encoding="utf-8", errors="replace")


def _as_text(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _rows(spec: TextSpec, f: Path, kind: str) -> list[str]:
    keys = [spec.column, *spec.filters]
    if kind == ".parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(f)
        missing = [k for k in keys if k not in schema.names]
        if missing:
            raise TextSpecError(f"{f}: no column(s) {missing} (has {schema.names})")
        rows = pq.read_table(f, columns=list(dict.fromkeys(keys))).to_pylist()
    elif kind == ".json":
        with _open_text(f) as fh:
            try:
                rows = orjson.loads(fh.read())
            except orjson.JSONDecodeError as e:
                raise TextSpecError(f"{f}: not JSON ({e})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TextSpecError(f"{f}: expected a JSON array of objects (one per document)")
    else:
        rows = []
        with _open_text(f) as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append(orjson.loads(line))
                    except orjson.JSONDecodeError as e:
                        raise TextSpecError(f"{f}:{n}: not JSON ({e})") from None
    docs = []
    for n, r in enumerate(rows, 1):
        if any(_as_text(r.get(k)) != v for k, v in spec.filters.items()):
            continue
        text = r.get(spec.column)
        if text is None:
            continue
        if not isinstance(text, str):
            raise TextSpecError(
                f"{f}: row {n}: field {spec.column!r} is {type(text).__name__}, expected a string"
            )
        docs.append(text)
    return docs


def read_spec(spec: TextSpec) -> list[str]:
    """The documents a SPEC names (markup stripped if asked, empty documents dropped)."""
    files: list[Path] = []
    for part in spec.path.split("|"):
        found = _files(part)
        if not found or not all(f.exists() for f in found):
            raise TextSpecError(f"text set {spec.name!r}: no file matches {part!r}")
        files.extend(found)
    docs: list[str] = []
    for f in files:
        kind = _kind(f)
        if kind == ".txt":
            if spec.filters or spec.column != "text":
                raise TextSpecError(
                    f"text set {spec.name!r}: #column and filters apply to JSONL/Parquet, not {f.name}"
                )
            with _open_text(f) as fh:
                docs.append(fh.read())
        else:
            docs.extend(_rows(spec, f, kind))
    if spec.strip_markup:
        docs = [strip_markup(d) for d in docs]
    return [d for d in docs if d]


def _utf8_prefix(text: str, n_bytes: int) -> str:
    b = text.encode("utf-8")
    if len(b) <= n_bytes:
        return text
    return b[:n_bytes].decode("utf-8", errors="ignore")  # drops a cut multi-byte character


def bound_bytes(docs: list[str], max_bytes: int | None) -> list[str]:
    """Documents cut to at most `max_bytes` UTF-8 bytes in all, spread evenly (module docstring)."""
    if max_bytes is None:
        return docs
    sizes = [len(d.encode("utf-8")) for d in docs]
    if sum(sizes) <= max_bytes:
        return docs
    # Largest cap c with sum(min(size, c)) <= max_bytes (water filling over the sorted sizes).
    left, rest = max_bytes, len(sizes)
    cap = 0
    for s in sorted(sizes):
        if s * rest > left:
            cap = left // rest
            break
        left -= s
        rest -= 1
    out = [_utf8_prefix(d, cap) for d in docs]
    return [d for d in out if d]


def load_text_sets(specs: list[str | TextSpec], max_bytes: int | None = None) -> list[TextSet]:
    """Read each SPEC (a string as parsed by `parse_spec`, or a `TextSpec`) into a `TextSet`."""
    out = []
    for s in specs:
        spec = parse_spec(s) if isinstance(s, str) else s
        docs = read_spec(spec)
        if not docs:
            raise TextSpecError(f"text set {spec.name!r}: no documents (check the filters {spec.filters})")
        out.append(TextSet(spec.name, bound_bytes(docs, max_bytes)))
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise TextSpecError(f"text set names must be unique, got {names}")
    return out
