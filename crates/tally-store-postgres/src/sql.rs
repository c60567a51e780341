//! Every SQL statement the store runs, for one table.
//!
//! Only plain SQL, a small subset meant to be portable to Postgres-compatible
//! distributed engines (but tested on PostgreSQL only; see the crate docs):
//! `INSERT … ON CONFLICT`, `unnest` of arrays, data-modifying `WITH`, and
//! `ORDER BY … LIMIT`. No advisory locks, no PL/pgSQL, no LISTEN/NOTIFY, no
//! sequences.
//!
//! Rows: `key bytea PRIMARY KEY, value bytea, version bigint NOT NULL`. A row
//! whose `value` is NULL is absent to readers: either a *tombstone* (the key
//! was deleted; its version is kept so a later write goes above it) or a
//! *placeholder* with version 0 (inserted by a commit only to lock a key that
//! does not exist; removed by the same commit).

/// The statements for one table.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub(crate) get: String,
    pub(crate) scan_from_prefix_bounded: String,
    pub(crate) scan_from_prefix_unbounded: String,
    pub(crate) scan_after_bounded: String,
    pub(crate) scan_after_unbounded: String,
    pub(crate) lock: String,
    pub(crate) read_locked: String,
    pub(crate) check: String,
    pub(crate) write: String,
    pub(crate) upsert: String,
    pub(crate) put_if_version: String,
    pub(crate) delete_if_version: String,
    pub(crate) put_if_absent: String,
    pub(crate) get_many: String,
    pub(crate) guarded_write: String,
}

/// The table that records which tables hold tally data, and their schema version.
pub(crate) const SCHEMA_TABLE: &str = "tally_schema";

pub(crate) fn create_schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (
             table_name text PRIMARY KEY,
             schema_version integer NOT NULL
         );
         CREATE TABLE IF NOT EXISTS \"{table}\" (
             key bytea PRIMARY KEY,
             value bytea,
             version bigint NOT NULL
         );
         INSERT INTO {SCHEMA_TABLE} (table_name, schema_version)
             VALUES ('{table}', {version})
             ON CONFLICT (table_name) DO NOTHING;",
        version = crate::SCHEMA_VERSION
    )
}

pub(crate) fn schema_version() -> String {
    format!("SELECT schema_version FROM {SCHEMA_TABLE} WHERE table_name = $1")
}

pub(crate) fn drop_table(table: &str) -> String {
    format!(
        "DROP TABLE IF EXISTS \"{table}\";
         DELETE FROM {SCHEMA_TABLE} WHERE table_name = '{table}';"
    )
}

