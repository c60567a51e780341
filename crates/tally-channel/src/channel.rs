//! What may happen to a channel: contract events folded into a [`Channel`].
//!
//! The fold is pg-machinomy's `mcy_get_channel`, as a pure function:
//!
//! 1. Take the chain events whose block is still valid (see
//!    [`ChannelEvent::block_is_valid`]) and the intents (events the server
//!    expects, `block_hash: None`).
//! 2. **Promote intents**: each intent, in order, is matched with the first
//!    unused valid chain event of the same type, sender and fields at or
//!    after the intent's block number. A matched intent drops out: the real
//!    event stands for it. An intent whose chain event is later orphaned
//!    counts again, until the event comes back.
//! 3. Order by `(block_number, block_hash, ts)`, intents after chain events
//!    of the same block, ties in insertion order.
//! 4. Apply the events one by one with the table below. The first event
//!    that does not fit the state stops the fold: the channel is returned as
//!    it was *before* that event, with `is_invalid_reason` saying why.
//!
//! | event | contract | required state | effect |
//! |---|---|---|---|
//! | `DidOpen` | Unidirectional | none | → `CS_OPEN`; sender, receiver, value, token contract, `opened_on` |
//! | `DidCreateChannel` | Broker | none | → `CS_OPEN`; sender, receiver, value, settlement period, until, `opened_on` |
//! | `DidDeposit` | both | `CS_OPEN` | value += the deposit |
//! | `DidStartSettling` | Unidirectional | `CS_OPEN` | → `CS_SETTLING`; `settlement_started_on` |
//! | `DidStartSettle` | Broker | `CS_OPEN` | → `CS_SETTLING`; `settlement_started_on`, until = ts + settlement period, payment |
//! | `DidClaim` | Unidirectional | `CS_OPEN` or `CS_SETTLING` | → `CS_SETTLED`; `settlement_finalized_on` |
//! | `DidSettle` with `payment` | Broker | `CS_OPEN` or `CS_SETTLING` | → `CS_SETTLED`; `settlement_finalized_on`, payment, odd value |
//! | `DidSettle` without | Unidirectional | `CS_SETTLING` | → `CS_SETTLED`; `settlement_finalized_on` |
//!
//! # Identity: when two sightings are one event
//!
//! Event watchers see the same event more than once (a block read again, a
//! retried call), each time with a later `ts`. [`ChannelEvent::identity`]
//! says what makes two sightings one event, so that inserting it again
//! changes nothing; [`recognize`] applies it. `ts` is never part of a chain
//! event's identity: it records when the host looked, not what happened.
//!
//! - **A chain event with its [`LogPosition`]**: (chain, contract, block
//!   hash, transaction hash, log index), what the chain itself names a log
//!   by. Two deposits in one block are two events, even with equal fields.
//! - **A chain event without one** (pg-machinomy's JSON has none): (chain,
//!   contract, block hash, event type, sender, fields). The price: two
//!   genuine events of the same type, sender and fields in one block count
//!   once. Give log positions to tell them apart.
//! - **Both forms of one event.** A sighting with a position of an event
//!   stored without one is that event (it gains its position:
//!   [`Sighting::Locates`]); a sighting without a position matches the first
//!   stored event with its content, positioned or not. A host that starts
//!   sending positions does not count what it already sent again.
//! - **An intent** (`block_hash: None`) is the host's own expectation, made
//!   when it sends a transaction, not a sighting of the chain: its identity
//!   is everything the host said, `ts` included (block number, `ts`, event
//!   type, sender, fields). Two intents for equal deposits made at different
//!   times are two expected deposits; a retried call passes the same intent,
//!   `ts` and all, like any idempotent request. An intent has no log
//!   position ([`ChannelEvent::as_inserted`] drops one).
//!
//! A second sighting must tell the same story: one with a stored event's
//! identity but another block number, event type, sender or fields is
//! [`IdentityClash`], not silently ignored. Identities are per channel (a
//! log belongs to one channel).
//!
//! # Inserting and reorganisations
//!
//! An event enters valid ([`ChannelEvent::as_inserted`]): only the chain's
//! own blocks say otherwise. After a reorganisation the host lists the
//! chain's recent blocks ([`RecentBlocks`]): a chain event at or above the
//! first listed block is valid iff its block hash is the one listed for its
//! number, so an event past the end of the list is invalid; events below the
//! list, and intents, keep their validity ([`RecentBlocks::validity`]).

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::types::{Address, BlockHash, ChainId, ChannelId, TxHash, wei};

