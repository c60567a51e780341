//! The shared-server [`Store`]: one PostgreSQL table that any number of
//! threads, processes and machines share.
//!
//! [`PgStore`] keeps tally's ordered, versioned key-value contract in one
//! table. Every [`Store::commit`] is one SQL transaction that checks the
//! batch's preconditions under row locks and applies the batch, or rolls back
//! and returns [`Conflict`], so the callers' optimistic retry loop
//! ([`tally_store::transact`]) works across processes exactly as it does in
//! one.
//!
//! ```no_run
//! use tally_store::{Batch, Store};
//! use tally_store_postgres::PgStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Hosted PostgreSQL: "postgres://user:password@db.example.com/app?sslmode=verify-full"
//! let store = PgStore::connect("postgres://postgres@127.0.0.1:5432/test")?;
//! let mut batch = Batch::new();
//! batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
//! store.commit(batch)?; // committed (and durable, per the server's settings)
//! assert_eq!(&store.get(b"greeting")?.unwrap().value[..], b"hello");
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! One table per store (name set by [`PgOptions::table`], default
//! `tally_kv`, so several tallies can share a database), created on first use
//! with `key bytea PRIMARY KEY, value bytea, version bigint NOT NULL`, and a
//! row in the `tally_schema` table recording its schema version
//! ([`SCHEMA_VERSION`]). `bytea` compares bytewise, which is exactly the
//! order [`Store::scan`] promises.
//!
//! A deleted key keeps a *tombstone* row (its key and last version, value
//! NULL) so that writing it again gives it a higher version than it ever had.
//! Readers never see tombstones, but they take space, so a workload that
//! deletes many distinct keys grows the table.
//!
//! # How a commit runs
//!
//! - A batch with no preconditions that only puts (or touches one key) is
//!   **one statement** in autocommit: an upsert of every key, in key order.
//! - A compare-and-set of one key (one precondition on the key, one write
//!   of it) is **one statement**: an `UPDATE … WHERE version = $expected`
//!   (or an insert that only fills an absent key), which waits for a
//!   concurrent writer of the row and re-checks against its result.
//! - A batch guarded by **one** precondition on a present key that it also
//!   puts, with writes of other keys (the shape of a domain commit guarded
//!   by its head record: tally-ledger's, for one) is **one statement** in
//!   autocommit: the guard's compare-and-set as an `UPDATE`, and the other
//!   writes in the same statement only if it matched. Like the single-key
//!   case, a lost connection is reported, not retried. The guard's row is
//!   locked first, then the written rows in key order, so it can deadlock
//!   with a multi-statement commit that locks some of the same rows before
//!   the guard's; PostgreSQL detects that and it becomes
//!   [`Conflict::Contention`], which the caller's loop retries.
//! - Any other batch is one `READ COMMITTED` transaction of three
//!   statements: the first locks every key the batch checks or writes, in
//!   sorted order (inserting a placeholder row for an absent key, so
//!   "absent" is locked too), the second reads their versions; if a
//!   precondition fails the transaction rolls back with
//!   [`Conflict::Precondition`]; otherwise the third applies the writes. Since every commit takes its row locks in
//!   key order, our commits do not deadlock one another.
//! - A batch with preconditions and no writes is one consistent `SELECT`.
//! - SQLSTATE `40001` (serialization failure) and `40P01` (deadlock) become
//!   [`Conflict::Contention`]: nothing was written and the caller retries.
//!
//! Durability is the server's: with PostgreSQL's default
//! `synchronous_commit = on`, a returned commit is on disk (and on
//! synchronous replicas, if configured).
//!
//! # TLS
//!
//! The connection string chooses TLS as libpq does: `sslmode=disable`,
//! `prefer` (the default: TLS when the server offers it, certificate not
//! checked), `require`, `verify-ca` or `verify-full` (the certificate must
//! chain to a trusted root and name the host: what to use over any network
//! you do not control). The trusted roots are [`PgOptions::tls_ca_file`] or
//! `sslrootcert=PATH`, else the operating system's. TLS is rustls with the
//! *ring* provider, behind the crate's default `tls` feature; without it,
//! only `disable` and `prefer` (as plaintext) connect. Client certificates
//! are not supported.
//!
//! [`Store::get_many`] is one `SELECT … WHERE key = ANY(…)`: one round
//! trip and one snapshot for up to
//! [`MAX_GET_MANY_KEYS`](tally_store::MAX_GET_MANY_KEYS) keys.
//!
//! # Connection health
//!
//! A connection the server closed while it sat in the pool (an
//! administrator's `pg_terminate_backend`, a server restart, an idle-session
//! timeout) is noticed when a call takes it, at no cost (the server's
//! goodbye is already in the socket), and replaced before anything is sent,
//! so the call does not fail because of it. A connection idle for longer
//! than [`PgOptions::ping_after_idle`] is also pinged first, which catches a
//! server that vanished without a word (a network cut, a crashed machine).
//! A read that loses its connection midway is retried once on a fresh one,
//! and so is a multi-statement commit that lost it before its `COMMIT` was
//! sent (nothing of it can have been applied). A single-statement commit, or
//! a `COMMIT`, that loses its connection is **not** retried: it may have been
//! applied, and the caller gets [`StoreError::Backend`] (a lost
//! acknowledgement). [`PgOptions::statement_timeout`] bounds how long a
//! statement may wait on the server (a lock held by another session), and
//! [`PgOptions::io_timeout`] how long a call may wait on a silent network.
//!
//! # Where it runs
//!
//! Tested: PostgreSQL 15, over plaintext and over TLS (`verify-full`
//! against a generated CA), by this crate's tests and the conformance kit.
//!
//! Not tested: the Postgres-compatible distributed engines (CockroachDB,
//! YugabyteDB and the like). The store sticks to a small SQL subset meant to
//! be portable to them (`INSERT … ON CONFLICT`, `unnest` of arrays,
//! data-modifying `WITH`, row locks taken by writes, `ORDER BY … LIMIT`;
//! **no** advisory locks, PL/pgSQL, sequences or LISTEN/NOTIFY, which such
//! engines lack or restrict), but it has never been run on one, and their
//! isolation and locking differ from PostgreSQL's. Before trusting one, run this crate's tests against it
//! (`TALLY_PG_URL`): the conformance kit checks the contract, including
//! lost updates and write skew under concurrency.
//!
//! # Errors
//!
//! Opening a store returns a [`ConnectError`]: a bad option or connection
//! string is a [`ConfigError`] (found before anything is sent), a failed TLS
//! handshake, an unreachable server or a refused login a variant of its
//! own. Once open, every call returns a [`StoreError`]: a lost connection
//! or a server error is [`StoreError::Backend`] with the [`Operation`] that
//! failed and the driver's error as its source; a malformed row is
//! [`StoreError::Corrupt`]. Nothing panics.

#![forbid(unsafe_code)]

mod driver;
mod error;
mod options;
mod pool;
mod sql;
mod tls;

use std::collections::BTreeMap;
use std::fmt;

use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, Entry, Op, Operation, Page, Store, StoreError, Versioned};
use tokio_postgres::error::SqlState;

