#!/usr/bin/env bash
# The bridge from one-shot search to the adjacent possible (BENCHMARKS.md "One-shot search"):
# at equal wall time on one thread, `adjacent search` from its own start against a one-shot
# search (rsws) followed by `adjacent search --arch CELL` grown from the cell it returned, with
# what the one-shot search took subtracted from the second search's budget. The two arms of a seed
# run side by side (one thread each), so that they share the machine's conditions.
# (This measured the `--start DIR` flag of 2a82c0e, which was --arch with that cell; it did not
# beat the plain search and was reverted.)
# Usage: benches/oneshot/bridge.sh OUT_DIR [MINUTES] [DATA] [SEEDS]
set -euo pipefail
out=$1
minutes=${2:-5}
data=${3:-../shared/data/fashion-mnist}
seeds=${4:-0 1 2}
bin=${ADJACENT:-target/release/adjacent}
mkdir -p "$out"
plain() {
  local seed=$1
  RAYON_NUM_THREADS=1 "$bin" search --data "$data" --seed "$seed" --budget-minutes "$minutes" \
    --out "$out/adjacent-$seed" > "$out/adjacent-$seed.log" 2>&1
}
bridged() {
  local seed=$1
  RAYON_NUM_THREADS=1 "$bin" oneshot --method rsws --data "$data" --channels 8 --cells 1 \
    --subset 6000 --epochs 4 --seed "$seed" --out "$out/rsws-$seed" > "$out/rsws-$seed.log" 2>&1
  # The minutes left after the one-shot search, and its cell (a cell string has no spaces).
  local left cell
  read -r left cell < <(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f'{$minutes - r[\"seconds\"] / 60:.3f}', r['arch'])" "$out/rsws-$seed/result.json")
  RAYON_NUM_THREADS=1 "$bin" search --data "$data" --seed "$seed" --budget-minutes "$left" \
    --arch "$cell" --out "$out/bridge-$seed" > "$out/bridge-$seed.log" 2>&1
}
for seed in $seeds; do
  [[ -e $out/adjacent-$seed/summary.json && -e $out/bridge-$seed/summary.json ]] && continue
  rm -rf "${out:?}/adjacent-$seed" "${out:?}/rsws-$seed" "${out:?}/bridge-$seed"
  plain "$seed" & bridged "$seed" & wait
  echo "$(date +%T) seed $seed done"
done
python3 - "$out" <<'PY'
import json, pathlib, statistics, sys
out = pathlib.Path(sys.argv[1])
rows = {"adjacent": [], "bridge": []}
for arm in rows:
    for f in sorted(out.glob(f"{arm}-*/summary.json")):
        s = json.load(open(f))
        extra = 0.0
        if arm == "bridge":
            extra = json.load(open(out / f"rsws-{s['seed']}" / "result.json"))["seconds"]
        rows[arm].append((s["seed"], s["test_acc"], s["seconds"] + extra, s["params"]))
print("| arm | test (%) per seed | mean +- std (n-1) | seconds per seed (one-shot included) | params |")
print("|---|---|---|---|---|")
for arm, rs in rows.items():
    if not rs:
        continue
    t = [r[1] for r in rs]
    sd = statistics.stdev(t) if len(t) > 1 else 0.0
    print(f"| {arm} | {' / '.join(f'{x:.2f}' for x in t)} | {statistics.mean(t):.2f} +- {sd:.2f} | {' / '.join(f'{r[2]:.0f}' for r in rs)} | {' / '.join(str(r[3]) for r in rs)} |")
PY
