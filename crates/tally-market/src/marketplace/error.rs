//! [`ContractError`]: every reason the marketplace contract refuses an
//! operation, one variant each, named as the contract's custom errors
//! (`Marketplace_SlotNotFree` is [`ContractError::SlotNotFree`], ...).
//!
//! A refused operation changes nothing (the contract reverts). It reaches a
//! caller as [`MarketError::Contract`](crate::MarketError::Contract);
//! [`ContractError::kind`] is its snake_case name for JSON tools.

use primitive_types::U256;

use crate::types::{Address, RequestId, SlotId, SlotState};

/// Why the marketplace refused an operation (the contract's custom errors,
/// plus the test token's and a few this crate adds, each marked so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContractError {
    // ----- configuration (the contract's constructor) ----------------------
    /// `repair_reward_percentage` is above 100.
    #[error("the repair reward percentage {0} is above 100")]
    RepairRewardPercentageTooHigh(u8),
    /// `slash_percentage` is above 100.
    #[error("the slash percentage {0} is above 100")]
    SlashPercentageTooHigh(u8),
    /// `max_number_of_slashes × slash_percentage` is above 100.
    #[error("{max_number_of_slashes} slashes of {slash_percentage}% slash more than the whole collateral")]
    MaximumSlashingTooHigh {
        /// Slashes before the slot is freed.
        max_number_of_slashes: u8,
        /// Percent of the collateral per slash.
        slash_percentage: u8,
    },
    /// Added by this crate: `validator_reward_percentage` above 100 would pay
    /// a validator more than was slashed (the contract does not check it).
    #[error("the validator reward percentage {0} is above 100")]
    ValidatorRewardPercentageTooHigh(u8),
    /// Added by this crate: `repair_reward_percentage +
    /// validator_reward_percentage` above 100 lets repair rewards exceed the
    /// forfeited collateral they are paid from, so they would be paid out of
    /// other requests' funds (the contract does not check it).
    #[error("repair reward {repair}% + validator reward {validator}% exceed 100%")]
    RewardsExceedForfeitedCollateral {
        /// The repair reward percentage.
        repair: u8,
        /// The validator reward percentage.
        validator: u8,
    },
    /// The proof period is zero seconds (`Periods_InvalidSecondsPerPeriod`).
    #[error("a proof period lasts at least one second")]
    InvalidSecondsPerPeriod,

    // ----- requestStorage ----------------------------------------------------
    /// The sender is not the request's client.
    #[error("the sender is not the request's client")]
    InvalidClientAddress,
    /// A request with this id exists.
    #[error("request {0} exists already")]
    RequestAlreadyExists(RequestId),
    /// `expiry` is zero or not below `duration`.
    #[error("expiry {expiry_secs} s must be above 0 and below the duration {duration_secs} s")]
    InvalidExpiry {
        /// The request's expiry.
        expiry_secs: u64,
        /// The ask's duration.
        duration_secs: u64,
    },
    /// The ask has no slots.
    #[error("a request needs at least one slot")]
    InsufficientSlots,
    /// `max_slot_loss` is above `slots`.
    #[error("max slot loss {max_slot_loss} exceeds the {slots} slots")]
    InvalidMaxSlotLoss {
        /// The ask's max slot loss.
        max_slot_loss: u64,
        /// The ask's slots.
        slots: u64,
    },
    /// The duration is zero.
    #[error("the duration is zero")]
    InsufficientDuration,
    /// The proof probability is zero.
    #[error("the proof probability is zero")]
    InsufficientProofProbability,
    /// The collateral per byte is zero.
    #[error("the collateral per byte is zero")]
    InsufficientCollateral,
    /// The price per byte per second is zero.
    #[error("the price per byte per second is zero")]
    InsufficientReward,
    /// The content id is empty.
    #[error("the content id is empty")]
    InvalidCid,
    /// The duration exceeds the configured limit.
    #[error("duration {duration_secs} s exceeds the limit of {limit_secs} s")]
    DurationExceedsLimit {
        /// The ask's duration.
        duration_secs: u64,
        /// `request_duration_limit_secs`.
        limit_secs: u64,
    },

    // ----- slots ---------------------------------------------------------------
    /// No request has this id (`Marketplace_UnknownRequest`); also the
    /// answer for a proof about a slot that was never filled.
    #[error("unknown request {0}")]
    UnknownRequest(RequestId),
    /// The slot index is not below the request's slot count.
    #[error("slot index {slot_index} is out of range ({slots} slots)")]
    InvalidSlot {
        /// The index given.
        slot_index: u64,
        /// The request's slots.
        slots: u64,
    },
    /// `reserveSlot` refused (`SlotReservations_ReservationNotAllowed`): the
    /// slot is neither Free nor Repair, it has `max_reservations`
    /// reservations, or this host reserved it already.
    #[error("the slot cannot be reserved: {reason}")]
    ReservationNotAllowed {
        /// Which of the three conditions failed.
        reason: ReservationRefusal,
    },
    /// The host has not reserved the slot it tries to fill.
    #[error("the slot must be reserved before it is filled")]
    ReservationRequired,
    /// The slot is not Free or Repair (it is filled, or its request is not
    /// open any more).
    #[error("the slot is not free: it is {}", .0.name())]
    SlotNotFree(SlotState),
    /// The slot was never filled (`freeSlot`).
    #[error("slot {0} is free")]
    SlotIsFree(SlotId),
    /// The sender is not the slot's host (`freeSlot`).
    #[error("the sender is not the slot's host")]
    InvalidSlotHost,
    /// The slot has been paid already.
    #[error("the slot has been paid already")]
    AlreadyPaid,
    /// A payout period starts at or after its end (filling a slot at the
    /// very second its request ends, or paying out a cancelled slot filled
    /// at the very second its request expired).
    #[error("the payout would start at {start_secs}, not before its end at {end_secs}")]
    StartNotBeforeExpiry {
        /// When the payout period would start.
        start_secs: u64,
        /// When it would end.
        end_secs: u64,
    },

    // ----- proofs --------------------------------------------------------------
    /// The proof is not valid (here: it is empty).
    #[error("the proof is not valid")]
    InvalidProof,
    /// A proof for this slot was received in this period already.
    #[error("a proof was submitted for this slot in period {period} already")]
    ProofAlreadySubmitted {
        /// The current period.
        period: u64,
    },
    /// The sender is not the slot's host (`submitProof`).
    #[error("only the slot's host submits its proofs")]
    ProofNotSubmittedByHost,
    /// The slot is not Filled, so no proof can be missing.
    #[error("the slot does not accept proofs: it is {}", .0.name())]
    SlotNotAcceptingProofs(SlotState),
    /// The period has not ended yet.
    #[error("period {period} ends at {ends_at_secs}; it has not ended yet")]
    PeriodNotEnded {
        /// The period named.
        period: u64,
        /// When it ends.
        ends_at_secs: u64,
    },
    /// The period ended more than `timeout_secs` ago.
    #[error("period {period} can no longer be validated (after {deadline_secs})")]
    ValidationTimedOut {
        /// The period named.
        period: u64,
        /// The end of the period plus the timeout.
        deadline_secs: u64,
    },
    /// A proof was received for the period.
    #[error("a proof was received for period {period}")]
    ProofNotMissing {
        /// The period named.
        period: u64,
    },
    /// No proof was required in the period.
    #[error("no proof was required in period {period}")]
    ProofNotRequired {
        /// The period named.
        period: u64,
    },
    /// The proof was marked missing already.
    #[error("the proof of period {period} was marked missing already")]
    ProofAlreadyMarkedMissing {
        /// The period named.
        period: u64,
    },

    // ----- funds ---------------------------------------------------------------
    /// `withdrawFunds` on a request that is not Cancelled, Failed or Finished.
    #[error("the request is {state:?}; funds are withdrawn once it is Cancelled, Failed or Finished")]
    InvalidState {
        /// The request's state.
        state: crate::types::RequestState,
    },
    /// The request's funds were withdrawn already.
    #[error("nothing to withdraw")]
    NothingToWithdraw,
    /// The test token's refusal: the account holds less than the transfer.
    #[error("{account} holds {balance}, {required} needed")]
    InsufficientBalance {
        /// Who pays.
        account: Address,
        /// What it holds.
        balance: U256,
        /// What the transfer needs.
        required: U256,
    },

    // ----- the persisted chain ---------------------------------------------------
    /// Added by this crate: a transaction id was used again for another
    /// operation (a repeat must be the same operation; see
    /// [`Marketplace::apply`](crate::marketplace::Marketplace::apply)).
    #[error("transaction id {} was used for another operation", hex::encode(.0))]
    TxIdReused([u8; 32]),
}