pub use crate::error::{ConfigError, ConnectError};
pub use crate::options::{DEFAULT_TABLE, MAX_POOL_SIZE, MAX_TABLE_NAME_BYTES, MAX_TIMEOUT, PgOptions};
use crate::pool::{CheckoutError, Connection, OpenError, Opener, Pool, Session};
use crate::sql::Sql;
pub use crate::tls::SslMode;

/// The backend name in every [`StoreError`] this crate returns.
pub const BACKEND: &str = "postgres";

/// The table layout this crate writes and understands.
pub const SCHEMA_VERSION: i32 = 1;

/// A [`Store`] in one PostgreSQL table, shared by every thread, process and
/// machine that opens the same table.
pub struct PgStore {
    pool: Pool,
    table: String,
    ssl_mode: SslMode,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("table", &self.table)
            .field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}

fn pg_error(operation: Operation, error: tokio_postgres::Error) -> StoreError {
    let contention = matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
    );
    if contention {
        StoreError::Conflict(Conflict::Contention {
            reason: error.to_string(),
        })
    } else {
        StoreError::backend(BACKEND, operation, error)
    }
}

fn checkout_error(operation: Operation, error: CheckoutError) -> StoreError {
    match error {
        CheckoutError::Connect(OpenError::Driver(error)) => pg_error(operation, error),
        other => StoreError::backend(BACKEND, operation, other),
    }
}

/// True when `error` means the connection is gone (closed, reset, or the
/// server shutting the session down), as opposed to a statement failing on
/// a live connection.
fn is_connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return code.code().starts_with("08")
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW;
    }
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

/// How a multi-statement commit failed: before `COMMIT` was sent (nothing
/// can have been applied) or at it (the outcome is unknown).
enum CheckedFailure {
    BeforeCommit(tokio_postgres::Error),
    AtCommit(tokio_postgres::Error),
    Store(StoreError),
}

