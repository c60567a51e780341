//! [`ChannelBook`]: the shell. Loads what the core needs from a
//! [`Store`], calls the core, commits the result atomically.
//!
//! # Key layout (namespace `"channel"`)
//!
//! Per channel, after `"channel" / kind / chain_id u64 / contract 20 / channel_id 32`:
//!
//! | kind | rest | value |
//! |---|---|---|
//! | `c` | | the folded channel (intents included) and the next event sequence number |
//! | `f` | | the fold's latest events and `is_invalid_reason` |
//! | `e` | seq u64 | a [`ChannelEvent`] |
//! | `i` | event hash 32 | the seq of that event (makes inserts idempotent) |
//! | `h` | | the head: the latest [`StateUpdate`] and the next update id |
//! | `s` | amount 32 (big-endian) | a [`StoredStateUpdate`]; the amount index |
//! | `r` | update hash 32 | a [`RejectedUpdate`] (audit) |
//!
//! Across channels: `b / chain_id / block_number / contract / channel_id / seq`
//! indexes chain events by block (for reorgs), `snd / sender / chain_id /
//! contract / channel_id` and `rcv / receiver / ...` index channels by party.
//!
//! The latest state is the head record and the same-amount check is the
//! amount index: `insert_state_update` reads exactly three keys, whatever
//! the number of updates stored.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tally_store::key::{KeyBuilder, KeyError, KeyReader};
use tally_store::{RetryPolicy, Store, StoreError, Txn, codec, scan_all, transact};

use crate::channel::{Channel, ChannelEvent, ChannelKey, FoldedChannel, fold_events};
use crate::json::{InputError, parse_channel_event, parse_state_update};
use crate::keccak256;
use crate::signature::{Scheme, SignaturePolicy};
use crate::status::{ChannelStatus, RecentBlocksResult, StateUpdateOutcome, StateUpdateRejection, StateUpdateResult};
use crate::types::{Address, BlockHash, ChainId, ChannelId};
use crate::update::{Decision, StateUpdate, StateUpdateStatus, UpdateContext, decide, remaining_balance, status_of};

const NAMESPACE: &str = "channel";
/// The most events one channel may have; beyond it inserts fail with
/// [`ChannelError::TooManyEvents`].
pub const MAX_EVENTS_PER_CHANNEL: u64 = 10_000;
/// The most events one [`ChannelBook::set_recent_blocks`] call may look at.
pub const MAX_REORG_EVENTS: usize = 10_000;
/// The most block hashes one [`ChannelBook::set_recent_blocks`] call takes.
pub const MAX_RECENT_BLOCKS: usize = 100_000;
const PAGE: usize = 1_000;

