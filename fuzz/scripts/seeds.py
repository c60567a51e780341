#!/usr/bin/env python3
"""Writes the seed inputs of the channel_ops, connector_ops and ilp_codec
fuzz targets under fuzz/seeds/<target>/.

The ops targets read one operation byte and its argument bytes at a time
(see tally_channel::fuzzing::channel_ops and
tally_connector::fuzzing::connector_ops); each seed below spells out a
short scenario in those bytes so that the fuzzer starts from inputs that
reach the interesting paths. The ilp_codec seeds are lines of the
ilp-codec tool made from the JavaScript reference vectors.

Run from anywhere: python3 fuzz/scripts/seeds.py
(marketplace_cli's seeds need contract ids and are written by the
ignored test `write_marketplace_cli_seeds` in crates/tally-market/tests/fuzz_seeds.rs.)
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parents[2]
seeds = root / "fuzz/seeds"


def write(target, name, data):
    path = seeds / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


# --- channel_ops ---------------------------------------------------------
# Event types: 0 DidOpen, 1 DidCreateChannel, 2 DidDeposit, 3 DidClaim,
# 4 DidStartSettling, 5 DidStartSettle, 6 DidSettle. Wei choices: 0 0,
# 1 50, 2 100, 3 200, 4 1000, 5 2^256-1. Shape bits: 1 sender, 2 receiver,
# 4 value, 8 settlement period, 16 until, 32 payment, 64 forked block hash,
# 128 emitted by the stranger.
def event(channel, kind, block, shape, amounts, position=0):
    return [0, channel, kind, block, shape, amounts, position]


def intent(channel, kind, block, shape, amounts):
    return [1, channel, kind, block, shape, amounts, 0]


def update(channel, amount, how=0):
    # how: bit 0 signed by the stranger; bits 1-3: 1 stranger claims,
    # 2 flipped bit, 3 bad v, 4 amount + 1; bits 4-7: ts.
    return [2, channel, amount, how]


def reorg(first, forks, count):
    return [3, first, forks, count]


REPEAT = [4]
OPEN = 7  # sender, receiver, value

channel = {
    "open_and_pay": event(0, 0, 1, OPEN, 4) + update(0, 1) + update(0, 2) + update(0, 3)
    + update(0, 3) + update(0, 2) + update(0, 1, 0x10),
    "spoiled_updates": event(0, 0, 1, OPEN, 4) + update(0, 2, 2) + update(0, 2, 4) + update(0, 2, 6)
    + update(0, 2, 8) + update(0, 2, 1) + update(0, 2),
    "deposit_and_settle": event(0, 0, 1, OPEN, 1) + update(0, 3) + event(0, 2, 2, 4, 2) + update(0, 3)
    + event(0, 4, 3, 0, 0) + update(0, 4) + event(0, 6, 4, 0, 0) + event(0, 3, 5, 0, 0) + update(0, 5),
    "intent_then_chain": intent(1, 0, 1, OPEN, 4) + update(1, 2) + event(1, 0, 2, OPEN, 4) + update(1, 4)
    + intent(1, 2, 2, 4, 2) + update(1, 7) + event(1, 2, 3, 4, 2) + update(1, 7),
    "reorg_orphans_the_open": event(0, 0, 2, OPEN, 4) + update(0, 2) + reorg(0, 0b100, 5) + update(0, 3)
    + REPEAT + event(0, 0, 2, OPEN | 64, 4) + update(0, 3) + reorg(2, 0, 1) + update(0, 4),
    "log_positions": event(0, 0, 1, OPEN, 4, 4) + event(0, 0, 1, OPEN, 3, 4) + update(0, 1)
    + event(0, 2, 2, 4, 1, 5) + REPEAT + event(0, 2, 2, 4, 1, 13) + update(0, 6),
    "broker_channel": event(0, 1, 1, OPEN | 8 | 16, 4) + update(0, 2) + event(0, 5, 2, 32, 0x1a)
    + update(0, 3) + event(0, 6, 3, 32, 0x1a) + update(0, 5),
    "two_channels": event(0, 0, 1, OPEN, 4) + event(1, 0, 1, OPEN, 2) + update(0, 1) + update(1, 1)
    + update(1, 5) + update(0, 5) + reorg(1, 0b11, 2) + update(1, 6) + update(0, 6),
    "unopened_and_invalid": update(0, 1) + event(0, 2, 1, 4, 2) + update(0, 1) + event(0, 0, 2, OPEN, 4)
    + update(0, 1) + event(0, 0, 3, OPEN, 4) + update(0, 2),
    "overflowing_value": event(0, 0, 1, OPEN, 5) + update(0, 7) + event(0, 2, 2, 4, 5) + update(0, 7, 8)
    + event(0, 1, 3, OPEN | 16, 0x85) + update(0, 1),
    "stranger_events": event(0, 0, 1, OPEN | 128, 4) + update(0, 2) + intent(0, 4, 2, 0, 0) + update(0, 3)
    + event(0, 4, 2, 128, 0) + update(0, 4),
}
for name, data in channel.items():
    write("channel_ops", name, data)

# --- connector_ops -------------------------------------------------------
# Accounts: 0 alice, 1 bob (2 slots), 2 carol (credit 500, packets <= 300).
# Amounts: 0 0, 1 1, 2 10, 3 100, 4 250, 5 1000, 6 5000, 7 u64::MAX.
# Expiries (from now): 0 0, 1 400, 2 1500, 3 5000, 4 40000 ms.
# Destinations: 0 test.bob.x, 1 test.carol.y, 2 test.alice.z,
# 3 test.nowhere, 4 test.hub, 5 not an address.
# Bit 3 of an operation byte picks the second worker; bit 4 picks recover
# over handle_timeouts, and withdraw over announce.
W2 = 8


def credit(account, op, amount, worker=0):
    return [0 | worker, account, op, amount, 0]


def pay_out(account, op, amount, worker=0):
    return [1 | worker, account, op, amount, 0]


def move(account, op, amount, to_hot, worker=0):
    return [2 | worker, account, op, amount, 0 if to_hot else 1]


def prepare(source, transfer, amount, expiry, destination, secret, worker=0):
    return [3 | worker, source, transfer, amount, expiry, destination, secret]


def fulfill(pick, secret, worker=0):
    return [4 | worker, pick, secret]


def reject(pick, worker=0):
    return [5 | worker, pick, 0]


def advance(hundreds_of_ms, recover=False, worker=0):
    return [6 | worker | (16 if recover else 0), hundreds_of_ms]


def route(prefix, account, withdraw=False, worker=0):
    return [7 | worker | (16 if withdraw else 0), prefix, account]


connector = {
    "forward_and_fulfill": credit(1, 1, 5) + prepare(0, 1, 3, 3, 0, 2) + fulfill(0, 2),
    "forward_and_reject": credit(1, 1, 5) + prepare(0, 1, 3, 3, 0, 1) + reject(0) + fulfill(0, 1),
    "wrong_fulfillment": credit(1, 1, 5) + prepare(0, 2, 4, 3, 0, 3) + fulfill(0, 0) + fulfill(0, 3),
    "timeout_then_late_fulfill": credit(1, 1, 5) + prepare(0, 3, 3, 2, 0, 1) + advance(20)
    + fulfill(0, 1) + advance(200, recover=True),
    "two_workers_two_slots": credit(1, 1, 6) + move(1, 2, 5, True) + move(1, 3, 4, True, W2)
    + prepare(0, 1, 5, 3, 0, 0) + prepare(2, 1, 5, 3, 0, 0, W2) + fulfill(0, 0, W2) + fulfill(1, 0)
    + move(1, 4, 3, False),
    "credit_and_packet_limit": prepare(0, 1, 3, 3, 1, 1) + prepare(1, 2, 5, 3, 1, 1)
    + prepare(1, 3, 4, 3, 1, 1) + fulfill(0, 1) + fulfill(1, 1) + fulfill(2, 1),
    "idempotent_operations": credit(0, 1, 5) + credit(0, 1, 5) + pay_out(0, 2, 4) + pay_out(0, 2, 4)
    + pay_out(0, 3, 7) + move(0, 4, 3, True) + move(0, 4, 3, True) + move(0, 5, 6, False),
    "duplicate_prepares": credit(1, 1, 5) + prepare(0, 1, 3, 3, 0, 1) + prepare(0, 1, 3, 3, 0, 1, W2)
    + fulfill(0, 1) + prepare(0, 1, 3, 3, 0, 1) + prepare(0, 1, 4, 3, 0, 1),
    "refusals": prepare(0, 1, 3, 3, 3, 0) + prepare(0, 2, 3, 3, 4, 0) + prepare(0, 3, 3, 3, 5, 0)
    + prepare(0, 4, 3, 0, 0, 0) + prepare(1, 5, 3, 3, 0, 0) + prepare(0, 6, 7, 3, 0, 0) + credit(1, 1, 2)
    + prepare(0, 7, 3, 3, 0, 0) + prepare(0, 0, 1, 4, 0, 0) + fulfill(0, 0),
    "route_changes": credit(1, 1, 5) + credit(2, 1, 5) + route(0, 1, withdraw=True) + prepare(0, 1, 3, 3, 0, 0)
    + route(0, 2, worker=W2) + prepare(0, 2, 3, 3, 0, 0) + fulfill(0, 0) + route(0, 1) + prepare(0, 3, 3, 3, 0, 0)
    + reject(1),
    "overflowing_amounts": credit(0, 1, 7) + credit(0, 2, 7) + credit(1, 1, 7) + prepare(0, 1, 7, 3, 0, 0)
    + fulfill(0, 0) + pay_out(0, 3, 7) + prepare(1, 2, 7, 3, 2, 0) + fulfill(1, 0),
}
for name, data in connector.items():
    write("connector_ops", name, data)

# --- ilp_codec -----------------------------------------------------------
# The first byte is the command: 0 decode, 1 decode --lenient, 2 encode.
vectors = json.loads((root / "crates/tally-ilp/tests/vectors/vectors.json").read_text())
MAX_LINE = 600
by_family = {}
for section in ("valid", "malformed", "js_lenient"):
    for v in vectors[section]:
        by_family.setdefault((section, v["family"]), []).append(v)
written = 0
for (section, family), vs in sorted(by_family.items()):
    lines = [f"{family} {v['hex']}" for v in vs if len(v["hex"]) <= MAX_LINE][:8]
    command = 1 if section == "js_lenient" else 0
    if lines:
        write("ilp_codec", f"decode-{section}-{family}", [command] + list("\n".join(lines).encode()))
        written += 1
    if section == "valid":
        jsons = [f"{family} {json.dumps(v['json'], separators=(',', ':'))}" for v in vs if "json" in v]
        jsons = [line for line in jsons if len(line) <= MAX_LINE][:8]
        if jsons:
            write("ilp_codec", f"encode-{family}", [2] + list("\n".join(jsons).encode()))
            written += 1
write("ilp_codec", "hostile-lines", [2] + list(
    b'ilp4 {"type":"prepare"}\nilp4 null\nnope {}\nbtp2 {"type":"transfer","requestId":-1}\n'
    b'clp {"type":"ack","requestId":4294967296,"protocolData":[]}\nlegacy [1,2]\nilp4\n'
))
write("ilp_codec", "hostile-hex", [0] + list(b"ilp4 0\nilp4 zz\nbtp2 \nclp 0101\nlegacy 0c\nilp4 0c00\n"))
print(f"wrote {len(channel)} channel_ops, {len(connector)} connector_ops, {written + 2} ilp_codec seeds")
