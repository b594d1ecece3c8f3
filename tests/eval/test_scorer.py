"""The scorer: windows as lm-eval builds them, bits per byte, and what a trained model shows."""

from __future__ import annotations

import math

import torch
from conftest import clean_text, corrupt, tiny_model, train_on

from curate.eval import TextSet, loglikelihood_tokens, score_bpb
from curate.eval.windows import get_rolling_token_windows, make_disjoint_window, rolling_requests


def test_windows_cover_every_token_once():
    toks = list(range(100, 137))
    for L, ctx in [(8, 1), (8, 4), (37, 1), (64, 1), (5, 5)]:
        wins = list(get_rolling_token_windows(toks, prefix_token=-1, max_seq_len=L, context_len=ctx))
        preds = [t for _, p in wins for t in p]
        assert preds == toks
        for inp, pred in wins:
            assert len(inp) <= L and inp[-len(pred) + 1:] == pred[:-1] or len(pred) == 1
        assert wins[0][0][0] == -1  # the first token is conditioned on the prefix token only
    # lm-eval's own example shape: disjoint windows with context_len=1
    reqs = rolling_requests(toks, -1, 10)
    assert reqs[0] == ([-1], toks[:10]) and reqs[1] == ([toks[9]], toks[10:20])
    assert make_disjoint_window(([1, 2, 3, 4], [3, 4])) == ([1, 2, 3], [3, 4])


def _full_doc_logprob(model, ids: list[int], prefix: int) -> float:
    x = torch.tensor([[prefix] + ids[:-1]])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=x).logits[0].float(), -1)
    return float(lp.gather(-1, torch.tensor(ids)[:, None]).sum())


def test_windowed_equals_unwindowed_when_the_doc_fits(tokenizer):
    model = tiny_model(tokenizer, max_positions=256)
    doc = clean_text(1, seed=5)[0]
    ids = tokenizer.encode(doc, add_special_tokens=False)
    assert len(ids) < 256
    r = score_bpb(model, tokenizer, [TextSet("d", [doc])], progress=False)["d"]
    ref = _full_doc_logprob(model, ids, tokenizer.eos_token_id)
    assert math.isclose(-r["bits"] * math.log(2), ref, rel_tol=1e-5)
    assert r["tokens"] == len(ids) and r["bytes"] == len(doc.encode())
    # ... and windows shorter than the doc give a finite, different (less context) score
    w = score_bpb(model, tokenizer, [TextSet("d", [doc])], max_length=8, progress=False)["d"]
    assert w["tokens"] == len(ids) and math.isfinite(w["bpb"])


def test_batching_and_padding_change_no_score(tokenizer):
    model = tiny_model(tokenizer, max_positions=64)
    docs = clean_text(7, seed=3)
    reqs = [
        (
            tokenizer.encode(d[:20], add_special_tokens=False),
            tokenizer.encode(d[20:60], add_special_tokens=False),
        )
        for d in docs
    ]
    one = loglikelihood_tokens(model, reqs, batch_size=1, progress=False)
    many = loglikelihood_tokens(model, reqs, batch_size=4, progress=False)
    for a, b in zip(one, many, strict=True):
        assert math.isclose(a.logprob, b.logprob, rel_tol=1e-5, abs_tol=1e-4) and a.n_tokens == b.n_tokens


def test_bpb_of_a_repeated_text_falls_after_training_on_it(tokenizer):
    text = " ".join(["The quiet river runs past the silver stone."] * 12)
    model = tiny_model(tokenizer, max_positions=64, seed=1)
    before = score_bpb(model, tokenizer, [TextSet("t", [text])], progress=False)["t"]["bpb"]
    train_on(model, tokenizer, [text] * 20, steps=25)
    after = score_bpb(model, tokenizer, [TextSet("t", [text])], progress=False)["t"]["bpb"]
    assert after < 0.5 * before, (before, after)


def test_corrupted_text_scores_worse_than_clean(tokenizer, trained):
    held = clean_text(20, seed=99)
    sets = [TextSet("clean", held), TextSet("corrupt", [corrupt(d, i) for i, d in enumerate(held)])]
    r = score_bpb(trained, tokenizer, sets, batch_size=4, progress=False)
    assert r["clean"]["bytes"] == r["corrupt"]["bytes"]
    assert r["clean"]["bpb"] < 0.7 * r["corrupt"]["bpb"], r


def test_score_bpb_restores_training_mode_and_bounds_bytes(tokenizer):
    model = tiny_model(tokenizer).train()
    r = score_bpb(model, tokenizer, [TextSet("a", ["hello there", "x" * 500])], max_bytes=100, progress=False)
    assert model.training and r["a"]["bytes"] <= 100 and r["a"]["docs"] == 2


def test_tokenizers_object_scores_the_same(tokenizer, tokenizer_dir):
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    model = tiny_model(tokenizer)
    sets = [TextSet("a", clean_text(3, seed=4))]
    a = score_bpb(model, tokenizer, sets, progress=False)["a"]
    b = score_bpb(model, raw, sets, progress=False)["a"]
    assert a == b
