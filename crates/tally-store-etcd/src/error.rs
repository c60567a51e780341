//! The errors of opening a store: [`ConnectError`], and the
//! [`ConfigError`] it wraps for requests refused before anything is sent.
//!
//! Once a store is open, every call returns a
//! [`StoreError`](tally_store::StoreError) as the [`Store`](tally_store::Store)
//! trait says.

use tally_store::{Operation, StoreError};

use crate::options::{EtcdLimits, MAX_ENDPOINTS, MAX_IDLE_CONNECTIONS, MAX_PREFIX_BYTES, MAX_TIMEOUT};
use crate::{BACKEND, MIN_SERVER_VERSION};

/// A request [`EtcdStore::connect_with`](crate::EtcdStore::connect_with)
/// refuses before it sends anything. Retrying the same request fails the
/// same way: fix the options or the endpoint list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// One entry of the endpoint list is not `host:port` (or
    /// `http://host:port`).
    #[error("invalid etcd endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The entry, as given.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The endpoint list names more than [`MAX_ENDPOINTS`] members.
    #[error("{count} etcd endpoints given; at most {MAX_ENDPOINTS} are accepted")]
    TooManyEndpoints {
        /// How many distinct endpoints were given.
        count: usize,
    },
    /// The key prefix is empty or longer than [`MAX_PREFIX_BYTES`].
    #[error("key prefix of {size_bytes} bytes: use 1 to {MAX_PREFIX_BYTES} bytes")]
    Prefix {
        /// The prefix's length.
        size_bytes: usize,
    },
    /// A timeout is zero (where zero would fail every call at once) or
    /// longer than [`MAX_TIMEOUT`].
    #[error("{option} must be more than zero and at most {max_secs} s", max_secs = MAX_TIMEOUT.as_secs())]
    Timeout {
        /// The option: `"connect_timeout"`, `"request_timeout"` or
        /// `"failover_window"` (the [`EtcdOptions`](crate::EtcdOptions) field
        /// names; the failover window may be zero).
        option: &'static str,
    },
    /// [`EtcdOptions::max_response_bytes`](crate::EtcdOptions::max_response_bytes)
    /// is zero or above [`MAX_RESPONSE_BYTES_LIMIT`](crate::MAX_RESPONSE_BYTES_LIMIT).
    #[error(
        "max_response_bytes {requested} is out of range: use 1 to {} bytes",
        crate::MAX_RESPONSE_BYTES_LIMIT
    )]
    MaxResponseBytes {
        /// What was asked for.
        requested: u64,
    },
    /// [`EtcdOptions::max_idle_connections`](crate::EtcdOptions::max_idle_connections)
    /// is zero or above [`MAX_IDLE_CONNECTIONS`].
    #[error("max_idle_connections {requested} is out of range: use 1 to {MAX_IDLE_CONNECTIONS}")]
    MaxIdleConnections {
        /// What was asked for.
        requested: usize,
    },
    /// The declared [`EtcdLimits`] allow no commit at all (zero operations,
    /// or fewer bytes than a one-key transaction needs).
    #[error(
        "server limits {limits:?} allow no commit: etcd needs --max-txn-ops >= 1 and --max-request-bytes >= {}",
        crate::wire::MIN_REQUEST_BYTES
    )]
    ServerLimits {
        /// The limits that were declared.
        limits: EtcdLimits,
    },
}

/// Why [`EtcdStore::connect`](crate::EtcdStore::connect) or
/// [`EtcdStore::connect_with`](crate::EtcdStore::connect_with) returned no
/// store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The options or the endpoint list are wrong; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No member answered: each refused the connection, timed out, or
    /// answered with an error. Each endpoint's failure is listed.
    #[error("no etcd member answered: {}", list(.failures))]
    Unreachable {
        /// `(endpoint, what went wrong)` for every endpoint.
        failures: Vec<(String, String)>,
    },
    /// The members that answered belong to different clusters: the
    /// endpoint list mixes two clusters, and commits would not be atomic
    /// across them.
    #[error("the endpoints belong to different etcd clusters: {}", list(.clusters))]
    MixedClusters {
        /// `(endpoint, its cluster id)` for every member that answered.
        clusters: Vec<(String, String)>,
    },
    /// A member runs an etcd older than [`MIN_SERVER_VERSION`] (whose
    /// JSON gateway has another path), or reports no version this crate
    /// reads.
    #[error("etcd member {endpoint} runs version {version:?}; this crate needs {}.{} or newer", MIN_SERVER_VERSION.0, MIN_SERVER_VERSION.1)]
    UnsupportedVersion {
        /// The member.
        endpoint: String,
        /// The version it reported.
        version: String,
    },
    /// The cluster refuses transactions as large as the declared
    /// [`EtcdOptions::server_limits`](crate::EtcdOptions::server_limits):
    /// start its members with the flag raised (`limit` names it), or
    /// declare what they have.
    #[error(
        "the etcd cluster refuses a transaction of {declared} operations, the declared {limit}: {detail}; start etcd with {limit}={declared} or higher, or declare its actual value in EtcdOptions::server_limits"
    )]
    ServerLimit {
        /// The flag: `"--max-txn-ops"` (or `"--max-request-bytes"` when the
        /// check itself was too large for the cluster).
        limit: &'static str,
        /// The value that was declared.
        declared: usize,
        /// What the cluster answered.
        detail: String,
    },
    /// The members answered, but the check every connect runs (a read of
    /// the store's prefix, through the cluster's leader) failed: no leader
    /// within the failover window, say.
    #[error("the etcd cluster answered but could not serve a read: {source}")]
    Unavailable {
        /// The error of the read.
        #[source]
        source: StoreError,
    },
}

fn list(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(endpoint, what)| format!("{endpoint}: {what}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// For hosts that report every storage failure as a [`StoreError`]:
/// [`StoreError::Backend`] with [`Operation::Open`] and this error as its
/// source.
impl From<ConnectError> for StoreError {
    fn from(error: ConnectError) -> Self {
        StoreError::backend(BACKEND, Operation::Open, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_say_what_to_fix() {
        let error = ConnectError::ServerLimit {
            limit: "--max-txn-ops",
            declared: 1024,
            detail: "etcdserver: too many operations in txn request".into(),
        };
        let text = error.to_string();
        assert!(text.contains("start etcd with --max-txn-ops=1024"), "{text}");
        let error = ConnectError::Unreachable {
            failures: vec![
                ("http://a:1".into(), "connection refused".into()),
                ("http://b:2".into(), "timed out".into()),
            ],
        };
        assert_eq!(
            error.to_string(),
            "no etcd member answered: http://a:1: connection refused; http://b:2: timed out"
        );
        assert!(matches!(
            StoreError::from(error),
            StoreError::Backend {
                operation: Operation::Open,
                ..
            }
        ));
    }
}
