"""Our scorer against lm-evaluation-harness itself, on one tiny model: the same numbers to 1e-4.

Runs lm-eval 0.4.13 (``HFLM`` over the in-memory model, task configs built from dicts over local
JSONL, ``simple_evaluate`` with ``log_samples``) and ``curate.eval`` on the same items:
multiple choice (acc, acc_norm, per-choice log-likelihood), WinoGrande-style partial scoring,
LAMBADA (greedy match, log-likelihood, perplexity) and rolling log-likelihood (bits per byte) on
documents longer than the context. Skips where ``lm_eval`` is not importable. lm-eval's full
dependency set is heavy; the parts this test imports install with
``pip install --no-deps --target DIR lm-eval==0.4.13 sqlitedict pytablewriter word2number
more_itertools jsonlines dill sacrebleu portalocker evaluate rouge_score nltk absl-py tabulate colorama``
and ``PYTHONPATH=DIR``.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from conftest import WORDS, clean_text, tiny_model, train_on

lm_eval = pytest.importorskip("lm_eval")

from curate.eval import TextSet, score_bpb, score_tasks  # noqa: E402
from curate.eval.tasks import TASKS  # noqa: E402

SHARED_EVALS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "evals"
L = 48  # context length for both: short enough that rolling documents need several windows


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _synthetic_tasks(d: Path, n: int) -> None:
    rng = random.Random(0)
    mc, wg, lam = [], [], []
    for _ in range(n):
        a, b, c = rng.sample(WORDS, 3)
        choices = [f"the {b} is near", f"{c} {c}", f"a very long {a} that is not here"][: rng.randint(2, 3)]
        mc.append(
            {
                "query": f"Question: where is the {a}?\n",
                "choices": choices,
                "gold": rng.randrange(len(choices)),
            }
        )
        wg.append(
            {
                "context_options": [
                    f"The {a} is near the {b}, so the {b}",
                    f"The {a} is near the {b}, so the {a}",
                ],
                "continuation": f"is near the {c}.",
                "gold": rng.randrange(2),
            }
        )
        lam.append({"context": f"The {a} is near the {b}. The {b} is near the", "continuation": a})
    _write(d / "piqa.jsonl", mc)
    _write(d / "winogrande.jsonl", wg)
    _write(d / "lambada_openai.jsonl", lam)


def _lm_eval_configs(d: Path) -> list[dict]:
    def base(name: str) -> dict:
        return {"task": f"t_{name}", "dataset_path": "json", "test_split": "train",
                "dataset_kwargs": {"data_files": {"train": str(d / f"{name}.jsonl")}}}

    out = []
    for name in ("piqa", "arc_easy", "copa", "boolq"):
        if (d / f"{name}.jsonl").exists():
            out.append(base(name) | {"output_type": "multiple_choice",
                                     "doc_to_text": "{{query}}" + TASKS[name].suffix,
                                     "doc_to_choice": "choices", "doc_to_target": "gold",
                                     "metric_list": [{"metric": "acc"}, {"metric": "acc_norm"}]})
    out.append(base("winogrande") | {"output_type": "multiple_choice", "doc_to_text": "gold",
                                     "doc_to_choice": "context_options", "doc_to_target": "{{continuation}}",
                                     "metric_list": [{"metric": "acc"}]})
    out.append(base("lambada_openai") | {"output_type": "loglikelihood", "doc_to_text": "{{context}}",
                                         "doc_to_target": "{{' ' + continuation}}", "target_delimiter": "",
                                         "metric_list": [{"metric": "perplexity"}, {"metric": "acc"}]})
    out.append(
        base("docs")
        | {
            "output_type": "loglikelihood_rolling",
            "doc_to_text": "",
            "doc_to_target": "text",
            "metric_list": [{"metric": "bits_per_byte"}],
        }
    )
    return out


def test_scores_equal_lm_eval(tmp_path, tokenizer):
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    model = train_on(tiny_model(tokenizer, max_positions=L), tokenizer, clean_text(100, seed=7), steps=20)
    _synthetic_tasks(tmp_path, 120)
    if SHARED_EVALS.exists():  # real items too, where the shared data is present (first 40 of each)
        import gzip

        for name in ("arc_easy", "copa", "boolq"):
            with gzip.open(SHARED_EVALS / f"{name}.jsonl.gz", "rt") as fh:
                rows = [json.loads(x) for _, x in zip(range(40), fh, strict=False)]
            _write(tmp_path / f"{name}.jsonl", rows)
    docs = clean_text(30, seed=11) + ["naïve café — 東京 " * 5]
    _write(tmp_path / "docs.jsonl", [{"text": t} for t in docs])

    eos = tokenizer.eos_token_id
    # logits_cache=False: lm-eval's cache shares logits between requests whose context + continuation[:-1]
    # are equal, which two windows of the periodic last document are; it then scores the later window
    # 0.5 nats away from a direct forward pass of its own input (checked by hand against _model_call).
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=8, max_length=L, prefix_token_id=eos,
              logits_cache=False)
    res = simple_evaluate(model=lm, tasks=_lm_eval_configs(tmp_path), log_samples=True, bootstrap_iters=0)
    theirs, samples = res["results"], res["samples"]

    tasks = [n for n in TASKS if (tmp_path / f"{n}.jsonl").exists()]
    ours = score_tasks(model, tokenizer, tasks, tmp_path, batch_size=8, max_length=L, prefix_token_id=eos,
                       progress=False, per_item=True)
    n_items = 0
    for name in tasks:
        t = theirs[f"t_{name}"]
        for metric in ("acc", "acc_norm"):
            if f"{metric},none" in t:
                assert ours[name][metric] == pytest.approx(t[f"{metric},none"], abs=1e-4), (name, metric)
        for s, mine in zip(
            sorted(samples[f"t_{name}"], key=lambda s: s["doc_id"]), ours[name]["items"], strict=True
        ):
            their_lls = [r[0][0] for r in s["resps"]]
            assert mine["lls"] == pytest.approx(their_lls, abs=1e-4), (name, s["doc_id"])
            n_items += 1
        if name == "lambada_openai":
            assert ours[name]["ppl"] == pytest.approx(t["perplexity,none"], rel=1e-4)
    assert n_items >= 200

    for s in sorted(samples["t_docs"], key=lambda s: s["doc_id"]):
        mine = score_bpb(
            model,
            tokenizer,
            [TextSet("d", [docs[s["doc_id"]]])],
            max_length=L,
            prefix_token_id=eos,
            progress=False,
        )["d"]
        assert -mine["bits"] * math.log(2) == pytest.approx(s["resps"][0][0], abs=1e-4), s["doc_id"]
    bpb = score_bpb(
        model, tokenizer, [TextSet("docs", docs)], max_length=L, prefix_token_id=eos, progress=False
    )
    assert bpb["docs"]["tokens"] > 2 * len(docs) and any(len(tokenizer.encode(x)) > L for x in docs)
    assert bpb["docs"]["bpb"] == pytest.approx(theirs["t_docs"]["bits_per_byte,none"], abs=1e-4)
    assert math.isfinite(bpb["docs"]["bpb"])
