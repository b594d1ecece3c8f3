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
    r"|<｜[^｜'\"\s{}]{1,40}｜>"  # <｜end▁of▁sentence｜> (full-width bars)
    r"|\[/?[A-Z][A-Z_]{1,20}\]"  # [INST], [/INST], [TOOL_CALLS]
    r"|<\|[a-z_:]{2,30}>|<[a-z_:]{2,30}\|>"  # <|turn>, <turn|> (gemma 4)
    r"|<(?:start_of_turn|end_of_turn|seed:[a-z_]+|beginning_of_sentence|end_of_sentence)>"
)
_PLAIN = re.compile(
    r"</?(?:think|tool_call|tool_calls|tool_response|tools|tool_result|answer|function|functions"
    r"|response|reasoning|solution)>"
)


def template_markers(jinja: str) -> tuple[list[str], list[str]]:
    """(special tokens, plain added tokens) that ``jinja`` writes, each sorted."""
    special = sorted(set(_SPECIAL.findall(jinja)))
    plain = sorted(set(_PLAIN.findall(jinja)) - set(special))
    return special, plain
