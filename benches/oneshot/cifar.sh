#!/usr/bin/env bash
# The one-shot methods on CIFAR-10 (BENCHMARKS.md "One-shot search"): each method with settings
# sized for about 15 minutes on one thread (C=8, N=1 and a subset of the training images; full
# 32x32x3 resolution), two searches at a time with one thread each, every returned cell judged
# by the NAS-Bench-201 table (200-epoch CIFAR-10 test accuracy). Finished runs (result.json
# exists) are kept, so an interrupted experiment restarts where it stopped.
# Usage: benches/oneshot/cifar.sh OUT_DIR [METHODS] [SEEDS] [DATA]
# DATA defaults to /tmp/cifar, unpacked first:
#   mkdir -p /tmp/cifar && tar -xzf ../shared/data/cifar10/cifar10-jpg.tar.gz -C /tmp/cifar
set -euo pipefail
out=$1
methods=${2:-darts-pt gdas darts darts2 spos rsws enas}
seeds=${3:-0 1 2}
data=${4:-/tmp/cifar}
bin=${ADJACENT:-target/release/adjacent}
table=${TABLE:-data/nb201_cifar10.csv.gz}
parallel=${PARALLEL:-2}
# Settings per method: subset (halved into weights and architecture) and epochs, from each
# method's measured step cost (cargo bench -p adjacent-oneshot --bench oneshot).
# GDAS's architecture learning rate is the paper's 3e-4 scaled by its number of architecture
# steps over ours (250 epochs of 391 steps against 30 of 78: 42x, rounded down to 0.01): Adam
# moves each logit about lr per step, and at 3e-4 alpha stayed within 0.18-0.23 of uniform here.
# DARTS-PT: DARTS's subset; 20 epochs and 5 of fine-tuning (one after each edge but the last)
# cost about DARTS's 15 epochs of two weighted passes each; every removal is scored on the whole
# architecture half (2500 images). Fixed from the step cost before any run, not tuned on results.
settings() {
  case $1 in
    darts-pt) echo "--subset 5000 --epochs 20 --tune-epochs 1 --score-images 2500" ;;
    darts) echo "--subset 5000 --epochs 15" ;;
    darts2) echo "--subset 2000 --epochs 15" ;;
    gdas) echo "--subset 10000 --epochs 30 --arch-lr 0.01" ;;
    enas) echo "--subset 10000 --epochs 30" ;;
    spos|rsws) echo "--subset 10000 --epochs 50" ;;
  esac
}
mkdir -p "$out"
started=$(date +%s)
one() {
  local method=$1 seed=$2
  # shellcheck disable=SC2046
  RAYON_NUM_THREADS=1 "$bin" oneshot --method "$method" --data "$data" --channels 8 --cells 1 \
    --batch 64 --seed "$seed" $(settings "$method") --table "$table" --dataset cifar10 \
    --out "$out/$method-$seed" > "$out/$method-$seed.log" 2>&1 \
    && echo "$(date +%T) done $method $seed: $(grep '^table' "$out/$method-$seed.log")" \
    || echo "$(date +%T) FAILED $method $seed (see $out/$method-$seed.log)"
}
for seed in $seeds; do
  for method in $methods; do
    [[ -e $out/$method-$seed/result.json ]] && continue
    rm -rf "${out:?}/$method-$seed"
    while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done
    one "$method" "$seed" &
  done
done
wait
echo "all runs: $(( $(date +%s) - started )) s"
python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
rows = {}
for f in sorted(pathlib.Path(sys.argv[1]).glob("*-*/result.json")):
    r = json.load(open(f))
    rows.setdefault(r["method"], []).append((r["config"]["seed"], r["table_test_acc"], r["seconds"], r["arch"]))
print("| method | seeds | test (200 ep) per seed | mean +- std (n-1) | minutes per search |")
print("|---|---|---|---|---|")
for m, rs in rows.items():
    t = [x[1] for x in rs]
    sd = statistics.stdev(t) if len(t) > 1 else 0.0
    print(f"| {m} | {' '.join(str(x[0]) for x in rs)} | {' / '.join(f'{x:.2f}' for x in t)} | {statistics.mean(t):.2f} +- {sd:.2f} | {statistics.mean(x[2] for x in rs)/60:.1f} |")
for m, rs in rows.items():
    for s, t, _, a in rs:
        print(f"{m} seed {s}: {a} {t:.2f}")
PY
