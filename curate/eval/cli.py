"""`curate eval RUN`: held-out bits per byte and zero-shot tasks for a run directory."""

from __future__ import annotations

import sys

import click


def _prefix(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


@click.command("eval")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--text",
    "texts",
    multiple=True,
    metavar="NAME=SPEC",
    help="A text set for bits per byte (repeatable). SPEC: "
    "PATH_OR_GLOB[|PATH_OR_GLOB...][#COLUMN][?KEY=VALUE&...&strip_markup]; .txt[.gz] = one document per "
    "file, .jsonl[.gz]/.parquet = one per row (column default 'text', rows kept where every KEY equals "
    "VALUE).",
)
@click.option("--tasks-dir", type=click.Path(exists=True, file_okay=False),
              help="Folder of task files NAME.jsonl[.gz] (e.g. ../shared/data/evals).")
@click.option(
    "--tasks",
    default=None,
    help="Comma-separated tasks (default: every known task with a file in --tasks-dir): "
    "piqa, arc_easy, copa, boolq, winogrande, lambada_openai.",
)
@click.option(
    "--max-bytes",
    type=int,
    default=None,
    help="Bound each text set to this many UTF-8 bytes (deterministic, spread over all documents).",
)
@click.option("--limit", type=int, default=None, help="Score only the first N items of each task.")
@click.option(
    "--device", default="auto", show_default=True, help="cpu, cuda, cuda:1, ... (auto: cuda if available)."
)
@click.option("--batch-size", type=int, default=8, show_default=True, help="Rows per forward pass.")
@click.option(
    "--max-length", type=int, default=None, help="Window length in tokens (default: the model's context)."
)
@click.option(
    "--context-len",
    type=int,
    default=1,
    show_default=True,
    help="Rolling-window overlap as lm-eval's context_len: 1 = disjoint windows (lm-eval's "
         "loglikelihood_rolling).",
)
@click.option(
    "--prefix-token",
    default="eos",
    show_default=True,
    help="What conditions a document's first token: eos (as curate packs documents), bos, auto (lm-eval: "
         "bos, else eos) or an id.",
)
@click.option(
    "-o",
    "--out",
    "out",
    default="eval.json",
    show_default=True,
    help="Where to write the results (plain JSON).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def eval_cmd(
    run,
    texts,
    tasks_dir,
    tasks,
    max_bytes,
    limit,
    device,
    batch_size,
    max_length,
    context_len,
    prefix_token,
    out,
    quiet,
):
    """Held-out bits per byte and zero-shot task accuracy of a model.

    \b
    RUN is a run directory of `curate train` or any local HF causal-LM folder.
    Bits per byte = summed token negative log-likelihood (bits) / UTF-8 bytes of the scored text,
    each document scored in rolling windows of the model's context as lm-evaluation-harness does.
    Tasks are scored by log-likelihood (acc, acc_norm as lm-eval defines them; LAMBADA: greedy
    match of the whole continuation and its perplexity). Example:
      curate eval runs/web --text gold='gold.jsonl.gz#gold_text?split=heldout&lang=en&strip_markup' \\
        --text books='books/Joy*.txt.gz|books/[K-Z]*.txt.gz' --tasks-dir ../shared/data/evals --max-bytes 2000000
    """  # noqa: E501
    from .run import evaluate, format_table, load_run, write_json
    from .tasks import TaskFormatError
    from .textsets import TextSpecError, load_text_sets

    if not texts and not tasks_dir:
        raise click.UsageError("give at least one --text NAME=SPEC or --tasks-dir")
    try:
        sets = load_text_sets(list(texts), max_bytes=max_bytes)
        model, tok = load_run(run, device)
        result = evaluate(model, tok, text_sets=sets, tasks_dir=tasks_dir,
                          tasks=[t.strip() for t in tasks.split(",") if t.strip()] if tasks else None,
                          batch_size=batch_size, limit=limit, max_length=max_length, context_len=context_len,
                          prefix_token_id=_prefix(prefix_token), progress=not quiet)
    except (TextSpecError, TaskFormatError, FileNotFoundError, KeyError, ValueError) as e:
        click.echo(f"error: {e.args[0] if isinstance(e, KeyError) else e}", err=True)
        sys.exit(2)
    result = {"run": str(run), **result}
    if max_bytes is not None:
        result["settings"]["max_bytes"] = max_bytes
    write_json(result, out)
    click.echo(format_table(result))
    click.echo(f"wrote {out}", err=True)
