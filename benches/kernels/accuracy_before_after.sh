#!/usr/bin/env bash
# The README's first training command with two builds of adjacent (before and after a change to
# the kernels), one seed at a time, the two runs side by side with one thread each: a change
# that reorders float sums must leave accuracy within the noise between seeds
# (BENCHMARKS.md "adjacent's kernels"). Prints "build seed valid_acc test_acc seconds", and for
# each seed how many of the saved model's tensors are bit for bit those of the build before.
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
# The tensors of two safetensors files compared by name (their headers' order may differ).
same_tensors() {
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header, data = json.loads(raw[8:8 + n]), raw[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
print(f"{sum(a[k] == b.get(k) for k in a)}/{len(a)} tensors bit for bit")
PY
}
for seed in $seeds; do
  one before "$before" "$seed" &
  one after "$after" "$seed" &
  wait
  echo "seed $seed: $(same_tensors "$out/before-$seed/model.safetensors" "$out/after-$seed/model.safetensors")"
done
