//! The replicated [`Store`]: tally's keys on an etcd cluster, so the books
//! survive the loss of a machine.
//!
//! etcd is a replicated key-value store (Raft; it is Kubernetes'
//! database), and its v3 API maps almost one to one onto tally's
//! contract: every key has a `mod_revision` that grows on every write,
//! ranges come back in byte order with a limit, and a transaction applies
//! many puts and deletes atomically if and only if every compare holds.
//! [`EtcdStore`] is that mapping.
//!
//! ```no_run
//! use tally_store::{Batch, Store};
//! use tally_store_etcd::{EtcdOptions, EtcdStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = EtcdStore::connect_with(
//!     "10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379",
//!     EtcdOptions { prefix: b"payments/".to_vec(), ..EtcdOptions::default() },
//! )?;
//! let mut batch = Batch::new();
//! batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
//! store.commit(batch)?; // on a quorum's disks
//! assert_eq!(&store.get(b"greeting")?.unwrap().value[..], b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! # How the contract maps onto etcd
//!
//! - **Keys**: the store's prefix ([`EtcdOptions::prefix`], default
//!   `tally/`) followed by the key, so several tallies share one cluster.
//!   The empty key is the prefix itself.
//! - **Versions** are etcd's `mod_revision`: the cluster-wide revision of
//!   the key's last write. etcd's revision counter only grows (each write
//!   transaction takes the next one, and compaction removes history, never
//!   a revision), so every write gives a key a version above any it ever
//!   had, also after a delete, and a present key's version is `>= 2` (etcd
//!   starts at revision 1). An absent key is version `0`: etcd compares an
//!   absent key's `mod_revision` as `0`. The conformance kit checks both.
//! - **[`commit`](Store::commit)** is one etcd transaction: a compare
//!   `mod_revision == expected` per precondition (`0`: absent), then every
//!   write (the last write of each key, as the contract orders; etcd refuses
//!   two writes of one key in a transaction). When a compare fails, the
//!   transaction's failure branch reads the checked keys' revisions, and
//!   the store returns [`Conflict::Precondition`] for the first
//!   precondition, in batch order, that those reads contradict: key,
//!   required and actual version come from the same atomic step. A batch
//!   without writes is a read-only transaction (a linearizable read, no
//!   Raft entry); an empty batch sends nothing.
//! - **[`scan`](Store::scan)** is one range read, from the larger of the
//!   prefix and the key just after the cursor up to the end of the prefix,
//!   with the page size as etcd's limit; etcd's `more` is the page's.
//!
//! # Durability and consistency
//!
//! etcd answers a transaction once a quorum of its members (two of three)
//! has it in its Raft log, written and fsynced, and the member that
//! answered has applied it. So **a returned commit is on a quorum's disks**:
//! losing any one machine of three loses no acknowledged commit, and the
//! remaining two go on serving.
//!
//! **Every read is linearizable**: gets and scans use etcd's default
//! ("linearizable") range, not its `serializable` one. The member asks the
//! leader for the current commit index (Raft's ReadIndex) and waits until it
//! has applied that far, so a read sees every commit acknowledged before it
//! started, whichever member serves it. A serializable read would answer
//! from the member's own state, possibly behind: a `get` after a successful
//! `commit` could miss it, breaking the contract's linearizable `get` and
//! sending [`transact`](tally_store::transact) loops around stale versions.
//! The price is a round trip to the leader per read. Commits are
//! linearizable because etcd applies transactions in log order and checks
//! their compares when it applies them.
//!
//! # Failover
//!
//! The store is given every member (`host:port,host:port,...`) and sends
//! each call to one of them. A call moves on to the next member after a
//! failure that proves nothing was done (the connection was refused, the
//! member has no leader, the cluster is overloaded), and a read after any
//! failure, until [`EtcdOptions::failover_window`] passes. Requests say
//! that they need a leader, so a member cut off from the others refuses at
//! once instead of holding the call. A commit whose answer was lost (the
//! member died, or [`EtcdOptions::request_timeout`] passed) is **not** sent
//! again: it fails with [`StoreError::Backend`], whose source is a
//! [`RequestError`] with [`outcome_unknown`](RequestError::outcome_unknown)
//! true, and the caller reads before retrying, as the contract says. A
//! commit refused before it was proposed has `outcome_unknown` false.
//!
//! The machine-loss test (`tests/machine_loss.rs`) runs transfers from
//! several threads while it SIGKILLs the leader of a three-member
//! cluster, restarts it, then kills a follower, and checks that every
//! acknowledged transfer is there exactly once and money is conserved.
//!
//! # Limits
//!
//! The contract allows batches of up to 100,000 entries and 64 MiB
//! ([`MAX_BATCH_ENTRIES`](tally_store::MAX_BATCH_ENTRIES),
//! [`MAX_BATCH_BYTES`](tally_store::MAX_BATCH_BYTES)); etcd takes at most
//! `--max-txn-ops` operations (default 128) and `--max-request-bytes`
//! (default 1.5 MiB) per transaction. The store is told the cluster's
//! values ([`EtcdOptions::server_limits`], default etcd's defaults) and
//! refuses a batch that needs more, before sending anything, with
//! [`StoreError::Invalid`] and [`InvalidRequest::BackendLimit`](tally_store::InvalidRequest::BackendLimit), which names
//! the flag and both numbers. It counts one operation per distinct key
//! written and one per distinct precondition, and the request's exact size
//! as etcd encodes it. [`EtcdStore::connect_with`] checks that the cluster
//! takes `max_txn_ops` operations (a read-only transaction of that many
//! compares); etcd does not report `--max-request-bytes`, and testing it
//! would mean sending that many bytes, so that value is trusted: if the
//! cluster's is lower, its refusal is [`StoreError::Backend`] with
//! [`RequestError::Refused`], and nothing was written.
//!
//! tally's conformance kit needs 259 writes and 17 MiB in one batch. Run the
//! cluster with `--max-txn-ops=1024 --max-request-bytes=33554432` and
//! declare [`EtcdLimits::RAISED`] for the whole contract up to one
//! [`MAX_VALUE_BYTES`](tally_store::MAX_VALUE_BYTES) value per batch, or
//! keep etcd's defaults where batches stay small. etcd keeps every old
//! value until it compacts its history, and refuses writes once its backend
//! reaches `--quota-backend-bytes` (default 2 GiB): run it with
//! `--auto-compaction-mode` and `--auto-compaction-retention`. Answers are
//! read up to [`EtcdOptions::max_response_bytes`].
//!
//! # Why the JSON gateway
//!
//! The store speaks to etcd's gRPC gateway, the JSON form of the same v3
//! API that every etcd member serves on its client port (`POST
//! /v3/kv/range`, `/v3/kv/txn`, ...; keys and values in base64), over
//! plain blocking HTTP/1.1 ([`ureq`](https://docs.rs/ureq)). The Rust gRPC
//! clients for etcd (`etcd-client`, `etcd-rs`) generate their code from
//! etcd's `.proto` files at build time with `protoc`, which a fresh machine
//! does not have, and `cargo test --workspace --all-features` builds every
//! feature; the gateway needs no code generation, no async runtime (the
//! [`Store`] trait is synchronous, and `ureq` is too), and four small
//! dependencies. The gateway is part of etcd (3.4 and newer serve it under
//! `/v3/`), runs in the member's own process and calls the same gRPC
//! service, so compares, transactions and read modes behave exactly as
//! over gRPC. What it costs: values grow by a third on the wire (base64),
//! and each request is parsed twice on the server. `benches/backends.rs`
//! measures the store against a raw transaction sent the same way.
//!
//! # Not supported
//!
//! TLS (`https://` endpoints are refused: use the store on a network you
//! trust, or a TLS-terminating proxy on the same host), etcd's
//! authentication (users and roles), and leases.
//!
//! # Where it runs
//!
//! Tested: etcd 3.4.23 (Debian 12's `etcd-server`), three members on
//! loopback, by this crate's tests and the conformance kit. Needs etcd
//! 3.4 or newer ([`MIN_SERVER_VERSION`]).
//!
//! # Errors
//!
//! Opening a store returns a [`ConnectError`]: a bad option or endpoint
//! list is a [`ConfigError`] (found before anything is sent); no member
//! answering, members of different clusters, an old etcd, or a cluster that
//! refuses the declared limits each have a variant. Once open, every call
//! returns a [`StoreError`]: a failed request is [`StoreError::Backend`]
//! with the [`Operation`] and a [`RequestError`] as its source; an answer
//! that breaks the contract (a key outside the range asked for, a revision
//! below 1) is [`StoreError::Corrupt`]. Nothing panics.