/// Everything that can go wrong in a [`ChannelBook`] call. A refused state
/// update is **not** an error: it is a [`StateUpdateOutcome::Rejected`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The store failed (after a failed commit the call may or may not have
    /// applied; calling again is safe: every call is idempotent).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record does not decode.
    #[error("corrupt channel record: {0}")]
    Codec(#[from] codec::CodecError),
    /// A stored key does not decode.
    #[error("corrupt channel key: {0}")]
    Key(#[from] KeyError),
    /// A JSON input was refused.
    #[error("invalid input ({reason}): {0}", reason = .0.reason())]
    Input(#[from] InputError),
    /// The channel already has [`MAX_EVENTS_PER_CHANNEL`] events.
    #[error("channel has {MAX_EVENTS_PER_CHANNEL} events already")]
    TooManyEvents,
    /// A [`set_recent_blocks`](ChannelBook::set_recent_blocks) call over
    /// its limits ([`MAX_RECENT_BLOCKS`] hashes, [`MAX_REORG_EVENTS`] events).
    #[error("set_recent_blocks over its limits: {0}")]
    TooManyBlocks(String),
    /// Stored records contradict each other (a bug or tampering).
    #[error("inconsistent channel records: {0}")]
    Inconsistent(String),
}

/// How a [`ChannelBook`] checks signatures and retries.
#[derive(Debug, Clone, Default)]
pub struct ChannelBookConfig {
    /// The scheme for contracts not listed in `schemes`.
    pub default_scheme: Scheme,
    /// The scheme of each known contract.
    pub schemes: BTreeMap<(ChainId, Address), Scheme>,
    /// Which signatures to accept (default: exactly what the contracts do).
    pub policy: SignaturePolicy,
    /// Retries on commit conflicts.
    pub retry: RetryPolicy,
}

impl ChannelBookConfig {
    /// Uses `scheme` for `contract` on `chain_id`.
    pub fn with_scheme(mut self, chain_id: ChainId, contract: Address, scheme: Scheme) -> Self {
        self.schemes.insert((chain_id, contract), scheme);
        self
    }

    /// The scheme a contract's payments are checked under.
    pub fn scheme_for(&self, chain_id: ChainId, contract: Address) -> Scheme {
        self.schemes
            .get(&(chain_id, contract))
            .copied()
            .unwrap_or(self.default_scheme)
    }
}

/// A stored state update with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStateUpdate {
    /// Unique within the channel, from 1, in storage order.
    pub id: u64,
    /// The update.
    pub update: StateUpdate,
}

/// A refused state update, kept for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedUpdate {
    /// The reason code.
    pub reason: String,
    /// The precise reason.
    pub detail: String,
    /// The status it had.
    pub status: StateUpdateStatus,
    /// The update as received.
    pub update: StateUpdate,
}

/// Everything stored about one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelHistory {
    /// Events and intents in insertion order (with their current validity).
    pub events: Vec<ChannelEvent>,
    /// Stored state updates, by amount.
    pub state_updates: Vec<StoredStateUpdate>,
    /// Refused state updates.
    pub rejected: Vec<RejectedUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ChannelRecord {
    channel: Channel,
    next_event_seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FoldExtras {
    latest_event: Option<ChannelEvent>,
    latest_intent_event: Option<ChannelEvent>,
    latest_chain_event: Option<ChannelEvent>,
    is_invalid_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Head {
    latest: StateUpdate,
    next_id: u64,
}

fn channel_key(kind: &str, key: &ChannelKey) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE)
        .str(kind)
        .u64(key.chain_id.0)
        .fixed(key.contract_id.as_bytes())
        .fixed(key.channel_id.as_bytes())
}

fn party_key(kind: &str, party: &Address) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str(kind).fixed(party.as_bytes())
}

fn block_prefix(chain_id: ChainId) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str("b").u64(chain_id.0)
}

fn decode_opt<T: serde::de::DeserializeOwned>(
    bytes: Option<tally_store::bytes::Bytes>,
) -> Result<Option<T>, ChannelError> {
    Ok(bytes.map(|bytes| codec::decode(&bytes)).transpose()?)
}

/// A book of Machinomy channels on a [`Store`]: pg-machinomy's API.
///
/// Every method is one atomic commit (retried on conflict), so any number
/// of threads or processes may share one store. Every write is idempotent:
/// calling again after an error (even a lost acknowledgement) applies
/// nothing twice.
#[derive(Debug)]
pub struct ChannelBook<S> {
    store: S,
    config: ChannelBookConfig,
}

impl<S: Store> ChannelBook<S> {
    /// A book with the default configuration (every contract
    /// [`Scheme::Unidirectional`], high `s` accepted).
    pub fn new(store: S) -> Self {
        ChannelBook::with_config(store, ChannelBookConfig::default())
    }

