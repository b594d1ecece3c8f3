#!/usr/bin/env bash
# Pack what the GPU ablation needs into one folder that travels to a machine without the
# curation stack: the code (curate with train/ and filters/ laid out as installed), the arms'
# shards, the held-out text, the task files and the ablation YAMLs.
#   bench/ablation/pack.sh PREPARED ARMS_DIR OUT [GIT_REF]
# PREPARED: the folder bench/ablation/prepare_web_real.py wrote; ARMS_DIR: one folder per arm
# (a `curate run` output folder, or a folder holding the raw arm's Parquet).
# On the GPU machine:  export PYTHONPATH=OUT/code; cd OUT && python3 -m curate.cli ablate ablation-5m.yaml
set -euo pipefail
prepared=$1; arms=$2; out=$3; ref=${4:-HEAD}
repo=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$out/code" && mkdir -p "$out/code" "$out/arms" "$out/heldout" "$out/evals"
git -C "$repo" archive "$ref" curate train filters | tar -x -C "$out/code"
mv "$out/code/train" "$out/code/curate/train" && mv "$out/code/filters" "$out/code/curate/filters"
for a in "$arms"/*/; do
  name=$(basename "$a"); mkdir -p "$out/arms/$name"
  if [ -d "$a/data" ]; then cp -r "$a/data/." "$out/arms/$name/"; else cp "$a"/*.parquet "$out/arms/$name/"; fi
done
for g in "$prepared"/heldout/gold_en*.jsonl; do gzip -9 -c "$g" > "$out/heldout/$(basename "$g").gz"; done
cp -r "$prepared/heldout/books" "$prepared/heldout/wikitext_test.txt.gz" "$out/heldout/"
cp "$repo"/../shared/data/evals/*.jsonl.gz "$out/evals/" 2>/dev/null || true
du -sh "$out"
