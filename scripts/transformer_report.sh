#!/usr/bin/env bash
# The transformer issue's figures: a roofline (with BERT-Base and GPT-2 placed
# on it), analytic tables of the three models in both scopes and both modes,
# GPT-2 generating 128 tokens against a BERT-Base pass over 128 tokens (measured),
# and Figure 3 (predicted and measured).   Usage: scripts/transformer_report.sh [OUT]
set -euo pipefail
out=${1:-bwbench-results}
python -m bwbench roofline --out "$out" --models bert-base,gpt2
for model in bert-base bert-large gpt2; do
  for mode in encoder decoder; do
    for scope in layers model; do
      python -m bwbench transformer --model $model --seq 128 --mode $mode --scope $scope --roofline "$out/roofline.json"
    done
  done
done
python -m bwbench transformer --model bert-base --seq 128 --bytes-per-element 1 --roofline "$out/roofline.json"
python -m bwbench transformer --model bert-base --seq 128 --measure --roofline "$out/roofline.json" --json "$out/bert-base-128.json"
python -m bwbench transformer --model gpt2 --seq 128 --measure --roofline "$out/roofline.json" --json "$out/gpt2-128.json"
python -m bwbench transformer --figure "$out/figure3-predicted" --roofline "$out/roofline.json"
python -m bwbench transformer --figure "$out/figure3-measured" --measure --roofline "$out/roofline.json"
