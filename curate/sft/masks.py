"""``input_ids`` and ``labels`` by construction, and the checks every written row must pass.

Each :class:`~curate.sft.templates.Segment` is encoded on its own: the tokenizer's special tokens
(``<|im_start|>``, ``<|eot_id|>``, ``</s>``...) are cut out of the text and mapped to their ids
through the added vocabulary, the plain text between them is encoded with
``add_special_tokens=False`` (the template, not the tokenizer, decides where BOS goes). A
segment's tokens are labelled with themselves when the segment is trained and ``-100`` otherwise,
so the mask is exact by construction; no rendered text is ever searched for markers.

The checks (each a reject reason) then verify what a trainer relies on:

* ``sft_no_trained_token`` - at least one label is not -100;
* ``sft_eot_not_trained`` - every trained assistant turn ends with its end-of-turn token, trained;
* ``sft_label_decode_mismatch`` - decoding a trained turn's labelled tokens gives exactly its
  content followed by the end-of-turn marker (``train_on: all``: the labels decode to the text);
* ``sft_bos_count`` - BOS appears exactly as often as the template writes it (once at the start
  for BOS templates - llama2 writes one per round - and never doubled by the tokenizer);
* ``sft_decode_mismatch`` - the ids decode back to the rendered text (no double special tokens,
  no tokenizer that cannot encode segments independently);
* ``sft_special_token_in_content`` - no message content contains a special token's text (it would
  be encoded as the control token and break the turn structure).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from curate.sft.templates import Segment

IGNORE_INDEX = -100


@dataclasses.dataclass
class EncodedConversation:
    """One conversation's ids and labels, plus what the checks need."""

    input_ids: list[int]
    labels: list[int]
    text: str
    # per trained assistant turn: (turn index, expected decoded text, [(start, end) token spans])
    trained_turns: list[tuple[int, str, list[tuple[int, int]]]]
    eot_positions: list[int]  # position of each trained turn's eot token (-1 when not one token)


