#!/usr/bin/env python3
"""Compares what two builds of adjacent wrote for the same runs (benches/refactor/same_behaviour.sh):
trials (ids, genotypes, parents, network hashes, accuracies, losses, FLOPs), the delivered model
(its tensors, bit for bit), summary.json's figures, the tabular benchmark's results and a
one-shot search's history and cell. Prints one line per run and exits 1 if anything differs.

The final phase's record is compared field by field under its new names: summary.json's `final`
was a record of its own (arch, trial, start) and is now a trial record (genotype, parent, inherit).
"""
import hashlib
import json
import struct
import sys
from pathlib import Path

# What may differ between two runs of one build: who ran a trial, and when and how long.
VOLATILE = {"worker", "asked_at", "finished_at", "seconds", "attempts"}


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def strip(record):
    return {k: v for k, v in record.items() if k not in VOLATILE}


def final_fields(record):
    """The final phase's record in one vocabulary, whichever build wrote it."""
    if record is None:
        return None
    if "arch" in record:  # the build before: a record of its own
        return {
            "genotype": record["arch"],
            "parent": record["trial"],
            "inherit": record["start"] == "weights" and record["trial"] is not None,
            **{k: record[k] for k in ("state", "reason", "images", "epochs", "flops", "lr",
                                      "span", "first_loss", "last_loss", "train_loss",
                                      "valid_acc", "params")},
        }
    return {
        "genotype": record["genotype"],
        "parent": record["parent"],
        "inherit": record["inherit"],
        **{k: record.get(k) for k in ("state", "reason", "images", "epochs", "flops", "lr",
                                      "span", "first_loss", "last_loss", "train_loss",
                                      "valid_acc", "params")},
    }


SUMMARY = ["strategy", "seed", "arch", "valid_acc", "test_acc", "params", "best_arch",
           "best_trial", "best_valid_acc", "final_skipped", "trials", "failed", "images", "flops",
           "search_flops", "budget_flops", "stopped", "train_images", "valid_images", "config"]


def sha(path):
    """A file's hash; for a safetensors file, of its tensors (names, shapes, bytes) alone: burn
    writes its header's metadata in a different order each run."""
    data = path.read_bytes()
    if path.suffix != ".safetensors":
        return hashlib.sha256(data).hexdigest()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    digest = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    digest.update(data[8 + n:])
    return digest.hexdigest()


def compare_search(a, b):
    problems = []
    ta, tb = records(a / "trials.jsonl"), records(b / "trials.jsonl")
    if len(ta) != len(tb):
        problems.append(f"{len(ta)} trials against {len(tb)}")
    for x, y in zip(ta, tb):
        if strip(x) != strip(y):
            keys = sorted(k for k in set(x) | set(y) - VOLATILE if x.get(k) != y.get(k))
            problems.append(f"trial {x.get('id')}: {', '.join(keys)}")
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    for key in SUMMARY:
        if sa.get(key) != sb.get(key):
            problems.append(f"summary {key}: {sa.get(key)} against {sb.get(key)}")
    if final_fields(sa.get("final")) != final_fields(sb.get("final")):
        problems.append(f"final: {final_fields(sa.get('final'))} against {final_fields(sb.get('final'))}")
    for f in ("best/model.safetensors", "best/arch.json", "best/result.json"):
        if sha(a / f) != sha(b / f):
            problems.append(f"{f} differs")
    n = len(ta)
    return problems, f"{n} trials, test {sa.get('test_acc')}, model {sha(a / 'best/model.safetensors')[:12]}"


def compare_bench(a, b):
    ja, jb = json.loads(a.read_text()), json.loads(b.read_text())
    for r in ja["results"] + jb["results"]:
        r.pop("seconds", None)
    problems = [] if ja == jb else ["bench results differ"]
    best = ", ".join(f"{r['strategy']} {r['mean']:.2f}" for r in ja["results"])
    return problems, best


def compare_oneshot(a, b):
    problems = []
    ha = [{k: v for k, v in r.items() if k != "seconds"} for r in records(a / "history.jsonl")]
    hb = [{k: v for k, v in r.items() if k != "seconds"} for r in records(b / "history.jsonl")]
    if ha != hb:
        problems.append("history differs")
    ra = json.loads((a / "result.json").read_text())
    rb = json.loads((b / "result.json").read_text())
    for key in ("arch", "table_valid_acc", "table_test_acc", "config"):
        if ra.get(key) != rb.get(key):
            problems.append(f"result {key}: {ra.get(key)} against {rb.get(key)}")
    for f in ("supernet.safetensors", "arch.json"):
        if sha(a / f) != sha(b / f):
            problems.append(f"{f} differs")
    return problems, f"cell {ra['arch']}"


def main():
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    failed = False
    for run in sorted(p.name for p in before.iterdir()):
        a, b = before / run, after / run
        if run.startswith("bench"):
            problems, what = compare_bench(a, b)
        elif run.startswith("oneshot"):
            problems, what = compare_oneshot(a, b)
        else:
            problems, what = compare_search(a, b)
        failed |= bool(problems)
        print(f"{run:24} {'identical' if not problems else 'DIFFERENT'}  ({what})")
        for p in problems:
            print(f"    {p}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
