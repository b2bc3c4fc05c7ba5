#!/usr/bin/env bash
# Reproduces docs/cbs-mlpnet.md: MLPNet trained on the embedded digits and on Fashion-MNIST, one-shot pruning without
# fine-tuning at sparsities 0.5–0.98, methods MP, WF-S, WF, CBS-S, CBS, MP+CBS-U, 5 seeds of the Fisher sample,
# λ = 1e-3, N = 10,000 where the training set allows (8,000 for the digits, whose training split has 8,000 samples).
# Usage: scripts/reproduce-cbs-mlpnet.sh [digits|fashion|all]    (about 1 hour on 2 cores for all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
which=${1:-all}
methods=mp,wf-s,wf,cbs-s,cbs,mp+cbs-u
sparsities=0.5,0.6,0.7,0.8,0.9,0.95,0.98
seeds=0,1,2,3,4
if [[ $which == digits || $which == all ]]; then
  ./surgeon train --data digits --epochs 20 --seed 0 --out runs/cbs/mlpnet-digits.ckpt
  ./surgeon sweep -c runs/cbs/mlpnet-digits.ckpt --methods $methods --sparsities $sparsities --seeds $seeds \
    --fisher-samples 8000 --lambda 1e-3 --out-dir runs/cbs/digits
fi
if [[ $which == fashion || $which == all ]]; then
  ./surgeon train --data fashion-mnist --epochs 20 --seed 0 --out runs/cbs/mlpnet-fashion.ckpt
  ./surgeon sweep -c runs/cbs/mlpnet-fashion.ckpt --methods $methods --sparsities $sparsities --seeds $seeds \
    --fisher-samples 10000 --lambda 1e-3 --out-dir runs/cbs/fashion
fi
