"""format's exports (Megatron-LM, nanoGPT, MosaicML MDS), read back by the libraries that train from them.

Every export is checked against the input documents themselves (``encode(text) + [EOS]`` per id),
not against our own reader of the shards, and must be byte-identical for 1 and 2 workers.
megatron-core installs on CPU (dev extra); mosaicml-streaming pins numpy<2.2 and transformers<5, so
it is installed with ``--no-deps`` (see pyproject's dev extra comment) and its MDS reader is
imported without ``streaming/__init__`` (which imports torchvision); tests skip where either is absent.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
import sys
import types
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict
from curate.format.tokenizer import load_tokenizer
from curate.io.readers.base import make_id

WORDS = ["data", "model", "river", "stone", "def", "return", "chapter", "the", "of", "light", "Über"]


def write_inputs(root: Path, files: int = 3, docs: int = 40) -> dict[str, str]:
    rng = random.Random(1)
    root.mkdir(parents=True)
    texts = {}
    for f in range(files):
        batch = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 90))) for _ in range(docs)]
        pq.write_table(pa.table({"text": batch}), root / f"part-{f}.parquet")
        texts[f] = batch
    return texts


def spec(tokenizer: Path, export: list[str], **extra):
    fmt = {"kind": "tokenized", "tokenizer": str(tokenizer), "seq_len": 64, "export": export, **extra}
    return spec_from_dict({
        "name": "export",
        "seed": 3,
        "inputs": [{"source": "web", "reader": "parquet", "paths": "src/*.parquet"}],
        "stages": [{"format": fmt}],
        "output": {"shard_rows": 7, "min_shard_mb": 0},
    })


def expected_documents(out: Path, tokenizer: Path) -> tuple[list[str], list[list[int]]]:
    """The documents in shard order (ids from the shards' rows), tokens from the input texts."""
    tok = load_tokenizer(str(tokenizer))
    by_id = {}
    for f in sorted((out.parent / "src").glob("*.parquet")):
        for i, t in enumerate(pq.read_table(f)["text"].to_pylist()):
            by_id[make_id("web", f.name, i)] = t  # the reader's id: source, path under the glob, row
    ids: list[str] = []
    for p in sorted((out / "data").rglob("*.parquet")):
        for row in pq.read_table(p, columns=["doc_ids"])["doc_ids"].to_pylist():
            ids += [d for d in row if not ids or ids[-1] != d]
    return ids, [tok.encode([by_id[i]])[0] + [tok.eos_id] for i in ids]


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path / "src")
    return tmp_path


def read_megatron(prefix: Path) -> list[list[int]]:
    pytest.importorskip("megatron.core")
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(str(prefix), mmap=True)
    assert len(ds.document_indices) == len(ds) + 1
    return [ds[i].tolist() for i in range(len(ds))]


def read_mds(folder: Path) -> list[dict]:
    if "streaming" not in sys.modules:  # its __init__ imports torchvision; the MDS reader does not
        spec = importlib.util.find_spec("streaming")
        if spec is None:
            pytest.skip("mosaicml-streaming is not installed")
        pkg = types.ModuleType("streaming")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["streaming"] = pkg
    from streaming.base import StreamingDataset

    ds = StreamingDataset(local=str(folder), shuffle=False, batch_size=1)
    return [ds[i] for i in range(ds.num_samples)]


def test_exports_match_the_documents_and_the_worker_count(corpus, tiny_tokenizer):
    targets = ["megatron", "nanogpt", "mds"]
    r1 = run_pipeline(spec(tiny_tokenizer, targets), corpus / "o1", workers=1, quiet=True)
    r2 = run_pipeline(spec(tiny_tokenizer, targets), corpus / "o2", workers=2, quiet=True)
    assert tree_hashes(corpus / "o1" / "export") == tree_hashes(corpus / "o2" / "export")
    ids, docs = expected_documents(corpus / "o1", tiny_tokenizer)
    assert len(ids) == 120 and len(set(ids)) == 120
    entry = r1.manifest["exports"]
    assert entry["documents"] == 120 and entry["tokens"] == sum(map(len, docs))
    assert {f["path"] for f in entry["files"]} == {f["path"] for f in r2.manifest["exports"]["files"]}

    meta, samples = assert_targets_hold(corpus / "o1/export", ids, docs)
    assert meta["dtype"] == "uint16"
    assert samples[0]["tokens"].dtype == np.uint16


def assert_targets_hold(folder: Path, ids: list[str], docs: list[list[int]]) -> tuple[dict, list[dict]]:
    """Each target under ``folder``, read back by its own reader, holds ``docs`` in order (MDS
    with their ``ids`` too); returns nanoGPT's meta.json and the MDS samples for further checks."""
    assert read_megatron(folder / "megatron/tokens_document") == docs

    nano = folder / "nanogpt"
    meta = json.loads((nano / "meta.json").read_text())
    flat = np.memmap(nano / "train.bin", dtype=np.dtype(meta["dtype"]), mode="r")  # as nanoGPT's train.py
    offsets = np.load(nano / "train_offsets.npy")
    assert flat.tolist() == [t for d in docs for t in d]
    assert offsets.tolist() == np.cumsum([0] + [len(d) for d in docs])[:-1].tolist()

    samples = read_mds(folder / "mds")
    assert [s["id"] for s in samples] == ids
    assert [s["tokens"].tolist() for s in samples] == docs
    return meta, samples


def test_shuffle_is_seeded_and_moves_whole_documents(corpus, tiny_tokenizer):
    run_pipeline(spec(tiny_tokenizer, ["nanogpt", "mds"], export_shuffle=True), corpus / "a", quiet=True)
    run_pipeline(spec(tiny_tokenizer, ["nanogpt"], export_shuffle=True, export_seed=9), corpus / "c",
                 quiet=True)
    ids, docs = expected_documents(corpus / "a", tiny_tokenizer)
    samples = read_mds(corpus / "a/export/mds")
    order = [ids.index(s["id"]) for s in samples]
    assert order == np.random.default_rng(3).permutation(len(ids)).tolist()  # the pipeline seed
    assert [s["tokens"].tolist() for s in samples] == [docs[i] for i in order]
    flat_a = np.fromfile(corpus / "a/export/nanogpt/train.bin", dtype=np.uint16)
    assert flat_a.tolist() == [t for i in order for t in docs[i]]
    flat_c = np.fromfile(corpus / "c/export/nanogpt/train.bin", dtype=np.uint16)
    assert sorted(flat_c.tolist()) == sorted(flat_a.tolist()) and flat_c.tolist() != flat_a.tolist()


def test_rerun_keeps_the_export_and_validation(corpus, tiny_tokenizer):
    out = corpus / "o"
    run_pipeline(spec(tiny_tokenizer, ["megatron"]), out, quiet=True)
    before = (out / "export/megatron/tokens_document.bin").stat().st_mtime_ns
    run_pipeline(spec(tiny_tokenizer, ["megatron"]), out, quiet=True)
    assert (out / "export/megatron/tokens_document.bin").stat().st_mtime_ns == before
    from curate.format.stage import Format

    with pytest.raises(ValueError, match="boundaries"):
        Format.Config(kind="tokenized", tokenizer=str(tiny_tokenizer), export=["mds"], boundaries=False)
    with pytest.raises(ValueError, match="only apply to kind: tokenized"):
        Format.Config(kind="pretrain", export=["mds"])
