#!/usr/bin/env python3
"""Derives request-id and slot-id vectors for tests/vectors.rs, independently
of the Rust code: its own Keccak-256 (the original Keccak padding, as
Ethereum uses) and its own ABI encoding, written from the Solidity ABI
specification and Codex's definitions:

    RequestId = keccak256(abi.encode(request))          (Requests.sol, requests.nim)
    SlotId    = keccak256(abi.encode(requestId, slotIndex))

Run: python3 crates/tally-market/tests/vectors/ids.py > crates/tally-market/tests/vectors/ids.json
"""
import json


def keccak_f(state):
    """Keccak-f[1600] on 25 lanes of 64 bits, state[x + 5*y]."""
    # Rotation offsets from the (x, y) -> (y, 2x + 3y) walk of the reference.
    rot = [0] * 25
    x, y = 1, 0
    for t in range(24):
        rot[x + 5 * y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    # Round constants from the LFSR x^8 + x^6 + x^5 + x^4 + 1.
    lfsr = 1

    def bit():
        nonlocal lfsr
        out = lfsr & 1
        lfsr = ((lfsr << 1) ^ (0x171 if lfsr & 0x80 else 0)) & 0xFF
        return out

    mask = (1 << 64) - 1
    rotl = lambda v, n: ((v << n) | (v >> (64 - n))) & mask if n else v
    for _ in range(24):
        c = [state[x] ^ state[x + 5] ^ state[x + 10] ^ state[x + 15] ^ state[x + 20] for x in range(5)]
        d = [c[(x - 1) % 5] ^ rotl(c[(x + 1) % 5], 1) for x in range(5)]
        state = [state[i] ^ d[i % 5] for i in range(25)]
        moved = [0] * 25
        for x in range(5):
            for y in range(5):
                moved[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(state[x + 5 * y], rot[x + 5 * y])
        state = [moved[i] ^ ((~moved[(i % 5 + 1) % 5 + 5 * (i // 5)]) & moved[(i % 5 + 2) % 5 + 5 * (i // 5)])
                 for i in range(25)]
        rc = 0
        for j in range(7):
            if bit():
                rc |= 1 << ((1 << j) - 1)
        state[0] ^= rc
    return state


def keccak256(data: bytes) -> bytes:
    rate = 136
    padded = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 2) % rate) + b"\x80"
    if len(padded) % rate:  # only when len(data) % rate == rate - 1
        raise AssertionError("padding")
    state = [0] * 25
    for offset in range(0, len(padded), rate):
        block = padded[offset:offset + rate]
        for i in range(rate // 8):
            state[i] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        state = keccak_f(state)
    return b"".join(lane.to_bytes(8, "little") for lane in state)[:32]


assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def abi_request(r) -> bytes:
    """abi.encode(request): Request = (address client, Ask ask, Content content,
    uint64 expiry, bytes32 nonce); Ask = 7 static words; Content = (bytes cid,
    bytes32 merkleRoot) is dynamic, so the request is dynamic and encodes as
    [offset 0x20][head][tail]."""
    ask = r["ask"]
    head_words = 1 + 7 + 1 + 1 + 1
    cid = bytes.fromhex(r["cid"])
    content = word(0x40) + bytes.fromhex(r["merkle_root"]) + word(len(cid)) + cid + b"\x00" * (-len(cid) % 32)
    head = (
        b"\x00" * 12 + bytes.fromhex(r["client"])
        + word(int(ask["proof_probability"])) + word(int(ask["price_per_byte_per_second"]))
        + word(int(ask["collateral_per_byte"])) + word(ask["slots"]) + word(ask["slot_size"])
        + word(ask["duration"]) + word(ask["max_slot_loss"])
        + word(32 * head_words) + word(r["expiry"]) + bytes.fromhex(r["nonce"])
    )
    return word(0x20) + head + content


def slot_id(request_id: bytes, index: int) -> bytes:
    return keccak256(request_id + word(index))


requests = [
    {
        "client": "f39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "ask": {"proof_probability": "4", "price_per_byte_per_second": "1000", "collateral_per_byte": "1",
                "slots": 4, "slot_size": 2097152, "duration": 86400, "max_slot_loss": 1},
        # A CIDv1 (codec 0xcd02, sha2-256 multihash): 38 bytes, so the tail pads to 64.
        "cid": "01829a0312" + "20" + "".join(f"{b:02x}" for b in range(32)),
        "merkle_root": "11" * 32,
        "expiry": 3600,
        "nonce": "22" * 32,
    },
    {
        "client": "0000000000000000000000000000000000000001",
        "ask": {"proof_probability": "0", "price_per_byte_per_second": "0", "collateral_per_byte": "0",
                "slots": 1, "slot_size": 1, "duration": 1, "max_slot_loss": 0},
        "cid": "",
        "merkle_root": "00" * 32,
        "expiry": 0,
        "nonce": "00" * 32,
    },
    {
        "client": "ffffffffffffffffffffffffffffffffffffffff",
        "ask": {"proof_probability": str(2**256 - 1), "price_per_byte_per_second": str(2**128),
                "collateral_per_byte": str(2**64 + 1), "slots": 2**64 - 1, "slot_size": 2**63,
                "duration": 2**32, "max_slot_loss": 7},
        "cid": "ab" * 32,
        "merkle_root": "ff" * 32,
        "expiry": 2**64 - 1,
        "nonce": "ee" * 32,
    },
]

out = {"requests": [], "slots": []}
for r in requests:
    encoding = abi_request(r)
    rid = keccak256(encoding)
    out["requests"].append({**r, "abi": encoding.hex(), "request_id": rid.hex(),
                            "slot_ids": [slot_id(rid, i).hex() for i in range(3)]})
for rid_hex, index in [("00" * 32, 0), ("00" * 32, 1), ("11" * 32, 2**64 - 1)]:
    out["slots"].append({"request_id": rid_hex, "slot_index": index,
                         "abi": (bytes.fromhex(rid_hex) + word(index)).hex(),
                         "slot_id": slot_id(bytes.fromhex(rid_hex), index).hex()})
print(json.dumps(out, indent=1))
