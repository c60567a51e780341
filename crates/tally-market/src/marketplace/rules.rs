//! The marketplace contract's rules, pure: what each operation checks, in
//! the contract's order, what it changes and which events it emits; the
//! request and slot states as the contract derives them; which periods
//! require a proof; and the token accounting, asserted after every
//! operation.
//!
//! Everything here is plain data and functions. Time is the chain's clock,
//! moved only by [`Operation::Advance`]; the randomness that decides which
//! periods need a proof is [`MarketplaceConfig::challenge_seed`], mixed with
//! the slot id and the period ([`challenge`]). [`ContractState`] holds a
//! whole marketplace in memory; the [shell](crate::marketplace::Marketplace)
//! runs the very same rules over the few records an operation reads,
//! loaded from a store on demand.
//!
//! # The operations
//!
//! | operation | refused with (in this order) | changes | events |
//! |---|---|---|---|
//! | [`Mint`](Operation::Mint) | overflow | the account's balance | |
//! | [`RequestStorage`](Operation::RequestStorage) | `request_already_exists`, `invalid_expiry`, `insufficient_slots`, `invalid_max_slot_loss`, `insufficient_duration`, `insufficient_proof_probability`, `insufficient_collateral`, `insufficient_reward`, `invalid_cid`, `duration_exceeds_limit`, `insufficient_balance` | stores the request; ends at now + duration, expires at now + expiry; the client pays `slots × duration × price × slot size` into escrow | `StorageRequested` |
//! | [`ReserveSlot`](Operation::ReserveSlot) | `unknown_request`, `invalid_slot`, `reservation_not_allowed` (slot not Free/Repair, `max_reservations` reached, or reserved by this host already) | adds the host to the slot's reservations | `SlotReservationsFull` when the last one is taken |
//! | [`FillSlot`](Operation::FillSlot) | `unknown_request`, `invalid_slot`, `reservation_required`, `slot_not_free`, `proof_already_submitted`, `invalid_proof`, `start_not_before_expiry`, `insufficient_balance` | the host fills the slot; proofs are required from the next period; the slot's payout leaves the client's refund; the host locks the collateral (less the repair reward when repairing); the request starts when all slots are filled | `ProofSubmitted`, `SlotFilled`, `RequestFulfilled` |
//! | [`FreeSlot`](Operation::FreeSlot) | `slot_is_free`, `invalid_slot_host`, `already_paid`, `start_not_before_expiry` | Finished: the host is paid for the time it hosted, and gets its collateral back; Cancelled: paid until the expiry, collateral back; Failed: nothing; Filled: the slot is freed for repair, the collateral forfeited | `SlotFreed`, `RequestFailed` |
//! | [`SubmitProof`](Operation::SubmitProof) | `unknown_request` (never filled), `proof_not_submitted_by_host`, `proof_already_submitted`, `invalid_proof` | records a proof for the current period | `ProofSubmitted` |
//! | [`MarkProofAsMissing`](Operation::MarkProofAsMissing) | `slot_not_accepting_proofs`, `period_not_ended`, `validation_timed_out`, `proof_not_missing`, `proof_not_required`, `proof_already_marked_missing` | slashes `slash_percentage` of the collateral, `validator_reward_percentage` of it to the validator, the rest burned; at `max_number_of_slashes` missed proofs the slot is freed | `SlotFreed`, `RequestFailed` |
//! | [`WithdrawFunds`](Operation::WithdrawFunds) | `unknown_request`, `invalid_client_address`, `invalid_state`, `nothing_to_withdraw` | refunds the client: Cancelled, all but what filled slots earned until the expiry; Failed, everything; Finished, what no host earned | `RequestCancelled` (Cancelled only) |
//! | [`Advance`](Operation::Advance) | overflow | the clock | |
//!
//! Every operation may also be refused with `limit` (one of this crate's
//! bounds) or `overflow`; a refused operation changes nothing.
//!
//! # States
//!
//! A request's state is derived as the contract's `requestState` does: a
//! New request past its expiry is Cancelled, a New or Started one past its
//! end is Finished, whatever was stored. A slot's state as `slotState`
//! does: a slot never filled is Free (even in a cancelled request, as in
//! the contract); otherwise Paid once paid, else Cancelled, Finished or
//! Failed with its request, else what was stored (Filled or Repair).
//!
//! # Tokens are conserved
//!
//! Tokens enter only by [`Mint`](Operation::Mint). Every token is in an
//! account's balance or held by the contract, and the contract holds each
//! for one reason: a request's escrowed payment, a slot's locked
//! collateral, or burned (slashed and forfeited collateral no one can
//! claim, less the repair rewards paid from it). [`Totals`] keeps the sums,
//! and after every operation the core checks
//!
//! ```text
//! minted   = balances + escrow + collateral + burned
//! received = sent + escrow + collateral + burned
//! sent     = paid to hosts + collateral returned + refunded to clients + validator rewards
//! burned   = slashed − validator rewards + forfeited − repair rewards
//! ```
//!
//! and that the records it changed moved exactly those sums. [`ContractState::check`]
//! recomputes everything from the records, and also that each request's
//! escrow equals what its client and hosts can still claim.

use std::collections::BTreeMap;

use primitive_types::{U256, U512};
use serde::{Deserialize, Serialize};

use crate::error::MarketError;
use crate::marketplace::error::{ContractError, ReservationRefusal};
use crate::periods::{self, ChainRandomness, ProofConfig};
use crate::types::{
    Address, RequestId, RequestState, SlotId, SlotRef, SlotState, StorageAsk, StorageRequest, keccak256, slot_id,
    u256_bytes,
};

/// The most slots one request may have.
pub const MAX_SLOTS_PER_REQUEST: u64 = 1_024;
/// The most requests one marketplace holds.
pub const MAX_REQUESTS: u64 = 100_000;
/// The most accounts one marketplace holds.
pub const MAX_ACCOUNTS: u64 = 1_000_000;
/// The longest proof accepted.
pub const MAX_PROOF_BYTES: usize = 4_096;
/// The most periods `timeout_secs` may span (each slot remembers the proofs
/// of the periods that can still be validated, at most this many plus two).
pub const MAX_TIMEOUT_PERIODS: u64 = 64;

fn overflow(what: &'static str) -> MarketError {
    MarketError::Overflow { what }
}

fn broken(reason: impl Into<String>) -> MarketError {
    MarketError::Corrupt {
        reason: format!("invariant broken: {}", reason.into()),
    }
}

fn add(a: U256, b: U256, what: &'static str) -> Result<U256, MarketError> {
    a.checked_add(b).ok_or_else(|| overflow(what))
}

/// Subtraction that may not go below zero: a broken invariant if it would.
fn sub(a: U256, b: U256, what: &'static str) -> Result<U256, MarketError> {
    a.checked_sub(b)
        .ok_or_else(|| broken(format!("{what}: {a} − {b} is negative")))
}

fn mul(a: U256, b: U256, what: &'static str) -> Result<U256, MarketError> {
    a.checked_mul(b).ok_or_else(|| overflow(what))
}

fn percent(amount: U256, percentage: u8, what: &'static str) -> Result<U256, MarketError> {
    Ok(mul(amount, U256::from(percentage), what)? / U256::from(100u8))
}

// ----- configuration ---------------------------------------------------------

/// How collateral is slashed and rewarded (`CollateralConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollateralConfig {
    /// Percent of a slot's collateral a repairing host is spared.
    pub repair_reward_percentage: u8,
    /// Missed proofs after which a slot is freed (`0` frees it at the first).
    pub max_number_of_slashes: u8,
    /// Percent of the collateral slashed per missed proof.
    pub slash_percentage: u8,
    /// Percent of a slashed amount paid to the validator who marked it.
    pub validator_reward_percentage: u8,
}

/// The marketplace's configuration (`MarketplaceConfig`), plus the seed of
/// the simulated chain's randomness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketplaceConfig {
    /// Slashing and rewards.
    pub collateral: CollateralConfig,
    /// Periods, the validation timeout and the downtime.
    pub proofs: ProofConfig,
    /// How many hosts may reserve one slot (`SlotReservationsConfig`).
    pub max_reservations: u8,
    /// The longest duration a request may ask for.
    pub request_duration_limit_secs: u64,
    /// Stands in for the chain's block hashes: which periods require a
    /// proof is derived from it, the slot id and the period ([`challenge`]).
    pub challenge_seed: [u8; 32],
}

impl Default for MarketplaceConfig {
    /// The contract's default configuration (`configuration/configuration.js`):
    /// repair reward 10%, 2 slashes of 20%, validator reward 20%; periods of
    /// 120 s, timeout 30 s, downtime 64, downtime product 67; 3 reservations
    /// per slot; requests of up to 30 days. The seed is zero.
    fn default() -> Self {
        MarketplaceConfig {
            collateral: CollateralConfig {
                repair_reward_percentage: 10,
                max_number_of_slashes: 2,
                slash_percentage: 20,
                validator_reward_percentage: 20,
            },
            proofs: ProofConfig {
                period_secs: 120,
                timeout_secs: 30,
                downtime: 64,
                downtime_product: 67,
            },
            max_reservations: 3,
            request_duration_limit_secs: 30 * 24 * 3_600,
            challenge_seed: [0; 32],
        }
    }
}

