//! The [`Store`] on Redis: the shared database that Interledger connector
//! processes already run, as ilp-node's did.
//!
//! [`RedisStore`] keeps tally's ordered, versioned key-value contract in a
//! Redis database that any number of threads, processes and machines share.
//! Every [`Store::commit`] is **one Lua script** that checks each of the
//! batch's preconditions and then applies every write, or changes nothing and
//! returns [`Conflict::Precondition`]; Redis runs a script to its end before
//! it serves any other command, so the callers' optimistic retry loop
//! ([`tally_store::transact`]) works across processes exactly as in one.
//!
//! ```no_run
//! use tally_store::{Batch, Store};
//! use tally_store_redis::{RedisOptions, RedisStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::connect_with(
//!     "redis://127.0.0.1:6379/0",
//!     RedisOptions { prefix: "payments".into(), ..RedisOptions::default() },
//! )?;
//! let mut batch = Batch::new();
//! batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
//! store.commit(batch)?; // applied in memory; on disk per the server's persistence
//! assert_eq!(&store.get(b"greeting")?.unwrap().value[..], b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! # Durability: read this before you put money in Redis
//!
//! A commit returns when the script has run in the server's memory. What
//! survives after that is what the **server's** persistence settings keep;
//! this crate cannot change them, and they differ a lot:
//!
//! | server setting | a returned commit survives | is lost by |
//! |---|---|---|
//! | no persistence (`save ""`, `appendonly no`: **our test and CI server**) | nothing | any restart or crash of Redis: every key is gone |
//! | RDB snapshots only (`save 3600 1 …`, redis.conf's default) | the next snapshot | a crash or power cut loses every commit since the last snapshot (minutes) |
//! | AOF, `appendfsync everysec` (the usual AOF setting) | a crash of the Redis process: the script's effects are written to the AOF (into the OS's cache) before the reply, except while a stalled disk makes Redis put that write off (up to 2 s) | a power cut or kernel crash: about the last second of commits (up to two when the disk stalls) |
//! | AOF, `appendfsync always` | a power cut too: the AOF is fsynced before the reply is sent (not during an AOF rewrite if `no-appendfsync-on-rewrite yes`) | only the disk itself |
//!
//! Replication is **asynchronous**: when a replica is promoted (Sentinel, a
//! managed failover), commits the old primary acknowledged but had not yet
//! sent are lost, and so is the version counter's advance, so versions that
//! a reader saw on the old primary can be handed out again for other values.
//! A transaction that read before a failover and commits after it can then
//! pass its precondition check against a different value (the "no ABA" rule
//! of the contract does not hold across a lossy failover). This crate does
//! not call `WAIT`.
//!
//! **Pick PostgreSQL** (`tally-store-postgres`) when a returned commit must
//! be on disk and survive a failover: balances that are money, anything you
//! cannot rebuild from another source. Redis with `appendfsync always` on one
//! server comes close on a single machine, but not across a failover. Redis
//! fits hot state a deployment already keeps there, state it can rebuild, or
//! a host that accepts the loss window of its settings.
//!
//! Eviction would silently drop committed keys: [`RedisStore::connect`]
//! refuses a server whose `maxmemory-policy` is an `allkeys-*` policy
//! ([`ConnectError::EvictionPolicy`]) when `CONFIG GET` is allowed; it cannot
//! see a policy changed later. Out of memory under `noeviction`, a commit
//! fails with [`StoreError::Backend`] and writes nothing.
//!
//! # Layout
//!
//! Every key of a store starts with `{PREFIX}:` ([`RedisOptions::prefix`],
//! default [`DEFAULT_PREFIX`]):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{PREFIX}:k:` + key | hash | `v`: the value, `n`: its version (decimal) |
//! | `{PREFIX}:index` | sorted set | every present key, score 0 |
//! | `{PREFIX}:version` | string | the highest version handed out |
//! | `{PREFIX}:layout` | string | the layout version, [`LAYOUT_VERSION`] |
//!
//! Versions come from the one counter per store, raised inside the commit
//! script, so a key written again after a delete gets a higher version than
//! it ever had without keeping a tombstone (and a commit also raises the
//! counter past every version it reads, should the counter ever be lost).
//! Lua numbers are doubles, so versions stop at 2<sup>53</sup> − 1: nine
//! million billion writes.
//!
//! Scans read the sorted set with `ZRANGEBYLEX`: members of equal score are
//! compared with `memcmp`, the shorter first when one is a prefix of the
//! other, which is exactly the contract's bytewise order for any bytes.
//! Each page is one read-only script (the page is a consistent snapshot).
//!
//! # How a call runs
//!
//! - `get` is one `HMGET`; `get_many` one pipeline of `HMGET`s (one round
//!   trip, not one snapshot).
//! - `scan` is one script run: `ZRANGEBYLEX` for the page, then an `HMGET`
//!   of each key.
//! - `commit` is one `EVALSHA` of the commit script (loaded at connect),
//!   falling back to `EVAL` with the script's text when the server answers
//!   `NOSCRIPT` (it restarted or flushed its script cache; nothing ran). The
//!   script's first phase only reads and checks, so a conflict, or a key of
//!   the wrong type, is found before anything is written; its second phase
//!   only writes. Redis has no rollback, so the order is what makes the
//!   script all-or-nothing.
//!
//! # Connections
//!
//! [`RedisStore`] keeps a small pool ([`RedisOptions::pool_size`]). A
//! connection whose call failed on its socket is closed, never reused; after
//! that, every other pooled connection is pinged once before its next use,
//! and so is any connection idle for longer than
//! [`RedisOptions::ping_after_idle`]. A request that could not be sent in full
//! ran on nothing and is sent again on a fresh connection; a read (`get`,
//! `scan`, a commit of preconditions only) whose reply was lost is also
//! re-run once. A commit that writes and loses its reply is **not** re-run:
//! the script may have run, and the caller gets [`StoreError::Backend`] (a
//! lost acknowledgement; read before retrying, as the trait says). Either
//! way a script ran entirely or not at all.
//!
//! # Where it runs
//!
//! Tested: Redis 7.0 standalone, by this crate's tests and the conformance
//! kit. Written for Redis 6.2 or newer and for Valkey (plain `EVAL`, no
//! functions, no script flags), but not tested there.
//!
//! **Redis Cluster is not supported**, beyond one node. The layout is
//! cluster-ready: every key of a store shares the hash tag `{PREFIX}`, so
//! all of a commit's keys are in one slot, and the commit script names every
//! key it touches (the scan script builds key names from the index, which a
//! cluster allows within the one slot). A one-node cluster, which owns every
//! slot, passes the conformance kit (tested; it refuses scripts whose keys
//! span slots, so the test proves the hash tag). But this crate's client
//! talks to one server and follows no `MOVED` or `ASK` redirection, so with
//! several nodes any store whose slot lives elsewhere fails with
//! [`StoreError::Backend`], and a slot migration breaks a store that worked;
//! that is untested. Connect to a standalone primary.
//!
//! TLS (`rediss://`) is not supported yet ([`ConfigError::TlsNotSupported`]).
//!
//! # Errors
//!
//! Opening a store returns a [`ConnectError`]: a bad option or URL is a
//! [`ConfigError`] (found before anything is sent); an unreachable server, a
//! refused login, a failed setup, an incompatible layout or an evicting
//! server each a variant of its own. Once open, every call returns a
//! [`StoreError`]: a lost connection, a timeout or a server error is
//! [`StoreError::Backend`] with the [`Operation`] that failed and the
//! driver's error as its source; a key of the wrong type or a malformed
//! version in the store's namespace is [`StoreError::Corrupt`]. Nothing
//! panics.

