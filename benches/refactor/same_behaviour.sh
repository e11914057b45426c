#!/usr/bin/env bash
# Runs the same searches with two builds of adjacent and compares what they wrote (trials, network
# hashes, accuracies, FLOPs, the delivered model bit for bit, the tabular benchmark, a one-shot
# search). For refactorings that must change no behaviour.
#
#   benches/refactor/same_behaviour.sh BEFORE_BINARY AFTER_BINARY OUT
#
# Every run uses one thread (RAYON_NUM_THREADS=1); the two builds run side by side. About 10
# minutes on 2 cores.
set -euo pipefail
before=${1:?the binary before}
after=${2:?the binary after}
out=${3:?an output folder}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/before" "$out/after"
export RAYON_NUM_THREADS=1
cell='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
data=(--subset 2000 --valid 500)

runs() {
    local bin=$1 dir=$2
    for seed in 0 1; do
        for strategy in adjacent asha evolution; do
            "$bin" search "${data[@]}" --strategy "$strategy" --seed "$seed" \
                --budget-flops 2e11 --out "$dir/$strategy-$seed" 2>/dev/null >/dev/null
        done
        "$bin" search "${data[@]}" --strategy fixed --arch "$cell" --channels 8 --seed "$seed" \
            --budget-flops 2e11 --out "$dir/fixed-$seed" 2>/dev/null >/dev/null
    done
    "$bin" bench --strategy all --queries 100 --runs 200 --json "$dir/bench.json" >/dev/null
    "$bin" oneshot --method gdas --subset 2000 --channels 8 --cells 1 --epochs 2 \
        --out "$dir/oneshot-gdas" 2>/dev/null >/dev/null
}

started=$(date +%s)
runs "$before" "$out/before" &
runs "$after" "$out/after"
wait
echo "ran in $(( $(date +%s) - started )) s"
python3 "$here/compare.py" "$out/before" "$out/after"
