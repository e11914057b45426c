#!/usr/bin/env bash
# Trials claimed and completed per second by N worker processes on one study (the table as the
# evaluator: with no delay the storage is all that is measured; a delay stands in for training), on
# SQLite and, when ADJACENT_TEST_POSTGRES is set, on PostgreSQL; one worker on the same storage is
# the baseline the ratio is printed against.
# Usage: benches/study/workers.sh [TRIALS] [WORKERS] [DELAY_MS]
set -euo pipefail
cd "$(dirname "$0")/../.."
trials=${1:-2000}
workers=${2:-4}
delay=${3:-0}
bin=target/release/adjacent
[ -x "$bin" ] || cargo build --release -p adjacent >&2
table=data/nb201_cifar10.csv.gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One study of $trials trials with $1 processes (the search and $1 - 1 workers); prints seconds.
run() {
    local n=$1 storage=$2 name=$3
    local out=$tmp/$name
    local start end
    start=$(date +%s.%N)
    local extra=()
    [ -n "$storage" ] && extra=(--storage "$storage" --study "$name")
    "$bin" search --table "$table" --strategy random --trials "$trials" --delay-ms "$delay" \
        --out "$out" "${extra[@]}" \
        >/dev/null 2>"$tmp/$name.log" &
    local pids=($!)
    local url=$out/study.db study=search
    if [ -n "$storage" ]; then url=$storage; study=$name; fi
    for _ in $(seq 2 "$n"); do
        "$bin" worker --storage "$url" --study "$study" --wait 30 \
            >/dev/null 2>>"$tmp/$name.workers.log" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { cat "$tmp"/*.log >&2; exit 1; }; done
    end=$(date +%s.%N)
    local done_trials
    done_trials=$(wc -l < "$out/trials.jsonl")
    [ "$done_trials" = "$trials" ] || { echo "$name: $done_trials trials of $trials" >&2; exit 1; }
    awk "BEGIN { print $end - $start }"
}

report() {
    local label=$1 storage=$2 tag=$3
    local one many
    one=$(run 1 "$storage" "$tag-1-$$")
    many=$(run "$workers" "$storage" "$tag-$workers-$$")
    printf "%-11s 1 worker %7.1f trials/s   %d workers %7.1f trials/s   ratio %.2f\n" \
        "$label" "$(awk "BEGIN { print $trials / $one }")" "$workers" \
        "$(awk "BEGIN { print $trials / $many }")" "$(awk "BEGIN { print $one / $many }")"
}

echo "$trials trials of random search on the NAS-Bench-201 table, $delay ms a trial"
report SQLite "" sqlite
if [ -n "${ADJACENT_TEST_POSTGRES:-}" ]; then
    report PostgreSQL "$ADJACENT_TEST_POSTGRES" pg
fi
