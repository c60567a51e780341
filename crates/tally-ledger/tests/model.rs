//! The ledger against a deliberately naive model of TigerBeetle's state
//! machine: whole-state maps, a cloned state per linked chain, every rule
//! written out once more in the documented order. Random batches of
//! transfers, posts, voids, expiries, linked chains, balancing and closing
//! transfers must give the same statuses and balances, conserve money and
//! never break a limit.

#![allow(clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use support::START_NS;
use tally_ledger::{
    Account, AccountFlags, CreateTransferStatus as S, Ledger, NS_PER_S, PendingStatus, Transfer, TransferFlags,
};
use tally_store::MemStore;

#[derive(Clone, Default)]
struct Model {
    accounts: BTreeMap<u128, Account>,
    /// id -> (applied transfer, pending status); `None` = burned id.
    transfers: BTreeMap<u128, Option<(Transfer, PendingStatus)>>,
    last_ns: u64,
}

impl Model {
    fn account_limits_hold(&self) -> bool {
        self.accounts
            .values()
            .all(|a| !a.debits_exceed_credits(0) && !a.credits_exceed_debits(0))
    }

    fn create_transfers(&mut self, batch: &[Transfer], now_ns: u64) -> Vec<S> {
        let base = now_ns.max(self.last_ns);
        self.last_ns = base + batch.len() as u64;
        let mut results: Vec<S> = Vec::new();
        let mut index = 0;
        while index < batch.len() {
            // The chain: this event and every following one while `linked`.
            let mut end = index;
            while end < batch.len() && batch[end].flags.contains(TransferFlags::LINKED) {
                end += 1;
            }
            let open = end == batch.len();
            let end = if open { batch.len() - 1 } else { end };
            let chain_len = end - index + 1;
            let saved = self.clone();
            let mut chain: Vec<S> = Vec::new();
            let mut failed = false;
            for (offset, transfer) in batch[index..=end].iter().enumerate() {
                let timestamp = base + (index + offset) as u64 + 1;
                let is_chain = chain_len > 1 || transfer.flags.contains(TransferFlags::LINKED);
                // An open chain's last event says so even after a failure.
                let status = if open && offset + 1 == chain_len && is_chain {
                    S::LinkedEventChainOpen
                } else if failed {
                    S::LinkedEventFailed
                } else {
                    self.one(transfer, timestamp)
                };
                if status != S::Created && !failed && is_chain {
                    failed = true;
                    let burned: Vec<u128> = self
                        .transfers
                        .iter()
                        .filter(|(_, v)| v.is_none())
                        .map(|(k, _)| *k)
                        .collect();
                    *self = saved.clone();
                    for id in burned {
                        self.transfers.insert(id, None);
                    }
                    self.last_ns = base + batch.len() as u64;
                    for earlier in chain.iter_mut() {
                        *earlier = S::LinkedEventFailed;
                    }
                }
                if status.is_transient() {
                    self.transfers.insert(transfer.id, None);
                }
                chain.push(status);
            }
            results.extend(chain);
            index = end + 1;
        }
        results
    }

