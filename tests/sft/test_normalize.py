"""sft_normalize: four input layouts -> canonical messages; invalid rows rejected with precise reasons."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.sft.normalize import Invalid, SFTNormalize, SFTNormalizeConfig, normalize_row


def run(rows: list[dict], **cfg):
    df = pl.DataFrame(rows, infer_schema_length=None)
    res = SFTNormalize(SFTNormalizeConfig(**cfg), None).process(df)
    assert res.kept.height + res.n_dropped == df.height  # counts balance
    return res


def reasons(res) -> list[str]:
    return [] if res.dropped is None else res.dropped["reason"].to_list()


def test_alpaca_with_input_system_and_history():
    res = run([{"instruction": "Translate", "input": "Hallo", "output": " Hello ", "system": "Be brief.",
                "history": [["hi", "hey"]]}])
    row = res.kept.row(0, named=True)
    assert row["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hey"},
        {"role": "user", "content": "Translate\nHallo"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert row["system"] == "Be brief." and row["sft_format"] == "alpaca"
    assert row["prompt"] == row["text"] == "hi\n\nTranslate\nHallo"
    assert "instruction" not in res.kept.columns and "output" not in res.kept.columns


def test_sharegpt_with_tools_and_function_calls():
    conv = [
        {"from": "human", "value": "weather?"},
        {"from": "function_call", "value": '{"name": "w"}'},
        {"from": "observation", "value": '{"t": 3}'},
        {"from": "gpt", "value": "3 degrees"},
    ]
    res = run([{"conversations": conv, "tools": '[{"name": "w"}]', "system": "S"}])
    row = res.kept.row(0, named=True)
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert row["tools"] == '[{"name": "w"}]' and row["sft_format"] == "sharegpt"


def test_tools_to_system():
    conv = [{"from": "human", "value": "weather?"}, {"from": "gpt", "value": "sunny"}]
    row = run(
        [{"conversations": conv, "tools": '[{"name": "w"}]', "system": "S"}], tools_to_system=True
    ).kept.row(0, named=True)
    assert row["messages"][0] == {"role": "system", "content": 'S\n\n# Tools\n[{"name": "w"}]'}
    row = run([{"conversations": conv, "tools": '[{"name": "w"}]'}], tools_to_system=True).kept.row(
        0, named=True
    )
    assert row["messages"][0]["role"] == "system" and row["system"] == row["messages"][0]["content"]


def test_openai_messages_and_content_parts():
    # Arrow cannot hold str and list contents in one column, so this is checked on the row function.
    c = SFTNormalizeConfig()
    msgs = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "c"}]
    assert normalize_row({"messages": msgs}, c, set())["messages"][0] == {"role": "user", "content": "ab"}
    bad = [
        {"role": "user", "content": [{"type": "image_url", "image_url": "x"}]},
        {"role": "assistant", "content": "c"},
    ]
    with pytest.raises(Invalid, match="sft_non_text_content"):
        normalize_row({"messages": bad}, c, set())
    with pytest.raises(Invalid, match="sft_bad_type:instruction"):
        normalize_row({"instruction": 3, "output": "y"}, c, set())


def test_openai_tool_calls_become_assistant_content():
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "r"}, {"role": "assistant", "content": "done"}]
    row = run([{"messages": msgs}]).kept.row(0, named=True)
    assert row["messages"][1] == {"role": "assistant", "content": '{"name": "f", "arguments": "{}"}'}


def test_preference_layouts():
    rows = [
        # LLaMA-Factory: sharegpt prompt + single chosen/rejected messages
        {"conversations": [{"from": "human", "value": "p1"}], "chosen": {"from": "gpt", "value": "good"},
         "rejected": {"from": "gpt", "value": "bad"}},
    ]
    row = run(rows).kept.row(0, named=True)
    assert row["messages"] == [{"role": "user", "content": "p1"}]
    assert row["chosen_messages"][-1] == {"role": "assistant", "content": "good"}
    assert row["rejected_messages"][-1] == {"role": "assistant", "content": "bad"}
    # TRL: prompt string + chosen/rejected strings
    row = run([{"prompt": "p2", "chosen": "yes", "rejected": "no"}]).kept.row(0, named=True)
    assert row["chosen_messages"] == [
        {"role": "user", "content": "p2"},
        {"role": "assistant", "content": "yes"},
    ]
    # TRL implicit prompt: full conversations only
    full_c = [{"role": "user", "content": "p3"}, {"role": "assistant", "content": "c"}]
    full_r = [{"role": "user", "content": "p3"}, {"role": "assistant", "content": "r"}]
    row = run([{"chosen": full_c, "rejected": full_r}]).kept.row(0, named=True)
    assert row["messages"] == [{"role": "user", "content": "p3"}]
    assert row["chosen_messages"] == full_c and row["rejected_messages"] == full_r


@pytest.mark.parametrize(
    "row,reason",
    [
        ({"instruction": "x"}, "sft_missing_key:output"),
        ({"instruction": "x", "output": "   "}, "sft_empty_turn"),
        ({"instruction": "x", "output": "y", "history": [["only one"]]}, "sft_bad_type:history"),
        ({"conversations": "not a list"}, "sft_not_a_list:conversations"),
        (
            {"conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "b"}]},
            "sft_roles_out_of_order",
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "human", "value": "b"},
                    {"from": "gpt", "value": "c"},
                ]
            },
            "sft_roles_out_of_order",
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "gpt", "value": "b"},
                    {"from": "human", "value": "c"},
                ]
            },
            "sft_last_turn_not_assistant",
        ),
        (
            {
                "conversations": [
                    {"from": "human", "value": "a"},
                    {"from": "system", "value": "s"},
                    {"from": "gpt", "value": "c"},
                ]
            },
            "sft_system_not_first",
        ),
        (
            {"conversations": [{"from": "wizard", "value": "a"}, {"from": "gpt", "value": "c"}]},
            "sft_unknown_role:wizard",
        ),
        ({"conversations": [{"from": "human"}, {"from": "gpt", "value": "c"}]}, "sft_missing_key:value"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": ""}]},
            "sft_empty_turn",
        ),
        ({"messages": [{"content": "a"}]}, "sft_missing_key:role"),
        ({"messages": [{"role": "system", "content": "s"}]}, "sft_no_assistant_turn"),
        # an undetectable row in an Alpaca batch is named by what Alpaca needs
        ({"something": "else"}, "sft_missing_key:instruction"),
        ({"prompt": "p", "chosen": "c", "rejected": "   "}, "sft_empty_turn"),
    ],
)
def test_invalid_rows_have_precise_reasons(row, reason):
    res = run([row, {"instruction": "fine", "output": "ok"}])
    assert reasons(res) == [reason]
    assert res.kept.height == 1
    # the rejected row is the input row, unchanged, plus the reason
    assert set(res.dropped.columns) - {"reason"} <= set(
        pl.DataFrame([row, {"instruction": "fine", "output": "ok"}], infer_schema_length=None).columns
    )


def test_odd_rows_in_auto_mode():
    pref = {"prompt": "p", "chosen": "c", "rejected": "r"}
    res = run([pref, {"prompt": "p", "chosen": "c"}])
    assert reasons(res) == ["sft_missing_key:rejected"]
    res = run([{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]},
               {"dialogue": [{"from": "human", "value": "a"}]}])
    assert reasons(res) == ["sft_missing_key:conversations"]
    assert reasons(run([{"something": "else"}])) == ["sft_unknown_format"]
    # OpenAI-style single message instead of a list (mixed types: the reader keeps JSON text)
    df = pl.DataFrame(
        {
            "prompt": ["p", "p"],
            "chosen": [json.dumps("c"), json.dumps({"role": "assistant", "content": "c"})],
            "rejected": ["r", "r"],
        }
    )
    res = SFTNormalize(SFTNormalizeConfig(), None).process(df)
    assert reasons(res) == ["sft_not_a_list:chosen"]


def test_json_fallback_columns_are_decoded():
    """The jsonl reader keeps a column of mixed types as JSON text; the normaliser decodes it."""
    df = pl.DataFrame(
        {
            "prompt": [
                json.dumps("plain question"),
                json.dumps([{"role": "user", "content": "listed question"}]),
            ],
            "chosen": [json.dumps("yes"), json.dumps([{"role": "assistant", "content": "yes!"}])],
            "rejected": [json.dumps("no"), json.dumps([{"role": "assistant", "content": "no!"}])],
        }
    )
    res = SFTNormalize(SFTNormalizeConfig(), None).process(df)
    assert res.n_dropped == 0
    assert res.kept["prompt"].to_list() == ["plain question", "listed question"]
    # a plain string column whose values happen to be quoted is not JSON text
    quoted = pl.DataFrame({"instruction": ['"Hi"', '"Bye"'], "output": ['"a"', "b"]})
    assert res.kept["chosen_messages"].to_list()[1][-1]["content"] == "yes!"
    res = SFTNormalize(SFTNormalizeConfig(), None).process(quoted)
    assert res.kept["prompt"].to_list() == ['"Hi"', '"Bye"']


def test_column_mapping_and_tags():
    rows = [{"q": "hello", "a": "hi", "sys": "S"}]
    row = run(rows, format="alpaca", columns={"prompt": "q", "response": "a", "system": "sys"}).kept.row(
        0, named=True
    )
    assert row["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "hello"},
                               {"role": "assistant", "content": "hi"}]
    rows = [{"dialog": [{"speaker": "me", "text": "hello"}, {"speaker": "bot2", "text": "hi"}]}]
    row = run(
        rows,
        format="sharegpt",
        columns={"messages": "dialog"},
        tags={"role_tag": "speaker", "content_tag": "text", "user_tag": "me", "assistant_tag": "bot2"},
    ).kept.row(0, named=True)
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]


def test_json_text_column_is_accepted():
    conv = json.dumps([{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}])
    assert run([{"conversations": conv}]).kept.height == 1


@pytest.mark.external
def test_real_llamafactory_sets_with_their_dataset_info(shared_data):
    info = json.loads((shared_data / "instruct" / "dataset_info.json").read_text())
    for name in [
        "alpaca_en_demo",
        "alpaca_zh_demo",
        "identity",
        "glaive_toolcall_en_demo",
        "dpo_en_demo",
        "kto_en_demo",
    ]:
        spec = info[name]
        rows = json.loads((shared_data / "instruct" / spec["file_name"]).read_text())
        fmt = "preference" if spec.get("ranking") else spec.get("formatting", "alpaca")
        columns = {k: v for k, v in spec.get("columns", {}).items() if k != "kto_tag"}
        tags = spec.get("tags", {})
        res = run(rows, format=fmt, columns=columns, tags=tags)
        assert res.n_dropped == 0, (name, reasons(res)[:3])
        for msgs in res.kept["chosen_messages" if fmt == "preference" else "messages"].to_list():
            assert msgs[-1]["role"] == "assistant" and all(m["content"] for m in msgs)


@pytest.mark.external
def test_dataset_info_option(shared_data):
    info = str(shared_data / "instruct" / "dataset_info.json")
    cfg = SFTNormalizeConfig(dataset_info=info, dataset="glaive_toolcall_en_demo")
    assert cfg.format == "sharegpt" and cfg.columns == {"messages": "conversations", "tools": "tools"}
    cfg = SFTNormalizeConfig(dataset_info=info, dataset="dpo_en_demo")
    assert cfg.format == "preference"
    cfg = SFTNormalizeConfig(dataset_info=info, dataset="kto_en_demo")
    assert cfg.columns == {"messages": "messages"} and cfg.tags["role_tag"] == "role"
    with pytest.raises(ValueError, match="not in"):
        SFTNormalizeConfig(dataset_info=info, dataset="nope")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["from", "value", "role", "content", "type", "text", "tool_calls", "function"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_KEYS = [
    "instruction", "input", "output", "history", "system", "conversations", "messages", "prompt", "chosen",
    "rejected", "tools",
]


@settings(max_examples=300, deadline=None)
@given(row=st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5))
def test_any_row_is_normalised_or_rejected_with_a_reason(row):
    """Adversarial rows never crash the normaliser: a canonical record or an sft_* reason."""
    c = SFTNormalizeConfig()
    try:
        rec = normalize_row(row, c, set())
    except Invalid as e:
        assert str(e).startswith("sft_")
        return
    msgs = rec["chosen_messages"] if rec.get("chosen_messages") else rec["messages"]
    assert msgs[-1]["role"] == "assistant"
    assert all(isinstance(m["content"], str) and m["content"] for m in msgs)
