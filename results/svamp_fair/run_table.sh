#!/usr/bin/env bash
# Every run of results/svamp_fair.md: train into $RUNS (not committed), evaluate SVAMP test (300, generation) and
# CSQA / StrategyQA (300, option scoring) into results/svamp_fair/<run>, copy config, summary, metrics and α plot.
# Rerunnable: finished steps are skipped, killed ones resume.
#   bash results/svamp_fair/run_table.sh                 # all runs
#   bash results/svamp_fair/run_table.sh fair-s0         # some of them
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-../runs-svamp}
OUT=results/svamp_fair
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
CFG=configs/svamp_fair_smollm2.yaml

declare -A ARGS=(
  [fair-s0]="--seed 0"
  [fair-compact-s0]="--method compact --seed 0"
  [fair-uniform-s0]="--method uniform --seed 0"
)
ORDER=(fair-s0 fair-compact-s0 fair-uniform-s0)
[ $# -gt 0 ] && ORDER=("$@")

for m in "${ORDER[@]}"; do
  [ -n "${ARGS[$m]+x}" ] || { echo "unknown run $m (one of ${!ARGS[*]})" >&2; exit 2; }
  mkdir -p "$OUT/$m"
  if [ ! -f "$RUNS/$m/summary.json" ]; then
    t0=$(date +%s)
    compact_nb train $CFG --runs-dir "$RUNS" --name "$m" ${ARGS[$m]}
    echo "train $(( $(date +%s) - t0 )) s" >> "$OUT/$m/wall_times.txt"
  fi
  cp "$RUNS/$m/config.json" "$RUNS/$m/summary.json" "$RUNS/$m/metrics.jsonl" "$OUT/$m/"
  if [ -f "$RUNS/$m/plots/alpha.png" ]; then cp "$RUNS/$m/plots/alpha.png" "$OUT/$m/"; fi
  if ! python -c "import json,sys; s=json.load(open('$OUT/$m/eval/summary.json')); sys.exit(0 if 'svamp' in s['benchmarks'] else 1)" 2>/dev/null; then
    t0=$(date +%s)
    compact_nb eval --model "$RUNS/$m" --benchmarks svamp --limit 300 --batch-size 32 --out "$OUT/$m" --progress false
    echo "eval $(( $(date +%s) - t0 )) s" >> "$OUT/$m/wall_times.txt"
  fi
  if ! python -c "import json,sys; s=json.load(open('$OUT/$m/eval/summary.json')); sys.exit(0 if {'csqa@options','strategyqa@options'} <= set(s['benchmarks']) else 1)" 2>/dev/null; then
    t0=$(date +%s)
    compact_nb eval --model "$RUNS/$m" --benchmarks csqa,strategyqa --limit 300 --mode options --batch-size 16 \
        --out "$OUT/$m" --progress false
    echo "options $(( $(date +%s) - t0 )) s" >> "$OUT/$m/wall_times.txt"
  fi
done
