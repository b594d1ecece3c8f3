"""Planted contamination for measuring recall: benchmark items re-wrapped and re-spaced inside text.

The copies look like text that went through a crawl or a PDF: lines wrapped at a random width with
some words hyphenated at the break, runs of spaces, tabs, CRLF and no-break spaces between words,
indentation, and the item's case changed at random (upper-case first words, title case). Exactly the
changes that plain 13-gram matching on raw text misses; the words themselves are not changed.
"""

from __future__ import annotations

import random

SPACES = ["  ", "\t", " \u00a0", "\r\n", "   "]


def rewrap(text: str, rng: random.Random) -> str:
    """``text`` wrapped at 25-80 columns (some words hyphenated at the break), re-spaced, re-cased."""
    words = text.split()
    if rng.random() < 0.3:
        words = [w.upper() if i < 3 else w for i, w in enumerate(words)]
    elif rng.random() < 0.3:
        words = [w.title() for w in words]
    width = rng.randint(25, 80)
    lines, line = [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            if len(w) >= 6 and w.isalpha() and rng.random() < 0.5:  # hyphenate across the break
                cut = rng.randint(2, len(w) - 2)
                lines.append(line + " " + w[:cut] + "-")
                line = ("  " if rng.random() < 0.3 else "") + w[cut:]
                continue
            lines.append(line)
            line = ("  " if rng.random() < 0.3 else "") + w
        else:
            sep = rng.choice(SPACES) if line and rng.random() < 0.15 else " "
            line = line + sep + w if line else w
    lines.append(line)
    return rng.choice(["\n", "\r\n"]).join(lines)


def plant(host: str, item_text: str, rng: random.Random) -> str:
    """``host`` with the re-wrapped item inserted between two of its paragraphs (or at an end)."""
    paras = host.split("\n\n")
    at = rng.randint(0, len(paras))
    return "\n\n".join(paras[:at] + [rewrap(item_text, rng)] + paras[at:])
