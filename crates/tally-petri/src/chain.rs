//! The hash chain's byte layout: what exactly each keccak-256 covers.
//!
//! Every hash starts with a domain tag (so an event hash can never be
//! mistaken for a genesis or net hash) and then the fields, each in a fixed
//! encoding: integers as 8 big-endian bytes, strings and byte strings as an
//! 8-byte big-endian length followed by the bytes, an optional value as a
//! byte `0` (absent) or `1` followed by the value, a state vector as its
//! length followed by each count as 8 bytes. A verifier in another language
//! can recompute every hash from this description.
//!
//! - **genesis** = keccak256(`"tally-petri/genesis/v1"`, schema, oid,
//!   net fingerprint (32 bytes), created_ms, initial state): the "previous
//!   hash" of a stream's first event;
//! - **event** = keccak256(`"tally-petri/event/v1"`, prev_hash (32 bytes),
//!   seq, action, multiple, role (optional), payload, timestamp_ms, state
//!   after): each event's hash covers the one before it, so changing any
//!   event changes every hash after it.

use tiny_keccak::Hasher as _;

/// keccak-256 (the original Keccak padding, as Ethereum uses it) of `bytes`.
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = tiny_keccak::Keccak::v256();
    hasher.update(bytes);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// A keccak-256 hasher that writes fields in the encoding above.
pub(crate) struct Keccak(tiny_keccak::Keccak);

impl Keccak {
    pub(crate) fn new(tag: &[u8]) -> Self {
        let mut hasher = Keccak(tiny_keccak::Keccak::v256());
        hasher.bytes(tag);
        hasher
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.0.update(&value.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, value: &[u8]) {
        self.u64(value.len() as u64);
        self.0.update(value);
    }

    pub(crate) fn fixed(&mut self, value: &[u8; 32]) {
        self.0.update(value);
    }

    pub(crate) fn str(&mut self, value: &str) {
        self.bytes(value.as_bytes());
    }

    pub(crate) fn optional_str(&mut self, value: Option<&str>) {
        match value {
            None => self.0.update(&[0]),
            Some(value) => {
                self.0.update(&[1]);
                self.str(value);
            }
        }
    }

    pub(crate) fn position(&mut self, value: Option<crate::net::Position>) {
        match value {
            None => self.0.update(&[0]),
            Some(position) => {
                self.0.update(&[1]);
                self.0.update(&position.x.to_bits().to_be_bytes());
                self.0.update(&position.y.to_bits().to_be_bytes());
            }
        }
    }

    pub(crate) fn state(&mut self, state: &[u32]) {
        self.u64(state.len() as u64);
        for &tokens in state {
            self.u64(u64::from(tokens));
        }
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.0.finalize(&mut out);
        out
    }
}

/// The genesis hash of a stream: the `prev_hash` of its first event.
pub fn genesis_hash(schema: &str, oid: &str, net_fingerprint: &[u8; 32], created_ms: u64, initial: &[u32]) -> [u8; 32] {
    let mut hasher = Keccak::new(b"tally-petri/genesis/v1");
    hasher.str(schema);
    hasher.str(oid);
    hasher.fixed(net_fingerprint);
    hasher.u64(created_ms);
    hasher.state(initial);
    hasher.finish()
}

/// The fields an event hash covers.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    /// The previous event's hash (or the genesis hash).
    pub prev_hash: &'a [u8; 32],
    /// The event's sequence number (1 for the first).
    pub seq: u64,
    /// The transition fired.
    pub action: &'a str,
    /// How many times, as one step.
    pub multiple: u32,
    /// The role it was fired as.
    pub role: Option<&'a str>,
    /// The caller's payload bytes.
    pub payload: &'a [u8],
    /// When it was dispatched.
    pub timestamp_ms: u64,
    /// The state vector after it.
    pub state: &'a [u32],
}

/// The hash of an event.
pub fn event_hash(fields: &EventFields<'_>) -> [u8; 32] {
    let mut hasher = Keccak::new(b"tally-petri/event/v1");
    hasher.fixed(fields.prev_hash);
    hasher.u64(fields.seq);
    hasher.str(fields.action);
    hasher.u64(u64::from(fields.multiple));
    hasher.optional_str(fields.role);
    hasher.bytes(fields.payload);
    hasher.u64(fields.timestamp_ms);
    hasher.state(fields.state);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak256_is_the_original_keccak_not_sha3() {
        // keccak256("") as Ethereum knows it.
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
    }

    #[test]
    fn event_hash_covers_the_previous_hash() {
        let fields = EventFields {
            prev_hash: &[0; 32],
            seq: 1,
            action: "INC_0",
            multiple: 1,
            role: None,
            payload: b"{}",
            timestamp_ms: 5,
            state: &[1, 0],
        };
        let other = EventFields {
            prev_hash: &[1; 32],
            ..fields
        };
        assert_ne!(event_hash(&fields), event_hash(&other));
    }
}