impl Sql {
    /// `table` must already be validated (lowercase letters, digits, `_`).
    pub(crate) fn for_table(table: &str) -> Self {
        let t = format!("\"{table}\"");
        let scan = |lower: &str, upper: bool| {
            let (upper, limit) = if upper { (" AND key < $2", "$3") } else { ("", "$2") };
            format!(
                "SELECT key, value, version FROM {t}
                 WHERE key {lower} $1{upper} AND value IS NOT NULL
                 ORDER BY key LIMIT {limit}"
            )
        };
        Sql {
            get: format!("SELECT value, version FROM {t} WHERE key = $1 AND value IS NOT NULL"),
            // Every key of a get_many in one statement (one snapshot).
            get_many: format!("SELECT key, value, version FROM {t} WHERE key = ANY($1::bytea[]) AND value IS NOT NULL"),
            // A batch guarded by one key it also writes (the shape of a
            // domain commit guarded by its head record), in one autocommit
            // statement: the guard's compare-and-set (an UPDATE, which waits
            // for a concurrent writer of the row and re-checks the version
            // against its result), and every other write only if the guard
            // matched. The row lock on the guard is held to the end of the
            // statement, so no commit that writes or locks the guard can
            // slip in between the check and the writes.
            guarded_write: format!(
                "WITH guard AS (
                     UPDATE {t} SET value = $1, version = version + 1
                     WHERE key = $2 AND version = $3 AND value IS NOT NULL
                     RETURNING key
                 ), tombstones AS (
                     UPDATE {t} SET value = NULL, version = version + 1
                     WHERE key = ANY($6::bytea[]) AND value IS NOT NULL AND EXISTS (SELECT 1 FROM guard)
                 ), puts AS (
                     INSERT INTO {t} AS t (key, value, version)
                     SELECT k, v, 1 FROM unnest($4::bytea[], $5::bytea[]) AS u(k, v)
                     WHERE EXISTS (SELECT 1 FROM guard)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = t.version + 1
                 )
                 SELECT count(*) FROM guard"
            ),
            scan_from_prefix_bounded: scan(">=", true),
            scan_from_prefix_unbounded: scan(">=", false),
            scan_after_bounded: scan(">", true),
            scan_after_unbounded: scan(">", false),
            // Locks every key the batch checks or writes, creating a
            // placeholder row for a key that has none so that absent keys are
            // locked too. `DO UPDATE … WHERE false` waits for a concurrent
            // writer of the row and locks it without rewriting it. Keys
            // arrive sorted, so two commits always lock in the same order.
            lock: format!(
                "INSERT INTO {t} AS t (key, value, version)
                 SELECT k, NULL, 0 FROM unnest($1::bytea[]) AS k
                 ON CONFLICT (key) DO UPDATE SET version = t.version WHERE false"
            ),
            // Run after `lock` in the same transaction: a new READ COMMITTED
            // snapshot, taken while we hold every lock, so it shows the
            // committed state nobody else can change before we commit.
            read_locked: format!("SELECT key, value IS NOT NULL, version FROM {t} WHERE key = ANY($1::bytea[])"),
            // A batch with preconditions and no writes: one consistent read.
            check: format!("SELECT key, version FROM {t} WHERE key = ANY($1::bytea[]) AND value IS NOT NULL"),
            // The whole write set in one statement: drop this commit's
            // placeholders, tombstone the deleted keys, upsert the puts. The
            // three key sets are disjoint and each version goes up by one
            // from the row's last version (tombstones included), so a key
            // never gets a version it had before.
            write: format!(
                "WITH cleanup AS (
                     DELETE FROM {t} WHERE key = ANY($4::bytea[]) AND version = 0
                 ), tombstones AS (
                     UPDATE {t} SET value = NULL, version = version + 1
                     WHERE key = ANY($3::bytea[]) AND value IS NOT NULL
                 )
                 INSERT INTO {t} AS t (key, value, version)
                 SELECT k, v, 1 FROM unnest($1::bytea[], $2::bytea[]) AS u(k, v)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = t.version + 1"
            ),
            // The write statement for batches that only put: no CTEs to plan.
            upsert: format!(
                "INSERT INTO {t} AS t (key, value, version)
                 SELECT k, v, 1 FROM unnest($1::bytea[], $2::bytea[]) AS u(k, v)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = t.version + 1"
            ),
            // Single-key compare-and-set, one statement each. An UPDATE in
            // READ COMMITTED waits for a concurrent writer of the row and
            // re-checks its WHERE against the committed result, so the check
            // and the write are one atomic step.
            put_if_version: format!(
                "UPDATE {t} SET value = $2, version = version + 1
                 WHERE key = $1 AND version = $3 AND value IS NOT NULL"
            ),
            delete_if_version: format!(
                "UPDATE {t} SET value = NULL, version = version + 1
                 WHERE key = $1 AND version = $2 AND value IS NOT NULL"
            ),
            // Writes the key only if it is absent: a new row, or a
            // tombstone brought back above its old version.
            put_if_absent: format!(
                "INSERT INTO {t} AS t (key, value, version) VALUES ($1, $2, 1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = t.version + 1
                 WHERE t.value IS NULL"
            ),
        }
    }
}
