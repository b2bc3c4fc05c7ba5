#!/usr/bin/env bash
# The long-budget table of docs/continual.md (issue 21): rank-update, PackNet, fine-tuning and independent models on
# permuted digits and permuted Fashion-MNIST, 10 tasks, MLP 784-256-256 with a 10-class head per task, task id known at
# test time, the same data, epochs and batch size for all four methods.
# Budget per task, close to the step count of the rank-update notebook's stored settings (60,000 MNIST images, 3
# epochs, batch 128 = 1,407 Adam steps):
#   permuted-digits:  all 8,000 embedded training digits, 22 epochs (63 × 22 = 1,386 steps); all 2,000 test digits.
#   permuted-fashion: all 60,000 Fashion-MNIST training images, 3 epochs (1,407 steps); all 10,000 test images.
# Learning rates: 0.01 for rank-update (cross-entropy on normalised inputs: the notebook's lr 1e-5/1e-4 with MSE on raw
# pixels reaches 43 % on permuted digits at this step count, see docs/continual.md), 0.001 for the dense MLPs.
# rank-update r1 = 11, r2 = 1 (method rank-update-r8: r2 = 8, the "rank per task" study); PackNet frees 75 % of each
# task's weights per layer by magnitude (mp) and retrains for a third of the epochs (7 for digits, 1 for Fashion-MNIST).
# Usage: scripts/continual-faithful.sh [SEEDS] [SEQUENCES] [METHODS]
#   (defaults "0 1 2", "permuted-digits permuted-fashion", "rank-update finetune packnet independent"; also
#   rank-update-r8).
# Finished runs (result.json present) are skipped. Prints a markdown table over the seeds that have finished.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=${1:-"0 1 2"}
sequences=${2:-"permuted-digits permuted-fashion"}
methods=${3:-"rank-update finetune packnet independent"}
out=runs/continual-faithful
mkdir -p "$out"
export OMP_NUM_THREADS=1
cli=(dotnet ${SURGEON_CLI:-src/Surgeon.Cli/bin/Release/net10.0/Surgeon.Cli.dll})
for seed in $seeds; do
  for tasks in $sequences; do
    case $tasks in
      permuted-digits) budget=(--epochs 22) retrain=7 ;;
      permuted-fashion) budget=(--epochs 3) retrain=1 ;;
      *) echo "no budget for $tasks" >&2; exit 2 ;;
    esac
    for method in $methods; do
      dir=$out/$tasks-$method-s$seed
      [[ -f $dir/result.json ]] && continue
      extra=(--lr 0.001)
      cli_method=$method
      case $method in
        rank-update) extra=(--lr 0.01 --rank-first 11 --rank-next 1) ;;
        rank-update-r8) cli_method=rank-update extra=(--lr 0.01 --rank-first 11 --rank-next 8) ;;
        packnet) extra=(--lr 0.001 --prune-method mp --prune-fraction 0.75 --retrain-epochs "$retrain") ;;
      esac
      echo "+ $(date +%T) continual --method $cli_method --tasks $tasks --seed $seed ${extra[*]} ${budget[*]} --batch-size 128" >&2
      start=$SECONDS
      nice -n 10 "${cli[@]}" continual --method "$cli_method" --tasks "$tasks" --seed "$seed" "${extra[@]}" "${budget[@]}" \
        --batch-size 128 -q --out "$dir" > "$dir.log" 2>&1
      echo "  $((SECONDS - start)) s: $(tail -1 "$dir.log")" >&2
    done
  done
done
python3 - "$out" <<'PY'
import glob, json, os, re, statistics, sys
out = sys.argv[1]
def ms(xs, scale=1.0, fmt="{:.2f}"):
    xs = [x * scale for x in xs]
    return fmt.format(statistics.mean(xs)) + ("" if len(xs) < 2 else " ± " + fmt.format(statistics.stdev(xs)))
print("| tasks | method | average accuracy (%) | backward transfer (points) | kB per task | seeds |")
print("|---|---|---|---|---|---|")
for tasks in ["permuted-digits", "permuted-fashion"]:
    for method in ["rank-update", "rank-update-r8", "packnet", "finetune", "independent"]:
        runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{tasks}-{method}-s*/result.json"))]
        if not runs: continue
        avg = [r["averageAccuracy"][-1] for r in runs]
        bwt = [r["backwardTransfer"][-1] for r in runs]
        kb = [r["bytes"][-1] / len(r["tasks"]) / 1000 for r in runs]
        print(f"| {tasks} | {method} | {ms(avg, 100)} | {ms(bwt, 100)} | {ms(kb, fmt='{:.0f}')} | {len(runs)} |")
PY
