"""Rolling token windows for document log-likelihood, as lm-evaluation-harness builds them.

A port of ``lm_eval.utils.get_rolling_token_windows`` and ``make_disjoint_window`` (v0.4.13),
kept line for line so the windows (and so the scores) are the same. With ``context_len=1`` (what
lm-eval's ``loglikelihood_rolling`` uses) a document of N tokens is cut into disjoint chunks of
``max_seq_len`` predicted tokens; the first chunk is conditioned on ``prefix_token`` only, every
later one on the tokens just before it (the model sees a full window of ``max_seq_len`` inputs).
A larger ``context_len`` overlaps the windows: each predicts ``max_seq_len - context_len + 1``
new tokens with at least ``context_len - 1`` tokens of extra history (a stride).
"""

from __future__ import annotations

from collections.abc import Iterator


def get_rolling_token_windows(token_list: list[int], prefix_token: int, max_seq_len: int,
                              context_len: int = 1) -> Iterator[tuple[list[int], list[int]]]:
    """(input_tokens, pred_tokens) pairs; score the last len(pred_tokens) logits of each input."""
    if not 1 <= context_len <= max_seq_len:
        raise ValueError(f"context_len must be in [1, max_seq_len={max_seq_len}], got {context_len}")
    if not token_list:
        return
    pred_len = max_seq_len - context_len + 1
    predicted = 0
    # The first window predicts every token it holds, the first one from the prefix token alone.
    first_seq_len = min(max_seq_len, len(token_list))
    yield [prefix_token] + token_list[: first_seq_len - 1], token_list[:first_seq_len]
    predicted += first_seq_len
    while predicted < len(token_list):
        window_pred_len = min(len(token_list) - predicted, pred_len)
        window_end = predicted + window_pred_len
        yield (token_list[window_end - max_seq_len - 1: window_end - 1],
               token_list[window_end - window_pred_len: window_end])
        predicted += window_pred_len


def make_disjoint_window(pair: tuple[list[int], list[int]]) -> tuple[list[int], list[int]]:
    """(context, continuation) that do not overlap: the form the log-likelihood scorer takes."""
    a, b = pair
    return a[: len(a) - (len(b) - 1)], b


def rolling_requests(tokens: list[int], prefix_token: int, max_seq_len: int,
                     context_len: int = 1) -> list[tuple[list[int], list[int]]]:
    """Disjoint (context, continuation) windows that together predict every token of `tokens`."""
    return [
        make_disjoint_window(w)
        for w in get_rolling_token_windows(tokens, prefix_token, max_seq_len, context_len)
    ]
