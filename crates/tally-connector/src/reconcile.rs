//! Reconciliation: agreeing with a peer on which transfers were paid.
//!
//! Both sides of a link log every transfer between them once it is final
//! ([`LogEntry`]: transfer id, amount, direction, paid or not), ordered by
//! the transfer's **expiry**, which both sides know, so both can speak of
//! "the transfers that expired between `from_ms` and `to_ms`" and mean the
//! same set. The seed's three steps, as messages of the `reconcile` side
//! protocol ([`ReconcileMessage`], JSON in a protocol-data entry):
//!
//! 1. **resolved ranges**: periodically each side sends its entries for a
//!    range that has fully expired ([`ReconcileMessage::Range`]);
//! 2. the peer compares them with its own log ([`compare`]) and replies
//!    with the **disputed set** ([`ReconcileMessage::Disputed`]; empty when
//!    both agree, and then both mark the range resolved);
//! 3. **pleaseReconcile** ([`ReconcileMessage::PleaseReconcile`]) asks the
//!    peer to send a range (again), e.g. after a restart.
//!
//! A transfer one side does not know counts as not paid on that side (it
//! never completed there). Disputes are reported, not settled: what to do
//! about a transfer one side thinks was paid and the other not is the
//! operators' decision.

use serde::{Deserialize, Serialize};
use tally_store::{Store, Txn};

use crate::account::AccountId;
use crate::error::ConnectorError;
use crate::forward::{Payment, PaymentState};
use crate::keys;

/// The most entries one range message carries.
pub const MAX_RANGE_ENTRIES: usize = 10_000;
/// The most resolved ranges remembered per account (adjacent ones merge).
pub const MAX_RESOLVED_RANGES: usize = 1_000;

/// Which way a transfer went, from the logging side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer sent it to us.
    Incoming,
    /// We sent it to the peer.
    Outgoing,
}

impl Direction {
    /// The same transfer seen from the other side.
    pub fn flipped(self) -> Self {
        match self {
            Direction::Incoming => Direction::Outgoing,
            Direction::Outgoing => Direction::Incoming,
        }
    }
}

/// One final transfer with a peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LogEntry {
    /// When it expired (or would have), ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// Its transfer id on the link.
    #[serde(with = "hex_id")]
    pub transfer_id: [u8; 16],
    /// Which way it went.
    pub direction: Direction,
    /// Its amount on the link.
    pub amount: u64,
    /// Whether it was fulfilled.
    pub paid: bool,
}

mod hex_id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(id: &[u8; 16], serializer: S) -> Result<S::Ok, S::Error> {
        let text: String = id.iter().map(|b| format!("{b:02x}")).collect();
        serializer.serialize_str(&text)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 16], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = text.as_bytes();
        if bytes.len() != 32 {
            return Err(serde::de::Error::custom("a transfer id is 32 hex digits"));
        }
        let mut id = [0u8; 16];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let digits = std::str::from_utf8(pair).map_err(serde::de::Error::custom)?;
            id[i] = u8::from_str_radix(digits, 16).map_err(serde::de::Error::custom)?;
        }
        Ok(id)
    }
}

/// One transfer the two sides disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// The receiver's entry (`None`: it does not know the transfer).
    pub ours: Option<LogEntry>,
    /// The sender's entry, as the receiver sees it (direction flipped).
    pub theirs: Option<LogEntry>,
}

/// A message of the `reconcile` side protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ReconcileMessage {
    /// The sender's final transfers that expired in `[from_ms, to_ms)`.
    Range {
        /// Start of the range, inclusive.
        from_ms: u64,
        /// End of the range, exclusive.
        to_ms: u64,
        /// The sender's entries, directions from the sender's side.
        entries: Vec<LogEntry>,
    },
    /// The answer to a `Range`: what does not match (empty: resolved).
    Disputed {
        /// Start of the range, inclusive.
        from_ms: u64,
        /// End of the range, exclusive.
        to_ms: u64,
        /// The disagreements, directions from the answering side.
        disputed: Vec<Dispute>,
    },
    /// Asks the peer to send its `Range` for `[from_ms, to_ms)`.
    PleaseReconcile {
        /// Start of the range, inclusive.
        from_ms: u64,
        /// End of the range, exclusive.
        to_ms: u64,
    },
}

