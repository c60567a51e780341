//! The shapes the API returns, with pg-machinomy's field names.

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, ChannelEvent, FoldedChannel};
use crate::types::wei;
use crate::update::{Rejection, StateUpdate, StateUpdateStatus, remaining_balance};

/// A channel's current status (pg-machinomy's `ChannelStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelStatus {
    /// The channel as its events make it.
    pub channel: Channel,
    /// The last event considered (chain event or intent).
    pub latest_event: Option<ChannelEvent>,
    /// The last intent considered.
    pub latest_intent_event: Option<ChannelEvent>,
    /// The last chain event considered.
    pub latest_chain_event: Option<ChannelEvent>,
    /// The latest stored state update (the largest amount).
    pub latest_state: Option<StateUpdate>,
    /// `latest_state.amount`.
    #[serde(rename = "current_payment", with = "wei::option")]
    pub current_payment_wei: Option<U256>,
    /// `channel.value - current_payment` (see
    /// [`remaining_balance`](crate::update::remaining_balance)).
    #[serde(rename = "current_remaining_balance", with = "wei::option")]
    pub current_remaining_balance_wei: Option<U256>,
    /// An event did not fit the channel's state; the channel is shown as it
    /// was before that event.
    pub is_invalid: bool,
    /// Why, for a developer.
    pub is_invalid_reason: Option<String>,
}

impl ChannelStatus {
    /// Combines a fold with the latest state update.
    pub fn new(folded: FoldedChannel, latest_state: Option<StateUpdate>) -> Self {
        let current_payment_wei = latest_state.as_ref().map(|state| state.amount_wei);
        let current_remaining_balance_wei = remaining_balance(&folded.channel, current_payment_wei);
        ChannelStatus {
            channel: folded.channel,
            latest_event: folded.latest_event,
            latest_intent_event: folded.latest_intent_event,
            latest_chain_event: folded.latest_chain_event,
            latest_state,
            current_payment_wei,
            current_remaining_balance_wei,
            is_invalid: folded.is_invalid_reason.is_some(),
            is_invalid_reason: folded.is_invalid_reason,
        }
    }
}

/// An accepted state update (pg-machinomy's `insertStateUpdate` result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateUpdateResult {
    /// The stored update's id (unique within its channel, from 1, in
    /// storage order); `None` for a duplicate, which stores nothing.
    pub id: Option<u64>,
    /// False for an exact duplicate.
    pub created: bool,
    /// The status the update had when it arrived.
    pub status: StateUpdateStatus,
    /// It is (now) the latest state.
    pub is_latest: bool,
    /// The channel's latest state after the call.
    pub latest_state: StateUpdate,
    /// `latest_state.amount`.
    #[serde(rename = "channel_payment", with = "wei")]
    pub channel_payment_wei: U256,
    /// `channel.value - latest_state.amount`; `None` without a channel value.
    #[serde(rename = "channel_remaining_balance", with = "wei::option")]
    pub channel_remaining_balance_wei: Option<U256>,
    /// What the update added over the previous latest state; `None` unless
    /// it is the latest.
    #[serde(rename = "added_amount", with = "wei::option")]
    pub added_amount_wei: Option<U256>,
}

impl StateUpdateResult {
    /// The result of accepting an update with `status`: stored as `id`
    /// (`created`), or a duplicate (`id` `None`, not `created`); `latest` is
    /// the channel's latest state after the call.
    pub fn new(
        id: Option<u64>,
        created: bool,
        status: StateUpdateStatus,
        latest: StateUpdate,
        channel: &Channel,
    ) -> Self {
        debug_assert_eq!(id.is_some(), created);
        let channel_payment_wei = latest.amount_wei;
        StateUpdateResult {
            id,
            created,
            is_latest: status.is_latest,
            added_amount_wei: status.added_amount_wei,
            status,
            channel_remaining_balance_wei: remaining_balance(channel, Some(channel_payment_wei)),
            channel_payment_wei,
            latest_state: latest,
        }
    }
}

/// A refused state update (pg-machinomy's error form
/// `{error: true, status, reason}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateUpdateRejection {
    /// Always `true`.
    pub error: bool,
    /// The status the update had.
    pub status: StateUpdateStatus,
    /// The reason code: `signature_invalid`, `conflict`, `incorrect_sender`
    /// or `amount_exceeds_channel_value`.
    pub reason: String,
    /// The precise reason, for a developer (`"signature_invalid: signature
    /// v = 29 is not accepted ..."`).
    pub detail: String,
}

impl StateUpdateRejection {
    /// The rejection form of `rejection`.
    pub fn new(status: StateUpdateStatus, rejection: &Rejection) -> Self {
        StateUpdateRejection {
            error: true,
            status,
            reason: rejection.code().to_owned(),
            detail: rejection.to_string(),
        }
    }
}

/// What [`insert_state_update`](crate::ChannelBook::insert_state_update)
/// returns: accepted or refused. Serializes as either shape, untagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned by value once per call; boxing would cost an allocation on the hot path"
)]
pub enum StateUpdateOutcome {
    /// Refused (recorded for audit, nothing else changed).
    Rejected(StateUpdateRejection),
    /// Stored, or an exact duplicate.
    Accepted(StateUpdateResult),
}

impl StateUpdateOutcome {
    /// The accepted result, if accepted.
    pub fn accepted(&self) -> Option<&StateUpdateResult> {
        match self {
            StateUpdateOutcome::Accepted(result) => Some(result),
            StateUpdateOutcome::Rejected(_) => None,
        }
    }

    /// The refusal's reason code, if refused.
    pub fn reason(&self) -> Option<&str> {
        match self {
            StateUpdateOutcome::Accepted(_) => None,
            StateUpdateOutcome::Rejected(rejection) => Some(&rejection.reason),
        }
    }
}

/// What [`set_recent_blocks`](crate::ChannelBook::set_recent_blocks) returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentBlocksResult {
    /// How many events changed validity.
    pub updated_event_count: u64,
    /// The status of every channel with such an event.
    pub updated_channels: Vec<ChannelStatus>,
}

/// One page of a channel's history (see [`ChannelBook::channel_events`](crate::ChannelBook::channel_events)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage<T> {
    /// The entries, in the history's order.
    pub items: Vec<T>,
    /// Where to go on: pass it as `after` for the next page; `None` when
    /// this page is the last.
    pub next: Option<HistoryCursor>,
}

/// Where a history page ended: pass it back as `after` to read on. Opaque
/// (the bytes are the position within the channel's records); a host may
/// hand it to a client with [`as_bytes`](HistoryCursor::as_bytes) and take
/// it back with [`from_bytes`](HistoryCursor::from_bytes). A cursor of one
/// kind of history given to another only starts at an odd position.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HistoryCursor(Vec<u8>);

impl HistoryCursor {
    /// The cursor's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A cursor from bytes [`as_bytes`](HistoryCursor::as_bytes) gave.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        HistoryCursor(bytes)
    }
}