fn version_from_sql(version: i64) -> Result<u64, StoreError> {
    u64::try_from(version).map_err(|_| StoreError::Corrupt {
        backend: BACKEND,
        detail: format!("a row has the negative version {version}"),
    })
}

/// The smallest byte string greater than every string starting with
/// `prefix`, or `None` when there is none (empty or all-0xFF prefix).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut successor = prefix[..=last].to_vec();
    successor[last] += 1;
    Some(successor)
}

/// A batch reduced to what the SQL needs: each key's final write (last op
/// wins), and every checked key with the versions it must have.
struct Plan<'a> {
    put_keys: Vec<&'a [u8]>,
    put_values: Vec<&'a [u8]>,
    delete_keys: Vec<&'a [u8]>,
    /// Checked or deleted keys that are not put: placeholder rows for them
    /// are removed when the commit writes.
    cleanup_keys: Vec<&'a [u8]>,
    /// Every key the batch checks or writes, sorted: the locking order.
    lock_keys: Vec<&'a [u8]>,
    /// Key -> every version a precondition demands of it (0 = absent).
    checks: BTreeMap<&'a [u8], Vec<u64>>,
}

/// A batch guarded by one precondition on a key it also puts, writing other
/// keys too: one statement ([`PgStore::commit_guarded`]).
struct Guarded<'a> {
    key: &'a [u8],
    value: &'a [u8],
    expected_version: i64,
    other_put_keys: Vec<&'a [u8]>,
    other_put_values: Vec<&'a [u8]>,
}

/// A batch that is one conditional write of one key.
struct SingleKeyCas<'a> {
    key: &'a [u8],
    expected_version: u64,
    /// The new value, or `None` for a delete.
    value: Option<&'a [u8]>,
}

impl<'a> Plan<'a> {
    fn new(batch: &'a Batch) -> Self {
        let mut writes: BTreeMap<&[u8], Option<&[u8]>> = BTreeMap::new();
        for op in batch.ops() {
            match op {
                Op::Put { key, value } => writes.insert(key.as_slice(), Some(&value[..])),
                Op::Delete { key } => writes.insert(key.as_slice(), None),
            };
        }
        let mut checks: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
        for precondition in batch.preconditions() {
            checks
                .entry(precondition.key.as_slice())
                .or_default()
                .push(precondition.version);
        }
        let mut plan = Plan {
            put_keys: Vec::new(),
            put_values: Vec::new(),
            delete_keys: Vec::new(),
            cleanup_keys: Vec::new(),
            lock_keys: Vec::new(),
            checks,
        };
        for (&key, value) in &writes {
            match value {
                Some(value) => {
                    plan.put_keys.push(key);
                    plan.put_values.push(value);
                }
                None => {
                    plan.delete_keys.push(key);
                    plan.cleanup_keys.push(key);
                }
            }
        }
        for &key in plan.checks.keys() {
            if !writes.contains_key(key) {
                plan.cleanup_keys.push(key);
            }
        }
        let mut lock_keys: Vec<&[u8]> = writes.keys().chain(plan.checks.keys()).copied().collect();
        lock_keys.sort_unstable();
        lock_keys.dedup();
        plan.lock_keys = lock_keys;
        plan
    }

    /// The guarded shape: exactly one precondition, on a present key
    /// (version >= 1) that the batch puts, plus writes of other keys.
    fn guarded(&self) -> Option<Guarded<'a>> {
        if self.checks.len() != 1 || self.lock_keys.len() < 2 {
            return None;
        }
        let (&key, expected) = self.checks.iter().next()?;
        let &[expected_version] = expected.as_slice() else {
            return None;
        };
        let expected_version = i64::try_from(expected_version).ok().filter(|&v| v >= 1)?;
        let index = self.put_keys.iter().position(|&put| put == key)?;
        let mut other_put_keys = self.put_keys.clone();
        let mut other_put_values = self.put_values.clone();
        other_put_keys.remove(index);
        let value = other_put_values.remove(index);
        Some(Guarded {
            key,
            value,
            expected_version,
            other_put_keys,
            other_put_values,
        })
    }

    /// The single-key compare-and-set shape: one key, one precondition on
    /// it, one final write to it (a put, or a delete of a present key).
    fn single_key_cas(&self) -> Option<SingleKeyCas<'a>> {
        if self.lock_keys.len() != 1 || self.checks.len() != 1 {
            return None;
        }
        let (&key, expected) = self.checks.iter().next()?;
        let &[expected_version] = expected.as_slice() else {
            return None;
        };
        match (self.put_values.as_slice(), self.delete_keys.is_empty()) {
            (&[value], true) => Some(SingleKeyCas {
                key,
                expected_version,
                value: Some(value),
            }),
            (&[], false) if expected_version > 0 => Some(SingleKeyCas {
                key,
                expected_version,
                value: None,
            }),
            _ => None,
        }
    }

    /// True when one autocommit statement can apply the batch: nothing to
    /// check, and the statement takes its row locks in key order (puts
    /// only, or a single key), so it cannot deadlock with another commit.
    fn is_blind(&self) -> bool {
        self.checks.is_empty() && (self.delete_keys.is_empty() || self.lock_keys.len() == 1)
    }

    fn has_writes(&self) -> bool {
        !self.put_keys.is_empty() || !self.delete_keys.is_empty()
    }

    /// The first precondition that `actual` (key -> version, absent keys
    /// missing) breaks, as a conflict.
    fn first_violation(&self, actual: &BTreeMap<Vec<u8>, u64>) -> Option<Conflict> {
        for (&key, expected) in &self.checks {
            let actual_version = actual.get(key).copied().unwrap_or(0);
            if let Some(&expected_version) = expected.iter().find(|&&v| v != actual_version) {
                return Some(Conflict::Precondition {
                    key: key.to_vec(),
                    expected_version,
                    actual_version,
                });
            }
        }
        None
    }
}

