//! Entry points for the cargo-fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! Each takes arbitrary bytes and must never panic; each checks the ledger's
//! invariants after what it ran.

use tally_store::MemStore;
use tally_store::testkit::FuzzBytes;

use crate::{Account, AccountFlags, Ledger, Transfer, TransferFlags};

/// What this crate's fuzz targets draw from the input beyond single bytes.
trait Draw {
    /// A number below `max` (0 when `max` is 0).
    fn small(&mut self, max: u8) -> u128;
    /// An amount that is often an extreme (0, `u128::MAX`, just below it).
    fn amount(&mut self) -> u128;
}

impl Draw for FuzzBytes<'_> {
    fn small(&mut self, max: u8) -> u128 {
        u128::from(self.u8() % max.max(1))
    }

    fn amount(&mut self) -> u128 {
        match self.u8() % 8 {
            0 => u128::MAX,
            1 => u128::MAX - u128::from(self.u8()),
            2 => 0,
            _ => u128::from(self.u8()),
        }
    }
}

/// Drives a small ledger (6 accounts) with transfers decoded from `data`
/// (ids, accounts, amounts, flags, timeouts all from small ranges so they
/// collide), in batches, expiring as the clock moves; then checks that the
/// audit passes and that no limit is broken.
///
/// # Panics
/// When an invariant is broken (that is the point).
pub fn ledger_ops(data: &[u8]) {
    let ledger = Ledger::new(MemStore::new());
    let mut now_ns: u64 = 1_000_000_000;
    let mut input = FuzzBytes::new(data);
    let accounts: Vec<Account> = (1..=6u128)
        .map(|id| {
            let flags = match id {
                2 | 3 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                4 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                5 => AccountFlags::HISTORY,
                _ => AccountFlags::NONE,
            };
            Account::new(id, 1, 1).with_flags(flags)
        })
        .collect();
    if ledger.create_accounts(&accounts, now_ns).is_err() {
        return;
    }
    let mut rounds = 0;
    while !input.is_empty() && rounds < 64 {
        rounds += 1;
        let count = 1 + input.small(8) as usize;
        let mut batch = Vec::with_capacity(count);
        for _ in 0..count {
            let mut transfer = Transfer::new(
                1 + input.small(32),
                input.small(8),
                input.small(8),
                input.amount(),
                1 + u32::from(input.u8().is_multiple_of(8)),
                1,
            );
            transfer.flags = TransferFlags(u16::from(input.u8()) | (u16::from(input.u8().is_multiple_of(4)) << 8));
            transfer.pending_id = if input.u8().is_multiple_of(2) {
                0
            } else {
                1 + input.small(32)
            };
            transfer.timeout = u32::from(input.u8() % 4);
            batch.push(transfer);
        }
        if ledger.create_transfers(&batch, now_ns).is_err() {
            return;
        }
        now_ns += u64::from(input.u8()) * 100_000_000;
        if ledger.expire(now_ns).is_err() {
            return;
        }
    }
    let Ok(report) = ledger.audit() else { return };
    assert!(report.is_ok(), "audit failed: {report:?}");
    let Ok(all) = ledger.lookup_accounts(&[1, 2, 3, 4, 5, 6]) else {
        return;
    };
    for account in all {
        assert!(!account.debits_exceed_credits(0), "limit broken: {account:?}");
        assert!(!account.credits_exceed_debits(0), "limit broken: {account:?}");
    }
}

/// Parses `data` as one JSON-lines request of `ledger-cli` and answers it;
/// must never panic, whatever the bytes.
pub fn jsonl_line(data: &[u8]) {
    let mut session = crate::jsonl::Session::new(Ledger::new(MemStore::new()));
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines().take(64) {
            let answer = session.handle_line(line);
            debug_assert!(serde_json::from_str::<serde_json::Value>(&answer).is_ok());
        }
    }
}
