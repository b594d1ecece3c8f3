"""Chat templates as data: where every piece of a conversation goes, and which pieces are trained.

A :class:`ChatTemplate` says, per role, the text before and after a turn's content, where the
system prompt goes, whether the text starts with BOS, and the assistant's end-of-turn marker.
:meth:`ChatTemplate.segments` turns a conversation into ``Segment``s (text + trained flag + the
turn it belongs to); joining them gives the rendered text, and encoding them one by one gives
``input_ids`` and ``labels`` by construction (see :mod:`curate.sft.masks`), so masks never depend
on searching the rendered text for markers.

Every built-in also carries the Jinja ``chat_template`` that renders the same text, so a model
trained on these rows can be saved with a template that reproduces them at inference. Where a
Hugging Face model ships that exact template, ``hf_equivalent`` names it (tests compare both
renderings through ``transformers.apply_chat_template``):

========================  =================================================================
built-in                  equals the HF chat template of
========================  =================================================================
``chatml``                teknium/OpenHermes-2.5-Mistral-7B (generic ChatML); also
                          Qwen2.5-Instruct when the conversation has a system prompt and no tools
``llama3``                meta-llama/Meta-Llama-3-8B-Instruct; Llama-3.1/3.3 when the system
                          prompt carries their "Cutting Knowledge Date" header
``llama2``                meta-llama/Llama-2-7b-chat-hf (BOS before every ``[INST]``)
``mistral``               mistralai/Mistral-Nemo-Instruct-2407 (v3-tekken); a conversation
                          with a system prompt is rejected (that template drops it, see below)
``vicuna``                lmsys vicuna v1.1 (eachadea/vicuna-13b-1.1)
``alpaca``                none (Stanford Alpaca prompt; our own Jinja)
``chatglm``               none (ChatGLM2 ``[Round n]\\n\\n问：…\\n\\n答：`` rounds; our own Jinja;
                          the ``[gMASK]sop`` prefix of ChatGLM's own tokenizer is not added)
``human_assistant``       none (Anthropic HH ``\\n\\nHuman: … \\n\\nAssistant: …``; our own Jinja)
========================  =================================================================
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from curate.sft.jinja import (
    ALPACA_JINJA,
    CHATGLM_JINJA,
    CHATML_JINJA,
    HUMAN_ASSISTANT_JINJA,
    LLAMA2_JINJA,
    LLAMA3_JINJA,
    MISTRAL_JINJA,
    VICUNA_JINJA,
)

# Placeholders inside template strings, resolved from the tokenizer at setup.
BOS, EOS = "{bos}", "{eos}"


@dataclasses.dataclass(frozen=True)
class Segment:
    """A piece of rendered text. ``turn`` is the message index it belongs to (-1: none).

    ``kind`` is ``content`` (an assistant's content), ``eot`` (its end-of-turn marker) or
    ``markup`` (everything else: role headers, user/system text, separators).
    """

    text: str
    trained: bool
    turn: int = -1
    kind: Literal["content", "eot", "markup"] = "markup"


class TemplateError(ValueError):
    """A conversation this template cannot render; ``reason`` is the reject reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class ChatTemplate:
    """One chat format, as data.

    ``turn_prefix``/``turn_suffix`` map a role to the text around its content (``{role}`` and
    ``{round}`` - the 1-based count of user turns so far - are substituted; ``*`` is the fallback
    for roles not listed, absent when the format cannot express other roles). The assistant turn
    is ``turn_prefix[assistant] + content + eot_sep + eot + turn_suffix[assistant]``; content and
    ``eot`` are the trained part, ``eot_sep`` (e.g. llama2's space before ``</s>``) is not.
    ``system`` says where a leading system message goes: as an ordinary turn (``turn``), as text
    before everything (``preamble``, formatted with ``system_format``), or folded into the first
    user message's content (``first_user``, formatted with
    ``system_format`` that has ``{system}`` and ``{content}``), or ``unsupported``: the HF template
    would not render it for a training conversation, so such rows are rejected, not silently
    stripped of their system prompt.
    """

    name: str
    jinja: str
    turn_prefix: dict[str, str]
    turn_suffix: dict[str, str]
    eot: str
    generation_prompt: str
    start: str = ""
    eot_sep: str = ""
    system: Literal["turn", "preamble", "first_user", "unsupported"] = "turn"
    system_format: str = "{system}"
    trim: bool = False  # content is stripped of surrounding whitespace when rendered
    strip_user_after_system: bool = False  # llama2 strips the (system-folded) user content
    special_tokens: tuple[str, ...] = ()  # markers the tokenizer must have as single tokens
    hf_equivalent: str | None = None

    # --- rendering -------------------------------------------------------------------------
    def _fill(self, s: str, role: str, rnd: int, bos: str, eos: str) -> str:
        return s.replace("{role}", role).replace("{round}", str(rnd)).replace(BOS, bos).replace(EOS, eos)

    def _affixes(self, role: str) -> tuple[str, str]:
        if role not in self.turn_prefix and "*" not in self.turn_prefix:
            raise TemplateError(f"sft_template_unsupported_role:{role}", f"template {self.name}")
        return (
            self.turn_prefix.get(role, self.turn_prefix.get("*", "")),
            self.turn_suffix.get(role, self.turn_suffix.get("*", "")),
        )

    def segments(
        self,
        messages: list[dict],
        bos: str = "",
        eos: str = "",
        train_on: Literal["assistant", "all", "last_turn"] = "assistant",
    ) -> list[Segment]:
        """The conversation as segments; joining their text is exactly :meth:`render`'s output."""
        msgs = list(messages)
        system = None
        if msgs and msgs[0]["role"] == "system" and self.system != "turn":
            system = msgs[0]["content"]
            msgs = msgs[1:]
            offset = 1
        else:
            offset = 0
        user_idx = [i for i, m in enumerate(msgs) if m["role"] == "user"]
        fold_into = None
        if system is not None and self.system == "unsupported":
            raise TemplateError(
                "sft_template_drops_system", f"template {self.name} cannot render a system prompt here"
            )
        if system is not None and self.system == "first_user":
            if not user_idx:
                raise TemplateError(
                    "sft_no_user_turn", f"template {self.name} folds the system prompt into a user turn"
                )
            fold_into = user_idx[0]
        last_assistant = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=-1)

        out: list[Segment] = []
        start = self._fill(self.start, "", 0, bos, eos)
        if start:
            out.append(Segment(start, train_on == "all"))
        if system is not None and self.system == "preamble":
            out.append(
                Segment(self.system_format.replace("{system}", self._content(system)), train_on == "all")
            )
        rnd = 0
        for i, m in enumerate(msgs):
            role, content = m["role"], self._content(m["content"])
            if role == "user":
                rnd += 1
            if role == "system" and self.system != "turn":
                raise TemplateError("sft_system_not_first", f"template {self.name}")
            prefix, suffix = self._affixes(role)
            prefix, suffix = self._fill(prefix, role, rnd, bos, eos), self._fill(suffix, role, rnd, bos, eos)
            turn = i + offset
            if role == "assistant":
                trained = train_on == "all" or train_on == "assistant" or i == last_assistant
                if prefix:
                    out.append(Segment(prefix, train_on == "all", turn))
                out.append(Segment(content, trained, turn, "content"))
                if self.eot_sep:
                    out.append(Segment(self.eot_sep, train_on == "all", turn))
                out.append(Segment(self._fill(self.eot, role, rnd, bos, eos), trained, turn, "eot"))
                if suffix:
                    out.append(Segment(suffix, train_on == "all", turn))
            else:
                if i == fold_into:  # folded like the HF templates do: raw content, then (llama2) strip
                    content = self.system_format.replace("{system}", system).replace(
                        "{content}", m["content"]
                    )
                    if self.strip_user_after_system:
                        content = content.strip()
                out.append(Segment(prefix + content + suffix, train_on == "all", turn))
        return out

    def _content(self, content: str) -> str:
        return content.strip() if self.trim else content

    def render(
        self, messages: list[dict], bos: str = "", eos: str = "", add_generation_prompt: bool = False
    ) -> str:
        """The rendered text (what ``apply_chat_template(tokenize=False)`` gives)."""
        text = "".join(s.text for s in self.segments(messages, bos, eos))
        if add_generation_prompt:
            text += self._fill(self.generation_prompt, "assistant", 0, bos, eos)
        return text

    def assistant_content(self, content: str) -> str:
        """An assistant turn's content exactly as rendered (after this template's trimming)."""
        return self._content(content)

    @property
    def uses_bos(self) -> bool:
        return BOS in self.start or any(BOS in p for p in self.turn_prefix.values())

    @property
    def uses_eos(self) -> bool:
        return EOS in self.eot


