//! [`EtcdOptions`], [`EtcdLimits`], their bounds, and how an endpoint list
//! becomes the members' base URLs. Everything here is checked before
//! anything is sent; a bad option is a [`ConfigError`].

use std::time::Duration;

use crate::error::ConfigError;

/// The key prefix [`EtcdStore::connect`](crate::EtcdStore::connect) puts in
/// front of every key unless told otherwise.
pub const DEFAULT_PREFIX: &[u8] = b"tally/";

/// The longest key prefix a store accepts. Every key of the store carries
/// it, in every request.
pub const MAX_PREFIX_BYTES: usize = 256;

/// The most endpoints (members) one store is given.
pub const MAX_ENDPOINTS: usize = 64;

/// The longest timeout any [`EtcdOptions`] field accepts (one hour).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The largest [`EtcdOptions::max_response_bytes`] (2 GiB: gRPC, which
/// etcd answers the gateway with, cannot carry more in one message).
pub const MAX_RESPONSE_BYTES_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// The largest [`EtcdOptions::max_idle_connections`].
pub const MAX_IDLE_CONNECTIONS: usize = 1_024;

/// What the etcd cluster accepts in one request: the values of its
/// `--max-txn-ops` and `--max-request-bytes` flags, as the host declares
/// them in [`EtcdOptions::server_limits`].
///
/// etcd does not report these settings, so the store is told. It refuses a
/// batch that needs more with [`StoreError::Invalid`](tally_store::StoreError::Invalid)
/// ([`InvalidRequest::BackendLimit`](tally_store::InvalidRequest::BackendLimit),
/// naming the flag) before anything is sent, and
/// [`EtcdStore::connect_with`](crate::EtcdStore::connect_with) checks that the
/// cluster really takes `max_txn_ops` operations per transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtcdLimits {
    /// etcd's `--max-txn-ops`: the most compares, and the most operations
    /// in each branch, of one transaction. A commit needs one per distinct
    /// key it writes (in the success branch) and one per precondition (a
    /// compare, and a read in the failure branch).
    pub max_txn_ops: usize,
    /// etcd's `--max-request-bytes`: the largest request, as etcd encodes
    /// it (protobuf). A commit's size is that of its keys (each with the
    /// store's prefix), its values, its preconditions' keys twice (the
    /// compare and the read that reports which one failed) and a few bytes
    /// of framing per entry; the store computes it exactly.
    pub max_request_bytes: usize,
}

impl EtcdLimits {
    /// etcd's own defaults: 128 operations and 1.5 MiB per transaction.
    /// What a cluster started without those flags accepts, and the default
    /// of [`EtcdOptions::server_limits`].
    pub const ETCD_DEFAULTS: EtcdLimits = EtcdLimits {
        max_txn_ops: 128,
        max_request_bytes: 1_572_864,
    };

    /// `--max-txn-ops=1024 --max-request-bytes=33554432` (32 MiB): what
    /// this repository's test cluster (`tests/etcd-cluster.sh`) runs with.
    /// Enough for the conformance kit, whose largest batches hold 259 writes
    /// and a 16 MiB value next to a 1 MiB one, and for a value of
    /// [`MAX_VALUE_BYTES`](tally_store::MAX_VALUE_BYTES). etcd advises
    /// against requests above 10 MiB: a large entry delays the leader's
    /// heartbeats while it is replicated.
    pub const RAISED: EtcdLimits = EtcdLimits {
        max_txn_ops: 1_024,
        max_request_bytes: 33_554_432,
    };
}

impl Default for EtcdLimits {
    fn default() -> Self {
        EtcdLimits::ETCD_DEFAULTS
    }
}

