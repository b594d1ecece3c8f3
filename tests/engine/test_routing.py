"""Routed output (data/<value>/) when the routing stage runs in an earlier phase than the writer."""

from __future__ import annotations

import json

import polars as pl

from curate.engine.runner import run_pipeline
from curate.engine.spec import spec_from_dict

DOCS = {
    "en": "The committee met on Tuesday to discuss the budget for the new public library and its opening "
          "hours.",
    "de": "Der Ausschuss traf sich am Dienstag, um den Haushalt für die neue öffentliche Bibliothek zu "
          "besprechen.",
    "fr": "Le comité s'est réuni mardi pour discuter du budget de la nouvelle bibliothèque publique de la "
          "ville.",
}


def test_langid_route_survives_a_global_stage(tmp_path):
    lines = [json.dumps({"text": f"{DOCS[lang]} Item {i}."}) for i in range(6) for lang in DOCS]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    spec = spec_from_dict({
        "name": "routed",
        "inputs": [{"source": "s", "reader": "jsonl", "paths": str(tmp_path / "a.jsonl")}],
        "stages": [{"langid": {"keep": ["en", "de", "fr"], "route": True}}, {"exact_dedup": {}}],
    })
    res = run_pipeline(spec, tmp_path / "out", quiet=True)
    folders = sorted(p.name for p in (tmp_path / "out" / "data").iterdir())
    assert folders == ["de", "en", "fr"]
    for lang in folders:
        df = pl.read_parquet(tmp_path / "out" / "data" / lang)
        assert df.height == 6 and set(df["lang"]) == {lang}
    assert {s["path"].split("/")[1] for s in res.manifest["shards"]} == set(folders)