/// The chain's recent blocks after a reorganisation: `hashes[n]` is the hash
/// of block `first_block_number + n` (pg-machinomy's `setRecentBlocks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentBlocks<'a> {
    /// The number of the block `hashes[0]` names.
    pub first_block_number: u64,
    /// The hashes of consecutive blocks from `first_block_number` on.
    pub hashes: &'a [BlockHash],
}

impl RecentBlocks<'_> {
    /// Whether `event` is on the chain these blocks describe: `None` when the
    /// list says nothing of it (an intent, or a block below
    /// `first_block_number`), otherwise `Some(valid)`: its block hash is the
    /// one listed for its number, false past the end of the list.
    pub fn validity(&self, event: &ChannelEvent) -> Option<bool> {
        let block_hash = event.block_hash?;
        let offset = event.block_number.checked_sub(self.first_block_number)?;
        let listed = usize::try_from(offset).ok().and_then(|offset| self.hashes.get(offset));
        Some(listed == Some(&block_hash))
    }
}

/// Identifies a channel: the chain, the contract and the channel id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelKey {
    /// The chain.
    pub chain_id: ChainId,
    /// The channel contract (pg-machinomy's `contract_id`).
    pub contract_id: Address,
    /// The channel id.
    pub channel_id: ChannelId,
}

/// The lifecycle state of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChannelState {
    /// Open: the sender may deposit; the receiver may claim.
    #[serde(rename = "CS_OPEN")]
    Open,
    /// The sender started settling; the receiver should claim soon.
    #[serde(rename = "CS_SETTLING")]
    Settling,
    /// Claimed or settled: the channel is closed on chain.
    #[serde(rename = "CS_SETTLED")]
    Settled,
}

impl ChannelState {
    /// pg-machinomy's name: `CS_OPEN`, `CS_SETTLING`, `CS_SETTLED`.
    pub fn name(self) -> &'static str {
        match self {
            ChannelState::Open => "CS_OPEN",
            ChannelState::Settling => "CS_SETTLING",
            ChannelState::Settled => "CS_SETTLED",
        }
    }
}

/// The contract events tally understands (Unidirectional and Broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// Unidirectional: a channel was opened.
    DidOpen,
    /// Broker: a channel was created.
    DidCreateChannel,
    /// Both: the sender added value.
    DidDeposit,
    /// Unidirectional: the receiver claimed; the channel is gone.
    DidClaim,
    /// Unidirectional: the sender started settling.
    DidStartSettling,
    /// Broker: the sender started settling with a payment.
    DidStartSettle,
    /// Both: the channel settled.
    DidSettle,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 7] = [
        EventType::DidOpen,
        EventType::DidCreateChannel,
        EventType::DidDeposit,
        EventType::DidClaim,
        EventType::DidStartSettling,
        EventType::DidStartSettle,
        EventType::DidSettle,
    ];

    /// The contract's event name.
    pub fn name(self) -> &'static str {
        match self {
            EventType::DidOpen => "DidOpen",
            EventType::DidCreateChannel => "DidCreateChannel",
            EventType::DidDeposit => "DidDeposit",
            EventType::DidClaim => "DidClaim",
            EventType::DidStartSettling => "DidStartSettling",
            EventType::DidStartSettle => "DidStartSettle",
            EventType::DidSettle => "DidSettle",
        }
    }

    /// Parses a [`name`](EventType::name).
    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|event_type| event_type.name() == name)
    }
}

/// The event's own fields (pg-machinomy's `fields`); which ones an event
/// needs is in the [module table](self). Units: wei for amounts, seconds
/// for the Broker's `settlement_period` and `until` (as the contract emits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventFields {
    /// `DidOpen` / `DidCreateChannel`: the paying side.
    pub sender: Option<Address>,
    /// `DidOpen` / `DidCreateChannel`: the paid side.
    pub receiver: Option<Address>,
    /// `DidOpen` / `DidCreateChannel`: the value; `DidDeposit`: the deposit.
    #[serde(rename = "value", with = "wei::option")]
    pub value_wei: Option<U256>,
    /// `DidCreateChannel`: the settlement period, in seconds.
    #[serde(rename = "settlement_period")]
    pub settlement_period_s: Option<u64>,
    /// `DidCreateChannel`: the channel's `until`, unix seconds.
    #[serde(rename = "until")]
    pub until_s: Option<u64>,
    /// `DidStartSettle` / Broker `DidSettle`: the payment.
    #[serde(rename = "payment", with = "wei::option")]
    pub payment_wei: Option<U256>,
    /// Broker `DidSettle`: the refund to the sender.
    #[serde(rename = "odd_value", with = "wei::option")]
    pub odd_value_wei: Option<U256>,
    /// TokenUnidirectional `DidOpen`: the ERC-20 contract.
    pub token_contract: Option<Address>,
}

