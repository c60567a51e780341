#!/usr/bin/env python3
"""Print each criterion benchmark as a ratio against the `baseline` of its group.

Run after `cargo bench`: every group under target/criterion that has a
`baseline` function gets one line per other function, with the mean time of
both (criterion's headline figure: the slope when it fitted one, else the
mean) and the ratio (function / baseline; below 1.0 means faster).

    python3 benches/ratios.py [--markdown] [CRITERION_DIR]

`--markdown` prints the same figures as one Markdown table instead (the one
in benches/README.md): bench target, group, function, time per iteration,
throughput, the baseline's time, the ratio, and on each group's `baseline`
row what that baseline is; groups
without a `baseline` function are listed after it. CRITERION_DIR defaults to
target/criterion.
"""
import json
import math
import pathlib
import re
import sys

# (bench target, group-name pattern, what the group's `baseline` is). The
# first match wins; the descriptions summarise each bench's module docs.
BASELINES = [
    ("store", r"get|commit_1_key|commit_1000_keys",
     "the same work on a bare `RwLock<BTreeMap>` (no versions, no preconditions)"),
    ("store", r"cas_2_threads",
     "the same optimistic increment loop on a bare versioned `RwLock<BTreeMap>`"),
    ("backends", r"redb_commit_\d+_keys", "the same rows straight into a redb table, one durable write transaction"),
    ("backends", r"redb_get", "a raw redb table read"),
    ("backends", r"pg_commit_\d+_keys", "one prepared `INSERT … ON CONFLICT DO UPDATE` over `unnest`, autocommit"),
    ("backends", r"pg_get", "a prepared `SELECT`"),
    ("backends", r"redis_commit_\d+_keys", "one `MSET` of the same keys and values"),
    ("backends", r"redis_get", "a plain `GET`"),
    ("backends", r"etcd_commit_\d+_keys", "one raw etcd `/v3/kv/txn` of the same puts, no compares"),
    ("backends", r"etcd_get", "a raw etcd range read"),
    ("channel", r"insert_state_update",
     "the bare signature check: keccak256 ×3 + secp256k1 key recovery, hand-written"),
    ("ilp", r"(decode|encode|roundtrip)_prepare_.*", "copying the packet's bytes into a preallocated buffer"),
    ("connector", r"forward_prepare", "codec only: decode BTP Message + Prepare, encode both"),
    ("connector", r"round_trip", "codec only: the forward's and the Fulfill's decode/encode"),
    ("market", r"reservation_cycle", "two bare optimistic MemStore transactions (read 2 keys, write/delete one record)"),
    ("market", r"find_.*", "`find_availability_by_scan`: every availability in id order until one matches"),
    ("market", r"marketplace_lifecycle", "the same 66 operations on the pure in-memory core (`ContractState`)"),
    ("ledger", r"batched|one_per_call", "one raw MemStore commit of the same writes, values pre-encoded"),
    ("ledger", r"two_phase", "the single-phase batch of 8,189 transfers"),
    ("ledger", r"redb_durable", "bare redb writing the ledger's bytes, one durable transaction per batch"),
    ("ledger", r"postgres", "naive SQL: 8 clients, one SQL transaction per transfer"),
    ("petri", r"petri_fire_octoe", "dense vector addition of the delta with a negativity check"),
    ("petri", r"petri_reachability_octoe", "plain BFS over a `HashSet<Vec<u32>>` with dense deltas"),
    ("petri", r"petri_dispatch_.*", "a `transact` reading one key and writing three values of a dispatch's sizes"),
]


def describe(group):
    """The bench target and baseline description for a group name."""
    for bench, pattern, what in BASELINES:
        if re.fullmatch(pattern, group):
            return bench, what
    return "?", "see the bench's module docs"


def load(function_dir):
    """Criterion's headline estimate (ns) and the declared throughput, or None."""
    estimates = function_dir / "new" / "estimates.json"
    if not estimates.is_file():
        return None
    data = json.loads(estimates.read_text())
    best = data.get("slope") or data["mean"]
    throughput = None
    meta = function_dir / "new" / "benchmark.json"
    if meta.is_file():
        declared = json.loads(meta.read_text()).get("throughput")
        if declared:
            ((unit, amount),) = declared.items()
            throughput = (unit, amount)
    return best["point_estimate"], throughput


