#!/usr/bin/env bash
# Chooses the `adjacent` strategy's defaults by measurement on the built-in data (never the test
# set): each variant is one search with the same --budget-images; two run at a time, one thread
# each (PARALLEL=n runs n at a time). Prints one line per run: variant, seed, best validation
# accuracy, trials, seconds.
# Usage: benches/search/tune.sh OUT_DIR BUDGET_IMAGES SEEDS "name:toml-lines;name:toml-lines"
set -euo pipefail
out=$1; budget=$2; seeds=$3; variants=$4
bin=${ADJACENT:-target/release/adjacent}
parallel=${PARALLEL:-2}
mkdir -p "$out"
run_one() {
  local name=$1 body=$2 seed=$3
  local dir="$out/$name-s$seed"
  printf '%b\n' "$body" > "$out/$name.toml"
  RAYON_NUM_THREADS=1 "$bin" search --config "$out/$name.toml" --budget-images "$budget" \
    --seed "$seed" --out "$dir" > "$dir.log" 2>&1 || { echo "$name seed $seed failed"; return; }
  python3 -c "import json,sys; s=json.load(open('$dir/summary.json')); print(f\"$name seed $seed best_valid {s['best_valid_acc']:.2f} trials {s['trials']} seconds {s['seconds']:.0f} params {s['best_params']}\")"
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
