"""Built-in templates render exactly what the model's own HF Jinja template renders."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curate.sft.templates import TEMPLATES, TemplateError, get_template

from .conftest import SPECIALS

BOS, EOS = "<s>", "</s>"

# Content: unicode, newlines, inner whitespace; never a special token's text, never blank.
_content = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
).filter(lambda s: s.strip() and not any(t in s for t in SPECIALS))


@st.composite
def conversations(draw, system: bool | None = None, strip: bool = True):
    """system? then 1-4 (user, assistant) rounds; stripped content like sft_normalize writes."""
    fix = (lambda s: s.strip()) if strip else (lambda s: s)
    msgs = []
    if system if system is not None else draw(st.booleans()):
        msgs.append({"role": "system", "content": fix(draw(_content))})
    for _ in range(draw(st.integers(1, 4))):
        msgs.append({"role": "user", "content": fix(draw(_content))})
        msgs.append({"role": "assistant", "content": fix(draw(_content))})
    return msgs


def hf_render(tokenizer, jinja: str, messages, add_generation_prompt=False, **kw) -> str:
    return tokenizer.apply_chat_template(
        messages, chat_template=jinja, tokenize=False, add_generation_prompt=add_generation_prompt, **kw
    )


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations())
def test_render_equals_apply_chat_template_of_own_jinja(tokenizer, name, msgs):
    """Every built-in's text == transformers.apply_chat_template with the Jinja it saves."""
    t = get_template(name)
    try:
        ours = t.render(msgs, BOS, EOS)
    except TemplateError as e:
        assert name == "mistral" and e.reason == "sft_template_drops_system" and msgs[0]["role"] == "system"
        return
    assert ours == hf_render(tokenizer, t.jinja, msgs)
    if t.generation_prompt or name in ("chatml", "llama3", "vicuna", "human_assistant"):
        prompt = msgs[:-1]
        assert t.render(prompt, BOS, EOS, add_generation_prompt=True) == hf_render(
            tokenizer, t.jinja, prompt, True
        )


@pytest.mark.parametrize("name", ["chatml", "vicuna", "alpaca", "chatglm", "human_assistant", "mistral"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations(system=False, strip=False))
def test_unstripped_content_renders_like_hf(tokenizer, name, msgs):
    """Non-trimming templates keep surrounding whitespace exactly like their Jinja."""
    t = get_template(name)
    assert t.render(msgs, BOS, EOS) == hf_render(tokenizer, t.jinja, msgs)


@pytest.mark.parametrize("name", ["llama3", "llama2"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations(strip=False))
def test_trimming_templates_trim_like_hf(tokenizer, name, msgs):
    t = get_template(name)
    assert t.render(msgs, BOS, EOS) == hf_render(tokenizer, t.jinja, msgs)


def test_segments_join_to_render_and_mark_assistant_content():
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "U2"},
        {"role": "assistant", "content": "A2"},
    ]
    for name, t in TEMPLATES.items():
        msgs_ = msgs[1:] if name == "mistral" else msgs
        segs = t.segments(msgs_, BOS, EOS)
        assert "".join(s.text for s in segs) == t.render(msgs_, BOS, EOS)
        trained = [s.text for s in segs if s.trained]
        eot = t.eot.replace("{eos}", EOS)
        assert trained == ["A1", eot, "A2", eot], name
        last = [s.text for s in t.segments(msgs_, BOS, EOS, train_on="last_turn") if s.trained]
        assert last == ["A2", eot]
        assert all(s.trained for s in t.segments(msgs_, BOS, EOS, train_on="all"))


def test_unsupported_roles_are_named():
    tool_conv = [
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": '{"name": "f"}'},
        {"role": "tool", "content": "{}"},
        {"role": "assistant", "content": "a"},
    ]
    for name in ("llama2", "mistral", "vicuna", "alpaca", "chatglm", "human_assistant"):
        with pytest.raises(TemplateError) as e:
            get_template(name).render(tool_conv, BOS, EOS)
        assert e.value.reason == "sft_template_unsupported_role:tool"
    assert "<|im_start|>tool\n{}<|im_end|>\n" in get_template("chatml").render(tool_conv)
    assert "<|start_header_id|>tool<|end_header_id|>\n\n{}<|eot_id|>" in get_template("llama3").render(
        tool_conv, BOS
    )


