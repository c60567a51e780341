//! The shared-server [`Store`]: PostgreSQL, and the Postgres-compatible
//! distributed SQL engines that are how a tally deployment outgrows one
//! machine.
//!
//! [`PgStore`] keeps tally's ordered, versioned key-value contract in one
//! table. Any number of threads, processes and machines may share it: every
//! [`Store::commit`] is one SQL transaction that checks the batch's
//! preconditions under row locks and applies the batch, or rolls back and
//! returns [`Conflict`], so the callers' optimistic retry loop
//! ([`tally_store::transact`]) works across processes exactly as it does in
//! one.
//!
//! ```no_run
//! use tally_store::{Batch, Store};
//! use tally_store_postgres::PgStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
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
//! # Scaling past one machine
//!
//! The store uses only SQL that Postgres-compatible distributed engines
//! (CockroachDB, YugabyteDB and the like) also run: `INSERT … ON CONFLICT`,
//! `unnest` of arrays, data-modifying `WITH`, row locks taken by writes, and
//! `ORDER BY … LIMIT`. It uses **no** advisory locks, PL/pgSQL, sequences,
//! or LISTEN/NOTIFY. Point [`PgStore::connect`] at such a cluster to spread
//! one tally across machines; the conformance kit in this crate's tests is
//! how to check an engine before trusting it.
//!
//! # Errors
//!
//! Every failure is a [`StoreError`]: a lost connection, a refused login or
//! a server error is [`StoreError::Backend`] with the [`Operation`] that
//! failed and the driver's error as its source; a table written by an
//! unknown schema is [`StoreError::Corrupt`]. A broken connection is dropped
//! from the pool and replaced on the next call. Nothing panics.

#![forbid(unsafe_code)]

mod pool;
mod sql;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use postgres::error::SqlState;
use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, Entry, Op, Operation, Page, Store, StoreError, Versioned};

use crate::pool::{CheckoutError, Pool};
use crate::sql::Sql;

/// The backend name in every [`StoreError`] this crate returns.
pub const BACKEND: &str = "postgres";

/// The table layout this crate writes and understands.
pub const SCHEMA_VERSION: i32 = 1;

/// The table name [`PgStore::connect`] uses.
pub const DEFAULT_TABLE: &str = "tally_kv";

/// The longest table name PostgreSQL keeps without truncating it.
pub const MAX_TABLE_NAME_BYTES: usize = 63;

/// Options for [`PgStore::connect_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The table that holds this store's keys: 1 to 63 bytes of lowercase
    /// ASCII letters, digits and `_`, not starting with a digit.
    pub table: String,
    /// The most connections the store opens (default 8). Each thread that
    /// is inside a store call holds one.
    pub pool_size: usize,
    /// How long a call waits for a free connection before it fails with
    /// [`StoreError::Backend`] (default 30 s).
    pub checkout_timeout: Duration,
    /// Timeout for opening one connection (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            table: DEFAULT_TABLE.to_owned(),
            pool_size: 8,
            checkout_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A request [`PgStore::connect_with`] refuses before connecting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The connection string is neither a `postgres://` URL nor a
    /// `key=value` list.
    #[error("invalid PostgreSQL connection string: {reason}")]
    ConnectionString {
        /// The driver's explanation.
        reason: String,
    },
    /// The table name is empty, too long, or has characters other than
    /// lowercase ASCII letters, digits and `_` (or starts with a digit).
    #[error(
        "invalid table name {name:?}: use 1 to {MAX_TABLE_NAME_BYTES} lowercase ASCII letters, digits or '_', not starting with a digit"
    )]
    TableName {
        /// The name that was refused.
        name: String,
    },
    /// `pool_size` was 0.
    #[error("the pool needs at least one connection")]
    PoolSize,
}

