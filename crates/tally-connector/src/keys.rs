//! The connector's key layout in the store (namespace `"connector"`).
//!
//! | kind | rest | value |
//! |---|---|---|
//! | `a` | account | [`AccountRecord`](crate::connector::AccountRecord): config and the cold balance |
//! | `h` | account · slot u32 | [`BalanceParts`](crate::BalanceParts) of one hot slot |
//! | `p` | payment id 32 | the [`Payment`](crate::forward::Payment) (the hot set entry) |
//! | `o` | account · outgoing transfer id 16 | payment id: finds a payment from its outgoing leg |
//! | `c` | condition 32 · payment id 32 | owner [`WorkerId`](crate::WorkerId): the hot set, by condition, while in flight |
//! | `x` | expiry ms u64 · payment id 32 | `()`: in-flight payments by outgoing expiry |
//! | `m` | account · operation id 16 | `()`: a deposit, move or payout already applied |
//! | `r` | prefix · account | [`LiquidityCurve`](crate::routing::LiquidityCurve): an announced route |
//! | `l` | account · expiry ms u64 · transfer id 16 | a [`LogEntry`](crate::reconcile::LogEntry): the transfer log |
//! | `n` | account | the [`ResolvedRanges`](crate::reconcile::ResolvedRanges) agreed with the peer |
//!
//! Integers are big-endian, so scans return them in order.

use tally_store::key::KeyBuilder;

use crate::account::AccountId;
use crate::forward::PaymentId;

pub(crate) const NAMESPACE: &str = "connector";

fn kind(kind: &str) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str(kind)
}

pub(crate) fn account(id: &AccountId) -> Vec<u8> {
    kind("a").str(id.as_str()).build()
}

pub(crate) fn slot(id: &AccountId, slot: u32) -> Vec<u8> {
    kind("h").str(id.as_str()).u32(slot).build()
}

pub(crate) fn payment(id: &PaymentId) -> Vec<u8> {
    kind("p").fixed(&id.0).build()
}

pub(crate) fn outgoing(to: &AccountId, transfer_id: &[u8; 16]) -> Vec<u8> {
    kind("o").str(to.as_str()).fixed(transfer_id).build()
}

pub(crate) fn condition_prefix(condition: &[u8; 32]) -> Vec<u8> {
    kind("c").fixed(condition).build()
}

pub(crate) fn condition(condition: &[u8; 32], payment: &PaymentId) -> Vec<u8> {
    kind("c").fixed(condition).fixed(&payment.0).build()
}

pub(crate) fn expiry_prefix() -> Vec<u8> {
    kind("x").build()
}

pub(crate) fn expiry(expires_at_ms: u64, payment: &PaymentId) -> Vec<u8> {
    kind("x").u64(expires_at_ms).fixed(&payment.0).build()
}

/// Splits an expiry key into its expiry and payment id.
pub(crate) fn parse_expiry(key: &[u8]) -> Option<(u64, PaymentId)> {
    let rest = key.strip_prefix(expiry_prefix().as_slice())?;
    let (expiry, id) = rest.split_first_chunk::<8>()?;
    let id: [u8; 32] = id.try_into().ok()?;
    Some((u64::from_be_bytes(*expiry), PaymentId(id)))
}

pub(crate) fn operation(id: &AccountId, operation: &[u8; 16]) -> Vec<u8> {
    kind("m").str(id.as_str()).fixed(operation).build()
}

pub(crate) fn route_prefix() -> Vec<u8> {
    kind("r").build()
}

pub(crate) fn route(prefix: &[u8], account: &AccountId) -> Vec<u8> {
    kind("r").bytes(prefix).str(account.as_str()).build()
}

pub(crate) fn log_entry(id: &AccountId, expires_at_ms: u64) -> Vec<u8> {
    kind("l").str(id.as_str()).u64(expires_at_ms).build()
}

pub(crate) fn log_prefix(id: &AccountId) -> Vec<u8> {
    kind("l").str(id.as_str()).build()
}

pub(crate) fn log_head(id: &AccountId) -> Vec<u8> {
    kind("n").str(id.as_str()).build()
}
