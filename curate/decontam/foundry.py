"""The fields that make an item of LLM Foundry's ``scripts/eval/local_data`` files (zero-shot sets).

These are the layouts of ``../shared/data/evals``: what leaked text of an item looks like is its
question with its gold answer (lm-eval's ``doc_to_decontamination_query`` is the question text;
the answer makes short questions long enough to match), or the passage for LAMBADA and BoolQ.
"""

from __future__ import annotations

from pathlib import Path

from curate.decontam.index import Benchmark

FIELDS: dict[str, list[str]] = {
    "lambada_openai": ["context", "continuation"],
    "piqa": ["query", "choices[gold]"],
    "arc_easy": ["query", "choices[gold]"],
    "copa": ["query", "choices[gold]"],
    "boolq": ["query"],
    "winogrande": ["context_options[gold]", "continuation"],
}


def foundry_benchmarks(folder: str | Path) -> list[Benchmark]:
    """A :class:`Benchmark` for each known set present in ``folder`` (``<name>.jsonl.gz``/``.jsonl``)."""
    out = []
    for name, fields in FIELDS.items():
        for suffix in (".jsonl.gz", ".jsonl"):
            p = Path(folder) / f"{name}{suffix}"
            if p.is_file():
                out.append(Benchmark(name=name, path=str(p), fields=fields))
                break
    return out
