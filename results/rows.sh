# The steps every results/*/run_table.sh repeats, sourced by them. The caller sets RUNS (run folders, not committed),
# OUT (the committed results folder) and CFG (the table's training config). Each step is skipped when its output is
# there, and a killed one resumes: training from its last checkpoint, evaluation from its records.

# train_row RUN ARGS...: train $RUNS/RUN from $CFG with ARGS unless it finished, then copy its config, summary,
# metrics and α plot into $OUT/RUN; the training wall time is appended to $OUT/RUN/wall_times.txt.
train_row() {
  local m=$1; shift
  mkdir -p "$OUT/$m"
  if [ ! -f "$RUNS/$m/summary.json" ]; then
    local t0; t0=$(date +%s)
    compact_nb train "$CFG" --runs-dir "$RUNS" --name "$m" "$@"
    echo "train $(( $(date +%s) - t0 )) s" >> "$OUT/$m/wall_times.txt"
  fi
  cp "$RUNS/$m/config.json" "$RUNS/$m/summary.json" "$RUNS/$m/metrics.jsonl" "$OUT/$m/"
  if [ -f "$RUNS/$m/plots/alpha.png" ]; then cp "$RUNS/$m/plots/alpha.png" "$OUT/$m/"; fi
}

# evaluated RUN BENCHMARK...: whether $OUT/RUN/eval/summary.json has every named benchmark.
evaluated() {
  local m=$1; shift
  python -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if set(sys.argv[2:]) <= set(s['benchmarks']) else 1)" \
    "$OUT/$m/eval/summary.json" "$@" 2>/dev/null
}

# eval_generation RUN BENCHMARKS [FOLDER [OPTION...]]: answer the first 300 test questions of each benchmark
# (comma-separated) by generation, into $OUT/FOLDER (default: RUN), with any further `compact_nb eval` options.
eval_generation() {
  local m=$1 b=$2 f=${3:-$1} t0
  evaluated "$f" ${b//,/ } && return 0
  t0=$(date +%s)
  compact_nb eval --model "$RUNS/$m" --benchmarks "$b" --limit 300 --batch-size 32 --out "$OUT/$f" --progress false "${@:4}"
  echo "eval $(( $(date +%s) - t0 )) s" >> "$OUT/$f/wall_times.txt"
}

# eval_options RUN [FOLDER [OPTION...]]: CSQA and StrategyQA (first 300 each) by option scoring, into $OUT/FOLDER.
eval_options() {
  local m=$1 f=${2:-$1} t0
  evaluated "$f" csqa@options strategyqa@options && return 0
  t0=$(date +%s)
  compact_nb eval --model "$RUNS/$m" --benchmarks csqa,strategyqa --limit 300 --mode options --batch-size 16 \
      --out "$OUT/$f" --progress false "${@:3}"
  echo "options $(( $(date +%s) - t0 )) s" >> "$OUT/$f/wall_times.txt"
}
