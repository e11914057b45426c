#!/usr/bin/env bash
# Two builds of the throughput bench, interleaved: BEFORE, AFTER, BEFORE, AFTER, ... on one case,
# each run with PyTorch in it (so that every ratio has its own control). Build each binary at its
# commit first, e.g.:
#   git worktree add /tmp/before REV && (cd /tmp/before && cargo bench -p adjacent-nn --bench throughput --no-run)
#   cp "$(ls -t /tmp/before/target/release/deps/throughput-* | grep -v '\.d$' | head -1)" /tmp/tp_before
# Usage: benches/kernels/before_after.sh BEFORE_BIN AFTER_BIN [CASE] [THREADS] [PAIRS]
set -euo pipefail
before=$1
after=$2
case=${3:-nb201-C16-N5-32x32x3}
threads=${4:-2}
pairs=${5:-3}
export PATH=/work/torchvenv/bin:$PATH
for r in $(seq "$pairs"); do
  for b in before after; do
    bin=$before; [[ $b == after ]] && bin=$after
    echo "== $b round $r"
    "$bin" --only "$case" --threads "$threads" --rounds 3 --no-baseline 2>&1 | grep "^$case"
  done
done
