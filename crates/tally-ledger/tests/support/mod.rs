//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub, clippy::expect_used, clippy::unwrap_used)]

use tally_ledger::{
    Account, AccountFlags, CreateAccountStatus, CreateTransferStatus, Ledger, NS_PER_S, Transfer, TransferFlags,
};
use tally_store::{MemStore, Store};

/// A ledger with a hand-driven clock.
pub struct Book<S = MemStore> {
    pub ledger: Ledger<S>,
    pub now_ns: u64,
}

pub const START_NS: u64 = 1_700_000_000 * NS_PER_S;

impl Book<MemStore> {
    pub fn new() -> Self {
        Book::on(MemStore::new())
    }

    /// Accounts 1 (unlimited), 2 (debits_must_not_exceed_credits),
    /// 3 (credits_must_not_exceed_debits), 4 (unlimited) on ledger 1, and 9
    /// on ledger 2.
    pub fn standard() -> Book<MemStore> {
        let book = Book::new();
        let statuses = book.accounts(&[
            Account::new(1, 1, 1),
            Account::new(2, 1, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            Account::new(3, 1, 1).with_flags(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
            Account::new(4, 1, 1),
            Account::new(9, 2, 1),
        ]);
        assert!(statuses.iter().all(|s| *s == CreateAccountStatus::Created));
        book
    }
}

impl<S: Store> Book<S> {
    pub fn on(store: S) -> Self {
        Book {
            ledger: Ledger::new(store),
            now_ns: START_NS,
        }
    }

    pub fn accounts(&self, batch: &[Account]) -> Vec<CreateAccountStatus> {
        self.ledger
            .create_accounts(batch, self.now_ns)
            .expect("create_accounts")
            .into_iter()
            .map(|r| r.status)
            .collect()
    }

    pub fn transfers(&self, batch: &[Transfer]) -> Vec<CreateTransferStatus> {
        self.ledger
            .create_transfers(batch, self.now_ns)
            .expect("create_transfers")
            .into_iter()
            .map(|r| r.status)
            .collect()
    }

    pub fn transfer(&self, transfer: Transfer) -> CreateTransferStatus {
        self.transfers(&[transfer])[0]
    }

    pub fn account(&self, id: u128) -> Account {
        self.ledger.lookup_accounts(&[id]).expect("lookup")[0]
    }

    /// (debits_pending, debits_posted, credits_pending, credits_posted)
    pub fn balances(&self, id: u128) -> (u128, u128, u128, u128) {
        let a = self.account(id);
        (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
    }

    /// `seconds` pass after the ledger's last event; then expire what is due.
    pub fn advance(&mut self, seconds: u64) -> usize {
        let last = self.ledger.head().expect("head").timestamp_last_ns;
        self.now_ns = self.now_ns.max(last) + seconds * NS_PER_S;
        self.ledger.expire(self.now_ns).expect("expire")
    }

    pub fn assert_audit(&self) {
        let report = self.ledger.audit().expect("audit");
        assert!(report.is_ok(), "audit: {report:?}");
    }
}

pub fn pending(id: u128, dr: u128, cr: u128, amount: u128) -> Transfer {
    Transfer::new(id, dr, cr, amount, 1, 1).with_flags(TransferFlags::PENDING)
}

pub fn single(id: u128, dr: u128, cr: u128, amount: u128) -> Transfer {
    Transfer::new(id, dr, cr, amount, 1, 1)
}

pub fn linked(transfer: Transfer) -> Transfer {
    let flags = transfer.flags | TransferFlags::LINKED;
    transfer.with_flags(flags)
}