/// The protocol-data name of the side protocol.
pub const PROTOCOL_NAME: &[u8] = b"reconcile";

impl ReconcileMessage {
    /// The JSON carried in the protocol-data entry.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the JSON of a protocol-data entry.
    ///
    /// # Errors
    /// [`ConnectorError::Protocol`] for anything else.
    pub fn from_json(json: &[u8]) -> Result<Self, ConnectorError> {
        serde_json::from_slice(json).map_err(|e| ConnectorError::protocol(format!("bad reconcile message: {e}")))
    }
}

/// Compares our entries with the peer's for one range (each in any
/// order; theirs with directions from their side) and returns every
/// transfer on which they differ: unknown to one side while paid on the
/// other, or different in amount, direction or outcome.
pub fn compare(ours: &[LogEntry], theirs: &[LogEntry]) -> Vec<Dispute> {
    use std::collections::BTreeMap;
    let mut by_id: BTreeMap<[u8; 16], (Option<LogEntry>, Option<LogEntry>)> = BTreeMap::new();
    for entry in ours {
        by_id.entry(entry.transfer_id).or_default().0 = Some(entry.clone());
    }
    for entry in theirs {
        let mut seen = entry.clone();
        seen.direction = entry.direction.flipped();
        by_id.entry(entry.transfer_id).or_default().1 = Some(seen);
    }
    by_id
        .into_values()
        .filter(|(ours, theirs)| match (ours, theirs) {
            (Some(a), Some(b)) => a != b,
            // Unknown on one side = not paid there: a dispute only if paid on the other.
            (Some(only), None) | (None, Some(only)) => only.paid,
            (None, None) => false,
        })
        .map(|(ours, theirs)| Dispute { ours, theirs })
        .collect()
}

/// Resolved ranges of one account: sorted, disjoint, adjacent ones merged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRanges {
    ranges: Vec<(u64, u64)>,
}

impl ResolvedRanges {
    /// The ranges, `[from, to)` each.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Adds `[from_ms, to_ms)`, merging overlaps.
    ///
    /// # Errors
    /// [`ConnectorError::Limit`] beyond [`MAX_RESOLVED_RANGES`] disjoint ranges.
    pub fn insert(&mut self, from_ms: u64, to_ms: u64) -> Result<(), ConnectorError> {
        if from_ms >= to_ms {
            return Ok(());
        }
        let (mut start, mut end) = (from_ms, to_ms);
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            if b < start || a > end {
                kept.push((a, b));
            } else {
                start = start.min(a);
                end = end.max(b);
            }
        }
        kept.push((start, end));
        kept.sort_unstable();
        if kept.len() > MAX_RESOLVED_RANGES {
            return Err(ConnectorError::Limit {
                what: "resolved ranges per account",
                max: MAX_RESOLVED_RANGES as u64,
            });
        }
        debug_assert!(kept.windows(2).all(|w| w[0].1 < w[1].0));
        self.ranges = kept;
        Ok(())
    }

    /// Whether `[from_ms, to_ms)` is wholly resolved.
    pub fn covers(&self, from_ms: u64, to_ms: u64) -> bool {
        self.ranges.iter().any(|&(a, b)| a <= from_ms && to_ms <= b)
    }
}

/// Writes the log entries of a payment that has just become final: its
/// incoming leg under the account it came from, its outgoing leg under the
/// account it went to. Keyed by expiry and transfer id, so writing twice
/// changes nothing.
pub(crate) fn log_legs<S: Store>(txn: &mut Txn<'_, S>, payment: &Payment) -> Result<(), ConnectorError> {
    let Some(leg) = &payment.outgoing else {
        return Ok(());
    };
    let paid = matches!(payment.state, PaymentState::Fulfilled { .. });
    debug_assert!(payment.state.is_final());
    let incoming = LogEntry {
        expires_at_ms: payment.incoming_expires_at_ms,
        transfer_id: payment.incoming_transfer_id,
        direction: Direction::Incoming,
        amount: payment.incoming_amount,
        paid,
    };
    let outgoing = LogEntry {
        expires_at_ms: leg.expires_at_ms,
        transfer_id: leg.transfer_id,
        direction: Direction::Outgoing,
        amount: leg.amount,
        paid,
    };
    txn.put_as(log_key(&payment.from, &incoming), &incoming)?;
    txn.put_as(log_key(&leg.to, &outgoing), &outgoing)?;
    Ok(())
}

