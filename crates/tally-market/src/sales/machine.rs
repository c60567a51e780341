//! The sales state machine: one [`Agent`] per slot a host tries to sell,
//! driven by [`apply`]. Pure and sans-IO: inputs (market events, replies to
//! effects, download progress, time) go in, [`Effect`]s (what the host must
//! do) come out. Nothing here reads a clock, touches a store or talks to a
//! chain.
//!
//! # States and transitions
//!
//! Codex's sales states (`codex/sales/states/*.nim`), each with the effect
//! it issues on entry and what its replies lead to:
//!
//! | state | on entry | outcome → next state |
//! |---|---|---|
//! | Preparing | [`Action::QuerySlot`] | no request → Errored; slot not Free/Repair → Ignored (no reprocess); else [`Action::ReserveBytes`]: reserved → SlotReserving; no availability, or the availability no longer fits → Ignored (reprocess); other refusal → Errored |
//! | SlotReserving | [`Action::ReserveSlot`] | ok → Downloading; not allowed → Ignored (returns collateral); other error → Errored |
//! | Downloading | [`Action::FetchData`] | each [`Input::BatchStored`] releases its bytes ([`Action::ReleaseBytes`]); stored → InitialProving; error → Errored (no reprocess) |
//! | InitialProving | wait for the next period, [`Action::QueryChallenge`] | pointer about to wrap → wait another period; else [`Action::GenerateProof`]: proof → Filling; error → Errored |
//! | Filling | [`Action::FillSlot`] (collateral less the repair reward when repairing) | ok → Filled; slot not free → Ignored (returns collateral); other error → Errored |
//! | Filled | [`Action::QueryHost`] | me → [`Notification::SlotFilledByMe`], [`Action::UpdateExpiry`]: ok → Proving, error → Errored; another host → Errored |
//! | Proving | [`Action::QueryProving`] each period | Filled: prove when required ([`Action::GenerateProof`], [`Action::SubmitProof`]), wait; Finished → Payout; Repair → Errored (slot freed); Cancelled/Failed → wait for the event; Free/Paid → Errored |
//! | Payout | [`Action::FreeSlot`] | ok → Finished (with the collateral the chain returned); error → Errored |
//! | Finished | [`Action::ClearData`], then [`Action::CleanUp`] | done |
//! | Cancelled | [`Action::QueryHost`] | mine → [`Action::FreeSlot`] (a state mismatch is tolerated); then [`Action::ClearData`], [`Action::CleanUp`] |
//! | Failed | [`Action::FreeSlot`] | → Errored (sale failed) |
//! | Errored | [`Action::ClearData`] (when the request is known), [`Action::CleanUp`] (re-queue when asked) | done |
//! | Ignored | [`Action::CleanUp`] (re-queue the slot as seen when asked) | done |
//! | Unknown (restart) | [`Action::QuerySlot`] | Free → Errored; Filled → Filled; Finished → Payout; Paid → Finished; Failed → Failed; Cancelled → Cancelled; Repair → Errored |
//!
//! Market events: [`Input::RequestCancelled`] leads to Cancelled and
//! [`Input::RequestFailed`] to Failed from Preparing, SlotReserving,
//! Downloading, InitialProving, Filling, Filled, Proving, Payout, Finished
//! and Unknown; [`Input::SlotFilled`] leads to Filled from Preparing and
//! Downloading; elsewhere they are ignored. Cancellation is watched as
//! Codex does: once the request is known, at its expiry the agent asks for
//! the request's state ([`Action::CheckRequestState`]) and is cancelled
//! only if the chain says so; [`Input::RequestFulfilled`] ends the watch.
//!
//! # Effects and replies
//!
//! Every [`Effect`] has an [`EffectId`]; its reply ([`Input::Reply`]) names
//! it. A reply to an effect that is no longer pending (its state was left,
//! or it was answered already) is ignored, so a host may deliver late or
//! twice. [`Agent::pending`] lists what is still owed, for a host that
//! restarted or lost a step's answer.
//!
//! Three actions are *internal*: [`Action::ReserveBytes`],
//! [`Action::ReleaseBytes`] and [`Action::CleanUp`] touch the host's
//! [`Reservations`](crate::Reservations). The [`Sales`](crate::sales::Sales)
//! shell performs them inside the same commit as the agent's new state, so
//! a sale and its bytes never disagree, whatever crashes.
//!
//! # Time
//!
//! `now_secs` comes with every input. Waiting states set a deadline
//! ([`Agent::next_deadline`]); the host sends [`Input::Tick`] at or after it.
//!
//! # Collateral given back at clean-up
//!
//! When the slot was never filled by this host, all the collateral the
//! reservation took goes back ([`ReturnedCollateral::Full`]); when the
//! chain paid it out (payout, or freeing a cancelled slot), what it
//! returned; when the host filled the slot and the chain kept the
//! collateral (failed request, slot freed for missing proofs), nothing.
//! Codex returns nothing in the first case for Errored and Cancelled sales
//! (only Ignored sales return it, since #1216), which leaks collateral.

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::error::MarketError;
use crate::periods::{self, ChainRandomness, ProofConfig};
use crate::reservations::rules::FindQuery;
use crate::slot_queue::SlotQueueItem;
use crate::types::{
    Address, AvailabilityId, OpId, RequestId, RequestState, ReservationId, SlotId, SlotRef, SlotState, StorageRequest,
    slot_collateral, u256_bytes,
};

/// The most effects an agent may have outstanding.
pub const MAX_PENDING_EFFECTS: usize = 8;
/// The largest proof an agent keeps (a Groth16 proof is 256 bytes).
pub const MAX_PROOF_BYTES: usize = 4_096;
/// The longest message kept from a failed effect.
pub const MAX_MESSAGE_BYTES: usize = 512;

/// What the machine needs to know about the host and the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesConfig {
    /// The host's address (Codex's `market.getSigner()`).
    pub host: Address,
    /// The contract's proof configuration.
    pub proofs: ProofConfig,
    /// The share of the collateral a repairing host is spared (percent).
    pub repair_reward_percentage: u8,
}

