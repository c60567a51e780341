//! Accounts: who a connector holds balances with, and the limits on each.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ConnectorError;

/// The longest account id, in bytes.
pub const MAX_ACCOUNT_ID_BYTES: usize = 64;

/// The largest parallelism an account may have (the number of hot balance
/// slots it is split into).
pub const MAX_PARALLELISM: u32 = 1024;

/// A peer account's id: 1 to [`MAX_ACCOUNT_ID_BYTES`] bytes of
/// `[A-Za-z0-9._~-]` (the characters an ILP address segment may hold, plus
/// `.`), so it can appear in addresses, keys and logs unescaped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// Checks and wraps `id`.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidAccountId`] when `id` is empty, too long, or
    /// holds another character.
    pub fn new(id: impl Into<String>) -> Result<Self, ConnectorError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("empty")
        } else if id.len() > MAX_ACCOUNT_ID_BYTES {
            Some("longer than 64 bytes")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
        {
            Some("characters outside [A-Za-z0-9._~-]")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(ConnectorError::InvalidAccountId { id, reason }),
            None => Ok(AccountId(id)),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AccountId {
    type Error = ConnectorError;
    fn try_from(id: String) -> Result<Self, Self::Error> {
        AccountId::new(id)
    }
}

impl TryFrom<&str> for AccountId {
    type Error = ConnectorError;
    fn try_from(id: &str) -> Result<Self, Self::Error> {
        AccountId::new(id)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

/// One worker of a connector (a thread or a process). Workers share the
/// store; each owns the payments it forwards ([`hotset`](crate::hotset)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkerId(pub u16);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {}", self.0)
    }
}

/// An account's configuration: its parallelism and limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountConfig {
    /// How many workers may spend from this account's balance at once
    /// without coordinating: the number of hot balance slots, and the factor
    /// in the parallelism rule (see [`balance`](crate::balance)). 1 to
    /// [`MAX_PARALLELISM`].
    pub parallelism: u32,
    /// The lowest total balance the account may reach. `0` means we never
    /// send more than we hold; a negative value is credit the peer extends
    /// to us.
    pub min_balance: i128,
    /// The largest single outgoing packet amount (RFC 27 `F08` above it).
    pub max_packet_amount: u64,
}

impl Default for AccountConfig {
    /// Parallelism 1, no credit, no packet limit.
    fn default() -> Self {
        AccountConfig {
            parallelism: 1,
            min_balance: 0,
            max_packet_amount: u64::MAX,
        }
    }
}

impl AccountConfig {
    /// Checks the configuration's rules.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] for a parallelism of 0 or above
    /// [`MAX_PARALLELISM`], or a `min_balance` outside `±2^100` (so the
    /// rule's arithmetic cannot overflow).
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.parallelism == 0 || self.parallelism > MAX_PARALLELISM {
            return Err(ConnectorError::InvalidConfig {
                reason: "parallelism must be 1..=1024",
            });
        }
        if self.min_balance.unsigned_abs() > 1u128 << 100 {
            return Err(ConnectorError::InvalidConfig {
                reason: "min_balance must be within ±2^100",
            });
        }
        Ok(())
    }

    /// The hot balance slot worker `worker` spends from: `worker mod
    /// parallelism`. With as many workers as the parallelism, each worker has
    /// a slot of its own.
    pub fn slot_of(&self, worker: WorkerId) -> u32 {
        debug_assert!(self.parallelism >= 1);
        u32::from(worker.0) % self.parallelism.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_allow_only_address_characters() {
        assert!(AccountId::new("alice.usd-1_~").is_ok());
        assert!(AccountId::new("").is_err());
        assert!(AccountId::new("a b").is_err());
        assert!(AccountId::new("a".repeat(65)).is_err());
        assert!(AccountId::new("a".repeat(64)).is_ok());
    }

    #[test]
    fn parallelism_must_be_between_one_and_the_limit() {
        let mut config = AccountConfig::default();
        assert!(config.validate().is_ok());
        config.parallelism = 0;
        assert!(config.validate().is_err());
        config.parallelism = MAX_PARALLELISM + 1;
        assert!(config.validate().is_err());
    }

    #[test]
    fn workers_map_onto_slots_round_robin() {
        let config = AccountConfig {
            parallelism: 3,
            ..AccountConfig::default()
        };
        let slots: Vec<u32> = (0..6).map(|w| config.slot_of(WorkerId(w))).collect();
        assert_eq!(slots, [0, 1, 2, 0, 1, 2]);
    }
}
