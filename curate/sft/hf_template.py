"""``template: hf:PATH`` - a local tokenizer directory's own Jinja ``chat_template``.

The text is what ``tokenizer.apply_chat_template(messages, tokenize=False)`` renders - the
inference path itself. The trained spans are derived by construction from renders of prefixes
(the standard trick): for assistant turn ``i``, ``render(messages[:i], add_generation_prompt=True)``
ends where the turn's content begins, and ``render(messages[:i+1])`` ends after its end-of-turn
marker and separator. This is exact when the template is *prefix-stable* (rendering a longer
conversation only appends text). Each row is checked for that; rows where a template rewrites
earlier turns (e.g. reasoning models that drop old ``<think>`` blocks, or put the system prompt
before the last user turn) are rejected with ``sft_template_not_prefix_stable``.
"""

from __future__ import annotations

from pathlib import Path

from curate.sft.templates import Segment, TemplateError


class HFChatTemplate:
    """Segments for a tokenizer's own chat template (see module docstring)."""

    def __init__(self, tokenizer, encoder, source: str):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(
                f"tokenizer at {source} has no chat_template (chat_template.jinja or in "
                "tokenizer_config.json)"
            )
        self.tokenizer = tokenizer
        self.encoder = encoder
        self.name = f"hf:{source}"
        self.jinja = tokenizer.chat_template
        bos = tokenizer.bos_token
        try:  # some templates need variables (tools, functions) to render at all: rows will say so
            probe = self.render([{"role": "user", "content": "x"}], None, True)
        except Exception:
            probe = ""
        self.starts_with_bos = bool(bos) and probe.startswith(bos)

    def render(self, messages: list[dict], tools, add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def _render(self, messages, tools, gen) -> str:
        try:
            return self.render(messages, tools, gen)
        except Exception as e:  # the template's own raise_exception (roles, tool ids...)
            raise TemplateError("sft_template_error", str(e)[:200]) from e

    def segments(
        self, messages: list[dict], tools=None, train_on: str = "assistant"
    ) -> tuple[list[Segment], dict[int, str]]:
        """Segments of the full render and, per trained assistant turn, ``content + eot``."""
        full = self._render(messages, tools, False)
        assistants = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        trained_turns = set(assistants[-1:]) if train_on == "last_turn" else set(assistants)
        segs: list[Segment] = []
        expected: dict[int, str] = {}
        pos = 0
        for i in assistants:
            prompt = self._render(messages[:i], tools, True)
            upto = self._render(messages[: i + 1], tools, False)
            if not (upto.startswith(prompt) and full.startswith(upto) and len(prompt) >= pos):
                raise TemplateError("sft_template_not_prefix_stable", f"turn {i}")
            span = upto[len(prompt) :]
            content = messages[i]["content"]
            if not span.startswith(content):
                content = content.strip()
                if not span.startswith(content):
                    raise TemplateError("sft_template_content_changed", f"turn {i}")
            rest = span[len(content) :]
            m = self.encoder.special_split.search(rest) if self.encoder.special_split else None
            if m is None or rest[: m.start()].strip():
                raise TemplateError(
                    "sft_template_no_eot", f"turn {i}: no special end-of-turn token after the content"
                )
            trained = train_on == "all" or i in trained_turns
            if prompt[pos:]:
                segs.append(Segment(prompt[pos:], train_on == "all", i))
            segs.append(Segment(content, trained, i, "content"))
            if rest[: m.start()]:
                segs.append(Segment(rest[: m.start()], train_on == "all", i))
            segs.append(Segment(m.group(), trained, i, "eot"))
            if rest[m.end() :]:
                segs.append(Segment(rest[m.end() :], train_on == "all", i))
            pos = len(upto)
            if trained and train_on != "all":
                expected[i] = content + m.group()
        if full[pos:]:
            segs.append(Segment(full[pos:], train_on == "all"))
        return segs, expected


def load_tokenizer(path: str | Path):
    """A local tokenizer directory through transformers (never downloads)."""
    from transformers import AutoTokenizer

    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"tokenizer directory {p} does not exist")
    return AutoTokenizer.from_pretrained(str(p), local_files_only=True)
