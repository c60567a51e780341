//! Balances: the formula, the parallelism rule, cold and hot balances.
//!
//! # The formula
//!
//! For each account (a peer we exchange value with), from **our** side:
//!
//! ```text
//! balance = incoming fulfilled + incoming unconditional
//!         − outgoing fulfilled − outgoing unconditional − outgoing prepared
//! ```
//!
//! "Incoming" is value the peer sent us (a Prepare from them that we
//! fulfilled, or an unconditional transfer such as a settlement); "outgoing"
//! is value we send them. An outgoing Prepare counts against the balance as
//! soon as it is sent (it is *prepared*), and becomes *fulfilled* or is
//! released when the Fulfill or Reject comes back. Incoming Prepares count
//! only once fulfilled: until then the value is not ours.
//!
//! The five totals are kept as separate counters ([`BalanceParts`]) and only
//! ever changed by [`BalanceChange`]s, each applied as an increment in the
//! same Store commit as the record that caused it (never read-modify-write
//! across commits), so the formula can be re-checked at any time.
//!
//! # Cold and hot balances
//!
//! An account's value is split into one **cold** record, shared by every
//! worker, and `parallelism` **hot** records ("slots"); worker `w` spends
//! from slot `w mod parallelism`. Everything a worker does on the payment
//! path (outgoing prepare, fulfill, reject, incoming fulfill) is an increment
//! of *its own* slot. Moving value between the cold record and a slot is one
//! atomic commit touching both ([`BalanceChange::MovedIn`] /
//! [`BalanceChange::MovedOut`]), so the total is unchanged by a move.
//!
//! ```text
//! total = cold + Σ hot[slot]     (each = its formula + moved in − moved out)
//! ```
//!
//! # The parallelism rule
//!
//! Worker `w` sends an outgoing Prepare of `amount` on an account with
//! parallelism `p` only if
//!
//! ```text
//! (cold − min_balance) + p × hot[w mod p] ≥ p × amount
//! ```
//!
//! With nothing moved hot this is the seed's rule, `balance ≥ amount ×
//! parallelism` (less any `min_balance` credit). It gives every slot a
//! **share** of `(cold − min_balance)/p + hot[slot]` and lets a worker spend
//! only its own share.
//!
//! **What it protects against:** the workers of an account spend from the
//! shared cold balance *without writing it* (they only write their own slot,
//! so they never conflict with each other and need no lock on the shared
//! record). Without the rule, `p` workers that each see the same cold
//! balance could each spend all of it: a `p`-fold overdraft. With it, each
//! can spend at most `1/p` of it, so even if every worker spends its whole
//! share at the same moment, the shares add up to what is there and the
//! total never drops below `min_balance`:
//!
//! ```text
//! Σ_slots share = (cold − min_balance) + Σ hot = total − min_balance ≥ 0
//! ```
//!
//! The rule only holds if nothing else lowers a share below zero behind the
//! workers' backs: moves and unconditional payments out of the cold record
//! lower *every* slot's share, so they are checked against every slot
//! ([`check_coordinated`]) in a commit that reads every slot.

use serde::{Deserialize, Serialize};

use crate::account::AccountConfig;

/// The counters behind one balance record (cold, or one hot slot). All are
/// running totals in ledger base units; only [`BalanceParts::apply`] changes
/// them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceParts {
    /// Prepares from the peer that we fulfilled.
    pub incoming_fulfilled: u128,
    /// Unconditional value from the peer (settlements, deposits).
    pub incoming_unconditional: u128,
    /// Prepares to the peer that the peer fulfilled.
    pub outgoing_fulfilled: u128,
    /// Unconditional value to the peer.
    pub outgoing_unconditional: u128,
    /// Prepares to the peer not yet fulfilled, rejected or timed out.
    pub outgoing_prepared: u128,
    /// Value moved into this record from another record of the same account.
    pub moved_in: u128,
    /// Value moved out of this record to another record of the same account.
    pub moved_out: u128,
}

/// One change to a balance record. Each is what one event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BalanceChange {
    /// We sent the peer a Prepare: `outgoing_prepared += amount`.
    OutgoingPrepared(u64),
    /// The peer fulfilled our Prepare: `outgoing_prepared −= amount`,
    /// `outgoing_fulfilled += amount` (the balance is unchanged).
    OutgoingFulfilled(u64),
    /// Our Prepare was rejected or timed out: `outgoing_prepared −= amount`.
    OutgoingReleased(u64),
    /// We fulfilled the peer's Prepare: `incoming_fulfilled += amount`.
    IncomingFulfilled(u64),
    /// The peer paid us unconditionally: `incoming_unconditional += amount`.
    IncomingUnconditional(u64),
    /// We paid the peer unconditionally: `outgoing_unconditional += amount`.
    OutgoingUnconditional(u64),
    /// Value moved in from another record of the account: `moved_in += amount`.
    MovedIn(u64),
    /// Value moved out to another record of the account: `moved_out += amount`.
    MovedOut(u64),
}

