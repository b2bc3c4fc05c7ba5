#!/usr/bin/env bash
# docs/beyond-cbs.md: one-shot pruning of a committed MLPNet (no fine-tuning) by MP, WF, CBS, CHITA, CHITA-BSO,
# multi-stage variants and layer-wise OBS, one `surgeon sweep` process per method so each gets its own wall time and
# peak memory (GNU time's maximum resident set size).
# Usage: scripts/beyond-cbs.sh [METHODS] [SPARSITIES] [SEEDS] [N] [MODEL]
#   METHODS: comma-separated; a method may carry its own λ as METHOD/LAMBDA (default λ 1e-3, the papers' MLPNet value),
#   e.g. ms16-exp:chita-bso-g/0.1 (the tuned CHITA++ configuration). MODEL: digits (default) or fashion.
# Writes runs/beyond-cbs/<model>/<method>/ (sweep outputs) and runs/beyond-cbs/<model>/summary.tsv (method, λ,
# sparsity, seed, accuracy, seconds of the point, peak RSS MiB of the method's process).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
methods=${1:-mp,wf,cbs,chita-bso,chita,ms8-exp:chita-bso,ms16-exp:chita-bso-g/0.1,ms4-exp:wf,obc,sparsegpt}
sparsities=${2:-0.9,0.95,0.98}
seeds=${3:-0}
n=${4:-1000}
model=${5:-digits}
cli=${SURGEON_CLI:-./surgeon}
out=runs/beyond-cbs/$model
mkdir -p "$out"
summary=$out/summary.tsv
[[ -f $summary ]] || printf 'method\tlambda\tsparsity\tseed\taccuracy\tseconds\tpeak_rss_mib\n' > "$summary"
IFS=, read -ra list <<< "$methods"
for entry in "${list[@]}"; do
  m=${entry%%/*}
  lambda=1e-3
  [[ $entry == */* ]] && lambda=${entry#*/}
  dir=$out/${m//:/_}-l$lambda
  mkdir -p "$dir"
  /usr/bin/time -v -o "$dir/time.txt" $cli sweep -c "docs/cbs-mlpnet/mlpnet-$model.ckpt" --methods "$m" \
    --sparsities "$sparsities" --seeds "$seeds" --fisher-samples "$n" --lambda "$lambda" --out-dir "$dir" -q > "$dir/log.txt" 2>&1
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$dir/time.txt")
  tail -n +2 "$dir/sweep.csv" | awk -F, -v rss="$rss" -v l="$lambda" 'BEGIN{OFS="\t"} {print $1, l, $2, $3, $5*100, $7, rss}' >> "$summary"
done
column -t -s $'\t' "$summary"