/// A sale's state, named as in Codex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SaleState {
    /// Checking the slot and reserving bytes.
    Preparing,
    /// Reserving the slot on chain.
    SlotReserving,
    /// Fetching and storing the slot's data.
    Downloading,
    /// Waiting for a stable challenge and computing the first proof.
    InitialProving,
    /// Filling the slot on chain.
    Filling,
    /// The slot is filled; checking by whom.
    Filled,
    /// Proving each period the challenge asks for.
    Proving,
    /// The contract finished; freeing the slot to get paid.
    Payout,
    /// Paid; clearing up.
    Finished,
    /// The request was cancelled; clearing up.
    Cancelled,
    /// The request failed; freeing the slot.
    Failed,
    /// Something went wrong; clearing up.
    Errored,
    /// Not for this host; clearing up.
    Ignored,
    /// Restarted: finding out where the slot is on chain.
    Unknown,
}

impl SaleState {
    /// Codex's name for the state (`SalePreparing`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SaleState::Preparing => "SalePreparing",
            SaleState::SlotReserving => "SaleSlotReserving",
            SaleState::Downloading => "SaleDownloading",
            SaleState::InitialProving => "SaleInitialProving",
            SaleState::Filling => "SaleFilling",
            SaleState::Filled => "SaleFilled",
            SaleState::Proving => "SaleProving",
            SaleState::Payout => "SalePayout",
            SaleState::Finished => "SaleFinished",
            SaleState::Cancelled => "SaleCancelled",
            SaleState::Failed => "SaleFailed",
            SaleState::Errored => "SaleErrored",
            SaleState::Ignored => "SaleIgnored",
            SaleState::Unknown => "SaleUnknown",
        }
    }

    /// The states a cancelled or failed request moves to Cancelled or Failed.
    pub fn accepts_cancellation(self) -> bool {
        !matches!(
            self,
            SaleState::Cancelled | SaleState::Failed | SaleState::Errored | SaleState::Ignored
        )
    }

    /// The states in which the slot is not yet filled by this host: a
    /// sales worker is busy with them (Codex's worker waits until the slot
    /// is filled or cleaned up).
    pub fn occupies_worker(self) -> bool {
        matches!(
            self,
            SaleState::Preparing
                | SaleState::SlotReserving
                | SaleState::Downloading
                | SaleState::InitialProving
                | SaleState::Filling
        )
    }

    /// Clearing-up states: once their clean-up is done the agent is gone.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SaleState::Finished | SaleState::Cancelled | SaleState::Errored | SaleState::Ignored
        )
    }
}

/// Why a sale errored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorReason {
    /// The request could not be retrieved.
    RequestNotFound,
    /// On restart the slot was in a state that cannot be ours (Free).
    UnexpectedSlotState(SlotState),
    /// Another host filled the slot.
    HostMismatch,
    /// The slot was freed (Repair): the host was removed for missing proofs.
    SlotFreed,
    /// While proving, the slot was neither filled nor finished.
    SlotNotFilled(SlotState),
    /// The request failed.
    SaleFailed,
    /// A chain call failed.
    Market(String),
    /// Fetching or storing the data failed.
    Storage(String),
    /// Generating the proof failed.
    Proof(String),
    /// Updating the data's expiry failed.
    Expiry(String),
    /// The reservation was refused.
    Reservation(String),
}

/// Identifies an effect; its reply names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EffectId(pub u64);

/// What a slot's reservation is, as the agent remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRef {
    /// The reservation.
    pub id: ReservationId,
    /// Its availability.
    pub availability_id: AvailabilityId,
}

/// How much collateral a clean-up gives back to the availability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReturnedCollateral {
    /// Everything the reservation took (the slot was never filled by us).
    Full,
    /// This amount (what the chain returned; 0 when it kept it all).
    Amount(#[serde(with = "u256_bytes")] U256),
}

/// Something for the host to do (or, for the internal ones, for the
/// [`Sales`](crate::sales::Sales) shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Read the request, the slot's state, when the request ends and when it
    /// expires. Reply: [`Reply::Slot`].
    QuerySlot {
        /// The slot.
        slot: SlotRef,
    },
    /// Internal: find an availability for the slot and reserve its bytes.
    /// Reply: [`Reply::BytesReserved`].
    ReserveBytes {
        /// The slot.
        slot: SlotRef,
        /// What the slot needs.
        query: FindQuery,
    },
    /// Reserve the slot on chain (`canReserveSlot`, then `reserveSlot`).
    /// Reply: [`Reply::SlotReserved`].
    ReserveSlot {
        /// The slot.
        slot: SlotRef,
    },
    /// Fetch the slot's data and store it, reporting each stored batch with
    /// [`Input::BatchStored`]. Reply: [`Reply::DataStored`].
    FetchData {
        /// The request.
        request: StorageRequest,
        /// The slot.
        slot_index: u64,
        /// Bytes already stored by this sale (resume from here).
        from_bytes: u64,
        /// Until when the blocks must be kept (the request's expiry, or its
        /// end when repairing a started request).
        blocks_expire_at_secs: u64,
        /// Whether the slot is being repaired.
        repairing: bool,
    },
    /// Internal: release a stored batch's bytes from the reservation.
    /// Reply: [`Reply::BytesReleased`].
    ReleaseBytes {
        /// The reservation.
        reservation_id: ReservationId,
        /// How many bytes were stored.
        bytes: u64,
        /// Makes the release idempotent.
        op: OpId,
    },
    /// Read the chain's randomness (block number and recent block hashes).
    /// Reply: [`Reply::Randomness`].
    QueryChallenge {
        /// The slot.
        slot_id: SlotId,
    },
    /// Compute a storage proof for the challenge. Reply: [`Reply::ProofGenerated`].
    GenerateProof {
        /// The slot.
        slot: SlotRef,
        /// The challenge.
        challenge: [u8; 32],
    },
    /// Fill the slot on chain with the proof, locking `collateral`.
    /// Reply: [`Reply::SlotFillResult`].
    FillSlot {
        /// The slot.
        slot: SlotRef,
        /// The initial proof.
        proof: Vec<u8>,
        /// The collateral to lock.
        #[serde(with = "u256_bytes")]
        collateral: U256,
    },
    /// Read who hosts the slot. Reply: [`Reply::Host`].
    QueryHost {
        /// The slot.
        slot_id: SlotId,
    },
    /// Keep the dataset until the request ends. Reply: [`Reply::ExpiryUpdated`].
    UpdateExpiry {
        /// The dataset.
        cid: Vec<u8>,
        /// Until when.
        expiry_secs: u64,
    },
    /// Read the slot's state, when it started and the chain's randomness.
    /// Reply: [`Reply::Proving`].
    QueryProving {
        /// The slot.
        slot_id: SlotId,
    },
    /// Submit a proof for the period. Reply: [`Reply::ProofSubmitted`].
    SubmitProof {
        /// The slot.
        slot_id: SlotId,
        /// The period proved.
        period: u64,
        /// The proof.
        proof: Vec<u8>,
    },
    /// Read the slot's current collateral, then free the slot (collecting
    /// payment and collateral when due). Reply: [`Reply::SlotFreed`].
    FreeSlot {
        /// The slot.
        slot_id: SlotId,
    },
    /// Read the request's state (for the cancellation watch).
    /// Reply: [`Reply::RequestState`].
    CheckRequestState {
        /// The request.
        request_id: RequestId,
    },
    /// Delete the slot's data (Codex's `onClear`). Reply: [`Reply::DataCleared`].
    ClearData {
        /// The request.
        request_id: RequestId,
        /// The slot.
        slot_index: u64,
    },
    /// Internal: return the reservation's bytes and collateral and delete it;
    /// re-queue the slot when asked. Reply: [`Reply::CleanedUp`].
    CleanUp {
        /// The reservation, if one was made.
        reservation_id: Option<ReservationId>,
        /// The collateral to give back.
        returned_collateral: ReturnedCollateral,
        /// The slot to queue again (as seen).
        requeue: Option<SlotQueueItem>,
    },
}

