#!/usr/bin/env python3
"""Compares two `sharedvis explain` output folders: results.json value for value (less the
run's timings, and with --ignore-batching the batch and thread choices and the count of
forward passes they led to), every other file byte for byte; index.html, which shows the
timings, is left out. Prints each difference; exit 0 when equal, 1 when not.

    tests/compare_outputs.py A B [--ignore-batching] [--min-files N]

Used by tests/slurm/test_explain.sh (a sharded run against one process) and
bench/explain_batch_invariance.sh (--max-batch 64 against 1)."""
import argparse
import json
import os
import sys


def results(d, ignore_batching):
    with open(os.path.join(d, "results.json")) as f:
        j = json.load(f)
    j.pop("timing_seconds", None)
    if ignore_batching:
        j.get("inputs", {}).get("backprop", {}).pop("forward_batches", None)
        for k in ("max_batch", "feature_batch", "threads"):
            j.get("choices", {}).pop(k, None)
    return j


def diff(x, y, path=""):
    if type(x) is not type(y):
        return [path or "/"]
    if isinstance(x, dict):
        out = [f"{path}/{k}" for k in sorted(set(x) ^ set(y))]
        for k in sorted(set(x) & set(y)):
            out += diff(x[k], y[k], f"{path}/{k}")
        return out
    if isinstance(x, list):
        if len(x) != len(y):
            return [f"{path} (length {len(x)} vs {len(y)})"]
        out = []
        for i, (u, v) in enumerate(zip(x, y)):
            out += diff(u, v, f"{path}/{i}")
        return out
    return [] if x == y else [path or "/"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--ignore-batching", action="store_true")
    p.add_argument("--min-files", type=int, default=1, help="fewer files compared is a failure")
    o = p.parse_args()
    bad = [f"results.json differs at {d}" for d in diff(results(o.a, o.ignore_batching), results(o.b, o.ignore_batching))]
    files = 0
    for root, _, names in os.walk(o.a):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), o.a)
            if rel in ("results.json", "index.html"):
                continue
            other = os.path.join(o.b, rel)
            if not os.path.exists(other):
                bad.append(f"{rel}: missing in {o.b}")
                continue
            with open(os.path.join(o.a, rel), "rb") as f, open(other, "rb") as g:
                if f.read() != g.read():
                    bad.append(f"{rel} differs")
            files += 1
    for line in bad[:20]:
        print(line)
    print(f"{files} files compared, results.json {'equal' if not any(b.startswith('results') for b in bad) else 'differs'}"
          f" (timings{', batching' if o.ignore_batching else ''} left out); {len(bad)} differences")
    if files < o.min_files:
        print(f"only {files} files compared, expected at least {o.min_files}")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
