#!/usr/bin/env bash
# Budget scaling (issue 23): the control (`fixed`), the default before issue 23 (`nogrowth`:
# `adjacent` with `epochs = 0, random_starts = 3`), `asha` and `adjacent` (its defaults) at several
# budgets of the control's compute, and a ladder of fixed networks (the README's cell at C = 4, 8, 16 with
# N = 1, and C = 8 with N = 2) at the budgets that ask for it. Two runs at a time, one thread each
# (PARALLEL=n for n). Finished runs (their summary.json) are kept, so it resumes after a kill
# (once the killed driver's runs have ended: it refuses to start while they hold OUT's lock);
# benches/search/scaling.py OUT then tables and plots what has landed.
#
# Usage: benches/search/scaling.sh OUT COLUMN...
#   a column is NAME:BUDGET_FLOPS:SUBSET:SEEDS:LADDER_SEEDS, e.g.
#     1ep:1.384T:full:0,1,2:                 (1 epoch of the control on full Fashion-MNIST)
#     4ep:5.386T:full:0,1,2:0,1
#     16ep:7.132T:20000:0,1,2:0,1            (16 epochs of a 20,000-image subset)
#   DATA (default ../shared/data/fashion-mnist), LADDER (default "4:1 16:1 8:2": C:N pairs) and
#   STRATEGIES (default "fixed nogrowth asha adjacent") can be set in the environment; a strategy
#   NAME with a settings file OUT/NAME.toml is `adjacent` with those settings (the script writes
#   nogrowth.toml; add others to compare). LATEST=HH:MM starts no run after that time of day
#   (the runs not started are listed, and a later call with the same arguments runs them), so
#   that a machine lent for a while ends with finished runs only.
set -euo pipefail
out=${1:?an output folder}; shift
data=${DATA:-../shared/data/fashion-mnist}
strategies=${STRATEGIES:-fixed nogrowth asha adjacent}
bin=${ADJACENT:-target/release/adjacent}
parallel=${PARALLEL:-2}
ladder=${LADDER:-4:1 16:1 8:2}
latest=${LATEST:-}
[[ -z $latest || $latest =~ ^[0-2][0-9]:[0-5][0-9]$ ]] || { echo "scaling.sh: LATEST must be HH:MM, got '$latest'" >&2; exit 2; }
cell='|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'
mkdir -p "$out"
# One driver an OUT: a second would delete the first one's runs in flight (a run folder without
# its summary.json is taken for a killed run and started again). The lock is inherited by the runs,
# so it is held until the last of them ends, even if this script is killed before.
exec 9> "$out/.scaling.lock"
flock -n 9 || { echo "scaling.sh: another driver (or its runs) holds $out/.scaling.lock; wait for it to end" >&2; exit 1; }
printf '[adjacent]\nepochs = 0\nrandom_starts = 3\n' > "$out/nogrowth.toml"

run() {
  local dir=$1; shift
  [[ -e $dir/summary.json ]] && return 0
  while (( $(jobs -rp | wc -l) >= parallel )); do wait -n || true; done
  if [[ -n $latest && $(date +%H:%M) > $latest ]]; then
    echo "$(date +%T) not started $dir (past LATEST=$latest)"
    return 0
  fi
  rm -rf "$dir"
  (
    RAYON_NUM_THREADS=1 "$bin" search --data "$data" "$@" --out "$dir" > "$dir.log" 2>&1 \
      && echo "$(date +%T) done $dir: $(tail -n 1 "$dir.log")" \
      || echo "$(date +%T) FAILED $dir (see $dir.log)"
  ) &
}

for column in "$@"; do
  IFS=: read -r name budget subset seeds ladder_seeds <<< "$column"
  mkdir -p "$out/$name"
  sub=(); [[ $subset != full ]] && sub=(--subset "$subset")
  for seed in ${seeds//,/ }; do
    for strategy in $strategies; do
      case $strategy in
        fixed) args=(--strategy fixed --arch "$cell" --channels 8 --cells 1) ;;
        *) if [[ -e $out/$strategy.toml ]]; then
             args=(--strategy adjacent --config "$out/$strategy.toml")
           else
             args=(--strategy "$strategy")
           fi ;;
      esac
      run "$out/$name/$strategy-$seed" "${sub[@]}" "${args[@]}" --seed "$seed" --budget-flops "$budget"
    done
  done
  for seed in ${ladder_seeds//,/ }; do
    for net in $ladder; do
      c=${net%:*}; n=${net#*:}
      run "$out/$name/ladder-c$c-n$n-$seed" "${sub[@]}" --strategy fixed --arch "$cell" \
        --channels "$c" --cells "$n" --seed "$seed" --budget-flops "$budget"
    done
  done
done
wait
