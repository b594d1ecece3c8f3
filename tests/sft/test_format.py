"""SFTFormatter: every written row passes the checks a trainer relies on, verified independently here."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from curate.sft.format import SFTFormatConfig, SFTFormatter
from curate.sft.normalize import SFTNormalize, SFTNormalizeConfig
from curate.sft.templates import TEMPLATES, get_template

from .conftest import build_tokenizer
from .test_templates import conversations

IGNORE = -100


def formatter(tokenizer_dir, **kw) -> SFTFormatter:
    kw.setdefault("check_saved_template", False)
    f = SFTFormatter(SFTFormatConfig(tokenizer=str(tokenizer_dir), **kw))
    f.setup()
    return f


def frame(convs: list[list[dict]], source: str = "s") -> pl.DataFrame:
    return pl.DataFrame(
        {"id": [f"r{i}" for i in range(len(convs))], "source": [source] * len(convs), "messages": convs},
        schema={"id": pl.Utf8, "source": pl.Utf8,
                "messages": pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))},
    )


def assert_row_ok(row: dict, tokenizer, template: str, train_on: str = "assistant") -> None:
    """Independent of the formatter's internals: the checks the issue states, on one row."""
    t = get_template(template)
    msgs = row["messages"]
    ids, labels = row["input_ids"], row["labels"]
    assert row["n_tokens"] == len(ids) == len(labels)
    # the text is what the model's template renders at inference
    assert row["text"] == tokenizer.apply_chat_template(msgs, chat_template=t.jinja, tokenize=False)
    assert tokenizer.decode(ids, skip_special_tokens=False) == row["text"]
    eot = t.eot.replace("{eos}", tokenizer.eos_token)
    trained_text = tokenizer.decode([x for x in labels if x != IGNORE], skip_special_tokens=False)
    if train_on == "all":
        assert trained_text == row["text"]
    else:
        answers = [m for m in msgs if m["role"] == "assistant"]
        if train_on == "last_turn":
            answers = answers[-1:]
        assert trained_text == "".join(t.assistant_content(m["content"]) + eot for m in answers)
        # each trained turn is exactly contiguous runs: label == id wherever trained
        assert all(lab == i for lab, i in zip(labels, ids, strict=True) if lab != IGNORE)
    bos_id = tokenizer.convert_tokens_to_ids(tokenizer.bos_token)
    n_bos = ids.count(bos_id)
    if template == "llama2":
        assert n_bos == sum(m["role"] == "user" for m in msgs)
    elif t.uses_bos:
        assert n_bos == 1 and ids[0] == bos_id
    else:
        assert n_bos == 0


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("train_on", ["assistant", "last_turn", "all"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(convs=__import__("hypothesis").strategies.lists(conversations(), min_size=1, max_size=4))
def test_every_row_passes_the_checks(tokenizer_dir, tokenizer, template, train_on, convs):
    f = formatter(tokenizer_dir, template=template, max_len=100_000, train_on=train_on)
    res = f.process(frame(convs))
    reasons = [] if res.dropped is None else res.dropped["reason"].to_list()
    assert res.kept.height + len(reasons) == len(convs)
    for r in reasons:  # only mistral rejects, and only conversations with a system prompt
        assert template == "mistral" and r == "sft_template_drops_system"
    for row in res.kept.iter_rows(named=True):
        assert_row_ok(row, tokenizer, template, train_on)


def test_llama3_with_its_own_specials(tmp_path):
    d = tmp_path / "llama3tok"
    tok = build_tokenizer(d, bos="<|begin_of_text|>", eos="<|eot_id|>")
    f = formatter(d, template="llama3")
    convs = [[{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi ü"},
              {"role": "assistant", "content": "Hello 😀"}]]
    res = f.process(frame(convs))
    row = res.kept.row(0, named=True)
    assert row["text"].startswith("<|begin_of_text|><|start_header_id|>system")
    assert row["input_ids"][0] == tok.convert_tokens_to_ids("<|begin_of_text|>")
    assert_row_ok(row, tok, "llama3")


def test_rejects_name_the_check(tokenizer_dir):
    f = formatter(tokenizer_dir, template="chatml", max_len=30)
    convs = [
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "fine <|im_end|> injected"}],
        [{"role": "user", "content": "long " * 50}, {"role": "assistant", "content": "x"}],
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}],
    ]
    res = f.process(frame(convs))
    assert res.dropped["reason"].to_list() == ["sft_special_token_in_content", "sft_too_long"]
    assert res.kept["id"].to_list() == ["r2"]
    assert res.kept.height + res.n_dropped == 3
    # rejects keep the input columns, not half-formatted ones
    assert set(res.dropped.columns) == {"id", "source", "messages", "reason"}


