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
PROBE_TOOLS = [{"type": "function", "function": {"name": "probe", "description": "probe",
                                                  "parameters": {"type": "object", "properties": {}}}}]


def split_reasoning(content: str) -> tuple[str | None, str]:
    """``<think>R</think>C`` -> (R, C) the way reasoning templates parse it (Qwen3, DeepSeek-R1)."""
    if "</think>" not in content:
        return None, content
    head, _, tail = content.partition("</think>")
    reasoning = head.split("<think>")[-1].strip("\n")
    return reasoning, tail.lstrip("\n")


def template_messages(
    messages: list[dict], fields: list | None = None, native_tools: bool = True
) -> list[dict]:
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
        if extra and not native_tools:  # the template has no tool calls: they stay content (JSON)
            extra = {k: v for k, v in extra.items() if k not in ("tool_calls", "content")}
        if extra:
            msg.update(extra)
        plain = isinstance(msg.get("content"), str) and "reasoning_content" not in msg
        if msg["role"] == "assistant" and plain:
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
        self.native_tools = "tool_calls" in self.jinja

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

    def _probe_markers(self) -> tuple[tuple[str, ...], frozenset[str]]:
        """(end-of-turn markers, turn-opening markers) from probe conversations.

        An end-of-turn marker is what the template writes after an assistant turn's content up to
        its last special token: as the last turn (``<|im_end|>``, Cohere's
        ``<|END_TEXT|><|END_OF_TURN_TOKEN|>``, gpt-oss's ``<|return|>``; a template that appends
        its generation prompt to every render, as Command R7B does, has that prompt cut off) and
        in history (the first special token after the content: gpt-oss's ``<|end|>``). A template
        that writes no special token after its last assistant turn has none, and ``eot_problem``
        says why (the ``template_eot`` check refuses it). The openers are the special tokens that
        open the next turn after a marker: a trained span never reaches one."""
        eot: set[str] = set()
        openers: set[str] = set()
        self.eot_problem = ""
        rendered = False
        last_ok = False
        errors = []
        for probe in (PROBE, PROBE_SYSTEM):
            for probe_tools in (None, PROBE_TOOLS):
                try:
                    full = self.render(probe, probe_tools, False)
                    last = self.render(probe[:2], probe_tools, False)
                    head = self.render(probe[:1] if probe is PROBE else probe[:2], probe_tools, False)
                    u = head.rfind("Hello")
                    appended = head[u + len("Hello") :] if u >= 0 else ""
                except Exception as e:
                    errors.append(str(e)[:120])
                    continue
                rendered = True
                at = last.find("Hi there")
                if at >= 0:
                    tail = last[at + len("Hi there") :]
                    # a template that appends its generation prompt to every render (Command R7B):
                    # what the last turn's tail shares with the prompt-only render's is not the turn's
                    # (or an instruction turn, Command R+): the tail it shares with the prompt-only
                    # render, after that shared part's first (closing) token, is a turn of its own
                    head_conv = probe[:1] if probe is PROBE else probe[:2]
                    gen = self.render(head_conv, probe_tools, True)
                    g_specials = {m.group() for m in self._specials(gen[len(head) :])}
                    tail = self._cut_appended(tail, appended, g_specials)
                    after = self._specials(tail)
                    if after and not tail[: after[0].start()].strip():
                        eot.add(tail[after[0].start() : after[-1].end()])
                        last_ok = True
                a1, u2 = full.find("Hi there"), full.find("Who are you")
                if 0 <= a1 < u2:
                    seg = full[a1 + len("Hi there") : u2]
                    after = self._specials(seg)
                    if after and not seg[: after[0].start()].strip():
                        eot.add(after[0].group())
                        for e in sorted(eot, key=len, reverse=True):  # the token after the marker
                            if seg.startswith(e, after[0].start()):
                                nxt = [m for m in after if m.start() >= after[0].start() + len(e)]
                                if nxt:
                                    openers.add(nxt[0].group())
                                break
                break
        if not rendered:
            first = errors[0] if errors else ""
            self.eot_problem = f"the template does not render a plain conversation ({first})"
        elif not last_ok:
            self.eot_problem = (
                "the last assistant turn ends with no special token (the template writes nothing the "
                "model could learn to stop on)"
            )
        if self.eot_problem:
            eot.clear()
        elif "tool_calls" in self.jinja:  # a tool-call turn may end differently (<|call|>, <|eom_id|>)
            call = {"type": "function", "id": "call00001",
                    "function": {"name": "probe", "arguments": {"q": "probe"}}}
            conv = [PROBE[0], {"role": "assistant", "content": "", "tool_calls": [call]}]
            try:
                last = self.render(conv, PROBE_TOOLS, False)
                head = self.render(conv[:1], PROBE_TOOLS, False)
                gen = self.render(conv[:1], PROBE_TOOLS, True)
                u = head.rfind("Hello")
                tail = last[last.rfind("probe") :]
                gen_specials = {m.group() for m in self._specials(gen[len(head) :])}
                tail = self._cut_appended(tail, head[u + 5 :] if u >= 0 else "", gen_specials)
                ends = self._specials(tail)
                if ends and not tail[ends[-1].end() :].strip():
                    # the call's own closing tokens (<|END_ACTION|><|END_OF_TURN_TOKEN|>, <|call|>)
                    run = [ends[-1]]
                    for m in reversed(ends[:-1]):
                        if tail[m.end() : run[0].start()].strip():
                            break
                        run.insert(0, m)
                    eot.add(tail[run[0].start() : run[-1].end()])
            except Exception:
                pass
        in_eot = {m.group() for e in eot for m in self._specials(e)}
        return tuple(sorted(eot, key=len, reverse=True)), frozenset(openers - in_eot)

    def _cut_appended(self, tail: str, appended: str, gen_specials: set[str]) -> str:
        """``tail`` (after a last assistant turn) without a turn the template appends to every render
        (Command R7B's generation prompt, Command R+'s instruction turn): the part it shares with
        ``appended`` (the prompt-only render's tail), after that part's first, closing token, when
        it holds the generation prompt's tokens (or the template has no separate generation prompt)."""
        k = 0
        while k < min(len(tail), len(appended)) and tail[-1 - k] == appended[-1 - k]:
            k += 1
        shared = self._specials(tail[len(tail) - k :])
        if len(shared) >= 2 and (not gen_specials or any(m.group() in gen_specials for m in shared[1:])):
            return tail[: len(tail) - k + shared[0].end()]
        return tail

    def _eot_at(self, full: str, specials: list[re.Match], after: int) -> tuple[int, int] | None:
        """(start, end) of the first end-of-turn marker at or after ``after`` (longest wins)."""
        for m in specials:
            if m.start() < after:
                continue
            for e in self.eot:  # longest first
                if full.startswith(e, m.start()):
                    return m.start(), m.start() + len(e)
        return None

    # --- segments ----------------------------------------------------------------------------
    def _turn_start(self, messages, tools, i: int, full: str, pos: int) -> int:
        prompt = self._render(messages[:i], tools, True)
        if full.startswith(prompt) and len(prompt) >= pos:
            return len(prompt)
        base = self._render(messages[:i], tools, False)
        if not (full.startswith(base) and prompt.startswith(base) and len(base) >= pos):
            return self._turn_start_by_search(messages, tools, i, full, pos, prompt)
        gen = prompt[len(base) :]
        rest = full[len(base) :]
        k = 0
        while k < len(gen) and k < len(rest) and gen[k] == rest[k]:
            k += 1
        if k < len(gen):  # only part of the generation prompt is there: cut at a special token's end
            ends = [m.end() for m in self._specials(gen[:k])]
            k = ends[-1] if ends else 0
        return len(base) + k

    def _turn_start_by_search(self, messages, tools, i, full, pos, prompt) -> int:
        """The turn's start when the template rewrites the text before it (tools listed before the
        last user turn, a system prompt moved): the turn as it renders at the end of its prefix
        conversation, found in the full text after the previous turn."""
        upto = self._render(messages[: i + 1], tools, False)
        if upto.startswith(prompt):
            local = upto[len(prompt) :]
            found = self._eot_at(local, self._specials(local), 0)
            if found is not None:
                at = full.find(local[: found[1]], pos)
                if at >= 0:
                    return at
        # the turn itself renders differently here too (an empty <think></think> only as the latest
        # turn): its content, after the nearest assistant header (the generation prompt, or its
        # part up to a special token / line end), with no turn opener in between
        content = (messages[i].get("content") or "").strip()
        at = full.find(content, pos) if content else -1
        if at >= 0:
            for head in self._gen_heads:
                h = full.rfind(head, pos, at)
                if h >= 0:
                    start = h + len(head)
                    opened = (m for m in self._specials(full) if m.group() in self.openers)
                    if not any(start <= m.start() < at for m in opened):
                        return start
        # the generation prompt itself is not in the text (Command R+ adds an instruction turn to a
        # prompt, R7B a thinking block): where the prompt and the text part, at a special token, the
        # assistant header (or what is left of it) ends, and the turn begins
        k = 0
        while k < min(len(full), len(prompt)) and full[k] == prompt[k]:
            k += 1
        ends = [m.end() for m in self._specials(prompt[:k])]
        anchor = ends[-1] if ends else -1
        if anchor >= pos:
            start = anchor
            for head in self._gen_heads:
                h = full.find(head, max(pos, anchor - len(head)))
                if 0 <= h <= anchor:
                    start = max(start, h + len(head))
                    break
            upto_content = at if content and at >= start else start
            if content and at < start:
                at = full.find(content, start)
                upto_content = at
            if upto_content >= start and not any(
                start <= m.start() < upto_content for m in self._specials(full) if m.group() in self.openers
            ):
                return start
        raise TemplateError("sft_template_not_prefix_stable", f"turn {i}")

    @property
    def _gen_heads(self) -> list[str]:
        """The generation prompt of a probe and its prefixes that end at a special token or a newline,
        longest first (what opens an assistant turn)."""
        if not hasattr(self, "_heads"):
            heads: list[str] = []
            g = ""
            for tools in (None, PROBE_TOOLS):
                try:
                    p = self.render(PROBE[:1], tools, True)
                    b = self.render(PROBE[:1], tools, False)
                    g = p[len(b) :] if p.startswith(b) else ""
                    break
                except Exception:
                    continue
            cuts = {m.end() for m in self._specials(g)} | {k + 1 for k, ch in enumerate(g) if ch == "\n"}
            heads = [g[:k] for k in sorted(cuts | {len(g)}, reverse=True) if k > 0 and self._specials(g[:k])]
            self._heads = list(dict.fromkeys(heads))
        return self._heads

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
            found = self._eot_at(full, specials, c_end)
            calls = messages[i].get("tool_calls")
            if calls and (found is None or any(
                c_end <= m.start() < found[0] and m.group() in self.openers for m in specials
            )):
                raise TemplateError(
                    "sft_template_tool_call_no_eot", f"turn {i}: the template ends a tool call with no marker"
                )
            if found is None:
                raise TemplateError("sft_template_no_eot", f"turn {i}: no end-of-turn marker after it")
            e_start, e_end = found
            if any(c_end <= m.start() < e_start and m.group() in self.openers for m in specials):
                raise TemplateError("sft_template_no_eot", f"turn {i}: the turn runs into the next one")
            if calls and not all(
                isinstance(tc, dict) and str((tc.get("function") or tc).get("name")) in full[start:e_start]
                for tc in calls
            ):
                raise TemplateError("sft_template_drops_tool_calls", f"turn {i}")
            trained = train_on == "all" or i in trained_turns
            if full[pos:start]:
                segs.append(Segment(full[pos:start], train_on == "all", i))
            # reasoning rendered before the content: trained with the turn unless train_reasoning is off
            reasoning = messages[i].get("reasoning_content")
            head_end = c_at if reasoning and content.strip() else start
            if head_end > start:
                train_head = trained and (self.train_reasoning or train_on == "all")
                kind = "content" if train_head else "markup"
                segs.append(Segment(full[start:head_end], train_head, i, kind))
            if e_start > head_end:
                segs.append(Segment(full[head_end:e_start], trained, i, "content"))
            segs.append(Segment(full[e_start:e_end], trained, i, "eot"))
            if trained and train_on != "all":
                expected[i] = "".join(s.text for s in segs if s.turn == i and s.trained)
            pos = e_end
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