#![forbid(unsafe_code)]

mod client;
mod error;
mod options;
mod plan;
mod wire;

use std::fmt;

use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, Entry, Operation, Page, Store, StoreError, Versioned, validate_key, validate_scan};

pub use crate::client::RequestError;
use crate::client::{Client, Kind};
pub use crate::error::{ConfigError, ConnectError};
pub use crate::options::{
    DEFAULT_PREFIX, EtcdLimits, EtcdOptions, MAX_ENDPOINTS, MAX_IDLE_CONNECTIONS, MAX_PREFIX_BYTES,
    MAX_RESPONSE_BYTES_LIMIT, MAX_TIMEOUT,
};
use crate::plan::TxnPlan;
use crate::wire::{
    B64, DeleteRangeRequest, DeleteRangeResponse, ModRevisionIs, RangeRequest, RangeResponse, StatusResponse,
    TxnRequest, TxnResponse,
};

/// The backend name in every [`StoreError`] this crate returns.
pub const BACKEND: &str = "etcd";

/// The oldest etcd this crate talks to (major, minor): its JSON gateway
/// serves the v3 API under `/v3/` from 3.4 on.
pub const MIN_SERVER_VERSION: (u32, u32) = (3, 4);

const RANGE: &str = "/v3/kv/range";
const TXN: &str = "/v3/kv/txn";
const DELETE_RANGE: &str = "/v3/kv/deleterange";
const STATUS: &str = "/v3/maintenance/status";

