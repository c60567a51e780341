#!/usr/bin/env python3
"""Writes the fuzz seed corpus fuzz/seeds/<family>/<vector> from vectors.json.

Every vector up to 4 KiB becomes one seed file for its family's target, so
the fuzzers start from real packets (valid, malformed and JS-lenient) and
`cargo test -p tally-ilp --test fuzz_seeds` replays the same files.
Run from the repository root: python3 crates/tally-ilp/tests/vectors/seeds.py
"""
import json
import pathlib

MAX_SEED_BYTES = 4096
root = pathlib.Path(__file__).resolve().parents[4]
vectors = json.loads((root / "crates/tally-ilp/tests/vectors/vectors.json").read_text())
out = root / "fuzz/seeds"
written = 0
for section in ("valid", "malformed", "js_lenient"):
    for v in vectors[section]:
        data = bytes.fromhex(v["hex"])
        if len(data) > MAX_SEED_BYTES:
            continue
        path = out / v["family"] / f"{section}-{v['name']}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += 1
print(f"wrote {written} seeds under {out}")
