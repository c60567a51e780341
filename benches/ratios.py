#!/usr/bin/env python3
"""Print each criterion benchmark as a ratio against the `baseline` of its group.

Run after `cargo bench`: every group under target/criterion that has a
`baseline` function gets one line per other function, with the mean time of
both (criterion's headline figure: the slope when it fitted one, else the
mean) and the ratio (function / baseline; below 1.0 means faster).
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def mean_ns(function_dir):
    """Criterion's headline estimate: the slope when it fitted one, else the mean."""
    estimates = function_dir / "new" / "estimates.json"
    if not estimates.is_file():
        return None
    data = json.loads(estimates.read_text())
    best = data.get("slope") or data["mean"]
    return best["point_estimate"]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.1f} ns"


if not root.is_dir():
    sys.exit(f"no criterion results under {root}: run `cargo bench` first")

for group in sorted(p for p in root.iterdir() if p.is_dir() and (p / "baseline").is_dir()):
    base = mean_ns(group / "baseline")
    if base is None:
        continue
    print(f"{group.name}: baseline {fmt(base)}")
    for function in sorted(p for p in group.iterdir() if p.is_dir() and p.name not in ("baseline", "report")):
        mean = mean_ns(function)
        if mean is not None:
            print(f"  {function.name:<24} {fmt(mean):>10}  {mean / base:6.2f}x baseline")
