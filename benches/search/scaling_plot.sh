#!/usr/bin/env bash
# The plot of issue 23 (docs/search_scaling.svg) from the committed run folders: 1 and 4 epochs from
# 16ca689's (g4e at 4 from its own), 16 epochs of the full set from scaling-16full.
cd "$(dirname "$0")/../.."
r=benches/search/results
t=$(mktemp -d)
mkdir -p $t/1ep $t/4ep $t/16full
for d in $r/scaling-16ca689/1ep/*/; do ln -s $PWD/$d $t/1ep/$(basename $d); done
for d in $r/scaling-16ca689/4ep/*/ $r/scaling-g4e/4ep/*/; do ln -s $PWD/$d $t/4ep/$(basename $d); done
for d in $r/scaling-16full/16full/*/; do ln -s $PWD/$d $t/16full/$(basename $d); done
python3 benches/search/scaling.py $t docs/search_scaling.svg
