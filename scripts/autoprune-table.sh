#!/usr/bin/env bash
# The measurements of docs/autoprune.md (issue 20): AutoPrune (the autoprune recipe modifier, per weight) against
# gradual magnitude pruning at the same sparsity and training budget, on LeNet-300-100 and LeNet-5, the embedded digits
# and Fashion-MNIST, three values of λ and three seeds; then the robustness check on LeNet-300-100/digits: AutoPrune
# across its auxiliary and weight learning rates, gradual magnitude across its schedule settings and learning rate.
# Budget (2 shared CPU cores): a class-balanced subset of 4,000 training images, 3 epochs from scratch (batch 64,
# SGD momentum 0.9, cosine, lr 0.05 for LeNet-300-100 and 0.01 for LeNet-5 (dense: 93 % on the digits in 3 epochs),
# pruning during epochs 1–2 (masks frozen after epoch 2), epoch 3 holds the mask.
# Usage: scripts/autoprune-table.sh [SEEDS] [LENET5_FASHION_SEEDS]   (defaults "0 1 2" for both; docs/autoprune.md
# ran LeNet-5 on Fashion-MNIST with seed 0 only: ~80 s a run did not fit the session)
# Finished runs (a checkpoint with its sidecar) are skipped, so the script can be stopped and rerun; the results are
# runs/autoprune/results.csv and the markdown tables runs/autoprune/table.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=${1:-"0 1 2"}
lenet5_fashion_seeds=${2:-$seeds}
out=runs/autoprune
mkdir -p "$out/recipes"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1} # one thread: far faster on shared cores
./surgeon --help >/dev/null # build once
surgeon=(nice -n 10 dotnet src/Surgeon.Cli/bin/Release/net10.0/Surgeon.Cli.dll)
common=(--epochs 3 --train-subset 4000 --dynamics-samples 0 -q)
results=$out/results.csv
[[ -f $results ]] || echo "model,data,method,config,seed,sparsity,accuracy" > "$results"

# run NAME MODEL DATA METHOD CONFIG SEED RECIPE [extra train flags]: trains, appends a row.
run() {
  local name=$1 model=$2 data=$3 method=$4 config=$5 seed=$6 recipe=$7; shift 7
  local ckpt=$out/$name.ckpt
  if [[ ! -f $ckpt.json ]]; then
    local lr=0.05; [[ $model == lenet5 ]] && lr=0.01
    local args=("${common[@]}" --model "$model" --data "$data" --seed "$seed" --lr "${LR:-$lr}" --out "$ckpt")
    [[ $recipe == none ]] || args+=(--recipe "$recipe")
    echo "+ train $name"
    "${surgeon[@]}" train "${args[@]}" "$@" >/dev/null
  fi
  grep -q "^$model,$data,$method,$config,$seed," "$results" ||
    echo "$model,$data,$method,$config,$seed,$(jq -r '.sparsity // 0' "$ckpt.json"),$(final_accuracy "$ckpt")" >> "$results"
}
# The test accuracy of the last epoch's evaluation in the dynamics log (the saved model: the masks are frozen before
# the last epoch). Not the sidecar's testAccuracy: train's evaluation after the run gave 10 % (chance) for some LeNet-5
# runs whose saved weights `surgeon eval` measures at 93 % (a bug on main, reported in the notes of this branch).
final_accuracy() { tail -n 1 "$1.dynamics.csv" | cut -d, -f7; }
sparsity_of() { jq -r '.sparsity // 0' "$out/$1.ckpt.json"; }