#![forbid(unsafe_code)]

mod error;
mod options;
mod pool;
mod script;

use std::fmt;

use redis::{ErrorKind, ServerErrorKind, Value};
use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, Entry, Operation, Page, Store, StoreError, Versioned};

pub use crate::error::{ConfigError, ConnectError};
pub use crate::options::{DEFAULT_PREFIX, MAX_POOL_SIZE, MAX_PREFIX_BYTES, MAX_TIMEOUT, RedisOptions};
use crate::pool::{CheckoutError, Limits, Opener, Pool};
use crate::script::{COMMIT_LUA, Layout, Plan, SCAN_LUA};

/// The backend name in every [`StoreError`] this crate returns.
pub const BACKEND: &str = "redis";

/// The key layout this crate writes and understands (see the crate docs).
pub const LAYOUT_VERSION: u32 = 1;

/// A [`Store`] in one Redis database under one key prefix, shared by every
/// thread, process and machine that opens the same prefix there.
pub struct RedisStore {
    pool: Pool,
    prefix: String,
    layout: Layout,
    commit_sha: String,
    scan_sha: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A call that reached the server and got an error reply: the command did
/// not run (or, for a script, ran its read phase only), and the connection
/// is still good.
struct ServerRefusal(redis::RedisError);

/// Whether a failed exchange may be sent again on a fresh connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// Only if the request was never sent in full (nothing ran).
    IfUnsent,
    /// Also if the reply was lost: the request only reads.
    IfLost,
}