    fn one(&mut self, t: &Transfer, timestamp: u64) -> S {
        let post = t.flags.contains(TransferFlags::POST_PENDING_TRANSFER);
        let void = t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
        if t.id == 0 {
            return S::IdMustNotBeZero;
        }
        match self.transfers.get(&t.id) {
            Some(None) => return S::IdAlreadyFailed,
            Some(Some((e, _))) => return self.exists(t, e),
            None => {}
        }
        if post || void {
            return self.resolve(t, timestamp, post);
        }
        if t.debit_account_id == 0 {
            return S::DebitAccountIdMustNotBeZero;
        }
        if t.credit_account_id == 0 {
            return S::CreditAccountIdMustNotBeZero;
        }
        if t.debit_account_id == t.credit_account_id {
            return S::AccountsMustBeDifferent;
        }
        if t.pending_id != 0 {
            return S::PendingIdMustBeZero;
        }
        let pending = t.flags.contains(TransferFlags::PENDING);
        let closing = t.flags.contains(TransferFlags::CLOSING_DEBIT) || t.flags.contains(TransferFlags::CLOSING_CREDIT);
        if !pending && t.timeout != 0 {
            return S::TimeoutReservedForPendingTransfer;
        }
        if !pending && closing {
            return S::ClosingTransferMustBePending;
        }
        if t.ledger == 0 {
            return S::LedgerMustNotBeZero;
        }
        let Some(dr) = self.accounts.get(&t.debit_account_id).copied() else {
            return S::DebitAccountNotFound;
        };
        let Some(cr) = self.accounts.get(&t.credit_account_id).copied() else {
            return S::CreditAccountNotFound;
        };
        if dr.ledger != cr.ledger {
            return S::AccountsMustHaveTheSameLedger;
        }
        if t.ledger != dr.ledger {
            return S::TransferMustHaveTheSameLedgerAsAccounts;
        }
        if dr.flags.contains(AccountFlags::CLOSED) {
            return S::DebitAccountAlreadyClosed;
        }
        if cr.flags.contains(AccountFlags::CLOSED) {
            return S::CreditAccountAlreadyClosed;
        }
        let mut amount = t.amount;
        if t.flags.contains(TransferFlags::BALANCING_DEBIT) {
            amount = amount.min(dr.credits_posted.saturating_sub(dr.debits_posted + dr.debits_pending));
        }
        if t.flags.contains(TransferFlags::BALANCING_CREDIT) {
            amount = amount.min(cr.debits_posted.saturating_sub(cr.credits_posted + cr.credits_pending));
        }
        // Amounts in this test stay far below overflow.
        if dr.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && dr.debits_pending + dr.debits_posted + amount > dr.credits_posted
        {
            return S::ExceedsCredits;
        }
        if cr.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && cr.credits_pending + cr.credits_posted + amount > cr.debits_posted
        {
            return S::ExceedsDebits;
        }
        let applied = Transfer {
            amount,
            timestamp,
            ..*t
        };
        let status = if pending {
            PendingStatus::Pending
        } else {
            PendingStatus::None
        };
        self.transfers.insert(t.id, Some((applied, status)));
        let dr = self.accounts.get_mut(&t.debit_account_id).expect("exists");
        if pending {
            dr.debits_pending += amount
        } else {
            dr.debits_posted += amount
        }
        if t.flags.contains(TransferFlags::CLOSING_DEBIT) {
            dr.flags = dr.flags | AccountFlags::CLOSED;
        }
        let cr = self.accounts.get_mut(&t.credit_account_id).expect("exists");
        if pending {
            cr.credits_pending += amount
        } else {
            cr.credits_posted += amount
        }
        if t.flags.contains(TransferFlags::CLOSING_CREDIT) {
            cr.flags = cr.flags | AccountFlags::CLOSED;
        }
        S::Created
    }

