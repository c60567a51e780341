//! [`ChannelBook`]: the shell. Each method loads what the core needs from a
//! [`Store`], asks the core what to do, and commits the result atomically.
//! The rules live in the core ([`crate::update`], [`crate::channel`]), the
//! key layout in [`crate::keys`].

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tally_store::key::KeyError;
use tally_store::{RetryPolicy, Store, StoreError, Txn, codec, transact};

use crate::channel::{
    Channel, ChannelEvent, ChannelKey, FoldedChannel, IdentityClash, RecentBlocks, Sighting, fold_events, recognize,
};
use crate::json::{InputError, parse_channel_event, parse_state_update};
use crate::keccak256;
use crate::keys::{self, Party};
use crate::signature::{Scheme, SignaturePolicy};
use crate::status::{
    ChannelStatus, HistoryCursor, HistoryPage, RecentBlocksResult, StateUpdateOutcome, StateUpdateRejection,
    StateUpdateResult,
};
use crate::types::{Address, BlockHash, ChainId};
use crate::update::{
    Decision, RejectedCount, RejectedUpdate, StateUpdate, StateUpdateStatus, StoredStateUpdate, UpdateContext,
    UpdateHead, decide, status_of,
};

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
    /// applied; calling again is safe: every call is idempotent). A stored
    /// record that does not decode is a [`StoreError::Codec`] naming its key.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value could not be encoded to be hashed (a digest of an update).
    #[error("channel value could not be encoded: {0}")]
    Codec(#[from] codec::CodecError),
    /// A stored key does not decode.
    #[error("corrupt channel key: {0}")]
    Key(#[from] KeyError),
    /// A JSON input was refused.
    #[error("invalid input ({reason}): {0}", reason = .0.reason())]
    Input(#[from] InputError),
    /// A stored event has the new event's
    /// [identity](crate::channel#identity-when-two-sightings-are-one-event)
    /// (its log position, or its block, type, sender and fields) but says
    /// something else: the event source contradicts itself. Nothing was
    /// stored.
    #[error(transparent)]
    IdentityClash(#[from] IdentityClash),
    /// The channel already has [`MAX_EVENTS_PER_CHANNEL`] events.
    #[error("channel has {max_events} events already")]
    TooManyEvents {
        /// The limit, [`MAX_EVENTS_PER_CHANNEL`].
        max_events: u64,
    },
    /// A [`set_recent_blocks`](ChannelBook::set_recent_blocks) call named
    /// more than [`MAX_RECENT_BLOCKS`] block hashes; nothing was read.
    #[error("set_recent_blocks takes at most {max_hashes} block hashes, got {hashes}")]
    TooManyBlockHashes {
        /// How many hashes the call named.
        hashes: usize,
        /// The limit, [`MAX_RECENT_BLOCKS`].
        max_hashes: usize,
    },
    /// A [`set_recent_blocks`](ChannelBook::set_recent_blocks) call would
    /// look at more than [`MAX_REORG_EVENTS`] events (its first block is too
    /// far back); nothing was changed. Call again with a later first block.
    #[error("set_recent_blocks looks at most at {max_events} events; the blocks listed hold more")]
    TooManyReorgEvents {
        /// The limit, [`MAX_REORG_EVENTS`].
        max_events: usize,
    },
    /// Stored records contradict each other (a bug or tampering): `what`
    /// says how, `key` is the store key where it showed.
    #[error("inconsistent channel records at key {}: {what}", crate::types::encode_hex(.key))]
    Inconsistent {
        /// What was inconsistent.
        what: Inconsistency,
        /// The store key of the record that showed it.
        key: Vec<u8>,
    },
}

/// How stored channel records contradicted each other; see
/// [`ChannelError::Inconsistent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Inconsistency {
    /// A state update is stored under the new one's amount but the channel
    /// has no head (the key is the head's).
    #[error("a stored state update but no channel head")]
    StateUpdateWithoutHead,
    /// The channel has used every state update id (the key is the head's).
    #[error("state update ids exhausted")]
    StateUpdateIdsExhausted,
    /// The block index names an event that is not stored (the key is the
    /// event's).
    #[error("the block index names a missing event")]
    BlockIndexWithoutEvent,
    /// The identity index names an event that is not stored (the key is the
    /// event's).
    #[error("the identity index names a missing event")]
    IdentityWithoutEvent,
    /// A key under this crate's namespace does not have the kind or prefix
    /// its place implies (the key is that key).
    #[error("a key of another kind where a channel key was expected")]
    UnexpectedKey,
}

/// How many refused updates a channel keeps for audit by default; see
/// [`ChannelBookConfig::max_rejected_per_channel`].
pub const DEFAULT_MAX_REJECTED_PER_CHANNEL: u64 = 1_000;

/// The most entries one history page returns; see
/// [`ChannelBook::channel_events`].
pub const MAX_HISTORY_PAGE: usize = 1_000;

/// How a [`ChannelBook`] checks signatures, retries and bounds its audit log.
#[derive(Debug, Clone)]
pub struct ChannelBookConfig {
    /// The scheme for contracts not listed in `schemes`.
    pub default_scheme: Scheme,
    /// The scheme of each known contract.
    pub schemes: BTreeMap<(ChainId, Address), Scheme>,
    /// Which signatures to accept (default: exactly what the contracts do).
    pub policy: SignaturePolicy,
    /// Retries on commit conflicts.
    pub retry: RetryPolicy,
    /// How many refused updates each channel keeps for audit (default
    /// [`DEFAULT_MAX_REJECTED_PER_CHANNEL`]): the first ones are kept, later
    /// ones are only counted ([`ChannelBook::rejected_count`]), so a sender
    /// flooding a channel with bad updates cannot grow the store without
    /// bound. `0` keeps none.
    pub max_rejected_per_channel: u64,
}

impl Default for ChannelBookConfig {
    /// Every contract [`Scheme::Unidirectional`], the contracts' signature
    /// policy, the default retries, [`DEFAULT_MAX_REJECTED_PER_CHANNEL`].
    fn default() -> Self {
        ChannelBookConfig {
            default_scheme: Scheme::default(),
            schemes: BTreeMap::new(),
            policy: SignaturePolicy::default(),
            retry: RetryPolicy::default(),
            max_rejected_per_channel: DEFAULT_MAX_REJECTED_PER_CHANNEL,
        }
    }
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

/// The `c` record: the channel folded with intents, and the next event seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ChannelRecord {
    channel: Channel,
    next_event_seq: u64,
}

/// The `f` record: what a fold says besides the channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct FoldExtras {
    latest_event: Option<ChannelEvent>,
    latest_intent_event: Option<ChannelEvent>,
    latest_chain_event: Option<ChannelEvent>,
    is_invalid_reason: Option<String>,
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
        let head_key = keys::head(&key);
        let amount_key = keys::state_update(&key, update.amount_wei);
        transact(&self.store, &self.config.retry, |txn| {
            // Load: three keys, whatever the number of updates stored.
            let channel = load_channel(txn, &key)?;
            let head: Option<UpdateHead> = txn.get_as(&head_key)?;
            let same_amount: Option<StoredStateUpdate> = txn.get_as(&amount_key)?;
            // Decide.
            let context = UpdateContext {
                scheme,
                policy: self.config.policy,
                channel: &channel,
                latest: head.as_ref().map(|head| &head.latest),
                same_amount: same_amount.as_ref().map(|stored| &stored.update),
            };
            let (decision, status) = decide(&update, &context);
            // Commit.
            match decision {
                Decision::Insert { .. } => {
                    let (stored, new_head) =
                        UpdateHead::after_insert(head.as_ref(), &update).ok_or_else(|| ChannelError::Inconsistent {
                            what: Inconsistency::StateUpdateIdsExhausted,
                            key: head_key.clone(),
                        })?;
                    debug_assert_eq!(new_head.latest == update, status.is_latest);
                    txn.put_as(amount_key.clone(), &stored)?;
                    txn.put_as(head_key.clone(), &new_head)?;
                    let result = StateUpdateResult::new(Some(stored.id), true, status, new_head.latest, &channel);
                    Ok(StateUpdateOutcome::Accepted(result))
                }
                Decision::Duplicate => {
                    let head = head.ok_or_else(|| ChannelError::Inconsistent {
                        what: Inconsistency::StateUpdateWithoutHead,
                        key: head_key.clone(),
                    })?;
                    let result = StateUpdateResult::new(None, false, status, head.latest, &channel);
                    Ok(StateUpdateOutcome::Accepted(result))
                }
                Decision::Reject(rejection) => {
                    // Kept for audit once, up to the cap; past it, counted.
                    let audit_key = keys::rejected(&key, &keccak256(&codec::encode(&update)?));
                    if txn.get(&audit_key)?.is_none() {
                        let count_key = keys::rejected_count(&key);
                        let mut count: RejectedCount = txn.get_as(&count_key)?.unwrap_or_default();
                        if count.record(self.config.max_rejected_per_channel) {
                            let rejected = RejectedUpdate {
                                reason: rejection.code().to_owned(),
                                detail: rejection.to_string(),
                                status: status.clone(),
                                update: update.clone(),
                            };
                            txn.put_as(audit_key, &rejected)?;
                        }
                        txn.put_as(count_key, &count)?;
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
    /// `getStateUpdateStatus`), from one consistent snapshot of the three
    /// keys it reads (checked like [`channel_status`](Self::channel_status)).
    ///
    /// # Errors
    /// [`ChannelError::Store`] and corruption errors.
    pub fn state_update_status(&self, update: &StateUpdate) -> Result<StateUpdateStatus, ChannelError> {
        let key = update.key();
        transact(&self.store, &self.config.retry, |txn| {
            let channel = load_channel(txn, &key)?;
            let head: Option<UpdateHead> = txn.get_as(&keys::head(&key))?;
            let same: Option<StoredStateUpdate> = txn.get_as(&keys::state_update(&key, update.amount_wei))?;
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
        })
    }

    /// Inserts a contract event, or an intent when `block_hash` is `None`
    /// (pg-machinomy's `insertChannelEvent` and `insertChannelIntent`), and
    /// returns the channel's new status. The event is stored
    /// [as inserted](ChannelEvent::as_inserted) (`block_is_valid` is
    /// ignored).
    ///
    /// Inserting an event already stored changes nothing, whatever its `ts`:
    /// events are recognised by their
    /// [identity](crate::channel#identity-when-two-sightings-are-one-event),
    /// the log position when the event has one, else its block, type,
    /// sender and fields (an intent: all it says, `ts` included).
    ///
    /// # Errors
    /// [`ChannelError::TooManyEvents`], [`ChannelError::IdentityClash`] (a
    /// stored event has this one's identity but other content; nothing is
    /// stored), store and corruption errors. An event that does not fit the
    /// channel is stored and shows as `is_invalid`.
    pub fn insert_channel_event(&self, event: ChannelEvent) -> Result<ChannelStatus, ChannelError> {
        let event = event.as_inserted();
        let key = event.key();
        let identity_key = keys::identity(&key, &event.identity().digest(&key));
        // A positioned chain event is also indexed by its content, so that a
        // sighting without the position is recognised.
        let content_key = event
            .content_identity()
            .filter(|_| event.log.is_some())
            .map(|identity| keys::identity(&key, &identity.digest(&key)));
        transact(&self.store, &self.config.retry, |txn| {
            // Load: the stored events with this identity (or content).
            let by_identity = load_identified(txn, &key, &identity_key)?;
            let by_content = match (&by_identity, &content_key) {
                (None, Some(content_key)) => load_identified(txn, &key, content_key)?,
                _ => None,
            };
            let record: Option<ChannelRecord> = txn.get_as(&keys::record(&key))?;
            let next_seq = record.as_ref().map_or(0, |record| record.next_event_seq);
            // Decide.
            let sighting = recognize(
                &event,
                by_identity.as_ref().map(|(seq, stored)| (*seq, stored)),
                by_content.as_ref().map(|(seq, stored)| (*seq, stored)),
            )?;
            // Commit.
            match sighting {
                Sighting::Seen { .. } => {}
                Sighting::Locates { seq } => {
                    // `recognize` locates only the event found by content.
                    debug_assert!(by_content.as_ref().is_some_and(|(found, _)| *found == seq));
                    let mut stored = by_content.map_or_else(|| event.clone(), |(_, stored)| stored);
                    stored.log = event.log;
                    txn.put_as(identity_key.clone(), &seq)?;
                    let written = BTreeMap::from([(seq, stored)]);
                    write_events_and_refold(txn, &key, record, next_seq, &written)?;
                }
                Sighting::New => {
                    if next_seq >= MAX_EVENTS_PER_CHANNEL {
                        return Err(ChannelError::TooManyEvents {
                            max_events: MAX_EVENTS_PER_CHANNEL,
                        });
                    }
                    let seq = next_seq;
                    txn.put_as(identity_key.clone(), &seq)?;
                    if let (Some(content_key), None) = (&content_key, &by_content) {
                        txn.put_as(content_key.clone(), &seq)?;
                    }
                    if !event.is_intent() {
                        txn.put(keys::block_index_entry(&event, seq), Vec::new());
                    }
                    let written = BTreeMap::from([(seq, event.clone())]);
                    write_events_and_refold(txn, &key, record, seq + 1, &written)?;
                }
            }
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
    /// the list become invalid; see [`RecentBlocks`]), and the affected
    /// channels are refolded.
    ///
    /// # Errors
    /// [`ChannelError::TooManyBlockHashes`] past [`MAX_RECENT_BLOCKS`] hashes,
    /// [`ChannelError::TooManyReorgEvents`] past [`MAX_REORG_EVENTS`] events;
    /// store and corruption errors.
    pub fn set_recent_blocks(
        &self,
        chain_id: ChainId,
        first_block_number: u64,
        hashes: &[BlockHash],
    ) -> Result<RecentBlocksResult, ChannelError> {
        if hashes.len() > MAX_RECENT_BLOCKS {
            return Err(ChannelError::TooManyBlockHashes {
                hashes: hashes.len(),
                max_hashes: MAX_RECENT_BLOCKS,
            });
        }
        let blocks = RecentBlocks {
            first_block_number,
            hashes,
        };
        let prefix = keys::block_index(chain_id);
        let start = keys::block_index_before(chain_id, first_block_number);
        transact(&self.store, &self.config.retry, |txn| {
            // Load and decide, event by event: which ones change validity.
            let mut changed: BTreeMap<ChannelKey, BTreeMap<u64, ChannelEvent>> = BTreeMap::new();
            let mut updated_event_count = 0u64;
            let mut seen = 0usize;
            let mut after = start.clone();
            loop {
                let page = txn.scan(&prefix, Some(&after), PAGE)?;
                for entry in &page.entries {
                    seen += 1;
                    if seen > MAX_REORG_EVENTS {
                        return Err(ChannelError::TooManyReorgEvents {
                            max_events: MAX_REORG_EVENTS,
                        });
                    }
                    let (_block_number, key, seq) = keys::read_block_index_entry(&entry.key)?;
                    let event_key = keys::event(&key, seq);
                    let mut event: ChannelEvent =
                        txn.get_as(&event_key)?.ok_or_else(|| ChannelError::Inconsistent {
                            what: Inconsistency::BlockIndexWithoutEvent,
                            key: event_key.clone(),
                        })?;
                    match blocks.validity(&event) {
                        Some(valid) if valid != event.block_is_valid => {
                            event.block_is_valid = valid;
                            updated_event_count += 1;
                            changed.entry(key).or_default().insert(seq, event);
                        }
                        _ => {}
                    }
                }
                match page.next_after() {
                    Some(last) => after = last.to_vec(),
                    None => break,
                }
            }
            // Commit: every changed channel's events, and its refold.
            let mut updated_channels = Vec::with_capacity(changed.len());
            for (key, written) in &changed {
                let record: Option<ChannelRecord> = txn.get_as(&keys::record(key))?;
                let next_seq = record.as_ref().map_or(0, |record| record.next_event_seq);
                write_events_and_refold(txn, key, record, next_seq, written)?;
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
        self.channels_by_party(Party::Sender, sender, after, limit)
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
        self.channels_by_party(Party::Receiver, receiver, after, limit)
    }

    fn channels_by_party(
        &self,
        party: Party,
        address: &Address,
        after: Option<&ChannelKey>,
        limit: usize,
    ) -> Result<Vec<ChannelKey>, ChannelError> {
        let prefix = keys::party_channels(party, address);
        let after_key = after.map(|key| keys::party_index_entry(party, address, key));
        let limit = limit.clamp(1, tally_store::MAX_SCAN_LIMIT);
        let page = self.store.scan(&prefix, after_key.as_deref(), limit)?;
        page.entries
            .iter()
            .map(|entry| keys::read_party_index_entry(party, &entry.key))
            .collect()
    }

    /// A page of the channel's events and intents, in insertion order, with
    /// their current validity: up to `limit` (clamped to
    /// `1..=`[`MAX_HISTORY_PAGE`]) after `after` (`None`: from the start).
    ///
    /// Each page is read on its own: a writer between two pages may add
    /// entries to a later one (none is returned twice, none skipped that
    /// was there throughout).
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channel_events(
        &self,
        key: &ChannelKey,
        after: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<HistoryPage<ChannelEvent>, ChannelError> {
        self.history_page(keys::events(key), after, limit)
    }

    /// A page of the channel's stored state updates, by amount; paged like
    /// [`channel_events`](Self::channel_events).
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channel_state_updates(
        &self,
        key: &ChannelKey,
        after: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<HistoryPage<StoredStateUpdate>, ChannelError> {
        self.history_page(keys::state_updates(key), after, limit)
    }

    /// A page of the channel's refused updates kept for audit (at most
    /// [`ChannelBookConfig::max_rejected_per_channel`]), in an arbitrary but
    /// stable order; paged like [`channel_events`](Self::channel_events).
    /// [`rejected_count`](Self::rejected_count) says how many more were
    /// refused and not kept.
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn channel_rejected_updates(
        &self,
        key: &ChannelKey,
        after: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<HistoryPage<RejectedUpdate>, ChannelError> {
        self.history_page(keys::rejected_updates(key), after, limit)
    }

    /// How many refused updates the channel keeps for audit, and how many
    /// were refused after that log was full.
    ///
    /// # Errors
    /// Store and corruption errors.
    pub fn rejected_count(&self, key: &ChannelKey) -> Result<RejectedCount, ChannelError> {
        transact(&self.store, &self.config.retry, |txn| {
            Ok(txn.get_as(&keys::rejected_count(key))?.unwrap_or_default())
        })
    }

    fn history_page<T: DeserializeOwned>(
        &self,
        prefix: Vec<u8>,
        after: Option<&HistoryCursor>,
        limit: usize,
    ) -> Result<HistoryPage<T>, ChannelError> {
        let after_key = after.map(|cursor| [prefix.as_slice(), cursor.as_bytes()].concat());
        let page = self
            .store
            .scan(&prefix, after_key.as_deref(), limit.clamp(1, MAX_HISTORY_PAGE))?;
        let items = page
            .entries
            .iter()
            .map(|entry| codec::decode(&entry.value).map_err(|error| StoreError::codec(&entry.key, error).into()))
            .collect::<Result<Vec<T>, ChannelError>>()?;
        let next = match page.next_after() {
            Some(last) => Some(HistoryCursor::from_bytes(keys::suffix(last, &prefix)?.to_vec())),
            None => None,
        };
        Ok(HistoryPage { items, next })
    }
}

/// The stored event an identity index entry names: `(seq, event)`.
fn load_identified<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    identity_key: &[u8],
) -> Result<Option<(u64, ChannelEvent)>, ChannelError> {
    let Some(seq) = txn.get_as::<u64>(identity_key)? else {
        return Ok(None);
    };
    let event_key = keys::event(key, seq);
    let event = txn.get_as(&event_key)?.ok_or(ChannelError::Inconsistent {
        what: Inconsistency::IdentityWithoutEvent,
        key: event_key,
    })?;
    Ok(Some((seq, event)))
}

/// The channel as its events make it (intents included): its `c` record.
fn load_channel<S: Store + ?Sized>(txn: &mut Txn<'_, S>, key: &ChannelKey) -> Result<Channel, ChannelError> {
    let record: Option<ChannelRecord> = txn.get_as(&keys::record(key))?;
    Ok(record.map_or_else(|| Channel::unopened(*key), |record| record.channel))
}

/// Reads a channel's events, with `written` (this transaction's own
/// writes) in place.
///
/// The events are read with [`Txn::scan_guarded`], guarded by the channel's
/// `c` record: one precondition in all, not one per event (on PostgreSQL a
/// row lock each, up to [`MAX_EVENTS_PER_CHANNEL`]). That is safe because
/// every writer of a channel's `e` keys writes its `c` record in the same
/// commit: events are written only by [`write_events_and_refold`], which
/// always writes `c` (both `insert_channel_event` and `set_recent_blocks`
/// go through it). So any commit that changes the events changes the
/// guard, and a transaction that read them cannot commit, or return an
/// error, on a stale view.
fn load_events<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    written: &BTreeMap<u64, ChannelEvent>,
) -> Result<Vec<ChannelEvent>, ChannelError> {
    let guard = keys::record(key);
    let prefix = keys::events(key);
    let mut events: BTreeMap<u64, ChannelEvent> = BTreeMap::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = txn.scan_guarded(&guard, &prefix, after.as_deref(), PAGE)?;
        for entry in &page.entries {
            let seq_bytes: [u8; 8] =
                keys::suffix(&entry.key, &prefix)?
                    .try_into()
                    .map_err(|_| ChannelError::Inconsistent {
                        what: Inconsistency::UnexpectedKey,
                        key: entry.key.clone(),
                    })?;
            let event = codec::decode(&entry.value).map_err(|error| StoreError::codec(&entry.key, error))?;
            events.insert(u64::from_be_bytes(seq_bytes), event);
        }
        match page.next_after() {
            Some(last) => after = Some(last.to_vec()),
            None => break,
        }
    }
    for (seq, event) in written {
        events.insert(*seq, event.clone());
    }
    Ok(events.into_values().collect())
}

/// The one writer of a channel's events: writes `written` (seq → event),
/// refolds the channel and writes its `c` and `f` records and its party
/// indexes. Writing `c` with the events is what makes the guarded read in
/// [`load_events`] safe: `c` is rewritten even when the fold leaves the
/// channel as it was (a position recorded, an event that does not fit), so
/// do not skip an unchanged record here. A test store checks every batch
/// for this.
fn write_events_and_refold<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    old: Option<ChannelRecord>,
    next_event_seq: u64,
    written: &BTreeMap<u64, ChannelEvent>,
) -> Result<(), ChannelError> {
    debug_assert!(written.keys().all(|seq| *seq < next_event_seq));
    let events = load_events(txn, key, written)?;
    for (seq, event) in written {
        txn.put_as(keys::event(key, *seq), event)?;
    }
    let folded = fold_events(*key, &events, true);
    let old_parties: BTreeSet<Vec<u8>> = old
        .as_ref()
        .map(|record| keys::party_index_entries(&record.channel))
        .unwrap_or_default();
    let new_parties = keys::party_index_entries(&folded.channel);
    for entry in old_parties.difference(&new_parties) {
        txn.delete(entry.clone());
    }
    for entry in new_parties.difference(&old_parties) {
        txn.put(entry.clone(), Vec::new());
    }
    let FoldedChannel {
        channel,
        latest_event,
        latest_intent_event,
        latest_chain_event,
        is_invalid_reason,
    } = folded;
    let record = ChannelRecord {
        channel,
        next_event_seq,
    };
    txn.put_as(keys::record(key), &record)?;
    let extras = FoldExtras {
        latest_event,
        latest_intent_event,
        latest_chain_event,
        is_invalid_reason,
    };
    txn.put_as(keys::fold_extras(key), &extras)?;
    Ok(())
}

fn load_status<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    key: &ChannelKey,
    include_intent: bool,
) -> Result<ChannelStatus, ChannelError> {
    let head: Option<UpdateHead> = txn.get_as(&keys::head(key))?;
    let folded = if include_intent {
        let channel = load_channel(txn, key)?;
        let extras: FoldExtras = txn.get_as(&keys::fold_extras(key))?.unwrap_or_default();
        FoldedChannel {
            channel,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{EventFields, EventType};
    use crate::types::ChannelId;
    use tally_store::{Batch, MemStore};

    fn opening(key: ChannelKey) -> ChannelEvent {
        ChannelEvent {
            chain_id: key.chain_id,
            contract_id: key.contract_id,
            channel_id: key.channel_id,
            ts_ms: 1,
            block_number: 10,
            block_hash: Some(BlockHash([10; 32])),
            block_is_valid: true,
            sender: None,
            event_type: EventType::DidOpen,
            fields: EventFields {
                sender: Some(Address([7; 20])),
                receiver: Some(Address([9; 20])),
                value_wei: Some(1u64.into()),
                ..EventFields::default()
            },
            log: None,
        }
    }

    /// Checks every committed batch: whoever writes a channel's `e` keys
    /// writes its `c` record too (what makes the guarded event reads safe).
    #[derive(Default)]
    struct GuardChecked {
        inner: MemStore,
        batches_with_events: std::sync::atomic::AtomicUsize,
    }

    impl Store for GuardChecked {
        fn get(&self, key: &[u8]) -> Result<Option<tally_store::Versioned>, StoreError> {
            self.inner.get(key)
        }
        fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<tally_store::Page, StoreError> {
            self.inner.scan(prefix, after, limit)
        }
        fn commit(&self, batch: Batch) -> Result<(), StoreError> {
            let written: BTreeSet<&[u8]> = batch.ops().iter().map(|op| op.key()).collect();
            let mut touched = false;
            for key in &written {
                let mut reader = tally_store::key::KeyReader::new(keys::NAMESPACE, key).unwrap();
                if reader.str().unwrap() != "e" {
                    continue;
                }
                let channel = ChannelKey {
                    chain_id: ChainId(reader.u64().unwrap()),
                    contract_id: Address(reader.fixed().unwrap()),
                    channel_id: ChannelId(reader.fixed().unwrap()),
                };
                assert!(
                    written.contains(keys::record(&channel).as_slice()),
                    "a batch writes events of {channel:?} but not its channel record"
                );
                touched = true;
            }
            if touched {
                self.batches_with_events
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            self.inner.commit(batch)
        }
    }

    #[test]
    fn every_writer_of_a_channels_events_also_writes_its_channel_record() {
        let book = ChannelBook::new(GuardChecked::default());
        let channels = [1u8, 2].map(|n| ChannelKey {
            chain_id: ChainId(1),
            contract_id: Address([8; 20]),
            channel_id: ChannelId([n; 32]),
        });
        for key in channels {
            book.insert_channel_event(opening(key)).unwrap();
            let deposit = ChannelEvent {
                block_number: 11,
                block_hash: Some(BlockHash([11; 32])),
                event_type: EventType::DidDeposit,
                fields: EventFields {
                    value_wei: Some(5u64.into()),
                    ..EventFields::default()
                },
                ..opening(key)
            };
            book.insert_channel_event(deposit.clone()).unwrap();
            // Seen again with its position: the stored event gains it.
            let position = crate::channel::LogPosition {
                tx_hash: crate::types::TxHash([1; 32]),
                log_index: 0,
            };
            book.insert_channel_event(ChannelEvent {
                log: Some(position),
                ..deposit.clone()
            })
            .unwrap();
            book.insert_channel_intent(deposit).unwrap();
        }
        // Reorgs rewrite events of both channels, and restore them.
        book.set_recent_blocks(ChainId(1), 10, &[BlockHash([10; 32]), BlockHash([0x99; 32])])
            .unwrap();
        book.set_recent_blocks(ChainId(1), 10, &[]).unwrap();
        book.set_recent_blocks(ChainId(1), 10, &[BlockHash([10; 32]), BlockHash([11; 32])])
            .unwrap();
        let batches = book
            .store()
            .batches_with_events
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(batches, 2 * 4 + 3, "every event-writing call was checked");
    }

    #[test]
    fn a_block_index_entry_without_its_event_is_reported_with_the_event_key() {
        let key = ChannelKey {
            chain_id: ChainId(1),
            contract_id: Address([8; 20]),
            channel_id: ChannelId([1; 32]),
        };
        let book = ChannelBook::new(MemStore::new());
        book.insert_channel_event(opening(key)).unwrap();
        let mut tamper = Batch::new();
        tamper.delete(keys::event(&key, 0));
        book.store().commit(tamper).unwrap();
        match book.set_recent_blocks(ChainId(1), 10, &[]) {
            Err(ChannelError::Inconsistent {
                what: Inconsistency::BlockIndexWithoutEvent,
                key: at,
            }) => assert_eq!(at, keys::event(&key, 0)),
            other => panic!("expected an inconsistency, got {other:?}"),
        }
    }
}