impl MarketplaceConfig {
    /// Checks the configuration as the contract's constructor does, and
    /// this crate's own conditions.
    ///
    /// # Errors
    /// [`ContractError::RepairRewardPercentageTooHigh`],
    /// [`ContractError::SlashPercentageTooHigh`],
    /// [`ContractError::MaximumSlashingTooHigh`],
    /// [`ContractError::InvalidSecondsPerPeriod`] (the contract's);
    /// [`ContractError::ValidatorRewardPercentageTooHigh`],
    /// [`ContractError::RewardsExceedForfeitedCollateral`] and
    /// [`MarketError::Limit`] for a timeout longer than
    /// [`MAX_TIMEOUT_PERIODS`] periods (this crate's).
    pub fn validate(&self) -> Result<(), MarketError> {
        let c = &self.collateral;
        if c.repair_reward_percentage > 100 {
            return Err(ContractError::RepairRewardPercentageTooHigh(c.repair_reward_percentage).into());
        }
        if c.slash_percentage > 100 {
            return Err(ContractError::SlashPercentageTooHigh(c.slash_percentage).into());
        }
        if u16::from(c.max_number_of_slashes) * u16::from(c.slash_percentage) > 100 {
            return Err(ContractError::MaximumSlashingTooHigh {
                max_number_of_slashes: c.max_number_of_slashes,
                slash_percentage: c.slash_percentage,
            }
            .into());
        }
        if c.validator_reward_percentage > 100 {
            return Err(ContractError::ValidatorRewardPercentageTooHigh(c.validator_reward_percentage).into());
        }
        if u16::from(c.repair_reward_percentage) + u16::from(c.validator_reward_percentage) > 100 {
            return Err(ContractError::RewardsExceedForfeitedCollateral {
                repair: c.repair_reward_percentage,
                validator: c.validator_reward_percentage,
            }
            .into());
        }
        if self.proofs.period_secs == 0 {
            return Err(ContractError::InvalidSecondsPerPeriod.into());
        }
        if self.proofs.timeout_secs / self.proofs.period_secs > MAX_TIMEOUT_PERIODS {
            return Err(MarketError::Limit {
                what: "validation timeout in periods",
                max: MAX_TIMEOUT_PERIODS,
            });
        }
        Ok(())
    }

    fn period_of(&self, timestamp_secs: u64) -> u64 {
        // validate() guarantees a non-zero period.
        timestamp_secs / self.proofs.period_secs.max(1)
    }

    fn period_end(&self, period: u64) -> Result<u64, MarketError> {
        period
            .checked_add(1)
            .and_then(|next| next.checked_mul(self.proofs.period_secs))
            .ok_or_else(|| overflow("period end"))
    }
}

// ----- operations and events ---------------------------------------------------

/// One call to the contract, by its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    /// The test token's faucet: `amount` new tokens for `account` (the only
    /// way tokens enter).
    Mint {
        /// Who gets them.
        account: Address,
        /// How many.
        #[serde(with = "u256_bytes")]
        amount: U256,
    },
    /// `requestStorage`, sent by `request.client`.
    RequestStorage {
        /// The request.
        request: StorageRequest,
    },
    /// `reserveSlot`.
    ReserveSlot {
        /// The sender.
        host: Address,
        /// The request.
        request_id: RequestId,
        /// The slot.
        slot_index: u64,
    },
    /// `fillSlot`.
    FillSlot {
        /// The sender.
        host: Address,
        /// The request.
        request_id: RequestId,
        /// The slot.
        slot_index: u64,
        /// The proof of the slot's data (any non-empty bytes).
        proof: Vec<u8>,
    },
    /// `freeSlot`.
    FreeSlot {
        /// The sender.
        host: Address,
        /// The slot.
        slot_id: SlotId,
    },
    /// `submitProof`.
    SubmitProof {
        /// The sender.
        host: Address,
        /// The slot.
        slot_id: SlotId,
        /// The proof (any non-empty bytes).
        proof: Vec<u8>,
    },
    /// `markProofAsMissing`.
    MarkProofAsMissing {
        /// The sender, who is rewarded.
        validator: Address,
        /// The slot.
        slot_id: SlotId,
        /// The period whose proof is missing.
        period: u64,
    },
    /// `withdrawFunds`.
    WithdrawFunds {
        /// The sender.
        client: Address,
        /// The request.
        request_id: RequestId,
    },
    /// The chain's clock moves on; expiries and ends take effect.
    Advance {
        /// By how much.
        seconds: u64,
    },
}

impl Operation {
    /// The operation's snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Mint { .. } => "mint",
            Operation::RequestStorage { .. } => "request_storage",
            Operation::ReserveSlot { .. } => "reserve_slot",
            Operation::FillSlot { .. } => "fill_slot",
            Operation::FreeSlot { .. } => "free_slot",
            Operation::SubmitProof { .. } => "submit_proof",
            Operation::MarkProofAsMissing { .. } => "mark_proof_as_missing",
            Operation::WithdrawFunds { .. } => "withdraw_funds",
            Operation::Advance { .. } => "advance",
        }
    }
}

/// An event the contract emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A request was stored.
    StorageRequested {
        /// The request.
        request_id: RequestId,
        /// Its ask.
        ask: StorageAsk,
        /// When it expires unless all slots are filled (a timestamp).
        expiry_secs: u64,
    },
    /// A slot's reservations are full.
    SlotReservationsFull {
        /// The request.
        request_id: RequestId,
        /// The slot.
        slot_index: u64,
    },
    /// A slot was filled.
    SlotFilled {
        /// The request.
        request_id: RequestId,
        /// The slot.
        slot_index: u64,
    },
    /// A filled slot was freed (by its host, or for missed proofs) and
    /// needs repair.
    SlotFreed {
        /// The request.
        request_id: RequestId,
        /// The slot.
        slot_index: u64,
    },
    /// Every slot of a request is filled: it started.
    RequestFulfilled {
        /// The request.
        request_id: RequestId,
    },
    /// A cancelled request's client withdrew its funds (the contract emits
    /// this then, not at the expiry itself).
    RequestCancelled {
        /// The request.
        request_id: RequestId,
    },
    /// More than `max_slot_loss` slots of a started request were freed.
    RequestFailed {
        /// The request.
        request_id: RequestId,
    },
    /// A proof was received.
    ProofSubmitted {
        /// The slot.
        slot_id: SlotId,
    },
}

impl Event {
    /// The event's name, as the contract's.
    pub fn name(&self) -> &'static str {
        match self {
            Event::StorageRequested { .. } => "StorageRequested",
            Event::SlotReservationsFull { .. } => "SlotReservationsFull",
            Event::SlotFilled { .. } => "SlotFilled",
            Event::SlotFreed { .. } => "SlotFreed",
            Event::RequestFulfilled { .. } => "RequestFulfilled",
            Event::RequestCancelled { .. } => "RequestCancelled",
            Event::RequestFailed { .. } => "RequestFailed",
            Event::ProofSubmitted { .. } => "ProofSubmitted",
        }
    }
}

/// What an applied operation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The events, in the order the contract emits them.
    pub events: Vec<Event>,
    /// The chain's time after the operation.
    pub now_secs: u64,
}

// ----- records -------------------------------------------------------------------

/// The contract's token sums; see the [module docs](self#tokens-are-conserved).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Every token the faucet made.
    #[serde(with = "u256_bytes")]
    pub minted: U256,
    /// Σ account balances.
    #[serde(with = "u256_bytes")]
    pub balances: U256,
    /// Σ requests' escrowed payment.
    #[serde(with = "u256_bytes")]
    pub escrow: U256,
    /// Σ slots' locked collateral.
    #[serde(with = "u256_bytes")]
    pub collateral: U256,
    /// Held by the contract and owed to no one.
    #[serde(with = "u256_bytes")]
    pub burned: U256,
    /// Every token the contract took in.
    #[serde(with = "u256_bytes")]
    pub received: U256,
    /// Every token the contract paid out.
    #[serde(with = "u256_bytes")]
    pub sent: U256,
    /// Paid to hosts for hosting.
    #[serde(with = "u256_bytes")]
    pub paid_to_hosts: U256,
    /// Collateral given back to hosts.
    #[serde(with = "u256_bytes")]
    pub collateral_returned: U256,
    /// Refunded to clients.
    #[serde(with = "u256_bytes")]
    pub refunded_to_clients: U256,
    /// Collateral slashed for missed proofs.
    #[serde(with = "u256_bytes")]
    pub slashed: U256,
    /// The validators' share of what was slashed.
    #[serde(with = "u256_bytes")]
    pub validator_rewards: U256,
    /// Collateral forfeited when a filled slot was freed.
    #[serde(with = "u256_bytes")]
    pub forfeited: U256,
    /// Collateral repairing hosts were spared (paid from the burned tokens:
    /// the repairing host gets the full collateral back).
    #[serde(with = "u256_bytes")]
    pub repair_rewards: U256,
}