fn backend(operation: Operation, error: impl Into<tally_store::BoxError>) -> StoreError {
    StoreError::backend(BACKEND, operation, error)
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        backend: BACKEND,
        detail,
    }
}

fn checkout_error(operation: Operation, error: CheckoutError) -> StoreError {
    backend(operation, error)
}

/// A server error reply as a store error: a key of another type in the
/// store's namespace is corruption; anything else (out of memory, a replica
/// that refuses writes, a busy server) a backend failure.
fn refusal_error(operation: Operation, ServerRefusal(error): ServerRefusal) -> StoreError {
    if error.code() == Some("WRONGTYPE") {
        corrupt(format!("a key of the store has the wrong Redis type: {error}"))
    } else {
        backend(operation, error)
    }
}

fn login_refused(error: &redis::RedisError) -> bool {
    error.kind() == ErrorKind::AuthenticationFailed || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
}

fn bytes_of(value: Value, what: &str) -> Result<Option<Vec<u8>>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => Ok(Some(bytes)),
        Value::SimpleString(text) => Ok(Some(text.into_bytes())),
        other => Err(corrupt(format!("{what}: unexpected reply {other:?}"))),
    }
}

fn version_of(text: &[u8], key: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .filter(|&version| version >= 1)
        .ok_or_else(|| {
            corrupt(format!(
                "key {key:02x?} has the version {:?}, not a positive integer",
                String::from_utf8_lossy(text)
            ))
        })
}

/// A value and its version from the `n` and `v` fields of a data hash, or
/// `None` when the key is absent.
fn versioned(key: &[u8], version: Value, value: Value) -> Result<Option<Versioned>, StoreError> {
    match (bytes_of(version, "a version")?, bytes_of(value, "a value")?) {
        (None, None) => Ok(None),
        (Some(version), Some(value)) => Ok(Some(Versioned {
            value: Bytes::from(value),
            version: version_of(&version, key)?,
        })),
        (Some(_), None) => Err(corrupt(format!("key {key:02x?} has a version but no value"))),
        (None, Some(_)) => Err(corrupt(format!("key {key:02x?} has a value but no version"))),
    }
}

