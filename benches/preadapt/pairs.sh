#!/usr/bin/env bash
# Pre-adaptation (issue 24): for a task pair, a default `adjacent search` on the first task (1 epoch
# of its control), then on the second task, at each budget and seed: `fixed` from scratch (the
# README's cell, C=8, N=1), `fixed --from` (fine-tuning the first winner), `adjacent` from scratch
# and `adjacent --from` (pre-adapted); after each run from the first search, the old task's test
# accuracy with the old head (what was forgotten). Runs PARALLEL (default 2) at a time, one thread
# each; finished runs (their summary.json) are kept, so it resumes after a kill;
# benches/preadapt/pairs.py OUT tables what has landed.
#
# Usage: benches/preadapt/pairs.sh OUT PAIR BUDGETS SEEDS
#   PAIR: fmnist (Fashion-MNIST classes 0-4 -> 5-9), cifar (CIFAR-10 vehicles -> animals),
#         grey2colour (Fashion-MNIST -> CIFAR-10) or tops (Fashion-MNIST trouser, dress, sandal,
#         sneaker, bag, ankle boot -> T-shirt, pullover, coat, shirt: the classes most alike, a
#         task with room between settings), cifar-rev (CIFAR-10 animals -> vehicles, pair 2
#         reversed), cifar-halves (CIFAR-10 classes 0-4 -> 5-9) or tops-rev (Fashion-MNIST
#         T-shirt, pullover, coat, shirt -> the other six, tops reversed); BUDGETS: epochs of the
#         second task's control,
#         e.g. "1 4"; SEEDS: e.g. "0 1 2".
#   FMNIST (default ../shared/data/fashion-mnist), CIFAR (default /tmp/cifar, the
#   ImageFolder layout unpacked from ../shared/data/cifar10/cifar10-jpg.tar.gz), ADJACENT (the
#   binary) and STRATEGIES (default "fixed finetune adjacent preadapted") can be set in the
#   environment; SETTINGS, a settings file, is given to the `preadapted` runs.
#
# Budgets are epochs of the control's compute on the task's own images: E x train x 3 x F plus one
# validation, with F the control's forward multiply-adds per image (8,235,466 at 28x28 grey,
# 10,907,000 at 32x32 colour, as the earlier benchmarks counted them) and a 10% validation split.
set -euo pipefail
out=${1:?an output folder}; pair=${2:?a pair}; budgets=${3:?budgets in epochs}; seeds=${4:?seeds}
bin=${ADJACENT:-target/release/adjacent}
parallel=${PARALLEL:-2}
fmnist=${FMNIST:-../shared/data/fashion-mnist}
cifar=${CIFAR:-/tmp/cifar}
strategies=${STRATEGIES:-fixed finetune adjacent preadapted}
preadapted=()
[[ -n ${SETTINGS:-} ]] && preadapted=(--config "$SETTINGS")
cell='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
case $pair in
  fmnist) first=("$fmnist" "0-4" 30000 8235466); second=("$fmnist" "5-9" 30000 8235466) ;;
  cifar) first=("$cifar" "airplane,automobile,ship,truck" 20000 10907000)
         second=("$cifar" "bird,cat,deer,dog,frog,horse" 30000 10907000) ;;
  grey2colour) first=("$fmnist" "" 60000 8235466); second=("$cifar" "" 50000 10907000) ;;
  tops) first=("$fmnist" "1,3,5,7,8,9" 36000 8235466); second=("$fmnist" "0,2,4,6" 24000 8235466) ;;
  cifar-rev) first=("$cifar" "bird,cat,deer,dog,frog,horse" 30000 10907000)
             second=("$cifar" "airplane,automobile,ship,truck" 20000 10907000) ;;
  cifar-halves) first=("$cifar" "0-4" 25000 10907000); second=("$cifar" "5-9" 25000 10907000) ;;
  tops-rev) first=("$fmnist" "0,2,4,6" 24000 8235466); second=("$fmnist" "1,3,5,7,8,9" 36000 8235466) ;;
  *) echo "unknown pair $pair (fmnist, cifar, grey2colour, tops, cifar-rev, cifar-halves, tops-rev)" >&2; exit 2 ;;
esac
mkdir -p "$out"

# FLOPs of E epochs of the control on a task of N training images (before the validation split).
flops() { python3 -c "n=$2; v=round(n*0.1); print(int(($1*(n-v)*3+v)*$3))"; }

run() {
  local dir=$1; shift
  [[ -e $dir/summary.json ]] && return 0
  rm -rf "$dir"
  while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done
  (
    RAYON_NUM_THREADS=1 "$bin" search "$@" --out "$dir" > "$dir.log" 2>&1 \
      && echo "$(date +%T) done $dir: $(tail -n 1 "$dir.log")" \
      || echo "$(date +%T) FAILED $dir (see $dir.log)"
  ) &
}

# The old task's test accuracy with the old head of a run's delivered model ("-" when it has none).
old_head() {
  local dir=$1
  [[ -e $dir/old_head.txt ]] && return 0
  { RAYON_NUM_THREADS=1 "$bin" eval --model "$dir/best" --head old --data "${first[0]}" \
      ${first[1]:+--classes "${first[1]}"} 2>/dev/null | grep -o 'test accuracy [0-9.]*' \
      | awk '{print $3}' || echo "-"; } > "$dir/old_head.txt"
}

classes() { if [[ -n $1 ]]; then echo "--classes $1"; fi; }

for seed in $seeds; do
  # shellcheck disable=SC2046
  run "$out/first-$seed" --data "${first[0]}" $(classes "${first[1]}") --seed "$seed" \
    --budget-flops "$(flops 1 "${first[2]}" "${first[3]}")"
done
wait
for budget in $budgets; do
  b=$(flops "$budget" "${second[2]}" "${second[3]}")
  mkdir -p "$out/${budget}ep"
  for seed in $seeds; do
    from=$out/first-$seed
    common=(--data "${second[0]}" --seed "$seed" --budget-flops "$b")
    [[ -n ${second[1]} ]] && common+=(--classes "${second[1]}")
    for s in $strategies; do
      case $s in
        fixed) args=(--strategy fixed --arch "$cell" --channels 8 --cells 1) ;;
        finetune) args=(--strategy fixed --from "$from") ;;
        adjacent) args=() ;;
        preadapted) args=(--from "$from" "${preadapted[@]}") ;;
        *) echo "unknown strategy $s" >&2; exit 2 ;;
      esac
      run "$out/${budget}ep/$s-$seed" "${common[@]}" "${args[@]}"
    done
  done
done
wait
for budget in $budgets; do
  for seed in $seeds; do
    for s in finetune preadapted; do
      [[ -e $out/${budget}ep/$s-$seed/best ]] && old_head "$out/${budget}ep/$s-$seed"
    done
  done
done
echo "$(date +%T) all done"
