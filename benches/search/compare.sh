#!/usr/bin/env bash
# The experiments of BENCHMARKS.md "Search that pays for itself": strategies of `adjacent search`
# with their default settings and the same compute budget (final phase included), the same
# validation split for every run; two runs at a time with one thread each. Then `adjacent report`
# writes the table and the plot of best validation accuracy against compute. Runs that finished
# (their summary.json exists) are kept, so an interrupted experiment can be restarted.
# Usage: benches/search/compare.sh OUT_DIR [BUDGET_FLOPS] [DATA] [SEEDS] [STRATEGIES]
# benches/search/STRATEGY.toml, when present, holds the settings of that strategy's runs.
# The default budget, 5.386T, is 4 epochs of the control (the README's cell at C=8, N=1: 8,235,466
# multiply-adds an image) on 54,000 training images, plus one validation of 6,000 images.
set -euo pipefail
out=$1
budget=${2:-5.386T}
data=${3:-../shared/data/fashion-mnist}
seeds=${4:-0 1 2}
strategies=${5:-fixed adjacent asha evolution random}
bin=${ADJACENT:-target/release/adjacent}
parallel=${PARALLEL:-2}
cell='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
mkdir -p "$out"
started=$(date +%s)
one() {
  local strategy=$1 seed=$2 extra=()
  [[ $strategy == fixed ]] && extra=(--arch "$cell" --channels 8 --cells 1)
  # A strategy's settings for this experiment, where they differ from the defaults.
  local settings; settings="$(dirname "$0")/$strategy.toml"
  [[ -e $settings ]] && extra+=(--config "$settings")
  RAYON_NUM_THREADS=1 "$bin" search --data "$data" --strategy "$strategy" --seed "$seed" \
    --budget-flops "$budget" "${extra[@]}" --out "$out/$strategy-$seed" \
    > "$out/$strategy-$seed.log" 2>&1 \
    && echo "$(date +%T) done $strategy $seed: $(tail -n 1 "$out/$strategy-$seed.log")" \
    || echo "$(date +%T) FAILED $strategy $seed (see $out/$strategy-$seed.log)"
}
for seed in $seeds; do
  for strategy in $strategies; do
    [[ -e $out/$strategy-$seed/summary.json ]] && continue  # finished in an earlier run
    rm -rf "${out:?}/$strategy-$seed"
    while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done
    one "$strategy" "$seed" &
  done
done
wait
echo "all runs: $(( $(date +%s) - started )) s"
"$bin" report --plot "$out/search.svg" "$out"/*-[0-9] | tee "$out/report.md"
