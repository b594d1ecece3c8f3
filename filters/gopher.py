"""MassiveText quality and repetition rules (Rae et al. 2021, "Scaling Language Models", appendix A).

Defaults are the paper's thresholds (Table A1), which are also datatrove's defaults; the rule order
and the exact quantities follow datatrove's ``GopherQualityFilter`` / ``GopherRepetitionFilter`` so
that keep/drop decisions agree (docs/filters.md maps the reason names). Deliberate differences are
listed in each class docstring.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from pydantic import Field

from curate.engine.registry import register
from curate.engine.stage import Filter, Rule, StageConfig
from curate.filters import textview as tv

#: The paper's stop words ("the, be, to, of, and, that, have, with").
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


@register("gopher_quality")
class GopherQuality(Filter):
    """Gopher quality rules: word count, mean word length, symbol ratios, bullets, alphabetic words, stop words.

    Words are the shared spaCy-like tokens (:mod:`curate.filters.textview`); "words" for the count and
    the mean length are tokens with at least one non-punctuation character, ratios divide by all
    tokens, as in datatrove. The stop-word rule counts *distinct* stop words present (datatrove's
    set intersection); the paper says "at least two of" them, which reads the same.
    """  # noqa: E501

    class Config(StageConfig):
        min_words: int | None = Field(
            50, description="Drop documents with fewer words (non-symbol tokens). None disables."
        )
        max_words: int | None = Field(100_000, description="Drop documents with more words. None disables.")
        min_mean_word_len: float | None = Field(
            3, description="Drop if the mean word length (chars) is below this."
        )
        max_mean_word_len: float | None = Field(
            10, description="Drop if the mean word length (chars) is above this."
        )
        max_symbol_word_ratio: float | None = Field(
            0.1, description="Drop if '#' per token, or '...'/'…' per token, exceeds this."
        )
        max_bullet_lines_ratio: float | None = Field(
            0.9, description="Drop if more than this fraction of lines starts with a bullet ('•' or '-')."
        )
        max_ellipsis_lines_ratio: float | None = Field(
            0.3, description="Drop if more than this fraction of lines ends with an ellipsis."
        )
        min_alpha_words_ratio: float | None = Field(
            0.8, description="Drop if fewer than this fraction of tokens contain an alphabetic character."
        )
        min_stop_words: int | None = Field(
            2, description="Drop if fewer than this many distinct stop words occur."
        )
        stop_words: list[str] = Field(list(GOPHER_STOP_WORDS), description="The stop words (case-sensitive).")

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        return tv.ensure(
            df, "__tokens", "__n_tokens", "__n_words", "__word_chars", "__n_alpha_tokens", "__lines"
        )

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        c = self.config
        n_tok = pl.col("__n_tokens").cast(pl.Float64)
        n_words = pl.col("__n_words")
        # no words: null, so neither length rule fires (np.mean([]) is NaN in datatrove: comparisons False)
        mean_len = (pl.col("__word_chars") / n_words).fill_nan(None)
        lines = pl.col("__lines")
        n_lines = lines.list.len().cast(pl.Float64)
        bullets = lines.list.eval(pl.element().str.strip_chars_start().str.contains(r"^[•\-]")).list.sum()
        ellipsis_end = lines.list.eval(
            pl.element().str.strip_chars_end().str.contains(r"(?:\.\.\.|…)$")
        ).list.sum()
        stop = (
            pl.col("__tokens")
            .list.eval(pl.element().filter(pl.element().is_in(c.stop_words)))
            .list.n_unique()
        )
        rules: list[Rule] = []
        if c.min_words:
            rules.append(Rule("gopher_short_doc", n_words >= c.min_words))
        if c.max_words:
            rules.append(Rule("gopher_long_doc", n_words <= c.max_words))
        if c.min_mean_word_len:
            rules.append(Rule("gopher_below_avg_threshold", ~(mean_len < c.min_mean_word_len)))
        if c.max_mean_word_len:
            rules.append(Rule("gopher_above_avg_threshold", ~(mean_len > c.max_mean_word_len)))
        if c.max_symbol_word_ratio:
            hashes = tv.TEXT.str.count_matches("#", literal=True)
            ellipses = tv.TEXT.str.count_matches(r"\.\.\.|…")
            rules.append(
                Rule("gopher_too_many_hashes", ~((hashes / n_tok).fill_nan(None) > c.max_symbol_word_ratio))
            )
            rules.append(
                Rule(
                    "gopher_too_many_ellipsis", ~((ellipses / n_tok).fill_nan(None) > c.max_symbol_word_ratio)
                )
            )
        if c.max_bullet_lines_ratio:
            rules.append(
                Rule(
                    "gopher_too_many_bullets",
                    ~((bullets / n_lines).fill_nan(None) > c.max_bullet_lines_ratio),
                )
            )
        if c.max_ellipsis_lines_ratio:
            rules.append(
                Rule(
                    "gopher_too_many_end_ellipsis",
                    ~((ellipsis_end / n_lines).fill_nan(None) > c.max_ellipsis_lines_ratio),
                )
            )
        if c.min_alpha_words_ratio:
            rules.append(
                Rule(
                    "gopher_below_alpha_threshold",
                    ~((pl.col("__n_alpha_tokens") / n_tok).fill_nan(None) < c.min_alpha_words_ratio),
                )
            )
        if c.min_stop_words:
            rules.append(Rule("gopher_enough_stop_words", stop >= c.min_stop_words))
        return rules


def duplicate_stats(parts: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(number of elements seen before in the same list, their total chars): datatrove's find_duplicates."""
    dup = pl.element().is_first_distinct().not_()
    n_dup = parts.list.eval(dup).list.sum()
    dup_chars = parts.list.eval(pl.when(dup).then(pl.element().str.len_chars()).otherwise(0)).list.sum()
    return n_dup, dup_chars


