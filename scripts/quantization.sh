#!/usr/bin/env bash
# Reproduces the numbers of docs/quantization.md: post-training quantisation of MLPNet (trained on the embedded
# digits with the demo's settings) and of the committed ResNet-20 (docs/cbs-resnet20/resnet20-fashion.ckpt,
# Fashion-MNIST: apt-get install dataset-fashion-mnist), each dense and magnitude-pruned to 0.9 (global magnitude over
# the papers' prunable set), at 8, 6, 4 and 3 bits (bench/Surgeon.Bench/QuantBench.cs prints the tables). One-shot
# magnitude pruning leaves ResNet-20 at chance (10 %; docs/cbs-resnet20.md), so its pruned model is the one-shot one
# fine-tuned for one epoch with the mask held, as in docs/cbs-resnet20.md (86.45 % there); MLPNet's is one-shot only.
# No VGG-13 checkpoint is committed under docs/, so VGG-13 is left out (the bench skips it unless
# $dir/vgg13-fashion.ckpt exists).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=${SURGEON_QUANT_DIR:-runs/quant}
mkdir -p "$dir"
[[ -f $dir/mlpnet-digits.ckpt ]] || ./surgeon train --model mlpnet --data digits --epochs 20 --out "$dir/mlpnet-digits.ckpt"
[[ -f $dir/resnet20-fashion.ckpt ]] || cp docs/cbs-resnet20/resnet20-fashion.ckpt docs/cbs-resnet20/resnet20-fashion.ckpt.json "$dir/"
for model in mlpnet-digits resnet20-fashion; do
  [[ -f $dir/$model-mp-0.9.ckpt ]] || ./surgeon prune -c "$dir/$model.ckpt" -m mp -s 0.9 -o "$dir/$model-mp-0.9.ckpt"
done
[[ -f $dir/resnet20-fashion-mp-0.9-ft.ckpt ]] || ./surgeon finetune -c "$dir/resnet20-fashion-mp-0.9.ckpt" --epochs 1 --lr 0.01 \
  --batch-size 128 --train-subset 10000 --seed 0 -o "$dir/resnet20-fashion-mp-0.9-ft.ckpt"
SURGEON_QUANT_DIR=$dir dotnet run -c Release --project bench/Surgeon.Bench -- quant
