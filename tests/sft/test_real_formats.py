"""Instruction data as it ships (issue 15): HH-RLHF transcripts, Dolly, per-input column mappings,
a .json file holding one object, and rejected SFT rows that keep their content.

Fixtures are written in the upstream formats (Anthropic/hh-rlhf JSONL lines, databricks-dolly-15k
records); the shared Alpaca file is used where present.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

import curate.sft  # noqa: F401  (registers the sft_jsonl reader and the stages)
from curate.engine.spec import SpecError, spec_from_dict
from curate.sft.normalize import SFTNormalize, SFTNormalizeConfig

# Anthropic/hh-rlhf lines: the whole transcript on each side, turns marked by "\n\nHuman:" /
# "\n\nAssistant:". Pair 1 diverges inside the last reply after a shared first word ("Sure"),
# pair 2 is multi-turn, pair 3 lost its leading blank line (it happens in copies of the data).
HH = [
    {
        "chosen": "\n\nHuman: How do I boil an egg?\n\nAssistant: Sure, put it in boiling water for nine "
                  "minutes.",
        "rejected": "\n\nHuman: How do I boil an egg?\n\nAssistant: Sure. Eggs are laid by hens.",
    },
    {
        "chosen": "\n\nHuman: Name a prime.\n\nAssistant: 7.\n\nHuman: Another one?\n\nAssistant: 11.",
        "rejected": "\n\nHuman: Name a prime.\n\nAssistant: 7.\n\nHuman: Another one?\n\nAssistant: 12.",
    },
    {"chosen": "Human: Say hi.\n\nAssistant: Hi!", "rejected": "Human: Say hi.\n\nAssistant: No."},
]
DOLLY = [
    {"instruction": "When did Virgin Australia start operating?",
     "context": "Virgin Australia commenced services on 31 August 2000 as Virgin Blue.",
     "response": "Virgin Australia commenced services on 31 August 2000.", "category": "closed_qa"},
    {"instruction": "Which is a species of fish? Tope or Rope", "context": "", "response": "Tope",
     "category": "classification"},
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _normalize(rows: list[dict], **kw):
    return SFTNormalize(SFTNormalizeConfig(**kw), None).process(pl.DataFrame(rows))


def _read(pattern: str) -> pl.DataFrame:
    files = sorted(glob.glob(pattern, recursive=True))
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed") if files else pl.DataFrame()


def _run(tmp_path: Path, spec: dict) -> Path:
    from curate.engine.runner import run_pipeline

    (tmp_path / "p.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    run_pipeline(str(tmp_path / "p.yaml"), out, workers=1, quiet=True)
    return out


# --- item 3: HH-RLHF and Dolly -----------------------------------------------------------------
def test_hh_rlhf_prompt_is_cut_at_the_last_shared_assistant_boundary():
    res = _normalize(HH)
    assert res.dropped is None
    rows = res.kept.to_dicts()
    assert [r["sft_format"] for r in rows] == ["hh_rlhf"] * 3
    egg = rows[0]
    assert egg["messages"] == [{"role": "user", "content": "How do I boil an egg?"}]
    # the shared "Sure" is not part of the prompt: a cut at the turn boundary, never mid-reply
    assert egg["chosen_messages"][-1] == {
        "role": "assistant",
        "content": "Sure, put it in boiling water for nine minutes.",
    }
    assert egg["rejected_messages"][-1] == {"role": "assistant", "content": "Sure. Eggs are laid by hens."}
    primes = rows[1]
    assert [m["content"] for m in primes["messages"]] == ["Name a prime.", "7.", "Another one?"]
    assert primes["chosen_messages"][-1]["content"] == "11."
    assert primes["rejected_messages"][-1]["content"] == "12."
    assert rows[2]["messages"] == [{"role": "user", "content": "Say hi."}]
    assert res.counters == {"sft_format_hh_rlhf": 3}


def test_hh_rlhf_without_a_shared_boundary_is_rejected_by_name():
    pair = {"chosen": "\n\nHuman: a?\n\nAssistant: b.", "rejected": "\n\nHuman: c?\n\nAssistant: d."}
    res = _normalize([HH[0], pair])
    assert res.kept.height == 1
    assert res.dropped["reason"].to_list() == ["sft_no_shared_prompt"]


def test_prompt_chosen_rejected_strings_are_still_plain_preference():
    row = {"prompt": "Human: x", "chosen": "\n\nHuman: y\n\nAssistant: z", "rejected": "no"}
    assert _normalize([row]).kept["sft_format"].to_list() == ["preference"]


def test_dolly_is_recognised_by_auto():
    res = _normalize(DOLLY)
    assert res.dropped is None
    rows = res.kept.to_dicts()
    assert [r["sft_format"] for r in rows] == ["dolly", "dolly"]
    assert rows[0]["messages"] == [
        {"role": "user", "content": DOLLY[0]["instruction"] + "\n" + DOLLY[0]["context"]},
        {"role": "assistant", "content": DOLLY[0]["response"]},
    ]
    assert rows[1]["messages"][0]["content"] == DOLLY[1]["instruction"]  # empty context adds nothing
    assert rows[0]["category"] == "closed_qa"  # other columns travel on


def test_hh_rlhf_through_the_engine_reports_its_format(tmp_path, tokenizer_dir):
    """HH-RLHF once gave '2,312 records in, 0 rows out' (all sft_missing_key:prompt)."""
    _jsonl(tmp_path / "hh" / "train.jsonl", HH)
    out = _run(
        tmp_path,
        {
            "name": "hh",
            "inputs": [{"source": "hh", "reader": "sft_jsonl", "paths": str(tmp_path / "hh" / "*.jsonl")}],
            "stages": [
                {"sft_normalize": {}},
                {"format": {"kind": "sft", "template": "human_assistant", "tokenizer": str(tokenizer_dir)}},
            ],
        },
    )
    stats = json.loads((out / "stats.json").read_text())
    norm = next(s for s in stats["stages"] if s["name"] == "sft_normalize")
    assert norm["out"] == 3 and norm["dropped"] == {}
    assert norm["counters"]["sft_format_hh_rlhf"] == 3
    pref = _read(str(out / "data" / "**" / "*.parquet"))
    assert pref.height == 3 and set(pref["sft_kind"]) == {"preference"}


# --- item 4: columns per input ------------------------------------------------------------------
def _mixed_inputs(tmp_path: Path, alpaca: Path) -> list[dict]:
    qa = _jsonl(tmp_path / "qa" / "qa.jsonl", [{"question": "What is 2+2?", "answer": "4", "notes": "n"},
                                               {"question": "Capital of France?", "answer": "Paris"}])
    dolly = _jsonl(tmp_path / "dolly" / "dolly.jsonl", DOLLY)
    return [
        {"source": "alpaca", "reader": "sft_jsonl", "paths": str(alpaca)},
        {
            "source": "qa",
            "reader": "sft_jsonl",
            "paths": str(qa),
            "columns": {"prompt": "question", "response": "answer"},
        },
        {"source": "dolly", "reader": "sft_jsonl", "paths": str(dolly)},
    ]


def _alpaca_fixture(tmp_path: Path) -> Path:
    rows = [{"instruction": "Give a synonym of happy.", "input": "", "output": "Glad."},
            {"instruction": "Translate to French.", "input": "cat", "output": "chat"}]
    return _jsonl(tmp_path / "alpaca" / "alpaca.jsonl", rows)


def test_columns_per_input_share_one_pipeline(tmp_path, tokenizer_dir):
    inputs = _mixed_inputs(tmp_path, _alpaca_fixture(tmp_path))
    out = _run(tmp_path, {
        "name": "mixed",
        "inputs": inputs,
        "stages": [{"sft_normalize": {}},
                   {"format": {"kind": "sft", "template": "chatml", "tokenizer": str(tokenizer_dir),
                               "check_saved_template": False}}],
    })
    stats = json.loads((out / "stats.json").read_text())
    norm = next(s for s in stats["stages"] if s["name"] == "sft_normalize")
    assert norm["in"] == 6 and norm["out"] == 6, norm["dropped"]
    df = _read(str(out / "data" / "**" / "*.parquet"))
    by_source = df.group_by("source").len().sort("source").rows()
    assert by_source == [("alpaca", 2), ("dolly", 2), ("qa", 2)]
    qa = df.filter(pl.col("source") == "qa").sort("id")
    assert qa["messages"].to_list()[0] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert set(qa["sft_format"]) == {"alpaca"}


@pytest.mark.external
def test_columns_per_input_with_the_shared_alpaca_file(tmp_path, shared_data):
    alpaca = shared_data / "instruct" / "alpaca_en_demo.json"
    spec = spec_from_dict(
        {"name": "m", "inputs": _mixed_inputs(tmp_path, alpaca), "stages": [{"sft_normalize": {}}]}
    )
    from curate.io.readers.base import readers

    reader = readers()["sft_jsonl"](readers()["sft_jsonl"].Config(), "alpaca")
    table = pl.concat([pl.from_arrow(b.table) for b in reader.read(alpaca, "alpaca_en_demo.json")])
    stage = SFTNormalize(spec.stage_config(0), None)
    res = stage.process(table)
    assert res.dropped is None or res.dropped.height == 0
    assert res.kept.height == 999 and res.counters == {"sft_format_alpaca": 999}


def test_input_columns_reach_only_their_source():
    spec = spec_from_dict(
        {
            "name": "m",
            "inputs": [
                {
                    "source": "qa",
                    "reader": "sft_jsonl",
                    "paths": "x.jsonl",
                    "columns": {"prompt": "question"},
                },
                {"source": "alpaca", "reader": "sft_jsonl", "paths": "y.jsonl"},
            ],
            "stages": [{"sft_normalize": {"tools_to_system": True}}],
        },
        check_inputs=False,
    )
    assert spec.inputs[0].columns == {"prompt": "question"}
    assert "columns" not in spec.inputs[0].options
    cfg = spec.stage_config(0)
    assert cfg.input_columns == {"qa": {"prompt": "question"}} and cfg.columns == {}


@pytest.mark.parametrize(
    "inputs, stages, message",
    [
        (
            [{"source": "qa", "reader": "sft_jsonl", "paths": "x", "columns": {"prompt": "q"}}],
            [],
            "has no sft_normalize stage",
        ),
        (
            [
                {"source": "qa", "reader": "sft_jsonl", "paths": "x", "columns": {"prompt": "q"}},
                {"source": "qa", "reader": "sft_jsonl", "paths": "y", "columns": {"prompt": "z"}},
            ],
            [{"sft_normalize": {}}],
            "give inputs in different layouts their own source names",
        ),
        (
            [{"source": "qa", "reader": "sft_jsonl", "paths": "x", "columns": ["prompt"]}],
            [{"sft_normalize": {}}],
            "columns must map names to column names",
        ),
    ],
)
def test_input_columns_errors(inputs, stages, message):
    with pytest.raises(SpecError, match=message):
        spec_from_dict({"name": "m", "inputs": inputs, "stages": stages}, check_inputs=False)


# --- item 9: a .json file holding one object ------------------------------------------------------
def test_single_object_json_has_one_message_everywhere(tmp_path):
    from curate.cli import main
    from curate.sft.reader import NOT_AN_ARRAY

    one = tmp_path / "data" / "one.json"
    one.parent.mkdir()
    one.write_text(json.dumps({"instruction": "Say hi", "input": "", "output": "hi"}, indent=2))
    runner = CliRunner()

    preview = runner.invoke(main, ["sft", "preview", str(one)])
    assert preview.exit_code != 0
    assert NOT_AN_ARRAY in preview.output and "one JSON object" in preview.output

    out = _run(
        tmp_path,
        {
            "name": "one",
            "inputs": [{"source": "s", "reader": "sft_jsonl", "paths": str(one)}],
            "stages": [{"sft_normalize": {}}],
            "output": {"keep_rejects": True},
        },
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"][0]["dropped"] == {"malformed:not_a_json_array": 1}
    rej = _read(str(out / "rejects" / "**" / "*.parquet"))
    assert NOT_AN_ARRAY in rej["detail"][0] and "one JSON object" in rej["detail"][0]
    assert rej["raw"][0].lstrip().startswith("{")

    shown = runner.invoke(main, ["inspect", str(out)])
    assert shown.exit_code == 0, shown.output
    line = next(ln for ln in shown.output.splitlines() if "malformed:not_a_json_array" in ln and "{" in ln)
    assert NOT_AN_ARRAY in line  # never `malformed:json ''`


# --- item 16: rejected rows keep their content -----------------------------------------------------
def test_rejected_sft_rows_keep_their_content(tmp_path, tokenizer_dir):
    long = "hello world " * 200
    rows = [{"instruction": "Say hello.", "input": "", "output": "hello"},
            {"instruction": long, "input": "", "output": "the answer"}]
    _jsonl(tmp_path / "a" / "a.jsonl", rows)
    _jsonl(tmp_path / "p" / "p.jsonl", [{"prompt": long, "chosen": "yes", "rejected": "no"},
                                        {"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}])
    out = _run(tmp_path, {
        "name": "rej",
        "inputs": [{"source": "a", "reader": "sft_jsonl", "paths": str(tmp_path / "a" / "a.jsonl")},
                   {"source": "p", "reader": "sft_jsonl", "paths": str(tmp_path / "p" / "p.jsonl")}],
        "stages": [{"sft_normalize": {}},
                   {"sft_format": {"template": "chatml", "tokenizer": str(tokenizer_dir), "max_len": 64,
                                   "check_saved_template": False}}],
        "output": {"keep_rejects": True},
    })
    rej = _read(str(out / "rejects" / "**" / "*.parquet")).sort("source")
    assert rej["reason"].to_list() == ["sft_too_long", "sft_too_long:chosen"]
    sft, pref = rej.to_dicts()
    assert sft["messages"] == [
        {"role": "user", "content": long.strip()},
        {"role": "assistant", "content": "the answer"},
    ]
    assert sft["text"] == long.strip()  # the prompt text the row came with, not a null
    assert pref["chosen_messages"][-1] == {"role": "assistant", "content": "yes"}
    assert pref["rejected_messages"][-1] == {"role": "assistant", "content": "no"}
