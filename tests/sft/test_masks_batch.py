"""The batched paths of curate.sft.masks give what one-at-a-time encoding and checking give.

``encode_segments`` encodes each distinct text piece of a batch once and ``check_conversations``
decodes every text the checks compare in one call; both must be exact, row by row, against the
plain per-piece ``encode`` and per-row decodes they replace.
"""

from __future__ import annotations

import dataclasses

from curate.sft.masks import (
    IGNORE_INDEX,
    SegmentEncoder,
    assemble,
    check_conversation,
    check_conversations,
)
from curate.sft.templates import Segment


def _reference_ids(enc: SegmentEncoder, text: str) -> list[int]:
    """A segment's ids the slow way: split at special tokens, encode every piece on its own."""
    ids: list[int] = []
    for j, part in enumerate(enc.special_split.split(text)):
        if part:
            ids += [enc.added[part]] if j % 2 else enc.backend.encode(part, add_special_tokens=False).ids
    return ids


def _conv(user: str, answer: str, system: str = "you are a model") -> list[Segment]:
    return [
        Segment(f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n", False),
        Segment("<|im_start|>assistant\n", False, 2),
        Segment(answer, True, 2, "content"),
        Segment("<|im_end|>", True, 2, "eot"),
        Segment("\n", False),
    ]


CONVS = [
    _conv("hello world", "the answer"),
    _conv("hello world", "the answer"),  # the same pieces again: encoded once, ids shared
    _conv("问 答 你好", "über naïve café 😀", system="system system"),
    _conv("code", "<|im_start|>"),  # a special token as a whole segment
    _conv("", ""),
]


def test_encode_segments_equals_encoding_each_piece(tokenizer):
    enc = SegmentEncoder(tokenizer)
    got = enc.encode_segments(CONVS)
    assert got == [[_reference_ids(enc, s.text) for s in segs] for segs in CONVS]
    assert got[0] == got[1]
    assert got[3][2] == [tokenizer.convert_tokens_to_ids("<|im_start|>")]


def test_batched_checks_equal_one_row_at_a_time(tokenizer):
    enc = SegmentEncoder(tokenizer)
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")
    convs = []
    for segs, seg_ids in zip(CONVS, enc.encode_segments(CONVS), strict=True):
        expected = {2: "".join(s.text for s in segs if s.trained)}
        convs.append(assemble(segs, seg_ids, expected))
    # broken rows, each failing a different check, between good ones
    bad_text = dataclasses.replace(convs[0], text=convs[0].text + "x")
    bad_turn = dataclasses.replace(convs[2], trained_turns=[(2, "not this", convs[2].trained_turns[0][2])])
    untrained = dataclasses.replace(convs[0], labels=[IGNORE_INDEX] * len(convs[0].labels))
    wrong_eot = dataclasses.replace(convs[2], eot_positions=[0])
    batch = [convs[0], bad_text, convs[1], bad_turn, untrained, convs[2], wrong_eot, *convs[3:]]
    # a batch must give each row the reasons it gets alone (the queued decodes stay aligned)
    for train_all in (False, True):
        one = [check_conversation(c, enc, eot, train_all, False) for c in batch]
        assert check_conversations(batch, enc, eot, train_all, False) == one
    reasons = check_conversations(batch, enc, eot, False, False)
    assert reasons[:7] == [None, "sft_decode_mismatch", None, "sft_label_decode_mismatch",
                           "sft_no_trained_token", None, "sft_eot_not_trained"]
    assert check_conversations([], enc, eot, False, False) == []
