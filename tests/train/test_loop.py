"""End-to-end on CPU: pretrain tiny -> SFT -> generate; the saved directory is a plain HF model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import WORDS, chat_example, encode_chat, write_pretrain_shards, write_sft_shards

from curate.train.loop import pretrain, sft

FAST = dict(num_threads=1, device="cpu", log_interval=1, warmup_steps=5)


@pytest.fixture(scope="module")
def chain(tmp_path_factory, tokenizer, tokenizer_dir):
    d = tmp_path_factory.mktemp("chain")
    data = write_pretrain_shards(d / "pt", tokenizer, seq_len=64)
    pt = pretrain(data=str(data), out=str(d / "run"), tokenizer=str(tokenizer_dir), preset="tiny",
                  max_steps=40, batch_size=8, lr=3e-3, eval_interval=20, **FAST)
    sdata = write_sft_shards(d / "sft", tokenizer, n=800, pack=4)
    st = sft(data=str(sdata), out=str(d / "sft_run"), init_from=str(d / "run"), max_steps=110, batch_size=16,
             lr=3e-3, eval_interval=0, **FAST)
    return {"dir": d, "pretrain": pt, "sft": st, "pt_data": data, "sft_data": sdata}


def test_pretrain_loss_falls(chain):
    losses = [v for _, v in chain["pretrain"].losses]
    assert len(losses) == 40
    assert losses[-1] < 0.5 * losses[0]
    ev = chain["pretrain"].eval_losses
    assert len(ev) == 2 and ev[-1][1] < ev[0][1]


def test_sft_follows_template_and_stops_at_end_of_turn(chain):
    from curate.train.generate import chat_reply, load_run

    model, tok = load_run(chain["dir"] / "sft_run", device="cpu")
    ok = 0
    for w in WORDS[:8]:
        reply, stopped = chat_reply(model, tok, [{"role": "user", "content": f"say {w}"}], max_new_tokens=12)
        ok += reply.strip() == f"{w} {w}" and stopped
    assert ok >= 7, "greedy replies should repeat the word twice and end at <|im_end|>"


def test_run_dir_is_a_standard_hf_model_in_a_clean_process(chain, tokenizer):
    run = chain["dir"] / "sft_run"
    messages = chat_example("apple")
    want_ids, _ = encode_chat(tokenizer, messages)
    code = textwrap.dedent(f"""
        import json, sys, torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        m = AutoModelForCausalLM.from_pretrained({str(run)!r})
        t = AutoTokenizer.from_pretrained({str(run)!r})
        msgs = {messages!r}
        ids = t.apply_chat_template(msgs, tokenize=True, return_dict=True)["input_ids"]
        text = t.apply_chat_template(msgs, tokenize=False)
        print(json.dumps({{"ids": list(ids), "text": text, "cls": type(m).__name__,
                          "eos": m.generation_config.eos_token_id,
                          "curate": [k for k in sys.modules if k.startswith("curate")]}}))
    """)
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=str(run)
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cls"] == "LlamaForCausalLM" and out["curate"] == []
    assert out["ids"] == want_ids  # what training saw
    assert out["text"].startswith("<|im_start|>user\nsay apple<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in out["eos"]


def test_lineage_names_manifest_and_shards(chain):
    lin = json.loads((chain["dir"] / "sft_run" / "lineage.json").read_text())
    man = json.loads((chain["dir"] / "sft" / "manifest.json").read_text())
    assert lin["task"] == "sft" and len(lin["train_data"]["manifest"]["sha256"]) == 64
    assert lin["train_data"]["manifest"]["config_sha256"] == man["config_sha256"]
    assert [s["sha256"] for s in lin["train_data"]["shards"]] == [s["sha256"] for s in man["shards"]]
    assert lin["parent"]["task"] == "pretrain" and len(lin["parent"]["train_data"]["shards"]) == 2
    log = [json.loads(x) for x in (chain["dir"] / "sft_run" / "log.jsonl").read_text().splitlines()]
    log = [x for x in log if x["kind"] == "train"]
    assert log[-1]["step"] == 110 and log[-1]["tokens_per_s"] > 0


def test_loss_is_normalised_over_all_tokens_of_a_step(tmp_path, tokenizer, tokenizer_dir):
    """One batch of 8 == two micro-batches of 4 with different token counts (not a mean of means)."""
    data = write_sft_shards(tmp_path / "s", tokenizer, n=64, pack=1)
    common = dict(
        data=str(data),
        tokenizer=str(tokenizer_dir),
        preset="tiny",
        max_steps=2,
        lr=1e-2,
        warmup_steps=0,
        eval_rows=0,
        eval_interval=0,
        **{k: v for k, v in FAST.items() if k != "warmup_steps"},
    )
    sft(out=str(tmp_path / "a"), batch_size=8, grad_accum=1, **common)
    sft(out=str(tmp_path / "b"), batch_size=4, grad_accum=2, **common)
    la = [json.loads(x) for x in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    for x, y in zip(la, lb, strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-6)
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-5)
    # the two micro-batches hold different numbers of trained tokens, so a mean of per-batch
    # means would give a different loss: check that the data makes this test meaningful
    from curate.train.data import RowConverter, ShardStream, batches, scan_units

    conv = RowConverter("sft", seq_len=64)
    stream = ShardStream(scan_units(sorted(data.glob("*.parquet"))), "sft", conv, seed=0)
    it = batches(stream, 4, 0)
    (b1, _), (b2, _) = next(it), next(it)
    assert int(b1["n"]) != int(b2["n"])


def test_resume_after_sigkill_gives_the_same_loss_curve(tmp_path, tokenizer, tokenizer_dir):
    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=120, row_group_size=8)
    kw = dict(data=str(data), tokenizer=str(tokenizer_dir), preset="tiny", max_steps=14, batch_size=4,
              grad_accum=2, lr=3e-3, eval_interval=7, ckpt_interval=4, shuffle_buffer=16, **FAST)
    ref = pretrain(out=str(tmp_path / "ref"), **kw)
    killed = tmp_path / "killed"
    # the kill is a callback: SIGKILL in step 9, after checkpoint 8 and before step 9's records
    code = ("import os, signal\nfrom curate.train.loop import pretrain\n"
            "def kill(info):\n    if info.step == 9: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"pretrain(out={str(killed)!r}, callbacks=[kill], **{kw!r})")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stderr[-2000:]
    assert (killed / "checkpoints" / "latest").read_text().strip() == "step_0000008"
    res = pretrain(out=str(killed), **kw)
    assert res.losses[0][0] == 9  # resumed after step 8, not from scratch

    def curve(run):
        return [
            (x["kind"], x["step"], x["loss"])
            for x in map(json.loads, (run / "log.jsonl").read_text().splitlines())
        ]

    assert curve(killed) == curve(tmp_path / "ref")  # exact, including eval and the epoch rollover
    assert ref.steps == res.steps == 14


def test_lora_sft_saves_a_merged_plain_model(chain, tmp_path):
    from safetensors.torch import load_file

    from curate.train.loop import sft as run_sft

    r = run_sft(data=str(chain["sft_data"]), out=str(tmp_path / "lora"), init_from=str(chain["dir"] / "run"),
                max_steps=4, batch_size=8, lr=1e-2, lora="r=4,alpha=8", eval_interval=0, **FAST)
    assert r.steps == 4
    assert (tmp_path / "lora" / "adapter" / "adapter_config.json").is_file()
    merged = load_file(str(tmp_path / "lora" / "model.safetensors"))
    base = load_file(str(chain["dir"] / "run" / "model.safetensors"))
    assert not any("lora" in k for k in merged) and set(merged) == set(base)
    changed = [k for k in base if not torch.equal(base[k], merged[k])]
    assert changed and all(
        any(t in k for t in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
        for k in changed
    )


@pytest.mark.parametrize("lora", [None, "r=8,alpha=16"])
def test_dpo_prefers_chosen(chain, tmp_path, tokenizer, lora, capfd):
    from conftest import write_dpo_shards

    from curate.train.loop import dpo

    data = write_dpo_shards(tmp_path / "dpo", tokenizer, n=64)
    r = dpo(data=str(data), out=str(tmp_path / "dpo_run"), init_from=str(chain["dir"] / "run"), max_steps=6,
            batch_size=8, lr=1e-3 if lora is None else 1e-2, dpo_beta=0.5, eval_interval=0, lora=lora,
            **{**FAST, "warmup_steps": 2})
    out = capfd.readouterr().out
    # a line before its first (slow) steps, not silence until the first report
    assert "dpo: every step scores" in out, out
    assert out.index("dpo: every step") < out.index("step      1 loss"), out
    first, last = r.losses[0][1], r.losses[-1][1]
    assert first == pytest.approx(0.6931, abs=1e-3)  # policy == reference at step 1: -log sigmoid(0)
    assert last < 0.5 * first


def test_cli_pretrain_with_yaml_config(tmp_path, tokenizer, tokenizer_dir):
    from click.testing import CliRunner

    from curate.train.cli import train

    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=60)
    (tmp_path / "c.yaml").write_text(f"preset: tiny\nbatch_size: 4\nmax_steps: 3\nlr: 0.001\nnum_threads: 1\n"
                                     f"tokenizer: {tokenizer_dir}\n")
    res = CliRunner().invoke(train, ["pretrain", "--config", str(tmp_path / "c.yaml"), "--data", str(data),
                                     "-o", str(tmp_path / "run"), "--steps", "2", "--device", "cpu"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    import yaml

    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["max_steps"] == 2 and saved["batch_size"] == 4 and saved["task"] == "pretrain"
    bad = CliRunner().invoke(train, ["sft", "--data", str(data), "-o", str(tmp_path / "r2"),
                                     "--tokenizer", str(tokenizer_dir), "--device", "cpu"])
    assert bad.exit_code != 0 and "sft needs sft shards" in bad.output


def test_generate_and_chat_commands(chain):
    from click.testing import CliRunner

    from curate.train.cli import chat, generate

    run = str(chain["dir"] / "sft_run")
    g = CliRunner().invoke(
        generate, [run, "--prompt", "The apple", "--max-new-tokens", "5", "--device", "cpu"]
    )
    assert g.exit_code == 0, g.output
    assert g.stdout.startswith("The apple")
    c = CliRunner().invoke(chat, [run, "--message", "say stone", "--device", "cpu"])
    assert c.exit_code == 0, c.output
    assert c.stdout.strip() == "stone stone"
    c2 = CliRunner().invoke(chat, [run, "--device", "cpu"], input="say river\n\n")
    assert c2.exit_code == 0 and "river river" in c2.stdout


def test_pretrain_from_text_shards(tmp_path, tokenizer_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from conftest import synthetic_text, write_manifest

    (tmp_path / "out" / "data").mkdir(parents=True)
    f = tmp_path / "out" / "data" / "part-0.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(200)], "text": synthetic_text(200, seed=3)}), f)
    write_manifest(tmp_path / "out", [f])
    r = pretrain(data=str(tmp_path / "out" / "data"), out=str(tmp_path / "run"), tokenizer=str(tokenizer_dir),
                 preset="tiny", seq_len=32, max_steps=3, batch_size=4, eval_rows=20, **FAST)
    assert r.steps == 3 and r.eval_losses
    lin = json.loads((tmp_path / "run" / "lineage.json").read_text())
    assert lin["train_data"]["shards"][0]["from"] == "manifest"


def test_sft_saves_the_template_the_rows_were_rendered_with(tmp_path, tokenizer, tokenizer_dir):
    data = write_sft_shards(tmp_path / "sft", tokenizer, n=32, pack=2)
    tpl = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' "
           "}}{% endfor %}")
    (tmp_path / "sft" / "chat_template.jinja").write_text(tpl)
    sft(data=str(data), out=str(tmp_path / "run"), tokenizer=str(tokenizer_dir), preset="tiny", max_steps=1,
        batch_size=4, eval_rows=0, **FAST)
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(tmp_path / "run")).chat_template == tpl


def test_callbacks_see_every_step_and_log_into_its_record(tmp_path, tokenizer, tokenizer_dir):
    from curate.train import StepInfo, TrainResult

    data = write_pretrain_shards(tmp_path / "pt", tokenizer, seq_len=32, n_docs=60)
    seen: list[StepInfo] = []

    def note(info: StepInfo) -> None:
        seen.append(info)
        if info.step % 2 == 0:
            with info.inference() as m:
                assert not m.training and not torch.is_grad_enabled()
            info.log({"even": info.step})

    r = pretrain(data=str(data), out=str(tmp_path / "run"), tokenizer=str(tokenizer_dir), preset="tiny",
                 max_steps=5, batch_size=4, eval_interval=2, ckpt_interval=4, callbacks=[note],
                 **{**FAST, "log_interval": 2})
    assert isinstance(r, TrainResult) and [i.step for i in seen] == [1, 2, 3, 4, 5]
    assert all(
        i.max_steps == 5 and i.rank == 0 and i.world == 1 and i.run_dir == tmp_path / "run" for i in seen
    )
    assert [i.loss is not None for i in seen] == [False, True, False, True, True]  # log_interval 2 + last
    assert [i.eval_loss is not None for i in seen] == [False, True, False, True, True]
    assert [i.checkpoint.name if i.checkpoint else None for i in seen] == [
        None, None, None, "step_0000004", "step_0000005"]
    assert seen[-1].tokens == 5 * 4 * 32 and seen[0].model.training and seen[0].tokenizer is not None
    recs = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train_recs = [x for x in recs if x["kind"] == "train"]
    assert [(x["step"], x.get("even")) for x in train_recs] == [(2, 2), (4, 4), (5, None)]
    assert not [x for x in recs if x["kind"] == "callback"]  # every log() fell on a logged step


def test_data_takes_globs_and_several_folders(tmp_path, tokenizer, tokenizer_dir):
    from click.testing import CliRunner

    from curate.train.cli import train
    from curate.train.data import list_shards

    a = write_pretrain_shards(tmp_path / "a", tokenizer, seq_len=32, n_docs=60)
    b = write_pretrain_shards(tmp_path / "b", tokenizer, seq_len=32, n_docs=60, seed=1)
    both = list_shards([str(a), str(b)])
    assert len(both) == 4 and list_shards(str(tmp_path / "*" / "data")) == both
    assert list_shards([str(a), str(a / "part-00000.parquet")]) == list_shards(str(a))  # each file once
    base = [
        "pretrain",
        "--tokenizer",
        str(tokenizer_dir),
        "--preset", "tiny", "--steps", "1", "--batch-size", "4", "--device", "cpu",
    ]
    for name, data in (
        ("two", ["--data", str(a), "--data", str(b)]),
        ("glob", ["--data", str(tmp_path / "*" / "data")]),
    ):
        r = CliRunner().invoke(train, [*base, *data, "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output + repr(r.exception)
        lin = json.loads((tmp_path / name / "lineage.json").read_text())
        assert [len(s["shards"]) for s in lin["train_data"]["sources"]] == [2, 2]
        assert all(s["manifest"] for s in lin["train_data"]["sources"])
    r = CliRunner().invoke(train, [*base, "--data", str(tmp_path / "nope*"), "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "matches nothing" in r.output
