#!/usr/bin/env bash
# Issue 19's Measure on a GPU machine: the prepared folder (bench/mixsearch/prepare.py) carries the
# code, the sources, the target and the YAMLs; nothing else is needed beyond torch + transformers.
#   run.sh search   [YAML]   the proxies, the fit, the search (no validation)
#   run.sh validate [YAML]   the chosen / natural / uniform mixes over seeds, from the search's result
#   run.sh all      [YAML]   both in one call
# YAML defaults to search.yaml (search-smoke.yaml: the same at a tenth of the budget, 8 proxies).
# Every mode ends by packing $OUT/result.tar.gz (search.json, search.html, mix.yaml, candidates.csv,
# the tokenizer, each finished proxy's result and key, the validation's ablation.json/html) and
# starts by unpacking FOLDER/result/result.tar.gz when it is there: a call cut by its time limit
# (the command stops at LIMIT seconds, default 540, and still packs) resumes in the next call,
# finished proxies and validation runs skipped (run keys name data and tokenizer by content, so
# the folder may sit at another path there).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-search}
yaml=${2:-search.yaml}
limit=${LIMIT:-540}
cd "$here"
export PYTHONPATH=$here/code PYTHONUNBUFFERED=1
if ! python3 -c "import pydantic" 2>/dev/null; then   # an image without pydantic: the carried wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site wheels/*.whl
  export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
out=$(python3 -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['out'])" "$yaml") || exit 2
dest=${OUT:-$here/back}
mkdir -p "$dest" "$out"
[ -f result/result.tar.gz ] && tar -xzf result/result.tar.gz -C "$out" && echo "resumed from result/result.tar.gz"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
case $mode in
  search) flags=--no-validate ;;
  validate) flags=--validate-only ;;
  all) flags= ;;
  *) echo "usage: run.sh search|validate|all [YAML]" >&2; exit 2 ;;
esac
start=$(date +%s)
timeout "$limit" python3 -m curate.cli mix search "$yaml" $flags 2>&1 | tee "$dest/$mode.log"
rc=${PIPESTATUS[0]}
echo "exit $rc after $(( $(date +%s) - start )) s"
(cd "$out" && tar -czf "$dest/result.tar.gz" $(ls -d search.json search.html mix.yaml candidates.csv tokenizer \
   runs/*/seed*/ablate_result.json runs/*/seed*/ablate_key.json runs/*/seed*/curve.jsonl \
   candidates/*/mix_plan.json validate/ablation.json validate/ablation.html validate/mixes/*/mix_plan.json \
   validate/runs/*/seed*/ablate_result.json validate/runs/*/seed*/ablate_key.json \
   validate/runs/*/seed*/curve.jsonl 2>/dev/null))
echo "packed $dest/result.tar.gz ($(du -h "$dest/result.tar.gz" | cut -f1))"
exit "$rc"
