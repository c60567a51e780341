//! The durable backends against their raw engines, in the same run.
//!
//! - redb: `RedbStore` next to a `baseline` that writes the same keys and
//!   values straight into a redb table (one write transaction per batch,
//!   immediate durability, no versions, no preconditions).
//! - PostgreSQL: `PgStore` next to a `baseline` that runs one prepared
//!   `INSERT … ON CONFLICT DO UPDATE` over `unnest` of the same rows on one
//!   connection (autocommit), and a prepared `SELECT` for `get`.
//!
//! - Redis (feature `redis`): `RedisStore` next to a `baseline` that writes
//!   the same keys and values with one `MSET` on one connection, and a plain
//!   `GET` for `get`. `MSET` is the cheapest way Redis offers to store the
//!   same bytes atomically in one round trip, so the ratio is the whole
//!   price of what the store adds on top: the Lua script, a version per key,
//!   the precondition checks and the sorted-set index that makes ordered
//!   scans possible. (Running our script without its bookkeeping would
//!   measure a script nobody would write; a `MULTI`/`EXEC` of `SET`s costs
//!   what `MSET` does plus the queueing replies.)
//! - etcd (with `--features etcd`): `EtcdStore` next to a `baseline` that
//!   posts the same puts as one raw etcd transaction (`/v3/kv/txn`, no
//!   compares) through the same HTTP client and JSON gateway, to the same
//!   member, and a raw range read for `get`. Runs when `TALLY_ETCD_ENDPOINTS`
//!   names a cluster that takes 1,000-key transactions (the one
//!   `crates/tally-store-etcd/tests/etcd-cluster.sh` starts); skipped with a
//!   note otherwise.
//!
//! `tally` is the plain batch of puts; `tally_checked` adds a precondition
//! on every key (the read-modify-write path `transact` uses), which on
//! PostgreSQL takes row locks in a transaction.
//!
//! Run with `cargo bench --features postgres,redis,etcd --bench backends`, then
//! `python3 benches/ratios.py` prints each ratio. PostgreSQL groups run when
//! `TALLY_PG_URL` is set (or the local default server answers); otherwise
//! they are skipped with a note; likewise the Redis groups and
//! `TALLY_REDIS_URL` (default `redis://127.0.0.1:6379/`). The default URL says `sslmode=disable`:
//! the baseline speaks plaintext, so `PgStore` must too for the ratio to
//! measure the store and not TLS (by default `PgStore` uses TLS whenever the
//! server offers it, as libpq does).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use redb::{ReadableDatabase, TableDefinition};
use tally::postgres::{PgOptions, PgStore};
use tally::redb::RedbStore;
use tally::store::{Batch, Store};

const VALUE_BYTES: usize = 100;
const BATCH_SIZES: [u64; 3] = [1, 100, 1_000];
const RAW_TABLE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("raw");

fn key(i: u64) -> Vec<u8> {
    let mut key = b"bench/ke".to_vec();
    key.extend_from_slice(&i.to_be_bytes());
    key
}

fn value(i: u64) -> Vec<u8> {
    let mut value = vec![0x5a; VALUE_BYTES];
    value[..8].copy_from_slice(&i.to_be_bytes());
    value
}

fn rows(n: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    ((0..n).map(key).collect(), (0..n).map(value).collect())
}

fn puts(n: u64) -> Batch {
    let mut batch = Batch::with_capacity(n as usize);
    for i in 0..n {
        batch.put(key(i), value(i));
    }
    batch
}

/// A batch that expects every key at the version it has now.
fn checked_puts<S: Store>(store: &S, n: u64) -> Batch {
    let mut batch = puts(n);
    for i in 0..n {
        let version = store.get(&key(i)).unwrap().map_or(0, |found| found.version);
        batch.expect_version(key(i), version);
    }
    batch
}

/// `{engine}_commit_{n}_keys` for every batch size: the raw engine writing
/// the same rows (`baseline`), tally's plain puts, and tally's checked puts.
fn commit_groups<S: Store>(
    c: &mut Criterion,
    engine: &str,
    store: &S,
    mut raw_upsert: impl FnMut(&[Vec<u8>], &[Vec<u8>]),
) {
    for n in BATCH_SIZES {
        let mut group = c.benchmark_group(format!("{engine}_commit_{n}_keys"));
        group.throughput(Throughput::Elements(n));
        let (keys, values) = rows(n);
        group.bench_function("baseline", |b| {
            b.iter(|| raw_upsert(black_box(&keys), black_box(&values)))
        });
        group.bench_function("tally", |b| b.iter(|| store.commit(black_box(puts(n))).unwrap()));
        // The reads that build the checked batch are setup, not timed.
        group.bench_function("tally_checked", |b| {
            b.iter_batched(
                || checked_puts(store, n),
                |batch| store.commit(batch).unwrap(),
                BatchSize::PerIteration,
            )
        });
        group.finish();
    }
}

