"""Pipeline validation: every problem is reported with file:line and the valid choices, before any work."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.engine.errors import SpecError
from curate.engine.spec import load_spec, spec_from_dict


def _write(tmp_path, text: str):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return p


def _problems(path) -> list[str]:
    with pytest.raises(SpecError) as e:
        load_spec(path)
    return e.value.problems


def test_unknown_stage_names_line_and_choices(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write(
        tmp_path,
        "name: x\ninputs:\n  - {source: a, reader: jsonl, paths: corpus/*.jsonl}\nstages:\n  - not_a_stage: "
        "{}\n",
    )
    (problem,) = _problems(p)
    assert problem.startswith(f"{p}:5: stages[0]: unknown stage 'not_a_stage'")
    assert "valid stages:" in problem


def test_unknown_key_wrong_type_and_output(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write(
        tmp_path,
        "name: x\n"
        "inputs:\n"
        "  - {source: a, reader: jsonl, paths: corpus/*.jsonl, text_kee: t}\n"
        "output:\n"
        "  shard_rows: lots\n"
        "  colour: red\n",
    )
    problems = _problems(p)
    assert any(
        s.startswith(f"{p}:3: inputs[0].text_kee: unknown key 'text_kee' (did you mean 'text_key'?)")
        for s in problems
    )
    assert any(s.startswith(f"{p}:5: output.shard_rows:") and "'lots'" in s for s in problems)
    assert any(s.startswith(f"{p}:6: output.colour: unknown key") and "shard_rows" in s for s in problems)


def test_missing_inputs_and_bad_glob(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write(
        tmp_path,
        "name: x\ninputs:\n  - {source: a, reader: jsonl, paths: nowhere/*.jsonl}\n  - {source: b, reader: "
        "jsonl, paths: 'x[.jsonl'}\n",
    )
    problems = _problems(p)
    assert any(s.startswith(f"{p}:3: inputs[0].paths: 'nowhere/*.jsonl' matches no file") for s in problems)
    assert any(s.startswith(f"{p}:4: inputs[1].paths: bad glob") for s in problems)


def test_broken_yaml_gives_line(tmp_path):
    p = _write(tmp_path, "name: x\ninputs: [\n  - {a: b\n")
    (problem,) = _problems(p)
    assert problem.startswith(f"{p}:") and "not valid YAML" in problem


def test_cli_exit_code_2_and_one_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write(tmp_path, "name: x\ninputs:\n  - {source: a, reader: nope, paths: x}\n")
    r = CliRunner().invoke(main, ["run", str(p), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "p.yaml:3: inputs[0].reader: unknown reader 'nope'" in r.output
    assert not (tmp_path / "out").exists()  # validated before any work


def test_overrides_are_validated_and_recorded(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write(tmp_path, "name: x\ninputs:\n  - {source: a, reader: jsonl, paths: corpus/*.jsonl}\n")
    spec = load_spec(p, overrides=["output.shard_rows=5000", "seed=7"])
    assert spec.output.shard_rows == 5000 and spec.seed == 7
    assert spec.overrides == ["output.shard_rows=5000", "seed=7"]
    with pytest.raises(SpecError) as e:
        load_spec(p, overrides=["output.shard_rows=many"])
    assert "output.shard_rows" in str(e.value)


def test_custom_stage_by_import_path(tmp_path, corpus, stages_module, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = spec_from_dict({
        "name": "x",
        "inputs": [{"source": "a", "reader": "jsonl", "paths": "corpus/*.jsonl"}],
        "stages": [{"stage": f"{stages_module}:MinChars", "config": {"min_chars": 5}}],
    })
    assert spec.stage_config(0).min_chars == 5
    with pytest.raises(SpecError) as e:
        spec_from_dict(
            {
                "name": "x",
                "inputs": [{"source": "a", "reader": "jsonl", "paths": "corpus/*.jsonl"}],
                "stages": [{"stage": "no_such_module_xyz:Stage"}],
            }
        )
    assert "cannot load custom stage" in str(e.value)


def test_env_expansion(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MYDATA", "corpus")
    spec = spec_from_dict(
        {
            "name": "x",
            "inputs": [{"source": "a", "reader": "jsonl", "paths": "${MYDATA}/*.jsonl"}],
            "output": {"path": "${UNSET_VAR_XYZ:-out/x}"},
        }
    )
    assert spec.inputs[0].paths == ["corpus/*.jsonl"] and spec.output.path == "out/x"


def test_unknown_yaml_tag_is_file_line_exit_2(tmp_path, monkeypatch):
    """issue 14 item 9: a tag on a scalar is a FILE:LINE problem, never constructed, exit 2."""
    monkeypatch.chdir(tmp_path)
    p = _write(
        tmp_path, "name: x\ninputs:\n  - {source: a, reader: jsonl, paths: !!python/name:os.system x}\n"
    )
    (problem,) = _problems(p)
    assert problem.startswith(
        f"{p}:3: inputs[0].paths: unknown YAML tag 'tag:yaml.org,2002:python/name:os.system'"
    )
    p = _write(tmp_path, "name: !custom x\ninputs: []\n")
    r = CliRunner().invoke(main, ["validate", str(p)])
    assert r.exit_code == 2 and f"{p}:1: name: unknown YAML tag '!custom'" in r.output
    assert "Traceback" not in r.output


def test_set_typos_point_at_the_override(tmp_path, corpus, monkeypatch):
    """issue 15 item 11: a problem an override made is reported against the --set, not a YAML line."""
    monkeypatch.chdir(tmp_path)
    p = _write(
        tmp_path,
        "name: x\ninputs:\n  - {source: a, reader: jsonl, paths: corpus/*.jsonl}\n"
        "stages:\n  - langid: {keep: [en]}\noutput:\n  shard_rows: 100\n",
    )
    with pytest.raises(SpecError) as e:
        load_spec(
            p, overrides=["output.shard_rowz=5", "stages.langid.min_scor=0.5", "output.shard_rows=many"]
        )
    problems = e.value.problems
    unknown = "--set output.shard_rowz=5: output.shard_rowz: unknown key"
    assert any(s.startswith(unknown) for s in problems), problems
    assert any(
        s.startswith("--set stages.langid.min_scor=0.5: stages[0].langid.min_scor: unknown key")
        for s in problems
    )
    assert any(s.startswith("--set output.shard_rows=many: output.shard_rows:") for s in problems), problems
    assert not any(s.startswith(str(p)) for s in problems), problems


def test_options_beside_the_stage_name_say_indent(tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = _write(
        tmp_path,
        "name: x\ninputs:\n  - {source: a, reader: jsonl, paths: corpus/*.jsonl}\n"
        "stages:\n  - langid:\n    keep: [en]\n    min_score: 0.5\n",
    )
    (problem,) = _problems(p)
    assert problem.startswith(f"{p}:5: stages[0]: indent options under 'langid': keep, min_score")