autoprune_recipe() { # λ aux-lr → file
  local f=$out/recipes/ap-$1-$2.yaml
  printf 'modifiers:\n  - modifier: autoprune\n    structure: weights\n    lambda: %s\n    regularizer: mask\n    ste: sign\n    surrogate: leaky\n    leak: 0.1\n    aux-lr: %s\n    aux-init: 0.01\n    end-epoch: 2\n    prunable: all\n' "$1" "$2" > "$f"
  echo "$f"
}
# In optimiser steps: train checks a recipe before loading the data with one batch per epoch, where an end-epoch
# schedule is too short for every-steps (63 batches of 64 per epoch on 4,000 images).
steps_per_epoch=$(( (4000 + 63) / 64 ))
gmp_recipe() { # name target every end-epoch → file
  local f=$out/recipes/$1.yaml
  printf 'modifiers:\n  - modifier: gradual-pruning\n    method: mp\n    initial-sparsity: 0\n    final-sparsity: %s\n    start-step: 0\n    end-step: %s\n    every-steps: %s\n    prunable: all\n' "$2" "$(( $4 * steps_per_epoch ))" "$3" > "$f"
  echo "$f"
}

lambdas="0.0001 0.0003 0.001"
table() { # model data
  local model=$1 data=$2 tag=$1-$2
  for seed in $seeds; do run "$tag-dense-s$seed" "$model" "$data" dense - "$seed" none; done
  for lam in $lambdas; do
    for seed in $seeds; do
      run "$tag-ap-$lam-s$seed" "$model" "$data" autoprune "λ=$lam" "$seed" "$(autoprune_recipe "$lam" 1)"
      s=$(sparsity_of "$tag-ap-$lam-s$seed")
      # Gradual magnitude to the same sparsity, same budget (cubic schedule over epochs 1–2, every 10 steps).
      if awk -v s="$s" 'BEGIN { exit !(s > 0 && s < 1) }'; then
        run "$tag-gmp-$lam-s$seed" "$model" "$data" gmp "λ=$lam" "$seed" "$(gmp_recipe "$tag-gmp-$lam-s$seed" "$s" 10 2)"
      fi
    done
  done
}
robustness() { # LeNet-300-100 on digits, λ = 0.0003
  local model=lenet300 data=digits tag=lenet300-digits
  for seed in $seeds; do
    for alr in 0.3 3; do
      run "$tag-rob-ap-alr$alr-s$seed" $model $data autoprune-robust "aux-lr=$alr" "$seed" "$(autoprune_recipe 0.0003 "$alr")"
    done
    LR=0.1 run "$tag-rob-ap-lr0.1-s$seed" $model $data autoprune-robust "lr=0.1" "$seed" "$(autoprune_recipe 0.0003 1)"
    s=$(sparsity_of "$tag-ap-0.0003-s$seed")
    run "$tag-rob-gmp-every50-s$seed" $model $data gmp-robust "every=50" "$seed" "$(gmp_recipe "$tag-rob-gmp-every50-s$seed" "$s" 50 2)"
    run "$tag-rob-gmp-end1-s$seed" $model $data gmp-robust "end-epoch=1" "$seed" "$(gmp_recipe "$tag-rob-gmp-end1-s$seed" "$s" 10 1)"
    LR=0.1 run "$tag-rob-gmp-lr0.1-s$seed" $model $data gmp-robust "lr=0.1" "$seed" "$(gmp_recipe "$tag-rob-gmp-lr0.1-s$seed" "$s" 10 2)"
  done
}

summarise() {
  python3 - "$results" > "$out/table.md" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["data"], r["method"], r["config"]), []).append(r)
def ms(v, scale=100):
    v = [float(x) * scale for x in v]
    return f"{st.mean(v):.2f} ± {st.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"
print("| model | data | method | setting | seeds | sparsity % | compression × | test accuracy % |")
print("|---|---|---|---|---|---|---|---|")
for (model, data, method, config), rs in groups.items():
    s = [float(r["sparsity"]) for r in rs]
    comp = st.mean(1 / (1 - x) for x in s) if all(x < 1 for x in s) else float("inf")
    print(f"| {model} | {data} | {method} | {config} | {len(rs)} | {ms(s)} | {comp:.1f} | {ms([r['accuracy'] for r in rs])} |")
PY
  cat "$out/table.md"
}

table lenet300 digits
robustness
table lenet300 fashion-mnist
table lenet5 digits
seeds=$lenet5_fashion_seeds table lenet5 fashion-mnist
summarise