impl Action {
    /// Whether the [`Sales`](crate::sales::Sales) shell performs it itself.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Action::ReserveBytes { .. } | Action::ReleaseBytes { .. } | Action::CleanUp { .. }
        )
    }

    /// The action's name.
    pub fn name(&self) -> &'static str {
        match self {
            Action::QuerySlot { .. } => "QuerySlot",
            Action::ReserveBytes { .. } => "ReserveBytes",
            Action::ReserveSlot { .. } => "ReserveSlot",
            Action::FetchData { .. } => "FetchData",
            Action::ReleaseBytes { .. } => "ReleaseBytes",
            Action::QueryChallenge { .. } => "QueryChallenge",
            Action::GenerateProof { .. } => "GenerateProof",
            Action::FillSlot { .. } => "FillSlot",
            Action::QueryHost { .. } => "QueryHost",
            Action::UpdateExpiry { .. } => "UpdateExpiry",
            Action::QueryProving { .. } => "QueryProving",
            Action::SubmitProof { .. } => "SubmitProof",
            Action::FreeSlot { .. } => "FreeSlot",
            Action::CheckRequestState { .. } => "CheckRequestState",
            Action::ClearData { .. } => "ClearData",
            Action::CleanUp { .. } => "CleanUp",
        }
    }
}

/// An action with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    /// Names the effect in its reply.
    pub id: EffectId,
    /// What to do.
    pub action: Action,
}

/// What the chain says about a slot ([`Action::QuerySlot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotInfo {
    /// The request, if the chain knows it.
    pub request: Option<StorageRequest>,
    /// The slot's state.
    pub slot_state: SlotState,
    /// When the request's contract ends.
    pub request_end_secs: u64,
    /// When the request expires unless all slots are filled.
    pub request_expires_at_secs: u64,
}

/// What the chain says while proving ([`Action::QueryProving`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvingInfo {
    /// The slot's state.
    pub slot_state: SlotState,
    /// When the slot was filled (proofs are due from the next period on).
    pub slot_started_at_secs: u64,
    /// The chain's randomness now.
    pub randomness: ChainRandomness,
}

/// Why reserving bytes failed ([`Action::ReserveBytes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReserveBytesError {
    /// No availability matches.
    NoMatchingAvailability,
    /// The availability found no longer fits (free size, collateral or
    /// until changed between finding and reserving: Codex's
    /// `BytesOutOfBounds` race).
    AvailabilityMismatch,
    /// Refused for another reason.
    Refused(String),
}

/// Why reserving a slot failed ([`Action::ReserveSlot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReserveSlotError {
    /// The contract does not allow this host to reserve the slot (or
    /// `canReserveSlot` said no).
    NotAllowed,
    /// Another chain error.
    Market(String),
}

/// Why filling a slot failed ([`Action::FillSlot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FillSlotError {
    /// The slot is no longer free.
    SlotNotFree,
    /// Another chain error.
    Market(String),
}

/// Why freeing a slot failed ([`Action::FreeSlot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FreeSlotError {
    /// The slot was not in a state that can be freed (already free).
    StateMismatch,
    /// Another chain error.
    Market(String),
}

/// The answer to an effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// For [`Action::QuerySlot`].
    Slot(SlotInfo),
    /// For [`Action::ReserveBytes`].
    BytesReserved(Result<ReservationRef, ReserveBytesError>),
    /// For [`Action::ReserveSlot`].
    SlotReserved(Result<(), ReserveSlotError>),
    /// For [`Action::FetchData`]: all data stored, or why not.
    DataStored(Result<(), String>),
    /// For [`Action::ReleaseBytes`].
    BytesReleased(Result<(), String>),
    /// For [`Action::QueryChallenge`].
    Randomness(ChainRandomness),
    /// For [`Action::GenerateProof`].
    ProofGenerated(Result<Vec<u8>, String>),
    /// For [`Action::FillSlot`].
    SlotFillResult(Result<(), FillSlotError>),
    /// For [`Action::QueryHost`].
    Host(Option<Address>),
    /// For [`Action::UpdateExpiry`].
    ExpiryUpdated(Result<(), String>),
    /// For [`Action::QueryProving`].
    Proving(ProvingInfo),
    /// For [`Action::SubmitProof`].
    ProofSubmitted(Result<(), String>),
    /// For [`Action::FreeSlot`]: the collateral read before freeing, and
    /// how freeing went.
    SlotFreed {
        /// The slot's current collateral.
        #[serde(with = "u256_bytes")]
        current_collateral: U256,
        /// The outcome.
        result: Result<(), FreeSlotError>,
    },
    /// For [`Action::CheckRequestState`]: `None` if the chain does not know it.
    RequestState(Option<RequestState>),
    /// For [`Action::ClearData`].
    DataCleared,
    /// For [`Action::CleanUp`].
    CleanedUp,
}

