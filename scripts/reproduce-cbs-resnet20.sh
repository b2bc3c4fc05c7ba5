#!/usr/bin/env bash
# Reproduces docs/cbs-resnet20.md: ResNet-20 (full width) trained on a 10,000-image class-balanced subset of
# Fashion-MNIST for 8 epochs (the paper trains on CIFAR-10, which this machine has no copy of), then
#  1. one-shot MP / WF / CBS on the paper's prunable set (the 18 block-internal 3×3 convs), one Fisher block per layer,
#     N = 1,000, λ = 1e-5, with and without BatchNorm recalibration on 1,000 training images (reported as <method>+bn);
#     WF and CBS over 3 seeds of the Fisher sample, MP once (it has nothing random);
#  2. gradual MP (polynomial schedule over the first half of the steps) to 0.9 and 0.95 with fine-tuning, against
#     one-shot MP and one-shot CBS each followed by the same fine-tuning (1 epoch on the same 10,000 images; gradual prunes over its first half).
# Usage: scripts/reproduce-cbs-resnet20.sh [mp-wf|cbs|report|gradual|cbs-ft|all]   (default: all)
# The parts can run side by side (e.g. mp-wf and cbs in two shells). Sweeps append each finished point to their
# journal and the fine-tuning steps skip checkpoints that exist, so a stopped run resumes where it stopped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
what=${1:-all}
out=runs/cbs-resnet20
doc=docs/cbs-resnet20
ckpt=$doc/resnet20-fashion.ckpt
subset=10000
sparsities=0.3,0.5,0.7,0.8,0.9
# Every sweep point is evaluated on the same class-balanced 2,000 of the 10,000 test images (time, on 2 cores).
eval=(--test-subset 2000)
mkdir -p "$out"
[[ -f $ckpt ]] || ./surgeon train --model resnet20 --data fashion-mnist --train-subset $subset --epochs 8 \
  --batch-size 128 --lr 0.1 --seed 0 --dynamics-samples 0 --out "$ckpt"
fisher=(--prunable paper --block-size -1 --fisher-samples 1000 --lambda 1e-5)
# CBS-S is cut from the paper's 50 starts scored on 5,000 samples and ≤ 100 swap iterations to 10 starts on 1,000
# samples and ≤ 10 iterations (time, on 2 cores); ε, ρ, τ are the paper's.
cbs=(--cbs-candidates 10 --cbs-loss-samples 1000 --cbs-iterations 10)
part() { [[ $what == "$1" || $what == all ]]; }
if part mp-wf; then
  ./surgeon sweep -c "$ckpt" --methods mp --sparsities $sparsities --seeds 0 --prunable paper \
    --recalibrate-bn 1000 "${eval[@]}" --out-dir "$out/oneshot-mp"
  ./surgeon sweep -c "$ckpt" --methods wf --sparsities $sparsities --seeds 0,1,2 "${fisher[@]}" \
    --recalibrate-bn 1000 "${eval[@]}" --out-dir "$out/oneshot-wf"
fi
if part cbs; then
  ./surgeon sweep -c "$ckpt" --methods cbs --sparsities $sparsities --seeds 0,1,2 "${fisher[@]}" "${cbs[@]}" \
    --recalibrate-bn 1000 "${eval[@]}" --out-dir "$out/oneshot-cbs"
fi
if part report; then
  ./surgeon report sweep "$out/oneshot-mp" "$out/oneshot-wf" "$out/oneshot-cbs" \
    --title "ResNet-20, Fashion-MNIST: one-shot, no fine-tuning" --out-dir "$doc/oneshot"
fi
ft=(--epochs 1 --lr 0.01 --batch-size 128 --train-subset $subset --seed 0)
if part gradual; then
  for s in 0.9 0.95; do
    [[ -f $out/gradual-mp-$s.ckpt ]] || ./surgeon finetune -c "$ckpt" -m mp -s "$s" "${ft[@]}" -o "$out/gradual-mp-$s.ckpt"
    [[ -f $out/oneshot-mp-$s.ckpt ]] || ./surgeon prune -c "$ckpt" -m mp -s "$s" --prunable paper -o "$out/oneshot-mp-$s.ckpt"
    [[ -f $out/oneshot-mp-$s-ft.ckpt ]] || ./surgeon finetune -c "$out/oneshot-mp-$s.ckpt" "${ft[@]}" -o "$out/oneshot-mp-$s-ft.ckpt"
  done
fi
if part cbs-ft; then
  for s in 0.9 0.95; do
    [[ -f $out/oneshot-cbs-$s.ckpt ]] || ./surgeon prune -c "$ckpt" -m cbs -s "$s" "${fisher[@]}" "${cbs[@]}" \
      -o "$out/oneshot-cbs-$s.ckpt"
    [[ -f $out/oneshot-cbs-$s-ft.ckpt ]] || ./surgeon finetune -c "$out/oneshot-cbs-$s.ckpt" "${ft[@]}" -o "$out/oneshot-cbs-$s-ft.ckpt"
  done
fi