    fn resolve(&mut self, t: &Transfer, timestamp: u64, post: bool) -> S {
        let f = t.flags;
        if (f.contains(TransferFlags::POST_PENDING_TRANSFER) && f.contains(TransferFlags::VOID_PENDING_TRANSFER))
            || f.contains(TransferFlags::PENDING)
            || f.contains(TransferFlags::BALANCING_DEBIT)
            || f.contains(TransferFlags::BALANCING_CREDIT)
            || f.contains(TransferFlags::CLOSING_DEBIT)
            || f.contains(TransferFlags::CLOSING_CREDIT)
        {
            return S::FlagsAreMutuallyExclusive;
        }
        if t.pending_id == 0 {
            return S::PendingIdMustNotBeZero;
        }
        if t.pending_id == t.id {
            return S::PendingIdMustBeDifferent;
        }
        if t.timeout != 0 {
            return S::TimeoutReservedForPendingTransfer;
        }
        let Some(Some((p, status))) = self.transfers.get(&t.pending_id).copied() else {
            return S::PendingTransferNotFound;
        };
        if !p.flags.contains(TransferFlags::PENDING) {
            return S::PendingTransferNotPending;
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return S::PendingTransferHasDifferentDebitAccountId;
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return S::PendingTransferHasDifferentCreditAccountId;
        }
        if t.ledger != 0 && t.ledger != p.ledger {
            return S::PendingTransferHasDifferentLedger;
        }
        let amount = match (post, t.amount) {
            (true, u128::MAX) | (false, 0) => p.amount,
            (_, amount) => amount,
        };
        if amount > p.amount {
            return S::ExceedsPendingTransferAmount;
        }
        if !post && amount < p.amount {
            return S::PendingTransferHasDifferentAmount;
        }
        match status {
            PendingStatus::Posted => return S::PendingTransferAlreadyPosted,
            PendingStatus::Voided => return S::PendingTransferAlreadyVoided,
            PendingStatus::Expired => return S::PendingTransferExpired,
            _ => {}
        }
        if p.timeout > 0 && p.timestamp + u64::from(p.timeout) * NS_PER_S <= timestamp {
            return S::PendingTransferExpired;
        }
        let closed = |id| self.accounts[&id].flags.contains(AccountFlags::CLOSED);
        if post && closed(p.debit_account_id) {
            return S::DebitAccountAlreadyClosed;
        }
        if post && closed(p.credit_account_id) {
            return S::CreditAccountAlreadyClosed;
        }
        let applied = Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: p.id,
            user_data_128: if t.user_data_128 != 0 {
                t.user_data_128
            } else {
                p.user_data_128
            },
            user_data_64: if t.user_data_64 != 0 {
                t.user_data_64
            } else {
                p.user_data_64
            },
            user_data_32: if t.user_data_32 != 0 {
                t.user_data_32
            } else {
                p.user_data_32
            },
            timeout: 0,
            ledger: p.ledger,
            code: p.code,
            flags: t.flags,
            timestamp,
        };
        self.transfers.insert(t.id, Some((applied, PendingStatus::None)));
        let resolved = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        self.transfers.insert(p.id, Some((p, resolved)));
        self.release(&p, !post);
        if post {
            self.accounts
                .get_mut(&p.debit_account_id)
                .expect("exists")
                .debits_posted += amount;
            self.accounts
                .get_mut(&p.credit_account_id)
                .expect("exists")
                .credits_posted += amount;
        }
        S::Created
    }

    fn release(&mut self, p: &Transfer, reopen: bool) {
        let dr = self.accounts.get_mut(&p.debit_account_id).expect("exists");
        dr.debits_pending -= p.amount;
        if reopen && p.flags.contains(TransferFlags::CLOSING_DEBIT) {
            dr.flags = AccountFlags(dr.flags.0 & !AccountFlags::CLOSED.0);
        }
        let cr = self.accounts.get_mut(&p.credit_account_id).expect("exists");
        cr.credits_pending -= p.amount;
        if reopen && p.flags.contains(TransferFlags::CLOSING_CREDIT) {
            cr.flags = AccountFlags(cr.flags.0 & !AccountFlags::CLOSED.0);
        }
    }

    fn exists(&self, t: &Transfer, e: &Transfer) -> S {
        if t.flags != e.flags {
            return S::ExistsWithDifferentFlags;
        }
        if t.pending_id != e.pending_id {
            return S::ExistsWithDifferentPendingId;
        }
        if t.timeout != e.timeout {
            return S::ExistsWithDifferentTimeout;
        }
        let resolution = t.flags.contains(TransferFlags::POST_PENDING_TRANSFER)
            || t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
        if resolution {
            let Some(Some((p, _))) = self.transfers.get(&t.pending_id) else {
                unreachable!()
            };
            if t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id {
                return S::ExistsWithDifferentDebitAccountId;
            }
            if t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id {
                return S::ExistsWithDifferentCreditAccountId;
            }
            let post = t.flags.contains(TransferFlags::POST_PENDING_TRANSFER);
            let wanted = match (post, t.amount) {
                (true, u128::MAX) | (false, 0) => p.amount,
                (_, amount) => amount,
            };
            if wanted != e.amount {
                return S::ExistsWithDifferentAmount;
            }
            if t.ledger != 0 && t.ledger != e.ledger {
                return S::ExistsWithDifferentLedger;
            }
            return S::Exists;
        }
        if t.debit_account_id != e.debit_account_id {
            return S::ExistsWithDifferentDebitAccountId;
        }
        if t.credit_account_id != e.credit_account_id {
            return S::ExistsWithDifferentCreditAccountId;
        }
        let balancing =
            t.flags.contains(TransferFlags::BALANCING_DEBIT) || t.flags.contains(TransferFlags::BALANCING_CREDIT);
        if (balancing && t.amount < e.amount) || (!balancing && t.amount != e.amount) {
            return S::ExistsWithDifferentAmount;
        }
        if t.ledger != e.ledger {
            return S::ExistsWithDifferentLedger;
        }
        S::Exists
    }

    fn expire(&mut self, now_ns: u64) {
        let threshold = now_ns.max(self.last_ns);
        let mut due: Vec<(u64, u64, u128)> = self
            .transfers
            .values()
            .flatten()
            .filter(|(t, status)| *status == PendingStatus::Pending && t.timeout > 0)
            .map(|(t, _)| (t.timestamp + u64::from(t.timeout) * NS_PER_S, t.timestamp, t.id))
            .filter(|(expires_at, _, _)| *expires_at <= threshold)
            .collect();
        due.sort_unstable();
        if due.is_empty() {
            return;
        }
        self.last_ns = now_ns.max(self.last_ns) + due.len() as u64;
        for (_, _, id) in due {
            let Some(Some((p, _))) = self.transfers.get(&id).copied() else {
                unreachable!()
            };
            self.transfers.insert(id, Some((p, PendingStatus::Expired)));
            self.release(&p, true);
        }
    }
}