/// A contract event, or an intent (an event the server expects but the chain
/// has not shown yet: `block_hash` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelEvent {
    /// The chain.
    pub chain_id: ChainId,
    /// The contract that emitted it.
    pub contract_id: Address,
    /// The channel.
    pub channel_id: ChannelId,
    /// When the host saw it, milliseconds since the Unix epoch.
    #[serde(rename = "ts")]
    pub ts_ms: u64,
    /// The block it is in; for an intent, the last block seen when it was
    /// made (it is ordered after that block's events).
    pub block_number: u64,
    /// The block's hash; `None` for an intent.
    pub block_hash: Option<BlockHash>,
    /// False once [`set_recent_blocks`](crate::ChannelBook::set_recent_blocks)
    /// found the block orphaned. Ignored on insert.
    pub block_is_valid: bool,
    /// Who sent the transaction (used to match intents), if known.
    pub sender: Option<Address>,
    /// Which event.
    pub event_type: EventType,
    /// Its fields.
    pub fields: EventFields,
    /// Where the chain has it: the transaction and the log's index in the
    /// block, when the host knows them (pg-machinomy's JSON does not); its
    /// [identity](self#identity-when-two-sightings-are-one-event). Always
    /// `None` for an intent.
    pub log: Option<LogPosition>,
}

/// Where a chain event is on chain: the transaction that emitted it and
/// the log's index in its block (`transactionHash` and `logIndex` in an
/// Ethereum log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogPosition {
    /// The transaction's hash.
    pub tx_hash: TxHash,
    /// The log's index in its block.
    pub log_index: u64,
}

/// What makes two sightings one event; see the
/// [module docs](self#identity-when-two-sightings-are-one-event).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventIdentity {
    /// A chain event with its log position.
    Log {
        /// The block.
        block_hash: BlockHash,
        /// The transaction and log index.
        position: LogPosition,
    },
    /// A chain event without a log position.
    Content {
        /// The block.
        block_hash: BlockHash,
        /// Which event.
        event_type: EventType,
        /// Who sent the transaction.
        sender: Option<Address>,
        /// Its fields.
        fields: EventFields,
    },
    /// An intent: everything the host said, `ts` included.
    Intent {
        /// The last block seen when it was made.
        block_number: u64,
        /// When it was made.
        ts_ms: u64,
        /// Which event.
        event_type: EventType,
        /// Who will send the transaction.
        sender: Option<Address>,
        /// Its fields.
        fields: EventFields,
    },
}

impl EventIdentity {
    /// A 32-byte digest of this identity within channel `key`: equal
    /// identities give equal digests, different ones different digests
    /// (keccak256 of an unambiguous, versioned encoding).
    pub fn digest(&self, key: &ChannelKey) -> [u8; 32] {
        let mut out = IdentityDigest::new(key);
        match self {
            EventIdentity::Log { block_hash, position } => {
                out.tag(1);
                out.bytes(block_hash.as_bytes());
                out.bytes(position.tx_hash.as_bytes());
                out.u64(position.log_index);
            }
            EventIdentity::Content {
                block_hash,
                event_type,
                sender,
                fields,
            } => {
                out.tag(2);
                out.bytes(block_hash.as_bytes());
                out.content(*event_type, *sender, fields);
            }
            EventIdentity::Intent {
                block_number,
                ts_ms,
                event_type,
                sender,
                fields,
            } => {
                out.tag(3);
                out.u64(*block_number);
                out.u64(*ts_ms);
                out.content(*event_type, *sender, fields);
            }
        }
        out.finish()
    }
}

/// Feeds an identity to keccak256: fixed-width parts, a presence byte before
/// each optional one, so no two identities encode alike.
struct IdentityDigest(tiny_keccak::Keccak);

impl IdentityDigest {
    fn new(key: &ChannelKey) -> Self {
        let mut out = IdentityDigest(tiny_keccak::Keccak::v256());
        out.bytes(b"tally-channel event identity v1");
        out.u64(key.chain_id.0);
        out.bytes(key.contract_id.as_bytes());
        out.bytes(key.channel_id.as_bytes());
        out
    }

    fn bytes(&mut self, bytes: &[u8]) {
        tiny_keccak::Hasher::update(&mut self.0, bytes);
    }

    fn tag(&mut self, tag: u8) {
        self.bytes(&[tag]);
    }

