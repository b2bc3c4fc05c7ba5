#!/usr/bin/env bash
# docs/beyond-cbs.md, ResNet-20 rows: one-shot pruning of the committed Fashion-MNIST ResNet-20 (docs/cbs-resnet20.md)
# with the settings of scripts/reproduce-cbs-resnet20.sh (the paper's prunable set, one Fisher block per layer, N = 1,000,
# λ = 1e-5 unless METHOD/LAMBDA says otherwise, BatchNorm recalibrated on 1,000 images for the "+bn" rows, the same
# class-balanced 2,000 test images), one seed, one `surgeon sweep` process per method (GNU time's peak RSS).
# Usage: scripts/beyond-cbs-resnet20.sh [METHODS] [SPARSITIES] [SEEDS]
#   METHODS: comma-separated, each run in its own process; methods joined by + run in one process (e.g. chita-bso+chita:
#   the per-sample gradients are computed once for both; the first method's first point includes them).
# Writes runs/beyond-cbs-resnet20/<method>/ and runs/beyond-cbs-resnet20/summary.tsv (method, λ, sparsity, seed,
# accuracy, seconds of the point, peak RSS MiB of the method's process; the sweep's "+bn" points are rows of their own).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
methods=${1:-chita-bso,chita,obc}
sparsities=${2:-0.7,0.8,0.9}
seeds=${3:-0}
cli=${SURGEON_CLI:-./surgeon}
out=runs/beyond-cbs-resnet20
mkdir -p "$out"
summary=$out/summary.tsv
[[ -f $summary ]] || printf 'method\tlambda\tsparsity\tseed\taccuracy\tseconds\tpeak_rss_mib\n' > "$summary"
IFS=, read -ra list <<< "$methods"
for entry in "${list[@]}"; do
  m=${entry%%/*}
  lambda=1e-5
  [[ $entry == */* ]] && lambda=${entry#*/}
  dir=$out/${m//:/_}-l$lambda
  mkdir -p "$dir"
  /usr/bin/time -v -o "$dir/time.txt" $cli sweep -c docs/cbs-resnet20/resnet20-fashion.ckpt --methods "${m//+/,}" \
    --sparsities "$sparsities" --seeds "$seeds" --prunable paper --block-size -1 --fisher-samples 1000 --lambda "$lambda" \
    --recalibrate-bn 1000 --test-subset 2000 --out-dir "$dir" -q > "$dir/log.txt" 2>&1
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$dir/time.txt")
  tail -n +2 "$dir/sweep.csv" | awk -F, -v rss="$rss" -v l="$lambda" 'BEGIN{OFS="\t"} {print $1, l, $2, $3, $5*100, $7, rss}' >> "$summary"
done
column -t -s $'\t' "$summary"
