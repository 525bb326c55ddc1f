#!/usr/bin/env bash
# Brings the asv results of other machines into this clone's results folder
# (.asv/results, as asv.conf.json sets it) and publishes one HTML showing all.
#   On the other machine:  python scripts/asv_machine.py && asv run && tar czf results.tgz -C .asv results
#   Here:                  mkdir other && tar xzf results.tgz -C other && scripts/asv_merge.sh other/results
# A machine's folder holds its machine.json and one file per commit and
# environment, so copying the folders merges them; files already here are kept.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/asv_merge.sh OTHER_RESULTS_DIR..." >&2; exit 2; }
for other in "$@"; do
  for folder in "$other"/*/; do
    [ -f "$folder/machine.json" ] || continue
    name=$(basename "$folder")
    mkdir -p ".asv/results/$name"
    cp -n "$folder"/*.json ".asv/results/$name/"
    echo "merged machine $name"
  done
done
asv publish