fn log_key(account: &AccountId, entry: &LogEntry) -> Vec<u8> {
    let mut key = keys::log_entry(account, entry.expires_at_ms);
    key.extend_from_slice(&entry.transfer_id);
    key
}

/// Our log for `account` in `[from_ms, to_ms)`, at most [`MAX_RANGE_ENTRIES`].
pub(crate) fn read_log<S: Store>(
    store: &S,
    account: &AccountId,
    from_ms: u64,
    to_ms: u64,
) -> Result<Vec<LogEntry>, ConnectorError> {
    let prefix = keys::log_prefix(account);
    let mut out = Vec::new();
    // Start the scan just before from_ms.
    let start = from_ms.checked_sub(1).map(|before| {
        let mut key = keys::log_entry(account, before);
        key.extend_from_slice(&[0xff; 16]);
        key
    });
    let mut after = start;
    loop {
        let page = store.scan(&prefix, after.as_deref(), 256)?;
        for entry in &page.entries {
            let decoded: LogEntry = tally_store::codec::decode(&entry.value)
                .map_err(|error| tally_store::StoreError::codec(&entry.key, error))?;
            if decoded.expires_at_ms >= to_ms {
                return Ok(out);
            }
            if out.len() >= MAX_RANGE_ENTRIES {
                return Err(ConnectorError::Limit {
                    what: "entries in one reconcile range",
                    max: MAX_RANGE_ENTRIES as u64,
                });
            }
            out.push(decoded);
        }
        match page.next_after() {
            Some(next) => after = Some(next.to_vec()),
            None => return Ok(out),
        }
    }
}

/// Our resolved ranges with `account`.
pub(crate) fn read_resolved<S: Store>(store: &S, account: &AccountId) -> Result<ResolvedRanges, ConnectorError> {
    let key = keys::log_head(account);
    Ok(match store.get(&key)? {
        Some(found) => tally_store::codec::decode(&found.value).map_err(|e| tally_store::StoreError::codec(&key, e))?,
        None => ResolvedRanges::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u8, direction: Direction, amount: u64, paid: bool) -> LogEntry {
        LogEntry {
            expires_at_ms: 100,
            transfer_id: [id; 16],
            direction,
            amount,
            paid,
        }
    }

    #[test]
    fn matching_logs_have_no_disputes() {
        let ours = [
            entry(1, Direction::Outgoing, 5, true),
            entry(2, Direction::Incoming, 7, false),
        ];
        let theirs = [
            entry(2, Direction::Outgoing, 7, false),
            entry(1, Direction::Incoming, 5, true),
        ];
        assert!(compare(&ours, &theirs).is_empty());
    }

    #[test]
    fn differing_outcomes_and_unknown_paid_transfers_are_disputed() {
        let ours = [
            entry(1, Direction::Outgoing, 5, false),
            entry(3, Direction::Outgoing, 1, false),
        ];
        let theirs = [
            entry(1, Direction::Incoming, 5, true),
            entry(2, Direction::Outgoing, 9, true),
        ];
        let disputes = compare(&ours, &theirs);
        assert_eq!(disputes.len(), 2, "{disputes:?}");
        assert_eq!(disputes[0].theirs.as_ref().unwrap().direction, Direction::Outgoing);
        assert!(disputes[1].ours.is_none());
    }

    #[test]
    fn resolved_ranges_merge() {
        let mut ranges = ResolvedRanges::default();
        ranges.insert(10, 20).unwrap();
        ranges.insert(30, 40).unwrap();
        ranges.insert(20, 30).unwrap();
        assert_eq!(ranges.ranges(), &[(10, 40)]);
        assert!(ranges.covers(15, 35));
        assert!(!ranges.covers(5, 15));
    }

    #[test]
    fn messages_round_trip_through_json() {
        let message = ReconcileMessage::Range {
            from_ms: 1,
            to_ms: 2,
            entries: vec![entry(0xab, Direction::Incoming, 3, true)],
        };
        let json = message.to_json();
        assert!(String::from_utf8_lossy(&json).contains("abababab"));
        assert_eq!(ReconcileMessage::from_json(&json).unwrap(), message);
        assert!(ReconcileMessage::from_json(b"{}").is_err());
    }
}
