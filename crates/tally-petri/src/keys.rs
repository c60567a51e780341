//! The event store's key layout (namespace `"petri"`).
//!
//! | kind | rest of the key | value |
//! |---|---|---|
//! | `n` | schema | [`SchemaRecord`]: the net's spec and fingerprint |
//! | `s` | schema / oid | the stream's [`StreamHead`](crate::stream::StreamHead) |
//! | `e` | schema / oid / seq u64 | an [`Event`](crate::stream::Event) |
//! | `h` | schema / event hash 32 | [`EventRef`]: which stream and seq have that hash |
//!
//! Strings are escaped, terminated key parts and integers big-endian
//! ([`tally_store::key`]), so a stream's events sort by `seq` and one prefix
//! scan reads them in order. Every dispatch rewrites the stream's head, so
//! the head is the guard of its event range.

use serde::{Deserialize, Serialize};
use tally_store::key::KeyBuilder;

use crate::net::NetSpec;

const NAMESPACE: &str = "petri";

/// A registered schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SchemaRecord {
    pub(crate) spec: NetSpec,
    pub(crate) fingerprint: [u8; 32],
}

/// Where the event with a given hash lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventRef {
    pub(crate) oid: String,
    pub(crate) seq: u64,
}

pub(crate) fn schema(schema: &str) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE).str("n").str(schema).build()
}

pub(crate) fn head(schema: &str, oid: &str) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE).str("s").str(schema).str(oid).build()
}

/// The prefix of every event key of one stream.
pub(crate) fn events(schema: &str, oid: &str) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE).str("e").str(schema).str(oid).build()
}

pub(crate) fn event(schema: &str, oid: &str, seq: u64) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE)
        .str("e")
        .str(schema)
        .str(oid)
        .u64(seq)
        .build()
}

pub(crate) fn hash(schema: &str, hash: &[u8; 32]) -> Vec<u8> {
    KeyBuilder::new(NAMESPACE).str("h").str(schema).fixed(hash).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streams_events_sort_by_seq_under_its_prefix() {
        let prefix = events("s", "a");
        let keys: Vec<Vec<u8>> = [1u64, 2, 255, 256, 1 << 40]
            .iter()
            .map(|&seq| event("s", "a", seq))
            .collect();
        assert!(keys.iter().all(|key| key.starts_with(&prefix)));
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        // A stream whose oid extends another's is not under its prefix.
        assert!(!event("s", "ab", 1).starts_with(&prefix));
    }
}