# --- the real HF templates from ../shared/data/chat_templates -------------------------------------
def _case(shared_data, name: str) -> dict:
    cases = json.loads((shared_data / "chat_templates" / "cases.json").read_text())
    return next(c for c in cases["cases"] if c["name"] == name)


def _real(shared_data, filename: str) -> str:
    return (shared_data / "chat_templates" / filename).read_text()


@pytest.mark.external
@pytest.mark.parametrize(
    "ours,case",
    [("chatml", "teknium/OpenHermes-2.5-Mistral-7B"), ("vicuna", "eachadea/vicuna-13b-1.1")],
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations())
def test_equals_real_template_from_cases(tokenizer, shared_data, ours, case, msgs):
    jinja = _case(shared_data, case)["template_str"]
    t = get_template(ours)
    assert t.render(msgs, BOS, EOS) == hf_render(tokenizer, jinja, msgs)
    assert t.render(msgs[:-1], BOS, EOS, True) == hf_render(tokenizer, jinja, msgs[:-1], True)


@pytest.mark.external
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations())
def test_llama3_equals_meta_llama3_case(tokenizer, shared_data, msgs):
    """The llama.cpp copy of Meta-Llama-3's template always appends the generation prompt."""
    jinja = _case(shared_data, "Llama-3")["template_str"]
    t = get_template("llama3")
    assert t.render(msgs, BOS, EOS, True) == hf_render(tokenizer, jinja, msgs)


@pytest.mark.external
@pytest.mark.parametrize(
    "filename", ["meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.3-70B-Instruct.jinja",
                 "meta-llama-Llama-3.2-3B-Instruct.jinja"]
)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations(system=True))
def test_llama3_equals_llama31_with_its_date_header(tokenizer, shared_data, filename, msgs):
    """Llama-3.1/3.2/3.3 = llama3 with the 'Cutting Knowledge Date' header opening the system prompt."""
    jinja = _real(shared_data, filename)
    header = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
    ours_msgs = [{"role": "system", "content": header + msgs[0]["content"]}, *msgs[1:]]
    theirs = hf_render(tokenizer, jinja, msgs, date_string="26 Jul 2024")
    assert get_template("llama3").render(ours_msgs, BOS, EOS) == theirs


@pytest.mark.external
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations(system=True))
def test_chatml_equals_qwen25_with_system_prompt(tokenizer, shared_data, msgs):
    jinja = _real(shared_data, "Qwen-Qwen2.5-7B-Instruct.jinja")
    assert get_template("chatml").render(msgs) == hf_render(tokenizer, jinja, msgs)


@pytest.mark.external
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=conversations(system=False, strip=False))
def test_mistral_equals_mistral_nemo(tokenizer, shared_data, msgs):
    jinja = _real(shared_data, "mistralai-Mistral-Nemo-Instruct-2407.jinja")
    assert get_template("mistral").render(msgs, BOS, EOS) == hf_render(tokenizer, jinja, msgs)
    assert get_template("mistral").jinja.strip() == jinja.strip()


@pytest.mark.external
def test_mistral_nemo_really_drops_a_training_system_prompt(tokenizer, shared_data):
    """Why template mistral rejects system prompts: Nemo's template renders them only at a last user turn."""
    jinja = _real(shared_data, "mistralai-Mistral-Nemo-Instruct-2407.jinja")
    msgs = [
        {"role": "system", "content": "SYSTEM"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
    ]
    assert "SYSTEM" not in hf_render(tokenizer, jinja, msgs)


@pytest.mark.external
@pytest.mark.parametrize(
    "ours,case",
    [
        ("chatml", "teknium/OpenHermes-2.5-Mistral-7B"),
        ("vicuna", "eachadea/vicuna-13b-1.1"),
        ("llama3", "Llama-3"),
    ],
)
def test_cases_json_conversation(shared_data, ours, case):
    """llama.cpp's reference conversation (whitespace-padded answer) gives the recorded HF rendering."""
    cases = json.loads((shared_data / "chat_templates" / "cases.json").read_text())
    c = _case(shared_data, case)
    msgs = cases["conversation"] + c["extra_conversation"]
    ours_text = get_template(ours).render(
        msgs, c["bos_token"], c["eos_token"], cases["add_generation_prompt"]
    )
    assert ours_text == c["hf_jinja2_render"]