/// A [`Store`] on an etcd cluster: every thread, process and machine that
/// opens the same cluster with the same prefix shares it.
pub struct EtcdStore {
    client: Client,
    prefix: Vec<u8>,
    limits: EtcdLimits,
}

impl fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.client.endpoints())
            .field("prefix", &display_key(&self.prefix))
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The smallest key above every key that starts with `prefix`, or `None`
/// when there is none (the prefix is all `0xff`): etcd's `range_end` for a
/// prefix, where `None` is sent as `[0]` ("to the end").
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&byte| byte != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

/// A key for error messages: ASCII escaped, cut after 64 bytes.
fn display_key(key: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 64;
    let shown = &key[..key.len().min(SHOWN_BYTES_MAX)];
    let cut = if key.len() > SHOWN_BYTES_MAX { "..." } else { "" };
    format!("\"{}\"{cut}", shown.escape_ascii())
}

/// Parses `major.minor[.patch...]`.
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

impl EtcdStore {
    /// Connects to the cluster whose members are `endpoints`
    /// (`host:port,host:port,...`, each optionally `http://host:port`) with
    /// the default options: prefix `tally/`, etcd's default limits.
    ///
    /// # Errors
    /// As [`connect_with`](EtcdStore::connect_with).
    pub fn connect(endpoints: &str) -> Result<Self, ConnectError> {
        Self::connect_with(endpoints, EtcdOptions::default())
    }

    /// Connects with `options`: asks every member for its status (at least
    /// one must answer; all that answer must be of one cluster and run etcd
    /// [`MIN_SERVER_VERSION`] or newer), then checks, with one read-only
    /// transaction through the leader, that the cluster takes
    /// [`EtcdLimits::max_txn_ops`] operations.
    ///
    /// # Errors
    /// [`ConnectError::Config`] for bad options or endpoints (nothing is
    /// sent); [`ConnectError::Unreachable`], [`ConnectError::MixedClusters`],
    /// [`ConnectError::UnsupportedVersion`], [`ConnectError::ServerLimit`]
    /// or [`ConnectError::Unavailable`] as the cluster answers.
    pub fn connect_with(endpoints: &str, options: EtcdOptions) -> Result<Self, ConnectError> {
        options.validate()?;
        let urls = options::parse_endpoints(endpoints)?;
        let client = Client::new(urls, &options);
        let mut answered: Vec<(usize, StatusResponse)> = Vec::new();
        let mut failures: Vec<(String, String)> = Vec::new();
        for (index, endpoint) in client.endpoints().iter().enumerate() {
            match client.call_member::<StatusResponse>(index, STATUS, b"{}", Kind::Read) {
                Ok(status) => answered.push((index, status)),
                Err(error) => failures.push((endpoint.clone(), error.to_string())),
            }
        }
        let Some((first, first_status)) = answered.first() else {
            return Err(ConnectError::Unreachable { failures });
        };
        if answered
            .iter()
            .any(|(_, status)| status.header.cluster_id != first_status.header.cluster_id)
        {
            return Err(ConnectError::MixedClusters {
                clusters: answered
                    .iter()
                    .map(|(index, status)| {
                        (
                            client.endpoints()[*index].clone(),
                            format!("{:x}", status.header.cluster_id),
                        )
                    })
                    .collect(),
            });
        }
        for (index, status) in &answered {
            if parse_version(&status.version).is_none_or(|version| version < MIN_SERVER_VERSION) {
                return Err(ConnectError::UnsupportedVersion {
                    endpoint: client.endpoints()[*index].clone(),
                    version: status.version.clone(),
                });
            }
        }
        // Start with a member that answered, preferably one with a leader.
        let with_leader = answered
            .iter()
            .find(|(_, status)| status.leader != 0)
            .map(|(index, _)| *index);
        client.prefer(with_leader.unwrap_or(*first));
        let store = EtcdStore {
            client,
            prefix: options.prefix,
            limits: options.server_limits,
        };
        store.check_txn_ops()?;
        Ok(store)
    }

