#!/usr/bin/env bash
# One time-limited GPU call of a packed ablation (bench/ablation/pack.sh), on a machine without the
# curation stack: install the carried wheels (pydantic, orjson; bench/README.md), run
# `curate ablate` with the given arguments under a time limit, then bring back what each finished
# run wrote (results, curves, logs: no weights) as $OUT/runs.tgz, to merge into the local folder.
#   bench/ablation/gpu_run.sh PACK LIMIT_S YAML [curate ablate options...]
set -uo pipefail
pack=$1; limit=$2; yaml=$3; shift 3
out=${OUT:-/tmp/out}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD/$pack/code:/tmp/site PYTHONUNBUFFERED=1
cd "$pack" || exit 1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
timeout "$limit" python3 -m curate.cli ablate "$yaml" "$@" 2>&1 | grep -v "it/s]" | tee -a "$out/log.txt"
tar czf "$out/runs-$(basename "$yaml" .yaml).tgz" --exclude='*.safetensors' --exclude='*.pt' \
  --exclude=checkpoints $(ls -d out-*/runs out-*/ablation.json 2>/dev/null)
ls -la "$out"