class SegmentEncoder:
    """Encodes segments with special tokens mapped by id (see module docstring)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.backend = tokenizer.backend_tokenizer  # the `tokenizers.Tokenizer`
        # Only *special* added tokens are cut out and mapped by id (and refused inside content);
        # ordinary added tokens (whitespace runs in code tokenizers...) are the encoder's business.
        added = {t.content: i for i, t in tokenizer.added_tokens_decoder.items() if t.content and t.special}
        for tok in (tokenizer.bos_token, tokenizer.eos_token):
            if tok and tok not in added and tok in tokenizer.get_vocab():
                added[tok] = tokenizer.convert_tokens_to_ids(tok)
        self.added = added
        self.special_strings = sorted(added, key=len, reverse=True)
        self.special_split = (
            re.compile("(" + "|".join(re.escape(t) for t in self.special_strings) + ")") if added else None
        )
        self.bos_token = tokenizer.bos_token
        self.eos_token = tokenizer.eos_token
        self.bos_id = added.get(self.bos_token) if self.bos_token else None

    def single_id(self, marker: str) -> int:
        """The id of a marker that must be one token (raises with a clear message otherwise)."""
        if marker in self.added:
            return self.added[marker]
        ids = self.backend.encode(marker, add_special_tokens=False).ids
        if len(ids) != 1:
            raise ValueError(
                f"the tokenizer encodes {marker!r} as {len(ids)} tokens; the chat template needs it as "
                "one special token (add it as a special token when training the tokenizer)"
            )
        return ids[0]

    def has_special(self, text: str) -> bool:
        return bool(self.special_split and self.special_split.search(text))

    def encode_segments(self, conversations: Sequence[Sequence[Segment]]) -> list[list[list[int]]]:
        """Token ids of every segment of every conversation (one tokenizer call for the batch).

        Each distinct plain-text piece (the text between special tokens) is encoded once: role
        headers, separators and repeated system prompts recur in every row, and a piece's ids do
        not depend on where it occurs. ``encode_batch_fast`` (tokenizers >= 0.21) skips the
        character offsets nobody reads here; the ids are the same. The returned lists may be
        shared between segments: read them, do not change them.
        """
        split = self.special_split.split if self.special_split else None
        # table[k]: the ids of piece k; special tokens get their slots up front
        slot: dict[str, int] = {}
        table: list[list[int]] = []
        for tok, i in self.added.items():
            slot[tok] = len(table)
            table.append([i])
        n_special = len(table)
        pieces: list[str] = []
        plan: list[list[list[int]]] = []  # per conv, per segment: slots
        for segs in conversations:
            conv_plan = []
            for seg in segs:
                seg_plan = []
                # re.split with a capture group alternates text, special token, text, ...; a special
                # token's text is looked up in the same table (its slot is reserved above)
                for part in split(seg.text) if split else (seg.text,):
                    if part:
                        k = slot.get(part)
                        if k is None:
                            k = slot[part] = n_special + len(pieces)
                            pieces.append(part)
                        seg_plan.append(k)
                conv_plan.append(seg_plan)
            plan.append(conv_plan)
        if pieces:
            encode = getattr(self.backend, "encode_batch_fast", self.backend.encode_batch)
            table.extend(e.ids for e in encode(pieces, add_special_tokens=False))
        out = []
        for conv_plan in plan:
            conv = []
            for seg_plan in conv_plan:
                if len(seg_plan) == 1:
                    conv.append(table[seg_plan[0]])
                else:
                    ids: list[int] = []
                    for k in seg_plan:
                        ids += table[k]
                    conv.append(ids)
            out.append(conv)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=False)

    def decode_batch(self, seqs: Sequence[list[int]]) -> list[str]:
        """``decode`` of each sequence, in one call (the tokenizer decodes them in parallel)."""
        return self.backend.decode_batch(list(seqs), skip_special_tokens=False) if seqs else []


def assemble(
    segments: Sequence[Segment], seg_ids: Sequence[list[int]], eot_text_for_check: dict[int, str]
) -> EncodedConversation:
    """Concatenate encoded segments into ids/labels and remember each trained turn's token spans.

    ``eot_text_for_check`` maps a trained assistant turn to ``content + eot`` as it must decode.
    """
    input_ids: list[int] = []
    labels: list[int] = []
    turns: dict[int, list[tuple[int, int]]] = {}
    eots: dict[int, int] = {}
    for seg, ids in zip(segments, seg_ids, strict=True):
        start = len(input_ids)
        input_ids += ids
        if seg.trained:
            labels += ids
            if seg.turn in eot_text_for_check and seg.kind in ("content", "eot"):
                turns.setdefault(seg.turn, []).append((start, start + len(ids)))
                if seg.kind == "eot":
                    # the marker's last token ends the turn (a marker may be several special tokens)
                    eots[seg.turn] = start + len(ids) - 1 if ids else -1
        else:
            labels += [IGNORE_INDEX] * len(ids)
    trained_turns = [(t, eot_text_for_check[t], turns.get(t, [])) for t in sorted(eot_text_for_check)]
    return EncodedConversation(
        input_ids=input_ids,
        labels=labels,
        text="".join(s.text for s in segments),
        trained_turns=trained_turns,
        eot_positions=[eots.get(t, -1) for t in sorted(eot_text_for_check)],
    )


def _spans_ids(ids: list[int], spans: list[tuple[int, int]]) -> list[int]:
    out: list[int] = []
    for start, end in spans:
        out += ids[start:end]
    return out


def check_conversations(
    convs: Sequence[EncodedConversation],
    encoder: SegmentEncoder,
    eot_id: int | None,
    train_all: bool,
    starts_with_bos: bool,
) -> list[str | None]:
    """Per conversation, the first failing check's name or None (see module docstring).

    Every text the checks compare is decoded up front in one ``decode_batch`` call for the batch
    (the decodes are most of the checks' cost); the checks then run in their fixed order.
    """
    seqs: list[list[int]] = []
    for enc in convs:
        seqs.append(enc.input_ids)
        if train_all:  # labels without -100 are the ids themselves when nothing is masked
            labels = enc.labels
            seqs.append(labels if IGNORE_INDEX not in labels else [t for t in labels if t != IGNORE_INDEX])
        else:
            seqs.extend(_spans_ids(enc.input_ids, spans) for _t, _e, spans in enc.trained_turns)
    decoded = iter(encoder.decode_batch(seqs))
    return [_check(enc, decoded, encoder, eot_id, train_all, starts_with_bos) for enc in convs]


def check_conversation(
    enc: EncodedConversation,
    encoder: SegmentEncoder,
    eot_id: int | None,
    train_all: bool,
    starts_with_bos: bool,
) -> str | None:
    """The first failing check's name, or None when the row is fine (see module docstring)."""
    return check_conversations([enc], encoder, eot_id, train_all, starts_with_bos)[0]


def _check(enc, decoded, encoder, eot_id, train_all, starts_with_bos) -> str | None:
    """The checks on one conversation; ``decoded`` yields its texts in the order
    :func:`check_conversations` queued them (every one is consumed, whichever check fails)."""
    ids, labels = enc.input_ids, enc.labels
    text = next(decoded)
    turn_texts = [next(decoded)] if train_all else [next(decoded) for _ in enc.trained_turns]
    n_trained = len(labels) - labels.count(IGNORE_INDEX)
    if n_trained == 0:
        return "sft_no_trained_token"
    if text != enc.text:
        return "sft_decode_mismatch"
    if encoder.bos_id is not None and encoder.bos_token:
        n_bos = ids.count(encoder.bos_id)
        if n_bos != enc.text.count(encoder.bos_token) or (
            starts_with_bos and (not ids or ids[0] != encoder.bos_id)
        ):
            return "sft_bos_count"
        if starts_with_bos and n_bos != 1 and len(ids) > 1 and ids[1] == encoder.bos_id:
            return "sft_bos_count"
    for pos in enc.eot_positions:
        if pos < 0 or (eot_id is not None and ids[pos] != eot_id) or labels[pos] == IGNORE_INDEX:
            return "sft_eot_not_trained"
    if train_all:
        if turn_texts[0] != enc.text:
            return "sft_label_decode_mismatch"
        return None
    n_in_turns = 0
    for (_turn, expected, spans), got in zip(enc.trained_turns, turn_texts, strict=True):
        if any(IGNORE_INDEX in labels[start:end] for start, end in spans):
            return "sft_label_decode_mismatch"
        if got != expected:
            return "sft_label_decode_mismatch"
        n_in_turns += sum(end - start for start, end in spans)
    if n_in_turns != n_trained:  # something outside the trained turns is trained
        return "sft_label_decode_mismatch"
    return None