fn redb_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("tally.redb")).unwrap();
    let raw = redb::Database::create(dir.path().join("raw.redb")).unwrap();
    let raw_insert = |keys: &[Vec<u8>], values: &[Vec<u8>]| {
        let txn = raw.begin_write().unwrap();
        {
            let mut table = txn.open_table(RAW_TABLE).unwrap();
            for (key, value) in keys.iter().zip(values) {
                table.insert(&key[..], &value[..]).unwrap();
            }
        }
        txn.commit().unwrap();
    };
    // Preload, so each group (and `get`) works when run alone with a filter.
    let (keys, values) = rows(1_000);
    raw_insert(&keys, &values);
    store.commit(puts(1_000)).unwrap();

    commit_groups(c, "redb", &store, |keys, values| raw_insert(keys, values));

    let mut group = c.benchmark_group("redb_get");
    let probe = key(7);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let txn = raw.begin_read().unwrap();
            let table = txn.open_table(RAW_TABLE).unwrap();
            let found = table.get(&black_box(&probe)[..]).unwrap().unwrap();
            black_box(tally::store::bytes::Bytes::copy_from_slice(found.value()))
        })
    });
    group.bench_function("tally", |b| b.iter(|| black_box(store.get(black_box(&probe)).unwrap())));
    group.finish();
}

fn pg_url() -> Option<String> {
    let url = std::env::var("TALLY_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into());
    match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(_) => Some(url),
        Err(error) => {
            eprintln!("SKIPPED PostgreSQL benches: cannot connect to {url}: {error}");
            None
        }
    }
}

fn postgres_benches(c: &mut Criterion) {
    let Some(url) = pg_url() else { return };
    let suffix = std::process::id();
    let tally_table = format!("tally_bench_{suffix}");
    let raw_table = format!("tally_bench_raw_{suffix}");
    let store = PgStore::connect_with(
        &url,
        PgOptions {
            table: tally_table,
            pool_size: 1,
            ..PgOptions::default()
        },
    )
    .unwrap();
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.batch_execute(&format!(
        "CREATE TABLE {raw_table} (key bytea PRIMARY KEY, value bytea NOT NULL)"
    ))
    .unwrap();
    let upsert = raw
        .prepare(&format!(
            "INSERT INTO {raw_table} (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[])
             ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        ))
        .unwrap();
    let select = raw
        .prepare(&format!("SELECT value FROM {raw_table} WHERE key = $1"))
        .unwrap();
    // Preload, so each group (and `get`) works when run alone with a filter.
    let (keys, values) = rows(1_000);
    raw.execute(&upsert, &[&keys, &values]).unwrap();
    store.commit(puts(1_000)).unwrap();

    commit_groups(c, "pg", &store, |keys, values| {
        raw.execute(&upsert, &[&keys, &values]).unwrap();
    });

    let mut group = c.benchmark_group("pg_get");
    let probe = key(7);
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let row = raw.query_one(&select, &[black_box(&probe)]).unwrap();
            black_box(row.get::<_, Vec<u8>>(0))
        })
    });
    group.bench_function("tally", |b| b.iter(|| black_box(store.get(black_box(&probe)).unwrap())));
    group.finish();

    raw.batch_execute(&format!("DROP TABLE {raw_table}")).unwrap();
    store.drop_table().unwrap();
}

#[cfg(feature = "redis")]
fn redis_benches(c: &mut Criterion) {
    use tally::redis::{RedisOptions, RedisStore};

    let url = std::env::var("TALLY_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let mut raw = match redis::Client::open(url.as_str()).and_then(|client| client.get_connection()) {
        Ok(raw) => raw,
        Err(error) => {
            eprintln!("SKIPPED Redis benches: cannot connect to {url}: {error}");
            return;
        }
    };
    let suffix = std::process::id();
    let store = RedisStore::connect_with(
        &url,
        RedisOptions {
            prefix: format!("tally-bench/{suffix}"),
            pool_size: 1,
            ..RedisOptions::default()
        },
    )
    .unwrap();
    // The raw keys get a prefix of their own, the same length as the store's data keys'.
    let raw_prefix = format!("tally-bench-raw/{suffix}:k:").into_bytes();
    let raw_key = |key: &[u8]| [raw_prefix.as_slice(), key].concat();
    let mut raw_mset = |keys: &[Vec<u8>], values: &[Vec<u8>]| {
        let mut command = redis::cmd("MSET");
        for (key, value) in keys.iter().zip(values) {
            command.arg(raw_key(key)).arg(value);
        }
        command.query::<()>(&mut raw).unwrap();
    };
    // Preload, so each group (and `get`) works when run alone with a filter.
    let (keys, values) = rows(1_000);
    raw_mset(&keys, &values);
    store.commit(puts(1_000)).unwrap();

    commit_groups(c, "redis", &store, &mut raw_mset);

    let mut group = c.benchmark_group("redis_get");
    let probe = key(7);
    let raw_probe = raw_key(&probe);
    let mut raw = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let found: Vec<u8> = redis::cmd("GET").arg(black_box(&raw_probe)).query(&mut raw).unwrap();
            black_box(tally::store::bytes::Bytes::from(found))
        })
    });
    group.bench_function("tally", |b| b.iter(|| black_box(store.get(black_box(&probe)).unwrap())));
    group.finish();

    let raw_keys: Vec<Vec<u8>> = keys.iter().map(|key| raw_key(key)).collect();
    redis::cmd("UNLINK").arg(&raw_keys).query::<()>(&mut raw).unwrap();
    store.remove_all().unwrap();
}

