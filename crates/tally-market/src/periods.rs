//! Proof periods: the period clock, and whether a slot owes a proof in a
//! period, computed exactly as the Codex contract does (`Periods.sol`,
//! `Proofs.sol`), from the chain's randomness given as input.
//!
//! Time is cut into periods of `period_secs`; period `p` runs from
//! `p × period_secs` (inclusive) to `(p + 1) × period_secs`. For a filled
//! slot, in each period after the one it was filled in, the contract picks
//! one of the last 256 blocks with a *pointer*
//!
//! ```text
//! pointer = (block_number % 256 + (period × downtime_product) % 256 + slot_id % 256) % 256
//! ```
//!
//! (stable over the period, since the block number and the pointer advance
//! together), takes the challenge `keccak256(blockhash(block_number − 1 −
//! pointer))` and requires a proof when `challenge mod probability = 0`,
//! where `probability = proof_probability × (256 − downtime) / 256` (`0`
//! means every period). While the pointer is below `downtime` the
//! requirement is not enforced yet (`will_proof_be_required`); from there
//! on it is (`is_proof_required`). A host proves whenever either holds.
//!
//! Everything here is pure and deterministic: the chain's randomness is the
//! [`ChainRandomness`] the host reads and passes in.
//!
//! ```
//! use tally_market::periods::{ChainRandomness, Periodicity, ProofConfig, proof_requirement};
//! use tally_market::{SlotId, U256};
//!
//! let config = ProofConfig { period_secs: 60, timeout_secs: 30, downtime: 64, downtime_product: 67 };
//! let clock = Periodicity::new(config.period_secs)?;
//! assert_eq!(clock.period_of(125), 2);
//! assert_eq!(clock.period_start(2)?, 120);
//!
//! let randomness = ChainRandomness { block_number: 1_000, recent_block_hashes: vec![[7; 32]; 256] };
//! // Probability 0: a proof every period after the one the slot started in.
//! let requirement = proof_requirement(&config, &SlotId([1; 32]), 3, 60, true, U256::zero(), &randomness)?;
//! assert!(requirement.required);
//! # Ok::<(), tally_market::MarketError>(())
//! ```

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::error::MarketError;
use crate::types::{SlotId, keccak256};

/// How many recent block hashes the contract can see.
pub const BLOCK_HASHES: usize = 256;

/// The period clock: `period_secs` per period (`Periods.sol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Periodicity {
    period_secs: u64,
}

impl Periodicity {
    /// A clock of `period_secs` per period.
    ///
    /// # Errors
    /// [`MarketError::Invalid`] for `0` (the contract refuses it too).
    pub fn new(period_secs: u64) -> Result<Periodicity, MarketError> {
        if period_secs == 0 {
            return Err(MarketError::Invalid {
                field: "period_secs",
                reason: "a period lasts at least one second".into(),
            });
        }
        Ok(Periodicity { period_secs })
    }

    /// Seconds per period.
    pub fn period_secs(&self) -> u64 {
        self.period_secs
    }

    /// The period a timestamp falls in.
    pub fn period_of(&self, timestamp_secs: u64) -> u64 {
        timestamp_secs / self.period_secs
    }

    /// When `period` starts.
    ///
    /// # Errors
    /// [`MarketError::Overflow`] past the end of `u64` time.
    pub fn period_start(&self, period: u64) -> Result<u64, MarketError> {
        period
            .checked_mul(self.period_secs)
            .ok_or(MarketError::Overflow { what: "period start" })
    }

    /// When `period` ends (the start of the next).
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn period_end(&self, period: u64) -> Result<u64, MarketError> {
        let next = period.checked_add(1).ok_or(MarketError::Overflow { what: "period" })?;
        self.period_start(next)
    }
}

/// The contract's proof configuration (`ProofConfig` in `Configuration.sol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofConfig {
    /// Seconds per period.
    pub period_secs: u64,
    /// How long after a period a missing proof may be marked.
    pub timeout_secs: u64,
    /// Pointers below this are "downtime": requirements not yet enforced.
    pub downtime: u8,
    /// How far the pointer moves per period (a prime, against cycles).
    pub downtime_product: u8,
}

impl ProofConfig {
    /// The period clock.
    ///
    /// # Errors
    /// As [`Periodicity::new`].
    pub fn periodicity(&self) -> Result<Periodicity, MarketError> {
        Periodicity::new(self.period_secs)
    }
}

