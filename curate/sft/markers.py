"""The control tokens a Jinja chat template writes, read from its text.

A tokenizer trained for a template (``curate tokenizer train --template FILE.jinja``, the template
audit) must have each of them as one id. Two kinds, as the models' own tokenizers have them:

* **special** (``<|im_start|>``, ``<|eot_id|>``, ``<｜end▁of▁sentence｜>``, ``[INST]``,
  ``<start_of_turn>``...): cut out of the text before BPE and refused inside message content;
* **plain added tokens** (``<think>``, ``</think>``, ``<tool_call>``, ``<tools>``...): one id each,
  but ordinary text otherwise - reasoning and tool calls live in message content, where a special
  token would be refused.
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(
    r"<\|[^|'\"\s<>{}]{1,40}\|>"  # <|im_start|>, <|eot_id|>
    r"|<｜[^｜'\"\s]{1,40}｜>"  # <｜end▁of▁sentence｜> (full-width bars)
    r"|\[/?[A-Z][A-Z_]{1,20}\]"  # [INST], [/INST], [TOOL_CALLS]
    r"|<\|[a-z_:]{2,30}>|<[a-z_:]{2,30}\|>"  # <|turn>, <turn|> (gemma 4)
    r"|<(?:start_of_turn|end_of_turn|seed:[a-z_]+|beginning_of_sentence|end_of_sentence|sep)>"
    r"|<SPECIAL_\d{1,3}>"  # Nemotron-Nano-v2
    r"|〈\|[A-Z_]{2,20}\|〉"  # Laguna's 〈|EOS|〉
    r"|\]~!?b[\[\]]|\[e~\["  # MiniMax ]~!b[ ]~b] [e~[
    r"|</?(?:system|user|assistant)>"  # Laguna's <assistant>...</assistant>
)
_PLAIN = re.compile(
    r"</?(?:think|tool_call|tool_calls|tool_response|tools|tool_result|answer|function|functions"
    r"|response|reasoning|solution)>"
)


def template_markers(jinja: str, rendered: str = "") -> tuple[list[str], list[str]]:
    """(special tokens, plain added tokens) that ``jinja`` writes, each sorted; ``rendered`` (a probe
    rendering) adds markers the template builds at run time (Hy3's ``'<｜hy_eos{}｜>'.format(...)``)."""
    special = sorted({m for m in _SPECIAL.findall(jinja + "\n" + rendered) if "{" not in m})
    plain = sorted(set(_PLAIN.findall(jinja)) - set(special))
    return special, plain


def probe_render(jinja: str, bos: str = "<s>", eos: str = "</s>") -> str:
    """The template's rendering of a probe conversation (with and without a tool), '' if it fails."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from curate.sft.hf_template import PROBE_SYSTEM, PROBE_TOOLS

    out = []
    for tools in (None, PROBE_TOOLS):
        try:
            out.append(render_jinja_template(
                [PROBE_SYSTEM], tools=tools, chat_template=jinja, add_generation_prompt=True,
                bos_token=bos, eos_token=eos,
            )[0][0])
        except Exception:
            continue
    return "\n".join(out)