    /// A book with `config`.
    pub fn with_config(store: S, config: ChannelBookConfig) -> Self {
        ChannelBook { store, config }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back, ending the book.
    pub fn into_store(self) -> S {
        self.store
    }

    /// The configuration.
    pub fn config(&self) -> &ChannelBookConfig {
        &self.config
    }

    /// Inserts a state update (pg-machinomy's `insertStateUpdate`): checks
    /// it with [`update::decide`](crate::update::decide), then stores it
    /// (and makes it the latest when its amount is the largest), accepts an
    /// exact duplicate with `created: false`, or refuses it, recording the
    /// refusal for audit and changing nothing else.
    ///
    /// # Errors
    /// [`ChannelError::Store`] and corruption errors only; a refused update is
    /// `Ok(StateUpdateOutcome::Rejected(..))`.
    pub fn insert_state_update(&self, update: StateUpdate) -> Result<StateUpdateOutcome, ChannelError> {
        let key = update.key();
        let scheme = self.config.scheme_for(key.chain_id, key.contract_id);
        let amount_key = channel_key("s", &key).fixed(&update.amount_wei.to_big_endian()).build();
        let head_key = channel_key("h", &key).build();
        let record_key = channel_key("c", &key).build();
        transact(&self.store, &self.config.retry, |txn| {
            let record: Option<ChannelRecord> = decode_opt(txn.get(&record_key)?)?;
            let channel = record.map_or_else(|| Channel::unopened(key), |record| record.channel);
            let head: Option<Head> = decode_opt(txn.get(&head_key)?)?;
            let same_amount: Option<StoredStateUpdate> = decode_opt(txn.get(&amount_key)?)?;
            let context = UpdateContext {
                scheme,
                policy: self.config.policy,
                channel: &channel,
                latest: head.as_ref().map(|head| &head.latest),
                same_amount: same_amount.as_ref().map(|stored| &stored.update),
            };
            let (decision, status) = decide(&update, &context);
            match decision {
                Decision::Insert { is_latest } => {
                    let id = head.as_ref().map_or(1, |head| head.next_id);
                    let latest = match head {
                        Some(head) if !is_latest => head.latest,
                        _ => update.clone(),
                    };
                    let next_id = id
                        .checked_add(1)
                        .ok_or_else(|| ChannelError::Inconsistent("state update ids exhausted".into()))?;
                    txn.put(
                        amount_key.clone(),
                        codec::encode(&StoredStateUpdate {
                            id,
                            update: update.clone(),
                        })?,
                    );
                    let new_head = Head { latest, next_id };
                    txn.put(head_key.clone(), codec::encode(&new_head)?);
                    Ok(StateUpdateOutcome::Accepted(accepted(
                        Some(id),
                        true,
                        status,
                        new_head.latest,
                        &channel,
                    )))
                }
                Decision::Duplicate => {
                    let head = head.ok_or_else(|| {
                        ChannelError::Inconsistent("a stored state update but no channel head".into())
                    })?;
                    Ok(StateUpdateOutcome::Accepted(accepted(
                        None,
                        false,
                        status,
                        head.latest,
                        &channel,
                    )))
                }
                Decision::Reject(rejection) => {
                    let rejected = RejectedUpdate {
                        reason: rejection.code().to_owned(),
                        detail: rejection.to_string(),
                        status: status.clone(),
                        update: update.clone(),
                    };
                    let audit_key = channel_key("r", &key)
                        .fixed(&keccak256(&codec::encode(&update)?))
                        .build();
                    if txn.get(&audit_key)?.is_none() {
                        txn.put(audit_key, codec::encode(&rejected)?);
                    }
                    Ok(StateUpdateOutcome::Rejected(StateUpdateRejection::new(
                        status, &rejection,
                    )))
                }
            }
        })
    }

    /// [`insert_state_update`](Self::insert_state_update) from pg-machinomy's
    /// JSON (see [`json::parse_state_update`](crate::json::parse_state_update));
    /// `now_ms` stands in for a missing `ts`.
    ///
    /// # Errors
    /// [`ChannelError::Input`] for a malformed input (nothing is recorded),
    /// otherwise as `insert_state_update`.
    pub fn insert_state_update_json(&self, json: &str, now_ms: u64) -> Result<StateUpdateOutcome, ChannelError> {
        self.insert_state_update(parse_state_update(json, now_ms)?)
    }

    /// What [`insert_state_update`](Self::insert_state_update) would say of
    /// `update`, without storing anything (pg-machinomy's
    /// `getStateUpdateStatus`).
    ///
    /// # Errors
    /// [`ChannelError::Store`] and corruption errors.
    pub fn state_update_status(&self, update: &StateUpdate) -> Result<StateUpdateStatus, ChannelError> {
        let key = update.key();
        let record: Option<ChannelRecord> =
            decode_opt(self.store.get(&channel_key("c", &key).build())?.map(|v| v.value))?;
        let channel = record.map_or_else(|| Channel::unopened(key), |record| record.channel);
        let head: Option<Head> = decode_opt(self.store.get(&channel_key("h", &key).build())?.map(|v| v.value))?;
        let amount_key = channel_key("s", &key).fixed(&update.amount_wei.to_big_endian()).build();
        let same: Option<StoredStateUpdate> = decode_opt(self.store.get(&amount_key)?.map(|v| v.value))?;
        let context = UpdateContext {
            scheme: self.config.scheme_for(key.chain_id, key.contract_id),
            policy: self.config.policy,
            channel: &channel,
            latest: head.as_ref().map(|head| &head.latest),
            same_amount: same.as_ref().map(|stored| &stored.update),
        };
        let (_, status) = decide(update, &context);
        debug_assert_eq!(status, status_of(update, status.signature_valid, &context));
        Ok(status)
    }

    /// Inserts a contract event, or an intent when `block_hash` is `None`
    /// (pg-machinomy's `insertChannelEvent` and `insertChannelIntent`), and
    /// returns the channel's new status. `block_is_valid` is ignored (set
    /// true). Inserting the same event again (same fields, block and `ts`)
    /// changes nothing.
    ///
    /// # Errors
    /// [`ChannelError::TooManyEvents`], store and corruption errors. An event
    /// that does not fit the channel is stored and shows as `is_invalid`.
    pub fn insert_channel_event(&self, event: ChannelEvent) -> Result<ChannelStatus, ChannelError> {
        let mut event = event;
        event.block_is_valid = true;
        let key = event.key();
        let event_hash = keccak256(&codec::encode(&event)?);
        let identity_key = channel_key("i", &key).fixed(&event_hash).build();
        let record_key = channel_key("c", &key).build();
        transact(&self.store, &self.config.retry, |txn| {
            if txn.get(&identity_key)?.is_some() {
                return load_status(txn, &key, true);
            }
            let record: Option<ChannelRecord> = decode_opt(txn.get(&record_key)?)?;
            let seq = record.as_ref().map_or(0, |record| record.next_event_seq);
            if seq >= MAX_EVENTS_PER_CHANNEL {
                return Err(ChannelError::TooManyEvents);
            }
            txn.put(channel_key("e", &key).u64(seq).build(), codec::encode(&event)?);
            txn.put(identity_key.clone(), seq.to_be_bytes().to_vec());
            if event.block_hash.is_some() {
                txn.put(block_index_key(&event, seq), Vec::new());
            }
            let mut overrides = BTreeMap::new();
            overrides.insert(seq, event.clone());
            refold(txn, &key, record, seq + 1, &overrides)?;
            load_status(txn, &key, true)
        })
    }

    /// Inserts an intent (pg-machinomy's `insertChannelIntent`): `event`
    /// with its `block_hash` cleared, `block_number` being the last block
    /// the host has seen. It counts in the channel's status until a matching
    /// chain event arrives.
    ///
    /// # Errors
    /// As [`insert_channel_event`](Self::insert_channel_event).
    pub fn insert_channel_intent(&self, mut event: ChannelEvent) -> Result<ChannelStatus, ChannelError> {
        event.block_hash = None;
        self.insert_channel_event(event)
    }

    /// [`insert_channel_event`](Self::insert_channel_event) from
    /// pg-machinomy's JSON (see
    /// [`json::parse_channel_event`](crate::json::parse_channel_event)).
    ///
    /// # Errors
    /// [`ChannelError::Input`], otherwise as `insert_channel_event`.
    pub fn insert_channel_event_json(&self, json: &str) -> Result<ChannelStatus, ChannelError> {
        self.insert_channel_event(parse_channel_event(json)?)
    }

    /// The channel's status (pg-machinomy's `getChannelStatus`). With
    /// `include_intent` false, intents are left out: the channel as the
    /// chain has it.
    ///
    /// The records it reads are checked to be unchanged at the end (a commit
    /// of preconditions only, writing nothing), and read again if a writer
    /// got in between, so the status is one consistent snapshot.
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channel_status(&self, key: &ChannelKey, include_intent: bool) -> Result<ChannelStatus, ChannelError> {
        transact(&self.store, &self.config.retry, |txn| {
            load_status(txn, key, include_intent)
        })
    }

    /// Handles a chain reorganisation (pg-machinomy's `setRecentBlocks`):
    /// `hashes[n]` is the hash of block `first_block_number + n` on chain
    /// `chain_id`. Every chain event at or above `first_block_number` is
    /// valid iff its block hash is the listed one (events past the end of
    /// the list become invalid), and the affected channels are refolded.
    ///
    /// # Errors
    /// [`ChannelError::TooManyBlocks`] past [`MAX_RECENT_BLOCKS`] hashes or
    /// [`MAX_REORG_EVENTS`] events; store and corruption errors.
    pub fn set_recent_blocks(
        &self,
        chain_id: ChainId,
        first_block_number: u64,
        hashes: &[BlockHash],
    ) -> Result<RecentBlocksResult, ChannelError> {
        if hashes.len() > MAX_RECENT_BLOCKS {
            return Err(ChannelError::TooManyBlocks(format!("{} hashes", hashes.len())));
        }
        let prefix = block_prefix(chain_id).build();
        let start = block_prefix(chain_id).u64(first_block_number).build();
        transact(&self.store, &self.config.retry, |txn| {
            let mut changed: BTreeMap<ChannelKey, BTreeMap<u64, ChannelEvent>> = BTreeMap::new();
            let mut updated_event_count = 0u64;
            let mut seen = 0usize;
            let mut after = start.clone();
            loop {
                let page = txn.scan(&prefix, Some(&after), PAGE)?;
                for entry in &page.entries {
                    seen += 1;
                    if seen > MAX_REORG_EVENTS {
                        return Err(ChannelError::TooManyBlocks(format!(
                            "more than {MAX_REORG_EVENTS} events"
                        )));
                    }
                    let (block_number, key, seq) = read_block_index_key(&entry.key)?;
                    let event_key = channel_key("e", &key).u64(seq).build();
                    let mut event: ChannelEvent = decode_opt(txn.get(&event_key)?)?
                        .ok_or_else(|| ChannelError::Inconsistent("block index names a missing event".into()))?;
                    let listed = block_number
                        .checked_sub(first_block_number)
                        .and_then(|offset| usize::try_from(offset).ok())
                        .and_then(|offset| hashes.get(offset));
                    let valid = listed.is_some() && listed.copied() == event.block_hash;
                    if valid != event.block_is_valid {
                        event.block_is_valid = valid;
                        txn.put(event_key, codec::encode(&event)?);
                        updated_event_count += 1;
                        changed.entry(key).or_default().insert(seq, event);
                    }
                }
                match page.next_after() {
                    Some(last) => after = last.to_vec(),
                    None => break,
                }
            }
            let mut updated_channels = Vec::with_capacity(changed.len());
            for (key, overrides) in &changed {
                let record: Option<ChannelRecord> = decode_opt(txn.get(&channel_key("c", key).build())?)?;
                let next_seq = record.as_ref().map_or(0, |record| record.next_event_seq);
                refold(txn, key, record, next_seq, overrides)?;
                updated_channels.push(load_status(txn, key, true)?);
            }
            Ok(RecentBlocksResult {
                updated_event_count,
                updated_channels,
            })
        })
    }

    /// Channels whose sender is `sender`, in key order, up to `limit` after
    /// `after` (for paging).
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channels_by_sender(
        &self,
        sender: &Address,
        after: Option<&ChannelKey>,
        limit: usize,
    ) -> Result<Vec<ChannelKey>, ChannelError> {
        self.channels_by_party("snd", sender, after, limit)
    }

    /// Channels whose receiver is `receiver`, like
    /// [`channels_by_sender`](Self::channels_by_sender).
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channels_by_receiver(
        &self,
        receiver: &Address,
        after: Option<&ChannelKey>,
        limit: usize,
    ) -> Result<Vec<ChannelKey>, ChannelError> {
        self.channels_by_party("rcv", receiver, after, limit)
    }

    fn channels_by_party(
        &self,
        kind: &str,
        party: &Address,
        after: Option<&ChannelKey>,
        limit: usize,
    ) -> Result<Vec<ChannelKey>, ChannelError> {
        let prefix = party_key(kind, party).build();
        let after_key = after.map(|key| party_index_key(kind, party, key));
        let limit = limit.clamp(1, tally_store::MAX_SCAN_LIMIT);
        let page = self.store.scan(&prefix, after_key.as_deref(), limit)?;
        page.entries
            .iter()
            .map(|entry| read_party_index_key(kind, &entry.key))
            .collect()
    }

    /// Everything stored about a channel: its events (insertion order), its
    /// state updates (by amount) and its refused updates.
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channel_history(&self, key: &ChannelKey) -> Result<ChannelHistory, ChannelError> {
        fn all<S: Store, T: serde::de::DeserializeOwned>(store: &S, prefix: Vec<u8>) -> Result<Vec<T>, ChannelError> {
            scan_all(store, &prefix, PAGE)
                .map(|entry| Ok(codec::decode(&entry?.value)?))
                .collect()
        }
        Ok(ChannelHistory {
            events: all(&self.store, channel_key("e", key).build())?,
            state_updates: all(&self.store, channel_key("s", key).build())?,
            rejected: all(&self.store, channel_key("r", key).build())?,
        })
    }
}

fn accepted(
    id: Option<u64>,
    created: bool,
    status: StateUpdateStatus,
    latest: StateUpdate,
    channel: &Channel,
) -> StateUpdateResult {
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

fn block_index_key(event: &ChannelEvent, seq: u64) -> Vec<u8> {
    block_prefix(event.chain_id)
        .u64(event.block_number)
        .fixed(event.contract_id.as_bytes())
        .fixed(event.channel_id.as_bytes())
        .u64(seq)
        .build()
}

fn read_block_index_key(key: &[u8]) -> Result<(u64, ChannelKey, u64), ChannelError> {
    let mut reader = KeyReader::new(NAMESPACE, key)?;
    reader.str()?;
    let chain_id = ChainId(reader.u64()?);
    let block_number = reader.u64()?;
    let contract_id = Address(reader.fixed()?);
    let channel_id = ChannelId(reader.fixed()?);
    let seq = reader.u64()?;
    reader.finish()?;
    Ok((
        block_number,
        ChannelKey {
            chain_id,
            contract_id,
            channel_id,
        },
        seq,
    ))
}

fn party_index_key(kind: &str, party: &Address, key: &ChannelKey) -> Vec<u8> {
    party_key(kind, party)
        .u64(key.chain_id.0)
        .fixed(key.contract_id.as_bytes())
        .fixed(key.channel_id.as_bytes())
        .build()
}

fn read_party_index_key(kind: &str, key: &[u8]) -> Result<ChannelKey, ChannelError> {
    let mut reader = KeyReader::new(NAMESPACE, key)?;
    let found = reader.str()?;
    if found != kind {
        return Err(ChannelError::Inconsistent(format!(
            "index key of kind {found} under {kind}"
        )));
    }
    let _party: [u8; 20] = reader.fixed()?;
    let chain_id = ChainId(reader.u64()?);
    let contract_id = Address(reader.fixed()?);
    let channel_id = ChannelId(reader.fixed()?);
    reader.finish()?;
    Ok(ChannelKey {
        chain_id,
        contract_id,
        channel_id,
    })
}

/// Reads a channel's events through `txn` (so they become preconditions),
/// with `overrides` (this transaction's own writes) in place.
fn load_events<S: Store>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    overrides: &BTreeMap<u64, ChannelEvent>,
) -> Result<Vec<ChannelEvent>, ChannelError> {
    let prefix = channel_key("e", key).build();
    let mut events: BTreeMap<u64, ChannelEvent> = BTreeMap::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = txn.scan(&prefix, after.as_deref(), PAGE)?;
        for entry in &page.entries {
            let seq_bytes: [u8; 8] = entry
                .key
                .get(prefix.len()..)
                .and_then(|rest| rest.try_into().ok())
                .ok_or_else(|| ChannelError::Inconsistent("malformed event key".into()))?;
            events.insert(u64::from_be_bytes(seq_bytes), codec::decode(&entry.value)?);
        }
        match page.next_after() {
            Some(last) => after = Some(last.to_vec()),
            None => break,
        }
    }
    for (seq, event) in overrides {
        events.insert(*seq, event.clone());
    }
    Ok(events.into_values().collect())
}