/// A [`Store`] in one PostgreSQL table, shared by every thread, process and
/// machine that opens the same table.
pub struct PgStore {
    pool: Pool,
    table: String,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

fn is_valid_table_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=MAX_TABLE_NAME_BYTES).contains(&bytes.len())
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn pg_error(operation: Operation, error: postgres::Error) -> StoreError {
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
        CheckoutError::Connect(error) => pg_error(operation, error),
        exhausted @ CheckoutError::Exhausted { .. } => StoreError::backend(BACKEND, operation, exhausted),
    }
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
    /// `key=value` connection string) and opens the store in the table
    /// [`DEFAULT_TABLE`], creating it if needed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with [`Operation::Open`] (source
    /// [`ConfigError`]) for a malformed connection string; the same variant
    /// with the driver's error if the server cannot be reached or refuses
    /// the login; [`StoreError::Corrupt`] if the table was created by an
    /// incompatible schema version.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PgOptions::default())
    }

    /// Connects with explicit [`PgOptions`] (table name, pool size, timeouts).
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`], plus [`ConfigError::TableName`] and
    /// [`ConfigError::PoolSize`] (as the source of a
    /// [`StoreError::Backend`] with [`Operation::Open`]) for bad options.
    pub fn connect_with(url: &str, options: PgOptions) -> Result<Self, StoreError> {
        let open_error = |error: ConfigError| StoreError::backend(BACKEND, Operation::Open, error);
        if !is_valid_table_name(&options.table) {
            return Err(open_error(ConfigError::TableName { name: options.table }));
        }
        if options.pool_size == 0 {
            return Err(open_error(ConfigError::PoolSize));
        }
        let mut config: postgres::Config = url.parse().map_err(|error: postgres::Error| {
            open_error(ConfigError::ConnectionString {
                reason: error.to_string(),
            })
        })?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("tally");
        }
        Self::create_schema(&config, &options.table)?;
        let pool = Pool::new(
            config,
            Sql::for_table(&options.table),
            options.pool_size,
            options.checkout_timeout,
        );
        let store = PgStore {
            pool,
            table: options.table,
        };
        // Open the first pooled connection now, so a bad server fails here.
        drop(store.checkout(Operation::Open)?);
        Ok(store)
    }

    fn create_schema(config: &postgres::Config, table: &str) -> Result<(), StoreError> {
        let open = |error| pg_error(Operation::Open, error);
        let mut client = config.connect(postgres::NoTls).map_err(open)?;
        // Two processes creating the same table at once can collide in the
        // catalog (unique violation); the loser simply tries again.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match client.batch_execute(&sql::create_schema(table)) {
                Ok(()) => break,
                Err(error)
                    if attempts < 5
                        && matches!(error.code(), Some(code) if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::DUPLICATE_TABLE) =>
                {
                    continue;
                }
                Err(error) => return Err(open(error)),
            }
        }
        let row = client.query_one(&sql::schema_version(), &[&table]).map_err(open)?;
        let version: i32 = row.try_get(0).map_err(open)?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::Corrupt {
                backend: BACKEND,
                detail: format!(
                    "table {table:?} has schema version {version}; this build reads version {SCHEMA_VERSION}"
                ),
            });
        }
        Ok(())
    }

    /// A pooled connection for `operation`, or the typed error saying why none is available.
    fn checkout(&self, operation: Operation) -> Result<pool::Pooled<'_>, StoreError> {
        self.pool.get().map_err(|error| checkout_error(operation, error))
    }

    /// The table this store keeps its keys in.
    pub fn table(&self) -> &str {
        &self.table
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
        pooled
            .connection()
            .client
            .batch_execute(&sql::drop_table(&self.table))
            .map_err(|error| pg_error(Operation::Commit, error))
    }

    fn commit_checked(&self, plan: &Plan<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        let mut pooled = self.checkout(Operation::Commit)?;
        let connection = pooled.connection();
        if !plan.has_writes() {
            let checked_keys: Vec<&[u8]> = plan.checks.keys().copied().collect();
            // Read-only: one consistent snapshot is the whole commit.
            let rows = connection
                .client
                .query(&connection.statements.check, &[&checked_keys])
                .map_err(commit)?;
            let actual = versions_of(&rows)?;
            return match plan.first_violation(&actual) {
                Some(conflict) => Err(StoreError::Conflict(conflict)),
                None => Ok(()),
            };
        }

        let mut transaction = connection.client.transaction().map_err(commit)?;
        transaction
            .execute(&connection.statements.lock, &[&plan.lock_keys])
            .map_err(commit)?;
        let rows = transaction
            .query(&connection.statements.read_locked, &[&plan.lock_keys])
            .map_err(commit)?;
        let mut actual = BTreeMap::new();
        for row in &rows {
            let key: Vec<u8> = row.try_get(0).map_err(commit)?;
            let present: bool = row.try_get(1).map_err(commit)?;
            let version = version_from_sql(row.try_get(2).map_err(commit)?)?;
            if present {
                actual.insert(key, version);
            }
        }
        if let Some(conflict) = plan.first_violation(&actual) {
            // Dropping the transaction rolls it back, placeholders included.
            return Err(StoreError::Conflict(conflict));
        }
        transaction
            .execute(
                &connection.statements.write,
                &[&plan.put_keys, &plan.put_values, &plan.delete_keys, &plan.cleanup_keys],
            )
            .map_err(commit)?;
        transaction.commit().map_err(commit)
    }

    /// One statement: the write happens only if the key is at the expected
    /// version (or absent). When no row changes, reads the key's version to
    /// report the conflict.
    fn commit_single_key_cas(&self, cas: &SingleKeyCas<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        let mut pooled = self.checkout(Operation::Commit)?;
        let connection = pooled.connection();
        let statements = &connection.statements;
        // `single_key_cas` only builds versions that fit a bigint.
        let expected = i64::try_from(cas.expected_version).unwrap_or(i64::MAX);
        let changed = match (cas.value, cas.expected_version) {
            (Some(value), 0) => connection
                .client
                .execute(&statements.put_if_absent, &[&cas.key, &value]),
            (Some(value), _) => connection
                .client
                .execute(&statements.put_if_version, &[&cas.key, &value, &expected]),
            (None, _) => connection
                .client
                .execute(&statements.delete_if_version, &[&cas.key, &expected]),
        }
        .map_err(commit)?;
        if changed == 1 {
            return Ok(());
        }
        let row = connection
            .client
            .query_opt(&statements.get, &[&cas.key])
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

    fn commit_blind(&self, plan: &Plan<'_>) -> Result<(), StoreError> {
        let commit = |error| pg_error(Operation::Commit, error);
        let mut pooled = self.checkout(Operation::Commit)?;
        let connection = pooled.connection();
        // One statement in autocommit is atomic on its own.
        if plan.delete_keys.is_empty() && plan.cleanup_keys.is_empty() {
            connection
                .client
                .execute(&connection.statements.upsert, &[&plan.put_keys, &plan.put_values])
        } else {
            connection.client.execute(
                &connection.statements.write,
                &[&plan.put_keys, &plan.put_values, &plan.delete_keys, &plan.cleanup_keys],
            )
        }
        .map_err(commit)?;
        Ok(())
    }
}

fn versions_of(rows: &[postgres::Row]) -> Result<BTreeMap<Vec<u8>, u64>, StoreError> {
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
        let mut pooled = self.checkout(Operation::Get)?;
        let connection = pooled.connection();
        let row = connection
            .client
            .query_opt(&connection.statements.get, &[&key])
            .map_err(get)?;
        let Some(row) = row else { return Ok(None) };
        let value: Vec<u8> = row.try_get(0).map_err(get)?;
        let version = version_from_sql(row.try_get(1).map_err(get)?)?;
        Ok(Some(Versioned {
            value: Bytes::from(value),
            version,
        }))
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        tally_store::validate_scan(prefix, after, limit)?;
        let scan = |error| pg_error(Operation::Scan, error);
        let mut pooled = self.checkout(Operation::Scan)?;
        let connection = pooled.connection();
        let statements = &connection.statements;
        // One row more than asked tells whether another page follows.
        // `limit` is at most MAX_SCAN_LIMIT, so this cannot overflow.
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1);
        let upper = prefix_successor(prefix);
        let rows = match (after, &upper) {
            (Some(after), Some(upper)) if after >= prefix => connection
                .client
                .query(&statements.scan_after_bounded, &[&after, upper, &fetch]),
            (Some(after), None) if after >= prefix => connection
                .client
                .query(&statements.scan_after_unbounded, &[&after, &fetch]),
            (_, Some(upper)) => connection
                .client
                .query(&statements.scan_from_prefix_bounded, &[&prefix, upper, &fetch]),
            (_, None) => connection
                .client
                .query(&statements.scan_from_prefix_unbounded, &[&prefix, &fetch]),
        }
        .map_err(scan)?;
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
    fn table_names_are_checked() {
        assert!(is_valid_table_name("tally_kv"));
        assert!(is_valid_table_name("_t1"));
        assert!(!is_valid_table_name(""));
        assert!(!is_valid_table_name("1t"));
        assert!(!is_valid_table_name("Tally"));
        assert!(!is_valid_table_name("t; DROP TABLE x"));
        assert!(!is_valid_table_name("t\"x"));
        assert!(!is_valid_table_name(&"t".repeat(64)));
        assert!(is_valid_table_name(&"t".repeat(63)));
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
