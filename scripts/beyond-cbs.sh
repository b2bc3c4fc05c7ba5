#!/usr/bin/env bash
# docs/beyond-cbs.md: one-shot pruning of the committed digits MLPNet (no fine-tuning) by MP, WF, CBS, CHITA, CHITA-BSO
# and multi-stage variants, one `surgeon sweep` process per method so each gets its own wall time and peak memory
# (GNU time's maximum resident set size). Usage: scripts/beyond-cbs.sh [METHODS] [SPARSITIES] [SEEDS] [N]
# Writes runs/beyond-cbs/<method>/ (sweep outputs) and runs/beyond-cbs/summary.tsv (method, sparsity, seed, accuracy,
# seconds of the point, peak RSS MiB of the method's process).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
methods=${1:-mp,wf,cbs,chita-bso,chita,ms8-exp:chita-bso,ms4-exp:wf,ms4-exp:cbs,ms4-exp:chita}
sparsities=${2:-0.9,0.95,0.98}
seeds=${3:-0}
n=${4:-1000}
cli=${SURGEON_CLI:-./surgeon}
out=runs/beyond-cbs
mkdir -p "$out"
summary=$out/summary.tsv
[[ -f $summary ]] || printf 'method\tsparsity\tseed\taccuracy\tseconds\tpeak_rss_mib\n' > "$summary"
IFS=, read -ra list <<< "$methods"
for m in "${list[@]}"; do
  dir=$out/${m//:/_}
  mkdir -p "$dir"
  /usr/bin/time -v -o "$dir/time.txt" $cli sweep -c docs/cbs-mlpnet/mlpnet-digits.ckpt --methods "$m" \
    --sparsities "$sparsities" --seeds "$seeds" --fisher-samples "$n" --lambda 1e-3 --out-dir "$dir" -q > "$dir/log.txt" 2>&1
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$dir/time.txt")
  tail -n +2 "$dir/sweep.csv" | awk -F, -v rss="$rss" 'BEGIN{OFS="\t"} {print $1, $2, $3, $5*100, $7, rss}' >> "$summary"
done
column -t -s $'\t' "$summary"
