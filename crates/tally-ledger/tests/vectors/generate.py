#!/usr/bin/env python3
"""Records tally-ledger's test vectors from a running TigerBeetle server.

Each scenario is a list of ledger-cli request lines (the JSON-lines format of
examples/ledger-cli.rs). This script sends every request to a real
TigerBeetle through its Python client and writes down TigerBeetle's answer in
ledger-cli's answer format, so tests/vectors.rs can replay the lines through
tally-ledger and demand the same answers.

Usage (a TigerBeetle server must already be running, e.g. a single replica
started with `tigerbeetle start --addresses=127.0.0.1:3301 ...`):

    pip install tigerbeetle==<server version>
    python3 generate.py --address 127.0.0.1:3301 --out tigerbeetle-0.17.json

Scenarios use small ids; each scenario gets its own id range on the server
(every non-zero id below 2^64 is offset), so one cluster serves them all and
a replay can start each scenario on a fresh ledger. `advance` sleeps: the
server's clock is real time.
"""

import argparse
import importlib.metadata
import json
import sys
import time

import tigerbeetle as tb

MAX = str(2**128 - 1)
ID_FIELDS = ("id", "debit_account_id", "credit_account_id", "pending_id", "account_id")
OFFSET_STEP = 1 << 64


def acct(id, ledger=1, code=10, flags=(), **extra):
    flags = flags if isinstance(flags, int) else list(flags)
    line = {"op": "create_account", "id": str(id), "ledger": ledger, "code": code, "flags": flags}
    line.update(extra)
    return line


def tr(id, dr, cr, amount, ledger=1, code=1, flags=(), pending_id="0", timeout=0, **extra):
    line = {
        "op": "create_transfer",
        "id": str(id),
        "debit_account_id": str(dr),
        "credit_account_id": str(cr),
        "amount": str(amount),
        "ledger": ledger,
        "code": code,
        "flags": list(flags) if not isinstance(flags, int) else flags,
        "pending_id": str(pending_id),
        "timeout": timeout,
    }
    line.update(extra)
    return line


def post(id, pending_id, amount=MAX, **extra):
    line = tr(id, 0, 0, amount, ledger=0, code=0, flags=["post_pending_transfer"], pending_id=pending_id)
    line.update(extra)
    return line


def void(id, pending_id, amount=0, **extra):
    line = tr(id, 0, 0, amount, ledger=0, code=0, flags=["void_pending_transfer"], pending_id=pending_id)
    line.update({k: str(v) if k == "amount" else v for k, v in extra.items()})
    return line


def batch_t(*lines):
    return {"op": "create_transfers", "transfers": [strip_op(line) for line in lines]}


def batch_a(*lines):
    return {"op": "create_accounts", "accounts": [strip_op(line) for line in lines]}


def strip_op(line):
    return {k: v for k, v in line.items() if k != "op"}


def look(id):
    return {"op": "lookup_account", "id": str(id)}


def look_t(id):
    return {"op": "lookup_transfer", "id": str(id)}


def query(op, account_id, limit=100, flags=("debits", "credits"), **extra):
    line = {"op": op, "account_id": str(account_id), "limit": limit, "flags": list(flags)}
    line.update(extra)
    return line


def advance(seconds):
    return {"op": "advance", "seconds": seconds}


def linked(line):
    line = dict(line)
    line["flags"] = list(line["flags"]) + ["linked"]
    return line


def standard():
    """Accounts 1 (plain), 2 (debits_must_not_exceed_credits), 3
    (credits_must_not_exceed_debits), 4 (plain), 9 (ledger 2)."""
    return [
        batch_a(
            acct(1),
            acct(2, flags=["debits_must_not_exceed_credits"]),
            acct(3, flags=["credits_must_not_exceed_debits"]),
            acct(4),
            acct(9, ledger=2),
        )
    ]


