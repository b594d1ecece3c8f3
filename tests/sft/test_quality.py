"""sft_quality and sft_decontaminate: exact reasons on crafted rows."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest

from curate.sft.decontam import SFTDecontaminate, SFTDecontaminateConfig
from curate.sft.normalize import SFTNormalize, SFTNormalizeConfig
from curate.sft.quality import SFTQuality, SFTQualityConfig, is_placeholder


def norm(rows):
    return SFTNormalize(SFTNormalizeConfig(), None).process(pl.DataFrame(rows, infer_schema_length=None)).kept


def reasons(res):
    return [] if res.dropped is None else res.dropped["reason"].to_list()


def test_placeholder_answers():
    ph = {"n/a", "<noinput>", "todo"}
    assert is_placeholder("N/A.", ph) and is_placeholder("<noinput>", ph) and is_placeholder("...", ph)
    assert is_placeholder("  ?! ", ph) and is_placeholder(None, ph)
    assert not is_placeholder("No.", ph) and not is_placeholder("42", ph) and not is_placeholder("你好", ph)
    rows = [{"instruction": "q", "output": "N/A"}, {"instruction": "q2", "output": "A real answer."},
            {"instruction": "q3", "output": "<nooutput>"}]
    res = SFTQuality(SFTQualityConfig(), None).process(norm(rows))
    assert reasons(res) == ["sft_placeholder_answer", "sft_placeholder_answer"]
    assert res.kept["prompt"].to_list() == ["q2"]


def test_placeholder_in_rejected_side_of_a_pair():
    rows = [{"prompt": "p", "chosen": "fine answer", "rejected": "TODO"}]
    assert reasons(SFTQuality(SFTQualityConfig(), None).process(norm(rows))) == ["sft_placeholder_answer"]


def test_token_bounds(tokenizer_dir):
    rows = [{"instruction": "hello", "output": "world"},
            {"instruction": "hello " * 100, "output": "world"},
            {"instruction": "hello there", "output": "a b c d e f g h i j k l m n o p"}]
    cfg = SFTQualityConfig(tokenizer=str(tokenizer_dir), min_tokens=3, max_tokens=60, min_answer_tokens=10)
    res = SFTQuality(cfg, None).process(norm(rows))
    assert reasons(res) == ["sft_too_few_tokens", "sft_too_many_tokens"]
    assert res.kept.height == 1
    res = SFTQuality(SFTQualityConfig(tokenizer=str(tokenizer_dir), min_answer_tokens=100), None).process(
        norm(rows[2:])
    )
    assert reasons(res) == ["sft_answer_too_short"]


def test_token_rules_need_a_tokenizer():
    with pytest.raises(ValueError, match="need tokenizer"):
        SFTQualityConfig(max_tokens=10)


def test_prompt_language():
    rows = [
        {"instruction": "Please explain how photosynthesis works in green plants.", "output": "ok"},
        {"instruction": "Bitte erkläre mir, wie die Photosynthese in Pflanzen funktioniert.", "output": "ok"},
        {"instruction": "Reverse: door", "output": "rood"},
    ]
    res = SFTQuality(SFTQualityConfig(prompt_langs=["en"]), None).process(norm(rows))
    assert reasons(res) == ["sft_prompt_lang"]
    assert res.dropped["prompt_lang"].to_list() == ["de"]
    assert res.kept["prompt_lang"].to_list() == ["en", None]  # too short to judge: kept, not guessed


@pytest.mark.parametrize("gz", [False, True])
def test_decontamination(tmp_path, gz):
    eval_rows = [
        {
            "question": "What is the capital city of the small European country of Liechtenstein today",
            "answer": "Vaduz",
        },
        {"question": "Name a prime", "answer": "7"},
    ]
    path = tmp_path / ("eval.jsonl.gz" if gz else "eval.jsonl")
    data = "\n".join(json.dumps(r) for r in eval_rows) + "\n"
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(data)
    else:
        path.write_text(data)
    rows = [
        {
            "instruction": "Quiz: what is the CAPITAL city of the small European country of Liechtenstein "
                           "today?",
            "output": "x",
        },
        {"instruction": "Tell me a story about a dragon.", "output": "Once upon a time."},
        {"instruction": "Please name a prime, any prime", "output": "2"},
    ]
    stage = SFTDecontaminate(SFTDecontaminateConfig(eval_path=str(path), eval_fields=["question"]), None)
    res = stage.process(norm(rows))
    assert reasons(res) == ["sft_contaminated", "sft_contaminated"]
    assert res.kept["prompt"].to_list() == ["Tell me a story about a dragon."]
    assert res.kept.height + res.n_dropped == 3


def test_decontamination_checks_answers_when_asked(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(
        json.dumps({"text": "one two three four five six seven eight nine ten eleven twelve thirteen"}) + "\n"
    )
    rows = [
        {
            "instruction": "count",
            "output": "one two three four five six seven eight nine ten eleven twelve thirteen",
        }
    ]
    assert (
        reasons(SFTDecontaminate(SFTDecontaminateConfig(eval_path=str(path)), None).process(norm(rows))) == []
    )
    res = SFTDecontaminate(SFTDecontaminateConfig(eval_path=str(path), check="all"), None).process(norm(rows))
    assert reasons(res) == ["sft_contaminated"]


def test_missing_eval_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        SFTDecontaminate(SFTDecontaminateConfig(eval_path=str(tmp_path / "nope.jsonl")), None).setup()


def test_unfilled_template_variables():
    rows = [{"instruction": "who are you", "output": "I am {{name}}, made by {{ author }}."},
            {"instruction": "code", "output": "Use f'{x}' or {'a': 1} in Python."}]
    res = SFTQuality(SFTQualityConfig(), None).process(norm(rows))
    assert reasons(res) == ["sft_unfilled_template"]


@pytest.mark.external
def test_identity_json_is_flagged(shared_data):
    rows = json.loads((shared_data / "instruct" / "identity.json").read_text())
    res = SFTQuality(SFTQualityConfig(), None).process(norm(rows))
    assert res.n_dropped > 0.9 * len(rows) and set(reasons(res)) == {"sft_unfilled_template"}