impl Totals {
    /// What the contract holds: escrow + collateral + burned.
    ///
    /// # Errors
    /// [`MarketError::Overflow`] (not for totals that passed [`check`](Self::check)).
    pub fn contract_balance(&self) -> Result<U256, MarketError> {
        add(
            add(self.escrow, self.collateral, "contract balance")?,
            self.burned,
            "contract balance",
        )
    }

    /// The four conservation identities of the [module docs](self#tokens-are-conserved).
    ///
    /// # Errors
    /// [`MarketError::Corrupt`] naming the identity that fails.
    pub fn check(&self) -> Result<(), MarketError> {
        let wide = |values: &[U256]| values.iter().fold(U512::zero(), |sum, v| sum + U512::from(*v));
        let held = wide(&[self.escrow, self.collateral, self.burned]);
        if U512::from(self.minted) != wide(&[self.balances]) + held {
            return Err(broken(format!(
                "minted {} ≠ balances {} + escrow {} + collateral {} + burned {}",
                self.minted, self.balances, self.escrow, self.collateral, self.burned
            )));
        }
        if U512::from(self.received) != wide(&[self.sent]) + held {
            return Err(broken(format!(
                "received {} ≠ sent {} + escrow {} + collateral {} + burned {}",
                self.received, self.sent, self.escrow, self.collateral, self.burned
            )));
        }
        let flows = wide(&[
            self.paid_to_hosts,
            self.collateral_returned,
            self.refunded_to_clients,
            self.validator_rewards,
        ]);
        if U512::from(self.sent) != flows {
            return Err(broken(format!("sent {} ≠ the sum of its flows", self.sent)));
        }
        if wide(&[self.burned, self.repair_rewards, self.validator_rewards]) != wide(&[self.slashed, self.forfeited]) {
            return Err(broken(format!(
                "burned {} ≠ slashed {} − validator rewards {} + forfeited {} − repair rewards {}",
                self.burned, self.slashed, self.validator_rewards, self.forfeited, self.repair_rewards
            )));
        }
        Ok(())
    }
}

/// The chain-wide record: the clock, the sums, the counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRecord {
    /// The chain's time.
    pub now_secs: u64,
    /// The token sums.
    pub totals: Totals,
    /// Accounts with a record.
    pub accounts: u64,
    /// Requests stored.
    pub requests: u64,
}

/// A request with its context (`Request` and `RequestContext`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The request.
    pub request: StorageRequest,
    /// The stored state (see [`request_state`] for the one that counts).
    pub state: RequestState,
    /// What the client gets back when the request ends; `0` once withdrawn.
    #[serde(with = "u256_bytes")]
    pub funds_to_return_to_client: U256,
    /// Slots filled (and not freed since; paid slots still count).
    pub slots_filled: u64,
    /// When it started (0 until then).
    pub started_at_secs: u64,
    /// When it ends (one second in the past once failed).
    pub ends_at_secs: u64,
    /// When it expires unless all slots are filled.
    pub expires_at_secs: u64,
    /// This crate's accounting: the request's payment still held.
    #[serde(with = "u256_bytes")]
    pub escrow: U256,
}

impl RequestRecord {
    /// What the client paid: `slots × duration × price per slot per second`.
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn max_price(&self) -> Result<U256, MarketError> {
        self.request.ask.total_price()
    }

    fn price_per_slot_per_second(&self) -> Result<U256, MarketError> {
        self.request.ask.price_per_slot_per_second()
    }

    /// `(end − start) × price per slot per second` (`_slotPayout`).
    fn payout(&self, start_secs: u64, end_secs: u64) -> Result<U256, MarketError> {
        if start_secs >= end_secs {
            return Err(ContractError::StartNotBeforeExpiry { start_secs, end_secs }.into());
        }
        mul(
            U256::from(end_secs - start_secs),
            self.price_per_slot_per_second()?,
            "slot payout",
        )
    }
}

/// Whether a period's proof arrived, or was marked missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodProofs {
    /// The period.
    pub period: u64,
    /// A proof was received.
    pub received: bool,
    /// It was marked missing.
    pub marked_missing: bool,
}

/// A slot (`Slot`, with its reservations and its proofs' records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The request.
    pub request_id: RequestId,
    /// The slot's index.
    pub slot_index: u64,
    /// The stored state: Free (never filled), Filled, Paid or Repair.
    pub state: SlotState,
    /// The host (kept after a payout, as the contract does; none after the
    /// slot is freed).
    pub host: Option<Address>,
    /// When the current host filled it (0 after it was freed).
    pub filled_at_secs: u64,
    /// The collateral the host gets back (the full amount even for a
    /// repairing host), less what was slashed.
    #[serde(with = "u256_bytes")]
    pub current_collateral: U256,
    /// When proofs started to be required (the last fill).
    pub proofs_started_at_secs: u64,
    /// Proofs marked missing since the last fill.
    pub missed_proofs: u64,
    /// Hosts that reserved the slot (at most `max_reservations`; cleared
    /// when the slot is freed).
    pub reservations: Vec<Address>,
    /// Whether the slot is in its host's list (`mySlots`).
    pub listed: bool,
    /// How many times the slot was freed for repair (this crate's: it
    /// tells successive hosts, and successive sales, of the slot apart).
    pub frees: u64,
    /// The proofs of the periods that can still be submitted or validated.
    pub periods: Vec<PeriodProofs>,
}

impl SlotRecord {
    fn new(request_id: RequestId, slot_index: u64) -> SlotRecord {
        SlotRecord {
            request_id,
            slot_index,
            state: SlotState::Free,
            host: None,
            filled_at_secs: 0,
            current_collateral: U256::zero(),
            proofs_started_at_secs: 0,
            missed_proofs: 0,
            reservations: Vec::new(),
            listed: false,
            frees: 0,
            periods: Vec::new(),
        }
    }

    /// The slot's id.
    pub fn id(&self) -> SlotId {
        slot_id(&self.request_id, self.slot_index)
    }

    /// The collateral the contract holds for this slot (none once paid).
    pub fn locked_collateral(&self) -> U256 {
        if self.state == SlotState::Paid {
            U256::zero()
        } else {
            self.current_collateral
        }
    }

    fn proofs(&self, period: u64) -> PeriodProofs {
        self.periods
            .iter()
            .find(|p| p.period == period)
            .copied()
            .unwrap_or(PeriodProofs {
                period,
                received: false,
                marked_missing: false,
            })
    }

    /// Records `update` for its period, forgetting periods that can no
    /// longer be submitted or validated at `now_secs`.
    fn record_proofs(&mut self, update: PeriodProofs, config: &MarketplaceConfig, now_secs: u64) {
        let timeout = config.proofs.timeout_secs;
        self.periods.retain(|p| {
            p.period != update.period
                && config
                    .period_end(p.period)
                    .map_or(true, |end| end.saturating_add(timeout) > now_secs)
        });
        self.periods.push(update);
        self.periods.sort_by_key(|p| p.period);
        debug_assert!(self.periods.len() as u64 <= MAX_TIMEOUT_PERIODS + 3);
    }
}

// ----- state derivation and proofs (pure functions) -------------------------------

/// A request's state at `now_secs` (`requestState`).
pub fn request_state(record: &RequestRecord, now_secs: u64) -> RequestState {
    match record.state {
        RequestState::New if now_secs > record.expires_at_secs => RequestState::Cancelled,
        RequestState::New | RequestState::Started if now_secs > record.ends_at_secs => RequestState::Finished,
        stored => stored,
    }
}

/// A filled slot's state given its stored state and its request's.
fn filled_slot_state(stored: SlotState, request: RequestState) -> SlotState {
    match (stored, request) {
        (SlotState::Paid, _) => SlotState::Paid,
        (_, RequestState::Cancelled) => SlotState::Cancelled,
        (_, RequestState::Finished) => SlotState::Finished,
        (_, RequestState::Failed) => SlotState::Failed,
        (stored, _) => stored,
    }
}

/// A slot's state (`slotState`): Free while never filled, whatever its
/// request's state; else as the [module docs](self#states) say.
pub fn slot_state(slot: &SlotRecord, request: &RequestRecord, now_secs: u64) -> SlotState {
    if slot.state == SlotState::Free {
        return SlotState::Free;
    }
    filled_slot_state(slot.state, request_state(request, now_secs))
}

