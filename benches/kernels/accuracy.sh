#!/usr/bin/env bash
# The README's first training command with adjacent's kernels and with burn's (ADJACENT_KERNELS=burn),
# the same binary, one seed at a time, the two runs side by side with one thread each
# (BENCHMARKS.md "Accuracy with the kernels"). Prints "kernels seed valid_acc test_acc seconds".
# Usage: benches/kernels/accuracy.sh OUT_DIR [SEEDS]
set -euo pipefail
out=$1
seeds=${2:-0 1 2 3 4 5}
bin=${ADJACENT:-target/release/adjacent}
cell='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
mkdir -p "$out"
one() {
  local kernels=$1 seed=$2 env=()
  [[ $kernels == burn ]] && env=(ADJACENT_KERNELS=burn)
  rm -rf "${out:?}/$kernels-$seed"
  env RAYON_NUM_THREADS=1 "${env[@]}" "$bin" train --arch "$cell" --channels 8 --cells 1 \
    --epochs 3 --seed "$seed" --out "$out/$kernels-$seed" > "$out/$kernels-$seed.log" 2>&1
  python3 -c "import json; r = json.load(open('$out/$kernels-$seed/result.json')); print('$kernels $seed', r['valid_acc'], r['test_acc'], round(r['seconds']))"
}
for seed in $seeds; do
  one adjacent "$seed" &
  one burn "$seed" &
  wait
done
