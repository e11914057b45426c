#!/usr/bin/env bash
# The search-efficiency experiment of BENCHMARKS.md: adjacent, evolution and random, seeds 0-2,
# the same --budget-images and validation split for every run, on full Fashion-MNIST; two runs at
# a time with one thread each (measured faster than one run with two threads). Then
# `adjacent report` writes the table and the plot.
# Usage: benches/search/fmnist.sh OUT_DIR [BUDGET_IMAGES] [DATA]
set -euo pipefail
out=$1
budget=${2:-300000}
data=${3:-../shared/data/fashion-mnist}
bin=${ADJACENT:-target/release/adjacent}
mkdir -p "$out"
runs=()
for seed in 0 1 2; do for strategy in adjacent evolution random; do runs+=("$strategy $seed"); done; done
started=$(date +%s)
one() {
  local strategy=$1 seed=$2
  RAYON_NUM_THREADS=1 "$bin" search --data "$data" --strategy "$strategy" --seed "$seed" \
    --budget-images "$budget" --out "$out/$strategy-$seed" > "$out/$strategy-$seed.log" 2>&1 \
    && echo "$(date +%T) done $strategy $seed: $(tail -n 1 "$out/$strategy-$seed.log")" \
    || echo "$(date +%T) FAILED $strategy $seed (see $out/$strategy-$seed.log)"
}
for run in "${runs[@]}"; do
  while (( $(jobs -rp | wc -l) >= 2 )); do wait -n || true; done
  one $run &
done
wait
echo "all runs: $(( $(date +%s) - started )) s"
"$bin" report --plot "$out/search_fmnist.svg" "$out"/*-[0-9] | tee "$out/report.md"