/// The stand-in for the block hash the contract's pointer designates for
/// `slot_id` in `period`: keccak-256 of a label, the seed, the slot id and
/// the period.
pub fn block_hash(seed: &[u8; 32], slot_id: &SlotId, period: u64) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(27 + 32 + 32 + 8);
    bytes.extend_from_slice(b"tally-marketplace challenge");
    bytes.extend_from_slice(seed);
    bytes.extend_from_slice(slot_id.as_bytes());
    bytes.extend_from_slice(&period.to_be_bytes());
    keccak256(&bytes)
}

/// The challenge of `slot_id` in `period`: keccak-256 of its
/// [`block_hash`], as the contract hashes the block hash.
pub fn challenge(seed: &[u8; 32], slot_id: &SlotId, period: u64) -> [u8; 32] {
    keccak256(&block_hash(seed, slot_id, period))
}

/// The pointer of `slot_id` in `period`: the contract's formula with the
/// block number fixed at 0 (there are no blocks), so it is fixed for the
/// whole period.
pub fn pointer(config: &MarketplaceConfig, slot_id: &SlotId, period: u64) -> u8 {
    periods::pointer(slot_id, period, 0, config.proofs.downtime_product)
}

/// The chain randomness a host reads for `slot_id` in `period`: every
/// recent block hash is [`block_hash`], so that
/// [`periods::proof_requirement`] computes the same challenge and pointer
/// as the marketplace (and requires a proof whenever the marketplace
/// does, or will).
pub fn randomness(config: &MarketplaceConfig, slot_id: &SlotId, period: u64) -> ChainRandomness {
    ChainRandomness {
        block_number: 0,
        recent_block_hashes: vec![block_hash(&config.challenge_seed, slot_id, period); periods::BLOCK_HASHES],
    }
}

/// Whether `period`'s challenge demands a proof, regardless of downtime,
/// for a slot whose proofs started at `started_at_secs` and whose ask has
/// `proof_probability` (the contract's `_getProofRequirement`, for a Filled
/// slot).
fn challenge_demands_proof(
    config: &MarketplaceConfig,
    slot_id: &SlotId,
    period: u64,
    started_at_secs: u64,
    proof_probability: U256,
) -> bool {
    if period <= config.period_of(started_at_secs) {
        return false;
    }
    let probability = periods::slot_probability(proof_probability, config.proofs.downtime);
    let challenge = challenge(&config.challenge_seed, slot_id, period);
    probability.is_zero() || (U256::from_big_endian(&challenge) % probability).is_zero()
}

// ----- where records come from ------------------------------------------------------

/// Names one record of the marketplace's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RecordKey {
    Chain,
    Account(Address),
    Request(RequestId),
    Slot(SlotId),
}

/// Read access to the records an operation needs. `Err(key)` means "not
/// loaded": the shell loads it and runs the operation again; a complete
/// state never answers it.
pub(crate) trait Records {
    fn chain(&self) -> Result<&ChainRecord, RecordKey>;
    fn account(&self, account: &Address) -> Result<Option<U256>, RecordKey>;
    fn request(&self, id: &RequestId) -> Result<Option<&RequestRecord>, RecordKey>;
    fn slot(&self, id: &SlotId) -> Result<Option<&SlotRecord>, RecordKey>;
}

/// Why [`execute`] stopped without an outcome.
#[derive(Debug)]
pub(crate) enum Stop {
    /// It needs this record.
    Load(RecordKey),
    /// The operation is refused.
    Refused(MarketError),
}

impl From<MarketError> for Stop {
    fn from(error: MarketError) -> Self {
        Stop::Refused(error)
    }
}

impl From<ContractError> for Stop {
    fn from(error: ContractError) -> Self {
        Stop::Refused(MarketError::Contract(error))
    }
}

/// The records an operation changed, to be written (nothing is ever deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Writes {
    pub(crate) chain: ChainRecord,
    pub(crate) accounts: BTreeMap<Address, U256>,
    pub(crate) requests: BTreeMap<RequestId, RequestRecord>,
    pub(crate) slots: BTreeMap<SlotId, SlotRecord>,
}

/// An operation's outcome with the writes it makes.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) outcome: Outcome,
    pub(crate) writes: Writes,
}

// ----- one operation ------------------------------------------------------------------

/// Runs `op` against `records`: the outcome and the records to write, or
/// why not. Nothing is changed; the caller writes the [`Writes`].
pub(crate) fn execute<R: Records>(config: &MarketplaceConfig, records: &R, op: &Operation) -> Result<Applied, Stop> {
    let mut tx = Tx::new(config, records)?;
    match op {
        Operation::Mint { account, amount } => tx.mint(*account, *amount)?,
        Operation::RequestStorage { request } => tx.request_storage(request)?,
        Operation::ReserveSlot {
            host,
            request_id,
            slot_index,
        } => tx.reserve_slot(*host, request_id, *slot_index)?,
        Operation::FillSlot {
            host,
            request_id,
            slot_index,
            proof,
        } => tx.fill_slot(*host, request_id, *slot_index, proof)?,
        Operation::FreeSlot { host, slot_id } => tx.free_slot(*host, slot_id)?,
        Operation::SubmitProof { host, slot_id, proof } => tx.submit_proof(*host, slot_id, proof)?,
        Operation::MarkProofAsMissing {
            validator,
            slot_id,
            period,
        } => tx.mark_proof_as_missing(*validator, slot_id, *period)?,
        Operation::WithdrawFunds { client, request_id } => tx.withdraw_funds(*client, request_id)?,
        Operation::Advance { seconds } => {
            tx.chain.now_secs = tx
                .chain
                .now_secs
                .checked_add(*seconds)
                .ok_or_else(|| overflow("chain time"))?;
        }
    }
    tx.finish()
}

/// One operation in progress: the records it changed so far, over the
/// records it read.
pub(crate) struct Tx<'r, R> {
    config: &'r MarketplaceConfig,
    base: &'r R,
    chain: ChainRecord,
    accounts: BTreeMap<Address, U256>,
    requests: BTreeMap<RequestId, RequestRecord>,
    slots: BTreeMap<SlotId, SlotRecord>,
    events: Vec<Event>,
}

impl<'r, R: Records> Tx<'r, R> {
    pub(crate) fn new(config: &'r MarketplaceConfig, base: &'r R) -> Result<Self, Stop> {
        Ok(Tx {
            config,
            base,
            chain: base.chain().map_err(Stop::Load)?.clone(),
            accounts: BTreeMap::new(),
            requests: BTreeMap::new(),
            slots: BTreeMap::new(),
            events: Vec::new(),
        })
    }

    fn now(&self) -> u64 {
        self.chain.now_secs
    }

    fn totals(&mut self) -> &mut Totals {
        &mut self.chain.totals
    }

    // ----- reads ---------------------------------------------------------------

    pub(crate) fn balance(&self, account: &Address) -> Result<U256, Stop> {
        if let Some(balance) = self.accounts.get(account) {
            return Ok(*balance);
        }
        Ok(self.base.account(account).map_err(Stop::Load)?.unwrap_or_default())
    }

    pub(crate) fn request(&self, id: &RequestId) -> Result<Option<RequestRecord>, Stop> {
        if let Some(record) = self.requests.get(id) {
            return Ok(Some(record.clone()));
        }
        Ok(self.base.request(id).map_err(Stop::Load)?.cloned())
    }

    fn known_request(&self, id: &RequestId) -> Result<RequestRecord, Stop> {
        self.request(id)?
            .ok_or_else(|| ContractError::UnknownRequest(*id).into())
    }

    pub(crate) fn slot(&self, id: &SlotId) -> Result<Option<SlotRecord>, Stop> {
        if let Some(record) = self.slots.get(id) {
            return Ok(Some(record.clone()));
        }
        Ok(self.base.slot(id).map_err(Stop::Load)?.cloned())
    }

    /// The request of a slot that has a record.
    fn request_of(&self, slot: &SlotRecord) -> Result<RequestRecord, Stop> {
        self.request(&slot.request_id)?.ok_or_else(|| {
            broken(format!(
                "slot {} names the unknown request {}",
                slot.id(),
                slot.request_id
            ))
            .into()
        })
    }

    /// A slot's state now (Free when it has no record).
    pub(crate) fn slot_state(&self, id: &SlotId) -> Result<SlotState, Stop> {
        match self.slot(id)? {
            None => Ok(SlotState::Free),
            Some(slot) if slot.state == SlotState::Free => Ok(SlotState::Free),
            Some(slot) => Ok(slot_state(&slot, &self.request_of(&slot)?, self.now())),
        }
    }

    /// `_isProofRequired`: the challenge demands a proof and the pointer is
    /// out of downtime. The second value is `willProofBeRequired`'s: it
    /// demands one, but the pointer is in downtime.
    pub(crate) fn proof_required(&self, id: &SlotId, period: u64) -> Result<(bool, bool), Stop> {
        let Some(slot) = self.slot(id)? else {
            return Ok((false, false));
        };
        if slot.state == SlotState::Free {
            return Ok((false, false));
        }
        let request = self.request_of(&slot)?;
        if slot_state(&slot, &request, self.now()) != SlotState::Filled {
            return Ok((false, false));
        }
        let demanded = challenge_demands_proof(
            self.config,
            id,
            period,
            slot.proofs_started_at_secs,
            request.request.ask.proof_probability,
        );
        let in_downtime = pointer(self.config, id, period) < self.config.proofs.downtime;
        Ok((demanded && !in_downtime, demanded && in_downtime))
    }