    fn u64(&mut self, value: u64) {
        self.bytes(&value.to_be_bytes());
    }

    fn present(&mut self, present: bool) {
        self.tag(u8::from(present));
    }

    fn address(&mut self, address: Option<Address>) {
        self.present(address.is_some());
        if let Some(address) = address {
            self.bytes(address.as_bytes());
        }
    }

    fn wei(&mut self, amount: Option<U256>) {
        self.present(amount.is_some());
        if let Some(amount) = amount {
            self.bytes(&amount.to_big_endian());
        }
    }

    fn optional_u64(&mut self, value: Option<u64>) {
        self.present(value.is_some());
        if let Some(value) = value {
            self.u64(value);
        }
    }

    fn content(&mut self, event_type: EventType, sender: Option<Address>, fields: &EventFields) {
        let type_index = EventType::ALL
            .iter()
            .position(|known| *known == event_type)
            .unwrap_or(EventType::ALL.len());
        self.u64(type_index as u64);
        self.address(sender);
        let EventFields {
            sender,
            receiver,
            value_wei,
            settlement_period_s,
            until_s,
            payment_wei,
            odd_value_wei,
            token_contract,
        } = fields;
        self.address(*sender);
        self.address(*receiver);
        self.wei(*value_wei);
        self.optional_u64(*settlement_period_s);
        self.optional_u64(*until_s);
        self.wei(*payment_wei);
        self.wei(*odd_value_wei);
        self.address(*token_contract);
    }

    fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        tiny_keccak::Hasher::finalize(self.0, &mut out);
        out
    }
}

/// How an incoming event relates to the stored ones; see [`recognize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    /// Not stored yet: store it.
    New,
    /// Stored already at `seq`: change nothing.
    Seen {
        /// The stored event's sequence number.
        seq: u64,
    },
    /// The event at `seq` was stored without a log position and this is it
    /// with one: record the position, change nothing else.
    Locates {
        /// The stored event's sequence number.
        seq: u64,
    },
}

/// An event with the identity of the stored event `seq` but another block
/// number, type, sender or fields: two sightings that cannot both be right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the event has the identity of stored event {seq} but other content")]
pub struct IdentityClash {
    /// The stored event's sequence number.
    pub seq: u64,
}

/// Decides whether `incoming` (as inserted) is a new event; see the
/// [module docs](self#identity-when-two-sightings-are-one-event).
///
/// `by_identity` is the stored event with `incoming`'s
/// [`identity`](ChannelEvent::identity), if any, and `by_content` the stored
/// event with its [`content_identity`](ChannelEvent::content_identity), if
/// any: the caller looks the second up only for an event with a log
/// position that `by_identity` did not find.
///
/// # Errors
/// [`IdentityClash`] when a stored event has the identity but not the
/// content.
pub fn recognize(
    incoming: &ChannelEvent,
    by_identity: Option<(u64, &ChannelEvent)>,
    by_content: Option<(u64, &ChannelEvent)>,
) -> Result<Sighting, IdentityClash> {
    if let Some((seq, stored)) = by_identity {
        return if stored.tells_the_same_as(incoming) {
            Ok(Sighting::Seen { seq })
        } else {
            Err(IdentityClash { seq })
        };
    }
    match by_content {
        Some((seq, stored)) if incoming.log.is_some() && stored.log.is_none() && !incoming.is_intent() => {
            if stored.tells_the_same_as(incoming) {
                Ok(Sighting::Locates { seq })
            } else {
                Err(IdentityClash { seq })
            }
        }
        // Positioned elsewhere: another event with the same content.
        _ => Ok(Sighting::New),
    }
}

impl ChannelEvent {
    /// The event as it is stored on insert: valid (`block_is_valid` is true;
    /// only [`RecentBlocks`] changes it afterwards), and, for an intent,
    /// without a log position (an intent is not on chain).
    pub fn as_inserted(mut self) -> ChannelEvent {
        self.block_is_valid = true;
        if self.is_intent() {
            self.log = None;
        }
        self
    }

    /// What makes a sighting of this event the same event; see the
    /// [module docs](self#identity-when-two-sightings-are-one-event).
    pub fn identity(&self) -> EventIdentity {
        match (self.block_hash, self.log) {
            (Some(block_hash), Some(position)) => EventIdentity::Log { block_hash, position },
            (Some(_), None) => self.content_identity().unwrap_or_else(|| self.intent_identity()),
            (None, _) => self.intent_identity(),
        }
    }