    /// A read-only transaction of as many compares as the declared
    /// `max_txn_ops` (or as fit in the declared request size), on the
    /// store's prefix key: the cluster refuses it if its `--max-txn-ops` is
    /// lower. It goes through the leader, like every read.
    fn check_txn_ops(&self) -> Result<(), ConnectError> {
        let compare_bytes = wire::compare_bytes(self.prefix.len(), 0);
        let fit = (self.limits.max_request_bytes - wire::RAFT_OVERHEAD_BYTES) / compare_bytes;
        let count = self.limits.max_txn_ops.min(fit).max(1);
        let txn = TxnRequest {
            compare: (0..count).map(|_| ModRevisionIs::new(&self.prefix, 0)).collect(),
            success: Vec::new(),
            failure: Vec::new(),
        };
        let body = serde_json::to_vec(&txn).unwrap_or_default();
        match self.client.call::<TxnResponse>(TXN, &body, Kind::Read) {
            Ok(_) => Ok(()),
            Err(RequestError::Refused { message, .. }) => {
                let ops = message.contains("too many operations");
                Err(ConnectError::ServerLimit {
                    limit: if ops { "--max-txn-ops" } else { "--max-request-bytes" },
                    declared: if ops {
                        self.limits.max_txn_ops
                    } else {
                        self.limits.max_request_bytes
                    },
                    detail: message,
                })
            }
            Err(error) => Err(ConnectError::Unavailable {
                source: StoreError::backend(BACKEND, Operation::Open, error),
            }),
        }
    }

    /// The prefix in front of every key of this store.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The cluster's limits as declared in [`EtcdOptions::server_limits`].
    pub fn limits(&self) -> EtcdLimits {
        self.limits
    }

    /// The members' base URLs (`http://host:port`), in the order given.
    pub fn endpoints(&self) -> &[String] {
        self.client.endpoints()
    }

    /// Deletes every key of this store (every key under its prefix) in one
    /// atomic step and returns how many there were. Versions are not
    /// reset: keys written again get versions above their old ones.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the request fails; as for a commit, the
    /// delete may then have happened or not.
    pub fn delete_all(&self) -> Result<u64, StoreError> {
        let end = prefix_end(&self.prefix);
        let request = DeleteRangeRequest {
            key: B64(&self.prefix),
            range_end: Some(B64(end.as_deref().unwrap_or(&[0]))),
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let response: DeleteRangeResponse = self
            .client
            .call(DELETE_RANGE, &body, Kind::Write)
            .map_err(|error| StoreError::backend(BACKEND, Operation::Commit, error))?;
        Ok(u64::try_from(response.deleted).unwrap_or(0))
    }

    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.prefix.len() + key.len());
        full.extend_from_slice(&self.prefix);
        full.extend_from_slice(key);
        full
    }

    fn corrupt(detail: String) -> StoreError {
        StoreError::Corrupt {
            backend: BACKEND,
            detail,
        }
    }

    /// A key-value pair read back: its version from `mod_revision`.
    fn version_of(key: &[u8], mod_revision: i64) -> Result<u64, StoreError> {
        u64::try_from(mod_revision)
            .ok()
            .filter(|&version| version >= 1)
            .ok_or_else(|| {
                Self::corrupt(format!(
                    "key {} has mod_revision {mod_revision}; a present key's is at least 1",
                    display_key(key)
                ))
            })
    }
}