def test_mistral_system_prompt_rejected_not_dropped(tokenizer_dir):
    f = formatter(tokenizer_dir, template="mistral")
    res = f.process(frame([[{"role": "system", "content": "S"}, {"role": "user", "content": "u"},
                            {"role": "assistant", "content": "a"}]]))
    assert res.kept.height == 0 and res.dropped["reason"].to_list() == ["sft_template_drops_system"]


@pytest.mark.parametrize("policy", ["left", "right"])
def test_truncation_drops_whole_rounds(tokenizer_dir, tokenizer, policy):
    rounds = [("first question " * 3, "first answer " * 3), ("second " * 3, "second answer " * 3),
              ("third " * 3, "third answer " * 3)]
    msgs = [{"role": "system", "content": "sys"}]
    for u, a in rounds:
        msgs += [{"role": "user", "content": u.strip()}, {"role": "assistant", "content": a.strip()}]
    full = formatter(tokenizer_dir, template="chatml", max_len=10_000).process(frame([msgs])).kept
    n_full = full["n_tokens"][0]
    f = formatter(tokenizer_dir, template="chatml", max_len=n_full - 1, truncation=policy)
    res = f.process(frame([msgs]))
    row = res.kept.row(0, named=True)
    assert row["n_tokens"] <= n_full - 1
    kept_msgs = row["messages"]
    assert kept_msgs[0]["role"] == "system" and len(kept_msgs) == 5
    expected_first_user = rounds[0][0].strip() if policy == "right" else rounds[1][0].strip()
    assert kept_msgs[1]["content"] == expected_first_user
    assert res.counters["sft_truncated_rows"] == 1
    assert_row_ok(row, tokenizer, "chatml")
    # a single round that does not fit is rejected under every policy
    tiny = formatter(tokenizer_dir, template="chatml", max_len=5, truncation=policy).process(frame([msgs]))
    assert tiny.dropped["reason"].to_list() == ["sft_too_long"]


def test_packing_restarts_positions_and_balances_counts(tokenizer_dir, tokenizer):
    convs = [[{"role": "user", "content": f"question {i} " * (1 + i % 3)},
              {"role": "assistant", "content": f"answer {i} " * (1 + i % 2)}] for i in range(12)]
    convs = [[{"role": m["role"], "content": m["content"].strip()} for m in c] for c in convs]
    single = formatter(tokenizer_dir, template="chatml", max_len=10_000).process(frame(convs)).kept
    max_len = int(single["n_tokens"].max()) * 3
    f = formatter(tokenizer_dir, template="chatml", max_len=max_len, packing=True)
    a = f.process(frame(convs[:7]))
    b = f.process(frame(convs[7:]).with_columns(pl.format("s{}", pl.int_range(pl.len())).alias("id")))
    tail = f.flush()
    assert a.consumed == 7 and b.consumed == 5 and tail.consumed == 0
    packed = pl.concat([a.kept, b.kept, tail.kept])
    assert f.flush() is None
    assert packed["n_sequences"].sum() == 12
    assert (packed["n_tokens"] <= max_len).all()
    all_ids, all_labels = [], []
    for row in packed.iter_rows(named=True):
        assert sum(row["seq_lens"]) == row["n_tokens"] == len(row["position_ids"])
        pos, start = row["position_ids"], 0
        for n in row["seq_lens"]:
            assert pos[start : start + n] == list(range(n))
            assert row["labels"][start] == IGNORE
            start += n
        all_ids += row["input_ids"]
        all_labels += row["labels"]
    assert all_ids == [i for ids in single["input_ids"] for i in ids]
    assert all_labels == [x for labs in single["labels"] for x in labs]