/// What the chain offers as randomness at one moment: the current block
/// number and the hashes of the blocks before it, newest first
/// (`recent_block_hashes[i]` is the hash of block `block_number − 1 − i`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainRandomness {
    /// The current block's number.
    pub block_number: u64,
    /// Up to [`BLOCK_HASHES`] hashes, newest first.
    pub recent_block_hashes: Vec<[u8; 32]>,
}

/// The pointer into the last 256 blocks for `slot_id` in `period`.
pub fn pointer(slot_id: &SlotId, period: u64, block_number: u64, downtime_product: u8) -> u8 {
    let block_part = block_number % 256;
    let period_part = (period % 256) * u64::from(downtime_product) % 256;
    let id_part = u64::from(slot_id.as_bytes()[31]);
    // Each part is below 256, so the sum fits easily.
    ((block_part + period_part + id_part) % 256) as u8
}

/// The challenge the pointer designates: keccak-256 of the block hash
/// (`keccak256(abi.encode(hash))`; a `bytes32` encodes as itself).
///
/// # Errors
/// [`MarketError::MissingBlockHash`] when the hash is not in `randomness`.
pub fn challenge(randomness: &ChainRandomness, pointer: u8) -> Result<[u8; 32], MarketError> {
    randomness
        .recent_block_hashes
        .get(usize::from(pointer))
        .map(|hash| keccak256(hash))
        .ok_or(MarketError::MissingBlockHash {
            pointer,
            given: randomness.recent_block_hashes.len(),
        })
}

/// The contract's `slotProbability`: the ask's proof probability scaled by
/// the share of the pointer range outside downtime.
pub fn slot_probability(proof_probability: U256, downtime: u8) -> U256 {
    let scale = U256::from(256 - u16::from(downtime));
    match proof_probability.checked_mul(scale) {
        Some(product) => product / U256::from(256u16),
        // (p × scale) / 256 = (p / 256) × scale + ((p % 256) × scale) / 256.
        None => {
            (proof_probability / U256::from(256u16)) * scale
                + (proof_probability % U256::from(256u16)) * scale / U256::from(256u16)
        }
    }
}

/// Whether a slot owes a proof in a period, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofRequirement {
    /// The challenge demands a proof in this period.
    pub required: bool,
    /// The pointer (0 when the slot is not proving this period).
    pub pointer: u8,
    /// The challenge the proof answers.
    pub challenge: [u8; 32],
}

impl ProofRequirement {
    /// The contract's `isProofRequired`: required and out of downtime.
    pub fn is_proof_required(&self, downtime: u8) -> bool {
        self.required && self.pointer >= downtime
    }

    /// The contract's `willProofBeRequired`: required, still in downtime.
    pub fn will_proof_be_required(&self, downtime: u8) -> bool {
        self.required && self.pointer < downtime
    }
}

/// Whether a slot owes a proof in `period` (the contract's
/// `_getProofRequirement`): only a filled slot, only in periods after the
/// one it started in (`slot_started_at_secs`), and then when the challenge
/// is divisible by the [slot probability](slot_probability).
///
/// # Errors
/// [`MarketError::Invalid`] for a zero period length;
/// [`MarketError::MissingBlockHash`].
pub fn proof_requirement(
    config: &ProofConfig,
    slot_id: &SlotId,
    period: u64,
    slot_started_at_secs: u64,
    slot_filled: bool,
    proof_probability: U256,
    randomness: &ChainRandomness,
) -> Result<ProofRequirement, MarketError> {
    let start_period = config.periodicity()?.period_of(slot_started_at_secs);
    if !slot_filled || period <= start_period {
        return Ok(ProofRequirement {
            required: false,
            pointer: 0,
            challenge: [0; 32],
        });
    }
    let pointer = pointer(slot_id, period, randomness.block_number, config.downtime_product);
    let challenge = challenge(randomness, pointer)?;
    let probability = slot_probability(proof_probability, config.downtime);
    let required = probability.is_zero() || (U256::from_big_endian(&challenge) % probability).is_zero();
    Ok(ProofRequirement {
        required,
        pointer,
        challenge,
    })
}