# ---------------------------------------------------------------------------------------------
# The built-ins. Their Jinja strings live in curate.sft.jinja (HF templates verbatim where one exists).

TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in [
        ChatTemplate(  # the assistant suffix is only the newline: <|im_end|> is the trained eot
            name="chatml",
            jinja=CHATML_JINJA,
            turn_prefix={"*": "<|im_start|>{role}\n", "assistant": "<|im_start|>assistant\n"},
            turn_suffix={"*": "<|im_end|>\n", "assistant": "\n"},
            eot="<|im_end|>",
            generation_prompt="<|im_start|>assistant\n",
            special_tokens=("<|im_start|>", "<|im_end|>"),
            hf_equivalent="teknium/OpenHermes-2.5-Mistral-7B",
        ),
        ChatTemplate(
            name="llama3",
            jinja=LLAMA3_JINJA,
            start=BOS,
            turn_prefix={"*": "<|start_header_id|>{role}<|end_header_id|>\n\n"},
            turn_suffix={"*": "<|eot_id|>", "assistant": ""},
            eot="<|eot_id|>",
            generation_prompt="<|start_header_id|>assistant<|end_header_id|>\n\n",
            trim=True,
            special_tokens=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
            hf_equivalent="meta-llama/Meta-Llama-3-8B-Instruct",
        ),
        ChatTemplate(
            name="llama2",
            jinja=LLAMA2_JINJA,
            turn_prefix={"user": BOS + "[INST] ", "assistant": " "},
            turn_suffix={"user": " [/INST]", "assistant": ""},
            eot=EOS,
            eot_sep=" ",
            generation_prompt="",
            system="first_user",
            system_format="<<SYS>>\n{system}\n<</SYS>>\n\n{content}",
            trim=True,
            strip_user_after_system=True,
            hf_equivalent="meta-llama/Llama-2-7b-chat-hf",
        ),
        ChatTemplate(
            name="mistral",
            jinja=MISTRAL_JINJA,
            start=BOS,
            turn_prefix={"user": "[INST]", "assistant": ""},
            turn_suffix={"user": "[/INST]", "assistant": ""},
            eot=EOS,
            generation_prompt="",
            # Mistral-Nemo renders the system prompt only inside a user message that is the *last*
            # message (``loop.last``): a training conversation ends with the assistant, so its
            # system prompt would vanish. We reject such rows instead (sft_template_drops_system).
            system="unsupported",
            hf_equivalent="mistralai/Mistral-Nemo-Instruct-2407",
        ),
        ChatTemplate(
            name="vicuna",
            jinja=VICUNA_JINJA,
            turn_prefix={"user": "USER: ", "assistant": "ASSISTANT: "},
            turn_suffix={"user": "\n", "assistant": "\n"},
            eot="</s>",
            generation_prompt="ASSISTANT:",
            system="preamble",
            system_format="{system}\n\n",
            special_tokens=("</s>",),
            hf_equivalent="eachadea/vicuna-13b-1.1",
        ),
        ChatTemplate(
            name="alpaca",
            jinja=ALPACA_JINJA,
            turn_prefix={"user": "### Instruction:\n", "assistant": ""},
            turn_suffix={"user": "\n\n### Response:\n", "assistant": "\n\n"},
            eot=EOS,
            generation_prompt="",
            system="preamble",
            system_format="{system}\n\n",
        ),
        ChatTemplate(
            name="chatglm",
            jinja=CHATGLM_JINJA,
            turn_prefix={"user": "[Round {round}]\n\n问：", "assistant": ""},
            turn_suffix={"user": "\n\n答：", "assistant": "\n\n"},
            eot=EOS,
            generation_prompt="",
            system="preamble",
            system_format="{system}\n\n",
        ),
        ChatTemplate(
            name="human_assistant",
            jinja=HUMAN_ASSISTANT_JINJA,
            turn_prefix={"user": "\n\nHuman: ", "assistant": "\n\nAssistant: "},
            turn_suffix={"user": "", "assistant": ""},
            eot=EOS,
            generation_prompt="\n\nAssistant: ",
            system="preamble",
            system_format="{system}",
        ),
    ]
}


def get_template(name: str) -> ChatTemplate:
    """A built-in template by name (``hf:PATH`` templates are handled by :mod:`curate.sft.hf_template`)."""
    if name not in TEMPLATES:
        raise KeyError(f"unknown chat template {name!r}; built-ins: {', '.join(TEMPLATES)} or hf:PATH")
    return TEMPLATES[name]
