//! `Ledger::create_transfers` on MemStore, on durable redb and on
//! PostgreSQL, each group against its baseline measured in the same run.
//!
//! Workload (TigerBeetle's benchmark shape): 10,000 accounts, debit and
//! credit account drawn uniformly, time-ordered (increasing) transfer ids,
//! the ledger growing as the benchmark runs.
//!
//! On MemStore:
//!
//! - `batched` (8,189 transfers per call, one commit):
//!   - `baseline`: the storage floor: one raw `MemStore` commit with the
//!     same writes the ledger makes for such a batch (every touched bucket
//!     of 64 transfers, every touched bucket of 64 accounts with its
//!     account-index chunk, one journal page, the head under one
//!     precondition), values of the same sizes pre-encoded: what is left
//!     when the rules, the reads and the encoding cost nothing;
//!   - `single_phase`: the ledger, 8,189 single-phase transfers.
//! - `one_per_call`: the same for one transfer per call (`baseline` = one
//!   raw commit of one transfer's writes).
//! - `two_phase` (per 8,189 transfers): `baseline` = the single-phase batch;
//!   `pending_then_post` = a batch of 8,189 pending transfers, then a batch
//!   posting all of them. Goal: at most 2.5x the baseline.
//!
//! Durable (group `durable`, needs the `redb` and `postgres` features):
//!
//! - `redb_durable`: TigerBeetle's shape on redb, every commit fsynced:
//!   `baseline` = bare redb writing exactly the bytes the ledger writes
//!   (recorded from it) in one durable transaction per batch; `ledger` =
//!   `Ledger<RedbStore>`, 8,189 transfers per call. TigerBeetle's own
//!   `benchmark` did 300,000 to 420,000 transfers/s on the machine this was
//!   written on (a quoted figure, not measured here). Goal: match it.
//! - `postgres` (skipped, with a note, when no server answers at
//!   `TALLY_PG_URL`, default the local one): `baseline` = the naive way, 8
//!   clients at once, one SQL transaction per transfer (a guarded
//!   `UPDATE … SET balance = balance - $1 WHERE id = $2 AND balance >= $1`,
//!   the credit, a journal `INSERT`); `naive_1_client` = the same on one
//!   connection; `ledger` = `Ledger<PgStore>`, 8,189 transfers per call;
//!   `group_commit_64_threads` = 64 threads making one-transfer calls
//!   through `LedgerClient`. Goal: the ledger at least 20x the better naive
//!   rate. Mind the units: `ledger`'s iteration is 8,189 transfers, the
//!   others' one, so compare criterion's throughput (elements/s), not the
//!   per-iteration ratio `ratios.py` prints.
//!
//! The ledgers grow as the benchmark runs, so later iterations work on a
//! bigger store than earlier ones.
//!
//! Goal: >= 1,000,000 transfers/s batched on MemStore. Run with
//! `cargo bench --bench ledger --features ledger,redb,postgres` (only the
//! durable groups: add `-- 'redb_durable|postgres'`), then
//! `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark code")]

use std::cell::{Cell, RefCell};
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tally::ledger::{AMOUNT_MAX, Account, BATCH_EVENTS_MAX, Ledger, LedgerClient, NS_PER_S, Transfer, TransferFlags};
use tally::postgres::{PgOptions, PgStore};
use tally::redb::RedbStore;
use tally::store::bytes::Bytes;
use tally::store::key::KeyBuilder;
use tally::store::{Batch, MemStore, Op, Page, Store, StoreError, Versioned};

const ACCOUNTS: u64 = 10_000;

/// SplitMix64, for reproducible account pairs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pair(&mut self) -> (u128, u128) {
        let debit = 1 + self.next() % ACCOUNTS;
        let mut credit = 1 + self.next() % ACCOUNTS;
        if credit == debit {
            credit = 1 + debit % ACCOUNTS;
        }
        (u128::from(debit), u128::from(credit))
    }
}

struct Workload<S = MemStore> {
    ledger: Ledger<S>,
    rng: RefCell<Rng>,
    next_id: Cell<u128>,
    now_ns: Cell<u64>,
}

impl Workload<MemStore> {
    fn new() -> Self {
        Workload::on(MemStore::new())
    }
}