impl RedisStore {
    /// Connects to the server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// or `redis+unix:///path/to/socket`) and opens the store under the
    /// prefix [`DEFAULT_PREFIX`].
    ///
    /// # Errors
    ///
    /// [`ConnectError::Config`] for a malformed or `rediss://` URL (nothing
    /// is sent); [`ConnectError::Connect`] if the server cannot be reached;
    /// [`ConnectError::Auth`] if it refuses the login;
    /// [`ConnectError::EvictionPolicy`] if it evicts keys;
    /// [`ConnectError::Setup`] if it refuses to load the scripts or record
    /// the layout; [`ConnectError::IncompatibleLayout`] if the prefix holds
    /// a store of another layout version.
    pub fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, RedisOptions::default())
    }

    /// Connects with explicit [`RedisOptions`] (prefix, pool size, timeouts).
    ///
    /// # Errors
    ///
    /// As [`RedisStore::connect`]; every option that breaks a rule of its
    /// doc is a [`ConnectError::Config`], found before anything is sent.
    pub fn connect_with(url: &str, options: RedisOptions) -> Result<Self, ConnectError> {
        let info = options::setup(url, &options)?;
        let client = redis::Client::open(info).map_err(|error| ConfigError::Url {
            reason: error.to_string(),
        })?;
        let opener = Opener {
            client,
            connect_timeout: options.connect_timeout,
            io_timeout: options.io_timeout,
            client_name: format!("tally:{}", options.prefix),
        };
        let mut first = opener.open().map_err(|source| {
            if login_refused(&source) {
                ConnectError::Auth { source }
            } else {
                ConnectError::Connect { source }
            }
        })?;
        let layout = Layout::new(&options.prefix);
        let setup_error = |step: &'static str| {
            let prefix = options.prefix.clone();
            move |source| ConnectError::Setup { prefix, step, source }
        };

        // An ACL may forbid CONFIG: then the policy cannot be checked here.
        if let Ok(Some(policy)) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query::<Vec<String>>(&mut first)
            .map(|reply| reply.into_iter().nth(1))
            && policy.starts_with("allkeys-")
        {
            return Err(ConnectError::EvictionPolicy { policy });
        }

        let _created: bool = redis::cmd("SETNX")
            .arg(&layout.layout_key)
            .arg(LAYOUT_VERSION)
            .query(&mut first)
            .map_err(setup_error("recording the layout version"))?;
        let found: Option<String> = redis::cmd("GET")
            .arg(&layout.layout_key)
            .query(&mut first)
            .map_err(setup_error("reading the layout version"))?;
        let found = found.unwrap_or_default();
        if found != LAYOUT_VERSION.to_string() {
            return Err(ConnectError::IncompatibleLayout {
                prefix: options.prefix,
                found,
                supported: LAYOUT_VERSION,
            });
        }

        let load = |connection: &mut redis::Connection, body: &str| -> redis::RedisResult<String> {
            redis::cmd("SCRIPT").arg("LOAD").arg(body).query(connection)
        };
        let commit_sha = load(&mut first, COMMIT_LUA).map_err(setup_error("loading the commit script"))?;
        let scan_sha = load(&mut first, SCAN_LUA).map_err(setup_error("loading the scan script"))?;

        let pool = Pool::new(
            opener,
            Limits {
                max_size: options.pool_size,
                checkout_timeout: options.checkout_timeout,
                ping_after_idle: options.ping_after_idle,
            },
        );
        pool.adopt(first);
        Ok(RedisStore {
            pool,
            prefix: options.prefix,
            layout,
            commit_sha,
            scan_sha,
        })
    }

    /// The key prefix this store keeps its keys under.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The name this store gives its connections (`CLIENT SETNAME`), to find
    /// them in `CLIENT LIST`: `tally:` and the prefix.
    pub fn client_name(&self) -> String {
        format!("tally:{}", self.prefix)
    }

    /// Deletes every Redis key of this store's prefix (values, index,
    /// counter, layout) with `SCAN … MATCH` and `UNLINK`, and returns how
    /// many there were: **every key is gone**. Meant for tests and
    /// tear-down; it is not atomic, so stop every other user of the prefix
    /// first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the server refuses or cannot be reached;
    /// some keys may then be left.
    pub fn remove_all(self) -> Result<u64, StoreError> {
        const SCAN_COUNT: usize = 1_000;
        let operation = Operation::Commit;
        // Both commands may run twice (a lost reply is re-sent): SCAN only
        // reads, and UNLINK of a key already gone does nothing.
        let run = |command: &redis::Cmd| -> Result<Value, StoreError> {
            self.exchange(operation, Resend::IfLost, &command.get_packed_command())?
                .map_err(|refusal| refusal_error(operation, refusal))
        };
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&self.layout.match_all)
                .arg("COUNT")
                .arg(SCAN_COUNT);
            let (next, keys): (u64, Vec<Vec<u8>>) =
                redis::from_redis_value(run(&scan)?).map_err(|error| backend(operation, error))?;
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                let unlinked: u64 =
                    redis::from_redis_value(run(&unlink)?).map_err(|error| backend(operation, error))?;
                removed += unlinked;
            }
            // SCAN ends when the server hands back cursor 0.
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// Sends one request and reads its reply, on a pooled connection.
    ///
    /// A request that could not be sent in full ran on nothing, so it is
    /// sent once more on a fresh connection; with [`Resend::IfLost`] (reads)
    /// so is one whose reply was lost. A connection that failed on its
    /// socket is closed. A server error reply is returned as the inner
    /// `Err`; the connection stays in the pool.
    fn exchange(
        &self,
        operation: Operation,
        resend: Resend,
        request: &[u8],
    ) -> Result<Result<Value, ServerRefusal>, StoreError> {
        let mut resent = false;
        loop {
            let mut pooled = self.pool.get().map_err(|error| checkout_error(operation, error))?;
            let connection = pooled.connection();
            if let Err(error) = connection.send_packed_command(request) {
                pooled.discard();
                if resent {
                    return Err(backend(operation, error));
                }
                resent = true;
                continue;
            }
            match connection.recv_response() {
                Ok(Value::ServerError(error)) => return Ok(Err(ServerRefusal(error.into()))),
                Ok(value) => return Ok(Ok(value)),
                Err(error) => {
                    // Timed out or lost: the reply may still come, so nobody
                    // may inherit this connection.
                    pooled.discard();
                    if resend == Resend::IfLost && !resent && error.is_connection_dropped() {
                        resent = true;
                        continue;
                    }
                    return Err(backend(operation, error));
                }
            }
        }
    }

    /// Sends a pipeline of `replies` read-only commands packed in `request`
    /// and reads every reply, on one pooled connection: one round trip.
    /// Resent once on a fresh connection if it could not be sent or a reply
    /// was lost (it only reads). A server error reply to any command is
    /// returned as the inner `Err` of that reply.
    fn exchange_reads(
        &self,
        operation: Operation,
        request: &[u8],
        replies: usize,
    ) -> Result<Vec<Result<Value, ServerRefusal>>, StoreError> {
        let mut resent = false;
        'attempt: loop {
            let mut pooled = self.pool.get().map_err(|error| checkout_error(operation, error))?;
            let connection = pooled.connection();
            if let Err(error) = connection.send_packed_command(request) {
                pooled.discard();
                if resent {
                    return Err(backend(operation, error));
                }
                resent = true;
                continue;
            }
            let mut answers = Vec::with_capacity(replies);
            while answers.len() < replies {
                match connection.recv_response() {
                    Ok(Value::ServerError(error)) => answers.push(Err(ServerRefusal(error.into()))),
                    Ok(value) => answers.push(Ok(value)),
                    Err(error) => {
                        // The rest of the replies may still come: nobody may
                        // inherit this connection.
                        pooled.discard();
                        if !resent && error.is_connection_dropped() {
                            resent = true;
                            continue 'attempt;
                        }
                        return Err(backend(operation, error));
                    }
                }
            }
            return Ok(answers);
        }
    }

    /// Runs a script by its SHA, and by its text if the server has lost it
    /// (`NOSCRIPT`: nothing ran).
    fn run_script(
        &self,
        operation: Operation,
        resend: Resend,
        build: impl Fn(&str, &str) -> redis::Cmd,
        sha: &str,
        body: &str,
    ) -> Result<Value, StoreError> {
        let by_sha = build("EVALSHA", sha).get_packed_command();
        match self.exchange(operation, resend, &by_sha)? {
            Ok(value) => Ok(value),
            Err(ServerRefusal(error)) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                drop(by_sha);
                let by_body = build("EVAL", body).get_packed_command();
                self.exchange(operation, resend, &by_body)?
                    .map_err(|refusal| refusal_error(operation, refusal))
            }
            Err(refusal) => Err(refusal_error(operation, refusal)),
        }
    }

    fn commit_reply(plan: &Plan<'_>, reply: Value) -> Result<(), StoreError> {
        let Value::Array(items) = reply else {
            return Err(corrupt(format!("the commit script answered {reply:?}")));
        };
        let mut items = items.into_iter();
        let tag = items.next().map(|tag| bytes_of(tag, "the commit script's reply"));
        let key_at = |index: Option<Value>| -> Option<&[u8]> {
            match index {
                Some(Value::Int(index)) => usize::try_from(index).ok().and_then(|i| plan.keys.get(i).copied()),
                _ => None,
            }
        };
        match tag.transpose()?.flatten().as_deref() {
            Some(b"ok") => Ok(()),
            Some(b"conflict") => {
                let key = key_at(items.next())
                    .ok_or_else(|| corrupt("the commit script named no key in its conflict".to_owned()))?;
                let mut version = |what| -> Result<u64, StoreError> {
                    let text = items.next().map(|v| bytes_of(v, what)).transpose()?.flatten();
                    match text.as_deref() {
                        Some(b"0") => Ok(0),
                        Some(text) => version_of(text, key),
                        None => Err(corrupt(format!("the commit script's conflict has no {what}"))),
                    }
                };
                let expected_version = version("expected version")?;
                let actual_version = version("actual version")?;
                Err(StoreError::Conflict(Conflict::Precondition {
                    key: key.to_vec(),
                    expected_version,
                    actual_version,
                }))
            }
            Some(b"corrupt") => {
                let key = key_at(items.next());
                let detail = items
                    .next()
                    .map(|v| bytes_of(v, "detail"))
                    .transpose()?
                    .flatten()
                    .unwrap_or_default();
                let detail = String::from_utf8_lossy(&detail);
                Err(corrupt(match key {
                    Some(key) => format!("key {key:02x?}: {detail}; the commit wrote nothing"),
                    None => format!("{detail}; the commit wrote nothing"),
                }))
            }
            other => Err(corrupt(format!("the commit script answered {other:?}"))),
        }
    }
}