impl Reply {
    fn answers(&self, action: &Action) -> bool {
        matches!(
            (self, action),
            (Reply::Slot(_), Action::QuerySlot { .. })
                | (Reply::BytesReserved(_), Action::ReserveBytes { .. })
                | (Reply::SlotReserved(_), Action::ReserveSlot { .. })
                | (Reply::DataStored(_), Action::FetchData { .. })
                | (Reply::BytesReleased(_), Action::ReleaseBytes { .. })
                | (Reply::Randomness(_), Action::QueryChallenge { .. })
                | (Reply::ProofGenerated(_), Action::GenerateProof { .. })
                | (Reply::SlotFillResult(_), Action::FillSlot { .. })
                | (Reply::Host(_), Action::QueryHost { .. })
                | (Reply::ExpiryUpdated(_), Action::UpdateExpiry { .. })
                | (Reply::Proving(_), Action::QueryProving { .. })
                | (Reply::ProofSubmitted(_), Action::SubmitProof { .. })
                | (Reply::SlotFreed { .. }, Action::FreeSlot { .. })
                | (Reply::RequestState(_), Action::CheckRequestState { .. })
                | (Reply::DataCleared, Action::ClearData { .. })
                | (Reply::CleanedUp, Action::CleanUp { .. })
        )
    }

    /// The reply's name.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Slot(_) => "Slot",
            Reply::BytesReserved(_) => "BytesReserved",
            Reply::SlotReserved(_) => "SlotReserved",
            Reply::DataStored(_) => "DataStored",
            Reply::BytesReleased(_) => "BytesReleased",
            Reply::Randomness(_) => "Randomness",
            Reply::ProofGenerated(_) => "ProofGenerated",
            Reply::SlotFillResult(_) => "SlotFillResult",
            Reply::Host(_) => "Host",
            Reply::ExpiryUpdated(_) => "ExpiryUpdated",
            Reply::Proving(_) => "Proving",
            Reply::ProofSubmitted(_) => "ProofSubmitted",
            Reply::SlotFreed { .. } => "SlotFreed",
            Reply::RequestState(_) => "RequestState",
            Reply::DataCleared => "DataCleared",
            Reply::CleanedUp => "CleanedUp",
        }
    }
}

/// What happens to an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(
    clippy::large_enum_variant,
    reason = "inputs are handled one at a time and never stored in bulk"
)]
pub enum Input {
    /// The answer to a pending effect.
    Reply {
        /// The effect answered.
        effect: EffectId,
        /// The answer.
        reply: Reply,
    },
    /// While [`Action::FetchData`] runs: batch number `batch_index` (0, 1,
    /// ...) of `bytes` bytes was written to disk.
    BatchStored {
        /// The `FetchData` effect.
        effect: EffectId,
        /// Counts from 0; a batch reported again is ignored.
        batch_index: u64,
        /// Its size.
        bytes: u64,
    },
    /// The chain says the request is cancelled (expired unfilled).
    RequestCancelled,
    /// The request failed (`RequestFailed` event).
    RequestFailed,
    /// The request started (`RequestFulfilled` event): no cancellation.
    RequestFulfilled,
    /// The slot was filled, by any host (`SlotFilled` event).
    SlotFilled,
    /// Time passed; deadlines at or before `now_secs` are due.
    Tick,
}

impl Input {
    /// The input's name.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Reply { reply, .. } => reply.name(),
            Input::BatchStored { .. } => "BatchStored",
            Input::RequestCancelled => "RequestCancelled",
            Input::RequestFailed => "RequestFailed",
            Input::RequestFulfilled => "RequestFulfilled",
            Input::SlotFilled => "SlotFilled",
            Input::Tick => "Tick",
        }
    }
}

/// Things worth telling the host that need no answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notification {
    /// The agent moved from one state to another.
    StateChanged {
        /// The state left.
        from: SaleState,
        /// The state entered.
        to: SaleState,
    },
    /// This host now hosts the slot (Codex's `onFilled` / `onSale`).
    SlotFilledByMe,
    /// The sale is over and the agent gone.
    Done,
}

/// One slot's sale; persisted by the shell after every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// The slot.
    pub slot: SlotRef,
    /// Its id.
    pub slot_id: SlotId,
    /// Where the sale is.
    pub state: SaleState,
    /// The request, once known.
    pub request: Option<StorageRequest>,
    /// When the request ends, once known.
    pub request_end_secs: Option<u64>,
    /// When the request expires unless filled, once known.
    pub request_expires_at_secs: Option<u64>,
    /// Whether the slot was in Repair when the sale began.
    pub repairing: bool,
    /// The queue item the sale came from (re-queued when ignored).
    pub queue_item: Option<SlotQueueItem>,
    /// The reservation, once made.
    pub reservation: Option<ReservationRef>,
    /// Bytes stored so far.
    pub stored_bytes: u64,
    /// Batches stored so far.
    pub batches_stored: u64,
    /// Whether this host filled the slot.
    pub filled_by_me: bool,
    /// The collateral the chain gave back, once it did.
    #[serde(with = "u256_bytes::option")]
    pub collateral_returned_by_chain: Option<U256>,
    /// The initial proof, for Filling.
    pub proof: Option<Vec<u8>>,
    /// The period being proved (Proving).
    pub proving_period: Option<u64>,
    /// The last period a proof was submitted for.
    pub last_proved_period: Option<u64>,
    /// Re-queue the slot at clean-up (Errored, Ignored).
    pub reprocess_slot: bool,
    /// Why the sale errored.
    pub error: Option<ErrorReason>,
    /// When the waiting state wakes.
    pub wake_at_secs: Option<u64>,
    /// When to check whether the request was cancelled.
    pub cancellation_check_at_secs: Option<u64>,
    /// Effects issued and not yet answered.
    pub pending: Vec<Effect>,
    /// The next effect id.
    pub next_effect_id: u64,
    /// The sale is over: the shell deletes the agent.
    pub done: bool,
}

