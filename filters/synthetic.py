"""Generated web-like documents that exercise every quality rule (tests, agreement checks, benchmarks).

Each document mixes, with random weights, clean prose with the kinds of noise the Gopher, C4 and
FineWeb rules look for: navigation lines, bullet lists, hashtags, ellipses, repeated lines and
paragraphs, n-gram spam, cookie and javascript notices, lorem ipsum, code with braces, number
tables. Weights are drawn continuously, so many documents sit close to the thresholds - where
implementations disagree if they differ. Deterministic for a given seed; no third-party text.
"""

from __future__ import annotations

import random

_WORDS = [
    "time", "year", "people", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
    "state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case", "week",
    "company", "system", "program", "question", "work", "government", "number", "night", "point", "home",
    "water", "room", "mother", "area", "money", "story", "fact", "month", "lot", "right", "study", "book",
    "eye", "job", "word", "business", "issue", "side", "kind", "head", "house", "service", "friend", "father",
    "power", "hour", "game", "line", "end", "member", "law", "car", "city", "community", "name", "president",
    "team", "minute", "idea", "kid", "body", "information", "back", "parent", "face", "others", "level",
    "office", "door", "health", "person", "art", "war", "history", "party", "result", "change", "morning",
    "reason", "research", "girl", "guy", "moment", "air", "teacher", "force", "education", "small", "large",
    "good", "new", "first", "last", "long", "great", "little", "own", "other", "old", "big", "high",
    "different", "local", "important", "make", "know", "think", "take", "see", "come", "want", "look", "use",
    "find", "give", "tell", "ask", "seem", "feel", "try", "leave", "call", "keep", "provide", "hold", "turn",
    "follow", "begin", "bring", "show", "hear", "play", "run", "move", "live", "believe", "happen", "write",
    "sit", "stand", "lose", "pay", "meet", "include", "continue", "learn", "lead", "understand", "watch",
    "speak", "read", "allow", "add", "spend", "grow", "open", "walk", "win", "offer", "remember", "consider",
    "appear", "buy", "wait", "serve", "die", "send", "expect", "build", "stay", "fall", "cut", "reach",
    "remain", "suggest", "raise", "pass", "sell", "garden", "river", "mountain", "weather", "kitchen",
    "library", "window", "market", "season", "village", "harbour", "journey", "letter",
]
_STOP = ("the", "be", "to", "of", "and", "that", "have", "with", "a", "in", "is", "it", "for", "on", "as")
_NAV = (
    "Home", "About us", "Contact", "Login", "Sign up", "Menu", "Search", "Share", "Tweet", "Next", "Previous",
    "Categories", "Archives", "Subscribe", "Follow us", "Related posts", "Read more",
)
_ABBREV = ("Mr.", "Dr.", "e.g.", "U.S.", "etc.", "No.", "i.e.", "St.")


def _sentence(rng: random.Random, lo: int = 6, hi: int = 18) -> str:
    n = rng.randint(lo, hi)
    words = [rng.choice(_STOP) if rng.random() < 0.35 else rng.choice(_WORDS) for _ in range(n)]
    if rng.random() < 0.15:
        words.insert(rng.randrange(len(words)), rng.choice(_ABBREV))
    if rng.random() < 0.2:
        words[rng.randrange(len(words))] += ","
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words)), f"{rng.randint(1, 2030)}")
    if rng.random() < 0.08:
        i = rng.randrange(len(words))
        words[i] = f"{words[i]}-{rng.choice(_WORDS)}"
    if rng.random() < 0.08:
        words.insert(rng.randrange(len(words)), rng.choice(("it's", "don't", "we're", "John's")))
    s = " ".join(words)
    end = rng.choices([".", "!", "?", "...", "", '."'], weights=[80, 4, 5, 3, 6, 2])[0]
    return s[0].upper() + s[1:] + end


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(1, 6)))


def _noise_line(rng: random.Random, kind: str) -> str:
    if kind == "nav":
        return " | ".join(rng.sample(_NAV, rng.randint(1, 4)))
    if kind == "bullet":
        return rng.choice(("- ", "• ", "  - ")) + " ".join(
            rng.choice(_WORDS) for _ in range(rng.randint(1, 8))
        )
    if kind == "hashtag":
        return " ".join("#" + rng.choice(_WORDS) for _ in range(rng.randint(1, 8)))
    if kind == "ellipsis":
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 9))) + rng.choice(
            ("...", "…", " ...")
        )
    if kind == "cookie":
        return rng.choice((
            "This website uses cookies to improve your experience.",
            "By using this site you agree to our Privacy Policy and Terms of Use.",
            "We use cookies for analytics, see our cookie policy.",
        ))
    if kind == "js":
        return "Please enable JavaScript in your browser to view this page."
    if kind == "lorem":
        return "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."
    if kind == "code":
        return rng.choice(
            ("function f(x) { return x + 1; }", "if (a > b) { a = b; }", "var cfg = {debug: true};")
        )
    if kind == "numbers":
        return " ".join(f"{rng.uniform(0, 1000):.2f}" for _ in range(rng.randint(3, 10)))
    if kind == "symbols":
        return " ".join(rng.choice(("*", "|", "--", "»", ">>", "&", "+")) for _ in range(rng.randint(3, 12)))
    if kind == "citation":
        return (
            _sentence(rng) + rng.choice(("[1]", "[12]", "[edit]", "[citation needed]")) + " " + _sentence(rng)
        )
    if kind == "longword":
        return "x" * rng.randint(900, 1100) + " end of line here."
    if kind == "url":
        return f"See https://www.example.com/{rng.choice(_WORDS)}/{rng.randint(1, 99)}.html for details."
    raise ValueError(kind)


_KINDS = ("nav", "bullet", "hashtag", "ellipsis", "cookie", "js", "lorem", "code", "numbers", "symbols",
          "citation", "longword", "url")


def document(rng: random.Random) -> str:
    """One generated document (see the module docstring)."""
    mode = rng.random()
    if mode < 0.06:  # very short
        return _sentence(rng, 2, 12)
    n_blocks = rng.randint(1, 30)
    prose_w = rng.random()
    kinds = rng.sample(_KINDS, rng.randint(0, 4))
    kind_w = [rng.random() ** 2 for _ in kinds]
    blocks: list[str] = []
    for _ in range(n_blocks):
        if not kinds or rng.random() < prose_w:
            blocks.append(_paragraph(rng) if rng.random() < 0.8 else _sentence(rng))
        else:
            k = rng.choices(kinds, weights=kind_w)[0]
            blocks.append(_noise_line(rng, k))
    # repetition: duplicate some blocks (lines / paragraphs / n-gram spam)
    r = rng.random()
    if r < 0.15 and blocks:
        for _ in range(rng.randint(1, 6)):
            blocks.insert(rng.randrange(len(blocks) + 1), rng.choice(blocks))
    elif r < 0.22:
        phrase = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 6)))
        blocks.append(" ".join([phrase] * rng.randint(2, 30)) + ".")
    sep = rng.choices(["\n", "\n\n", " "], weights=[6, 3, 1])[0]
    text = sep.join(blocks)
    if rng.random() < 0.05:
        text = "\n" + text + "\n"
    return text


def corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` generated documents, deterministic for ``seed``."""
    rng = random.Random(seed)
    return [document(rng) for _ in range(n)]