    /// A chain event's identity as if it had no log position (block hash,
    /// type, sender, fields); `None` for an intent.
    pub fn content_identity(&self) -> Option<EventIdentity> {
        Some(EventIdentity::Content {
            block_hash: self.block_hash?,
            event_type: self.event_type,
            sender: self.sender,
            fields: self.fields.clone(),
        })
    }

    fn intent_identity(&self) -> EventIdentity {
        EventIdentity::Intent {
            block_number: self.block_number,
            ts_ms: self.ts_ms,
            event_type: self.event_type,
            sender: self.sender,
            fields: self.fields.clone(),
        }
    }

    /// True when `other` says what this event says: the same channel,
    /// block, type, sender and fields (`ts`, validity and the log position
    /// aside).
    fn tells_the_same_as(&self, other: &ChannelEvent) -> bool {
        self.key() == other.key()
            && self.block_number == other.block_number
            && self.block_hash == other.block_hash
            && self.event_type == other.event_type
            && self.sender == other.sender
            && self.fields == other.fields
    }

    /// True for an intent (no block hash yet).
    pub fn is_intent(&self) -> bool {
        self.block_hash.is_none()
    }

    /// The channel this event belongs to.
    pub fn key(&self) -> ChannelKey {
        ChannelKey {
            chain_id: self.chain_id,
            contract_id: self.contract_id,
            channel_id: self.channel_id,
        }
    }

    fn matches_intent(&self, intent: &ChannelEvent) -> bool {
        self.event_type == intent.event_type
            && self.sender == intent.sender
            && self.fields == intent.fields
            && self.block_number >= intent.block_number
    }
}

/// A channel as its events make it (pg-machinomy's `Channel`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Channel {
    /// The chain.
    pub chain_id: ChainId,
    /// The contract.
    pub contract_id: Address,
    /// The channel id.
    pub channel_id: ChannelId,
    /// The paying side, once opened.
    pub sender: Option<Address>,
    /// The paid side, once opened.
    pub receiver: Option<Address>,
    /// Everything deposited, in wei.
    #[serde(rename = "value", with = "wei::option")]
    pub value_wei: Option<U256>,
    /// Broker channels: the settlement period, in seconds.
    #[serde(rename = "settlement_period")]
    pub settlement_period_s: Option<u64>,
    /// Broker channels: when the channel (or its settlement) ends,
    /// milliseconds since the epoch.
    #[serde(rename = "until")]
    pub until_ms: Option<u64>,
    /// Broker channels: the payment named by `DidStartSettle` / `DidSettle`.
    #[serde(rename = "payment", with = "wei::option")]
    pub payment_wei: Option<U256>,
    /// Broker channels: the refund to the sender named by `DidSettle`.
    #[serde(rename = "odd_value", with = "wei::option")]
    pub odd_value_wei: Option<U256>,
    /// Token channels: the ERC-20 contract.
    pub token_contract: Option<Address>,
    /// True when any applied event is an intent (not yet on chain); `None`
    /// when no event applied.
    pub state_is_intent: Option<bool>,
    /// The lifecycle state; `None` before the channel is opened.
    pub state: Option<ChannelState>,
    /// When it was opened (the opening event's `ts`), milliseconds.
    #[serde(rename = "opened_on")]
    pub opened_on_ms: Option<u64>,
    /// When settling started, milliseconds.
    #[serde(rename = "settlement_started_on")]
    pub settlement_started_on_ms: Option<u64>,
    /// When it was settled or claimed, milliseconds.
    #[serde(rename = "settlement_finalized_on")]
    pub settlement_finalized_on_ms: Option<u64>,
}

impl Channel {
    /// A channel no event has touched.
    pub fn unopened(key: ChannelKey) -> Self {
        Channel {
            chain_id: key.chain_id,
            contract_id: key.contract_id,
            channel_id: key.channel_id,
            sender: None,
            receiver: None,
            value_wei: None,
            settlement_period_s: None,
            until_ms: None,
            payment_wei: None,
            odd_value_wei: None,
            token_contract: None,
            state_is_intent: None,
            state: None,
            opened_on_ms: None,
            settlement_started_on_ms: None,
            settlement_finalized_on_ms: None,
        }
    }

    /// The channel's key.
    pub fn key(&self) -> ChannelKey {
        ChannelKey {
            chain_id: self.chain_id,
            contract_id: self.contract_id,
            channel_id: self.channel_id,
        }
    }

