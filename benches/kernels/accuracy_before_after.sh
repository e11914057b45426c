#!/usr/bin/env bash
# The README's first training command with two builds of adjacent (before and after a change to
# the kernels), one seed at a time, the two runs side by side with one thread each: a change
# that reorders float sums must leave accuracy within the noise between seeds
# (BENCHMARKS.md "adjacent's kernels"). Prints "build seed valid_acc test_acc seconds".
# Usage: benches/kernels/accuracy_before_after.sh BEFORE_BIN AFTER_BIN OUT_DIR [SEEDS]
set -euo pipefail
before=$1
after=$2
out=$3
seeds=${4:-0 1 2 3 4 5}
cell='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
mkdir -p "$out"
one() {
  local build=$1 bin=$2 seed=$3
  rm -rf "${out:?}/$build-$seed"
  RAYON_NUM_THREADS=1 "$bin" train --arch "$cell" --channels 8 --cells 1 \
    --epochs 3 --seed "$seed" --out "$out/$build-$seed" > "$out/$build-$seed.log" 2>&1
  python3 -c "import json; r = json.load(open('$out/$build-$seed/result.json')); print('$build $seed', r['valid_acc'], r['test_acc'], round(r['seconds']))"
}
for seed in $seeds; do
  one before "$before" "$seed" &
  one after "$after" "$seed" &
  wait
done
