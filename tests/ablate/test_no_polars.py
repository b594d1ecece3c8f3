"""The ablation runner, the mix search and the eval scorer import without the curation stack (Polars): a GPU
machine with only the training stack runs `curate ablate` on shard folders."""

import subprocess
import sys


def test_ablate_and_eval_import_without_polars():
    code = (
        "import sys; sys.modules['polars'] = None\n"
        "import curate.ablate.cli, curate.ablate.runner, curate.ablate.report, curate.eval, "
        "curate.train.loop, curate.mixsearch.cli, curate.mixsearch.runner, curate.mixsearch.sources, "
        "curate.mixsearch.validate, curate.mixsearch.report, curate.mixsearch.mixblock, curate.mix.plan\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_overlap_is_skipped_with_a_line_without_polars(tmp_path):
    code = (
        "import sys; sys.modules['polars'] = None\n"
        "import pyarrow as pa, pyarrow.parquet as pq\n"
        "from curate.ablate.arms import Arm, measure_overlap\n"
        f"pq.write_table(pa.table({{'text': ['a b c']}}), '{tmp_path}/s.parquet')\n"
        f"a = Arm(name='x', data='{tmp_path}', kind='text')\n"
        "measure_overlap(a, {'held': ['a b c']}, 13)\n"
        "assert a.overlap is None\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "held-out overlap not measured here" in r.stdout