/// Why a [`BalanceChange`] cannot apply. Nothing is changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BalanceError {
    /// A counter would pass `u128::MAX`.
    #[error("balance counter overflow")]
    Overflow,
    /// Settling or releasing more than is prepared.
    #[error("{amount} settled but only {prepared} prepared")]
    NotPrepared {
        /// The amount being settled.
        amount: u64,
        /// What is prepared.
        prepared: u128,
    },
}

impl BalanceParts {
    /// The formula: `incoming fulfilled + incoming unconditional − outgoing
    /// fulfilled − outgoing unconditional − outgoing prepared`, plus what was
    /// moved in, minus what was moved out.
    ///
    /// Returns `None` only if the result leaves `i128` (counters beyond
    /// 2^127, which [`BalanceParts::apply`] can reach only after ~10^19
    /// maximal packets).
    pub fn balance(&self) -> Option<i128> {
        let plus = self
            .incoming_fulfilled
            .checked_add(self.incoming_unconditional)?
            .checked_add(self.moved_in)?;
        let minus = self
            .outgoing_fulfilled
            .checked_add(self.outgoing_unconditional)?
            .checked_add(self.outgoing_prepared)?
            .checked_add(self.moved_out)?;
        let plus = i128::try_from(plus).ok()?;
        let minus = i128::try_from(minus).ok()?;
        plus.checked_sub(minus)
    }

    /// The record after `change`, or why it cannot apply.
    pub fn apply(&self, change: BalanceChange) -> Result<BalanceParts, BalanceError> {
        let add = |counter: u128, amount: u64| counter.checked_add(u128::from(amount)).ok_or(BalanceError::Overflow);
        let release = |prepared: u128, amount: u64| {
            prepared
                .checked_sub(u128::from(amount))
                .ok_or(BalanceError::NotPrepared { amount, prepared })
        };
        let mut next = *self;
        match change {
            BalanceChange::OutgoingPrepared(amount) => next.outgoing_prepared = add(next.outgoing_prepared, amount)?,
            BalanceChange::OutgoingFulfilled(amount) => {
                next.outgoing_prepared = release(next.outgoing_prepared, amount)?;
                next.outgoing_fulfilled = add(next.outgoing_fulfilled, amount)?;
            }
            BalanceChange::OutgoingReleased(amount) => {
                next.outgoing_prepared = release(next.outgoing_prepared, amount)?
            }
            BalanceChange::IncomingFulfilled(amount) => next.incoming_fulfilled = add(next.incoming_fulfilled, amount)?,
            BalanceChange::IncomingUnconditional(amount) => {
                next.incoming_unconditional = add(next.incoming_unconditional, amount)?
            }
            BalanceChange::OutgoingUnconditional(amount) => {
                next.outgoing_unconditional = add(next.outgoing_unconditional, amount)?
            }
            BalanceChange::MovedIn(amount) => next.moved_in = add(next.moved_in, amount)?,
            BalanceChange::MovedOut(amount) => next.moved_out = add(next.moved_out, amount)?,
        }
        debug_assert!(next.outgoing_prepared <= self.outgoing_prepared.saturating_add(u128::from(u64::MAX)));
        Ok(next)
    }

    /// The sum of two records, counter by counter (for account totals).
    pub fn plus(&self, other: &BalanceParts) -> Option<BalanceParts> {
        Some(BalanceParts {
            incoming_fulfilled: self.incoming_fulfilled.checked_add(other.incoming_fulfilled)?,
            incoming_unconditional: self.incoming_unconditional.checked_add(other.incoming_unconditional)?,
            outgoing_fulfilled: self.outgoing_fulfilled.checked_add(other.outgoing_fulfilled)?,
            outgoing_unconditional: self.outgoing_unconditional.checked_add(other.outgoing_unconditional)?,
            outgoing_prepared: self.outgoing_prepared.checked_add(other.outgoing_prepared)?,
            moved_in: self.moved_in.checked_add(other.moved_in)?,
            moved_out: self.moved_out.checked_add(other.moved_out)?,
        })
    }
}

/// Why the parallelism rule refuses an outgoing amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The amount is above the account's `max_packet_amount` (RFC 27 `F08`).
    AmountTooLarge {
        /// The account's limit.
        max_packet_amount: u64,
    },
    /// The slot's share does not cover the amount (RFC 27 `T04`).
    InsufficientShare {
        /// `(cold − min_balance) + p × hot`: what the slot may spend, times `p`.
        available_times_parallelism: i128,
        /// `p × amount`.
        needed_times_parallelism: i128,
    },
}

/// A slot's share of the account, times the parallelism:
/// `(cold − min_balance) + p × hot`. `None` on overflow.
pub fn share_times_parallelism(config: &AccountConfig, cold: i128, hot: i128) -> Option<i128> {
    let p = i128::from(config.parallelism);
    cold.checked_sub(config.min_balance)?.checked_add(p.checked_mul(hot)?)
}

