#!/usr/bin/env bash
# Chooses a strategy's settings by measurement, never by the test set: each variant (a settings
# file) is one search per seed with the same --budget-flops; two run at a time with one thread
# each (PARALLEL=n runs n at a time). Prints one line per run: variant, seed, the final model's
# validation accuracy, the search's choice, and the compute and seconds spent.
# Usage: benches/search/tune.sh OUT_DIR BUDGET_FLOPS DATA SEEDS "name:toml-lines;name:toml-lines"
# e.g. benches/search/tune.sh runs/tune 5.386T ../shared/data/fashion-mnist "0" \
#        "base:;probe1:[adjacent]\nprobe = 0.01"
# STRATEGY (default adjacent) is the strategy every variant runs.
set -euo pipefail
out=$1; budget=$2; data=$3; seeds=$4; variants=$5
bin=${ADJACENT:-target/release/adjacent}
parallel=${PARALLEL:-2}
strategy=${STRATEGY:-adjacent}
mkdir -p "$out"
run_one() {
  local name=$1 body=$2 seed=$3
  local dir="$out/$name-s$seed"
  printf '%b\n' "$body" > "$out/$name.toml"
  RAYON_NUM_THREADS=1 "$bin" search --data "$data" --strategy "$strategy" \
    --config "$out/$name.toml" --budget-flops "$budget" --seed "$seed" --out "$dir" \
    > "$dir.log" 2>&1 || { echo "$name seed $seed failed (see $dir.log)"; return; }
  python3 -c "
import json
s = json.load(open('$dir/summary.json'))
arch = s['arch']
cells = [len(stage) for stage in arch['stages']]
print(f\"$name seed $seed final_valid {s['valid_acc']:.2f} width {arch['channels']} cells {cells} params {s['params']} trials {s['trials']} flops {s['flops']:.4g} seconds {s['seconds']:.0f}\")"
}
jobs=()
IFS=';' read -ra list <<< "$variants"
for seed in $seeds; do for v in "${list[@]}"; do jobs+=("${v%%:*}|${v#*:}|$seed"); done; done
for job in "${jobs[@]}"; do
  IFS='|' read -r name body seed <<< "$job"
  while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done
  run_one "$name" "$body" "$seed" &
done
wait