_MIX = np.uint64(0x9E3779B97F4A7C15)


def ngram_failures(
    tokens: pl.Series, n_chars: np.ndarray, top: dict[int, float], dup: dict[int, float], alive: np.ndarray
) -> list[str | None]:
    """First failing n-gram rule per document (``top_<n>``, ``dup_<n>``; None = passes), vectorised.

    Rules are checked in datatrove's order (top n-grams by n, then duplicated n-grams by n) and a
    document stops at its first failure. Quantities:

    * top n-gram: chars of the most frequent n-gram joined with spaces, times its count; ties go
      to the first seen (``Counter.most_common``); a once-seen n-gram counts too (datatrove's
      behaviour); documents with fewer than n tokens skip the rule.
    * duplicated n-grams: chars (joined without spaces) of the repeats that datatrove's greedy
      left-to-right scan finds: a repeat is counted and the scan jumps n tokens. A vectorised
      bound (a repeat = seen at any earlier position) finds the few documents that may fail;
      datatrove's exact scan (which forgets n-grams at skipped positions) confirms them.

    n-grams are compared by a 64-bit rolling hash of token hashes. Work shrinks with n: an n-gram
    can only repeat where its (n-1)-gram prefix repeats, so each n only looks at the positions
    whose (n-1)-gram occurs at least twice in its document (few, in natural text). Only documents
    ``alive`` (not dropped by an earlier rule) are examined.
    """
    n_docs = tokens.len()
    out: list[str | None] = [None] * n_docs
    live_idx = np.nonzero(alive)[0]
    if live_idx.size == 0:
        return out
    toks = tokens.gather(live_idx)
    lens = toks.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = toks.explode().drop_nulls()
    m_docs = live_idx.size
    doc = np.repeat(np.arange(m_docs, dtype=np.int64), lens)
    starts = np.concatenate([[0], np.cumsum(lens)])
    doc_end = starts[1:][doc]  # exclusive end of each token's document
    h = flat.hash(seed=7).to_numpy()
    csum = np.concatenate([[0], np.cumsum(flat.str.len_chars().to_numpy().astype(np.int64))])
    limit = {n: f * n_chars[live_idx] for n, f in {**top, **dup}.items()}
    failed = np.zeros(m_docs, dtype=bool)

    # candidates for the current n: positions (and the rolling hash of their n-gram)
    cand = np.arange(h.size, dtype=np.int64)
    hn = h.copy()
    for n in range(2, max([*top, *dup], default=1) + 1):
        ok = (cand + n <= doc_end[cand]) & ~failed[doc[cand]]
        cand, hn = cand[ok], hn[ok]
        hn = hn * _MIX + h[cand + n - 1]
        key = hn ^ (doc[cand].astype(np.uint64) * _MIX)
        keys = pl.Series(key)
        if n in top:
            value = np.full(m_docs, -1, dtype=np.int64)
            # documents with >= n tokens: by default the first n-gram (count 1) is the top one
            has = lens >= n
            first = starts[:-1][has]
            value[has] = csum[first + n] - csum[first] + n - 1
            dup_mask = keys.is_duplicated().to_numpy()
            if dup_mask.any():
                g = (
                    pl.DataFrame({"d": doc[cand[dup_mask]], "k": key[dup_mask], "p": cand[dup_mask]})
                    .group_by("d", "k")
                    .agg(pl.len().alias("cnt"), pl.col("p").min())
                    .sort(["d", "cnt", "p"], descending=[False, True, False])
                    .unique("d", keep="first")
                )
                d, p = g["d"].to_numpy(), g["p"].to_numpy()
                value[d] = g["cnt"].to_numpy() * (csum[p + n] - csum[p] + n - 1)
            bad = (value > limit[n]) & ~failed
            for i in np.nonzero(bad)[0]:
                out[live_idx[i]] = f"top_{n}"
            failed |= bad
        else:
            dup_mask = keys.is_duplicated().to_numpy()
        if n in dup:
            rep = ~keys.is_first_distinct().to_numpy()
            bad = _greedy_dup_exceeds(cand[rep], doc[cand[rep]], csum, n, limit[n], m_docs) & ~failed
            # confirm with datatrove's exact scan (it forgets n-grams at skipped positions), only
            # for the few documents that fail here
            for i in np.nonzero(bad)[0]:
                in_doc = doc[cand] == i
                bad[i] = _datatrove_scan_exceeds(
                    starts[i], lens[i], cand[in_doc], key[in_doc], csum, n, limit[n][i]
                )
            for i in np.nonzero(bad)[0]:
                out[live_idx[i]] = f"dup_{n}"
            failed |= bad
        # an (n+1)-gram can only repeat where this n-gram repeats
        cand, hn = cand[dup_mask], hn[dup_mask]
    return out