impl Store for EtcdStore {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        validate_key(key)?;
        let full = self.full_key(key);
        let request = RangeRequest {
            key: B64(&full),
            range_end: None,
            limit: 0,
            keys_only: false,
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let response: RangeResponse = self
            .client
            .call(RANGE, &body, Kind::Read)
            .map_err(|error| StoreError::backend(BACKEND, Operation::Get, error))?;
        match response.kvs.as_slice() {
            [] => Ok(None),
            [kv] if kv.key == full => Ok(Some(Versioned {
                version: Self::version_of(&full, kv.mod_revision)?,
                value: Bytes::from(kv.value.clone()),
            })),
            other => Err(Self::corrupt(format!(
                "a read of key {} returned {} other keys",
                display_key(&full),
                other.len()
            ))),
        }
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        validate_scan(prefix, after, limit)?;
        let full_prefix = self.full_key(prefix);
        let end = prefix_end(&full_prefix);
        let mut start = full_prefix.clone();
        if let Some(after) = after {
            // The least key above `after` is `after` + [0].
            let mut above = self.full_key(after);
            above.push(0);
            if above > start {
                start = above;
            }
        }
        if end.as_ref().is_some_and(|end| start >= *end) {
            return Ok(Page::default());
        }
        let request = RangeRequest {
            key: B64(&start),
            range_end: Some(B64(end.as_deref().unwrap_or(&[0]))),
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            keys_only: false,
        };
        let body = serde_json::to_vec(&request).unwrap_or_default();
        let response: RangeResponse = self
            .client
            .call(RANGE, &body, Kind::Read)
            .map_err(|error| StoreError::backend(BACKEND, Operation::Scan, error))?;
        if response.kvs.len() > limit {
            return Err(Self::corrupt(format!(
                "a scan with limit {limit} returned {} keys",
                response.kvs.len()
            )));
        }
        let mut entries = Vec::with_capacity(response.kvs.len());
        for kv in response.kvs {
            if !kv.key.starts_with(&full_prefix) || kv.key < start {
                return Err(Self::corrupt(format!(
                    "a scan from {} returned key {}, outside the range asked for",
                    display_key(&start),
                    display_key(&kv.key)
                )));
            }
            let version = Self::version_of(&kv.key, kv.mod_revision)?;
            let mut key = kv.key;
            key.drain(..self.prefix.len());
            entries.push(Entry {
                key,
                value: Bytes::from(kv.value),
                version,
            });
        }
        Ok(Page {
            more: response.more && !entries.is_empty(),
            entries,
        })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        let plan = TxnPlan::new(&self.prefix, batch);
        if plan.is_empty() {
            return Ok(());
        }
        plan.check_limits(&self.limits)?;
        let kind = if plan.is_read_only() { Kind::Read } else { Kind::Write };
        let response: TxnResponse = self
            .client
            .call(TXN, &plan.to_json(), kind)
            .map_err(|error| StoreError::backend(BACKEND, Operation::Commit, error))?;
        if response.succeeded {
            return Ok(());
        }
        match plan.conflict(&self.prefix, &response) {
            Some(conflict) => Err(StoreError::Conflict(conflict)),
            // etcd said a compare failed, but its own reads in the same
            // transaction contradict that (or do not fit the request).
            // Nothing was written either way.
            None => Err(StoreError::Conflict(Conflict::Contention {
                reason: "etcd reported a failed compare that the transaction's reads do not show".to_owned(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bound_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"tally/"), Some(b"tally0".to_vec()));
        assert_eq!(prefix_end(b"a\xff\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn versions_are_major_and_minor() {
        assert_eq!(parse_version("3.4.23"), Some((3, 4)));
        assert_eq!(parse_version("3.10"), Some((3, 10)));
        assert!(parse_version("3.10").unwrap() > MIN_SERVER_VERSION);
        assert!(parse_version("3.3.9").unwrap() < MIN_SERVER_VERSION);
        assert_eq!(parse_version(""), None);
        assert_eq!(parse_version("3"), None);
    }

    #[test]
    fn connecting_with_bad_options_sends_nothing() {
        // Nothing listens on port 9 here; the options fail first anyway.
        let error = EtcdStore::connect_with(
            "127.0.0.1:9",
            EtcdOptions {
                prefix: Vec::new(),
                ..EtcdOptions::default()
            },
        )
        .unwrap_err();
        assert!(matches!(error, ConnectError::Config(ConfigError::Prefix { .. })));
        assert!(matches!(
            EtcdStore::connect("no-port"),
            Err(ConnectError::Config(ConfigError::Endpoint { .. }))
        ));
    }
}