/// Which condition of `canReserveSlot` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationRefusal {
    /// The slot is neither Free nor Repair.
    SlotNotFree(SlotState),
    /// The slot has `max_reservations` reservations.
    ReservationsFull,
    /// This host reserved the slot already.
    AlreadyReserved,
}

impl std::fmt::Display for ReservationRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReservationRefusal::SlotNotFree(state) => write!(f, "it is {}", state.name()),
            ReservationRefusal::ReservationsFull => f.write_str("its reservations are full"),
            ReservationRefusal::AlreadyReserved => f.write_str("this host reserved it already"),
        }
    }
}

impl ContractError {
    /// The refusal's snake_case name (the contract's error name without its
    /// prefix): `slot_not_free`, `insufficient_balance`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            ContractError::RepairRewardPercentageTooHigh(_) => "repair_reward_percentage_too_high",
            ContractError::SlashPercentageTooHigh(_) => "slash_percentage_too_high",
            ContractError::MaximumSlashingTooHigh { .. } => "maximum_slashing_too_high",
            ContractError::ValidatorRewardPercentageTooHigh(_) => "validator_reward_percentage_too_high",
            ContractError::RewardsExceedForfeitedCollateral { .. } => "rewards_exceed_forfeited_collateral",
            ContractError::InvalidSecondsPerPeriod => "invalid_seconds_per_period",
            ContractError::InvalidClientAddress => "invalid_client_address",
            ContractError::RequestAlreadyExists(_) => "request_already_exists",
            ContractError::InvalidExpiry { .. } => "invalid_expiry",
            ContractError::InsufficientSlots => "insufficient_slots",
            ContractError::InvalidMaxSlotLoss { .. } => "invalid_max_slot_loss",
            ContractError::InsufficientDuration => "insufficient_duration",
            ContractError::InsufficientProofProbability => "insufficient_proof_probability",
            ContractError::InsufficientCollateral => "insufficient_collateral",
            ContractError::InsufficientReward => "insufficient_reward",
            ContractError::InvalidCid => "invalid_cid",
            ContractError::DurationExceedsLimit { .. } => "duration_exceeds_limit",
            ContractError::UnknownRequest(_) => "unknown_request",
            ContractError::InvalidSlot { .. } => "invalid_slot",
            ContractError::ReservationNotAllowed { .. } => "reservation_not_allowed",
            ContractError::ReservationRequired => "reservation_required",
            ContractError::SlotNotFree(_) => "slot_not_free",
            ContractError::SlotIsFree(_) => "slot_is_free",
            ContractError::InvalidSlotHost => "invalid_slot_host",
            ContractError::AlreadyPaid => "already_paid",
            ContractError::StartNotBeforeExpiry { .. } => "start_not_before_expiry",
            ContractError::InvalidProof => "invalid_proof",
            ContractError::ProofAlreadySubmitted { .. } => "proof_already_submitted",
            ContractError::ProofNotSubmittedByHost => "proof_not_submitted_by_host",
            ContractError::SlotNotAcceptingProofs(_) => "slot_not_accepting_proofs",
            ContractError::PeriodNotEnded { .. } => "period_not_ended",
            ContractError::ValidationTimedOut { .. } => "validation_timed_out",
            ContractError::ProofNotMissing { .. } => "proof_not_missing",
            ContractError::ProofNotRequired { .. } => "proof_not_required",
            ContractError::ProofAlreadyMarkedMissing { .. } => "proof_already_marked_missing",
            ContractError::InvalidState { .. } => "invalid_state",
            ContractError::NothingToWithdraw => "nothing_to_withdraw",
            ContractError::InsufficientBalance { .. } => "insufficient_balance",
            ContractError::TxIdReused(_) => "tx_id_reused",
        }
    }
}