def _datatrove_scan_exceeds(start, length, pos, keys, csum, n, limit) -> bool:
    """datatrove's find_all_duplicate on one document, stopping once it exceeds ``limit`` chars.

    ``pos``/``keys``: the document's candidate positions and n-gram hashes; every other position
    holds an n-gram that occurs once, given a key of its own.
    """
    m = int(length) - n + 1
    if m <= 0:
        return False
    full = np.arange(-1, -m - 1, -1, dtype=np.int64).astype(np.uint64)  # unique per position
    full[pos - start] = keys
    full = full.tolist()
    unique: set[int] = set()
    total, idx = 0, 0
    while idx < m:
        k = full[idx]
        if k in unique:
            total += int(csum[start + idx + n] - csum[start + idx])
            if total > limit:
                return True
            idx += n
        else:
            unique.add(k)
            idx += 1
    return False


def _greedy_dup_exceeds(rep_pos, rep_doc, csum, n, limit, n_docs) -> np.ndarray:
    """Per document: do the repeats taken by datatrove's greedy scan hold more than ``limit`` chars?

    The scan takes the first repeat, jumps n tokens, takes the next repeat at or after that, ...
    Its total is at most the chars of all repeats, so only documents whose repeats could exceed
    the limit are scanned, and a scan stops once it exceeds it.
    """
    res = np.zeros(n_docs, dtype=bool)
    if rep_pos.size == 0:
        return res
    chars = csum[rep_pos + n] - csum[rep_pos]
    upper = np.bincount(rep_doc, weights=chars, minlength=n_docs)
    for d in np.nonzero(upper > limit)[0]:
        lo, hi = np.searchsorted(rep_doc, [d, d + 1])
        pos, ch = rep_pos[lo:hi], chars[lo:hi]
        total, i, k, lim = 0, 0, pos.size, limit[d]
        while i < k:
            total += ch[i]
            if total > lim:
                res[d] = True
                break
            i = int(np.searchsorted(pos, pos[i] + n, side="left"))
    return res


