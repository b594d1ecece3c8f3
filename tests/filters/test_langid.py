"""langid: the fasttext provider behaviour we rely on, and the stage's keep / score / route logic."""

from __future__ import annotations

import pytest
from conftest import run_stage

from curate.filters.langid import LangId, load_model


def test_fasttext_predict_provider_behaviour():
    """fasttext-predict: single-text predict works; a newline is refused; list predict is unusable."""
    m = load_model()
    labels, probs = m.predict("This is clearly an English sentence about the weather.", k=1)
    assert labels[0] == "__label__en" and 0.5 < probs[0] <= 1.001
    with pytest.raises(ValueError):
        m.predict("two\nlines", k=1)
    texts = ["This is clearly an English sentence.", "Das ist eindeutig ein deutscher Satz."]
    try:
        out = m.predict(texts, k=1)
    except Exception:
        return  # broken by raising: fine, we never call it
    # if it returns, it is not the (labels per text, probs per text) shape fastText documents
    assert not (
        len(out) == 2
        and isinstance(out[1], list)
        and all(hasattr(p, "__len__") and len(p) == 1 and isinstance(float(p[0]), float) for p in out[1])
        and out[0] == [("__label__en",), ("__label__de",)]
    )


def test_keep_scores_and_route(ctx):
    texts = [
        "This is an English sentence\nwith a line break in it.",
        "Das ist ein deutscher Satz über das Wetter.",
        None,
        "Ceci est une phrase française.",
    ]
    res, why = run_stage(LangId, texts, ctx, keep=["en", "de"], min_score_per_lang={"de": 1.01})
    assert why == [None, "langid_low_score", "langid_not_kept", "langid_not_kept"]
    assert res.kept["lang"].to_list() == ["en"] and 0 < res.kept["lang_score"][0] <= 1
    assert LangId(LangId.Config(route=True), ctx).route_column() == "lang"
    assert LangId(LangId.Config(), ctx).route_column() is None


def test_an_input_lang_column_is_kept_as_lang_input(ctx):
    """issue 14 item 12: the input's own `lang` is not silently overwritten."""
    import polars as pl

    df = pl.DataFrame(
        {
            "id": ["0", "1"],
            "source": ["web"] * 2,
            "lang": ["fr", None],
            "text": [
                "This is an English sentence about the weather.",
                "Das ist ein deutscher Satz über das Wetter.",
            ],
        }
    )
    stage = LangId(LangId.Config(), ctx)
    stage.setup()
    res = stage.process(df)
    assert res.kept["lang"].to_list() == ["en", "de"]
    assert res.kept["lang_input"].to_list() == ["fr", None]
    again = LangId(LangId.Config(), ctx)  # a second langid re-labels; it does not stack lang_input_
    again.setup()
    assert "lang_input_" not in again.process(res.kept).kept.columns
