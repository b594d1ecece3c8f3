"""The shared text view: words, lines and paragraphs of a batch, computed once per batch.

Every quality filter needs the same splits of ``text``. Peers re-tokenise per filter (datatrove runs
spaCy once per filter per document); here a view is a Polars expression whose result is cached as a
``__``-prefixed scratch column on the batch, so the next filter of the pipeline reuses it and the
writer never writes it. :func:`ensure` adds the views a filter asks for (and what they depend on);
a stage that rewrites ``text`` calls :func:`invalidate` so that stale views are not reused.

Words. datatrove (our reference for agreement) splits English with ``spacy.blank("en")``: punctuation
becomes its own token (``world`` ``,``), ``'s``/``n't`` split off, hyphens between letters split,
abbreviations (``Mr.``, ``U.S.``, ``e.g.``) and numbers (``3.50``, ``1,000``) stay whole, URLs stay
whole. :data:`TOKEN_PATTERN` is a single regular expression that reproduces those decisions closely
enough for every ratio the filters use (tokens counted, punctuation tokens counted, word lengths),
at Rust-regex speed on the whole column; docs/filters.md lists where it differs from spaCy.

Lines. ``lines`` follows Python's ``str.splitlines`` (what Gopher and C4 use in datatrove):
``\\r\\n``, ``\\r``, ``\\v``, ``\\f``, ``\\x1c-\\x1e``, ``\\x85``, ``\\u2028``, ``\\u2029`` all end a
line and a final line break opens no empty line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources

import polars as pl

from curate.contract import SCRATCH_PREFIX

_chars = json.loads(resources.files("curate.filters").joinpath("data/punctuation.json").read_text("utf-8"))
#: datatrove's PUNCTUATION + TERMINAL_PUNCTUATION: a token made only of these is a "symbol", not a word.
PUNCTUATION: frozenset[str] = frozenset(_chars["punctuation"]) | frozenset(_chars["terminal"])
#: Unicode terminal punctuation (FineWeb's line-end test).
TERMINAL_PUNCTUATION: tuple[str, ...] = tuple(sorted(set(_chars["terminal"])))


def char_class(chars) -> str:
    """A Rust-regex character class body matching exactly ``chars`` (each escaped)."""
    return "".join(f"\\x{{{ord(c):x}}}" for c in sorted(set(chars)))


# spaCy's English tokenizer exceptions that keep a trailing period (the abbreviations of
# spacy/lang/en/tokenizer_exceptions.py): "Mr. Smith" is two tokens, "etc." is two ("etc" ".").
ABBREVIATIONS = (
    "Adm|Ak|Ala|Apr|Ariz|Ark|Aug|Bros|Calif|Co|Colo|Conn|Corp|Dec|Del|Dr|Feb|Fla|Ga|Gen|Gov|Ia|Id|Ill|"
    "Inc|Ind|Jan|Jr|Jul|Jun|Kan|Kans|Ky|La|Ltd|Mar|Mass|Md|Messrs|Mich|Minn|Miss|Mo|Mont|Mr|Mrs|Ms|Mt|"
    "Neb|Nebr|Nev|Nov|Oct|Okla|Ore|Pa|Prof|Rep|Rev|Sen|Sep|Sept|St|Tenn|Va|Wash|Wis|co|vs"
)
_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}"
#: One token per match; alternatives are tried in order (leftmost-first), see the module docstring.
TOKEN_PATTERN = "|".join(
    [
        r"(?:https?://|www\.)\S*[^\s.,;:!?)\]\"'\x{201d}\x{2019}]",  # URLs stay whole
        r"(?:\p{L}\.){2,}",  # U.S.  e.g.  a.m.
        rf"\b(?:{ABBREVIATIONS}|\p{{L}})\.",  # Mr.  Inc.  single initials "J."
        r"\d+(?:[.,:]\d+)+\w*",  # 3.50  1,000,000  10:30am
        r"\w+(?:\.[\p{Ll}\d]\w*)+",  # example.com  file.txt (a period before a lowercase letter)
        # text without spaces (Chinese, Japanese): spaCy's English tokenizer only splits at spaces,
        # at a chunk's leading/trailing punctuation and at its infixes (ellipses; hyphens, commas,
        # colons, slashes between letters), so other punctuation inside a CJK run stays
        rf"\w*[{_CJK}](?:[^\s,\-:<>=/\x{{2026}}]*\w)?",
        # punctuation spaCy does not split inside a chunk: "on.[1" (+ "]"), "f(x" (+ ")"), "2–3",
        # "AT&T", "C++" (its infixes are only hyphens/commas/colons/slashes between letters)
        r"\w+[.,;:!?]*[\[(]\w*",
        r"\d+(?:[\x{2013}\x{2014}\x{2212}]\d+)+",
        r"\p{L}\w*(?:[&+]\w+)+\+*|\p{L}\w*\++",
        r"\w+",
        r"['\x{2019}](?:s|S|re|RE|ve|VE|ll|LL|d|D|m|M|t|T)\b",  # 's 're n't (split like spaCy)
        r"\.{2,}|-{2,}",  # "..." and "--" are one token
        r"[^\w\s]",  # any other symbol: one token per character
    ]
)
_LINE_BREAKS = r"\r\n|[\r\x{0b}\x{0c}\x{1c}-\x{1e}\x{85}\x{2028}\x{2029}]"
_NON_PUNCT = f"[^{char_class(PUNCTUATION)}]"

TEXT = pl.col("text").fill_null("")


def _lines() -> pl.Expr:
    """``str.splitlines()``: every line break kind; no empty line after a final break."""
    t = TEXT.str.replace_all(_LINE_BREAKS, "\n")
    parts = t.str.split("\n")
    trailing = t.str.ends_with("\n") | (t.str.len_bytes() == 0)
    return pl.when(trailing).then(parts.list.slice(0, parts.list.len() - 1)).otherwise(parts)


#: view name -> (views it depends on, expression). Names are the scratch column names.
_VIEWS: dict[str, tuple[tuple[str, ...], Callable[[], pl.Expr]]] = {
    "__tokens": ((), lambda: TEXT.str.extract_all(TOKEN_PATTERN)),
    "__n_tokens": (("__tokens",), lambda: pl.col("__tokens").list.len()),
    # tokens with at least one non-punctuation character: Gopher's "non-symbol words"
    "__n_words": (
        ("__tokens",),
        lambda: pl.col("__tokens").list.eval(pl.element().str.contains(_NON_PUNCT)).list.sum(),
    ),
    "__word_chars": (
        ("__tokens",),
        lambda: pl.col("__tokens")
        .list.eval(pl.when(pl.element().str.contains(_NON_PUNCT)).then(pl.element().str.len_chars()).otherwise(0))
        .list.sum(),
    ),
    "__n_alpha_tokens": (
        ("__tokens",),
        lambda: pl.col("__tokens").list.eval(pl.element().str.contains(r"\p{L}")).list.sum(),
    ),
    "__lines": ((), _lines),
    "__n_chars": ((), lambda: TEXT.str.len_chars()),
}

SCRATCH_VIEWS = tuple(_VIEWS)


def ensure(df: pl.DataFrame, *names: str) -> pl.DataFrame:
    """Return ``df`` with the scratch views ``names`` (and their dependencies) present.

    Views already on the batch (computed by an earlier filter) are reused as they are.
    """
    df = _drop_if_stale(df)
    order: list[str] = []

    def visit(name: str) -> None:
        if name in df.columns or name in order:
            return
        if name not in _VIEWS:
            raise KeyError(f"unknown text view {name!r}; known: {', '.join(_VIEWS)}")
        for dep in _VIEWS[name][0]:
            visit(dep)
        order.append(name)

    for n in names:
        visit(n)
    # views in one with_columns call may not depend on each other: add them level by level
    while order:
        level = [n for n in order if all(d in df.columns for d in _VIEWS[n][0])]
        df = df.with_columns([_VIEWS[n][1]().alias(n) for n in level])
        order = [n for n in order if n not in level]
    return df


_TEXT_HASH = "__text_hash"


def _drop_if_stale(df: pl.DataFrame) -> pl.DataFrame:
    """Drop cached views when ``text`` changed since they were computed.

    Stages that rewrite text should call :func:`invalidate`; a stage that does not (a custom one, a
    stage of another package) would otherwise leave stale views behind, so the views carry a
    per-row hash of the text they were computed from and are checked before reuse (a cheap pass).
    """
    if not any(n in df.columns for n in _VIEWS):
        return df.with_columns(TEXT.hash(seed=11).alias(_TEXT_HASH))
    current = df.select(TEXT.hash(seed=11)).to_series()
    if _TEXT_HASH in df.columns and (df[_TEXT_HASH] == current).all():
        return df
    return invalidate(df).with_columns(current.alias(_TEXT_HASH))


def invalidate(df: pl.DataFrame) -> pl.DataFrame:
    """Drop every cached ``__`` view: call after rewriting ``text``."""
    return df.drop([c for c in df.columns if c.startswith(SCRATCH_PREFIX)])


def tokenize(text: str) -> list[str]:
    """The word tokens of one text, as the batch view computes them (for tests and tools)."""
    return pl.Series([text]).str.extract_all(TOKEN_PATTERN)[0].to_list()


def python_splitlines_pattern() -> re.Pattern:
    """The line-break set of :data:`_LINE_BREAKS` as a Python pattern (tests compare the two)."""
    return re.compile(r"\r\n|[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029\n]")
