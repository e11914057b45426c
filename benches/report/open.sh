#!/usr/bin/env bash
# How large the HTML report of a 500-trial study is and how long headless Chromium takes to open
# and draw it, against the same browser opening an empty page (the baseline, in the same script:
# these machines are shared and noisy). Usage: benches/report/open.sh OUT [TRIALS] [RUNS]
# Needs the release binary (cargo build --release) and Chromium (.ci/chromium.sh installs it).
set -euo pipefail
out=${1:?an output folder}
trials=${2:-500}
runs=${3:-5}
bin=${ADJACENT:-target/release/adjacent}
mkdir -p "$out"
rm -rf "$out/table" "$out/report.html"
"$bin" search --table data/nb201_cifar10.csv.gz --strategy evolution --trials "$trials" \
    --out "$out/table" > "$out/search.log" 2>&1
"$bin" report --html "$out/report.html" "$out/table" > /dev/null 2> "$out/report.log"
printf '<!DOCTYPE html><html><body>empty</body></html>\n' > "$out/empty.html"

# Seconds to load a page and dump its DOM (scripts run before the dump); prints the DOM too.
open_page() {
    local start end
    start=$(date +%s.%N)
    chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$out/profile" --window-size=1400,2200 --dump-dom "file://$1" \
        > "$out/dom.html" 2> /dev/null
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }

open_page "$out/empty.html" > /dev/null   # the first start fills the profile
empty=(); report=(); drawn=()
for _ in $(seq "$runs"); do
    empty+=("$(open_page "$out/empty.html")")
    report+=("$(open_page "$out/report.html")")
    grep -q 'data-renders="1"' "$out/dom.html" || { echo "the report did not render" >&2; exit 1; }
    drawn+=("$(grep -o 'data-render-ms="[0-9]*"' "$out/dom.html" | grep -o '[0-9]*')")
done
e=$(printf '%s\n' "${empty[@]}" | median)
r=$(printf '%s\n' "${report[@]}" | median)
d=$(printf '%s\n' "${drawn[@]}" | median)
size=$(stat -c %s "$out/report.html")
awk -v t="$trials" -v s="$size" -v n="$runs" -v e="$e" -v r="$r" -v d="$d" 'BEGIN {
    printf "report of %d trials: %d bytes (%.2f MiB)\n", t, s, s / 1048576
    printf "median of %d: empty page %.2f s, report %.2f s (ratio %.2f, the report adds %.2f s); the page'"'"'s own drawing %d ms\n", n, e, r, r / e, r - e, d
}'
