"""Plausible-looking prose in six languages from the hand-written lists in :mod:`curate.demo.words`.

Speed matters (``--scale 1000`` writes gigabytes), so each language gets a fixed pool of
template-generated sentences, built once per (language, seed); documents draw sentences from the
pool *without replacement*. With thousands of sentences per pool, two unrelated documents share
almost no word 5-gram shingles (Jaccard ~0), so the only near-duplicates in the corpus are the
planted ones.
"""

from __future__ import annotations

import functools
import random
import re

from curate.demo.words import FIRST_NAMES, LAST_NAMES, LOREM, VOCABS, Vocab

POOL_SIZE = 6000
_SLOT = re.compile(r"\{([A-Z])\}")
_EN_DETS = ("the", "the", "the", "the", "a", "this", "our", "their", "every", "that")


def capitalize(s: str) -> str:
    """Upper-case the first letter (skipping leading punctuation such as Spanish ``¿``)."""
    for i, ch in enumerate(s):
        if ch.isalpha():
            return s[:i] + ch.upper() + s[i + 1 :]
    return s


class Prose:
    """Sentences, paragraphs, titles and keyword lists for one language."""

    def __init__(self, lang: str, seed: int = 0):
        v: Vocab = VOCABS[lang]
        self.lang = lang
        self.vocab = v
        self.sep = " " if v.spaced else ""
        self.nouns = v.split("nouns")
        self.adjectives = v.split("adjectives")
        self.verbs = v.split("verbs")
        self.intransitive = v.split("intransitive")
        self.adverbs = v.split("adverbs")
        self.prepositions = v.split("prepositions")
        self.times = v.split("times")
        self.openers = v.split("openers")
        self.commerce = v.split("commerce")
        self.nav = v.split("nav")
        self.footer = v.split("footer")
        # Bare content words, nouns weighted 7:3 over adjectives by repetition.
        bare = [w.split(" ")[-1].split("'")[-1] for w in self.nouns]
        self._content = bare * 7 * len(self.adjectives) + self.adjectives * 3 * len(self.nouns)
        # Each template pre-split into literal text and slot letters, so filling is one join.
        self._templates = [_SLOT.split(t) for t in v.templates]
        self.seed = seed
        self._sentences: list[str] | None = None

    @property
    def sentences(self) -> list[str]:
        """The sentence pool, built on first use (vocabulary-only callers never pay for it)."""
        if self._sentences is None:
            rng = random.Random(f"prose:{self.seed}:{self.lang}")
            self._sentences = [self._sentence(rng) for _ in range(POOL_SIZE)]
        return self._sentences

    # -- building blocks ---------------------------------------------------------------------
    def noun_phrase(self, rng: random.Random) -> str:
        noun = rng.choice(self.nouns)
        with_adj = rng.random() < 0.3
        if self.lang == "en":
            det = rng.choice(_EN_DETS)
            if with_adj:
                noun = f"{rng.choice(self.adjectives)} {noun}"
            if det == "a" and noun[0] in "aeiou":
                det = "an"
            return f"{det} {noun}"
        if not with_adj or self.lang == "de":  # German adjectives would need declension
            return noun
        adj = rng.choice(self.adjectives)
        if self.lang in ("fr", "es"):
            return f"{noun} {adj}"
        if self.lang == "zh":
            return f"{adj}{noun}"
        return f"{adj} {noun}"

    def _slot(self, letter: str, rng: random.Random) -> str:
        if letter == "N":
            return self.noun_phrase(rng)
        table = {
            "A": self.adjectives,
            "V": self.verbs,
            "I": self.intransitive,
            "D": self.adverbs,
            "P": self.prepositions,
            "T": self.times,
            "O": self.openers,
        }[letter]
        return rng.choice(table)

    def _sentence(self, rng: random.Random) -> str:
        parts = rng.choice(self._templates)
        out = [p if i % 2 == 0 else self._slot(p, rng) for i, p in enumerate(parts)]
        return capitalize("".join(out))

    # -- public API --------------------------------------------------------------------------
    def paragraph(self, rng: random.Random, n_min: int = 3, n_max: int = 7) -> str:
        """A paragraph of distinct pool sentences."""
        return self.sep.join(rng.sample(self.sentences, rng.randint(n_min, n_max)))

    def paragraphs(self, rng: random.Random, n: int, n_min: int = 3, n_max: int = 7) -> list[str]:
        """``n`` paragraphs of ``n_min``..``n_max`` pool sentences each."""
        counts = [rng.randint(n_min, n_max) for _ in range(n)]
        # choices (with replacement) is several times faster than sample; a repeated sentence in
        # a document is rare (~40 of 6,000) and harmless.
        picked = rng.choices(self.sentences, k=sum(counts))
        out, i = [], 0
        for c in counts:
            out.append(self.sep.join(picked[i : i + c]))
            i += c
        return out

    def title(self, rng: random.Random) -> str:
        """A headline-like phrase without final punctuation."""
        a, b = self.noun_phrase(rng), self.noun_phrase(rng)
        if self.lang == "zh":
            return f"{a}{rng.choice(self.prepositions)}{b}"
        if self.lang == "en":
            words = f"{a} and {b}".split()
            return " ".join(w.capitalize() if i == 0 or len(w) > 3 else w for i, w in enumerate(words))
        joiner = {"de": "und", "fr": "et", "es": "y", "ru": "и"}[self.lang]
        return capitalize(f"{a} {joiner} {b}")

    def content_words(self, rng: random.Random, k: int) -> list[str]:
        """``k`` content words (nouns without articles, adjectives), for keywords and lists."""
        return rng.choices(self._content, k=k)

    def sentence_words(self, rng: random.Random) -> str:
        """One pool sentence (a fresh draw)."""
        return rng.choice(self.sentences)


def prose(lang: str, seed: int = 0) -> Prose:
    """The (cached) :class:`Prose` for ``lang`` and ``seed``."""
    return _prose(lang, seed)


@functools.lru_cache(maxsize=64)
def _prose(lang: str, seed: int) -> Prose:
    return Prose(lang, seed)


def person_name(rng: random.Random) -> str:
    """An invented person name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def lorem(rng: random.Random, n_words: int) -> str:
    """Placeholder Latin that starts with "Lorem ipsum", in sentences."""
    words = ["Lorem", "ipsum"] + [rng.choice(LOREM) for _ in range(n_words - 2)]
    out, i = [], 0
    while i < len(words):
        j = i + rng.randint(6, 14)
        chunk = words[i:j]
        out.append(capitalize(" ".join(chunk)) + ".")
        i = j
    return " ".join(out)