def test_packing_keeps_sources_apart(tokenizer_dir):
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    f = formatter(tokenizer_dir, template="chatml", max_len=10_000, packing=True)
    df = pl.concat([frame([conv, conv], "x"), frame([conv], "y")])
    res = f.process(df)
    assert res.kept.height == 0 and res.consumed == 3
    tail = f.flush().kept
    assert sorted(zip(tail["source"], tail["n_sequences"], strict=True)) == [("x", 2), ("y", 1)]


def test_preference_rows(tokenizer_dir, tokenizer):
    rows = [
        {"conversations": [{"from": "human", "value": "Pick one"}],
         "chosen": {"from": "gpt", "value": "Good answer"}, "rejected": {"from": "gpt", "value": "Bad"}},
        {"conversations": [{"from": "human", "value": "again"}],
         "chosen": {"from": "gpt", "value": "x <|im_end|>"}, "rejected": {"from": "gpt", "value": "y"}},
    ]
    norm = SFTNormalize(SFTNormalizeConfig(), None).process(pl.DataFrame(rows)).kept
    res = formatter(tokenizer_dir, template="chatml", train_on="last_turn").process(norm)
    assert res.dropped["reason"].to_list() == ["sft_special_token_in_content:chosen"]
    row = res.kept.row(0, named=True)
    for side, answer in (("chosen", "Good answer"), ("rejected", "Bad")):
        r = {k.removeprefix(side + "_"): v for k, v in row.items() if k.startswith(side + "_")}
        assert_row_ok(r, tokenizer, "chatml", "last_turn")
        assert tokenizer.decode([x for x in r["labels"] if x != IGNORE]) == answer + "<|im_end|>"
    # the prompt tokens are identical on both sides (what DPO needs)
    n_prompt = row["chosen_labels"].index(next(x for x in row["chosen_labels"] if x != IGNORE))
    assert row["chosen_input_ids"][:n_prompt] == row["rejected_input_ids"][:n_prompt]


@pytest.mark.parametrize("policy", ["left", "right", "drop"])
def test_preference_pairs_are_truncated_as_pairs(tokenizer_dir, tokenizer, policy):
    prompt = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "old question " * 8},
        {"role": "assistant", "content": "old answer " * 8},
        {"role": "user", "content": "new question"},
    ]
    df = pl.DataFrame({
        "messages": [prompt],
        "chosen_messages": [prompt + [{"role": "assistant", "content": "good " * 6}]],
        "rejected_messages": [prompt + [{"role": "assistant", "content": "bad"}]],
    })
    full = formatter(tokenizer_dir, template="chatml", max_len=10_000).process(df).kept
    limit = int(full["chosen_n_tokens"][0]) - 1
    res = formatter(tokenizer_dir, template="chatml", max_len=limit, truncation=policy).process(df)
    if policy != "left":
        assert res.dropped["reason"].to_list() == ["sft_too_long:chosen"]
        return
    row = res.kept.row(0, named=True)
    assert row["sft_kind"] == "preference"
    for side in ("chosen", "rejected"):
        r = {k.removeprefix(side + "_"): v for k, v in row.items() if k.startswith(side + "_")}
        assert [m["content"] for m in r["messages"][:2]] == ["sys", "new question"]
        assert r["n_tokens"] <= limit
        assert_row_ok(r, tokenizer, "chatml", "last_turn")  # preference_train_on default