impl<S: Store> Workload<S> {
    fn on(store: S) -> Self {
        let ledger = Ledger::new(store);
        let now_ns = 1_700_000_000 * NS_PER_S;
        let accounts: Vec<Account> = (1..=u128::from(ACCOUNTS)).map(|id| Account::new(id, 1, 1)).collect();
        for chunk in accounts.chunks(BATCH_EVENTS_MAX) {
            ledger.create_accounts(chunk, now_ns).unwrap();
        }
        Workload {
            ledger,
            rng: RefCell::new(Rng(42)),
            next_id: Cell::new(1),
            now_ns: Cell::new(now_ns + NS_PER_S),
        }
    }

    fn id(&self) -> u128 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    fn tick(&self) -> u64 {
        let now = self.now_ns.get() + 1_000_000;
        self.now_ns.set(now);
        now
    }

    fn batch(&self, count: usize, flags: TransferFlags) -> Vec<Transfer> {
        let mut rng = self.rng.borrow_mut();
        (0..count)
            .map(|_| {
                let (debit, credit) = rng.pair();
                Transfer::new(self.id(), debit, credit, 1 + u128::from(rng.next() % 100), 1, 1).with_flags(flags)
            })
            .collect()
    }
}

/// The raw writes of a batch of `count` transfers, as the ledger lays them
/// out (buckets of 64 records: see tally-ledger's key layout), with values
/// of the right sizes encoded once up front.
struct Floor {
    store: MemStore,
    namespace: Vec<u8>,
    transfer_bucket: Bytes,
    account_bucket: Bytes,
    index_chunk: Bytes,
    journal_value: Bytes,
    head_value: Bytes,
    rng: Rng,
    next_id: u128,
    timestamp: u64,
}

impl Floor {
    fn new(count: usize) -> Self {
        let slot = (u128::MAX / 3, Transfer::new(u128::MAX / 3, 1234, 5678, 99, 1, 1));
        let transfers = vec![slot; 64.min(count)];
        let accounts = vec![Account::new(1234, 1, 1); 64.min(2 * count)];
        let per_chunk = (2 * count).div_ceil(157).max(1);
        let chunk = vec![(1234u128, 1u64 << 60, u128::MAX / 3); per_chunk];
        let journal: Vec<Transfer> = (0..count)
            .map(|i| Transfer::new(i as u128, 1234, 5678, 99, 1, 1))
            .collect();
        let encode = |bytes: Vec<u8>| Bytes::from(bytes);
        let head = Floor {
            store: MemStore::new(),
            namespace: KeyBuilder::new("ledger").build(),
            transfer_bucket: encode(tally::store::codec::encode(&transfers).unwrap()),
            account_bucket: encode(tally::store::codec::encode(&accounts).unwrap()),
            index_chunk: encode(tally::store::codec::encode(&chunk).unwrap()),
            journal_value: encode(tally::store::codec::encode(&journal).unwrap()),
            head_value: encode(tally::store::codec::encode(&(1u64, 2u64, 3u64, 4u64, 5u64)).unwrap()),
            rng: Rng(42),
            next_id: 1,
            timestamp: 1,
        };
        let mut batch = Batch::new();
        batch.put(head.key(b'H', &[]), head.head_value.clone());
        head.store.commit(batch).unwrap();
        head
    }

    fn key(&self, tag: u8, parts: &[&[u8]]) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.namespace.len() + 1 + 24);
        key.extend_from_slice(&self.namespace);
        key.push(tag);
        for part in parts {
            key.extend_from_slice(part);
        }
        key
    }

    fn commit(&mut self, count: usize) {
        let head_key = self.key(b'H', &[]);
        let version = self.store.get(&head_key).unwrap().unwrap().version;
        let mut batch = Batch::with_capacity(count / 32 + 400);
        batch.expect_version(head_key.clone(), version);
        let mut transfer_buckets = std::collections::BTreeSet::new();
        let mut account_buckets = std::collections::BTreeSet::new();
        for _ in 0..count {
            transfer_buckets.insert(self.next_id >> 6);
            self.next_id += 1;
            self.timestamp += 1;
            let (debit, credit) = self.rng.pair();
            account_buckets.insert(debit >> 6);
            account_buckets.insert(credit >> 6);
        }
        for bucket in transfer_buckets {
            batch.put(self.key(b'T', &[&bucket.to_be_bytes()]), self.transfer_bucket.clone());
        }
        let ts = self.timestamp.to_be_bytes();
        for bucket in account_buckets {
            batch.put(self.key(b'X', &[&bucket.to_be_bytes(), &ts]), self.index_chunk.clone());
            batch.put(self.key(b'A', &[&bucket.to_be_bytes()]), self.account_bucket.clone());
        }
        batch.put(
            self.key(b'J', &[&self.timestamp.to_be_bytes()]),
            self.journal_value.clone(),
        );
        batch.put(head_key, self.head_value.clone());
        self.store.commit(batch).unwrap();
    }
}

