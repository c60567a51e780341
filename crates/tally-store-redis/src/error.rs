//! The errors of opening a store: [`ConnectError`], and the
//! [`ConfigError`] it wraps for requests refused before anything is sent.
//!
//! Once a store is open, every call returns a
//! [`StoreError`](tally_store::StoreError) as the [`Store`](tally_store::Store)
//! trait says.

use tally_store::{Operation, StoreError};

use crate::{BACKEND, MAX_PREFIX_BYTES, MAX_TIMEOUT};

/// A request [`RedisStore::connect_with`](crate::RedisStore::connect_with)
/// refuses before it sends anything to a server. Retrying the same request
/// fails the same way: fix the options or the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL is not a `redis://`, `redis+unix://` or `unix://` URL, or
    /// one of its parts (port, database number, ...) is malformed.
    #[error("invalid Redis URL: {reason}")]
    Url {
        /// The driver's explanation.
        reason: String,
    },
    /// The URL asks for TLS (`rediss://`), which this crate does not speak
    /// yet. Reach a TLS-only server through a local TLS tunnel, or use a
    /// plaintext port on a network you control.
    #[error("TLS (rediss://) is not supported by tally-store-redis; use redis:// on a trusted network")]
    TlsNotSupported,
    /// The key prefix is empty, longer than
    /// [`MAX_PREFIX_BYTES`](crate::MAX_PREFIX_BYTES), or has characters other
    /// than ASCII letters, digits, `_`, `-`, `.` and `/`.
    #[error("invalid key prefix {prefix:?}: use 1 to {MAX_PREFIX_BYTES} ASCII letters, digits, '_', '-', '.' or '/'")]
    Prefix {
        /// The prefix that was refused.
        prefix: String,
    },
    /// `pool_size` is 0 or above [`MAX_POOL_SIZE`](crate::MAX_POOL_SIZE).
    #[error("pool size {requested} is out of range: use 1 to {max} connections")]
    PoolSize {
        /// The size that was asked for.
        requested: usize,
        /// The largest size allowed ([`MAX_POOL_SIZE`](crate::MAX_POOL_SIZE)).
        max: usize,
    },
    /// A timeout is zero (where zero would mean "fail at once") or longer
    /// than [`MAX_TIMEOUT`](crate::MAX_TIMEOUT).
    #[error("{option} must be more than zero and at most {max_secs} s", max_secs = MAX_TIMEOUT.as_secs())]
    Timeout {
        /// The option: `"connect_timeout"` or `"io_timeout"` (the
        /// [`RedisOptions`](crate::RedisOptions) field names), or
        /// `"checkout_timeout"` / `"ping_after_idle"` when too long.
        option: &'static str,
    },
}

/// Why [`RedisStore::connect`](crate::RedisStore::connect) or
/// [`RedisStore::connect_with`](crate::RedisStore::connect_with) returned no
/// store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The options or the URL are wrong; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server could not be reached in
    /// [`RedisOptions::connect_timeout`](crate::RedisOptions::connect_timeout),
    /// refused the connection, or refused `SELECT` of the URL's database.
    /// Retrying later may help.
    #[error("could not connect to Redis: {source}")]
    Connect {
        /// The driver's error.
        #[source]
        source: redis::RedisError,
    },
    /// The server refused the URL's user name or password (or wants one and
    /// got none). Retrying will not help: fix the credentials.
    #[error("Redis refused the login: {source}")]
    Auth {
        /// The driver's error.
        #[source]
        source: redis::RedisError,
    },
    /// Connected, but a setup command failed: the server refused to load
    /// the store's Lua scripts, to name the connection, or to record the
    /// store's layout version (an ACL that forbids `EVAL`/`SCRIPT`, a
    /// replica that refuses writes, a server out of memory).
    #[error("Redis refused to set up store {prefix:?} ({step}): {source}")]
    Setup {
        /// The store's key prefix.
        prefix: String,
        /// What was being done.
        step: &'static str,
        /// The driver's error.
        #[source]
        source: redis::RedisError,
    },
    /// The prefix holds a store written by a layout version this build does
    /// not read.
    #[error("store {prefix:?} has layout version {found:?}; this build reads version {supported}")]
    IncompatibleLayout {
        /// The store's key prefix.
        prefix: String,
        /// The version recorded for it.
        found: String,
        /// The version this build reads ([`LAYOUT_VERSION`](crate::LAYOUT_VERSION)).
        supported: u32,
    },
    /// The server is set to evict keys when it runs out of memory
    /// (`maxmemory-policy` is one of the `allkeys-*` policies): it would
    /// silently drop committed values, and a dropped version counter would
    /// let versions repeat. Set `maxmemory-policy noeviction` (the default)
    /// or a `volatile-*` policy (tally's keys have no expiry, so those never
    /// pick them).
    #[error("Redis evicts keys under memory pressure (maxmemory-policy {policy}); tally needs noeviction")]
    EvictionPolicy {
        /// The server's policy.
        policy: String,
    },
}

/// For hosts that report every storage failure as a [`StoreError`]: an
/// incompatible layout is [`StoreError::Corrupt`], anything else
/// [`StoreError::Backend`] with [`Operation::Open`] and this error as its
/// source.
impl From<ConnectError> for StoreError {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::IncompatibleLayout { .. } => StoreError::Corrupt {
                backend: BACKEND,
                detail: error.to_string(),
            },
            other => StoreError::backend(BACKEND, Operation::Open, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_POOL_SIZE;

    #[test]
    fn config_errors_say_what_to_fix() {
        let error = ConfigError::PoolSize {
            requested: 0,
            max: MAX_POOL_SIZE,
        };
        assert_eq!(
            error.to_string(),
            format!("pool size 0 is out of range: use 1 to {MAX_POOL_SIZE} connections")
        );
        let error = ConfigError::Prefix { prefix: "a:b".into() };
        assert!(error.to_string().contains("\"a:b\""), "{error}");
    }

    #[test]
    fn an_incompatible_layout_is_corrupt_as_a_store_error() {
        let error = ConnectError::IncompatibleLayout {
            prefix: "t".into(),
            found: "9".into(),
            supported: 1,
        };
        assert!(matches!(StoreError::from(error), StoreError::Corrupt { .. }));
        let error = ConnectError::Config(ConfigError::TlsNotSupported);
        assert!(matches!(
            StoreError::from(error),
            StoreError::Backend {
                operation: Operation::Open,
                ..
            }
        ));
    }
}