    /// `canMarkProofAsMissing`: every check of `markProofAsMissing`.
    pub(crate) fn can_mark_proof_as_missing(&self, id: &SlotId, period: u64) -> Result<SlotRecord, Stop> {
        let state = self.slot_state(id)?;
        if state != SlotState::Filled {
            return Err(ContractError::SlotNotAcceptingProofs(state).into());
        }
        let slot = self.slot(id)?.ok_or_else(|| broken("a Filled slot without a record"))?;
        let now = self.now();
        let end = self.config.period_end(period)?;
        if end >= now {
            return Err(ContractError::PeriodNotEnded {
                period,
                ends_at_secs: end,
            }
            .into());
        }
        let deadline = end.saturating_add(self.config.proofs.timeout_secs);
        if now >= deadline {
            return Err(ContractError::ValidationTimedOut {
                period,
                deadline_secs: deadline,
            }
            .into());
        }
        let proofs = slot.proofs(period);
        if proofs.received {
            return Err(ContractError::ProofNotMissing { period }.into());
        }
        if !self.proof_required(id, period)?.0 {
            return Err(ContractError::ProofNotRequired { period }.into());
        }
        if proofs.marked_missing {
            return Err(ContractError::ProofAlreadyMarkedMissing { period }.into());
        }
        Ok(slot)
    }

    // ----- token movements ---------------------------------------------------------
    //
    // Each moves a balance and the matching total together; `finish` checks
    // that the records and the totals moved alike.

    fn credit(&mut self, account: Address, amount: U256) -> Result<(), Stop> {
        if amount.is_zero() {
            return Ok(());
        }
        let exists = self.accounts.contains_key(&account) || self.base.account(&account).map_err(Stop::Load)?.is_some();
        if !exists {
            if self.chain.accounts >= MAX_ACCOUNTS {
                return Err(MarketError::Limit {
                    what: "accounts",
                    max: MAX_ACCOUNTS,
                }
                .into());
            }
            self.chain.accounts += 1;
        }
        let balance = add(self.balance(&account)?, amount, "balance")?;
        self.accounts.insert(account, balance);
        self.totals().balances = add(self.chain.totals.balances, amount, "total balances")?;
        Ok(())
    }

    fn debit(&mut self, account: Address, amount: U256) -> Result<(), Stop> {
        let balance = self.balance(&account)?;
        if balance < amount {
            return Err(ContractError::InsufficientBalance {
                account,
                balance,
                required: amount,
            }
            .into());
        }
        if amount.is_zero() {
            return Ok(());
        }
        self.accounts.insert(account, balance - amount);
        self.totals().balances = sub(self.chain.totals.balances, amount, "total balances")?;
        Ok(())
    }

    /// The client pays `amount` into the request's escrow.
    fn take_payment(&mut self, client: Address, request: &mut RequestRecord, amount: U256) -> Result<(), Stop> {
        self.debit(client, amount)?;
        request.escrow = add(request.escrow, amount, "escrow")?;
        let totals = self.totals();
        totals.escrow = add(totals.escrow, amount, "total escrow")?;
        totals.received = add(totals.received, amount, "received")?;
        Ok(())
    }

    /// The escrow pays `amount` to a host (as reward) or the client (refund).
    fn pay_from_escrow(
        &mut self,
        to: Address,
        request: &mut RequestRecord,
        amount: U256,
        to_host: bool,
    ) -> Result<(), Stop> {
        request.escrow = sub(request.escrow, amount, "the request's escrow")?;
        self.credit(to, amount)?;
        let totals = self.totals();
        totals.escrow = sub(totals.escrow, amount, "total escrow")?;
        totals.sent = add(totals.sent, amount, "sent")?;
        if to_host {
            totals.paid_to_hosts = add(totals.paid_to_hosts, amount, "paid to hosts")?;
        } else {
            totals.refunded_to_clients = add(totals.refunded_to_clients, amount, "refunded")?;
        }
        Ok(())
    }

    /// The host pays `paid` and the slot is credited `credited` (more, by
    /// the repair reward, when repairing: the difference comes out of the
    /// burned tokens).
    fn lock_collateral(
        &mut self,
        host: Address,
        slot: &mut SlotRecord,
        paid: U256,
        credited: U256,
    ) -> Result<(), Stop> {
        debug_assert!(paid <= credited);
        self.debit(host, paid)?;
        slot.current_collateral = credited;
        let reward = sub(credited, paid, "repair reward")?;
        let totals = self.totals();
        totals.received = add(totals.received, paid, "received")?;
        totals.collateral = add(totals.collateral, credited, "total collateral")?;
        totals.burned = sub(totals.burned, reward, "burned tokens paying a repair reward")?;
        totals.repair_rewards = add(totals.repair_rewards, reward, "repair rewards")?;
        Ok(())
    }

    /// The slot's collateral goes back to its host (the slot is then Paid).
    fn return_collateral(&mut self, to: Address, slot: &SlotRecord) -> Result<(), Stop> {
        let amount = slot.current_collateral;
        self.credit(to, amount)?;
        let totals = self.totals();
        totals.collateral = sub(totals.collateral, amount, "total collateral")?;
        totals.sent = add(totals.sent, amount, "sent")?;
        totals.collateral_returned = add(totals.collateral_returned, amount, "collateral returned")?;
        Ok(())
    }

    fn slash(&mut self, validator: Address, slot: &mut SlotRecord, request: &RequestRecord) -> Result<(), Stop> {
        let c = self.config.collateral;
        let slashed = percent(request.request.ask.collateral_per_slot()?, c.slash_percentage, "slash")?;
        let reward = percent(slashed, c.validator_reward_percentage, "validator reward")?;
        self.credit(validator, reward)?;
        slot.current_collateral = sub(slot.current_collateral, slashed, "slashed collateral")?;
        let totals = self.totals();
        totals.collateral = sub(totals.collateral, slashed, "total collateral")?;
        totals.sent = add(totals.sent, reward, "sent")?;
        totals.validator_rewards = add(totals.validator_rewards, reward, "validator rewards")?;
        totals.slashed = add(totals.slashed, slashed, "slashed")?;
        totals.burned = add(totals.burned, slashed - reward, "burned")?;
        Ok(())
    }

    fn forfeit(&mut self, slot: &mut SlotRecord) -> Result<(), Stop> {
        let amount = std::mem::take(&mut slot.current_collateral);
        let totals = self.totals();
        totals.collateral = sub(totals.collateral, amount, "total collateral")?;
        totals.burned = add(totals.burned, amount, "burned")?;
        totals.forfeited = add(totals.forfeited, amount, "forfeited")?;
        Ok(())
    }

    // ----- the operations -------------------------------------------------------------

    fn mint(&mut self, account: Address, amount: U256) -> Result<(), Stop> {
        self.totals().minted = add(self.chain.totals.minted, amount, "minted tokens")?;
        self.credit(account, amount)
    }

    fn request_storage(&mut self, request: &StorageRequest) -> Result<(), Stop> {
        let id = request.id()?;
        let ask = &request.ask;
        if self.request(&id)?.is_some() {
            return Err(ContractError::RequestAlreadyExists(id).into());
        }
        if request.expiry_secs == 0 || request.expiry_secs >= ask.duration_secs {
            return Err(ContractError::InvalidExpiry {
                expiry_secs: request.expiry_secs,
                duration_secs: ask.duration_secs,
            }
            .into());
        }
        if ask.slots == 0 {
            return Err(ContractError::InsufficientSlots.into());
        }
        if ask.max_slot_loss > ask.slots {
            return Err(ContractError::InvalidMaxSlotLoss {
                max_slot_loss: ask.max_slot_loss,
                slots: ask.slots,
            }
            .into());
        }
        if ask.duration_secs == 0 {
            return Err(ContractError::InsufficientDuration.into());
        }
        if ask.proof_probability.is_zero() {
            return Err(ContractError::InsufficientProofProbability.into());
        }
        if ask.collateral_per_byte.is_zero() {
            return Err(ContractError::InsufficientCollateral.into());
        }
        if ask.price_per_byte_per_second.is_zero() {
            return Err(ContractError::InsufficientReward.into());
        }
        if request.content.cid.is_empty() {
            return Err(ContractError::InvalidCid.into());
        }
        if ask.duration_secs > self.config.request_duration_limit_secs {
            return Err(ContractError::DurationExceedsLimit {
                duration_secs: ask.duration_secs,
                limit_secs: self.config.request_duration_limit_secs,
            }
            .into());
        }
        if ask.slots > MAX_SLOTS_PER_REQUEST {
            return Err(MarketError::Limit {
                what: "slots per request",
                max: MAX_SLOTS_PER_REQUEST,
            }
            .into());
        }
        if self.chain.requests >= MAX_REQUESTS {
            return Err(MarketError::Limit {
                what: "requests",
                max: MAX_REQUESTS,
            }
            .into());
        }
        // Collateral per slot must be computable for every fill to come.
        ask.collateral_per_slot()?;
        let now = self.now();
        let amount = ask.total_price()?;
        let mut record = RequestRecord {
            request: request.clone(),
            state: RequestState::New,
            funds_to_return_to_client: amount,
            slots_filled: 0,
            started_at_secs: 0,
            ends_at_secs: now
                .checked_add(ask.duration_secs)
                .ok_or_else(|| overflow("request end"))?,
            expires_at_secs: now
                .checked_add(request.expiry_secs)
                .ok_or_else(|| overflow("request expiry"))?,
            escrow: U256::zero(),
        };
        self.take_payment(request.client, &mut record, amount)?;
        self.chain.requests += 1;
        self.events.push(Event::StorageRequested {
            request_id: id,
            ask: ask.clone(),
            expiry_secs: record.expires_at_secs,
        });
        self.requests.insert(id, record);
        Ok(())
    }