fn batched(c: &mut Criterion) {
    let mut group = c.benchmark_group("batched");
    group.throughput(Throughput::Elements(BATCH_EVENTS_MAX as u64));
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    let mut floor = Floor::new(BATCH_EVENTS_MAX);
    group.bench_function("baseline", |b| b.iter(|| floor.commit(BATCH_EVENTS_MAX)));
    drop(floor);
    let workload = Workload::new();
    group.bench_function("single_phase", |b| {
        b.iter_batched(
            || workload.batch(BATCH_EVENTS_MAX, TransferFlags::NONE),
            |batch| black_box(workload.ledger.create_transfers(&batch, workload.tick()).unwrap()),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn one_per_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_per_call");
    group.throughput(Throughput::Elements(1));
    let mut floor = Floor::new(1);
    group.bench_function("baseline", |b| b.iter(|| floor.commit(1)));
    let workload = Workload::new();
    group.bench_function("single_phase", |b| {
        b.iter_batched(
            || workload.batch(1, TransferFlags::NONE),
            |batch| black_box(workload.ledger.create_transfers(&batch, workload.tick()).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn two_phase(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_phase");
    group.throughput(Throughput::Elements(BATCH_EVENTS_MAX as u64));
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    // Each function on a fresh ledger of its own, so neither pays for the
    // other's history.
    let workload = Workload::new();
    group.bench_function("baseline", |b| {
        b.iter_batched(
            || workload.batch(BATCH_EVENTS_MAX, TransferFlags::NONE),
            |batch| black_box(workload.ledger.create_transfers(&batch, workload.tick()).unwrap()),
            BatchSize::PerIteration,
        )
    });
    drop(workload);
    let workload = Workload::new();
    group.bench_function("pending_then_post", |b| {
        b.iter_batched(
            || {
                let pending = workload.batch(BATCH_EVENTS_MAX, TransferFlags::PENDING);
                let posts: Vec<Transfer> = pending
                    .iter()
                    .map(|p| Transfer::post(workload.id(), p.id, AMOUNT_MAX))
                    .collect();
                (pending, posts)
            },
            |(pending, posts)| {
                black_box(workload.ledger.create_transfers(&pending, workload.tick()).unwrap());
                black_box(workload.ledger.create_transfers(&posts, workload.tick()).unwrap())
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A store that keeps a copy of every batch it commits, to replay the same
/// bytes into a bare database.
struct Recorder<S> {
    inner: S,
    batches: Mutex<Vec<Batch>>,
}

impl<S: Store> Store for Recorder<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.batches.lock().unwrap().push(batch.clone());
        self.inner.commit(batch)
    }
}

/// The commits of `count` batches of 8,189 transfers, exactly as the ledger
/// makes them (recorded on a MemStore).
fn recorded_batches(count: usize) -> Vec<Batch> {
    let workload = Workload::on(Recorder {
        inner: MemStore::new(),
        batches: Mutex::new(Vec::new()),
    });
    workload.ledger.store().batches.lock().unwrap().clear();
    for _ in 0..count {
        let batch = workload.batch(BATCH_EVENTS_MAX, TransferFlags::NONE);
        workload.ledger.create_transfers(&batch, workload.tick()).unwrap();
    }
    std::mem::take(&mut *workload.ledger.store().batches.lock().unwrap())
}

const RAW_TABLE: redb::TableDefinition<'_, &[u8], &[u8]> = redb::TableDefinition::new("raw");

/// TigerBeetle's benchmark shape on redb with durable commits (each commit
/// fsynced before it returns): 10,000 accounts, uniform, batches of 8,189,
/// time-ordered ids.
///
/// - `baseline`: bare redb (no tally) writing, durably, exactly the keys
///   and values the ledger writes for such a batch (recorded from the
///   ledger), one write transaction per batch: the floor of the storage;
/// - `ledger`: `Ledger<RedbStore>` (durable), 8,189 transfers per call.
///
/// TigerBeetle's own `benchmark` did 300,000 to 420,000 transfers/s on
/// this machine (quoted; not measured in this run).
fn redb_durable(c: &mut Criterion) {
    let mut group = c.benchmark_group("redb_durable");
    group.throughput(Throughput::Elements(BATCH_EVENTS_MAX as u64));
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();

    let raw = redb::Database::create(dir.path().join("raw.redb")).unwrap();
    let recorded = recorded_batches(24);
    let mut next = 0;
    group.bench_function("baseline", |b| {
        b.iter(|| {
            let batch = &recorded[next % recorded.len()];
            next += 1;
            let txn = raw.begin_write().unwrap();
            {
                let mut table = txn.open_table(RAW_TABLE).unwrap();
                for op in batch.ops() {
                    match op {
                        Op::Put { key, value } => {
                            table.insert(&key[..], &value[..]).unwrap();
                        }
                        Op::Delete { key } => {
                            table.remove(&key[..]).unwrap();
                        }
                    }
                }
            }
            txn.commit().unwrap();
        })
    });
    drop(raw);

    let workload = Workload::on(RedbStore::open(dir.path().join("ledger.redb")).unwrap());
    group.bench_function("ledger", |b| {
        b.iter_batched(
            || workload.batch(BATCH_EVENTS_MAX, TransferFlags::NONE),
            |batch| black_box(workload.ledger.create_transfers(&batch, workload.tick()).unwrap()),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn pg_url() -> Option<String> {
    let url = std::env::var("TALLY_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match postgres::Client::connect(&url, postgres::NoTls) {
        Ok(_) => Some(url),
        Err(error) => {
            eprintln!("SKIPPED PostgreSQL benches: cannot connect to {url}: {error}");
            None
        }
    }
}

/// The naive way (what TiMPE-style systems do): one SQL transaction per
/// transfer on a table of balances.
struct Naive {
    clients: Vec<Mutex<postgres::Client>>,
    accounts_table: String,
    journal_table: String,
    rng: Mutex<Rng>,
}

impl Naive {
    fn new(url: &str, clients: usize) -> Self {
        let suffix = std::process::id();
        let accounts_table = format!("naive_accounts_{suffix}");
        let journal_table = format!("naive_journal_{suffix}");
        let mut setup = postgres::Client::connect(url, postgres::NoTls).unwrap();
        setup
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {accounts_table}, {journal_table};
                 CREATE TABLE {accounts_table} (id bigint PRIMARY KEY, balance bigint NOT NULL);
                 CREATE TABLE {journal_table} (id bigserial PRIMARY KEY, debit bigint NOT NULL,
                     credit bigint NOT NULL, amount bigint NOT NULL);
                 INSERT INTO {accounts_table} SELECT id, 1000000000000 FROM generate_series(1, {ACCOUNTS}) AS id;"
            ))
            .unwrap();
        Naive {
            clients: (0..clients)
                .map(|_| Mutex::new(postgres::Client::connect(url, postgres::NoTls).unwrap()))
                .collect(),
            accounts_table,
            journal_table,
            rng: Mutex::new(Rng(7)),
        }
    }

    /// One transfer in one SQL transaction: the guarded debit, the credit,
    /// the journal row. A deadlock (two transfers locking the same two
    /// rows in opposite orders) is retried, as such systems do.
    fn transfer(&self, client: &mut postgres::Client, debit: i64, credit: i64, amount: i64) {
        let debit_sql = format!(
            "UPDATE {} SET balance = balance - $1 WHERE id = $2 AND balance >= $1",
            self.accounts_table
        );
        let credit_sql = format!(
            "UPDATE {} SET balance = balance + $1 WHERE id = $2",
            self.accounts_table
        );
        let journal_sql = format!(
            "INSERT INTO {} (debit, credit, amount) VALUES ($1, $2, $3)",
            self.journal_table
        );
        loop {
            let mut txn = client.transaction().unwrap();
            let outcome = (|| {
                if txn.execute(debit_sql.as_str(), &[&amount, &debit])? == 0 {
                    return Ok(false);
                }
                txn.execute(credit_sql.as_str(), &[&amount, &credit])?;
                txn.execute(journal_sql.as_str(), &[&debit, &credit, &amount])?;
                Ok::<_, postgres::Error>(true)
            })();
            match outcome {
                Ok(true) => {
                    txn.commit().unwrap();
                    return;
                }
                Ok(false) => panic!("the naive accounts ran dry"),
                Err(error) if error.code() == Some(&postgres::error::SqlState::T_R_DEADLOCK_DETECTED) => {
                    drop(txn);
                }
                Err(error) => panic!("{error}"),
            }
        }
    }

    /// `transfers` transfers spread over `clients` clients at once.
    fn run(&self, clients: usize, transfers: u64) -> Duration {
        let pairs: Vec<Vec<(i64, i64, i64)>> = {
            let mut rng = self.rng.lock().unwrap();
            (0..clients)
                .map(|client| {
                    let share = transfers / clients as u64 + u64::from((client as u64) < transfers % clients as u64);
                    (0..share)
                        .map(|_| {
                            let (debit, credit) = rng.pair();
                            (debit as i64, credit as i64, 1 + (rng.next() % 100) as i64)
                        })
                        .collect()
                })
                .collect()
        };
        let started = Instant::now();
        std::thread::scope(|scope| {
            for (client, work) in self.clients.iter().take(clients).zip(&pairs) {
                scope.spawn(move || {
                    let mut client = client.lock().unwrap();
                    for &(debit, credit, amount) in work {
                        self.transfer(&mut client, debit, credit, amount);
                    }
                });
            }
        });
        started.elapsed()
    }

    fn drop_tables(&self) {
        let mut client = self.clients[0].lock().unwrap();
        client
            .batch_execute(&format!("DROP TABLE {}, {}", self.accounts_table, self.journal_table))
            .unwrap();
    }
}

/// The ledger on PostgreSQL against the naive way on the same server.
///
/// - `baseline`: naive, 8 clients at once (each its own connection), one
///   SQL transaction per transfer (guarded debit, credit, journal insert);
/// - `naive_1_client`: the same on one connection;
/// - `ledger`: `Ledger<PgStore>`, 8,189 transfers per call (one commit);
/// - `group_commit_64_threads`: 64 threads each making one-transfer calls
///   through `LedgerClient`, which coalesces them.
///
/// Goal: the ledger at least 20x the better naive rate.
fn postgres_vs_naive(c: &mut Criterion) {
    let Some(url) = pg_url() else { return };
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    let naive = Naive::new(&url, 8);
    group.bench_function("baseline", |b| b.iter_custom(|iters| naive.run(8, iters)));
    group.bench_function("naive_1_client", |b| b.iter_custom(|iters| naive.run(1, iters)));
    naive.drop_tables();
    drop(naive);

    let table = format!("tally_bench_ledger_{}", std::process::id());
    let connect = || {
        PgStore::connect_with(
            &url,
            PgOptions {
                table: table.clone(),
                ..PgOptions::default()
            },
        )
        .unwrap()
    };
    let workload = Workload::on(connect());
    group.throughput(Throughput::Elements(BATCH_EVENTS_MAX as u64));
    group.bench_function("ledger", |b| {
        b.iter_batched(
            || workload.batch(BATCH_EVENTS_MAX, TransferFlags::NONE),
            |batch| black_box(workload.ledger.create_transfers(&batch, workload.tick()).unwrap()),
            BatchSize::PerIteration,
        )
    });

    let client = LedgerClient::new(Ledger::new(connect()));
    let next_id = AtomicU64::new(1 << 40);
    group.throughput(Throughput::Elements(1));
    group.bench_function("group_commit_64_threads", |b| {
        b.iter_custom(|iters| {
            let now_ns = workload.tick();
            let started = Instant::now();
            std::thread::scope(|scope| {
                for thread in 0..64u64 {
                    let (client, next_id) = (&client, &next_id);
                    scope.spawn(move || {
                        let mut rng = Rng(thread);
                        let share = iters / 64 + u64::from(thread < iters % 64);
                        for _ in 0..share {
                            let (debit, credit) = rng.pair();
                            let id = u128::from(next_id.fetch_add(1, Ordering::Relaxed));
                            let transfer = Transfer::new(id, debit, credit, 1, 1, 1);
                            black_box(client.create_transfers(&[transfer], now_ns).unwrap());
                        }
                    });
                }
            });
            started.elapsed()
        })
    });
    group.finish();
    drop(client);
    workload.ledger.into_store().drop_table().unwrap();
}

criterion_group!(benches, batched, one_per_call, two_phase);
criterion_group!(durable, redb_durable, postgres_vs_naive);
criterion_main!(benches, durable);