/// Refolds a channel after its events changed and writes the channel
/// record, the fold extras and the party indexes.
fn refold<S: Store>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    old: Option<ChannelRecord>,
    next_event_seq: u64,
    overrides: &BTreeMap<u64, ChannelEvent>,
) -> Result<(), ChannelError> {
    let events = load_events(txn, key, overrides)?;
    let folded = fold_events(*key, &events, true);
    let old_parties: BTreeSet<(&str, Address)> =
        old.as_ref().map(|record| parties(&record.channel)).unwrap_or_default();
    let new_parties = parties(&folded.channel);
    for (kind, party) in old_parties.difference(&new_parties) {
        txn.delete(party_index_key(kind, party, key));
    }
    for (kind, party) in new_parties.difference(&old_parties) {
        txn.put(party_index_key(kind, party, key), Vec::new());
    }
    let FoldedChannel {
        channel,
        latest_event,
        latest_intent_event,
        latest_chain_event,
        is_invalid_reason,
    } = folded;
    txn.put(
        channel_key("c", key).build(),
        codec::encode(&ChannelRecord {
            channel,
            next_event_seq,
        })?,
    );
    txn.put(
        channel_key("f", key).build(),
        codec::encode(&FoldExtras {
            latest_event,
            latest_intent_event,
            latest_chain_event,
            is_invalid_reason,
        })?,
    );
    Ok(())
}

