#!/usr/bin/env bash
# Every run of results/svamp_smollm2.md, in order: train (into $RUNS, not committed), evaluate (generation, then
# CSQA and StrategyQA by option scoring) into results/svamp_smollm2/<method> (mot: merge the single-teacher runs, `compact_nb mot`), copy the run's config, summary, metrics and alpha plot beside the records.
# Rerunnable: a finished training or evaluation is skipped, a killed one resumes from its checkpoint / records.
#   bash results/svamp_smollm2/run_table.sh                 # all methods
#   bash results/svamp_smollm2/run_table.sh uniform-s0      # some of them
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-../runs-svamp}
OUT=results/svamp_smollm2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
CFG=configs/svamp_smollm2.yaml
. results/rows.sh

declare -A ARGS=(
  [compact-s0]="--seed 0"
  [compact-s1]="--seed 1"
  [uniform-s0]="--method uniform --seed 0"
  [uniform-s1]="--method uniform --seed 1"
  [single-gpt-4o]="--method single --method.teacher gpt-4o"
  [single-gemini-1.5-flash]="--method single --method.teacher gemini-1.5-flash"
  [single-llama-3-70b]="--method single --method.teacher llama-3-70b"
  [single-human]="--method single --method.teacher human"
  [compact-no-mi]="--method.betas 0,1,1"
  [compact-no-cons]="--method.betas 1,0,1"
  [compact-no-ppl]="--method.betas 1,1,0"
  [mot]="(no training: the average of the four single-teacher runs)"
  [compact-s2]="--seed 2"
  [uniform-s2]="--method uniform --seed 2"
  [mind-s0]="--method mind --seed 0"
  [mind-s1]="--method mind --seed 1"
  [mind-s2]="--method mind --seed 2"
  [sbs-s0]="--method sbs --seed 0"
  [mcckd-s0]="--method mcckd --seed 0"
  [mot-r2]="(compact_nb mot-train: 2 rounds of one branch per teacher from the last merge, merged; the same total steps)"
  [compact-authors-s0]="--method.reading authors --seed 0"
  [compact-authors-s1]="--method.reading authors --seed 1"
  [compact-authors-s2]="--method.reading authors --seed 2"
  [compact-authors-recipe]="(configs/svamp_authors_smollm2.yaml: the authors' reading and their whole recipe, 250 steps of 4 questions at a constant 1e-5) --seed 0"
  [edit-s0]="(configs/svamp_edit_smollm2.yaml: the same 200 questions and paths, Llama-2-7b's wrong solutions as EDIT's wrong side) --seed 0"
)

# eval_label_format RUN: an SBS run asked in its own test-time format (the label task's instruction, read from the run's
# config) into $OUT/<method>-label-s<seed>: generation on the three benchmarks, then option scoring, as the run's own row.
eval_label_format() {
  local m=$1 f="${1%-s*}-label-${1##*-}" instr
  mkdir -p "$OUT/$f"
  instr=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['method']['label_instruction'])" "$RUNS/$m/config.json")
  eval_generation "$m" svamp,strategyqa,csqa "$f" --instruction "$instr"
  eval_options "$m" "$f" --instruction "$instr"
}
ORDER=(compact-s0 uniform-s0 single-gpt-4o single-gemini-1.5-flash single-llama-3-70b single-human
       compact-s1 uniform-s1 compact-no-mi compact-no-cons compact-no-ppl mot
       mind-s0 compact-s2 uniform-s2 mind-s1 mind-s2 sbs-s0 mcckd-s0 mot-r2 edit-s0
       compact-authors-s0 compact-authors-s1 compact-authors-s2 compact-authors-recipe)
[ $# -gt 0 ] && ORDER=("$@")

for m in "${ORDER[@]}"; do
  [ -n "${ARGS[$m]+x}" ] || { echo "unknown method $m (one of ${!ARGS[*]})" >&2; exit 2; }
  mkdir -p "$OUT/$m"
  if [ "$m" = mot ]; then
    [ -d "$RUNS/mot/adapter" ] || compact_nb mot "$RUNS"/single-{gpt-4o,gemini-1.5-flash,llama-3-70b,human} --out "$RUNS/mot"
    cp "$RUNS/mot/config.json" "$OUT/mot/"
  elif [ "$m" = mot-r2 ]; then
    if [ ! -f "$RUNS/mot-r2/summary.json" ]; then
      t0=$(date +%s)
      compact_nb mot-train $CFG --rounds 2 --out "$RUNS/mot-r2"
      echo "train $(( $(date +%s) - t0 )) s" >> "$OUT/$m/wall_times.txt"
    fi
    cp "$RUNS/mot-r2/config.json" "$RUNS/mot-r2/summary.json" "$OUT/mot-r2/"
  elif [ "$m" = edit-s0 ]; then
    [ -f "$RUNS/clean_edit_corpus.jsonl" ] || python results/svamp_smollm2/make_edit_corpus.py "$RUNS/clean_edit_corpus.jsonl"
    CFG=configs/svamp_edit_smollm2.yaml train_row "$m" --seed 0 --data "$RUNS/clean_edit_corpus.jsonl"
  elif [ "$m" = compact-authors-recipe ]; then
    CFG=configs/svamp_authors_smollm2.yaml train_row "$m" --seed 0
  else
    train_row "$m" ${ARGS[$m]}
  fi
  # SVAMP first (the rows' paired tests read it), so that a stop between the two calls leaves it measured
  case "$m" in compact-authors-*) eval_generation "$m" svamp ;; esac
  eval_generation "$m" svamp,strategyqa,csqa
  eval_options "$m"
  case "$m" in sbs-s*) eval_label_format "$m" ;; esac
done
compact_nb report $OUT/*/ --base $OUT/base --answers true --names $OUT/names.json --paired $OUT/compact-s0 \
    --benchmarks svamp,csqa,strategyqa --out $OUT/table.md
compact_nb report $OUT/*/ --base $OUT/base --names $OUT/names.json --paired $OUT/base \
    --benchmarks csqa@options,strategyqa@options --out $OUT/table_options.md
