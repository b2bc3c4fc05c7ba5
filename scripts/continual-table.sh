#!/usr/bin/env bash
# The table of docs/continual.md (issue 21): rank-update, PackNet, fine-tuning and independent models on permuted digits
# (10 tasks), split digits (5 tasks of 2 classes) and permuted Fashion-MNIST (10 tasks), MLP 784-256-256-(10 or 2 per
# task head), task id known at test time.
# Small budget so the whole grid runs in well under 30 min niced on 2 shared cores: per task 4,000 training images
# (class-balanced, seeded) and 1,000 test images, 3 epochs, batch 128, Adam. Learning rates: 0.01 for rank-update
# (its few factor parameters), 0.001 for the dense MLPs. rank-update r1 = 11, r2 = 1 (the official notebook's);
# PackNet frees 75 % of each task's weights by magnitude (mp, layer by layer), 1 retraining epoch.
# Usage: scripts/continual-table.sh [SEEDS]   (default "0 1 2"). Finished runs (result.json present) are skipped.
# Prints a markdown table: mean ± std over the seeds of the final average accuracy, backward transfer, and the bytes
# stored after the last task divided by the number of tasks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=${1:-"0 1 2"}
out=runs/continual-table
mkdir -p "$out"
export OMP_NUM_THREADS=1
./surgeon --help > /dev/null # builds once; the runs call the built CLI directly
cli=(dotnet src/Surgeon.Cli/bin/Release/net10.0/Surgeon.Cli.dll)
common=(--epochs 3 --batch-size 128 --train-subset 4000 --test-subset 1000 -q)
for seed in $seeds; do
  for tasks in permuted-digits split-digits permuted-fashion; do
    for method in rank-update packnet finetune independent; do
      dir=$out/$tasks-$method-s$seed
      [[ -f $dir/result.json ]] && continue
      extra=(--lr 0.001)
      case $method in
        rank-update) extra=(--lr 0.01 --rank-first 11 --rank-next 1) ;;
        packnet) extra=(--lr 0.001 --prune-method mp --prune-fraction 0.75 --retrain-epochs 1) ;;
      esac
      echo "+ continual --method $method --tasks $tasks --seed $seed ${extra[*]} ${common[*]}" >&2
      nice -n 10 "${cli[@]}" continual --method "$method" --tasks "$tasks" --seed "$seed" "${extra[@]}" "${common[@]}" --out "$dir" > "$dir.log" 2>&1
    done
  done
done
python3 - "$out" $seeds <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
def ms(xs, scale=1.0, fmt="{:.2f}"):
    xs = [x * scale for x in xs]
    return fmt.format(statistics.mean(xs)) + ("" if len(xs) < 2 else " ± " + fmt.format(statistics.stdev(xs)))
print("| tasks | method | average accuracy (%) | backward transfer (points) | kB per task | seeds |")
print("|---|---|---|---|---|---|")
for tasks in ["permuted-digits", "split-digits", "permuted-fashion"]:
    for method in ["rank-update", "packnet", "finetune", "independent"]:
        runs = [json.load(open(f"{out}/{tasks}-{method}-s{s}/result.json")) for s in seeds]
        avg = [r["averageAccuracy"][-1] for r in runs]
        bwt = [r["backwardTransfer"][-1] for r in runs]
        kb = [r["bytes"][-1] / len(r["tasks"]) / 1000 for r in runs]
        print(f"| {tasks} | {method} | {ms(avg, 100)} | {ms(bwt, 100)} | {ms(kb, fmt='{:.0f}')} | {len(runs)} |")
PY
