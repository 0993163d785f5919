#!/usr/bin/env bash
# Every run of results/svamp_fair.md (EDIT pairs each accepted rationale with Llama-2-7b's wrong solution): train into $RUNS (not committed), evaluate SVAMP test (300, generation) and
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
. results/rows.sh

declare -A ARGS=(
  [fair-s0]="--seed 0"
  [fair-compact-s0]="--method compact --seed 0"
  [fair-uniform-s0]="--method uniform --seed 0"
  [fair-edit-s0]="--method edit --method.answer_rule given --seed 0"
)
ORDER=(fair-s0 fair-compact-s0 fair-uniform-s0 fair-edit-s0)
[ $# -gt 0 ] && ORDER=("$@")

for m in "${ORDER[@]}"; do
  [ -n "${ARGS[$m]+x}" ] || { echo "unknown run $m (one of ${!ARGS[*]})" >&2; exit 2; }
  train_row "$m" ${ARGS[$m]}
  eval_generation "$m" svamp
  eval_options "$m"
done