SCENARIOS = {
    "account_validation_and_idempotency": [
        acct(1, user_data_128="7", user_data_64="8", user_data_32=9),
        acct(1, user_data_128="7", user_data_64="8", user_data_32=9),
        acct(1, flags=["history"]),
        acct(1, user_data_128="1", user_data_64="8", user_data_32=9),
        acct(1, user_data_128="7", user_data_64="1", user_data_32=9),
        acct(1, user_data_128="7", user_data_64="8", user_data_32=1),
        acct(1, ledger=2, user_data_128="7", user_data_64="8", user_data_32=9),
        acct(1, code=11, user_data_128="7", user_data_64="8", user_data_32=9),
        acct(2, timestamp=5),
        acct(2, flags=64),
        acct(0),
        acct(MAX),
        acct(2, flags=["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]),
        acct(2, debits_pending="1"),
        acct(2, debits_posted="1"),
        acct(2, credits_pending="1"),
        acct(2, credits_posted="1"),
        acct(2, ledger=0),
        acct(2, code=0),
        look(2),
        acct(2, flags=["closed"]),
        look(1),
    ],
    "account_chains": [
        batch_a(linked(acct(1)), linked(acct(2)), acct(3, ledger=0), acct(4)),
        look(1),
        look(4),
        batch_a(acct(5), linked(acct(6))),
        look(6),
        batch_a(linked(acct(7)), acct(8), linked(acct(9)), acct(9)),
        look(9),
    ],
    "transfer_validation_order": standard()
    + [
        tr(10, 1, 4, 1, timestamp=1),
        tr(10, 1, 4, 1, flags=512),
        tr(0, 1, 4, 1),
        tr(MAX, 1, 4, 1),
        tr(10, 0, 4, 1),
        tr(10, MAX, 4, 1),
        tr(10, 1, 0, 1),
        tr(10, 1, MAX, 1),
        tr(10, 1, 1, 1),
        tr(10, 1, 4, 1, pending_id="5"),
        tr(10, 1, 4, 1, timeout=1),
        tr(10, 1, 4, 1, flags=["closing_debit"]),
        tr(10, 1, 4, 1, ledger=0),
        tr(10, 1, 4, 1, code=0),
        tr(10, 7, 4, 1),
        tr(11, 1, 7, 1),
        tr(12, 1, 9, 1),
        tr(13, 1, 4, 1, ledger=2),
        tr(14, 1, 4, 0),
        look(1),
        look(4),
    ],
    "limits_and_pending_reservations": standard()
    + [
        tr(10, 1, 2, 100),
        tr(11, 2, 4, 60, flags=["pending"]),
        tr(12, 2, 4, 41),
        tr(13, 2, 4, 40),
        look(2),
        tr(20, 3, 1, 100),
        tr(21, 1, 3, 60, flags=["pending"]),
        tr(22, 1, 3, 41),
        tr(23, 1, 3, 40),
        look(3),
        look(1),
    ],
    "post_partial_full_and_void": standard()
    + [
        tr(10, 1, 4, 50, flags=["pending"]),
        post(11, 10, "20"),
        post(12, 10, "20"),
        void(13, 10),
        look(1),
        look(4),
        tr(20, 1, 4, 50, flags=["pending"]),
        post(21, 20, "51"),
        post(22, 20),
        look(1),
        tr(30, 1, 4, 50, flags=["pending"]),
        void(31, 30, "49"),
        void(32, 30, "51"),
        void(33, 30, "50"),
        void(34, 30),
        post(35, 30),
        look(1),
        tr(40, 1, 4, 50, flags=["pending"]),
        post(41, 40, "0"),
        look(1),
        look(4),
    ],
    "post_and_void_checks": standard()
    + [
        tr(10, 1, 4, 50, flags=["pending"]),
        tr(20, 1, 4, 5),
        tr(30, 0, 0, MAX, ledger=0, code=0, flags=["post_pending_transfer", "void_pending_transfer"], pending_id=10),
        tr(30, 0, 0, MAX, ledger=0, code=0, flags=["post_pending_transfer", "pending"], pending_id=10),
        tr(30, 0, 0, MAX, ledger=0, code=0, flags=["post_pending_transfer", "balancing_debit"], pending_id=10),
        tr(30, 0, 0, 0, ledger=0, code=0, flags=["void_pending_transfer", "closing_credit"], pending_id=10),
        post(30, 0),
        post(30, MAX),
        post(30, 30),
        post(30, 10, timeout=1),
        post(31, 99),
        post(32, 20),
        post(33, 10, debit_account_id="4"),
        post(34, 10, credit_account_id="1"),
        post(35, 10, ledger=2),
        post(36, 10, code=2),
        post(37, 10, debit_account_id="1", credit_account_id="4", ledger=1, code=1),
        look(1),
        look(4),
    ],
    "inheritance_and_post_idempotency": standard()
    + [
        tr(10, 1, 4, 50, flags=["pending"], user_data_128="7", user_data_64="8", user_data_32=9),
        post(11, 10, user_data_64="80"),
        post(11, 10, user_data_64="80"),
        post(11, 10, amount="50", user_data_64="80", user_data_128="7", debit_account_id="1"),
        post(11, 10, amount="50", user_data_64="80", user_data_32=1),
        post(11, 10, amount="49", user_data_64="80"),
        post(11, 10, user_data_64="81"),
        post(11, 10, user_data_64="80", credit_account_id="1"),
        post(11, 10, user_data_64="80", ledger=2),
        post(11, 10, user_data_64="80", code=2),
        void(11, 10),
        post(11, 12, user_data_64="80"),
        tr(20, 1, 4, 30, flags=["pending"]),
        void(21, 20),
        void(21, 20),
        void(21, 20, amount="30"),
        void(21, 20, amount="29"),
        look(1),
    ],
    "transfer_idempotency_order": standard()
    + [
        tr(10, 1, 4, 5, flags=["pending"], timeout=100, user_data_128="1", user_data_64="1", user_data_32=1),
        tr(10, 2, 3, 6, ledger=2, code=2, flags=["pending", "balancing_credit"], timeout=7, pending_id=3,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 2, 3, 6, ledger=2, code=2, flags=["pending"], timeout=7, pending_id=3,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 2, 3, 6, ledger=2, code=2, flags=["pending"], timeout=7,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 2, 3, 6, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 1, 3, 6, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 1, 4, 6, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 1, 4, 5, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="2", user_data_64="2", user_data_32=2),
        tr(10, 1, 4, 5, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="1", user_data_64="2", user_data_32=2),
        tr(10, 1, 4, 5, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="1", user_data_64="1", user_data_32=2),
        tr(10, 1, 4, 5, ledger=2, code=2, flags=["pending"], timeout=100,
           user_data_128="1", user_data_64="1", user_data_32=1),
        tr(10, 1, 4, 5, ledger=1, code=2, flags=["pending"], timeout=100,
           user_data_128="1", user_data_64="1", user_data_32=1),
        tr(10, 1, 4, 5, ledger=1, code=1, flags=["pending"], timeout=100,
           user_data_128="1", user_data_64="1", user_data_32=1),
        look(1),
    ],
    "transient_errors_burn_ids": standard()
    + [
        tr(5, 1, 2, 10),
        tr(10, 2, 4, 11),
        tr(10, 2, 4, 1),
        tr(11, 1, 77, 1),
        tr(11, 1, 4, 1),
        tr(12, 77, 1, 1),
        tr(12, 1, 4, 1),
        post(13, 99),
        post(13, 99),
        tr(14, 1, 3, 1),
        tr(14, 1, 4, 1),
        tr(15, 1, 4, 1, ledger=0),
        tr(15, 1, 4, 1),
        batch_t(linked(tr(16, 1, 4, 1)), tr(17, 1, 77, 1)),
        tr(16, 1, 4, 1),
        tr(17, 1, 4, 1),
        look(1),
        look(2),
    ],
    "linked_chains": standard()
    + [
        batch_t(linked(tr(10, 1, 2, 100)), linked(tr(11, 2, 4, 100, flags=["pending"])), post(12, 11, "60")),
        look(2),
        batch_t(
            tr(19, 1, 4, 1),
            linked(tr(20, 1, 4, 1)),
            linked(tr(21, 1, 4, 1)),
            tr(22, 1, 1, 1),
            tr(23, 1, 4, 1),
            linked(tr(24, 1, 4, 1)),
            tr(25, 1, 4, 1),
        ),
        look(1),
        batch_t(linked(tr(30, 1, 1, 1)), linked(tr(0, 1, 4, 1)), tr(32, 1, 4, 1)),
        batch_t(tr(40, 1, 4, 1), linked(tr(41, 1, 4, 1)), linked(tr(42, 1, 4, 1))),
        tr(42, 1, 4, 1),
        tr(50, 1, 4, 50, flags=["pending"]),
        batch_t(linked(post(51, 50, "50")), tr(52, 4, 4, 1)),
        post(51, 50, "50"),
        batch_t(linked(tr(60, 1, 4, 7, flags=["pending"])), post(61, 60, "3")),
        batch_t(linked(tr(60, 1, 4, 7, flags=["pending"])), post(61, 60, "3")),
        post(61, 60, "3"),
        look(1),
        look(4),
    ],
    "balancing": standard()
    + [
        tr(10, 1, 2, 30),
        tr(11, 2, 4, 100, flags=["balancing_debit"]),
        tr(11, 2, 4, 100, flags=["balancing_debit"]),
        tr(11, 2, 4, 30, flags=["balancing_debit"]),
        tr(11, 2, 4, 29, flags=["balancing_debit"]),
        tr(12, 2, 4, 100, flags=["balancing_debit"]),
        look(2),
        tr(20, 3, 1, 40),
        tr(21, 1, 3, 100, flags=["pending", "balancing_credit"]),
        tr(22, 1, 3, 100, flags=["balancing_credit"]),
        look(3),
        tr(30, 4, 1, 25),
        tr(31, 1, 4, 100, flags=["balancing_debit"]),
        look(1),
        tr(40, 1, 3, 5, flags=["balancing_debit", "balancing_credit"]),
        look(3),
    ],
    "closing_accounts": standard()
    + [
        tr(10, 1, 4, 0, flags=["pending", "closing_debit"]),
        tr(11, 1, 4, 1),
        tr(12, 4, 1, 1),
        post(13, 10),
        void(14, 10),
        tr(15, 1, 4, 1),
        tr(20, 1, 4, 5, flags=["pending"]),
        tr(21, 4, 1, 0, flags=["pending", "closing_credit"]),
        post(22, 20),
        void(23, 20),
        tr(24, 2, 1, 0, flags=["pending", "closing_debit", "closing_credit"]),
        tr(25, 2, 4, 0),
        tr(26, 4, 1, 0),
        look(1),
        look(4),
    ],
    "overflows": [
        batch_a(acct(1), acct(2), acct(3), acct(4)),
        tr(10, 1, 2, MAX, flags=["pending"]),
        tr(11, 1, 3, 1, flags=["pending"]),
        tr(12, 3, 2, 1, flags=["pending"]),
        tr(13, 1, 3, 1),
        tr(14, 3, 2, 1),
        tr(15, 3, 4, MAX),
        tr(16, 3, 1, 1),
        tr(17, 1, 4, 1),
        look(1),
        look(3),
    ],
    "timeouts_and_expiry": standard()
    + [
        tr(10, 1, 4, 50, flags=["pending"], timeout=1),
        tr(11, 1, 4, 7, flags=["pending"], timeout=4),
        tr(12, 1, 4, 3, flags=["pending"], timeout=1),
        post(13, 12),
        tr(20, 1, 4, 0, flags=["pending", "closing_credit"], timeout=1),
        look(1),
        look(4),
        advance(2),
        look(1),
        look(4),
        post(14, 10),
        void(15, 10),
        post(16, 11),
        post(17, 12),
        tr(21, 1, 4, 1),
        look(1),
    ],
    "queries": standard()
    + [
        acct(5, flags=["history"]),
        batch_t(
            tr(10, 1, 5, 100, user_data_64="7"),
            tr(11, 5, 4, 30, flags=["pending"], user_data_128="9", user_data_32=3),
            tr(12, 4, 5, 5, code=2),
        ),
        post(13, 11, "20", user_data_32=4),
        batch_t(tr(14, 5, 1, 1000, flags=["balancing_debit"]), tr(15, 1, 2, 50), void(16, 99)),
        tr(17, 5, 4, 5, flags=["pending"]),
        void(18, 17),
        look_t(10),
        look_t(11),
        look_t(13),
        look_t(14),
        look_t(16),
        look_t(18),
        look_t(99),
        query("get_account_transfers", 5),
        query("get_account_transfers", 5, flags=["debits"]),
        query("get_account_transfers", 5, flags=["credits"]),
        query("get_account_transfers", 5, flags=["debits", "credits", "reversed"]),
        query("get_account_transfers", 5, limit=2),
        query("get_account_transfers", 5, limit=2, flags=["debits", "credits", "reversed"]),
        query("get_account_transfers", 5, code=2),
        query("get_account_transfers", 5, user_data_64="7"),
        query("get_account_transfers", 5, user_data_128="9"),
        query("get_account_transfers", 5, user_data_32=4),
        query("get_account_transfers", 5, flags=[]),
        query("get_account_transfers", 5, limit=0),
        query("get_account_transfers", 0),
        query("get_account_transfers", 77),
        query("get_account_balances", 5),
        query("get_account_balances", 5, flags=["debits", "credits", "reversed"], limit=3),
        query("get_account_balances", 5, flags=["credits"]),
        query("get_account_balances", 1),
        query("get_account_balances", 77),
        look(5),
    ],
    "retried_batch_returns_exists": standard()
    + [
        batch_t(tr(10, 1, 4, 50, flags=["pending"]), post(11, 10, "20"), tr(12, 1, 4, 5), tr(13, 1, 4, 7, flags=["pending"])),
        batch_t(tr(10, 1, 4, 50, flags=["pending"]), post(11, 10, "20"), tr(12, 1, 4, 5), tr(13, 1, 4, 7, flags=["pending"])),
        look(1),
    ],
}


def offset_line(line, offset):
    """The request with every small non-zero id moved into the scenario's range."""
    line = dict(line)
    for field in ID_FIELDS:
        if field in line:
            value = int(line[field])
            if 0 < value < OFFSET_STEP:
                line[field] = str(value + offset)
    for field in ("accounts", "transfers"):
        if field in line:
            line[field] = [offset_line(item, offset) for item in line[field]]
    return line


def flag_bits(enum, flags):
    if isinstance(flags, int):
        return flags
    bits = 0
    for name in flags:
        bits |= int(getattr(enum, name.upper()))
    return bits


def to_account(line):
    return tb.Account(
        id=int(line["id"]),
        debits_pending=int(line.get("debits_pending", 0)),
        debits_posted=int(line.get("debits_posted", 0)),
        credits_pending=int(line.get("credits_pending", 0)),
        credits_posted=int(line.get("credits_posted", 0)),
        user_data_128=int(line.get("user_data_128", 0)),
        user_data_64=int(line.get("user_data_64", 0)),
        user_data_32=int(line.get("user_data_32", 0)),
        ledger=int(line.get("ledger", 0)),
        code=int(line.get("code", 0)),
        flags=flag_bits(tb.AccountFlags, line.get("flags", [])),
        timestamp=int(line.get("timestamp", 0)),
    )


def to_transfer(line):
    return tb.Transfer(
        id=int(line["id"]),
        debit_account_id=int(line.get("debit_account_id", 0)),
        credit_account_id=int(line.get("credit_account_id", 0)),
        amount=int(line.get("amount", 0)),
        pending_id=int(line.get("pending_id", 0)),
        user_data_128=int(line.get("user_data_128", 0)),
        user_data_64=int(line.get("user_data_64", 0)),
        user_data_32=int(line.get("user_data_32", 0)),
        timeout=int(line.get("timeout", 0)),
        ledger=int(line.get("ledger", 0)),
        code=int(line.get("code", 0)),
        flags=flag_bits(tb.TransferFlags, line.get("flags", [])),
        timestamp=int(line.get("timestamp", 0)),
    )


def unoffset(value, offset):
    value = int(value)
    return str(value - offset) if offset < value < offset + OFFSET_STEP else str(value)


def transfer_json(t, offset):
    flags = [name for name in TRANSFER_FLAG_NAMES if int(t.flags) & int(getattr(tb.TransferFlags, name.upper()))]
    return {
        "id": unoffset(t.id, offset),
        "debit_account_id": unoffset(t.debit_account_id, offset),
        "credit_account_id": unoffset(t.credit_account_id, offset),
        "amount": str(t.amount),
        "pending_id": unoffset(t.pending_id, offset),
        "user_data_128": str(t.user_data_128),
        "user_data_64": str(t.user_data_64),
        "user_data_32": t.user_data_32,
        "timeout": t.timeout,
        "ledger": t.ledger,
        "code": t.code,
        "flags": flags,
    }


TRANSFER_FLAG_NAMES = [
    "linked", "pending", "post_pending_transfer", "void_pending_transfer",
    "balancing_debit", "balancing_credit", "closing_debit", "closing_credit",
]


def to_filter(line):
    bits = 0
    for name in line.get("flags", []):
        bits |= int(getattr(tb.AccountFilterFlags, name.upper()))
    return tb.AccountFilter(
        account_id=int(line["account_id"]),
        user_data_128=int(line.get("user_data_128", 0)),
        user_data_64=int(line.get("user_data_64", 0)),
        user_data_32=int(line.get("user_data_32", 0)),
        code=int(line.get("code", 0)),
        timestamp_min=int(line.get("timestamp_min", 0)),
        timestamp_max=int(line.get("timestamp_max", 0)),
        limit=int(line.get("limit", 0)),
        flags=bits,
    )


def balance_json(a):
    return {
        "debits_pending": str(a.debits_pending),
        "debits_posted": str(a.debits_posted),
        "credits_pending": str(a.credits_pending),
        "credits_posted": str(a.credits_posted),
    }


def status_names(results):
    return [result.status.name.lower() for result in results]


def answer(client, line, offset):
    op = line["op"]
    if op == "lookup_transfer":
        found = client.lookup_transfers([int(line["id"])])
        return transfer_json(found[0], offset) if found else None
    if op == "get_account_transfers":
        return [unoffset(t.id, offset) for t in client.get_account_transfers(to_filter(line))]
    if op == "get_account_balances":
        return [balance_json(b) for b in client.get_account_balances(to_filter(line))]
    if op == "create_account":
        return status_names(client.create_accounts([to_account(line)]))[0]
    if op == "create_accounts":
        return status_names(client.create_accounts([to_account(item) for item in line["accounts"]]))
    if op == "create_transfer":
        return status_names(client.create_transfers([to_transfer(line)]))[0]
    if op == "create_transfers":
        return status_names(client.create_transfers([to_transfer(item) for item in line["transfers"]]))
    if op == "lookup_account":
        found = client.lookup_accounts([int(line["id"])])
        if not found:
            return None
        return balance_json(found[0])
    if op == "advance":
        # Real time: wait the seconds out, plus a margin for the server's
        # expiry pulse to run.
        time.sleep(line["seconds"] + 1.0)
        return None
    raise ValueError(f"unknown op {op}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:3301")
    parser.add_argument("--cluster", type=int, default=0)
    parser.add_argument("--out", default="-")
    parser.add_argument("--base", type=int, default=1, help="first scenario's id range (multiples of 2^64)")
    args = parser.parse_args()
    out = {
        "source": "recorded from a real TigerBeetle server by generate.py",
        "client": "tigerbeetle (PyPI) " + importlib.metadata.version("tigerbeetle"),
        "scenarios": [],
    }
    with tb.ClientSync(cluster_id=args.cluster, replica_addresses=args.address) as client:
        for index, (name, lines) in enumerate(SCENARIOS.items()):
            offset = (args.base + index) * OFFSET_STEP
            steps = []
            for line in lines:
                steps.append({"request": line, "answer": answer(client, offset_line(line, offset), offset)})
            out["scenarios"].append({"name": name, "steps": steps})
            print(f"{name}: {len(steps)} steps", file=sys.stderr)
    text = json.dumps(out, indent=1) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