    /// The slot `slot_index` of a known request, with its record (a fresh
    /// one if it has none yet).
    fn slot_of(&self, request_id: &RequestId, slot_index: u64) -> Result<(RequestRecord, SlotRecord), Stop> {
        let request = self.known_request(request_id)?;
        if slot_index >= request.request.ask.slots {
            return Err(ContractError::InvalidSlot {
                slot_index,
                slots: request.request.ask.slots,
            }
            .into());
        }
        let slot = self
            .slot(&slot_id(request_id, slot_index))?
            .unwrap_or_else(|| SlotRecord::new(*request_id, slot_index));
        Ok((request, slot))
    }

    fn reserve_slot(&mut self, host: Address, request_id: &RequestId, slot_index: u64) -> Result<(), Stop> {
        let (request, mut slot) = self.slot_of(request_id, slot_index)?;
        let state = slot_state(&slot, &request, self.now());
        let refusal = if !matches!(state, SlotState::Free | SlotState::Repair) {
            Some(ReservationRefusal::SlotNotFree(state))
        } else if slot.reservations.len() >= usize::from(self.config.max_reservations) {
            Some(ReservationRefusal::ReservationsFull)
        } else if slot.reservations.contains(&host) {
            Some(ReservationRefusal::AlreadyReserved)
        } else {
            None
        };
        if let Some(reason) = refusal {
            return Err(ContractError::ReservationNotAllowed { reason }.into());
        }
        slot.reservations.push(host);
        if slot.reservations.len() == usize::from(self.config.max_reservations) {
            self.events.push(Event::SlotReservationsFull {
                request_id: *request_id,
                slot_index,
            });
        }
        debug_assert!(slot.reservations.len() <= usize::from(self.config.max_reservations));
        self.slots.insert(slot.id(), slot);
        Ok(())
    }

    /// `_proofReceived` for the current period.
    fn receive_proof(&mut self, slot: &mut SlotRecord, proof: &[u8]) -> Result<(), Stop> {
        let now = self.now();
        let period = self.config.period_of(now);
        let mut proofs = slot.proofs(period);
        if proofs.received {
            return Err(ContractError::ProofAlreadySubmitted { period }.into());
        }
        if proof.is_empty() {
            return Err(ContractError::InvalidProof.into());
        }
        if proof.len() > MAX_PROOF_BYTES {
            return Err(MarketError::Limit {
                what: "proof bytes",
                max: MAX_PROOF_BYTES as u64,
            }
            .into());
        }
        proofs.received = true;
        slot.record_proofs(proofs, self.config, now);
        self.events.push(Event::ProofSubmitted { slot_id: slot.id() });
        Ok(())
    }

    fn fill_slot(&mut self, host: Address, request_id: &RequestId, slot_index: u64, proof: &[u8]) -> Result<(), Stop> {
        let (mut request, mut slot) = self.slot_of(request_id, slot_index)?;
        if !slot.reservations.contains(&host) {
            return Err(ContractError::ReservationRequired.into());
        }
        // The contract records the slot's request before it asks for the
        // state, so the request's state counts even for a slot never filled.
        let now = self.now();
        let state = filled_slot_state(slot.state, request_state(&request, now));
        if !matches!(state, SlotState::Free | SlotState::Repair) {
            return Err(ContractError::SlotNotFree(state).into());
        }
        slot.host = Some(host);
        slot.filled_at_secs = now;
        slot.proofs_started_at_secs = now;
        self.receive_proof(&mut slot, proof)?;
        request.slots_filled += 1;
        let payout = request.payout(now, request.ends_at_secs)?;
        request.funds_to_return_to_client = sub(request.funds_to_return_to_client, payout, "funds to return")?;
        let full = request.request.ask.collateral_per_slot()?;
        let paid = if state == SlotState::Repair {
            full - percent(full, self.config.collateral.repair_reward_percentage, "repair reward")?
        } else {
            full
        };
        self.lock_collateral(host, &mut slot, paid, full)?;
        slot.listed = true;
        slot.state = SlotState::Filled;
        self.events.push(Event::SlotFilled {
            request_id: *request_id,
            slot_index,
        });
        if request.slots_filled == request.request.ask.slots && request.state == RequestState::New {
            request.state = RequestState::Started;
            request.started_at_secs = now;
            self.events.push(Event::RequestFulfilled {
                request_id: *request_id,
            });
        }
        debug_assert!(request.slots_filled <= request.request.ask.slots);
        self.slots.insert(slot.id(), slot);
        self.requests.insert(*request_id, request);
        Ok(())
    }

    fn free_slot(&mut self, host: Address, id: &SlotId) -> Result<(), Stop> {
        let mut slot = match self.slot(id)? {
            Some(slot) if slot.state != SlotState::Free => slot,
            _ => return Err(ContractError::SlotIsFree(*id).into()),
        };
        if slot.host != Some(host) {
            return Err(ContractError::InvalidSlotHost.into());
        }
        let mut request = self.request_of(&slot)?;
        let now = self.now();
        match slot_state(&slot, &request, now) {
            SlotState::Paid => return Err(ContractError::AlreadyPaid.into()),
            state @ (SlotState::Finished | SlotState::Cancelled) => {
                let end = if state == SlotState::Finished {
                    // `_payoutSlot` marks the request Finished.
                    request.state = RequestState::Finished;
                    request.ends_at_secs
                } else {
                    request.expires_at_secs
                };
                let payout = request.payout(slot.filled_at_secs, end)?;
                self.pay_from_escrow(host, &mut request, payout, true)?;
                self.return_collateral(host, &slot)?;
                slot.state = SlotState::Paid;
                slot.listed = false;
            }
            SlotState::Failed => {
                // Only the host's list changes; the collateral stays.
                slot.listed = false;
                self.slots.insert(*id, slot);
                return Ok(());
            }
            SlotState::Filled => self.forcibly_free(&mut slot, &mut request)?,
            // A Free or Repair slot has no host; the host check refused it.
            SlotState::Free | SlotState::Repair => return Err(broken("a hostless slot passed the host check").into()),
        }
        self.requests.insert(slot.request_id, request);
        self.slots.insert(*id, slot);
        Ok(())
    }

    /// `_forciblyFreeSlot`: the host leaves without its collateral; the
    /// slot needs repair; too many lost slots fail a started request.
    fn forcibly_free(&mut self, slot: &mut SlotRecord, request: &mut RequestRecord) -> Result<(), Stop> {
        let now = self.now();
        let payout = request.payout(slot.filled_at_secs, request.ends_at_secs)?;
        request.funds_to_return_to_client = add(request.funds_to_return_to_client, payout, "funds to return")?;
        slot.listed = false;
        slot.reservations.clear();
        slot.frees += 1;
        slot.state = SlotState::Repair;
        slot.filled_at_secs = 0;
        self.forfeit(slot)?;
        slot.host = None;
        request.slots_filled = request
            .slots_filled
            .checked_sub(1)
            .ok_or_else(|| broken("a slot freed from a request with no filled slots"))?;
        self.events.push(Event::SlotFreed {
            request_id: slot.request_id,
            slot_index: slot.slot_index,
        });
        slot.missed_proofs = 0;
        let slots_lost = request.request.ask.slots - request.slots_filled;
        if slots_lost > request.request.ask.max_slot_loss && request.state == RequestState::Started {
            request.state = RequestState::Failed;
            request.ends_at_secs = now.saturating_sub(1);
            self.events.push(Event::RequestFailed {
                request_id: slot.request_id,
            });
        }
        Ok(())
    }

