"""`curate train rm`: Bradley-Terry loss and gradient, a run that learns held-out pairs, and a
saved folder that AutoModelForSequenceClassification loads with the scores the run computed."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import write_dpo_shards

from curate.train.reward import RewardForward, bradley_terry_loss_sum, build_reward_model

FAST = dict(num_threads=1, device="cpu", log_interval=1, warmup_steps=2, preset="tiny")


def test_bradley_terry_loss_and_gradient_by_hand():
    r = torch.tensor([2.0, 0.5, 0.0, 1.5], requires_grad=True)  # chosen 2.0, 0.5; rejected 0.0, 1.5
    loss, stats = bradley_terry_loss_sum(r)
    m = torch.tensor([2.0, -1.0])
    assert loss.item() == pytest.approx(float(-F.logsigmoid(m).sum()))
    assert stats["reward_acc"].item() == 1.0 and stats["margin"].item() == pytest.approx(1.0)
    loss.backward()
    g = 1 - torch.sigmoid(m)  # d/dm -log sigma(m) = -(1 - sigma(m))
    assert torch.allclose(r.grad, torch.cat([-g, g]))


def test_head_gradient_on_a_tiny_model_matches_the_closed_form(tokenizer):
    """d loss / d score.weight = sum_i -(1 - sigma(m_i)) (h_chosen_i - h_rejected_i), h the hidden
    state at each row's last non-pad token: the head reads the right token and the loss is BT."""
    torch.manual_seed(0)
    model = build_reward_model("tiny", tokenizer, max_positions=64)
    pad = tokenizer.pad_token_id
    rows = [[5, 6, 7, 8], [9, 10], [5, 6, 11, 12], [13, 14, 15]]  # chosen 0, 1; rejected 2, 3
    T = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (T - len(r)) for r in rows])
    loss, _ = bradley_terry_loss_sum(RewardForward(model)(ids))
    loss.backward()
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state
        h = torch.stack([hidden[i, len(r) - 1] for i, r in enumerate(rows)])
        rewards = model.score(h)[:, 0]
        m = rewards[:2] - rewards[2:]
        want = (-(1 - torch.sigmoid(m))[:, None] * (h[:2] - h[2:])).sum(0)
    assert torch.allclose(model.score.weight.grad[0], want, atol=1e-5)


def test_pad_token_that_is_eos_is_refused(tokenizer):
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.pad_token = tok.eos_token
    with pytest.raises(ValueError, match="also its BOS/EOS token"):
        build_reward_model("tiny", tok)


@pytest.fixture(scope="module")
def rm_run(tmp_path_factory, tokenizer, tokenizer_dir):
    from curate.train.loop import rm

    d = tmp_path_factory.mktemp("rm")
    data = write_dpo_shards(d / "pref", tokenizer, n=200)
    seen = {}

    def keep_scores(info):  # the run's own rewards for a few held-out-like rows, at the last step
        if info.step == info.max_steps:
            with info.inference() as m:
                seen["ids"] = probe_ids(tokenizer)
                seen["scores"] = RewardForward(m)(seen["ids"])

    res = rm(
        data=str(data),
        out=str(d / "run"),
        tokenizer=str(tokenizer_dir),
        max_steps=30,
        batch_size=16,
        lr=3e-3,
        eval_interval=15,
        callbacks=[keep_scores],
        **FAST,
    )
    return {"res": res, "dir": d / "run", "seen": seen}


def probe_ids(tok) -> torch.Tensor:
    from conftest import chat_example, encode_chat

    convs = [
        chat_example("apple"),
        [{"role": "user", "content": "say river"}, {"role": "assistant", "content": "no, not stone"}],
    ]
    rows = [encode_chat(tok, c)[0] for c in convs]
    T = max(map(len, rows))
    return torch.tensor([r + [tok.pad_token_id] * (T - len(r)) for r in rows])