    /// Checks the invariants every folded channel keeps; returns the first
    /// broken one. The fold never produces a channel that fails this.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        match self.state {
            None => {
                if self.sender.is_some() || self.value_wei.is_some() || self.opened_on_ms.is_some() {
                    return Err("an unopened channel has opening data");
                }
                if self.settlement_started_on_ms.is_some() || self.settlement_finalized_on_ms.is_some() {
                    return Err("an unopened channel has settlement times");
                }
            }
            Some(state) => {
                if self.sender.is_none() || self.receiver.is_none() || self.value_wei.is_none() {
                    return Err("an opened channel lacks sender, receiver or value");
                }
                if self.opened_on_ms.is_none() || self.state_is_intent.is_none() {
                    return Err("an opened channel lacks its opening time");
                }
                if state == ChannelState::Open
                    && (self.settlement_started_on_ms.is_some() || self.settlement_finalized_on_ms.is_some())
                {
                    return Err("an open channel has settlement times");
                }
                if state == ChannelState::Settling && self.settlement_started_on_ms.is_none() {
                    return Err("a settling channel lacks its start time");
                }
                if state == ChannelState::Settled && self.settlement_finalized_on_ms.is_none() {
                    return Err("a settled channel lacks its finalization time");
                }
            }
        }
        Ok(())
    }
}

/// The result of folding a channel's events (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedChannel {
    /// The channel as the applied events make it.
    pub channel: Channel,
    /// The last event considered (chain event or intent), up to and including
    /// an invalid one.
    pub latest_event: Option<ChannelEvent>,
    /// The last intent considered.
    pub latest_intent_event: Option<ChannelEvent>,
    /// The last chain event considered.
    pub latest_chain_event: Option<ChannelEvent>,
    /// Why the fold stopped early, if it did.
    pub is_invalid_reason: Option<String>,
}

fn state_name(state: Option<ChannelState>) -> &'static str {
    state.map_or("NULL", ChannelState::name)
}

fn wrong_state(event: EventType, got: Option<ChannelState>, allowed: &[Option<ChannelState>]) -> String {
    let wanted: Vec<&str> = allowed.iter().map(|state| state_name(*state)).collect();
    format!(
        "invalid channel state for event {}: got {} but should be {}",
        event.name(),
        state_name(got),
        wanted.join(" or ")
    )
}

fn missing(event: EventType, field: &str) -> String {
    format!("invalid fields for event {}: {field} is missing", event.name())
}

/// Applies one event to `channel` (the table in the [module docs](self)).
///
/// # Errors
/// A developer-friendly reason when the event does not fit the channel's
/// state or lacks a field it needs; `channel` is then unchanged.
pub fn apply_event(channel: &mut Channel, event: &ChannelEvent) -> Result<(), String> {
    use ChannelState::{Open, Settled, Settling};
    let kind = event.event_type;
    let fields = &event.fields;
    let require = |allowed: &[Option<ChannelState>]| {
        if allowed.contains(&channel.state) {
            Ok(())
        } else {
            Err(wrong_state(kind, channel.state, allowed))
        }
    };
    let mut next = channel.clone();
    match kind {
        EventType::DidOpen | EventType::DidCreateChannel => {
            require(&[None])?;
            next.sender = Some(fields.sender.ok_or_else(|| missing(kind, "sender"))?);
            next.receiver = Some(fields.receiver.ok_or_else(|| missing(kind, "receiver"))?);
            next.value_wei = Some(fields.value_wei.ok_or_else(|| missing(kind, "value"))?);
            if kind == EventType::DidCreateChannel {
                next.settlement_period_s = fields.settlement_period_s;
                next.until_ms = match fields.until_s {
                    Some(until_s) => Some(
                        until_s
                            .checked_mul(1000)
                            .ok_or_else(|| format!("invalid fields for event {}: until overflows", kind.name()))?,
                    ),
                    None => None,
                };
            } else {
                next.token_contract = fields.token_contract;
            }
            next.state = Some(Open);
            next.opened_on_ms = Some(event.ts_ms);
        }
        EventType::DidDeposit => {
            require(&[Some(Open)])?;
            let deposit = fields.value_wei.ok_or_else(|| missing(kind, "value"))?;
            let value = channel.value_wei.unwrap_or_default();
            next.value_wei = Some(value.checked_add(deposit).ok_or_else(|| {
                "invalid fields for event DidDeposit: the channel value would exceed 2^256".to_owned()
            })?);
        }
        EventType::DidStartSettling => {
            require(&[Some(Open)])?;
            next.state = Some(Settling);
            next.settlement_started_on_ms = Some(event.ts_ms);
        }
        EventType::DidStartSettle => {
            require(&[Some(Open)])?;
            next.payment_wei = Some(fields.payment_wei.ok_or_else(|| missing(kind, "payment"))?);
            next.state = Some(Settling);
            next.settlement_started_on_ms = Some(event.ts_ms);
            next.until_ms = channel
                .settlement_period_s
                .and_then(|period_s| period_s.checked_mul(1000))
                .and_then(|period_ms| event.ts_ms.checked_add(period_ms));
        }
        EventType::DidClaim => {
            require(&[Some(Open), Some(Settling)])?;
            next.state = Some(Settled);
            next.settlement_finalized_on_ms = Some(event.ts_ms);
        }
        EventType::DidSettle => {
            if fields.payment_wei.is_some() {
                require(&[Some(Open), Some(Settling)])?;
                next.payment_wei = fields.payment_wei;
                next.odd_value_wei = fields.odd_value_wei;
            } else {
                require(&[Some(Settling)])?;
            }
            next.state = Some(Settled);
            next.settlement_finalized_on_ms = Some(event.ts_ms);
        }
    }
    let intent = event.is_intent();
    next.state_is_intent = Some(channel.state_is_intent.unwrap_or(false) || intent);
    *channel = next;
    Ok(())
}

