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
