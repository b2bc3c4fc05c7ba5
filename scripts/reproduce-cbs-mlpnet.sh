#!/usr/bin/env bash
# Reproduces docs/cbs-mlpnet.md: MLPNet trained on the embedded digits and on Fashion-MNIST, one-shot pruning without
# fine-tuning, methods MP, WF-S, WF, CBS-S, CBS, MP+CBS-U, 5 seeds of the Fisher sample, λ = 1e-3, N = 10,000 where the
# training set allows (8,000 for the digits, whose training split has 8,000 samples).
# Usage: scripts/reproduce-cbs-mlpnet.sh digits|fashion [SPARSITIES]   (default: 0.5,0.6,0.7,0.8,0.9,0.95,0.98)
# Each finished point is appended to runs/cbs/<data>/points.jsonl, so a run can be stopped and resumed, and a grid of
# a few sparsities can be run first and widened later without recomputing anything.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
which=${1:?digits or fashion}
sparsities=${2:-0.5,0.6,0.7,0.8,0.9,0.95,0.98}
methods=mp,wf-s,wf,cbs-s,cbs,mp+cbs-u
seeds=0,1,2,3,4
case $which in
  digits) data=digits; samples=8000 ;;
  fashion) data=fashion-mnist; samples=10000 ;;
  *) echo "usage: $0 digits|fashion [SPARSITIES]" >&2; exit 2 ;;
esac
ckpt=runs/cbs/mlpnet-$which.ckpt
[[ -f $ckpt ]] || ./surgeon train --data $data --epochs 20 --seed 0 --out "$ckpt"
./surgeon sweep -c "$ckpt" --methods $methods --sparsities "$sparsities" --seeds $seeds \
  --fisher-samples $samples --lambda 1e-3 --out-dir runs/cbs/$which