def test_rm_learns_held_out_pairs_and_logs_accuracy(rm_run):
    res = rm_run["res"]
    assert res.losses[0][1] == pytest.approx(0.6931, abs=0.05)  # a fresh head scores both sides alike
    assert [s for s, _ in res.eval_metrics] == [15, 30]
    assert res.eval_metrics[-1][1]["reward_acc"] >= 0.9
    assert res.eval_metrics[-1][1]["margin"] > 0
    evals = [json.loads(line) for line in (rm_run["dir"] / "log.jsonl").read_text().splitlines()]
    evals = [r for r in evals if r.get("kind") == "eval"]
    assert evals[-1]["reward_acc"] == res.eval_metrics[-1][1]["reward_acc"]
    assert json.loads((rm_run["dir"] / "lineage.json").read_text())["task"] == "rm"


def test_saved_folder_loads_as_a_sequence_classifier_with_the_same_scores(rm_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = rm_run["dir"]
    model = AutoModelForSequenceClassification.from_pretrained(str(run)).eval()
    tok = AutoTokenizer.from_pretrained(str(run))
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert model.config.num_labels == 1 and model.config.pad_token_id == tok.pad_token_id
    ids = rm_run["seen"]["ids"]
    with torch.no_grad():
        got = model(input_ids=ids, attention_mask=(ids != tok.pad_token_id).long()).logits[:, 0]
    assert torch.allclose(got, rm_run["seen"]["scores"], atol=1e-4), (got, rm_run["seen"]["scores"])
    assert got[0] > got[1]  # the learnt preference: repeat the word, do not refuse
    assert not (run / "generation_config.json").exists()


def test_rm_from_a_causal_lm_run_directory(tmp_path, tokenizer, tokenizer_dir):
    """--from a pretrained run: its decoder weights carry over, the score head is new."""
    from safetensors.torch import load_file

    from curate.train.loop import rm
    from curate.train.model import build_model

    torch.manual_seed(1)
    lm = build_model("tiny", tokenizer, max_positions=64)
    lm.save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    data = write_dpo_shards(tmp_path / "pref", tokenizer, n=40)
    rm(
        data=str(data),
        out=str(tmp_path / "rm"),
        init_from=str(tmp_path / "lm"),
        max_steps=1,
        batch_size=4,
        lr=1e-9,
        eval_interval=0,
        **FAST,
    )
    a, b = load_file(tmp_path / "lm" / "model.safetensors"), load_file(tmp_path / "rm" / "model.safetensors")
    w = "model.layers.0.self_attn.q_proj.weight"
    assert torch.allclose(a[w], b[w], atol=1e-6) and "score.weight" in b


def test_cli_rm(tmp_path, tokenizer, tokenizer_dir):
    from click.testing import CliRunner

    from curate.train.cli import train

    data = write_dpo_shards(tmp_path / "pref", tokenizer, n=40)
    args = [
        "rm",
        "--data",
        str(data),
        "--tokenizer",
        str(tokenizer_dir),
        "-o",
        str(tmp_path / "rm"),
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--progress",
        "log",
    ]
    r = CliRunner().invoke(train, args)
    assert r.exit_code == 0, r.output
    assert "pairwise acc" in r.output and "held-out pairwise accuracy" in r.output


def test_rm_with_lora_saves_a_merged_classifier(tmp_path, tokenizer, tokenizer_dir):
    """LoRA on a reward model: adapters on the decoder, the score head trained in full (peft's
    SEQ_CLS), merged into a plain classifier folder."""
    pytest.importorskip("peft")
    from transformers import AutoModelForSequenceClassification

    from curate.train.loop import rm

    data = write_dpo_shards(tmp_path / "pref", tokenizer, n=40)
    res = rm(
        data=str(data),
        out=str(tmp_path / "rm"),
        tokenizer=str(tokenizer_dir),
        max_steps=3,
        batch_size=8,
        lr=1e-2,
        eval_interval=0,
        lora="r=4,alpha=8",
        **FAST,
    )
    assert (tmp_path / "rm" / "adapter").is_dir()
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "rm")).eval()
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert not any("lora" in k for k in model.state_dict())
    assert res.losses[-1][1] < res.losses[0][1]
