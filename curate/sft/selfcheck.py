"""The end-of-turn self-check of a chat template with its tokenizer (as trl checks before training).

``template_eot``: every assistant turn ends with a marker the tokenizer has as a single id, and,
where the tokenizer folder has a ``generation_config.json``, those ids are in its ``eos_token_id``
(otherwise generation would not stop where training taught the model to end its turn). One check,
run by ``format: {kind: sft}`` / ``sft_format`` at validation and by
``curate tokenizer train --template`` on the folder it writes.
"""

from __future__ import annotations

import json
from pathlib import Path

EOT_CHECK = "template_eot"


def _eos_ids(folder: str | Path) -> list[int] | None:
    path = Path(folder) / "generation_config.json"
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    except (OSError, json.JSONDecodeError):
        return None
    if value is None:
        return None
    return [value] if isinstance(value, int) else [int(v) for v in value]


def eot_markers(template, tokenizer) -> list[str]:
    """The markers that end an assistant turn: an hf: template's probed set, a built-in's ``eot``."""
    eot = getattr(template, "eot", None)
    if isinstance(eot, str):  # a built-in ChatTemplate ("{eos}" is the tokenizer's own)
        return [eot.replace("{eos}", tokenizer.eos_token or "")]
    return sorted(eot or [])


def check_template_eot(template, tokenizer, folder: str | Path | None) -> list[str]:
    """Problems found (empty: the check passes); see the module docstring."""
    if getattr(template, "eot_problem", ""):
        return [template.eot_problem]
    markers = eot_markers(template, tokenizer)
    if not markers or not all(markers):
        return ["no assistant turn ends with a marker the tokenizer has as a single token"]
    problems = []
    ids = []
    for marker in markers:
        # the marker's last token must be one id (a marker may be several special tokens, e.g. Cohere's
        # <|END_TEXT|><|END_OF_TURN_TOKEN|>; its last one is what generation stops on)
        last = _last_token(marker, tokenizer)
        enc = tokenizer.backend_tokenizer.encode(last, add_special_tokens=False).ids
        if len(enc) != 1:
            problems.append(f"end-of-turn marker {last!r} is {len(enc)} tokens, not one id")
        else:
            ids.append(enc[0])
    eos = _eos_ids(folder) if folder else None
    if eos is not None and not problems:
        missing = [_last_token(m, tokenizer) for m, i in zip(markers, ids, strict=True) if i not in eos]
        if missing:
            problems.append(
                f"end-of-turn marker(s) {', '.join(repr(m) for m in missing)} (id "
                f"{', '.join(str(tokenizer.convert_tokens_to_ids(m)) for m in missing)}) not in "
                f"generation_config.json eos_token_id {eos}: generation would not stop at the end of a turn"
            )
    return problems


def _last_token(marker: str, tokenizer) -> str:
    """The last special token of a marker string (the marker itself when it is one token)."""
    specials = sorted(
        (t.content for t in tokenizer.added_tokens_decoder.values() if t.special and t.content),
        key=len, reverse=True,
    )
    best = None
    for t in specials:
        at = marker.rfind(t)
        if at >= 0 and at + len(t) == len(marker) and (best is None or len(t) > len(best)):
            best = t
    return best or marker