/// Options for [`EtcdStore::connect_with`](crate::EtcdStore::connect_with).
///
/// Start from the defaults and change what you need:
/// `EtcdOptions { prefix: b"payments/".to_vec(), ..EtcdOptions::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Put in front of every key, so several tallies share one cluster
    /// (default `tally/`): 1 to [`MAX_PREFIX_BYTES`] bytes. Two stores on
    /// one cluster must not have prefixes of which one starts with the
    /// other, or each sees the other's keys; ending every prefix in `/`
    /// and keeping them at one level (`tally/a/`, `tally/b/`) ensures it.
    pub prefix: Vec<u8>,
    /// What the cluster's `--max-txn-ops` and `--max-request-bytes` are
    /// (default: etcd's defaults, [`EtcdLimits::ETCD_DEFAULTS`]).
    pub server_limits: EtcdLimits,
    /// How long opening a TCP connection to a member may take before the
    /// store tries the next one (default 2 s; more than zero).
    pub connect_timeout: Duration,
    /// How long each phase of one request to one member may take: sending
    /// it, waiting for the answer to start (the member's work: a commit
    /// waits here for the quorum), and reading the answer (default 10 s;
    /// more than zero). A commit that runs out of it has an unknown outcome
    /// (a lost acknowledgement).
    pub request_timeout: Duration,
    /// How long one store call keeps trying other members after failures
    /// that prove nothing was done (a member that refuses connections or has
    /// no leader, an overloaded cluster), and, for reads, after any
    /// failure (default 10 s). Zero tries each member once.
    pub failover_window: Duration,
    /// The largest answer the store reads from a member (default 256 MiB,
    /// at most [`MAX_RESPONSE_BYTES_LIMIT`]). A scan page or value beyond it
    /// fails with [`StoreError::Backend`](tally_store::StoreError::Backend).
    /// Values travel base64-encoded, so an answer is about 4/3 of the bytes
    /// it carries.
    pub max_response_bytes: u64,
    /// Keep-alive connections the store keeps open per member (default 16;
    /// 1 to [`MAX_IDLE_CONNECTIONS`]). Each thread inside a store call uses
    /// one; more threads than this open (and close) extra connections.
    pub max_idle_connections: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            prefix: DEFAULT_PREFIX.to_vec(),
            server_limits: EtcdLimits::ETCD_DEFAULTS,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
            failover_window: Duration::from_secs(10),
            max_response_bytes: 256 * 1024 * 1024,
            max_idle_connections: 16,
        }
    }
}

fn check_timeout(option: &'static str, timeout: Duration, zero_allowed: bool) -> Result<(), ConfigError> {
    if (timeout.is_zero() && !zero_allowed) || timeout > MAX_TIMEOUT {
        return Err(ConfigError::Timeout { option });
    }
    Ok(())
}

impl EtcdOptions {
    /// Every rule of the fields' docs.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.prefix.is_empty() || self.prefix.len() > MAX_PREFIX_BYTES {
            return Err(ConfigError::Prefix {
                size_bytes: self.prefix.len(),
            });
        }
        check_timeout("connect_timeout", self.connect_timeout, false)?;
        check_timeout("request_timeout", self.request_timeout, false)?;
        check_timeout("failover_window", self.failover_window, true)?;
        if self.max_response_bytes == 0 || self.max_response_bytes > MAX_RESPONSE_BYTES_LIMIT {
            return Err(ConfigError::MaxResponseBytes {
                requested: self.max_response_bytes,
            });
        }
        if !(1..=MAX_IDLE_CONNECTIONS).contains(&self.max_idle_connections) {
            return Err(ConfigError::MaxIdleConnections {
                requested: self.max_idle_connections,
            });
        }
        let limits = self.server_limits;
        if limits.max_txn_ops == 0 || limits.max_request_bytes < crate::wire::MIN_REQUEST_BYTES {
            return Err(ConfigError::ServerLimits { limits });
        }
        Ok(())
    }
}