/// The parallelism rule for an outgoing Prepare (or unconditional payment)
/// of `amount` by a worker whose slot holds `hot`, the cold record holding
/// `cold`: `(cold − min_balance) + p × hot ≥ p × amount`, and `amount ≤
/// max_packet_amount`. See the [module docs](self).
pub fn check_outgoing(config: &AccountConfig, cold: i128, hot: i128, amount: u64) -> Result<(), Refusal> {
    debug_assert!(config.parallelism >= 1);
    if amount > config.max_packet_amount {
        return Err(Refusal::AmountTooLarge {
            max_packet_amount: config.max_packet_amount,
        });
    }
    let p = i128::from(config.parallelism);
    // p ≤ 1024 and amount < 2^64, so this cannot overflow i128.
    let needed = p * i128::from(amount);
    let available = share_times_parallelism(config, cold, hot).unwrap_or(i128::MIN);
    if available >= needed {
        debug_assert!(available - needed >= 0, "the slot's share stays non-negative");
        Ok(())
    } else {
        Err(Refusal::InsufficientShare {
            available_times_parallelism: available,
            needed_times_parallelism: needed,
        })
    }
}

/// The check for an operation that changes the cold record by `cold_delta`
/// and slot `slot`'s record by `hot_delta` (a move between them, or an
/// unconditional payment out of the cold record): it is allowed only if
/// every slot whose share it **lowers** keeps a share `≥ 0`.
///
/// `hots[s]` is slot `s`'s current balance (`hots.len()` = parallelism).
/// Returns the smallest resulting share (times `p`) among lowered slots when
/// it is negative, which is how far the operation would break the rule.
pub fn check_coordinated(
    config: &AccountConfig,
    cold: i128,
    hots: &[i128],
    slot: Option<usize>,
    cold_delta: i128,
    hot_delta: i128,
) -> Result<(), i128> {
    debug_assert_eq!(hots.len(), config.parallelism as usize);
    let cold_after = cold.checked_add(cold_delta).ok_or(i128::MIN)?;
    for (index, &hot) in hots.iter().enumerate() {
        let delta = if Some(index) == slot { hot_delta } else { 0 };
        let before = share_times_parallelism(config, cold, hot).ok_or(i128::MIN)?;
        let hot_after = hot.checked_add(delta).ok_or(i128::MIN)?;
        let after = share_times_parallelism(config, cold_after, hot_after).ok_or(i128::MIN)?;
        if after < before && after < 0 {
            return Err(after);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(parallelism: u32) -> AccountConfig {
        AccountConfig {
            parallelism,
            ..AccountConfig::default()
        }
    }

    #[test]
    fn a_prepare_counts_against_the_balance_until_released() {
        let parts = BalanceParts::default()
            .apply(BalanceChange::IncomingUnconditional(100))
            .unwrap()
            .apply(BalanceChange::OutgoingPrepared(30))
            .unwrap();
        assert_eq!(parts.balance(), Some(70));
        let fulfilled = parts.apply(BalanceChange::OutgoingFulfilled(30)).unwrap();
        assert_eq!(fulfilled.balance(), Some(70));
        assert_eq!(fulfilled.outgoing_prepared, 0);
        let released = parts.apply(BalanceChange::OutgoingReleased(30)).unwrap();
        assert_eq!(released.balance(), Some(100));
    }

    #[test]
    fn settling_more_than_prepared_is_refused() {
        let parts = BalanceParts::default()
            .apply(BalanceChange::OutgoingPrepared(5))
            .unwrap();
        assert_eq!(
            parts.apply(BalanceChange::OutgoingReleased(6)),
            Err(BalanceError::NotPrepared { amount: 6, prepared: 5 })
        );
    }

    #[test]
    fn parallelism_one_is_the_plain_balance_check() {
        assert!(check_outgoing(&config(1), 10, 0, 10).is_ok());
        assert!(check_outgoing(&config(1), 10, 0, 11).is_err());
    }

    #[test]
    fn parallelism_multiplies_the_amount_needed_from_the_cold_balance() {
        assert!(check_outgoing(&config(4), 40, 0, 10).is_ok());
        assert!(check_outgoing(&config(4), 39, 0, 10).is_err());
        // A slot's own hot balance counts in full.
        assert!(check_outgoing(&config(4), 0, 10, 10).is_ok());
    }

    #[test]
    fn min_balance_grants_credit() {
        let credit = AccountConfig {
            min_balance: -50,
            ..config(1)
        };
        assert!(check_outgoing(&credit, 0, 0, 50).is_ok());
        assert!(check_outgoing(&credit, 0, 0, 51).is_err());
    }

    #[test]
    fn amounts_above_the_packet_limit_are_refused() {
        let limited = AccountConfig {
            max_packet_amount: 5,
            ..config(1)
        };
        assert_eq!(
            check_outgoing(&limited, 100, 0, 6),
            Err(Refusal::AmountTooLarge { max_packet_amount: 5 })
        );
    }

    #[test]
    fn a_move_out_of_cold_may_not_push_another_slot_below_zero() {
        // p = 2, cold 100, slot 1 has spent its whole share (hot = -50).
        let cfg = config(2);
        assert_eq!(check_coordinated(&cfg, 100, &[0, -50], Some(0), -10, 10), Err(-10));
        // Moving value back to cold only raises the other shares.
        assert!(check_coordinated(&cfg, 100, &[20, -50], Some(0), 10, -10).is_ok());
    }
}