    fn submit_proof(&mut self, host: Address, id: &SlotId, proof: &[u8]) -> Result<(), Stop> {
        // The contract looks the slot's request up; a slot never filled has none.
        let mut slot = match self.slot(id)? {
            Some(slot) if slot.state != SlotState::Free => slot,
            _ => return Err(ContractError::UnknownRequest(RequestId::default()).into()),
        };
        if slot.host != Some(host) {
            return Err(ContractError::ProofNotSubmittedByHost.into());
        }
        self.receive_proof(&mut slot, proof)?;
        self.slots.insert(*id, slot);
        Ok(())
    }

    fn mark_proof_as_missing(&mut self, validator: Address, id: &SlotId, period: u64) -> Result<(), Stop> {
        let mut slot = self.can_mark_proof_as_missing(id, period)?;
        let mut request = self.request_of(&slot)?;
        let mut proofs = slot.proofs(period);
        proofs.marked_missing = true;
        slot.record_proofs(proofs, self.config, self.now());
        slot.missed_proofs += 1;
        self.slash(validator, &mut slot, &request)?;
        if slot.missed_proofs >= u64::from(self.config.collateral.max_number_of_slashes) {
            self.forcibly_free(&mut slot, &mut request)?;
        }
        self.requests.insert(slot.request_id, request);
        self.slots.insert(*id, slot);
        Ok(())
    }

    fn withdraw_funds(&mut self, client: Address, request_id: &RequestId) -> Result<(), Stop> {
        let mut request = self.known_request(request_id)?;
        if request.request.client != client {
            return Err(ContractError::InvalidClientAddress.into());
        }
        let state = request_state(&request, self.now());
        if !matches!(
            state,
            RequestState::Cancelled | RequestState::Failed | RequestState::Finished
        ) {
            return Err(ContractError::InvalidState { state }.into());
        }
        if request.funds_to_return_to_client.is_zero() {
            return Err(ContractError::NothingToWithdraw.into());
        }
        match state {
            RequestState::Cancelled => {
                request.state = RequestState::Cancelled;
                self.events.push(Event::RequestCancelled {
                    request_id: *request_id,
                });
                // What filled slots would have earned after the expiry.
                let unearned = mul(
                    U256::from(request.slots_filled),
                    request.payout(request.expires_at_secs, request.ends_at_secs)?,
                    "unearned payout",
                )?;
                request.funds_to_return_to_client = add(request.funds_to_return_to_client, unearned, "funds")?;
            }
            RequestState::Failed => request.funds_to_return_to_client = request.max_price()?,
            _ => request.state = RequestState::Finished,
        }
        let amount = std::mem::take(&mut request.funds_to_return_to_client);
        self.pay_from_escrow(client, &mut request, amount, false)?;
        self.requests.insert(*request_id, request);
        Ok(())
    }

    // ----- the audit ---------------------------------------------------------------

    /// Checks that the changed records moved exactly what the totals moved,
    /// and the conservation identities; returns the outcome and writes.
    fn finish(self) -> Result<Applied, Stop> {
        let before = self.base.chain().map_err(Stop::Load)?.totals.clone();
        let after = &self.chain.totals;
        let mut old = [U512::zero(); 3];
        let mut new = [U512::zero(); 3];
        for (account, balance) in &self.accounts {
            old[0] += U512::from(self.base.account(account).map_err(Stop::Load)?.unwrap_or_default());
            new[0] += U512::from(*balance);
        }
        for (id, request) in &self.requests {
            old[1] += U512::from(
                self.base
                    .request(id)
                    .map_err(Stop::Load)?
                    .map_or(U256::zero(), |r| r.escrow),
            );
            new[1] += U512::from(request.escrow);
        }
        for (id, slot) in &self.slots {
            old[2] += U512::from(
                self.base
                    .slot(id)
                    .map_err(Stop::Load)?
                    .map_or(U256::zero(), SlotRecord::locked_collateral),
            );
            new[2] += U512::from(slot.locked_collateral());
        }
        let totals = [
            ("balances", before.balances, after.balances),
            ("escrow", before.escrow, after.escrow),
            ("collateral", before.collateral, after.collateral),
        ];
        for (i, (name, total_before, total_after)) in totals.into_iter().enumerate() {
            // records_after − records_before = total_after − total_before
            if new[i] + U512::from(total_before) != old[i] + U512::from(total_after) {
                debug_assert!(false, "{name}: the records and the totals moved differently");
                return Err(broken(format!("{name}: the records and the totals moved differently")).into());
            }
        }
        if let Err(error) = after.check() {
            debug_assert!(false, "{error}");
            return Err(error.into());
        }
        debug_assert!(self.chain.now_secs >= self.base.chain().map_err(Stop::Load)?.now_secs);
        Ok(Applied {
            outcome: Outcome {
                events: self.events,
                now_secs: self.chain.now_secs,
            },
            writes: Writes {
                chain: self.chain,
                accounts: self.accounts,
                requests: self.requests,
                slots: self.slots,
            },
        })
    }
}

// ----- a whole marketplace in memory ---------------------------------------------------

/// A whole marketplace in memory: the pure core with every record at hand.
///
/// ```
/// use tally_market::marketplace::{ContractState, MarketplaceConfig, Operation};
/// use tally_market::{Address, U256};
///
/// let mut chain = ContractState::new(MarketplaceConfig::default(), 1_000)?;
/// let client = Address([1; 20]);
/// chain.apply(&Operation::Mint { account: client, amount: U256::from(500u32) })?;
/// chain.apply(&Operation::Advance { seconds: 60 })?;
/// assert_eq!(chain.balance(&client), U256::from(500u32));
/// assert_eq!(chain.now_secs(), 1_060);
/// chain.check()?; // every invariant, recomputed from the records
/// # Ok::<(), tally_market::MarketError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractState {
    config: MarketplaceConfig,
    chain: ChainRecord,
    accounts: BTreeMap<Address, U256>,
    requests: BTreeMap<RequestId, RequestRecord>,
    slots: BTreeMap<SlotId, SlotRecord>,
}

impl Records for ContractState {
    fn chain(&self) -> Result<&ChainRecord, RecordKey> {
        Ok(&self.chain)
    }
    fn account(&self, account: &Address) -> Result<Option<U256>, RecordKey> {
        Ok(self.accounts.get(account).copied())
    }
    fn request(&self, id: &RequestId) -> Result<Option<&RequestRecord>, RecordKey> {
        Ok(self.requests.get(id))
    }
    fn slot(&self, id: &SlotId) -> Result<Option<&SlotRecord>, RecordKey> {
        Ok(self.slots.get(id))
    }
}

fn complete<T>(result: Result<T, Stop>) -> Result<T, MarketError> {
    result.map_err(|stop| match stop {
        Stop::Refused(error) => error,
        Stop::Load(key) => broken(format!("a complete state has no {key:?}")),
    })
}

/// One slot as [`ContractState::slots`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotSummary {
    /// The slot's id.
    pub id: SlotId,
    /// The request.
    pub request_id: RequestId,
    /// The slot's index.
    pub slot_index: u64,
    /// Its state now.
    pub state: SlotState,
    /// Its host, as the contract's `getHost` answers.
    pub host: Option<Address>,
}

impl ContractState {
    /// An empty marketplace whose clock reads `start_secs`.
    ///
    /// # Errors
    /// As [`MarketplaceConfig::validate`].
    pub fn new(config: MarketplaceConfig, start_secs: u64) -> Result<Self, MarketError> {
        config.validate()?;
        Ok(ContractState {
            config,
            chain: ChainRecord {
                now_secs: start_secs,
                totals: Totals::default(),
                accounts: 0,
                requests: 0,
            },
            accounts: BTreeMap::new(),
            requests: BTreeMap::new(),
            slots: BTreeMap::new(),
        })
    }

    pub(crate) fn from_records(
        config: MarketplaceConfig,
        chain: ChainRecord,
        accounts: BTreeMap<Address, U256>,
        requests: BTreeMap<RequestId, RequestRecord>,
        slots: BTreeMap<SlotId, SlotRecord>,
    ) -> Self {
        ContractState {
            config,
            chain,
            accounts,
            requests,
            slots,
        }
    }

    /// Applies one operation.
    ///
    /// # Errors
    /// [`MarketError::Contract`] for a refusal (see the
    /// [table](self#the-operations)), [`MarketError::Limit`],
    /// [`MarketError::Overflow`], [`MarketError::Invalid`] for a CID over
    /// [`MAX_CID_BYTES`](crate::types::MAX_CID_BYTES); the state is
    /// unchanged then.
    pub fn apply(&mut self, op: &Operation) -> Result<Outcome, MarketError> {
        let applied = complete(execute(&self.config, self, op))?;
        self.write(applied.writes);
        Ok(applied.outcome)
    }

    pub(crate) fn write(&mut self, writes: Writes) {
        self.chain = writes.chain;
        self.accounts.extend(writes.accounts);
        self.requests.extend(writes.requests);
        self.slots.extend(writes.slots);
    }