/// Folds a channel's events (in insertion order) into its current form; see
/// the [module docs](self). Events of other channels are ignored. With
/// `include_intent` false, only chain events count (the channel as the
/// blockchain has it).
pub fn fold_events(key: ChannelKey, events: &[ChannelEvent], include_intent: bool) -> FoldedChannel {
    let mine: Vec<&ChannelEvent> = events.iter().filter(|event| event.key() == key).collect();
    let chain: Vec<&ChannelEvent> = mine
        .iter()
        .copied()
        .filter(|event| !event.is_intent() && event.block_is_valid)
        .collect();
    let mut used = vec![false; chain.len()];
    let mut sequence: Vec<&ChannelEvent> = chain.clone();
    if include_intent {
        let mut intents: Vec<&ChannelEvent> = mine.iter().copied().filter(|event| event.is_intent()).collect();
        intents.sort_by_key(|intent| (intent.block_number, intent.ts_ms));
        for intent in intents {
            let matched = chain
                .iter()
                .enumerate()
                .position(|(index, event)| !used[index] && event.matches_intent(intent));
            match matched {
                Some(index) => used[index] = true,
                None => sequence.push(intent),
            }
        }
    }
    // Stable: ties keep insertion order. Intents (no hash) sort after the
    // chain events of their block, as NULLs sort last in PostgreSQL.
    sequence.sort_by(|a, b| {
        (a.block_number, a.block_hash.is_none(), a.block_hash, a.ts_ms).cmp(&(
            b.block_number,
            b.block_hash.is_none(),
            b.block_hash,
            b.ts_ms,
        ))
    });

    let mut folded = FoldedChannel {
        channel: Channel::unopened(key),
        latest_event: None,
        latest_intent_event: None,
        latest_chain_event: None,
        is_invalid_reason: None,
    };
    for event in sequence {
        folded.latest_event = Some(event.clone());
        if event.is_intent() {
            folded.latest_intent_event = Some(event.clone());
        } else {
            folded.latest_chain_event = Some(event.clone());
        }
        if let Err(reason) = apply_event(&mut folded.channel, event) {
            folded.is_invalid_reason = Some(reason);
            break;
        }
    }
    debug_assert_eq!(folded.channel.check_invariants(), Ok(()));
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deposit(block_number: u64, hash_byte: Option<u8>) -> ChannelEvent {
        ChannelEvent {
            chain_id: ChainId(1),
            contract_id: Address([8; 20]),
            channel_id: ChannelId([1; 32]),
            ts_ms: block_number.saturating_mul(1_000),
            block_number,
            block_hash: hash_byte.map(|byte| BlockHash([byte; 32])),
            block_is_valid: false,
            sender: None,
            event_type: EventType::DidDeposit,
            fields: EventFields::default(),
            log: None,
        }
    }

    fn at(event: ChannelEvent, tx: u8, log_index: u64) -> ChannelEvent {
        ChannelEvent {
            log: Some(LogPosition {
                tx_hash: TxHash([tx; 32]),
                log_index,
            }),
            ..event
        }
    }

    fn later(event: &ChannelEvent) -> ChannelEvent {
        ChannelEvent {
            ts_ms: event.ts_ms + 1,
            ..event.clone()
        }
    }

    #[test]
    fn identity_leaves_ts_out_of_chain_events_only() {
        let key = deposit(1, None).key();
        let chain = deposit(5, Some(5));
        assert_eq!(chain.identity().digest(&key), later(&chain).identity().digest(&key));
        let positioned = at(chain.clone(), 1, 0);
        assert_eq!(
            positioned.identity().digest(&key),
            later(&positioned).identity().digest(&key)
        );
        assert_ne!(positioned.identity(), chain.identity());
        assert_ne!(at(chain.clone(), 1, 1).identity(), positioned.identity());
        assert_eq!(positioned.content_identity(), chain.identity().into());
        let intent = deposit(5, None);
        assert_ne!(intent.identity().digest(&key), later(&intent).identity().digest(&key));
        assert_eq!(intent.content_identity(), None);
    }

    #[test]
    fn identity_digests_tell_absent_fields_from_zero_ones_and_channels_apart() {
        let key = deposit(1, None).key();
        let mut zero = deposit(5, Some(5));
        zero.fields.value_wei = Some(U256::zero());
        let absent = deposit(5, Some(5));
        assert_ne!(zero.identity().digest(&key), absent.identity().digest(&key));
        let mut other = key;
        other.channel_id = ChannelId([2; 32]);
        assert_ne!(absent.identity().digest(&key), absent.identity().digest(&other));
    }

    #[test]
    fn recognize_follows_the_identity_rules() {
        let unpositioned = deposit(5, Some(5));
        let positioned = at(unpositioned.clone(), 1, 0);
        // Nothing stored.
        assert_eq!(recognize(&positioned, None, None), Ok(Sighting::New));
        // Stored under its identity, with the same content.
        assert_eq!(
            recognize(&later(&positioned), Some((3, &positioned)), None),
            Ok(Sighting::Seen { seq: 3 })
        );
        // Stored without its position: it gains it.
        assert_eq!(
            recognize(&positioned, None, Some((2, &unpositioned))),
            Ok(Sighting::Locates { seq: 2 })
        );
        // Another positioned event with this content: a twin.
        let twin = at(unpositioned.clone(), 2, 1);
        assert_eq!(recognize(&twin, None, Some((2, &positioned))), Ok(Sighting::New));
        // Same identity, other story.
        let mut forged = positioned.clone();
        forged.fields.value_wei = Some(U256::from(9));
        assert_eq!(
            recognize(&forged, Some((3, &positioned)), None),
            Err(IdentityClash { seq: 3 })
        );
        let mut moved = positioned.clone();
        moved.block_number = 6;
        assert_eq!(
            recognize(&moved, None, Some((2, &unpositioned))),
            Err(IdentityClash { seq: 2 })
        );
    }

    #[test]
    fn intents_enter_without_a_log_position() {
        let intent = at(deposit(5, None), 1, 0).as_inserted();
        assert_eq!(intent.log, None);
        let chain = at(deposit(5, Some(5)), 1, 0).as_inserted();
        assert!(chain.log.is_some());
    }

    #[test]
    fn inserted_events_start_valid() {
        assert!(deposit(3, Some(3)).as_inserted().block_is_valid);
    }

    #[test]
    fn recent_blocks_validate_by_listed_hash_and_ignore_what_they_do_not_cover() {
        let hashes = [BlockHash([10; 32]), BlockHash([11; 32])];
        let blocks = RecentBlocks {
            first_block_number: 10,
            hashes: &hashes,
        };
        assert_eq!(blocks.validity(&deposit(10, Some(10))), Some(true));
        assert_eq!(
            blocks.validity(&deposit(11, Some(10))),
            Some(false),
            "another block's hash"
        );
        assert_eq!(
            blocks.validity(&deposit(12, Some(12))),
            Some(false),
            "past the end of the list"
        );
        assert_eq!(blocks.validity(&deposit(9, Some(1))), None, "below the list");
        assert_eq!(blocks.validity(&deposit(11, None)), None, "an intent");
        let none = RecentBlocks {
            first_block_number: u64::MAX,
            hashes: &[],
        };
        assert_eq!(none.validity(&deposit(u64::MAX, Some(1))), Some(false));
    }

    proptest::proptest! {
        #[test]
        fn a_covered_event_is_valid_iff_its_hash_is_listed_for_its_block(
            first in 0u64..20,
            listed in proptest::collection::vec(0u8..4, 0..10),
            block in 0u64..40,
            hash in 0u8..4,
        ) {
            let hashes: Vec<BlockHash> = listed.iter().map(|byte| BlockHash([*byte; 32])).collect();
            let blocks = RecentBlocks { first_block_number: first, hashes: &hashes };
            let event = deposit(block, Some(hash));
            let expected = (block >= first).then(|| {
                hashes.get((block - first) as usize) == Some(&BlockHash([hash; 32]))
            });
            proptest::prop_assert_eq!(blocks.validity(&event), expected);
        }
    }
}