/// The result of one [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The agent after the input.
    pub agent: Agent,
    /// Effects issued by this step, in order.
    pub effects: Vec<Effect>,
    /// Things that happened.
    pub notifications: Vec<Notification>,
}

impl Agent {
    fn blank(slot: SlotRef, state: SaleState) -> Agent {
        Agent {
            slot,
            slot_id: slot.id(),
            state,
            request: None,
            request_end_secs: None,
            request_expires_at_secs: None,
            repairing: false,
            queue_item: None,
            reservation: None,
            stored_bytes: 0,
            batches_stored: 0,
            filled_by_me: false,
            collateral_returned_by_chain: None,
            proof: None,
            proving_period: None,
            last_proved_period: None,
            reprocess_slot: false,
            error: None,
            wake_at_secs: None,
            cancellation_check_at_secs: None,
            pending: Vec::new(),
            next_effect_id: 1,
            done: false,
        }
    }

    /// A new sale of a queued slot, in Preparing.
    pub fn start(item: SlotQueueItem, now_secs: u64, config: &SalesConfig) -> Step {
        let mut agent = Agent::blank(item.slot(), SaleState::Preparing);
        agent.queue_item = Some(item);
        let mut run = Run::new(agent, now_secs, config);
        run.enter();
        run.step
    }

    /// An agent for a slot the chain lists as this host's, after a restart
    /// with no record of it, in Unknown; `reservation` is the slot's
    /// reservation, if one is found.
    pub fn restored(slot: SlotRef, reservation: Option<ReservationRef>, now_secs: u64, config: &SalesConfig) -> Step {
        let mut agent = Agent::blank(slot, SaleState::Unknown);
        agent.reservation = reservation;
        agent.filled_by_me = true;
        let mut run = Run::new(agent, now_secs, config);
        run.enter();
        run.step
    }

    /// Moves a persisted agent to Unknown to find out again where its slot
    /// is (a restarted host whose slot the chain no longer lists); the
    /// pending effects are dropped and the slot queried.
    pub fn resync(&self, now_secs: u64, config: &SalesConfig) -> Step {
        let mut run = Run::new(self.clone(), now_secs, config);
        run.transition(SaleState::Unknown);
        run.step
    }

    /// Effects still owed a reply.
    pub fn pending(&self) -> &[Effect] {
        &self.pending
    }

