"""The C4 rules (Raffel et al. 2020, section 2.2), line by line, vectorised over the batch.

Lines that fail a line rule are removed from the text (counted in ``counters`` as
``c4_lines_removed_<why>``); a document is dropped when a kept line contains "lorem ipsum" or a
curly bracket, or when fewer than ``min_sentences`` sentences remain. The order of the checks and
their quantities follow datatrove's ``C4QualityFilter`` (and TFDS's ``c4_utils``), so decisions and
the rewritten text agree with it.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import REASON, Stage, StageConfig, StageResult, split_by_reason
from curate.filters import textview as tv

CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_CLOSERS = r"[)\"'\x{201d}\x{2019}\]]*"
# A sentence ends at a '.', '!' or '?' token followed by more text (spaCy's sentencizer, which
# datatrove uses for English): "..." is not a sentence end; abbreviations (tokens that keep their
# period, see textview) are not either.
_SENTENCE_BREAK = rf"[^\s.](?:\.|[!?]+|\.[!?]+){_CLOSERS}\s"
_ABBREVIATION_BREAK = rf"(?:(?:\p{{L}}\.){{2,}}|\b(?:{tv.ABBREVIATIONS}|\p{{L}})\.){_CLOSERS}\s"


def sentence_count(line: pl.Expr) -> pl.Expr:
    """Approximate spaCy-sentencizer sentence count of a stripped line (>= 1 for a non-empty line)."""
    return 1 + line.str.count_matches(_SENTENCE_BREAK) - line.str.count_matches(_ABBREVIATION_BREAK)


# line status codes, in the order the rules are checked
_KEPT, _TOO_LONG, _NO_PUNCT, _FEW_WORDS, _JS, _POLICY = 0, 1, 2, 3, 4, 5
_LINE_REASONS = {_TOO_LONG: "too_long_word", _NO_PUNCT: "no_terminal_punct", _FEW_WORDS: "too_few_words",
                 _JS: "javascript", _POLICY: "policy"}


@register("c4")
class C4(Stage):
    """C4 line filters and document drops (rewrites ``text``: removed lines are gone).

    Reasons: ``c4_lorem_ipsum``, ``c4_curly_bracket``, ``c4_too_few_sentences``. Counters:
    ``c4_lines_removed_{too_long_word,no_terminal_punct,too_few_words,javascript,policy}`` and
    ``c4_lines_kept`` over all lines seen. Lines are split like ``str.splitlines`` (C4 splits
    paragraphs on newlines); datatrove's sentence-split mode (``split_paragraph=False``) is not offered.
    Sentences are counted with a regex approximation of spaCy's sentencizer (docs/filters.md).
    """

    class Config(StageConfig):
        remove_citations: bool = Field(
            True, description="Remove Wikipedia-style citations ([1], [edit], [citation needed])."
        )
        filter_no_terminal_punct: bool = Field(
            True, description="Remove lines not ending in . ? ! \" ' (or ending in '...')."
        )
        min_sentences: int = Field(
            5, description="Drop documents with fewer sentences in the kept lines (0 disables)."
        )
        min_words_per_line: int = Field(3, description="Remove lines with fewer whitespace-separated words.")
        max_word_length: int | None = Field(
            1000, description="Remove lines containing a longer word (None disables)."
        )
        filter_lorem_ipsum: bool = Field(
            True, description="Drop documents with 'lorem ipsum' in a kept line."
        )
        filter_javascript: bool = Field(True, description="Remove lines mentioning 'javascript'.")
        filter_curly_bracket: bool = Field(True, description="Drop documents with '{' in a kept line.")
        filter_policy: bool = Field(True, description="Remove cookie / privacy-policy / terms-of-use lines.")

    def process(self, df: pl.DataFrame) -> StageResult:
        if df.height == 0:
            return StageResult(kept=df)
        c = self.config
        df = tv.ensure(df, "__lines").with_row_index("__row")
        lines = (
            df.select("__row", pl.col("__lines").alias("line"))
            .with_columns(pl.int_ranges(pl.col("line").list.len()).alias("__ln"))
            .explode("line", "__ln")
            .drop_nulls("line")
        )
        s = pl.col("line").str.strip_chars()
        cleaned = s.str.replace_all(CITATION, "") if c.remove_citations else s
        low = pl.col("__clean").str.to_lowercase()
        n_words = s.str.count_matches(r"\S+")
        status = pl.lit(_KEPT)
        conds: list[tuple[pl.Expr, int]] = []
        if c.max_word_length is not None and c.max_word_length >= 0:
            conds.append((s.str.contains(rf"\S{{{c.max_word_length + 1}}}"), _TOO_LONG))
        if c.filter_no_terminal_punct:
            ends = pl.col("__clean").str.contains(r"[.?!\"']$") & ~pl.col("__clean").str.ends_with("...")
            conds.append((~ends, _NO_PUNCT))
        conds.append((n_words < c.min_words_per_line, _FEW_WORDS))
        if c.filter_javascript:
            conds.append((low.str.contains("javascript", literal=True), _JS))
        if c.filter_policy:
            conds.append(
                (pl.any_horizontal([low.str.contains(p, literal=True) for p in POLICY_SUBSTRINGS]), _POLICY)
            )
        for cond, code in reversed(conds):
            status = pl.when(cond).then(pl.lit(code)).otherwise(status)
        lines = lines.with_columns(cleaned.alias("__clean")).with_columns(status.alias("__status"))
        # lorem ipsum is checked before the javascript rule, the bracket after it (datatrove's order)
        reached = pl.col("__status").is_in([_KEPT, _JS, _POLICY])
        lorem = (
            reached & low.str.contains("lorem ipsum", literal=True) if c.filter_lorem_ipsum else pl.lit(False)
        )
        curly = (reached & (pl.col("__status") != _JS) & pl.col("__clean").str.contains("{", literal=True)
                 if c.filter_curly_bracket else pl.lit(False))
        lines = lines.with_columns(
            pl.when(lorem)
            .then(pl.lit("c4_lorem_ipsum"))
            .when(curly)
            .then(pl.lit("c4_curly_bracket"))
            .alias("__doc_drop"),
            pl.when(pl.col("__status") == _KEPT)
            .then(sentence_count(pl.col("__clean")))
            .otherwise(0)
            .alias("__sent"),
        )
        per_doc = lines.group_by("__row").agg(
            pl.col("__doc_drop").drop_nulls().first().alias("__doc_drop"),
            pl.col("__sent").sum().alias("__sent"),
            pl.col("__clean").filter(pl.col("__status") == _KEPT).sort_by(
                pl.col("__ln").filter(pl.col("__status") == _KEPT)).str.join("\n").alias("__new_text"),
        )
        counters = {f"c4_lines_removed_{why}": 0 for why in _LINE_REASONS.values()}
        for code, n in lines.group_by("__status").len().iter_rows():
            key = "c4_lines_kept" if code == _KEPT else f"c4_lines_removed_{_LINE_REASONS[code]}"
            counters[key] = int(n)
        out = df.join(per_doc, on="__row", how="left", maintain_order="left")
        reason = (
            pl.when(pl.col("__doc_drop").is_not_null()).then(pl.col("__doc_drop"))
            .when(pl.col("__sent").fill_null(0) < c.min_sentences).then(pl.lit("c4_too_few_sentences"))
            .otherwise(pl.lit(None, dtype=pl.Utf8))
        )
        out = out.with_columns(reason.alias(REASON))
        # kept documents get their filtered text; dropped ones keep the original (for rejects/)
        new_text = pl.col("__new_text").fill_null("").str.strip_chars()
        out = out.with_columns(
            pl.when(pl.col(REASON).is_null()).then(new_text).otherwise(pl.col("text")).alias("text")
        ).drop("__row", "__doc_drop", "__sent", "__new_text")
        res = split_by_reason(tv.invalidate(out))
        res.counters = counters
        return res