def test_saved_template_mismatch_is_refused(tmp_path):
    d = tmp_path / "tok"
    build_tokenizer(d, chat_template=get_template("chatml").jinja)
    SFTFormatter(SFTFormatConfig(tokenizer=str(d), template="chatml")).setup()  # same template: fine
    with pytest.raises(ValueError, match="renders differently"):
        SFTFormatter(SFTFormatConfig(tokenizer=str(d), template="llama3")).setup()


def test_missing_marker_is_a_setup_error(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        ["hello world"] * 10, trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"])
    )
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>").save_pretrained(
        str(tmp_path / "t")
    )
    with pytest.raises(ValueError, match="as 2 tokens; the chat template needs it as one special token"):
        SFTFormatter(SFTFormatConfig(tokenizer=str(tmp_path / "t"), template="chatml")).setup()


def test_format_stage_dispatches_kind_sft(tokenizer_dir, tokenizer, tmp_path):
    """`format: {kind: sft}` reaches SFTFormatter, routes by kind and saves the template it rendered with."""
    from curate.engine.stage import StageContext
    from curate.format.stage import Format

    cfg = Format.Config(
        kind="sft", tokenizer=str(tokenizer_dir), template="vicuna", max_len=512, truncation="drop"
    )
    stage = Format(cfg, StageContext(run_dir=tmp_path, work_dir=tmp_path, stage_index=0, stage_name="format"))
    stage.setup()
    assert stage.route_column() == "sft_kind"
    assert (tmp_path / "chat_template.jinja").read_text() == stage.sft.chat_template
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    res = stage.process(frame([conv]))
    assert_row_ok(res.kept.row(0, named=True), tokenizer, "vicuna")


# --- hf:DIR templates ------------------------------------------------------------------------------
def test_hf_template_matches_builtin_masks(tmp_path, tokenizer):
    d = tmp_path / "hfchatml"
    build_tokenizer(d, chat_template=get_template("chatml").jinja)
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "A b"},
        {"role": "user", "content": "U2"},
        {"role": "assistant", "content": "Ä2"},
    ]
    hf = SFTFormatter(SFTFormatConfig(tokenizer=str(d), template=f"hf:{d}"))
    builtin = SFTFormatter(SFTFormatConfig(tokenizer=str(d), template="chatml"))
    a = hf.process(frame([msgs])).kept.row(0, named=True)
    b = builtin.process(frame([msgs])).kept.row(0, named=True)
    assert a["text"] == b["text"] and a["input_ids"] == b["input_ids"] and a["labels"] == b["labels"]