/// Turns `host:port,host:port,...` (each optionally `http://host:port`)
/// into the members' base URLs, in order and without duplicates.
pub(crate) fn parse_endpoints(endpoints: &str) -> Result<Vec<String>, ConfigError> {
    let mut urls: Vec<String> = Vec::new();
    for raw in endpoints.split(',') {
        let endpoint = raw.trim();
        let invalid = |reason: &'static str| ConfigError::Endpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        if endpoint.is_empty() {
            return Err(invalid("empty: give host:port, separated by commas"));
        }
        if endpoint.starts_with("https://") {
            return Err(invalid(
                "TLS is not supported by this crate: use http:// on a network you trust",
            ));
        }
        let host_port = endpoint.strip_prefix("http://").unwrap_or(endpoint);
        let host_port = host_port.strip_suffix('/').unwrap_or(host_port);
        let Some((host, port)) = host_port.rsplit_once(':') else {
            return Err(invalid("no port: give host:port (etcd's client port is usually 2379)"));
        };
        if port.is_empty() || port.parse::<u16>().map_or(true, |port| port == 0) {
            return Err(invalid("the port is not a number from 1 to 65535"));
        }
        let bracketed = host.starts_with('[') && host.ends_with(']') && host.len() > 2;
        let plain = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
        if !(bracketed || plain) {
            return Err(invalid(
                "the host is not a name, an IPv4 address or a bracketed IPv6 address",
            ));
        }
        let url = format!("http://{host}:{port}");
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    if urls.len() > MAX_ENDPOINTS {
        return Err(ConfigError::TooManyEndpoints { count: urls.len() });
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        EtcdOptions::default().validate().unwrap();
    }

    #[test]
    fn endpoints_are_host_port_lists() {
        assert_eq!(
            parse_endpoints("127.0.0.1:2379, localhost:2381,http://[::1]:2383/,127.0.0.1:2379").unwrap(),
            ["http://127.0.0.1:2379", "http://localhost:2381", "http://[::1]:2383"]
        );
        for bad in [
            "",
            "a:1,,b:2",
            "host",
            "host:",
            "host:0",
            "host:70000",
            ":2379",
            "https://h:2379",
            "a b:1",
        ] {
            assert!(
                matches!(parse_endpoints(bad), Err(ConfigError::Endpoint { .. })),
                "{bad:?} must be refused"
            );
        }
        let many: Vec<String> = (0..=MAX_ENDPOINTS).map(|i| format!("h{i}:2379")).collect();
        assert!(matches!(
            parse_endpoints(&many.join(",")),
            Err(ConfigError::TooManyEndpoints { .. })
        ));
    }

    #[test]
    fn options_out_of_bounds_are_refused() {
        let refused = |options: EtcdOptions| options.validate().unwrap_err();
        assert!(matches!(
            refused(EtcdOptions {
                prefix: Vec::new(),
                ..EtcdOptions::default()
            }),
            ConfigError::Prefix { size_bytes: 0 }
        ));
        assert!(matches!(
            refused(EtcdOptions {
                prefix: vec![b'p'; MAX_PREFIX_BYTES + 1],
                ..EtcdOptions::default()
            }),
            ConfigError::Prefix { .. }
        ));
        assert!(matches!(
            refused(EtcdOptions {
                request_timeout: Duration::ZERO,
                ..EtcdOptions::default()
            }),
            ConfigError::Timeout {
                option: "request_timeout"
            }
        ));
        assert!(matches!(
            refused(EtcdOptions {
                server_limits: EtcdLimits {
                    max_txn_ops: 0,
                    ..EtcdLimits::ETCD_DEFAULTS
                },
                ..EtcdOptions::default()
            }),
            ConfigError::ServerLimits { .. }
        ));
        assert!(matches!(
            refused(EtcdOptions {
                max_response_bytes: MAX_RESPONSE_BYTES_LIMIT + 1,
                ..EtcdOptions::default()
            }),
            ConfigError::MaxResponseBytes { .. }
        ));
        EtcdOptions {
            failover_window: Duration::ZERO,
            ..EtcdOptions::default()
        }
        .validate()
        .unwrap();
    }
}
