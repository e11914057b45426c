#!/usr/bin/env python3
"""Tables what benches/preadapt/pairs.sh has landed for one task pair: the first searches, then for
each budget (epochs of the second task's control) and strategy the final test accuracy (mean +- std
over seeds, n-1, and each seed), the old task's test accuracy with the old head (what was
forgotten), which start the pre-adapted search delivered from, and the targets: pre-adapted
against the better of fine-tuning and the search from scratch, and pre-adapted at a quarter of a
budget against the search from scratch at the whole of it.

Usage: benches/preadapt/pairs.py OUT
"""
import json
import statistics
import sys
from pathlib import Path

STRATEGIES = ["fixed", "finetune", "adjacent", "preadapted"]


def mean_sd(values):
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def origin(run):
    """Where the delivered network's line starts (an adapted network's origin, or scratch) and its
    width there and as delivered."""
    trials = {}
    path = run / "trials.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                t = json.loads(line)
                trials[t["id"]] = t
    node = json.loads((run / "summary.json").read_text()).get("final") or {}
    delivered = node.get("genotype", {}).get("channels")
    while True:
        if node.get("origin"):
            start = "adapted " + node["origin"]["from"].split("/")[-1]
            break
        parent = node.get("parent")
        if parent is None or parent not in trials:
            start = "scratch"
            break
        node = trials[parent]
    width = node.get("genotype", {}).get("channels")
    if width == delivered:
        return f"{start} C={width}"
    return f"{start} C={width} -> {delivered}"


def main():
    out = Path(sys.argv[1])
    firsts = sorted(out.glob("first-*/summary.json"))
    print("First searches (first task, 1 epoch of its control):")
    for f in firsts:
        s = json.loads(f.read_text())
        print(f"  {f.parent.name}: test {s['test_acc']:.2f}, {s['params']} params")
    columns = sorted(
        (d for d in out.iterdir() if d.is_dir() and d.name.endswith("ep")),
        key=lambda d: float(d.name[:-2]),
    )
    means = {}
    for col in columns:
        print(f"\n{col.name} of the control:")
        print("| strategy | test (%) | seeds | old task, old head (%) | delivered from |")
        print("|---|---|---|---|---|")
        for name in STRATEGIES:
            runs = sorted(col.glob(f"{name}-*/summary.json"))
            tests, olds, froms = [], [], []
            for r in runs:
                s = json.loads(r.read_text())
                tests.append(s["test_acc"])
                old = r.parent / "old_head.txt"
                if old.exists() and old.read_text().strip() not in ("", "-"):
                    olds.append(float(old.read_text()))
                if name == "preadapted":
                    froms.append(origin(r.parent))
            if not tests:
                continue
            means[(col.name, name)] = statistics.mean(tests)
            seeds = " / ".join(f"{t:.2f}" for t in tests)
            print(
                f"| {name} | {mean_sd(tests)} | {seeds} | {mean_sd(olds)} | "
                f"{', '.join(froms) if froms else ''} |"
            )
    print("\nPre-adapted minus fine-tuning, paired by seed:")
    for col in columns:
        pairs = []
        for r in sorted(col.glob("preadapted-*/summary.json")):
            tuned = col / r.parent.name.replace("preadapted", "finetune") / "summary.json"
            if tuned.exists():
                a = json.loads(r.read_text())["test_acc"]
                b = json.loads(tuned.read_text())["test_acc"]
                pairs.append(a - b)
        if pairs:
            each = " / ".join(f"{d:+.2f}" for d in pairs)
            print(f"  {col.name}: {each} (mean {mean_sd(pairs)})")
    print("\nTargets:")
    for col in columns:
        c = col.name
        if (c, "preadapted") in means:
            rivals = [means[(c, s)] for s in ("finetune", "adjacent") if (c, s) in means]
            if rivals:
                margin = means[(c, "preadapted")] - max(rivals)
                print(f"  {c}: pre-adapted - max(fine-tuning, adjacent) = {margin:+.2f} (target +0.50)")
    for col in columns:
        quarter = f"{float(col.name[:-2]) / 4:g}ep"
        if (quarter, "preadapted") in means and (col.name, "adjacent") in means:
            gap = means[(quarter, "preadapted")] - means[(col.name, "adjacent")]
            print(f"  pre-adapted at {quarter} - adjacent at {col.name} = {gap:+.2f} (target >= 0)")


if __name__ == "__main__":
    main()