impl Store for RedisStore {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        tally_store::validate_key(key)?;
        let operation = Operation::Get;
        let request = redis::cmd("HMGET")
            .arg(self.layout.data_key(key))
            .arg("n")
            .arg("v")
            .get_packed_command();
        let reply = self
            .exchange(operation, Resend::IfLost, &request)?
            .map_err(|refusal| refusal_error(operation, refusal))?;
        let Value::Array(fields) = reply else {
            return Err(corrupt(format!("HMGET answered {reply:?}")));
        };
        let mut fields = fields.into_iter();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(version), Some(value), None) => versioned(key, version, value),
            _ => Err(corrupt("HMGET of two fields did not answer two values".to_owned())),
        }
    }

    /// One pipeline of `HMGET`s: one round trip for every key.
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        tally_store::validate_keys(keys)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let operation = Operation::Get;
        let mut pipeline = redis::pipe();
        for key in keys {
            pipeline.cmd("HMGET").arg(self.layout.data_key(key)).arg("n").arg("v");
        }
        let replies = self.exchange_reads(operation, &pipeline.get_packed_pipeline(), keys.len())?;
        keys.iter()
            .zip(replies)
            .map(|(key, reply)| {
                let reply = reply.map_err(|refusal| refusal_error(operation, refusal))?;
                let Value::Array(fields) = reply else {
                    return Err(corrupt(format!("HMGET answered {reply:?}")));
                };
                let mut fields = fields.into_iter();
                match (fields.next(), fields.next(), fields.next()) {
                    (Some(version), Some(value), None) => versioned(key, version, value),
                    _ => Err(corrupt("HMGET of two fields did not answer two values".to_owned())),
                }
            })
            .collect()
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        tally_store::validate_scan(prefix, after, limit)?;
        let (min, max) = script::scan_bounds(prefix, after);
        // One entry more than asked tells whether another page follows.
        // `limit` is at most MAX_SCAN_LIMIT, so this cannot overflow.
        let fetch = limit + 1;
        let build = |verb: &str, script: &str| {
            let mut command = redis::cmd(verb);
            command
                .arg(script)
                .arg(1)
                .arg(&self.layout.index_key)
                .arg(&min)
                .arg(&max)
                .arg(fetch)
                .arg(&self.layout.data_prefix);
            command
        };
        let reply = self.run_script(Operation::Scan, Resend::IfLost, build, &self.scan_sha, SCAN_LUA)?;
        let items = match reply {
            Value::Array(items) => items,
            Value::Nil => Vec::new(),
            other => return Err(corrupt(format!("the scan script answered {other:?}"))),
        };
        if items.len() % 3 != 0 || items.len() / 3 > fetch {
            return Err(corrupt(format!(
                "the scan script answered {} values for at most {fetch} entries",
                items.len()
            )));
        }
        let found = items.len() / 3;
        let mut entries = Vec::with_capacity(found.min(limit));
        let mut items = items.into_iter();
        while let (Some(key), Some(version), Some(value)) = (items.next(), items.next(), items.next()) {
            if entries.len() == limit {
                break;
            }
            let key = bytes_of(key, "a scanned key")?
                .ok_or_else(|| corrupt("the scan script answered a nil key".to_owned()))?;
            let Some(found) = versioned(&key, version, value)? else {
                return Err(corrupt(format!(
                    "the index lists key {key:02x?}, but it holds no value"
                )));
            };
            entries.push(Entry {
                key,
                value: found.value,
                version: found.version,
            });
        }
        Ok(Page {
            entries,
            more: found > limit,
        })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        let plan = Plan::new(&batch);
        let resend = if plan.has_writes() {
            Resend::IfUnsent
        } else {
            Resend::IfLost
        };
        let build = |verb: &str, script: &str| plan.command(&self.layout, verb, script);
        let reply = self.run_script(Operation::Commit, resend, build, &self.commit_sha, COMMIT_LUA)?;
        Self::commit_reply(&plan, reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_conflict_reply_names_the_key_and_both_versions() {
        let mut batch = Batch::new();
        batch
            .expect_version(b"a", 3)
            .expect_absent(b"b")
            .put(b"b", b"v".to_vec());
        let plan = Plan::new(&batch);
        let reply = Value::Array(vec![text("conflict"), Value::Int(1), text("0"), text("12")]);
        match RedisStore::commit_reply(&plan, reply) {
            Err(StoreError::Conflict(Conflict::Precondition {
                key,
                expected_version: 0,
                actual_version: 12,
            })) => assert_eq!(key, b"b"),
            other => panic!("{other:?}"),
        }
        assert!(RedisStore::commit_reply(&plan, Value::Array(vec![text("ok")])).is_ok());
    }

    #[test]
    fn malformed_replies_are_corruption_not_panics() {
        let mut batch = Batch::new();
        batch.put(b"a", b"v".to_vec());
        let plan = Plan::new(&batch);
        for reply in [
            Value::Nil,
            Value::Array(vec![]),
            Value::Array(vec![text("conflict"), Value::Int(9), text("1"), text("2")]),
            Value::Array(vec![text("conflict"), Value::Int(0), text("x"), text("2")]),
            Value::Array(vec![text("corrupt"), Value::Int(-1), text("the index is a list")]),
            Value::Array(vec![text("what")]),
        ] {
            assert!(
                matches!(
                    RedisStore::commit_reply(&plan, reply.clone()),
                    Err(StoreError::Corrupt { .. })
                ),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn a_value_needs_its_version_and_the_reverse() {
        assert_eq!(versioned(b"k", Value::Nil, Value::Nil).unwrap(), None);
        let found = versioned(b"k", text("7"), text("v")).unwrap().unwrap();
        assert_eq!((found.version, &found.value[..]), (7, &b"v"[..]));
        for (version, value) in [
            (text("7"), Value::Nil),
            (Value::Nil, text("v")),
            (text("0"), text("v")),
            (text("-1"), text("v")),
            (text("x"), text("v")),
        ] {
            assert!(matches!(
                versioned(b"k", version, value),
                Err(StoreError::Corrupt { .. })
            ));
        }
    }
}
