"""``template: hf:PATH`` - a local tokenizer directory's own Jinja ``chat_template``.

The text is what ``tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)`` renders
- the inference path itself - on the conversation as the template reads it (reasoning as
``reasoning_content``, native ``tool_calls``, ``tool`` results; see :func:`template_messages`).

Trained spans are found by rendering prefixes of the conversation (the standard trick) and
locating each assistant turn *in the full render*:

* the turn starts where ``render(messages[:i], add_generation_prompt=True)`` ends when that is a
  prefix of the full text; a template that rewrites history (drops old ``<think>`` blocks, opens
  the generation prompt with ``<think>``) is handled by taking ``render(messages[:i])`` as the
  prefix and as much of the generation prompt as the full text really has there (cut at a special
  token), so each assistant turn is masked *as this conversation renders it*;
* the turn ends at the first end-of-turn marker after its visible content (and tool calls). The
  markers are the special tokens a probe conversation ends its assistant turns with
  (:meth:`HFChatTemplate.eot_markers`); a span that runs into a turn-opening marker is refused.

The trained span is the turn's reasoning (when the template renders it and ``train_reasoning``),
its content and tool calls, and the end-of-turn marker; tool results, prompts and separators are
never trained. A turn whose content the template does not render is rejected
(``sft_template_content_changed``), as is a row whose user/system text the template drops
(``sft_template_drops_message``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from curate.sft.templates import Segment, TemplateError

PROBE = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"},
    {"role": "assistant", "content": "I am an assistant"},
]
PROBE_SYSTEM = [{"role": "system", "content": "You are a helpful assistant"}, *PROBE]


def split_reasoning(content: str) -> tuple[str | None, str]:
    """``<think>R</think>C`` -> (R, C) the way reasoning templates parse it (Qwen3, DeepSeek-R1)."""
    if "</think>" not in content:
        return None, content
    head, _, tail = content.partition("</think>")
    reasoning = head.split("<think>")[-1].strip("\n")
    return reasoning, tail.lstrip("\n")


def template_messages(messages: list[dict], fields: list | None = None) -> list[dict]:
    """The conversation as chat templates read it.

    ``fields`` (the ``message_fields`` column, one entry per message or null) adds or overrides
    keys (``tool_calls``, ``tool_call_id``, ``name``, ``content``). An assistant content that
    opens with ``<think>…</think>`` is split into ``reasoning_content`` and content (transformers
    also passes it as ``thinking``/``reasoning``, the names other templates read). Keys starting
    with ``_`` are never shown to the template: ``_src`` is the message as given, ``_fields`` its
    entry of ``fields`` (the formatter writes them back).
    """
    out = []
    for i, m in enumerate(messages):
        extra = fields[i] if fields and i < len(fields) and isinstance(fields[i], dict) else None
        msg = {"role": m["role"], "content": m["content"], "_src": m, "_fields": extra}
        if extra:
            msg.update(extra)
        if msg["role"] == "assistant" and isinstance(msg.get("content"), str) and "reasoning_content" not in msg:
            reasoning, content = split_reasoning(msg["content"])
            if reasoning is not None:
                msg["content"], msg["reasoning_content"] = content, reasoning
        out.append(msg)
    return out


class HFChatTemplate:
    """Segments for a tokenizer's own chat template (see module docstring)."""

    def __init__(
        self,
        tokenizer,
        encoder,
        source: str,
        train_reasoning: bool = True,
        template_kwargs: dict | None = None,
    ):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                f"tokenizer at {source} has no chat_template (chat_template.jinja or in "
                "tokenizer_config.json)"
            )
        from transformers.utils.chat_template_utils import _compile_jinja_template

        self.tokenizer = tokenizer
        self.encoder = encoder
        self.name = f"hf:{source}"
        self.jinja = tokenizer.chat_template
        self.train_reasoning = train_reasoning
        self._compiled = _compile_jinja_template(self.jinja)
        self._kwargs = {**tokenizer.special_tokens_map, **(template_kwargs or {})}
        bos = tokenizer.bos_token
        try:  # some templates need variables (tools, functions) to render at all: rows will say so
            probe = self.render([{"role": "user", "content": "x"}], None, True)
        except Exception:
            probe = ""
        self.starts_with_bos = bool(bos) and probe.startswith(bos)
        self.eot, self.openers = self._probe_markers()

    # --- rendering -------------------------------------------------------------------------
    def render(self, messages: list[dict], tools, add_generation_prompt: bool) -> str:
        """What ``apply_chat_template(messages, tools=tools, tokenize=False)`` returns (same Jinja
        environment, same variables: the tokenizer's special tokens and the template kwargs)."""
        from transformers.utils.chat_template_utils import _alias_reasoning_fields

        msgs = _alias_reasoning_fields(
            [{k: v for k, v in m.items() if v is not None and k[:1] != "_"} for m in messages]
        )
        return self._compiled.render(
            messages=msgs, tools=tools, documents=None, add_generation_prompt=add_generation_prompt,
            **self._kwargs,
        )

    def _render(self, messages, tools, gen) -> str:
        try:
            return self.render(messages, tools, gen)
        except Exception as e:  # the template's own raise_exception (roles, tool ids...)
            raise TemplateError("sft_template_error", str(e)[:200]) from e

    # --- markers -----------------------------------------------------------------------------
    def _specials(self, text: str) -> list[re.Match]:
        split = self.encoder.special_split
        return list(split.finditer(text)) if split else []

    def _probe_markers(self) -> tuple[frozenset[str], frozenset[str]]:
        """(end-of-turn markers, turn-opening markers) from probe conversations.

        The end-of-turn marker of an assistant turn is the first special token after its content
        (in the full render and as the last turn); the openers are the special tokens between an
        assistant turn's end and the next user content (they must never be trained)."""
        eot: set[str] = set()
        openers: set[str] = set()
        for probe in (PROBE, PROBE_SYSTEM):
            try:
                full = self.render(probe, None, False)
                last = self.render(probe[:2], None, False)
            except Exception:
                continue
            for text, content in ((full, "Hi there"), (full, "I am an assistant"), (last, "Hi there")):
                at = text.find(content)
                if at < 0:
                    continue
                after = [m for m in self._specials(text) if m.start() >= at + len(content)]
                if after and not text[at + len(content) : after[0].start()].strip():
                    eot.add(after[0].group())
            a1 = full.find("Hi there")
            u2 = full.find("Who are you")
            if 0 <= a1 < u2:
                for m in self._specials(full[a1:u2]):
                    openers.add(m.group())
        openers -= eot
        return frozenset(eot), frozenset(openers)

    # --- segments ----------------------------------------------------------------------------
    def _turn_start(self, messages, tools, i: int, full: str, pos: int) -> int:
        prompt = self._render(messages[:i], tools, True)
        if full.startswith(prompt) and len(prompt) >= pos:
            return len(prompt)
        base = self._render(messages[:i], tools, False)
        if not (full.startswith(base) and prompt.startswith(base) and len(base) >= pos):
            raise TemplateError("sft_template_not_prefix_stable", f"turn {i}")
        gen = prompt[len(base) :]
        rest = full[len(base) :]
        k = 0
        while k < len(gen) and k < len(rest) and gen[k] == rest[k]:
            k += 1
        if k < len(gen):  # only part of the generation prompt is there: cut at a special token's end
            ends = [m.end() for m in self._specials(gen[:k])]
            k = ends[-1] if ends else 0
        return len(base) + k

    def segments(
        self, messages: list[dict], tools=None, train_on: str = "assistant"
    ) -> tuple[list[Segment], dict[int, str]]:
        """Segments of the full render and, per trained assistant turn, its trained text."""
        full = self._render(messages, tools, False)
        for m in messages:
            if m["role"] in ("user", "system") and isinstance(m.get("content"), str):
                text = m["content"].strip()
                if text and text not in full:
                    raise TemplateError("sft_template_drops_message", f"a {m['role']} message")
        assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        trained_turns = set(assistants[-1:]) if train_on == "last_turn" else set(assistants)
        specials = self._specials(full)
        segs: list[Segment] = []
        expected: dict[int, str] = {}
        pos = 0
        for i in assistants:
            start = self._turn_start(messages, tools, i, full, pos)
            content = messages[i].get("content") or ""
            if not isinstance(content, str):
                raise TemplateError("sft_non_text_content", f"turn {i}")
            c_at, c_end = start, start
            if content.strip():
                for cand in (content, content.strip()):
                    at = full.find(cand, start)
                    if at >= 0:
                        c_at, c_end = at, at + len(cand)
                        break
                else:
                    raise TemplateError("sft_template_content_changed", f"turn {i}")
            eot = next((m for m in specials if m.start() >= c_end and m.group() in self.eot), None)
            if eot is None:
                raise TemplateError("sft_template_no_eot", f"turn {i}: no end-of-turn marker after the content")
            if any(start <= m.start() < eot.start() and m.group() in self.openers for m in specials):
                raise TemplateError("sft_template_no_eot", f"turn {i}: the turn runs into the next one")
            trained = train_on == "all" or i in trained_turns
            if full[pos:start]:
                segs.append(Segment(full[pos:start], train_on == "all", i))
            # reasoning rendered before the content: trained with the turn unless train_reasoning is off
            reasoning = messages[i].get("reasoning_content")
            head_end = c_at if reasoning and content.strip() else start
            if head_end > start:
                train_head = trained and (self.train_reasoning or train_on == "all")
                segs.append(Segment(full[start:head_end], train_head, i, "content" if train_head else "markup"))
            if eot.start() > head_end:
                segs.append(Segment(full[head_end : eot.start()], trained, i, "content"))
            segs.append(Segment(eot.group(), trained, i, "eot"))
            if trained and train_on != "all":
                expected[i] = "".join(s.text for s in segs if s.turn == i and s.trained)
            pos = eot.end()
        if full[pos:]:
            segs.append(Segment(full[pos:], train_on == "all"))
        return segs, expected


def parse_json(value: Any) -> Any:
    """A JSON text column value (tools, message_fields) as Python data; other values unchanged."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return None
    return value


def load_tokenizer(path: str | Path):
    """A local tokenizer directory through transformers (never downloads)."""
    from transformers import AutoTokenizer

    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"tokenizer directory {p} does not exist")
    return AutoTokenizer.from_pretrained(str(p), local_files_only=True)
