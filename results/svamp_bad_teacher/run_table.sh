#!/usr/bin/env bash
# Every run of results/svamp_bad_teacher.md, in order: build the corpus (once), train into $RUNS (not committed),
# evaluate on SVAMP test (300 questions, generation) into results/svamp_bad_teacher/<run>, copy the run's config,
# summary, metrics and α plot beside the records. Rerunnable: finished steps are skipped, killed ones resume.
#   bash results/svamp_bad_teacher/run_table.sh                       # all runs
#   bash results/svamp_bad_teacher/run_table.sh bad-mind-s0           # some of them
#   TRAIN_ONLY=1 bash results/svamp_bad_teacher/run_table.sh bad-single-human   # train, do not evaluate
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-../runs-svamp}
OUT=results/svamp_bad_teacher
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
CFG=configs/svamp_bad_teacher_smollm2.yaml
. results/rows.sh
CORPUS=$RUNS/bad_teacher_corpus.jsonl
[ -f "$CORPUS" ] || python results/svamp_bad_teacher/make_corpus.py "$CORPUS"

declare -A ARGS=(
  [bad-uniform-s0]="--method uniform --seed 0"
  [bad-compact-s0]="--seed 0"
  [bad-mind-s0]="--method mind --seed 0"
  [bad-uniform-s1]="--method uniform --seed 1"
  [bad-compact-s1]="--seed 1"
  [bad-mind-s1]="--method mind --seed 1"
  [bad-uniform-s2]="--method uniform --seed 2"
  [bad-compact-s2]="--seed 2"
  [bad-mind-s2]="--method mind --seed 2"
  [bad-compact-tau3-s0]="--method.tau 3 --seed 0"
  [bad-single-gpt-4o]="--method single --method.teacher gpt-4o"
  [bad-mcckd-s0]="--method mcckd --seed 0"
  [bad-edit-s0]="--method edit --method.wrong_teachers llama-2-7b --seed 0"
  [bad-single-llama-2-7b]="--method single --method.teacher llama-2-7b"
  [bad-single-gemini-1.5-flash]="--method single --method.teacher gemini-1.5-flash"
  [bad-single-llama-3-70b]="--method single --method.teacher llama-3-70b"
  [bad-single-human]="--method single --method.teacher human"
  [bad-compact-authors-s0]="--method.reading authors --seed 0"
  [bad-compact-authors-s1]="--method.reading authors --seed 1"
  [bad-compact-authors-s2]="--method.reading authors --seed 2"
  [bad-compact-authors-recipe]="(configs/svamp_bad_teacher_authors_smollm2.yaml: the authors' reading and their whole recipe, 250 steps of 4 questions at a constant 1e-5) --seed 0"
  [bad-mot]="(no training: the average of the five single-teacher runs, compact_nb mot)"
)
SINGLES=(gpt-4o gemini-1.5-flash llama-3-70b human llama-2-7b)
ORDER=(bad-uniform-s0 bad-compact-s0 bad-mind-s0 bad-uniform-s1 bad-compact-s1 bad-mind-s1
       bad-uniform-s2 bad-compact-s2 bad-mind-s2 bad-compact-tau3-s0 bad-single-gpt-4o
       bad-mcckd-s0 bad-single-llama-2-7b bad-single-gemini-1.5-flash bad-single-llama-3-70b bad-single-human
       bad-mot bad-edit-s0 bad-compact-authors-s0 bad-compact-authors-s1 bad-compact-authors-s2 bad-compact-authors-recipe)
[ $# -gt 0 ] && ORDER=("$@")

for m in "${ORDER[@]}"; do
  [ -n "${ARGS[$m]+x}" ] || { echo "unknown run $m (one of ${!ARGS[*]})" >&2; exit 2; }
  if [ "$m" = bad-mot ]; then
    mkdir -p "$OUT/$m"
    [ -d "$RUNS/bad-mot/adapter" ] || compact_nb mot "${SINGLES[@]/#/$RUNS/bad-single-}" --out "$RUNS/bad-mot"
    cp "$RUNS/bad-mot/config.json" "$OUT/bad-mot/"
  elif [ "$m" = bad-compact-authors-recipe ]; then
    CFG=configs/svamp_bad_teacher_authors_smollm2.yaml train_row "$m" --seed 0 --data "$CORPUS"
  else
    train_row "$m" ${ARGS[$m]} --data "$CORPUS"   # the corpus built above, whatever RUNS is (the config names ../runs-svamp's)
  fi
  [ -n "${TRAIN_ONLY:-}" ] || eval_generation "$m" svamp
done
python results/svamp_bad_teacher/alpha_on_bad.py $OUT/*/ > $OUT/alpha_on_bad.md