fn accounts() -> Vec<Account> {
    vec![
        Account::new(1, 1, 1),
        Account::new(2, 1, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        Account::new(3, 1, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::HISTORY),
        Account::new(4, 1, 1).with_flags(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
        Account::new(5, 1, 1),
        Account::new(6, 2, 1),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Batch(Vec<Transfer>),
    /// Seconds to let pass (after the last event), then expire.
    Advance(u8),
}

fn transfer() -> impl Strategy<Value = Transfer> {
    let kind = prop_oneof![4 => Just(0u8), 3 => Just(1u8), 2 => Just(2u8), 1 => Just(3u8)];
    let amount = prop_oneof![3 => 0u128..60, 1 => Just(0u128), 1 => Just(u128::MAX), 1 => 60u128..200];
    (
        1u128..30,
        0u128..7,
        0u128..7,
        amount,
        kind,
        1u128..30,
        prop::bool::weighted(0.25),
        0u8..12,
        0u32..4,
        prop_oneof![8 => Just(1u32), 1 => Just(2u32), 1 => Just(0u32)],
    )
        .prop_map(
            |(id, dr, cr, amount, kind, pending_id, linked, extra, timeout, ledger)| {
                let mut flags = match kind {
                    0 => TransferFlags::NONE,
                    1 => TransferFlags::PENDING,
                    2 => TransferFlags::POST_PENDING_TRANSFER,
                    _ => TransferFlags::VOID_PENDING_TRANSFER,
                };
                flags = match extra {
                    0 => flags | TransferFlags::BALANCING_DEBIT,
                    1 => flags | TransferFlags::BALANCING_CREDIT,
                    2 => flags | TransferFlags::CLOSING_DEBIT,
                    3 => flags | TransferFlags::CLOSING_CREDIT,
                    _ => flags,
                };
                if linked {
                    flags = flags | TransferFlags::LINKED;
                }
                let resolution = kind >= 2;
                Transfer {
                    id,
                    debit_account_id: if resolution && extra > 5 { 0 } else { dr },
                    credit_account_id: if resolution && extra > 5 { 0 } else { cr },
                    // AMOUNT_MAX means "all" on a post; elsewhere keep sums far from overflow.
                    amount: if !resolution && amount == u128::MAX {
                        1_000
                    } else {
                        amount
                    },
                    pending_id: if resolution { pending_id } else { 0 },
                    user_data_128: 0,
                    user_data_64: 0,
                    user_data_32: 0,
                    timeout: if kind == 1 || extra == 11 { timeout } else { 0 },
                    ledger: if resolution && extra > 7 { 0 } else { ledger },
                    code: 1,
                    flags,
                    timestamp: 0,
                }
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => prop::collection::vec(transfer(), 1..8).prop_map(Step::Batch),
        1 => (0u8..4).prop_map(Step::Advance),
    ]
}

fn cases() -> u32 {
    if std::env::var("TALLY_LONG_TESTS").is_ok_and(|v| v == "1") {
        4_000
    } else {
        256
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn money_is_conserved_and_results_match_the_model(steps in prop::collection::vec(step(), 1..24)) {
        let ledger = Ledger::new(MemStore::new());
        let mut model = Model::default();
        let mut now_ns = START_NS;
        ledger.create_accounts(&accounts(), now_ns).expect("accounts");
        for account in ledger.lookup_accounts(&[1, 2, 3, 4, 5, 6]).expect("lookup") {
            model.accounts.insert(account.id, account);
        }
        model.last_ns = now_ns + accounts().len() as u64;
        for step in steps {
            match step {
                Step::Batch(batch) => {
                    let got: Vec<S> = ledger.create_transfers(&batch, now_ns).expect("batch").into_iter().map(|r| r.status).collect();
                    let expected = model.create_transfers(&batch, now_ns);
                    prop_assert_eq!(&got, &expected, "batch {:?}", batch);
                }
                Step::Advance(seconds) => {
                    now_ns = now_ns.max(model.last_ns) + u64::from(seconds) * NS_PER_S;
                    ledger.expire(now_ns).expect("expire");
                    model.expire(now_ns);
                }
            }
            let stored = ledger.lookup_accounts(&[1, 2, 3, 4, 5, 6]).expect("lookup");
            let expected: Vec<Account> = model.accounts.values().copied().collect();
            prop_assert_eq!(&stored, &expected);
            prop_assert!(model.account_limits_hold());
            let sum = |f: fn(&Account) -> u128| stored.iter().map(f).sum::<u128>();
            prop_assert_eq!(sum(|a| a.debits_posted), sum(|a| a.credits_posted), "posted money is conserved");
            prop_assert_eq!(sum(|a| a.debits_pending), sum(|a| a.credits_pending), "pending money is conserved");
            let pending = model.transfers.values().flatten().filter(|(_, s)| *s == PendingStatus::Pending).count() as u64;
            prop_assert_eq!(ledger.head().expect("head").pending, pending);
        }
        let report = ledger.audit().expect("audit");
        prop_assert!(report.is_ok(), "{:?}", report);
    }
}
