//! The shell's key layout. Every key is `namespace / tag / parts`, built
//! like [`KeyBuilder`] builds it (escaped namespace, a one-byte tag, then
//! big-endian integers), so keys of one kind sort by their parts.
//!
//! | tag | key parts | value | written |
//! |---|---|---|---|
//! | `H` | (none) | [`Head`](crate::ledger::Head) | by **every** commit: the guard that covers all other reads |
//! | `A` | account id | [`Account`](crate::Account) | on create and on every balance change |
//! | `T` | transfer id | [`TransferSlot`](crate::core::TransferSlot) | on create, on resolution of a pending transfer, on a transient failure (burned id) |
//! | `X` | account id, first timestamp | `[(timestamp, transfer id)]` | one chunk per account per commit: the account's transfers in it (for `get_account_transfers`) |
//! | `B` | account id, timestamp | [`AccountBalance`](crate::AccountBalance) | per transfer of a `history` account |
//! | `E` | expires_at, timestamp | pending transfer id | while a pending transfer with a timeout is unresolved |
//! | `J` | first sequence number | [`JournalPage`](crate::journal::JournalPage) | once per commit that applied events; never rewritten |
//!
//! Because every commit writes `H`, a transaction that read `H` first can
//! read everything else without a precondition of its own: any commit that
//! changed what it read also changed `H`, so its own commit conflicts and is
//! retried. One precondition per batch, whatever its size.

use tally_store::key::KeyBuilder;

const HEAD: u8 = b'H';
const ACCOUNT: u8 = b'A';
const TRANSFER: u8 = b'T';
const ACCOUNT_TRANSFER: u8 = b'X';
const BALANCE: u8 = b'B';
const EXPIRY: u8 = b'E';
const JOURNAL: u8 = b'J';

/// Builds the ledger's keys under one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    /// The escaped namespace, as `KeyBuilder::new(namespace)` writes it.
    namespace: Vec<u8>,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Keys {
            namespace: KeyBuilder::new(namespace).build(),
        }
    }

    fn key(&self, tag: u8, extra: usize) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.namespace.len() + 1 + extra);
        key.extend_from_slice(&self.namespace);
        key.push(tag);
        key
    }

    pub(crate) fn head(&self) -> Vec<u8> {
        self.key(HEAD, 0)
    }

    pub(crate) fn account(&self, id: u128) -> Vec<u8> {
        let mut key = self.key(ACCOUNT, 16);
        key.extend_from_slice(&id.to_be_bytes());
        key
    }

    pub(crate) fn accounts_prefix(&self) -> Vec<u8> {
        self.key(ACCOUNT, 0)
    }

    pub(crate) fn transfer(&self, id: u128) -> Vec<u8> {
        let mut key = self.key(TRANSFER, 16);
        key.extend_from_slice(&id.to_be_bytes());
        key
    }

    fn by_account(&self, tag: u8, account_id: u128, timestamp: u64) -> Vec<u8> {
        let mut key = self.key(tag, 24);
        key.extend_from_slice(&account_id.to_be_bytes());
        key.extend_from_slice(&timestamp.to_be_bytes());
        key
    }

    fn by_account_prefix(&self, tag: u8, account_id: u128) -> Vec<u8> {
        let mut key = self.key(tag, 16);
        key.extend_from_slice(&account_id.to_be_bytes());
        key
    }

    pub(crate) fn account_transfer(&self, account_id: u128, timestamp: u64) -> Vec<u8> {
        self.by_account(ACCOUNT_TRANSFER, account_id, timestamp)
    }

    pub(crate) fn account_transfers_prefix(&self, account_id: u128) -> Vec<u8> {
        self.by_account_prefix(ACCOUNT_TRANSFER, account_id)
    }

    pub(crate) fn balance(&self, account_id: u128, timestamp: u64) -> Vec<u8> {
        self.by_account(BALANCE, account_id, timestamp)
    }

    pub(crate) fn expiry(&self, expires_at_ns: u64, timestamp: u64) -> Vec<u8> {
        let mut key = self.key(EXPIRY, 16);
        key.extend_from_slice(&expires_at_ns.to_be_bytes());
        key.extend_from_slice(&timestamp.to_be_bytes());
        key
    }

    pub(crate) fn expiries_prefix(&self) -> Vec<u8> {
        self.key(EXPIRY, 0)
    }

    pub(crate) fn journal(&self, first_seq: u64) -> Vec<u8> {
        let mut key = self.key(JOURNAL, 8);
        key.extend_from_slice(&first_seq.to_be_bytes());
        key
    }

    pub(crate) fn journal_prefix(&self) -> Vec<u8> {
        self.key(JOURNAL, 0)
    }

    /// The trailing big-endian `u64` of a key (the timestamp of `X`/`B`/`E`
    /// keys, the sequence number of `J` keys).
    pub(crate) fn trailing_u64(key: &[u8]) -> Option<u64> {
        let start = key.len().checked_sub(8)?;
        key.get(start..)?.try_into().ok().map(u64::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_laid_out_as_key_builder_lays_them_out() {
        let keys = Keys::new("ledger");
        assert_eq!(keys.head(), KeyBuilder::new("ledger").u8(b'H').build());
        assert_eq!(keys.account(7), KeyBuilder::new("ledger").u8(b'A').u128(7).build());
        assert_eq!(keys.transfer(9), KeyBuilder::new("ledger").u8(b'T').u128(9).build());
        assert_eq!(
            keys.account_transfer(7, 42),
            KeyBuilder::new("ledger").u8(b'X').u128(7).u64(42).build()
        );
        assert_eq!(
            keys.expiry(5, 6),
            KeyBuilder::new("ledger").u8(b'E').u64(5).u64(6).build()
        );
        assert_eq!(keys.journal(3), KeyBuilder::new("ledger").u8(b'J').u64(3).build());
        assert!(
            keys.account_transfer(7, 42)
                .starts_with(&keys.account_transfers_prefix(7))
        );
        assert_eq!(Keys::trailing_u64(&keys.journal(77)), Some(77));
    }

    #[test]
    fn namespaces_do_not_overlap() {
        let a = Keys::new("ledger");
        let b = Keys::new("ledger2");
        assert!(!b.head().starts_with(&a.journal_prefix()));
        assert!(!a.account(1).starts_with(&b.accounts_prefix()));
    }
}
