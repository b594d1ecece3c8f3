"""Train a byte-level BPE tokenizer on the text of Parquet shards.

The text is streamed with pyarrow (``iter_batches``) into the ``tokenizers`` trainer, so memory is
bounded by the trainer's word counts, not by the corpus. The sample is spread over the shards: each
shard gives at most ``sample_bytes / n_shards`` bytes of text, so a tokenizer trained on a mixture
sees every source, not just the first files in sort order.

The result is a ``transformers`` tokenizer directory (``PreTrainedTokenizerFast``) that
``AutoTokenizer.from_pretrained`` loads offline. Special tokens (documented names, kept simple):

* ``<s>`` bos, ``</s>`` eos (the separator between packed documents), ``<pad>`` pad;
* ``<|im_start|>``, ``<|im_end|>``: the ChatML markers. The default chat template is ChatML and
  each marker must be a single token so that assistant-only loss masks line up with turns.
* ``extra_special_tokens`` (``curate tokenizer train --template llama3`` passes the template's
  markers, e.g. ``<|start_header_id|>``, ``<|end_header_id|>``, ``<|eot_id|>``): single ids after
  the five above, and ``chat_template`` replaces ChatML as the template saved with the tokenizer.

This module imports only the standard library, pyarrow, tokenizers and transformers: a training
box must be able to use it without the curation stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from .storage import is_uri, open_parquet

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [BOS, EOS, PAD, IM_START, IM_END]  # ids 0..4, in this order

# ChatML (the SFT default template): every turn is <|im_start|>role\ncontent<|im_end|>\n.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

DEFAULT_SAMPLE_BYTES = 256 * 1024 * 1024


def iter_sample_texts(
    shard_paths: Iterable[str | Path],
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    text_column: str = "text",
    batch_rows: int = 1024,
) -> Iterator[list[str]]:
    """Yield batches of texts: at most ``sample_bytes / n_shards`` UTF-8 bytes from each shard."""
    paths = [p if is_uri(p) else Path(p) for p in shard_paths]
    if not paths:
        raise ValueError("no shards given to train the tokenizer on")
    quota = max(1, sample_bytes // len(paths))
    for path in paths:
        taken = 0
        pf = open_parquet(path)
        if text_column not in pf.schema_arrow.names:
            raise ValueError(f"{path}: no {text_column!r} column (columns: {pf.schema_arrow.names})")
        for batch in pf.iter_batches(batch_size=batch_rows, columns=[text_column]):
            texts = [t for t in batch.column(0).to_pylist() if t]
            out = []
            for t in texts:
                if taken >= quota:
                    break
                out.append(t)
                taken += len(t.encode("utf-8"))
            if out:
                yield out
            if taken >= quota:
                break


def build_bpe_trainer(
    vocab_size: int, min_frequency: int = 2, extra_special_tokens: Iterable[str] = ()
) -> tuple[Tokenizer, trainers.BpeTrainer]:
    """An untrained byte-level BPE tokenizer (GPT-2 style pre-tokenizer) and its trainer."""
    specials = special_tokens(extra_special_tokens)
    if vocab_size < 256 + len(specials):
        raise ValueError(f"vocab_size must be at least {256 + len(specials)} (256 bytes + specials)")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte: no <unk> ever needed
        show_progress=False,
    )
    return tok, trainer


def special_tokens(extra: Iterable[str] = ()) -> list[str]:
    """The five built-in special tokens, then ``extra`` ones not among them (order kept, ids follow)."""
    out = list(SPECIAL_TOKENS)
    for t in extra:
        if t and t not in out:
            out.append(t)
    return out


def train_tokenizer(
    shard_paths: Iterable[str | Path],
    out_dir: str | Path,
    vocab_size: int,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    text_column: str = "text",
    min_frequency: int = 2,
    extra_special_tokens: Iterable[str] = (),
    chat_template: str | None = None,
) -> Path:
    """Train a byte-level BPE on a sample of ``shard_paths`` and save it as an HF tokenizer dir.

    Returns ``out_dir``. The directory holds ``tokenizer.json`` (loadable by
    ``tokenizers.Tokenizer.from_file``) and the ``transformers`` config files with bos/eos/pad and
    the chat template (``chat_template``, ChatML by default); ``extra_special_tokens`` become single
    ids (a chat template's markers).
    """
    from transformers import PreTrainedTokenizerFast  # heavy import, only when saving

    extra = [t for t in special_tokens(extra_special_tokens) if t not in SPECIAL_TOKENS]
    tok, trainer = build_bpe_trainer(vocab_size, min_frequency, extra)

    def texts() -> Iterator[str]:
        for batch in iter_sample_texts(shard_paths, sample_bytes, text_column):
            yield from batch

    tok.train_from_iterator(texts(), trainer=trainer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[IM_START, IM_END, *extra],
    )
    fast.chat_template = chat_template if chat_template is not None else CHATML_TEMPLATE
    fast.save_pretrained(str(out))
    return out
