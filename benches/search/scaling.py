#!/usr/bin/env python3
"""Tables and plots what benches/search/scaling.sh has landed: for each budget (a column's folder)
and strategy, the final test and validation accuracy (mean +- std over seeds, n-1), the delivered
networks (params, cells a stage, width, the morphisms along the main line that made them, and a
peak learning rate the search chose), and the
ladder of fixed networks; then an SVG of test accuracy against budget (log scale).

Usage: benches/search/scaling.py OUT [PLOT.svg [NAME,NAME,...]]
(the names, when given, are the strategies and ladder rungs the plot shows; the tables show all)
"""
import json
import math
import statistics
import sys
from pathlib import Path


def load(run):
    summary = json.loads((run / "summary.json").read_text())
    trials = {}
    path = run / "trials.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                t = json.loads(line)
                trials[t["id"]] = t
    return summary, trials


def morphisms(summary, trials):
    """The moves along the delivered network's line of parents, oldest first."""
    moves = []
    node = summary.get("final") or {}
    parent = node.get("parent")
    while parent is not None and parent in trials:
        t = trials[parent]
        m = t.get("mutation")
        if isinstance(m, dict) and "move" in m:
            mv = m["move"]
            moves.append(
                mv["kind"]
                + (f" +{mv['cells']} cells" if "cells" in mv else "")
                + (f" {mv['channels']}" if "channels" in mv else "")
            )
        parent = t.get("parent")
    return list(reversed(moves))


def mean_std(values):
    if not values:
        return None
    m = statistics.mean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return m, s


def fmt(ms):
    return "-" if ms is None else f"{ms[0]:.2f} +- {ms[1]:.2f}"


def main():
    out = Path(sys.argv[1])
    plot = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    series = {}  # strategy -> [(tflops, mean, std)]
    columns = []
    for column in (p for p in out.iterdir() if p.is_dir()):
        runs = {}
        for run in sorted(column.iterdir()):
            if not (run / "summary.json").exists():
                continue
            name, _, seed = run.name.rpartition("-")
            runs.setdefault(name, []).append((int(seed), *load(run)))
        if runs:
            budget = next(s["budget_flops"] for r in runs.values() for _, s, _ in r)
            columns.append((budget, column, runs))
    for budget, column, runs in sorted(columns, key=lambda c: c[0]):
        print(f"\n### {column.name}: {budget / 1e12:.3f} TFLOPs\n")
        print("| strategy | seeds | test (%) | final valid (%) | test by seed | delivered networks (params, cells a stage, width, morphisms) |")
        print("|---|---|---|---|---|---|")
        for name, rs in sorted(runs.items()):
            rs.sort()
            tests = [s["test_acc"] for _, s, _ in rs if s.get("test_acc") is not None]
            valids = [s["valid_acc"] for _, s, _ in rs if s.get("valid_acc") is not None]
            nets = []
            for _, s, t in rs:
                arch = s.get("arch") or {}
                cells = [len(stage) for stage in arch.get("stages", [])]
                moves = ", ".join(morphisms(s, t)) or "none"
                final = s.get("final") or {}
                # A peak learning rate the search chose (`rates`), when not the recipe's.
                lr = f" / lr {final['lr']:g}" if final.get("lr_scale", 1.0) != 1.0 else ""
                nets.append(f"{s.get('params')} / {cells} / C={arch.get('channels')} / {moves}{lr}")
            by_seed = " / ".join(f"{s['test_acc']:.2f}" for _, s, _ in rs)
            print(f"| {name} | {len(rs)} | {fmt(mean_std(tests))} | {fmt(mean_std(valids))} | {by_seed} | {'; '.join(nets)} |")
            if tests:
                m, sd = mean_std(tests)
                series.setdefault(name, []).append((budget / 1e12, m, sd))
    if plot:
        if len(sys.argv) > 3:
            shown = sys.argv[3].split(",")
            series = {k: v for k, v in series.items() if k in shown}
        svg(plot, series)
        print(f"\nplot written to {plot}")


COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
          "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#e7ba52"]


def svg(path, series):
    """Test accuracy against budget (log scale): a line per strategy, error bars of one std."""
    w, h, left, right, top, bottom = 760, 480, 70, 220, 30, 50
    points = [p for s in series.values() for p in s]
    xs = [math.log10(p[0]) for p in points]
    ys = [v for p in points for v in (p[1] - p[2], p[1] + p[2])]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys))
    if y1 - y0 < 1:
        y1 = y0 + 1
    X = lambda x: left + (math.log10(x) - x0) / (x1 - x0) * (w - left - right)
    Y = lambda y: top + (y1 - y) / (y1 - y0) * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="14">Final test accuracy against budget (mean +- std over seeds)</text>']
    for y in range(y0, y1 + 1):
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{Y(y)}" y2="{Y(y)}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{Y(y) + 4}" text-anchor="end">{y}</text>')
    for b in sorted({p[0] for p in points}):
        out.append(f'<line x1="{X(b)}" x2="{X(b)}" y1="{top}" y2="{h - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{X(b)}" y="{h - bottom + 16}" text-anchor="middle">{b:.3g}</text>')
    out.append(f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">budget (TFLOPs, log scale)</text>')
    out.append(f'<text x="16" y="{(top + h - bottom) / 2}" transform="rotate(-90 16 {(top + h - bottom) / 2})" text-anchor="middle">test accuracy (%)</text>')
    for i, (name, pts) in enumerate(sorted(series.items())):
        pts.sort()
        c = COLORS[i % len(COLORS)]
        if len(pts) > 1:
            d = " ".join(f"{X(x)},{Y(m)}" for x, m, _ in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, m, s in pts:
            out.append(f'<line x1="{X(x)}" x2="{X(x)}" y1="{Y(m - s)}" y2="{Y(m + s)}" stroke="{c}"/>')
            out.append(f'<circle cx="{X(x)}" cy="{Y(m)}" r="4" fill="{c}"/>')
        ly = top + 16 * i + 10
        out.append(f'<rect x="{w - right + 15}" y="{ly - 8}" width="12" height="4" fill="{c}"/>')
        out.append(f'<text x="{w - right + 32}" y="{ly}">{name}</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