#[cfg(not(feature = "redis"))]
fn redis_benches(_: &mut Criterion) {
    eprintln!("SKIPPED Redis benches: built without the `redis` feature");
}

/// The etcd groups: `EtcdStore` against raw transactions and ranges sent
/// through the same HTTP client to the same member.
#[cfg(feature = "etcd")]
fn etcd_benches(c: &mut Criterion) {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use tally::etcd::{EtcdLimits, EtcdOptions, EtcdStore};

    let Ok(endpoints) = std::env::var("TALLY_ETCD_ENDPOINTS") else {
        eprintln!("SKIPPED etcd benches: TALLY_ETCD_ENDPOINTS is not set");
        return;
    };
    let suffix = std::process::id();
    let store = match EtcdStore::connect_with(
        &endpoints,
        EtcdOptions {
            prefix: format!("tally-bench/{suffix}/").into_bytes(),
            server_limits: EtcdLimits::RAISED,
            ..EtcdOptions::default()
        },
    ) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("SKIPPED etcd benches: {error}");
            return;
        }
    };
    // The member the store calls first (the first one, all being healthy).
    let member = store.endpoints()[0].clone();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    let raw_prefix = format!("tally-bench-raw/{suffix}/").into_bytes();
    let raw_key = |key: &[u8]| STANDARD.encode([&raw_prefix[..], key].concat());
    let post = |path: &str, body: &serde_json::Value| -> serde_json::Value {
        let mut response = agent
            .post(format!("{member}{path}"))
            .header("Grpc-Metadata-hasleader", "true")
            .content_type("application/json")
            .send(&serde_json::to_vec(body).unwrap()[..])
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_slice(&response.body_mut().with_config().limit(1 << 30).read_to_vec().unwrap()).unwrap()
    };
    let raw_txn = |keys: &[Vec<u8>], values: &[Vec<u8>]| {
        let success: Vec<serde_json::Value> = keys
            .iter()
            .zip(values)
            .map(|(key, value)| serde_json::json!({"request_put": {"key": raw_key(key), "value": STANDARD.encode(value)}}))
            .collect();
        let answer = post("/v3/kv/txn", &serde_json::json!({ "success": success }));
        assert_eq!(answer["succeeded"], true);
    };
    // Preload, so each group (and `get`) works when run alone with a filter.
    let (keys, values) = rows(1_000);
    raw_txn(&keys, &values);
    store.commit(puts(1_000)).unwrap();

    commit_groups(c, "etcd", &store, |keys, values| raw_txn(keys, values));

    let mut group = c.benchmark_group("etcd_get");
    let probe = key(7);
    let raw_probe = serde_json::json!({ "key": raw_key(&probe) });
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let answer = post("/v3/kv/range", black_box(&raw_probe));
            let value = STANDARD.decode(answer["kvs"][0]["value"].as_str().unwrap()).unwrap();
            black_box(tally::store::bytes::Bytes::from(value))
        })
    });
    group.bench_function("tally", |b| b.iter(|| black_box(store.get(black_box(&probe)).unwrap())));
    group.finish();

    let raw_end = {
        let mut end = raw_prefix.clone();
        *end.last_mut().unwrap() += 1;
        STANDARD.encode(end)
    };
    post(
        "/v3/kv/deleterange",
        &serde_json::json!({"key": STANDARD.encode(&raw_prefix), "range_end": raw_end}),
    );
    store.delete_all().unwrap();
}

#[cfg(not(feature = "etcd"))]
fn etcd_benches(_: &mut Criterion) {
    eprintln!("SKIPPED etcd benches: built without the etcd feature (cargo bench --features postgres,etcd)");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = redb_benches, postgres_benches, redis_benches, etcd_benches
}
criterion_main!(benches);
