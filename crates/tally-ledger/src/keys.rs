//! The shell's key layout. Every key is `namespace / tag / parts`, built
//! like [`KeyBuilder`] builds it (escaped namespace, a one-byte tag, then
//! big-endian integers), so keys of one kind sort by their parts.
//!
//! | tag | key parts | value | written |
//! |---|---|---|---|
//! | `H` | (none) | [`Head`](crate::ledger::Head) | by **every** commit: the guard that covers all other reads |
//! | `A` | account bucket (`id >> 6`) | `[Account]`, by id | when one of its (up to 64) accounts is created or changes |
//! | `T` | transfer bucket (`id >> 6`) | `[(id, TransferSlot)]`, by id | when one of its transfers is created, resolved (pending status) or burned |
//! | `X` | account bucket, first timestamp | `[(account id, timestamp, transfer id)]` | one chunk per account bucket per commit: its accounts' transfers in it (for `get_account_transfers`) |
//! | `B` | account id, timestamp | [`AccountBalance`](crate::AccountBalance) | per transfer of a `history` account |
//! | `E` | expires_at, timestamp | pending transfer id | while a pending transfer with a timeout is unresolved |
//! | `J` | first sequence number | [`JournalPage`](crate::journal::JournalPage) | once per commit that applied events; never rewritten |
//!
//! Records live in buckets of 64 consecutive ids, so a batch of 8,189
//! transfers with time-ordered ids (as TigerBeetle recommends) reads and
//! writes about 130 transfer keys, not 8,189, and its accounts a few per 64;
//! random ids degrade gracefully to one record per bucket.
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

/// Bits of an id below its bucket number: 64 records per bucket.
pub(crate) const BUCKET_BITS: u32 = 6;

/// The bucket holding the record with id `id`.
pub(crate) const fn bucket(id: u128) -> u128 {
    id >> BUCKET_BITS
}

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

    pub(crate) fn account_bucket(&self, bucket: u128) -> Vec<u8> {
        let mut key = self.key(ACCOUNT, 16);
        key.extend_from_slice(&bucket.to_be_bytes());
        key
    }

    pub(crate) fn accounts_prefix(&self) -> Vec<u8> {
        self.key(ACCOUNT, 0)
    }

    pub(crate) fn transfer_bucket(&self, bucket: u128) -> Vec<u8> {
        let mut key = self.key(TRANSFER, 16);
        key.extend_from_slice(&bucket.to_be_bytes());
        key
    }

    fn by_account(&self, tag: u8, account_id: u128, timestamp: u64) -> Vec<u8> {
        let mut key = self.key(tag, 24);
        key.extend_from_slice(&account_id.to_be_bytes());
        key.extend_from_slice(&timestamp.to_be_bytes());
        key
    }

    pub(crate) fn account_transfers(&self, account_bucket: u128, first_timestamp: u64) -> Vec<u8> {
        self.by_account(ACCOUNT_TRANSFER, account_bucket, first_timestamp)
    }

    pub(crate) fn account_transfers_prefix(&self, account_bucket: u128) -> Vec<u8> {
        let mut key = self.key(ACCOUNT_TRANSFER, 16);
        key.extend_from_slice(&account_bucket.to_be_bytes());
        key
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
        assert_eq!(
            keys.account_bucket(7),
            KeyBuilder::new("ledger").u8(b'A').u128(7).build()
        );
        assert_eq!(
            keys.transfer_bucket(9),
            KeyBuilder::new("ledger").u8(b'T').u128(9).build()
        );
        assert_eq!(
            keys.account_transfers(7, 42),
            KeyBuilder::new("ledger").u8(b'X').u128(7).u64(42).build()
        );
        assert_eq!(bucket(63), 0);
        assert_eq!(bucket(64), 1);
        assert_eq!(
            keys.expiry(5, 6),
            KeyBuilder::new("ledger").u8(b'E').u64(5).u64(6).build()
        );
        assert_eq!(keys.journal(3), KeyBuilder::new("ledger").u8(b'J').u64(3).build());
        assert!(
            keys.account_transfers(7, 42)
                .starts_with(&keys.account_transfers_prefix(7))
        );
        assert_eq!(Keys::trailing_u64(&keys.journal(77)), Some(77));
    }

    #[test]
    fn namespaces_do_not_overlap() {
        let a = Keys::new("ledger");
        let b = Keys::new("ledger2");
        assert!(!b.head().starts_with(&a.journal_prefix()));
        assert!(!a.account_bucket(1).starts_with(&b.accounts_prefix()));
    }
}
