#!/usr/bin/env bash
# Issue 19's Measure on a GPU machine: the prepared folder (bench/mixsearch/prepare.py) carries the
# code, the sources, the target and the YAMLs; nothing else is needed beyond torch + transformers.
#   run.sh search   [YAML]   the proxies, the fit, the search (no validation)   -> $OUT/result.tar.gz
#   run.sh validate [YAML]   the chosen / natural / uniform mixes over seeds, from the search's
#                            result (FOLDER/result/result.tar.gz: the search call's, unpacked here)
#   run.sh all      [YAML]   both in one call
# YAML defaults to search.yaml (search-smoke.yaml: the same at a tenth of the budget, 8 proxies).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-search}
yaml=${2:-search.yaml}
cd "$here"
export PYTHONPATH=$here/code PYTHONUNBUFFERED=1
if ! python3 -c "import pydantic" 2>/dev/null; then   # an image without pydantic: the carried wheels
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site wheels/*.whl
  export PYTHONPATH=$PYTHONPATH:/tmp/site
fi
out=$(python3 -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['out'])" "$yaml")
dest=${OUT:-$here/back}
mkdir -p "$dest" "$out"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader || true
pack() {
  (cd "$out" && tar -czf "$dest/result.tar.gz" search.json search.html mix.yaml candidates.csv tokenizer \
     $(ls validate/ablation.json validate/ablation.html 2>/dev/null))
  echo "results: $dest/result.tar.gz"
}
case $mode in
  search)
    time python3 -m curate.cli mix search "$yaml" --no-validate 2>&1 | tee "$dest/search.log"
    pack ;;
  validate)
    tar -xzf result/result.tar.gz -C "$out"
    time python3 -m curate.cli mix search "$yaml" --validate-only 2>&1 | tee "$dest/validate.log"
    pack ;;
  all)
    time python3 -m curate.cli mix search "$yaml" 2>&1 | tee "$dest/all.log"
    pack ;;
  *) echo "usage: run.sh search|validate|all [YAML]" >&2; exit 2 ;;
esac