impl PgStore {
    /// Connects to the server at `url` (a `postgres://` URL or a
    /// `key=value` connection string, with libpq's `sslmode` and
    /// `sslrootcert`) and opens the store in the table [`DEFAULT_TABLE`],
    /// creating it if needed.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Config`] for a malformed connection string (nothing is
    /// sent); [`ConnectError::Tls`] if the TLS handshake fails (an untrusted
    /// or misnamed certificate); [`ConnectError::Connect`] if the server
    /// cannot be reached or refuses the connection or login;
    /// [`ConnectError::Schema`] if it refuses to create the table;
    /// [`ConnectError::IncompatibleSchema`] if the table was created by an
    /// incompatible schema version.
    pub fn connect(url: &str) -> Result<Self, ConnectError> {
        Self::connect_with(url, PgOptions::default())
    }

    /// Connects with explicit [`PgOptions`] (table name, pool size,
    /// timeouts, CA file).
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`]; every option that breaks a rule of its doc
    /// (table name, pool size, a zero or too-long timeout, an unreadable CA
    /// file) is a [`ConnectError::Config`], found before anything is sent.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self, ConnectError> {
        let setup = options::setup(url, &options)?;
        let ssl_mode = setup.ssl_mode;
        Self::create_schema(&setup.opener, &options.table)?;
        let pool = Pool::new(setup.opener, Sql::for_table(&options.table), setup.limits);
        let store = PgStore {
            pool,
            table: options.table,
            ssl_mode,
        };
        // Open the first pooled connection now, so a bad server fails here.
        store.pool.open_one().map_err(open_error)?;
        Ok(store)
    }

    fn create_schema(opener: &Opener, table: &str) -> Result<(), ConnectError> {
        let Session { client, mut driver } = opener.session().map_err(open_error)?;
        let schema_error = |source| ConnectError::Schema {
            table: table.to_owned(),
            source,
        };
        // Two processes creating the same table at once can collide in the
        // catalog (unique violation); the loser simply tries again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match driver.run(client.batch_execute(&sql::create_schema(table))) {
                Ok(()) => break,
                Err(error)
                    if attempts < 5
                        && matches!(error.code(), Some(code) if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::DUPLICATE_TABLE) =>
                {
                    continue;
                }
                Err(error) => return Err(schema_error(error)),
            }
        }
        let row = driver
            .run(client.query_one(&sql::schema_version(), &[&table]))
            .map_err(schema_error)?;
        let version: i32 = row.try_get(0).map_err(schema_error)?;
        if version != SCHEMA_VERSION {
            return Err(ConnectError::IncompatibleSchema {
                table: table.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    /// A pooled connection for `operation`, or the typed error saying why none is available.
    fn checkout(&self, operation: Operation) -> Result<pool::Pooled<'_>, StoreError> {
        self.pool.get().map_err(|error| checkout_error(operation, error))
    }

    /// Runs a read (`query` sends nothing but reads), retrying it once on a
    /// fresh connection if the connection was lost: a read changes nothing,
    /// so running it twice is harmless.
    fn read<T>(
        &self,
        operation: Operation,
        mut query: impl FnMut(&mut Connection) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut pooled = self.checkout(operation)?;
        match query(pooled.connection()) {
            Ok(result) => Ok(result),
            Err(error) if is_connection_lost(&error) => {
                pooled.discard();
                let mut pooled = self.checkout(operation)?;
                query(pooled.connection()).map_err(|error| pg_error(operation, error))
            }
            Err(error) => Err(pg_error(operation, error)),
        }
    }

    /// The table this store keeps its keys in.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The `sslmode` in force (the connection string's, or the default
    /// [`SslMode::Prefer`]).
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// Drops the store's table and its schema row: **every key is gone**.
    /// Meant for tests and tear-down; other processes using the table will
    /// fail on their next call.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the server refuses or cannot be reached.
    pub fn drop_table(self) -> Result<(), StoreError> {
        let mut pooled = self.checkout(Operation::Commit)?;
        let connection = pooled.connection();
        connection
            .driver
            .run(connection.client.batch_execute(&sql::drop_table(&self.table)))
            .map_err(|error| pg_error(Operation::Commit, error))
    }

    fn commit_read_only(&self, plan: &Plan<'_>) -> Result<(), StoreError> {
        let checked_keys: Vec<&[u8]> = plan.checks.keys().copied().collect();
        // Read-only: one consistent snapshot is the whole commit.
        let rows = self.read(Operation::Commit, |connection| {
            connection
                .driver
                .run(connection.client.query(&connection.statements.check, &[&checked_keys]))
        })?;
        let actual = versions_of(&rows)?;
        match plan.first_violation(&actual) {
            Some(conflict) => Err(StoreError::Conflict(conflict)),
            None => Ok(()),
        }
    }

    /// The three-statement transaction. A connection lost before `COMMIT`
    /// was sent leaves nothing applied (the server rolls back an open
    /// transaction whose client is gone), so that one case runs again on a
    /// fresh connection; a failure at `COMMIT` is reported.
    fn commit_checked(&self, plan: &Plan<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        // At most two attempts: the second only after a lost connection.
        let mut retried = false;
        loop {
            let mut pooled = self.checkout(Operation::Commit)?;
            let connection = pooled.connection();
            let outcome = Self::checked_transaction(connection, plan);
            let lost = matches!(
                &outcome,
                Err(CheckedFailure::BeforeCommit(error) | CheckedFailure::AtCommit(error)) if is_connection_lost(error)
            );
            if lost {
                pooled.discard();
            } else if outcome.is_err()
                && connection
                    .driver
                    .run(connection.client.batch_execute("ROLLBACK"))
                    .is_err()
            {
                // A connection that cannot leave its transaction is not
                // handed to the next caller.
                pooled.discard();
            }
            match outcome {
                Ok(()) => return Ok(()),
                Err(CheckedFailure::BeforeCommit(_)) if lost && !retried => retried = true,
                Err(CheckedFailure::BeforeCommit(error) | CheckedFailure::AtCommit(error)) => {
                    return Err(commit(error));
                }
                Err(CheckedFailure::Store(error)) => return Err(error),
            }
        }
    }

    fn checked_transaction(connection: &mut Connection, plan: &Plan<'_>) -> Result<(), CheckedFailure> {
        use CheckedFailure::{AtCommit, BeforeCommit, Store};
        let Connection {
            client,
            driver,
            statements,
            ..
        } = connection;
        driver.run(client.batch_execute("BEGIN")).map_err(BeforeCommit)?;
        driver
            .run(client.execute(&statements.lock, &[&plan.lock_keys]))
            .map_err(BeforeCommit)?;
        let rows = driver
            .run(client.query(&statements.read_locked, &[&plan.lock_keys]))
            .map_err(BeforeCommit)?;
        let mut actual = BTreeMap::new();
        for row in &rows {
            let key: Vec<u8> = row.try_get(0).map_err(BeforeCommit)?;
            let present: bool = row.try_get(1).map_err(BeforeCommit)?;
            let version = version_from_sql(row.try_get(2).map_err(BeforeCommit)?).map_err(Store)?;
            if present {
                actual.insert(key, version);
            }
        }
        if let Some(conflict) = plan.first_violation(&actual) {
            // The caller rolls back, placeholders included.
            return Err(Store(StoreError::Conflict(conflict)));
        }
        driver
            .run(client.execute(
                &statements.write,
                &[&plan.put_keys, &plan.put_values, &plan.delete_keys, &plan.cleanup_keys],
            ))
            .map_err(BeforeCommit)?;
        driver.run(client.batch_execute("COMMIT")).map_err(AtCommit)
    }

    /// One statement: the write happens only if the key is at the expected
    /// version (or absent). When no row changes, reads the key's version to
    /// report the conflict.
    fn commit_single_key_cas(&self, cas: &SingleKeyCas<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        let mut pooled = self.checkout(Operation::Commit)?;
        let Connection {
            client,
            driver,
            statements,
            ..
        } = pooled.connection();
        // `single_key_cas` only builds versions that fit a bigint.
        let expected = i64::try_from(cas.expected_version).unwrap_or(i64::MAX);
        let changed = match (cas.value, cas.expected_version) {
            (Some(value), 0) => driver.run(client.execute(&statements.put_if_absent, &[&cas.key, &value])),
            (Some(value), _) => driver.run(client.execute(&statements.put_if_version, &[&cas.key, &value, &expected])),
            (None, _) => driver.run(client.execute(&statements.delete_if_version, &[&cas.key, &expected])),
        }
        .map_err(commit)?;
        if changed == 1 {
            return Ok(());
        }
        let row = driver
            .run(client.query_opt(&statements.get, &[&cas.key]))
            .map_err(commit)?;
        let actual_version = match row {
            Some(row) => version_from_sql(row.try_get(1).map_err(commit)?)?,
            None => 0,
        };
        Err(StoreError::Conflict(Conflict::Precondition {
            key: cas.key.to_vec(),
            expected_version: cas.expected_version,
            actual_version,
        }))
    }

    /// One statement: the guard's compare-and-set, then the other writes if
    /// it matched. When it did not, reads the guard's version to report the
    /// conflict.
    fn commit_guarded(&self, guarded: &Guarded<'_>, plan: &Plan<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        let mut pooled = self.checkout(Operation::Commit)?;
        let Connection {
            client,
            driver,
            statements,
            ..
        } = pooled.connection();
        let row = driver
            .run(client.query_one(
                &statements.guarded_write,
                &[
                    &guarded.value,
                    &guarded.key,
                    &guarded.expected_version,
                    &guarded.other_put_keys,
                    &guarded.other_put_values,
                    &plan.delete_keys,
                ],
            ))
            .map_err(commit)?;
        let matched: i64 = row.try_get(0).map_err(commit)?;
        if matched == 1 {
            return Ok(());
        }
        let row = driver
            .run(client.query_opt(&statements.get, &[&guarded.key]))
            .map_err(commit)?;
        let actual_version = match row {
            Some(row) => version_from_sql(row.try_get(1).map_err(commit)?)?,
            None => 0,
        };
        Err(StoreError::Conflict(Conflict::Precondition {
            key: guarded.key.to_vec(),
            expected_version: u64::try_from(guarded.expected_version).unwrap_or(0),
            actual_version,
        }))
    }

    fn commit_blind(&self, plan: &Plan<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        let mut pooled = self.checkout(Operation::Commit)?;
        let Connection {
            client,
            driver,
            statements,
            ..
        } = pooled.connection();
        // One statement in autocommit is atomic on its own.
        if plan.delete_keys.is_empty() && plan.cleanup_keys.is_empty() {
            driver.run(client.execute(&statements.upsert, &[&plan.put_keys, &plan.put_values]))
        } else {
            driver.run(client.execute(
                &statements.write,
                &[&plan.put_keys, &plan.put_values, &plan.delete_keys, &plan.cleanup_keys],
            ))
        }
        .map_err(commit)?;
        Ok(())
    }
}

/// A failure to open a connection, classified.
fn open_error(error: OpenError) -> ConnectError {
    match error {
        OpenError::Driver(source) => connect_error(source),
        OpenError::TimedOut { timeout } => ConnectError::Timeout { timeout },
        OpenError::Runtime(source) => ConnectError::Io { source },
    }
}

/// A driver error from opening a connection, classified.
fn connect_error(source: tokio_postgres::Error) -> ConnectError {
    if tls::is_tls_failure(&source) {
        ConnectError::Tls { source }
    } else {
        ConnectError::Connect { source }
    }
}

fn versions_of(rows: &[tokio_postgres::Row]) -> Result<BTreeMap<Vec<u8>, u64>, StoreError> {
    let commit = |error| pg_error(Operation::Commit, error);
    let mut actual = BTreeMap::new();
    for row in rows {
        let key: Vec<u8> = row.try_get(0).map_err(commit)?;
        let version = version_from_sql(row.try_get(1).map_err(commit)?)?;
        actual.insert(key, version);
    }
    Ok(actual)
}

impl Store for PgStore {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        tally_store::validate_key(key)?;
        let get = |error| pg_error(Operation::Get, error);
        let row = self.read(Operation::Get, |connection| {
            connection
                .driver
                .run(connection.client.query_opt(&connection.statements.get, &[&key]))
        })?;
        let Some(row) = row else { return Ok(None) };
        let value: Vec<u8> = row.try_get(0).map_err(get)?;
        let version = version_from_sql(row.try_get(1).map_err(get)?)?;
        Ok(Some(Versioned {
            value: Bytes::from(value),
            version,
        }))
    }

    /// One statement for every key (so the answers do come from one
    /// snapshot).
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        tally_store::validate_keys(keys)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let get = |error| pg_error(Operation::Get, error);
        let wanted: Vec<&[u8]> = keys.to_vec();
        let rows = self.read(Operation::Get, |connection| {
            connection
                .driver
                .run(connection.client.query(&connection.statements.get_many, &[&wanted]))
        })?;
        let mut found: std::collections::HashMap<Vec<u8>, Versioned> =
            std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let key: Vec<u8> = row.try_get(0).map_err(get)?;
            let value: Vec<u8> = row.try_get(1).map_err(get)?;
            let version = version_from_sql(row.try_get(2).map_err(get)?)?;
            found.insert(
                key,
                Versioned {
                    value: Bytes::from(value),
                    version,
                },
            );
        }
        Ok(keys.iter().map(|key| found.get(*key).cloned()).collect())
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        tally_store::validate_scan(prefix, after, limit)?;
        let scan = |error| pg_error(Operation::Scan, error);
        // One row more than asked tells whether another page follows.
        // `limit` is at most MAX_SCAN_LIMIT, so this cannot overflow.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let upper = prefix_successor(prefix);
        let rows = self.read(Operation::Scan, |connection| {
            let Connection {
                client,
                driver,
                statements,
                ..
            } = connection;
            match (after, &upper) {
                (Some(after), Some(upper)) if after >= prefix => {
                    driver.run(client.query(&statements.scan_after_bounded, &[&after, upper, &fetch]))
                }
                (Some(after), None) if after >= prefix => {
                    driver.run(client.query(&statements.scan_after_unbounded, &[&after, &fetch]))
                }
                (_, Some(upper)) => {
                    driver.run(client.query(&statements.scan_from_prefix_bounded, &[&prefix, upper, &fetch]))
                }
                (_, None) => driver.run(client.query(&statements.scan_from_prefix_unbounded, &[&prefix, &fetch])),
            }
        })?;
        let more = rows.len() > limit;
        let mut entries = Vec::with_capacity(rows.len().min(limit));
        for row in rows.iter().take(limit) {
            let key: Vec<u8> = row.try_get(0).map_err(scan)?;
            let value: Vec<u8> = row.try_get(1).map_err(scan)?;
            let version = version_from_sql(row.try_get(2).map_err(scan)?)?;
            entries.push(Entry {
                key,
                value: Bytes::from(value),
                version,
            });
        }
        Ok(Page { entries, more })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        batch.validate()?;
        if batch.is_empty() {
            return Ok(());
        }
        let plan = Plan::new(&batch);
        if plan.is_blind() {
            self.commit_blind(&plan)
        } else if let Some(cas) = plan.single_key_cas() {
            self.commit_single_key_cas(&cas)
        } else if let Some(guarded) = plan.guarded() {
            self.commit_guarded(&guarded, &plan)
        } else if !plan.has_writes() {
            self.commit_read_only(&plan)
        } else {
            self.commit_checked(&plan)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_is_the_first_key_past_the_prefix() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[0x01, 0xFF]), Some(vec![0x02]));
        assert_eq!(prefix_successor(&[0x00]), Some(vec![0x01]));
    }

    #[test]
    fn the_last_write_to_a_key_wins_and_key_sets_are_disjoint() {
        let mut batch = Batch::new();
        batch.put(b"a", b"1".to_vec());
        batch.delete(b"a");
        batch.delete(b"b");
        batch.put(b"b", b"2".to_vec());
        batch.expect_version(b"c", 3);
        batch.expect_absent(b"a");
        let plan = Plan::new(&batch);
        assert_eq!(plan.put_keys, vec![&b"b"[..]]);
        assert_eq!(plan.put_values, vec![&b"2"[..]]);
        assert_eq!(plan.delete_keys, vec![&b"a"[..]]);
        assert_eq!(plan.cleanup_keys, vec![&b"a"[..], &b"c"[..]]);
        assert_eq!(plan.lock_keys, vec![&b"a"[..], &b"b"[..], &b"c"[..]]);
        assert_eq!(plan.checks.len(), 2);
        assert!(!plan.is_blind());
    }

    #[test]
    fn only_ordered_unchecked_batches_take_the_one_statement_path() {
        let mut puts = Batch::new();
        puts.put(b"b", b"1".to_vec()).put(b"a", b"2".to_vec());
        assert!(Plan::new(&puts).is_blind());
        let mut one_delete = Batch::new();
        one_delete.delete(b"a");
        assert!(Plan::new(&one_delete).is_blind());
        let mut mixed = Batch::new();
        mixed.put(b"a", b"1".to_vec()).delete(b"b");
        assert!(!Plan::new(&mixed).is_blind());
        let mut checked = Batch::new();
        checked.put(b"a", b"1".to_vec()).expect_absent(b"a");
        assert!(!Plan::new(&checked).is_blind());
    }

    #[test]
    fn one_check_and_one_write_of_the_same_key_is_a_single_statement_cas() {
        let mut cas = Batch::new();
        cas.expect_version(b"k", 4).put(b"k", b"v".to_vec());
        let plan = Plan::new(&cas);
        let single = plan.single_key_cas().unwrap();
        assert_eq!(
            (single.key, single.expected_version, single.value),
            (&b"k"[..], 4, Some(&b"v"[..]))
        );

        let mut create = Batch::new();
        create.expect_absent(b"k").put(b"k", b"v".to_vec());
        assert_eq!(Plan::new(&create).single_key_cas().unwrap().expected_version, 0);

        let mut delete = Batch::new();
        delete.expect_version(b"k", 2).delete(b"k");
        assert_eq!(Plan::new(&delete).single_key_cas().unwrap().value, None);

        // Not this shape: deleting an absent key, two keys, two checks, a read-only check.
        let mut absent_delete = Batch::new();
        absent_delete.expect_absent(b"k").delete(b"k");
        assert!(Plan::new(&absent_delete).single_key_cas().is_none());
        let mut two_keys = Batch::new();
        two_keys.expect_version(b"k", 1).put(b"j", b"v".to_vec());
        assert!(Plan::new(&two_keys).single_key_cas().is_none());
        let mut two_checks = Batch::new();
        two_checks
            .expect_version(b"k", 1)
            .expect_version(b"k", 2)
            .put(b"k", b"v".to_vec());
        assert!(Plan::new(&two_checks).single_key_cas().is_none());
        let mut read_only = Batch::new();
        read_only.expect_version(b"k", 1);
        assert!(Plan::new(&read_only).single_key_cas().is_none());
    }

    #[test]
    fn a_batch_guarded_by_one_present_key_it_puts_is_one_guarded_statement() {
        let mut shape = Batch::new();
        shape
            .expect_version(b"head", 3)
            .put(b"head", b"h".to_vec())
            .put(b"a", b"1".to_vec())
            .delete(b"b");
        let plan = Plan::new(&shape);
        let guarded = plan.guarded().unwrap();
        assert_eq!(
            (guarded.key, guarded.value, guarded.expected_version),
            (&b"head"[..], &b"h"[..], 3)
        );
        assert_eq!(guarded.other_put_keys, vec![&b"a"[..]]);
        assert_eq!(plan.delete_keys, vec![&b"b"[..]]);

        // Not this shape: an absent guard, a guard not written, two checks, one key alone.
        let mut absent = Batch::new();
        absent
            .expect_absent(b"head")
            .put(b"head", b"h".to_vec())
            .put(b"a", b"1".to_vec());
        assert!(Plan::new(&absent).guarded().is_none());
        let mut unwritten = Batch::new();
        unwritten.expect_version(b"head", 3).put(b"a", b"1".to_vec());
        assert!(Plan::new(&unwritten).guarded().is_none());
        let mut deleted = Batch::new();
        deleted
            .expect_version(b"head", 3)
            .delete(b"head")
            .put(b"a", b"1".to_vec());
        assert!(Plan::new(&deleted).guarded().is_none());
        let mut two = Batch::new();
        two.expect_version(b"head", 3)
            .expect_version(b"a", 1)
            .put(b"head", b"h".to_vec())
            .put(b"a", b"1".to_vec());
        assert!(Plan::new(&two).guarded().is_none());
        let mut alone = Batch::new();
        alone.expect_version(b"head", 3).put(b"head", b"h".to_vec());
        assert!(Plan::new(&alone).guarded().is_none());
    }

    #[test]
    fn contradictory_preconditions_on_one_key_conflict() {
        let mut batch = Batch::new();
        batch.expect_version(b"k", 1);
        batch.expect_version(b"k", 2);
        let plan = Plan::new(&batch);
        let actual = BTreeMap::from([(b"k".to_vec(), 1)]);
        assert!(matches!(
            plan.first_violation(&actual),
            Some(Conflict::Precondition {
                expected_version: 2,
                actual_version: 1,
                ..
            })
        ));
    }
}