    /// The earliest deadline of the agent (waiting state or cancellation
    /// watch), if any.
    pub fn next_deadline(&self) -> Option<u64> {
        match (self.wake_at_secs, self.cancellation_check_at_secs) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The collateral the clean-up gives back (see the [module docs](self)).
    pub fn returned_collateral(&self) -> ReturnedCollateral {
        match self.collateral_returned_by_chain {
            Some(amount) => ReturnedCollateral::Amount(amount),
            None if self.filled_by_me => ReturnedCollateral::Amount(U256::zero()),
            None => ReturnedCollateral::Full,
        }
    }
}

fn message(text: String) -> String {
    if text.len() <= MAX_MESSAGE_BYTES {
        return text;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn free_error(error: FreeSlotError) -> String {
    match error {
        FreeSlotError::StateMismatch => "the slot is not in a state that can be freed".into(),
        FreeSlotError::Market(reason) => message(reason),
    }
}

/// Applies one input to an agent at `now_secs`.
///
/// # Errors
/// [`MarketError::UnexpectedInput`] for a reply of the wrong kind or a
/// batch reported out of order; [`MarketError::Invalid`] for a zero period
/// length in the configuration; [`MarketError::Overflow`]. The agent is
/// unchanged then. Replies to effects that are no longer pending are not
/// errors: they are ignored (a [`Step`] with no effects).
pub fn apply(agent: &Agent, input: Input, now_secs: u64, config: &SalesConfig) -> Result<Step, MarketError> {
    let mut run = Run::new(agent.clone(), now_secs, config);
    if agent.done {
        return Ok(run.step);
    }
    run.input(input)?;
    let agent = &run.step.agent;
    debug_assert!(agent.pending.len() <= MAX_PENDING_EFFECTS);
    debug_assert!(
        !matches!(
            agent.state,
            SaleState::Cancelled | SaleState::Failed | SaleState::Errored | SaleState::Ignored
        ) || agent.cancellation_check_at_secs.is_none(),
        "a clearing-up sale does not watch for cancellation"
    );
    debug_assert!(!agent.done || agent.pending.is_empty(), "a finished agent owes nothing");
    Ok(run.step)
}

/// One application of the machine: the step being built, with the
/// configuration and the time.
struct Run<'c> {
    step: Step,
    config: &'c SalesConfig,
    now_secs: u64,
}

impl<'c> Run<'c> {
    fn new(agent: Agent, now_secs: u64, config: &'c SalesConfig) -> Run<'c> {
        Run {
            step: Step {
                agent,
                effects: Vec::new(),
                notifications: Vec::new(),
            },
            config,
            now_secs,
        }
    }

    fn agent(&mut self) -> &mut Agent {
        &mut self.step.agent
    }

    fn state(&self) -> SaleState {
        self.step.agent.state
    }

    fn unexpected(&self, input: &'static str) -> MarketError {
        MarketError::UnexpectedInput {
            state: self.state().name(),
            input,
        }
    }

    fn emit(&mut self, action: Action) {
        let agent = self.agent();
        let id = EffectId(agent.next_effect_id);
        agent.next_effect_id = agent.next_effect_id.saturating_add(1);
        let effect = Effect { id, action };
        // Outstanding effects are bounded: the oldest is forgotten first
        // (its reply will be ignored as stale).
        if agent.pending.len() >= MAX_PENDING_EFFECTS {
            agent.pending.remove(0);
        }
        agent.pending.push(effect.clone());
        self.step.effects.push(effect);
    }

    /// Moves to `to`: the old state's effects and deadline are dropped
    /// (their replies become stale), then `to`'s entry effects are issued.
    fn transition(&mut self, to: SaleState) {
        let from = self.state();
        let agent = self.agent();
        agent
            .pending
            .retain(|effect| matches!(effect.action, Action::CheckRequestState { .. }));
        agent.wake_at_secs = None;
        if matches!(
            to,
            SaleState::Cancelled | SaleState::Failed | SaleState::Errored | SaleState::Ignored
        ) {
            agent.cancellation_check_at_secs = None;
            agent.pending.clear();
        }
        agent.state = to;
        self.step.notifications.push(Notification::StateChanged { from, to });
        self.enter();
    }

    fn errored(&mut self, reason: ErrorReason, reprocess_slot: bool) {
        self.agent().error = Some(reason);
        self.agent().reprocess_slot = reprocess_slot;
        self.transition(SaleState::Errored);
    }

    fn ignored(&mut self, reprocess_slot: bool) {
        self.agent().reprocess_slot = reprocess_slot;
        self.transition(SaleState::Ignored);
    }

    fn clean_up(&mut self) {
        let agent = &self.step.agent;
        let requeue = match (&agent.queue_item, agent.reprocess_slot) {
            (Some(item), true) => Some(SlotQueueItem {
                seen: true,
                ..item.clone()
            }),
            _ => None,
        };
        let action = Action::CleanUp {
            reservation_id: agent.reservation.as_ref().map(|r| r.id),
            returned_collateral: agent.returned_collateral(),
            requeue,
        };
        self.emit(action);
    }

    fn clear_data(&mut self) {
        let slot = self.step.agent.slot;
        if self.step.agent.request.is_some() {
            self.emit(Action::ClearData {
                request_id: slot.request_id,
                slot_index: slot.slot_index,
            });
        } else {
            self.clean_up();
        }
    }

    /// Waits until just after the current period ends.
    fn wait_for_next_period(&mut self) {
        let wake = self
            .config
            .proofs
            .periodicity()
            .and_then(|clock| clock.period_end(clock.period_of(self.now_secs)));
        match wake {
            Ok(end) => self.agent().wake_at_secs = Some(end.saturating_add(1)),
            Err(error) => self.errored(ErrorReason::Proof(error.to_string()), false),
        }
    }

    /// The entry effects of the current state.
    fn enter(&mut self) {
        let slot = self.step.agent.slot;
        let slot_id = self.step.agent.slot_id;
        match self.state() {
            SaleState::Preparing | SaleState::Unknown => self.emit(Action::QuerySlot { slot }),
            SaleState::SlotReserving => self.emit(Action::ReserveSlot { slot }),
            SaleState::Downloading => self.enter_downloading(),
            SaleState::InitialProving => self.wait_for_next_period(),
            SaleState::Filling => self.enter_filling(),
            SaleState::Filled | SaleState::Cancelled => self.emit(Action::QueryHost { slot_id }),
            SaleState::Proving => self.emit(Action::QueryProving { slot_id }),
            SaleState::Payout | SaleState::Failed => self.emit(Action::FreeSlot { slot_id }),
            SaleState::Finished | SaleState::Errored => self.clear_data(),
            SaleState::Ignored => self.clean_up(),
        }
    }

    fn enter_downloading(&mut self) {
        let agent = &self.step.agent;
        let Some(request) = agent.request.clone() else {
            self.errored(ErrorReason::RequestNotFound, false);
            return;
        };
        let blocks_expire_at_secs = if agent.repairing {
            agent.request_end_secs
        } else {
            agent.request_expires_at_secs
        }
        .unwrap_or(0);
        let action = Action::FetchData {
            request,
            slot_index: agent.slot.slot_index,
            from_bytes: agent.stored_bytes,
            blocks_expire_at_secs,
            repairing: agent.repairing,
        };
        self.emit(action);
    }

    fn enter_filling(&mut self) {
        let agent = &self.step.agent;
        let state = if agent.repairing {
            SlotState::Repair
        } else {
            SlotState::Free
        };
        let collateral = agent
            .request
            .as_ref()
            .map(|request| slot_collateral(&request.ask, state, self.config.repair_reward_percentage));
        match (agent.proof.clone(), collateral) {
            (Some(proof), Some(Ok(collateral))) => {
                let slot = agent.slot;
                self.emit(Action::FillSlot {
                    slot,
                    proof,
                    collateral,
                });
            }
            (_, Some(Err(error))) => self.errored(ErrorReason::Market(error.to_string()), false),
            _ => self.errored(
                ErrorReason::Market("no proof or request to fill the slot with".into()),
                false,
            ),
        }
    }

    fn watch_cancellation(&mut self) {
        let now_secs = self.now_secs;
        let agent = self.agent();
        if let Some(expires_at) = agent.request_expires_at_secs {
            agent.cancellation_check_at_secs = Some(now_secs.max(expires_at).saturating_add(1));
        }
    }

    fn input(&mut self, input: Input) -> Result<(), MarketError> {
        let state = self.state();
        match input {
            Input::Tick => self.tick(),
            Input::RequestCancelled => {
                if state.accepts_cancellation() {
                    self.transition(SaleState::Cancelled);
                }
            }
            Input::RequestFailed => {
                if state.accepts_cancellation() {
                    self.transition(SaleState::Failed);
                }
            }
            Input::RequestFulfilled => {
                let agent = self.agent();
                agent.cancellation_check_at_secs = None;
                agent
                    .pending
                    .retain(|effect| !matches!(effect.action, Action::CheckRequestState { .. }));
            }
            Input::SlotFilled => {
                if matches!(state, SaleState::Preparing | SaleState::Downloading) {
                    self.transition(SaleState::Filled);
                }
            }
            Input::BatchStored {
                effect,
                batch_index,
                bytes,
            } => self.batch_stored(effect, batch_index, bytes)?,
            Input::Reply { effect, reply } => {
                let agent = self.agent();
                let Some(position) = agent.pending.iter().position(|pending| pending.id == effect) else {
                    return Ok(()); // stale: its state was left, or answered already
                };
                if !reply.answers(&agent.pending[position].action) {
                    return Err(self.unexpected(reply.name()));
                }
                let action = self.agent().pending.remove(position).action;
                self.reply(action, reply)?;
            }
        }
        Ok(())
    }

    fn tick(&mut self) {
        let now_secs = self.now_secs;
        let agent = self.agent();
        if agent.cancellation_check_at_secs.is_some_and(|at| at <= now_secs) {
            agent.cancellation_check_at_secs = None;
            let request_id = agent.slot.request_id;
            self.emit(Action::CheckRequestState { request_id });
        }
        let agent = self.agent();
        if agent.wake_at_secs.is_some_and(|at| at <= now_secs) {
            agent.wake_at_secs = None;
            let slot_id = agent.slot_id;
            match self.state() {
                SaleState::InitialProving => self.emit(Action::QueryChallenge { slot_id }),
                SaleState::Proving => self.emit(Action::QueryProving { slot_id }),
                _ => {}
            }
        }
    }

    fn batch_stored(&mut self, effect: EffectId, batch_index: u64, bytes: u64) -> Result<(), MarketError> {
        let agent = &self.step.agent;
        let fetching = agent
            .pending
            .iter()
            .any(|pending| pending.id == effect && matches!(pending.action, Action::FetchData { .. }));
        if !fetching || batch_index < agent.batches_stored {
            return Ok(()); // stale or repeated
        }
        if batch_index > agent.batches_stored {
            return Err(self.unexpected("BatchStored out of order (a batch is missing)"));
        }
        let Some(reservation) = agent.reservation.as_ref() else {
            return Err(self.unexpected("BatchStored without a reservation"));
        };
        let mut index = batch_index.to_be_bytes().to_vec();
        index.extend_from_slice(agent.slot_id.as_bytes());
        let action = Action::ReleaseBytes {
            reservation_id: reservation.id,
            bytes,
            op: OpId::derive("sales batch", &[&index]),
        };
        self.agent().batches_stored += 1;
        self.emit(action);
        Ok(())
    }

    fn reply(&mut self, action: Action, reply: Reply) -> Result<(), MarketError> {
        let state = self.state();
        match reply {
            Reply::Slot(info) => self.slot_queried(info),
            Reply::BytesReserved(result) => match result {
                Ok(reservation) => {
                    self.agent().reservation = Some(reservation);
                    self.transition(SaleState::SlotReserving);
                }
                Err(ReserveBytesError::NoMatchingAvailability | ReserveBytesError::AvailabilityMismatch) => {
                    self.ignored(true)
                }
                Err(ReserveBytesError::Refused(reason)) => {
                    self.errored(ErrorReason::Reservation(message(reason)), false)
                }
            },
            Reply::SlotReserved(result) => match result {
                Ok(()) => self.transition(SaleState::Downloading),
                Err(ReserveSlotError::NotAllowed) => self.ignored(false),
                Err(ReserveSlotError::Market(reason)) => self.errored(ErrorReason::Market(message(reason)), false),
            },
            Reply::BytesReleased(result) => {
                if let Action::ReleaseBytes { bytes, .. } = action {
                    match result {
                        Ok(()) => {
                            let agent = self.agent();
                            agent.stored_bytes = agent
                                .stored_bytes
                                .checked_add(bytes)
                                .ok_or(MarketError::Overflow { what: "stored bytes" })?;
                        }
                        Err(reason) => self.errored(ErrorReason::Storage(message(reason)), false),
                    }
                }
            }
            Reply::DataStored(result) => match result {
                Ok(()) => self.transition(SaleState::InitialProving),
                Err(reason) => self.errored(ErrorReason::Storage(message(reason)), false),
            },
            Reply::Randomness(randomness) => self.randomness(&randomness)?,
            Reply::ProofGenerated(result) => self.proof_generated(result),
            Reply::SlotFillResult(result) => match result {
                Ok(()) => self.transition(SaleState::Filled),
                Err(FillSlotError::SlotNotFree) => self.ignored(false),
                Err(FillSlotError::Market(reason)) => self.errored(ErrorReason::Market(message(reason)), false),
            },
            Reply::Host(host) => self.host(host == Some(self.config.host)),
            Reply::ExpiryUpdated(result) => match result {
                Ok(()) => self.transition(SaleState::Proving),
                Err(reason) => self.errored(ErrorReason::Expiry(message(reason)), false),
            },
            Reply::Proving(info) => self.proving(info)?,
            Reply::ProofSubmitted(_) => {} // a failed submission is retried next period
            Reply::SlotFreed {
                current_collateral,
                result,
            } => match (state, result) {
                (SaleState::Payout, Ok(())) => {
                    self.agent().collateral_returned_by_chain = Some(current_collateral);
                    self.transition(SaleState::Finished);
                }
                (SaleState::Cancelled, Ok(()) | Err(FreeSlotError::StateMismatch)) => {
                    self.agent().collateral_returned_by_chain = Some(current_collateral);
                    self.clear_data();
                }
                (SaleState::Failed, Ok(())) => self.errored(ErrorReason::SaleFailed, false),
                (_, Err(error)) => self.errored(ErrorReason::Market(free_error(error)), false),
                _ => {}
            },
            Reply::RequestState(request_state) => match request_state {
                Some(RequestState::New) => self.watch_cancellation(),
                Some(RequestState::Cancelled) if state.accepts_cancellation() => self.transition(SaleState::Cancelled),
                _ => {}
            },
            Reply::DataCleared => self.clean_up(),
            Reply::CleanedUp => {
                let agent = self.agent();
                agent.done = true;
                agent.pending.clear();
                agent.wake_at_secs = None;
                agent.cancellation_check_at_secs = None;
                self.step.notifications.push(Notification::Done);
            }
        }
        Ok(())
    }

    fn slot_queried(&mut self, info: SlotInfo) {
        let Some(request) = info.request.clone() else {
            self.errored(ErrorReason::RequestNotFound, false);
            return;
        };
        let agent = self.agent();
        agent.request = Some(request.clone());
        agent.request_end_secs = Some(info.request_end_secs);
        agent.request_expires_at_secs = Some(info.request_expires_at_secs);
        self.watch_cancellation();
        match self.state() {
            SaleState::Preparing => {
                if !matches!(info.slot_state, SlotState::Free | SlotState::Repair) {
                    self.ignored(false);
                    return;
                }
                self.agent().repairing = info.slot_state == SlotState::Repair;
                let query = FindQuery {
                    size_bytes: request.ask.slot_size_bytes,
                    duration_secs: request.ask.duration_secs,
                    price_per_byte_per_second: request.ask.price_per_byte_per_second,
                    collateral_per_byte: request.ask.collateral_per_byte,
                    valid_until_secs: info.request_end_secs,
                };
                let slot = self.step.agent.slot;
                self.emit(Action::ReserveBytes { slot, query });
            }
            SaleState::Unknown => match info.slot_state {
                SlotState::Free => self.errored(ErrorReason::UnexpectedSlotState(SlotState::Free), false),
                SlotState::Filled => self.transition(SaleState::Filled),
                SlotState::Finished => self.transition(SaleState::Payout),
                SlotState::Paid => self.transition(SaleState::Finished),
                SlotState::Failed => self.transition(SaleState::Failed),
                SlotState::Cancelled => self.transition(SaleState::Cancelled),
                SlotState::Repair => self.errored(ErrorReason::SlotFreed, false),
            },
            _ => {}
        }
    }

    fn randomness(&mut self, randomness: &ChainRandomness) -> Result<(), MarketError> {
        if self.state() != SaleState::InitialProving {
            return Ok(());
        }
        let proofs = &self.config.proofs;
        let period = proofs.periodicity()?.period_of(self.now_secs);
        let agent = &self.step.agent;
        let pointer = periods::pointer(&agent.slot_id, period, randomness.block_number, proofs.downtime_product);
        if !periods::challenge_is_stable(pointer, proofs.downtime) {
            self.wait_for_next_period();
            return Ok(());
        }
        match periods::challenge(randomness, pointer) {
            Ok(challenge) => {
                let slot = agent.slot;
                self.emit(Action::GenerateProof { slot, challenge });
            }
            Err(error) => self.errored(ErrorReason::Proof(error.to_string()), false),
        }
        Ok(())
    }

    fn proof_generated(&mut self, result: Result<Vec<u8>, String>) {
        let too_long = |proof: &Vec<u8>| proof.len() > MAX_PROOF_BYTES;
        match (self.state(), result) {
            (SaleState::InitialProving, Ok(proof)) if too_long(&proof) => self.errored(
                ErrorReason::Proof(format!("{} bytes; at most {MAX_PROOF_BYTES}", proof.len())),
                false,
            ),
            (SaleState::InitialProving, Ok(proof)) => {
                self.agent().proof = Some(proof);
                self.transition(SaleState::Filling);
            }
            (SaleState::InitialProving, Err(reason)) => self.errored(ErrorReason::Proof(message(reason)), false),
            (SaleState::Proving, Ok(proof)) if !too_long(&proof) => {
                let agent = self.agent();
                if let Some(period) = agent.proving_period {
                    agent.last_proved_period = Some(period);
                    let slot_id = agent.slot_id;
                    self.emit(Action::SubmitProof { slot_id, period, proof });
                }
            }
            // In Proving a failed proof is tried again next period (Codex logs it).
            _ => {}
        }
    }

    fn host(&mut self, mine: bool) {
        match self.state() {
            SaleState::Filled if mine => {
                let agent = self.agent();
                agent.filled_by_me = true;
                let expiry_secs = agent.request_end_secs.unwrap_or(0);
                let cid = agent.request.as_ref().map(|request| request.content.cid.clone());
                self.step.notifications.push(Notification::SlotFilledByMe);
                match cid {
                    Some(cid) => self.emit(Action::UpdateExpiry { cid, expiry_secs }),
                    None => self.errored(ErrorReason::RequestNotFound, false),
                }
            }
            SaleState::Filled => self.errored(ErrorReason::HostMismatch, false),
            SaleState::Cancelled if mine => {
                self.agent().filled_by_me = true;
                let slot_id = self.step.agent.slot_id;
                self.emit(Action::FreeSlot { slot_id });
            }
            SaleState::Cancelled => self.clear_data(),
            _ => {}
        }
    }

    fn proving(&mut self, info: ProvingInfo) -> Result<(), MarketError> {
        if self.state() != SaleState::Proving {
            return Ok(());
        }
        let clock = self.config.proofs.periodicity()?;
        let period = clock.period_of(self.now_secs);
        match info.slot_state {
            SlotState::Filled => {
                let Some(request) = self.step.agent.request.as_ref() else {
                    self.errored(ErrorReason::RequestNotFound, false);
                    return Ok(());
                };
                let requirement = periods::proof_requirement(
                    &self.config.proofs,
                    &self.step.agent.slot_id,
                    period,
                    info.slot_started_at_secs,
                    true,
                    request.ask.proof_probability,
                    &info.randomness,
                );
                match requirement {
                    Ok(requirement) if requirement.required && self.step.agent.last_proved_period != Some(period) => {
                        self.agent().proving_period = Some(period);
                        let slot = self.step.agent.slot;
                        self.emit(Action::GenerateProof {
                            slot,
                            challenge: requirement.challenge,
                        });
                    }
                    Ok(_) => {}
                    // No randomness to prove against: try again next period.
                    Err(MarketError::MissingBlockHash { .. }) => {}
                    Err(other) => return Err(other),
                }
            }
            SlotState::Cancelled | SlotState::Failed => {} // the event follows
            SlotState::Repair => {
                self.errored(ErrorReason::SlotFreed, false);
                return Ok(());
            }
            SlotState::Finished => {
                self.transition(SaleState::Payout);
                return Ok(());
            }
            other @ (SlotState::Free | SlotState::Paid) => {
                self.errored(ErrorReason::SlotNotFilled(other), false);
                return Ok(());
            }
        }
        let next = period.checked_add(1).ok_or(MarketError::Overflow { what: "period" })?;
        let wake = clock.period_start(next)?.saturating_add(1);
        self.agent().wake_at_secs = Some(wake);
        Ok(())
    }
}