/// Whether the challenge is stable enough to prove against now: the
/// pointer is not about to wrap past the newest blocks (Codex's initial
/// proof waits for the next period while `pointer > 256 − downtime`).
pub fn challenge_is_stable(pointer: u8, downtime: u8) -> bool {
    u16::from(pointer) <= 256 - u16::from(downtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProofConfig {
        ProofConfig {
            period_secs: 10,
            timeout_secs: 5,
            downtime: 64,
            downtime_product: 67,
        }
    }

    fn randomness() -> ChainRandomness {
        ChainRandomness {
            block_number: 5_000,
            recent_block_hashes: (0..256u32).map(|i| keccak256(&i.to_be_bytes())).collect(),
        }
    }

    #[test]
    fn periods_cut_time_into_equal_half_open_intervals() {
        let clock = Periodicity::new(10).expect("valid");
        assert_eq!((clock.period_of(0), clock.period_of(9), clock.period_of(10)), (0, 0, 1));
        assert_eq!(clock.period_start(3).ok(), Some(30));
        assert_eq!(clock.period_end(3).ok(), Some(40));
        assert!(Periodicity::new(0).is_err());
        assert!(clock.period_end(u64::MAX).is_err());
    }

    #[test]
    fn the_pointer_adds_block_period_and_id_parts_modulo_256() {
        let mut id = [0u8; 32];
        id[31] = 200;
        // 5000 % 256 = 136; 3 × 67 = 201; (136 + 201 + 200) % 256 = 25.
        assert_eq!(pointer(&SlotId(id), 3, 5_000, 67), 25);
        // Only the last byte of the id matters (id mod 256).
        id[0] = 0xff;
        assert_eq!(pointer(&SlotId(id), 3, 5_000, 67), 25);
    }

    #[test]
    fn slot_probability_scales_by_the_share_outside_downtime() {
        assert_eq!(slot_probability(U256::from(256u16), 64), U256::from(192u16));
        assert_eq!(slot_probability(U256::from(4u8), 64), U256::from(3u8));
        assert_eq!(
            slot_probability(U256::from(1u8), 64),
            U256::zero(),
            "rounds down to every period"
        );
        // No overflow for the largest probability.
        let max = slot_probability(U256::MAX, 64);
        assert!(max < U256::MAX && max > U256::MAX / U256::from(2u8));
    }

    #[test]
    fn no_proof_is_required_before_the_slot_starts_proving_or_when_it_is_not_filled() {
        let id = SlotId([1; 32]);
        let start = 25; // period 2
        for period in 0..=2 {
            let requirement =
                proof_requirement(&config(), &id, period, start, true, U256::zero(), &randomness()).expect("computes");
            assert!(!requirement.required, "period {period}");
        }
        let unfilled =
            proof_requirement(&config(), &id, 9, start, false, U256::zero(), &randomness()).expect("computes");
        assert!(!unfilled.required);
        let filled = proof_requirement(&config(), &id, 3, start, true, U256::zero(), &randomness()).expect("computes");
        assert!(filled.required, "probability 0 means every period");
    }

    #[test]
    fn a_proof_is_required_when_the_challenge_is_divisible_by_the_probability() {
        let id = SlotId([9; 32]);
        let randomness = randomness();
        let probability = U256::from(4u8); // scaled to 3
        let mut required = 0;
        for period in 1..=600 {
            let requirement =
                proof_requirement(&config(), &id, period, 0, true, probability, &randomness).expect("computes");
            let expected_pointer = pointer(&id, period, randomness.block_number, 67);
            assert_eq!(requirement.pointer, expected_pointer);
            let challenge = keccak256(&randomness.recent_block_hashes[usize::from(expected_pointer)]);
            assert_eq!(requirement.challenge, challenge);
            let divisible = (U256::from_big_endian(&challenge) % U256::from(3u8)).is_zero();
            assert_eq!(requirement.required, divisible);
            required += usize::from(requirement.required);
            assert_eq!(
                requirement.is_proof_required(64) || requirement.will_proof_be_required(64),
                requirement.required
            );
            assert!(!(requirement.is_proof_required(64) && requirement.will_proof_be_required(64)));
        }
        // About one period in three, deterministically given the hashes.
        assert!((120..=280).contains(&required), "{required} of 600");
    }

    #[test]
    fn a_missing_block_hash_is_an_error() {
        let short = ChainRandomness {
            block_number: 0,
            recent_block_hashes: vec![[0; 32]; 3],
        };
        assert!(matches!(
            challenge(&short, 3),
            Err(MarketError::MissingBlockHash { pointer: 3, given: 3 })
        ));
        assert!(challenge(&short, 2).is_ok());
    }

    #[test]
    fn the_challenge_is_stable_unless_the_pointer_is_about_to_wrap() {
        assert!(challenge_is_stable(192, 64));
        assert!(!challenge_is_stable(193, 64));
        assert!(challenge_is_stable(255, 0) && challenge_is_stable(0, 255));
    }
}