def test_hf_template_not_prefix_stable_is_rejected(tmp_path):
    # A template that writes the number of messages up front changes earlier text as turns are added.
    jinja = (
        "{{ messages|length }}{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
        "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
        "endif %}"
    )
    d = tmp_path / "unstable"
    build_tokenizer(d, chat_template=jinja)
    res = SFTFormatter(SFTFormatConfig(tokenizer=str(d), template=f"hf:{d}")).process(
        frame([[{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]])
    )
    assert res.dropped["reason"].to_list() == ["sft_template_not_prefix_stable"]


@pytest.mark.external
def test_hf_qwen25_template(tmp_path, shared_data):
    jinja = (shared_data / "chat_templates" / "Qwen-Qwen2.5-7B-Instruct.jinja").read_text()
    d = tmp_path / "qwen"
    tok = build_tokenizer(d, bos="<s>", eos="<|im_end|>", chat_template=jinja)
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    res = SFTFormatter(SFTFormatConfig(tokenizer=str(d), template=f"hf:{d}")).process(frame([msgs]))
    row = res.kept.row(0, named=True)
    assert row["text"] == tok.apply_chat_template(msgs, tokenize=False)
    assert "You are Qwen" in row["text"]  # its default system prompt is part of the text, untrained
    assert tok.decode([x for x in row["labels"] if x != IGNORE]) == "Hello!<|im_end|>4<|im_end|>"


def _real_corpora(tokenizer_dir, tokenizer, shared_data, templates, limit):
    files = [
        "alpaca_en_demo",
        "alpaca_zh_demo",
        "identity",
        "glaive_toolcall_en_demo",
        "dpo_en_demo",
        "kto_en_demo",
    ]
    for template in templates:
        f = formatter(tokenizer_dir, template=template, max_len=8192)
        for name in files:
            rows = json.loads((shared_data / "instruct" / f"{name}.json").read_text())[:limit]
            raw = pl.DataFrame(rows)
            norm = SFTNormalize(SFTNormalizeConfig(), None).process(raw)
            assert norm.kept.height + norm.n_dropped == raw.height
            res = f.process(norm.kept)
            assert res.kept.height + res.n_dropped == norm.kept.height
            reasons = set() if res.dropped is None else set(res.dropped["reason"])
            allowed = {
                "sft_special_token_in_content",
                "sft_too_long",
                "sft_too_long:chosen",
                "sft_too_long:rejected",
            }
            if template not in ("chatml", "llama3"):  # formats that cannot express tool turns / Nemo's system
                allowed |= {"sft_template_unsupported_role:tool", "sft_template_drops_system",
                            "sft_template_drops_system:chosen"}
            else:
                assert res.kept.height >= 0.8 * norm.kept.height, name
            assert reasons <= allowed, (name, reasons)
            for row in res.kept.iter_rows(named=True):
                if "chosen_messages" in row:
                    for side in ("chosen", "rejected"):
                        assert_row_ok(
                            {
                                k.removeprefix(side + "_"): v
                                for k, v in row.items()
                                if k.startswith(side + "_")
                            },
                            tokenizer,
                            template,
                            "last_turn",
                        )
                else:
                    assert_row_ok(row, tokenizer, template)


@pytest.mark.external
def test_real_corpora_sample(tokenizer_dir, tokenizer, shared_data):
    """The first 40 rows of every LLaMA-Factory demo set through chatml: every kept row checks out."""
    _real_corpora(tokenizer_dir, tokenizer, shared_data, ["chatml"], 40)


@pytest.mark.external
@pytest.mark.slow
def test_real_corpora_every_row(tokenizer_dir, tokenizer, shared_data):
    """All rows of all LLaMA-Factory demo sets, every template that can express them."""
    _real_corpora(tokenizer_dir, tokenizer, shared_data, sorted(TEMPLATES), None)


_MARKER = __import__("re").compile(
    r"<\|[^|'\"\s]{1,40}\|>|<[a-z_]{2,30}>|<｜[^｜]{1,40}｜>|\[/?[A-Z_]{3,20}\]"
)


@pytest.mark.external
@pytest.mark.parametrize(
    "filename,eot",
    [
        ("meta-llama-Llama-3.1-8B-Instruct.jinja", "<|eot_id|>"),
        ("Qwen-Qwen2.5-7B-Instruct.jinja", "<|im_end|>"),
        ("ibm-granite-granite-3.3-2B-Instruct.jinja", "<|end_of_text|>"),
        ("HuggingFaceTB-SmolLM3-3B.jinja", "<|im_end|>"),
        ("deepseek-ai-DeepSeek-V3.1.jinja", "<｜end▁of▁sentence｜>"),
    ],
)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(convs=__import__("hypothesis").strategies.lists(conversations(), min_size=1, max_size=4))
def test_hf_real_templates_masks(tmp_path_factory, shared_data, filename, eot, convs):
    """hf:DIR with real model templates: text == apply_chat_template, labels decode to content + eot."""
    from .conftest import SPECIALS

    if filename not in _HF_TOKENIZERS:
        jinja = (shared_data / "chat_templates" / filename).read_text()
        d = tmp_path_factory.mktemp("hf") / "tok"
        extra = sorted(set(_MARKER.findall(jinja)) - set(SPECIALS))
        tok = build_tokenizer(d, chat_template=jinja, extra_specials=extra)
        _HF_TOKENIZERS[filename] = (
            d,
            tok,
            SFTFormatter(SFTFormatConfig(tokenizer=str(d), template=f"hf:{d}", max_len=100_000)),
        )
    d, tok, f = _HF_TOKENIZERS[filename]
    res = f.process(frame(convs))
    assert res.kept.height == len(convs), res.dropped["reason"].to_list() if res.dropped is not None else None
    for row in res.kept.iter_rows(named=True):
        assert row["text"] == tok.apply_chat_template(
            row["messages"], tokenize=False, date_string="26 Jul 2024"
        )
        trained = tok.decode([x for x in row["labels"] if x != IGNORE], skip_special_tokens=False)
        answers = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        assert trained == "".join(a + eot for a in answers)


_HF_TOKENIZERS: dict = {}


def test_tools_not_rendered_is_counted(tokenizer_dir):
    conv = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    df = frame([conv, conv]).with_columns(pl.Series("tools", ['[{"name": "w"}]', None]))
    res = formatter(tokenizer_dir, template="chatml").process(df)
    assert res.counters.get("sft_tools_not_rendered") == 1


def test_sft_format_stage_writes_its_chat_template(tokenizer_dir, tokenizer, tmp_path):
    from curate.engine.stage import StageContext
    from curate.sft.stage import SFTFormat

    ctx = StageContext(run_dir=tmp_path, work_dir=tmp_path / "w", stage_index=0, stage_name="sft_format")
    stage = SFTFormat(SFTFormat.Config(tokenizer=str(tokenizer_dir), template="llama2"), ctx)
    stage.setup()
    saved = (tmp_path / "chat_template.jinja").read_text()
    assert saved == get_template("llama2").jinja
    conv = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    row = stage.process(frame([conv])).kept.row(0, named=True)
    assert row["text"] == tokenizer.apply_chat_template(conv, chat_template=saved, tokenize=False)
    assert stage.route_column() == "sft_kind"


def test_full_encoding_diagnostic(tokenizer_dir):
    """chatml boundaries sit at special tokens: by-construction ids equal whole-text encoding."""
    conv = [{"role": "system", "content": "S"}, {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": "the answer"}]
    res = formatter(tokenizer_dir, template="chatml").process(frame([conv] * 3))
    assert res.counters["sft_full_encoding_checked"] == 3
    assert res.counters["sft_ids_differ_from_full_encoding"] == 0
    # llama3's header ends with "\n\n": by construction it stays one pre-token (as in an inference
    # prompt that ends there), whole-text encoding splits it - the diagnostic shows it
    res = formatter(tokenizer_dir, template="llama3").process(frame([conv]))
    assert res.counters["sft_ids_differ_from_full_encoding"] == 1


def test_tools_in_system_prompt_are_not_counted(tokenizer_dir):
    rows = [
        {
            "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
            "tools": '[{"name": "w"}]',
        }
    ]
    norm = SFTNormalize(SFTNormalizeConfig(tools_to_system=True), None).process(pl.DataFrame(rows)).kept
    res = formatter(tokenizer_dir, template="chatml").process(norm)
    assert "sft_tools_not_rendered" not in res.counters
    assert '# Tools\n[{"name": "w"}]' in res.kept["text"][0]


def test_ordinary_added_tokens_are_not_special(tmp_path, tokenizer):
    """Code tokenizers add whitespace runs as ordinary added tokens: content with them is fine."""
    from transformers import AutoTokenizer

    d = tmp_path / "tok"
    tokenizer.save_pretrained(str(d))
    tok = AutoTokenizer.from_pretrained(str(d))
    tok.add_tokens(["    "])  # not special
    tok.save_pretrained(str(d))
    conv = [{"role": "user", "content": "indent"}, {"role": "assistant", "content": "def f():\n    return 1"}]
    res = formatter(d, template="chatml").process(frame([conv]))
    assert res.n_dropped == 0
    assert_row_ok(res.kept.row(0, named=True), tok, "chatml")
