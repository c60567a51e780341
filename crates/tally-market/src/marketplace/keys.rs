//! The marketplace's key layout: namespace `"marketplace"`, every part built
//! with [`KeyBuilder`] (escaped strings, fixed-size ids, big-endian
//! integers).
//!
//! | kind | rest | value |
//! |---|---|---|
//! | `c` | | the [`MarketplaceConfig`](super::MarketplaceConfig), written once |
//! | `h` | | the [`ChainRecord`](super::ChainRecord): clock, token sums, counts |
//! | `l` | | the receipt log's bounds; written by **every** operation |
//! | `a` | address 20 | an account's balance |
//! | `r` | request id 32 | a [`RequestRecord`](super::RequestRecord) |
//! | `s` | slot id 32 | a [`SlotRecord`](super::SlotRecord) |
//! | `t` | sequence u64 | a [`Receipt`](super::Receipt), in the order operations were applied |
//! | `x` | transaction id 32 | the sequence of its receipt |
//!
//! Because every applied operation rewrites `l`, its version is a sequence
//! number for the whole marketplace: a scan guarded by it
//! ([`Txn::scan_guarded`](tally_store::Txn::scan_guarded)) reads one
//! snapshot.

use tally_store::key::KeyBuilder;

use crate::types::{Address, RequestId, SlotId, TxId};

/// The namespace of every key the marketplace writes.
pub const NAMESPACE: &str = "marketplace";

fn base(kind: &str) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str(kind)
}

pub(crate) fn config() -> Vec<u8> {
    base("c").build()
}

pub(crate) fn chain() -> Vec<u8> {
    base("h").build()
}

pub(crate) fn log() -> Vec<u8> {
    base("l").build()
}

pub(crate) fn account(address: &Address) -> Vec<u8> {
    base("a").fixed(address.as_bytes()).build()
}

pub(crate) fn account_prefix() -> Vec<u8> {
    base("a").build()
}

pub(crate) fn request(id: &RequestId) -> Vec<u8> {
    base("r").fixed(id.as_bytes()).build()
}

pub(crate) fn request_prefix() -> Vec<u8> {
    base("r").build()
}

pub(crate) fn slot(id: &SlotId) -> Vec<u8> {
    base("s").fixed(id.as_bytes()).build()
}

pub(crate) fn slot_prefix() -> Vec<u8> {
    base("s").build()
}

pub(crate) fn receipt(seq: u64) -> Vec<u8> {
    base("t").u64(seq).build()
}

pub(crate) fn receipt_prefix() -> Vec<u8> {
    base("t").build()
}

pub(crate) fn tx(id: &TxId) -> Vec<u8> {
    base("x").fixed(id.as_bytes()).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_never_share_a_prefix_and_receipts_sort_by_sequence() {
        let keys = [
            config(),
            chain(),
            log(),
            account(&Address([7; 20])),
            request(&RequestId([7; 32])),
            slot(&SlotId([7; 32])),
            receipt(7),
            tx(&TxId([7; 32])),
        ];
        for prefix in [account_prefix(), request_prefix(), slot_prefix(), receipt_prefix()] {
            assert_eq!(keys.iter().filter(|key| key.starts_with(&prefix)).count(), 1);
        }
        assert!(receipt(255) < receipt(256));
        // The sales records ("market") and the marketplace's may share a store.
        let sales = KeyBuilder::new(crate::keys::NAMESPACE).build();
        assert!(keys.iter().all(|key| !key.starts_with(&sales)));
    }
}