@register("gopher_repetition")
class GopherRepetition(Filter):
    """Gopher repetition rules: duplicate paragraphs/lines (by count and by chars), top n-gram and
    duplicated n-gram character fractions.

    Quantities are datatrove's: paragraphs split on ``\\n{2,}`` after strip, lines on ``\\n+``;
    fractions by chars divide by ``len(text)``; top n-gram chars count the n-gram joined with spaces
    (even when it occurs once, as datatrove does), duplicated n-gram chars join without spaces.
    Duplicated n-grams are decided by datatrove's own greedy scan (run only for the documents a
    vectorised bound flags). Difference: n-grams are compared by a 64-bit hash of their tokens,
    not by their concatenation. Empty documents are dropped as ``gopher_empty``.
    """

    class Config(StageConfig):
        dup_line_frac: float | None = Field(
            0.3, description="Max fraction of lines that repeat an earlier line."
        )
        dup_para_frac: float | None = Field(
            0.3, description="Max fraction of paragraphs that repeat an earlier one."
        )
        dup_line_char_frac: float | None = Field(0.2, description="Max fraction of chars in repeated lines.")
        dup_para_char_frac: float | None = Field(
            0.2, description="Max fraction of chars in repeated paragraphs."
        )
        top_n_grams: dict[int, float] = Field(
            {2: 0.2, 3: 0.18, 4: 0.16}, description="n -> max char fraction of the most frequent n-gram."
        )
        dup_n_grams: dict[int, float] = Field(
            {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
            description="n -> max char fraction covered by duplicated n-grams.",
        )

    def prepare(self, df: pl.DataFrame) -> pl.DataFrame:
        df = tv.ensure(df, "__tokens", "__n_chars")
        c = self.config
        paras = tv.TEXT.str.strip_chars().str.replace_all(r"\n{2,}", "\ufdd0").str.split("\ufdd0")
        # re.split("\n+", text) == collapse the runs, then split on "\n" (same empty ends)
        lines = tv.TEXT.str.replace_all(r"\n+", "\n").str.split("\n")
        n_para_dup, para_dup_chars = duplicate_stats(paras)
        n_line_dup, line_dup_chars = duplicate_stats(lines)
        df = df.with_columns(
            (n_para_dup / paras.list.len()).alias("__rep_para_frac"),
            (para_dup_chars / pl.col("__n_chars")).alias("__rep_para_char_frac"),
            (n_line_dup / lines.list.len()).alias("__rep_line_frac"),
            (line_dup_chars / pl.col("__n_chars")).alias("__rep_line_char_frac"),
        )
        # n-gram rules only for documents that pass the line/paragraph rules (they stop at the first failure)
        alive = ~pl.any_horizontal(
            (pl.col("__n_chars") == 0),
            *(pl.col(f"__rep_{k}") > v for k, v in self._line_limits().items()),
        ).fill_null(False)
        alive_np = df.select(alive).to_series().to_numpy()
        fails = ngram_failures(
            df["__tokens"], df["__n_chars"].to_numpy(), c.top_n_grams, c.dup_n_grams, alive_np
        )
        return df.with_columns(pl.Series("__rep_ngram", fails, dtype=pl.Utf8))

    def _line_limits(self) -> dict[str, float]:
        c = self.config
        limits = {"para_frac": c.dup_para_frac, "para_char_frac": c.dup_para_char_frac,
                  "line_frac": c.dup_line_frac, "line_char_frac": c.dup_line_char_frac}
        return {k: v for k, v in limits.items() if v}

    def rules(self, df: pl.DataFrame) -> list[Rule]:
        c = self.config
        n_chars = pl.col("__n_chars")
        rules = [Rule("gopher_empty", n_chars > 0)]
        if c.dup_para_frac:
            rules.append(Rule("gopher_dup_para_frac", ~(pl.col("__rep_para_frac") > c.dup_para_frac)))
        if c.dup_para_char_frac:
            rules.append(
                Rule("gopher_dup_para_char_frac", ~(pl.col("__rep_para_char_frac") > c.dup_para_char_frac))
            )
        if c.dup_line_frac:
            rules.append(Rule("gopher_dup_line_frac", ~(pl.col("__rep_line_frac") > c.dup_line_frac)))
        if c.dup_line_char_frac:
            rules.append(
                Rule("gopher_dup_line_char_frac", ~(pl.col("__rep_line_char_frac") > c.dup_line_char_frac))
            )
        ngram = pl.col("__rep_ngram")
        for n in sorted(c.top_n_grams):
            rules.append(Rule(f"gopher_top_{n}_gram", ngram != f"top_{n}"))
        for n in sorted(c.dup_n_grams):
            rules.append(Rule(f"gopher_dup_{n}_gram", ngram != f"dup_{n}"))
        return rules
