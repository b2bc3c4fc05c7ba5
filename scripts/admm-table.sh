#!/usr/bin/env bash
# The table of docs/admm.md (issue 19): LeNet-5 trained on a small budget, then compressed by
#   ADMM unstructured, ADMM filter+column, ADMM filter+column + purification + unused-path removal (P-RM),
#   + 8-bit ADMM quantisation (of the unstructured and of the P-RM result),
#   and gradual magnitude pruning (global, cubic schedule) to the ADMM unstructured run's sparsity, same epochs and lr.
# Every compression run is `finetune --epochs 5 --lr 0.02` on the same --train-subset (quantisation: 3 epochs, lr 0.01).
# Usage: scripts/admm-table.sh [DATA] [SEEDS] [SUBSET]   (defaults: digits, "0 1 2", 2000)
# Finished steps (a checkpoint with its sidecar) are skipped, so the script can be stopped and rerun.
# Prints one TSV row per run: data seed run accuracy kept_weights ratio(430,500/kept) bytes_8bit(kept, codes only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data=${1:-digits}
seeds=${2:-"0 1 2"}
subset=${3:-2000}
out=runs/admm
mkdir -p "$out"
total=430500
run() { local ckpt=$1; shift; [[ -f $ckpt && -f $ckpt.json && -f $ckpt.log ]] && return; echo "+ $*" >&2; nice -n 10 "$@" > "$ckpt.log" 2>&1; }
# kept weights and test accuracy from a finetune log: the layer table's total row and the final summary line.
row() {
  local name=$1 ckpt=$2
  local kept acc
  kept=$(grep -a 'total' "$ckpt.log" | tail -1 | tr -d ',' | awk -F'│' '{gsub(/[^0-9]/,"",$3); gsub(/[^0-9]/,"",$4); print $3-$4}')
  acc=$(grep -a 'fine-tuned: accuracy' "$ckpt.log" | tail -1 | sed -E 's/.*→ ([0-9.]+) ?%.*/\1/')
  awk -v d="$data" -v s="$seed" -v n="$name" -v a="$acc" -v k="$kept" -v t=$total \
    'BEGIN { printf "%s\t%s\t%s\t%s\t%d\t%.1f\t%d\n", d, s, n, a, k, t / k, k }'
}
for seed in $seeds; do
  base=$out/lenet5-$data-s$seed.ckpt
  [[ -f $base && -f $base.json ]] || { echo "+ train $base" >&2; nice -n 10 ./surgeon train --model lenet5 --data "$data" --epochs 4 --lr 0.02 \
    --train-subset "$subset" --dynamics-samples 0 --seed "$seed" -q --out "$base" > "$base.log" 2>&1; }
  ft=(--epochs 5 --lr 0.02 --train-subset "$subset" --seed "$seed" -q)
  for r in unstructured filters-columns filters-columns-prm; do
    run "$out/lenet5-$data-admm-$r-s$seed.ckpt" ./surgeon finetune -c "$base" "${ft[@]}" \
      --recipe "docs/recipes/admm-lenet5-$r-small.yaml" --out "$out/lenet5-$data-admm-$r-s$seed.ckpt"
  done
  # Gradual magnitude pruning to the sparsity ADMM unstructured reached (the same per-run budget).
  sparsity=$(grep -a 'total' "$out/lenet5-$data-admm-unstructured-s$seed.ckpt.log" | tail -1 | tr -d ',' | awk -F'│' '{gsub(/[^0-9]/,"",$3); gsub(/[^0-9]/,"",$4); printf "%.6f", $4/$3}')
  run "$out/lenet5-$data-gmp-s$seed.ckpt" ./surgeon finetune -c "$base" "${ft[@]}" --method mp --sparsity "$sparsity" \
    --initial-sparsity 0.5 --prunable all --out "$out/lenet5-$data-gmp-s$seed.ckpt"
  for r in unstructured filters-columns-prm; do
    run "$out/lenet5-$data-admm-$r-q8-s$seed.ckpt" ./surgeon finetune -c "$out/lenet5-$data-admm-$r-s$seed.ckpt" --epochs 3 --lr 0.01 \
      --train-subset "$subset" --seed "$seed" -q --recipe docs/recipes/admm-quant-8bit-small.yaml --out "$out/lenet5-$data-admm-$r-q8-s$seed.ckpt"
  done
  dense=$(./surgeon eval --checkpoint "$base" 2>/dev/null | grep -aoE 'accuracy [0-9.]+ ?%' | head -1 | grep -oE '[0-9.]+') || true
  printf "%s\t%s\t%s\t%s\t%d\t%.1f\t%d\n" "$data" "$seed" dense "$dense" $total 1 $total
  for r in admm-unstructured admm-filters-columns admm-filters-columns-prm gmp admm-unstructured-q8 admm-filters-columns-prm-q8; do
    row "$r" "$out/lenet5-$data-$r-s$seed.ckpt"
  done
done
