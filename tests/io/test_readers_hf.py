"""The Hugging Face datasets reader: save_to_disk folders (Dataset and DatasetDict) and data files."""

from __future__ import annotations

from pathlib import Path

import orjson
from reader_testing import read_all

from curate.io.readers.base import make_id, readers


def test_saved_dataset_and_dict(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict(
        {"text": [f"doc {i}" for i in range(25)] + [None], "lab": list(range(26))}
    )
    ds.save_to_disk(str(tmp_path / "one"))
    t, bad, tables = read_all("hf", tmp_path / "one", relpath="one", batch_rows=10, source="hf")
    assert t.column("text").to_pylist() == [f"doc {i}" for i in range(25)]
    assert [(m.what, m.position) for m in bad] == [("missing_text", 25)]
    assert t.column("id").to_pylist()[3] == make_id("hf", "one", 3)
    assert all(x.num_rows <= 10 for x in tables)
    dd = datasets.DatasetDict({"train": ds.select(range(3)), "test": ds.select(range(3, 5))})
    dd.save_to_disk(str(tmp_path / "dd"))
    t, bad, _ = read_all("hf", tmp_path / "dd", split="test")
    assert t.column("text").to_pylist() == ["doc 3", "doc 4"] and bad == []
    t, bad, _ = read_all("hf", tmp_path / "dd")  # default: train
    assert t.num_rows == 3
    t, bad, _ = read_all("hf", tmp_path / "dd", split="validation")
    assert t.num_rows == 0 and [m.what for m in bad] == ["hf"]
    cls = readers()["hf"]
    listed = cls(cls.Config(), "hf").list_files(str(tmp_path), Path("."))
    assert listed == [str(tmp_path / "dd"), str(tmp_path / "one")]


def test_data_files_with_builder(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"".join(orjson.dumps({"content": f"c{i}", "k": i}) + b"\n" for i in range(7)))
    t, bad, _ = read_all("hf", p, builder="json", text_key="content", batch_rows=3)
    assert bad == [] and t.column("text").to_pylist() == [f"c{i}" for i in range(7)]
    assert t.column("k").to_pylist() == list(range(7))
    t, bad, _ = read_all("hf", p, builder="json")
    assert t.num_rows == 0 and [m.what for m in bad] == ["missing_text"]


def test_not_a_dataset(tmp_path):
    (tmp_path / "x").mkdir()
    t, bad, _ = read_all("hf", tmp_path / "x")
    assert t.num_rows == 0 and [m.what for m in bad] == ["hf"]


def test_folder_named_directly_gets_its_name_in_ids(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"text": ["a"]}).save_to_disk(str(tmp_path / "mine"))
    t, _, _ = read_all("hf", tmp_path / "mine", relpath=".", source="hf")
    assert t.column("id").to_pylist() == [make_id("hf", "mine", 0)]