    fn tx(&self) -> Result<Tx<'_, Self>, MarketError> {
        complete(Tx::new(&self.config, self))
    }

    /// The configuration.
    pub fn config(&self) -> &MarketplaceConfig {
        &self.config
    }

    /// The chain's time.
    pub fn now_secs(&self) -> u64 {
        self.chain.now_secs
    }

    /// The chain record (clock, token sums, counts).
    pub fn chain(&self) -> &ChainRecord {
        &self.chain
    }

    /// The token sums.
    pub fn totals(&self) -> &Totals {
        &self.chain.totals
    }

    /// An account's balance.
    pub fn balance(&self, account: &Address) -> U256 {
        self.accounts.get(account).copied().unwrap_or_default()
    }

    /// Every account with a record and its balance.
    pub fn balances(&self) -> &BTreeMap<Address, U256> {
        &self.accounts
    }

    /// A request's record.
    pub fn request(&self, id: &RequestId) -> Option<&RequestRecord> {
        self.requests.get(id)
    }

    /// Every request's record, by id.
    pub fn requests(&self) -> &BTreeMap<RequestId, RequestRecord> {
        &self.requests
    }

    /// A slot's record (none until it is first reserved or filled).
    pub fn slot(&self, id: &SlotId) -> Option<&SlotRecord> {
        self.slots.get(id)
    }

    /// A request's state now (`requestState`), if the request is known.
    pub fn request_state(&self, id: &RequestId) -> Option<RequestState> {
        self.requests.get(id).map(|r| request_state(r, self.now_secs()))
    }

    /// A slot's state now (`slotState`).
    ///
    /// # Errors
    /// [`MarketError::Corrupt`] if the slot names an unknown request.
    pub fn slot_state(&self, id: &SlotId) -> Result<SlotState, MarketError> {
        complete(self.tx()?.slot_state(id))
    }

    /// Every slot of every request, by slot id, with its state now.
    ///
    /// # Errors
    /// As [`slot_state`](Self::slot_state).
    pub fn slots(&self) -> Result<Vec<SlotSummary>, MarketError> {
        let now = self.now_secs();
        let mut out = Vec::new();
        for (request_id, request) in &self.requests {
            for slot_index in 0..request.request.ask.slots {
                let id = slot_id(request_id, slot_index);
                let (state, host) = match self.slots.get(&id) {
                    Some(slot) => (slot_state(slot, request, now), slot.host),
                    None => (SlotState::Free, None),
                };
                out.push(SlotSummary {
                    id,
                    request_id: *request_id,
                    slot_index,
                    state,
                    host,
                });
            }
        }
        out.sort_by_key(|slot| slot.id);
        Ok(out)
    }

    /// The slots `host` holds (`mySlots`): filled by it and not yet paid
    /// out or given up.
    pub fn my_slots(&self, host: &Address) -> Vec<SlotRef> {
        self.slots
            .values()
            .filter(|slot| slot.listed && slot.host.as_ref() == Some(host))
            .map(|slot| SlotRef {
                request_id: slot.request_id,
                slot_index: slot.slot_index,
            })
            .collect()
    }

    /// Whether the slot's proof is required in `period` and would be
    /// slashed if missing (`isProofRequired` for that period).
    ///
    /// # Errors
    /// As [`slot_state`](Self::slot_state).
    pub fn is_proof_required(&self, id: &SlotId, period: u64) -> Result<bool, MarketError> {
        Ok(complete(self.tx()?.proof_required(id, period))?.0)
    }

    /// Whether the challenge demands a proof in `period` but the pointer is
    /// in downtime (`willProofBeRequired`).
    ///
    /// # Errors
    /// As [`slot_state`](Self::slot_state).
    pub fn will_proof_be_required(&self, id: &SlotId, period: u64) -> Result<bool, MarketError> {
        Ok(complete(self.tx()?.proof_required(id, period))?.1)
    }

    /// Whether a validator may mark the slot's proof of `period` missing now
    /// (`canMarkProofAsMissing`).
    ///
    /// # Errors
    /// The refusal `markProofAsMissing` would give.
    pub fn can_mark_proof_as_missing(&self, id: &SlotId, period: u64) -> Result<(), MarketError> {
        complete(self.tx()?.can_mark_proof_as_missing(id, period)).map(drop)
    }

    /// Recomputes every sum from the records and checks every invariant:
    /// the [conservation identities](self#tokens-are-conserved); the totals
    /// equal the sums of the records; each request's escrow equals what its
    /// client and hosts can still claim; each slot's record agrees with its
    /// state; the counts and limits.
    ///
    /// # Errors
    /// [`MarketError::Corrupt`] naming the first invariant that fails.
    pub fn check(&self) -> Result<(), MarketError> {
        let totals = &self.chain.totals;
        totals.check()?;
        let wide_sum = |values: &mut dyn Iterator<Item = U256>| values.fold(U512::zero(), |s, v| s + U512::from(v));
        if wide_sum(&mut self.accounts.values().copied()) != U512::from(totals.balances) {
            return Err(broken("Σ balances ≠ total balances"));
        }
        if wide_sum(&mut self.requests.values().map(|r| r.escrow)) != U512::from(totals.escrow) {
            return Err(broken("Σ escrow ≠ total escrow"));
        }
        if wide_sum(&mut self.slots.values().map(SlotRecord::locked_collateral)) != U512::from(totals.collateral) {
            return Err(broken("Σ locked collateral ≠ total collateral"));
        }
        if self.accounts.len() as u64 != self.chain.accounts || self.requests.len() as u64 != self.chain.requests {
            return Err(broken("the account or request count is off"));
        }
        let now = self.now_secs();
        let max_missed = u64::from(self.config.collateral.max_number_of_slashes.max(1));
        let mut by_request: BTreeMap<RequestId, Vec<&SlotRecord>> = BTreeMap::new();
        for (id, slot) in &self.slots {
            let Some(request) = self.requests.get(&slot.request_id) else {
                return Err(broken(format!("slot {id} names an unknown request")));
            };
            if *id != slot.id() || slot.slot_index >= request.request.ask.slots {
                return Err(broken(format!(
                    "slot {id} is not slot {} of its request",
                    slot.slot_index
                )));
            }
            if slot.reservations.len() > usize::from(self.config.max_reservations) {
                return Err(broken(format!("slot {id} has too many reservations")));
            }
            let consistent = match slot.state {
                SlotState::Free => slot.host.is_none() && slot.current_collateral.is_zero() && !slot.listed,
                SlotState::Filled => slot.host.is_some() && slot.missed_proofs < max_missed,
                SlotState::Paid => slot.host.is_some() && !slot.listed,
                SlotState::Repair => {
                    slot.host.is_none() && slot.current_collateral.is_zero() && !slot.listed && slot.missed_proofs == 0
                }
                _ => false,
            };
            if !consistent {
                return Err(broken(format!(
                    "slot {id}'s record contradicts its state {:?}",
                    slot.state
                )));
            }
            by_request.entry(slot.request_id).or_default().push(slot);
        }
        for (id, request) in &self.requests {
            let slots = by_request.get(id).map_or(&[][..], Vec::as_slice);
            let filled = slots
                .iter()
                .filter(|s| matches!(s.state, SlotState::Filled | SlotState::Paid))
                .count() as u64;
            if filled != request.slots_filled {
                return Err(broken(format!(
                    "request {id} counts {} filled slots, its records {filled}",
                    request.slots_filled
                )));
            }
            let claims = escrow_claims(request, slots, now)?;
            if claims != request.escrow {
                return Err(broken(format!(
                    "request {id} holds {} in escrow but {claims} can be claimed",
                    request.escrow
                )));
            }
        }
        Ok(())
    }
}

/// What the client and the hosts of `request` can still claim from its
/// escrow, by the contract's own formulas (see [`ContractState::check`]).
fn escrow_claims(request: &RequestRecord, slots: &[&SlotRecord], now_secs: u64) -> Result<U256, MarketError> {
    let state = request_state(request, now_secs);
    let ppsps = request.price_per_slot_per_second()?;
    let mut claims = U256::zero();
    for slot in slots.iter().filter(|s| s.state == SlotState::Filled) {
        let end = match state {
            RequestState::Failed => continue,
            RequestState::Cancelled => request.expires_at_secs,
            _ => request.ends_at_secs,
        };
        let earned = mul(U256::from(end.saturating_sub(slot.filled_at_secs)), ppsps, "claim")?;
        claims = add(claims, earned, "claims")?;
    }
    let funds = request.funds_to_return_to_client;
    let client = if funds.is_zero() {
        U256::zero()
    } else {
        match state {
            RequestState::Failed => request.max_price()?,
            RequestState::Cancelled if request.state != RequestState::Cancelled => {
                let after_expiry = U256::from(request.ends_at_secs.saturating_sub(request.expires_at_secs));
                add(
                    funds,
                    mul(
                        U256::from(request.slots_filled),
                        mul(after_expiry, ppsps, "claim")?,
                        "claim",
                    )?,
                    "claim",
                )?
            }
            _ => funds,
        }
    };
    add(claims, client, "claims")
}
