"""Instruction data in the four formats SFT readers meet: Alpaca, ShareGPT, OpenAI ``messages``
and preference pairs, with planted invalid rows and exact duplicates listed in ``sft/truth.json``.

Conversations are built once in a neutral shape (system prompt, user/assistant turns, optional tool
call) and rendered per format. A share of rows is a small synthetic task with a fixed answer
pattern ("Reverse the word: apple" -> "elppa", "What is 3 plus 4?" -> "The answer is 7.") that the
bundled model can learn in a tiny SFT run.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from pathlib import Path

import orjson

from curate.demo.prose import Prose, prose

ROWS_AT_SCALE_1 = 1500
INVALID_RATE = 0.01
DUPLICATE_RATE = 0.005
# The share of rows that are the synthetic task, per format (openai.jsonl carries most of it).
TASK_SHARE = {"alpaca": 0.2, "sharegpt": 0.1, "openai": 0.4, "preference": 0.2}

SYSTEM_PROMPTS = (
    "You are a helpful assistant.",
    "You are a concise assistant. Answer in a few sentences.",
    "You are a friendly tutor who explains things step by step.",
    "Du bist ein hilfreicher Assistent.",
    "Tu es un assistant serviable. 🙂",
)
EN_ASKS = (
    "Explain {a} in simple terms.",
    "Write a short paragraph about {a}.",
    "What is the connection between {a} and {b}?",
    "Give me some advice about {a}.",
    "Describe {a} to a child.",
    "Why does {a} matter for {b}?",
)
FOLLOW_UPS = ("Can you say more?", "Thanks! And what about {a}?", "Please make it shorter.", "Why is that?")
FOREIGN_ASKS = {
    "de": "Erkläre {a} in einfachen Worten.",
    "fr": "Explique {a} en termes simples.",
    "es": "Explica {a} con palabras sencillas.",
    "ru": "Объясни {a} простыми словами.",
    "zh": "请用简单的话解释{a}。",
}
TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
CITIES = ("Lisbon", "Oslo", "Kyiv", "Zürich", "São Paulo", "Kraków", "東京", "Reykjavík")
# Reasons a planted row is invalid, per format.
INVALID_KINDS = {
    "alpaca": ("missing_key", "empty_turn", "not_a_list", "invalid_json"),
    "sharegpt": ("roles_out_of_order", "empty_turn", "missing_key", "not_a_list", "invalid_json"),
    "openai": ("roles_out_of_order", "empty_turn", "missing_key", "not_a_list", "invalid_json"),
    "preference": ("missing_key", "empty_turn", "not_a_list", "invalid_json"),
}


@dataclasses.dataclass
class Conversation:
    """A format-neutral conversation: optional system prompt, then alternating turns."""

    turns: list[tuple[str, str]]  # (user, assistant)
    system: str | None = None
    input: str = ""  # Alpaca-style extra input for the first instruction
    tool: tuple[str, str] | None = None  # (call json, observation json) before the first answer
    rejected: str = ""  # a worse final answer, for preference pairs
    task: bool = False


def task_conversation(rng: random.Random, words: list[str]) -> Conversation:
    """The learnable synthetic task: word reversal or small additions."""
    if rng.random() < 0.5:
        w = rng.choice(words)
        good, bad = w[::-1], w[::-1][1:] + w[-1]
        return Conversation([(f"Reverse the word: {w}", good)], rejected=bad if bad != good else w, task=True)
    a, b = rng.randint(0, 50), rng.randint(0, 50)
    return Conversation(
        [(f"What is {a} plus {b}?", f"The answer is {a + b}.")],
        rejected=f"The answer is {a + b + rng.choice((-1, 1))}.",
        task=True,
    )


def chat_conversation(rng: random.Random, en: Prose, seed: int) -> Conversation:
    """An open question (mostly English, some other languages), sometimes multi-turn or with a tool."""

    def topic(p: Prose) -> str:
        return p.noun_phrase(rng)

    r = rng.random()
    if r < 0.15:
        lang = rng.choice(list(FOREIGN_ASKS))
        p = prose(lang, seed)
        ask = FOREIGN_ASKS[lang].format(a=topic(p))
        return Conversation([(ask, p.paragraph(rng, 2, 5))], rejected=p.paragraph(rng, 1, 1))
    if r < 0.22:
        city = rng.choice(CITIES)
        temp = rng.randint(-5, 32)
        call = json.dumps({"name": "get_weather", "arguments": {"city": city}}, ensure_ascii=False)
        obs = json.dumps(
            {"city": city, "temperature_c": temp, "condition": rng.choice(("sunny", "cloudy", "rain"))},
            ensure_ascii=False,
        )
        return Conversation(
            [(f"What's the weather like in {city} right now?", f"It is {temp} °C in {city} at the moment.")],
            tool=(call, obs),
            rejected="I cannot know that.",
        )
    turns = []
    for k in range(1 if rng.random() < 0.7 else rng.randint(2, 4)):
        a, b = topic(en), topic(en)
        ask = (rng.choice(EN_ASKS) if k == 0 else rng.choice(FOLLOW_UPS)).format(a=a, b=b)
        turns.append((ask, en.paragraph(rng, 2, 6)))
    conv = Conversation(turns, rejected=en.paragraph(rng, 1, 1))
    if rng.random() < 0.3:
        conv.system = rng.choice(SYSTEM_PROMPTS)
    if rng.random() < 0.15:
        conv.input = en.paragraph(rng, 2, 4)
        conv.turns[0] = ("Summarize the following text in one sentence.", en.paragraph(rng, 1, 1))
    return conv


# -- renderers, one per format ---------------------------------------------------------------


def _first_user(c: Conversation) -> str:
    return c.turns[0][0] + (f"\n\n{c.input}" if c.input else "")


def to_alpaca(c: Conversation, rng: random.Random) -> dict:
    *history, (q, a) = c.turns
    row: dict = {
        "instruction": q if len(c.turns) > 1 else c.turns[0][0],
        "input": c.input if len(c.turns) == 1 else "",
        "output": a,
    }
    if c.system:
        row["system"] = c.system
    if history:
        row["history"] = [[u if i else _first_user(c), v] for i, (u, v) in enumerate(history)]
    return row


def to_sharegpt(c: Conversation, rng: random.Random) -> dict:
    conv = [{"from": "system", "value": c.system}] if c.system else []
    for i, (u, a) in enumerate(c.turns):
        conv.append({"from": "human", "value": _first_user(c) if i == 0 else u})
        if i == 0 and c.tool:
            conv.append({"from": "function_call", "value": c.tool[0]})
            conv.append({"from": "observation", "value": c.tool[1]})
        conv.append({"from": "gpt", "value": a})
    row: dict = {"conversations": conv}
    if c.tool:
        row["tools"] = json.dumps(TOOLS)
    return row


def to_openai(c: Conversation, rng: random.Random) -> dict:
    msgs = [{"role": "system", "content": c.system}] if c.system else []
    for i, (u, a) in enumerate(c.turns):
        msgs.append({"role": "user", "content": _first_user(c) if i == 0 else u})
        msgs.append({"role": "assistant", "content": a})
    return {"messages": msgs}


def to_preference(c: Conversation, rng: random.Random) -> dict:
    prompt, chosen, rejected = _first_user(c), c.turns[0][1], c.rejected
    if rng.random() < 0.5:
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }


RENDER: dict[str, Callable[[Conversation, random.Random], dict]] = {
    "alpaca": to_alpaca,
    "sharegpt": to_sharegpt,
    "openai": to_openai,
    "preference": to_preference,
}


def break_row(fmt: str, kind: str, row: dict) -> bytes:
    """Turn a valid row into an invalid one of ``kind`` (serialized line without newline)."""
    row = json.loads(json.dumps(row))
    if kind == "invalid_json":
        return orjson.dumps(row)[:-7]  # truncated mid-record
    if fmt == "alpaca":
        if kind == "missing_key":
            del row["output"]
        elif kind == "empty_turn":
            row["output"] = ""
        else:  # not_a_list
            row["history"] = "q: hello a: hi"
    elif fmt == "preference":
        if kind == "missing_key":
            del row["rejected"]
        elif kind == "empty_turn":
            row["chosen"] = "" if isinstance(row["chosen"], str) else [{"role": "assistant", "content": ""}]
        else:  # not_a_list
            row["chosen"] = {"role": "assistant", "content": "a dict instead of a list"}
    else:
        key, role, text = (
            ("conversations", "from", "value") if fmt == "sharegpt" else ("messages", "role", "content")
        )
        turns = row[key]
        if kind == "roles_out_of_order":
            body = [t for t in turns if t[role] not in ("system",)]
            row[key] = list(reversed(body))  # assistant first
        elif kind == "empty_turn":
            [t for t in turns if t[role] in ("user", "human")][0][text] = ""
        elif kind == "missing_key":
            row = {"dialogue": turns}
        else:  # not_a_list
            row[key] = " ".join(str(t[text]) for t in turns)
    return orjson.dumps(row)


def write_sft_file(path: Path, fmt: str, n: int, seed: int) -> dict:
    """Task: write one SFT file of ``n`` rows; returns its truth entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"sft:{seed}:{fmt}")
    en = prose("en", seed)
    words = [w.split(" ")[-1] for w in en.nouns if w.isalpha()]
    kinds = INVALID_KINDS[fmt]
    n_bad = max(len(kinds), round(n * INVALID_RATE))
    n_dup = max(2, round(n * DUPLICATE_RATE))
    special = rng.sample(range(10, n), n_bad + n_dup)
    bad = {i: kinds[k % len(kinds)] for k, i in enumerate(sorted(special[:n_bad]))}
    dups = set(special[n_bad:])
    recent: list[tuple[int, bytes]] = []
    truth: dict = {"rows": n, "invalid": [], "duplicates": [], "task_rows": 0}
    with open(path, "wb") as f:
        for i in range(n):
            if i in dups:
                j, line = rng.choice(recent)
                truth["duplicates"].append({"index": i, "dup_of": j})
                f.write(line + b"\n")
                continue
            is_task = rng.random() < TASK_SHARE[fmt]
            conv = task_conversation(rng, words) if is_task else chat_conversation(rng, en, seed)
            row = RENDER[fmt](conv, rng)
            if i in bad:
                truth["invalid"].append({"index": i, "reason": bad[i]})
                f.write(break_row(fmt, bad[i], row) + b"\n")
                continue
            line = orjson.dumps(row)
            truth["task_rows"] += conv.task
            recent.append((i, line))
            if len(recent) > 100:
                recent.pop(0)
            f.write(line + b"\n")
    return truth


def plan(out: Path, scale: float, seed: int) -> list[tuple[Path, str, int, int]]:
    """One task per format: (path, format, rows, seed)."""
    n = max(60, round(ROWS_AT_SCALE_1 * scale))
    return [(out / f"{fmt}.jsonl", fmt, n, seed) for fmt in RENDER]


def finish(out: Path, tasks: list[tuple], results: list[dict]) -> dict:
    """Write ``sft/truth.json`` from the per-format truth entries."""
    truth = {task[0].name: r for task, r in zip(tasks, results, strict=True)}
    truth["_about"] = {
        "index": "0-based line number in the file",
        "invalid": "rows a strict reader must reject, with the planted reason",
        "duplicates": "rows that are byte-identical copies of an earlier valid row (dup_of)",
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    return truth
