#!/usr/bin/env bash
# The measured first look of docs/admm.md (issue 19): LeNet-5 and LeNet-300-100 trained on the embedded digits,
# LeNet-5 pruned by gradual global magnitude pruning to a high sparsity, and what network purification and
# unused-path removal (P-RM, arXiv:1905.00136) remove on top of it (the 'prm' benchmark prints the table).
# Usage: scripts/admm-first-look.sh [SPARSITY] [SEED]   (defaults 0.99 and 0)
# Finished steps (a checkpoint with its sidecar) are skipped, so the script can be stopped and rerun.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sparsity=${1:-0.99}
seed=${2:-0}
out=runs/admm
mkdir -p "$out"
run() { local ckpt=$1; shift; [[ -f $ckpt && -f $ckpt.json ]] && { echo "skip: $ckpt exists"; return; }; echo "+ $*"; time "$@"; }
run "$out/lenet5-s$seed.ckpt" ./surgeon train --model lenet5 --data digits --epochs 15 --lr 0.02 --dynamics-samples 0 \
  --seed "$seed" -q --out "$out/lenet5-s$seed.ckpt"
run "$out/lenet300-s$seed.ckpt" ./surgeon train --model lenet300 --data digits --epochs 20 --lr 0.05 --dynamics-samples 0 \
  --seed "$seed" -q --out "$out/lenet300-s$seed.ckpt"
# Gradual magnitude pruning (Zhu & Gupta's cubic schedule from 0.5 to the target over the first half of the steps,
# global magnitude over every Linear and Conv2d weight), then fine-tuning with the zeros held.
run "$out/lenet5-gmp-$sparsity-s$seed.ckpt" ./surgeon finetune --checkpoint "$out/lenet5-s$seed.ckpt" --method mp \
  --sparsity "$sparsity" --initial-sparsity 0.5 --epochs 12 --lr 0.01 --seed "$seed" -q --out "$out/lenet5-gmp-$sparsity-s$seed.ckpt"
./surgeon eval --checkpoint "$out/lenet5-s$seed.ckpt"
./surgeon eval --checkpoint "$out/lenet300-s$seed.ckpt"
./surgeon eval --checkpoint "$out/lenet5-gmp-$sparsity-s$seed.ckpt"
SURGEON_PRM_CHECKPOINTS="$out/lenet5-gmp-$sparsity-s$seed.ckpt" dotnet run -c Release --project bench/Surgeon.Bench -- prm