fn parties(channel: &Channel) -> BTreeSet<(&'static str, Address)> {
    let mut out = BTreeSet::new();
    if let Some(sender) = channel.sender {
        out.insert(("snd", sender));
    }
    if let Some(receiver) = channel.receiver {
        out.insert(("rcv", receiver));
    }
    out
}

fn load_status<S: Store>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    include_intent: bool,
) -> Result<ChannelStatus, ChannelError> {
    let head: Option<Head> = decode_opt(txn.get(&channel_key("h", key).build())?)?;
    let folded = if include_intent {
        let record: Option<ChannelRecord> = decode_opt(txn.get(&channel_key("c", key).build())?)?;
        let extras: FoldExtras = decode_opt(txn.get(&channel_key("f", key).build())?)?.unwrap_or_default();
        FoldedChannel {
            channel: record.map_or_else(|| Channel::unopened(*key), |record| record.channel),
            latest_event: extras.latest_event,
            latest_intent_event: extras.latest_intent_event,
            latest_chain_event: extras.latest_chain_event,
            is_invalid_reason: extras.is_invalid_reason,
        }
    } else {
        let events = load_events(txn, key, &BTreeMap::new())?;
        fold_events(*key, &events, false)
    };
    Ok(ChannelStatus::new(folded, head.map(|head| head.latest)))
}
