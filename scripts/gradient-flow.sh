#!/usr/bin/env bash
# The gradient-flow experiment of docs/gradient-flow.md (Lubana & Dick, ICLR 2021): conv models pruned early in training
# (75 % of the filters removed after epoch 1) with magnitude, loss-preservation, GraSP and gradient-norm preservation;
# training loss per epoch plotted per measure, final test accuracy as mean ± std over seeds.
# Usage: scripts/gradient-flow.sh [DATA] [MODELS] [SEEDS] [EPOCHS] [WIDTH] [TRAIN_SUBSET]
#   defaults: fashion-mnist  vgg13,resnet20  0,1,2  10  0.25  0 (0 = all training images; N = a class-balanced subset
#   of N images, the same for every seed, to make a run shorter)
# Finished runs (a checkpoint with its sidecar) are skipped, so the script can be stopped and rerun.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data=${1:-fashion-mnist}
models=${2:-vgg13,resnet20}
seeds=${3:-0,1,2}
epochs=${4:-10}
width=${5:-0.25}
subset=${6:-0}
measures=(magnitude loss-preservation grasp gradient-norm)
# One folder per setting, so runs of another width, length or subset are never taken for finished ones.
tag=${data//[^a-zA-Z0-9-]/_}-w$width-e$epochs
[[ $subset != 0 ]] && tag+=-n$subset
out=runs/gradient-flow/$tag
mkdir -p "$out"
for model in ${models//,/ }; do
  for measure in "${measures[@]}"; do
    for seed in ${seeds//,/ }; do
      ckpt=$out/$model-$measure-s$seed.ckpt
      [[ -f $ckpt.json ]] && continue
      ./surgeon train --model "$model" --width "$width" --data "$data" --epochs "$epochs" --seed "$seed" --train-subset "$subset" \
        --prune-measure "$measure" --prune-target 0.75 --prune-rounds 1 --prune-start 1 --out "$ckpt" --quiet
    done
  done
  # Training loss (and the six-panel dynamics) against the epoch, one line per measure, seeds averaged.
  runs=()
  for measure in "${measures[@]}"; do
    for seed in ${seeds//,/ }; do runs+=("$measure=$out/$model-$measure-s$seed.ckpt.dynamics.csv"); done
  done
  ./surgeon plot-dynamics --quantity train_loss --title "$model on $data: training loss, 75% of filters pruned after epoch 1" \
    --out "$out/$model-train-loss.png" "${runs[@]}"
  ./surgeon plot-dynamics --quantity all --out "$out/$model-dynamics.png" "${runs[@]}"
done
# Final test accuracy per model and measure, mean ± std over seeds (from the checkpoints' sidecars).
{
  echo "| model | measure | test accuracy (%) | seeds | parameters after pruning |"
  echo "|---|---|---|---|---|"
  for model in ${models//,/ }; do
    for measure in "${measures[@]}"; do
      accs=(); params=""
      for seed in ${seeds//,/ }; do
        side=$out/$model-$measure-s$seed.ckpt.json
        accs+=("$(grep -o '"testAccuracy": [0-9.eE+-]*' "$side" | awk '{print $2}')")
        params=$(grep -o '"parameters": "[0-9]*"' "$side" | grep -o '[0-9]*')
      done
      printf '%s\n' "${accs[@]}" | awk -v m="$model" -v me="$measure" -v p="$params" \
        '{x[NR]=100*$1; s+=100*$1} END {mu=s/NR; v=0; for(i=1;i<=NR;i++) v+=(x[i]-mu)^2; sd=(NR>1)?sqrt(v/(NR-1)):0;
          printf "| %s | %s | %.2f ± %.2f | %d | %s |\n", m, me, mu, sd, NR, p}'
    done
  done
} | tee "$out/summary.md"