def mean_ns(function_dir):
    """Criterion's headline estimate: the slope when it fitted one, else the mean."""
    found = load(function_dir)
    return None if found is None else found[0]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.1f} ns"


def fmt_ratio(ratio):
    """Two decimals, or two significant digits below 0.1 (0.0028, not 0.00)."""
    if ratio >= 0.1 or ratio <= 0:
        return f"{ratio:.2f}"
    return f"{ratio:.{1 - math.floor(math.log10(ratio))}f}"


def fmt_rate(ns, throughput):
    """Throughput per second, as criterion reports it (elements or bytes)."""
    if throughput is None:
        return "–"
    unit, amount = throughput
    per_second = amount * 1e9 / ns
    label = {"Elements": "elem/s", "Bytes": "B/s", "BytesDecimal": "B/s", "Bits": "bit/s"}.get(unit, unit + "/s")
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {prefix}{label}"
    return f"{per_second:.1f} {label}"


def natural(name):
    """Sort key that puts `x_100_keys` before `x_1000_keys`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def functions(group):
    return sorted(p for p in group.iterdir() if p.is_dir() and p.name not in ("baseline", "report"))


def plain(root):
    for group in sorted(p for p in root.iterdir() if p.is_dir() and (p / "baseline").is_dir()):
        base = mean_ns(group / "baseline")
        if base is None:
            continue
        print(f"{group.name}: baseline {fmt(base)}")
        for function in functions(group):
            mean = mean_ns(function)
            if mean is not None:
                print(f"  {function.name:<24} {fmt(mean):>10}  {mean / base:6.2f}x baseline")


def markdown(root):
    order = [bench for bench, _, _ in BASELINES]
    rows, without = [], []
    for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
        bench, what = describe(group.name)
        base = load(group / "baseline") if (group / "baseline").is_dir() else None
        if base is None:
            measured = [f.name for f in functions(group) if load(f) is not None]
            if measured:
                without.append((bench, group.name, measured))
            continue
        base_ns, base_tp = base
        entries = [("baseline", base)] + [(f.name, load(f)) for f in functions(group)]
        for name, found in entries:
            if found is None:
                continue
            ns, tp = found
            if name == "baseline":
                ratio = "1.00"
            else:
                ratio = fmt_ratio(ns / base_ns)
                # A different amount per iteration than the baseline's: the
                # per-iteration ratio compares unlike work, so add the
                # per-element one.
                if tp and base_tp and tp != base_tp and tp[0] == base_tp[0]:
                    ratio += f" (per element {fmt_ratio((ns / tp[1]) / (base_ns / base_tp[1]))})"
            rows.append((order.index(bench) if bench in order else len(order), bench, group.name,
                         name, fmt(ns), fmt_rate(ns, tp), fmt(base_ns), ratio,
                         what if name == "baseline" else ""))
    rows.sort(key=lambda row: (row[0], natural(row[2]), row[3] != "baseline", row[3]))
    print("| bench | group | function | time/iter | throughput | baseline time/iter | ratio | the baseline is |")
    print("|---|---|---|--:|--:|--:|--:|---|")
    for _, bench, group, name, time, rate, base, ratio, what in rows:
        print(f"| {bench} | `{group}` | `{name}` | {time} | {rate} | {base} | {ratio} | {what} |")
    if without:
        print()
        print("Groups without a `baseline` function:")
        print()
        for bench, group, measured in without:
            print(f"- {bench} `{group}`: " + ", ".join(f"`{m}`" for m in measured))


def main(argv):
    args = [a for a in argv if a != "--markdown"]
    unknown = [a for a in args if a.startswith("--")]
    if unknown or len(args) > 1:
        sys.exit("usage: ratios.py [--markdown] [CRITERION_DIR]")
    root = pathlib.Path(args[0] if args else "target/criterion")
    if not root.is_dir():
        sys.exit(f"no criterion results under {root}: run `cargo bench` first")
    (markdown if "--markdown" in argv else plain)(root)


if __name__ == "__main__":
    main(sys.argv[1:])
