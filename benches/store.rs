//! MemStore against the bare data structure it is built on.
//!
//! Every group measures tally's `MemStore` next to a `baseline`: the same
//! work done directly on a `RwLock<BTreeMap>` with no versions, no
//! preconditions and no validation, in the same run. The ratio is the cost
//! of the storage contract. Run with `cargo bench --bench store`, then
//! `python3 benches/ratios.py` prints the ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tally_store::bytes::Bytes;
use tally_store::{Batch, MemStore, Store, StoreError};

const PRELOADED_KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 100;

fn key(i: u64) -> Vec<u8> {
    let mut key = b"bench/ke".to_vec();
    key.extend_from_slice(&i.to_be_bytes());
    key
}

fn value() -> Bytes {
    Bytes::from(vec![0x5a; VALUE_BYTES])
}

/// The baseline: an ordered map behind a lock, nothing else.
#[derive(Default)]
struct BareMap(RwLock<BTreeMap<Vec<u8>, Bytes>>);

impl BareMap {
    fn get(&self, key: &[u8]) -> Option<Bytes> {
        self.0.read().unwrap().get(key).cloned()
    }
    fn insert_all(&self, items: Vec<(Vec<u8>, Bytes)>) {
        let mut map = self.0.write().unwrap();
        for (key, value) in items {
            map.insert(key, value);
        }
    }
}

fn preloaded() -> (MemStore, BareMap) {
    let store = MemStore::new();
    let bare = BareMap::default();
    let mut batch = Batch::new();
    let mut items = Vec::new();
    for i in 0..PRELOADED_KEYS {
        batch.put(key(i), value());
        items.push((key(i), value()));
    }
    store.commit(batch).unwrap();
    bare.insert_all(items);
    (store, bare)
}

fn get(c: &mut Criterion) {
    let (store, bare) = preloaded();
    let mut group = c.benchmark_group("get");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("baseline", |b| {
        b.iter(|| {
            i = (i + 7919) % PRELOADED_KEYS;
            black_box(bare.get(&key(i)))
        })
    });
    group.bench_function("mem_store", |b| {
        b.iter(|| {
            i = (i + 7919) % PRELOADED_KEYS;
            black_box(store.get(&key(i)).unwrap())
        })
    });
    group.finish();
}

fn commit_single(c: &mut Criterion) {
    let (store, bare) = preloaded();
    let mut group = c.benchmark_group("commit_1_key");
    group.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    group.bench_function("baseline", |b| {
        b.iter(|| {
            i = (i + 7919) % PRELOADED_KEYS;
            bare.insert_all(vec![(key(i), value())]);
        })
    });
    group.bench_function("mem_store", |b| {
        b.iter(|| {
            i = (i + 7919) % PRELOADED_KEYS;
            let mut batch = Batch::with_capacity(1);
            batch.put(key(i), value());
            store.commit(batch).unwrap();
        })
    });
    group.bench_function("mem_store_cas", |b| {
        b.iter(|| {
            i = (i + 7919) % PRELOADED_KEYS;
            let k = key(i);
            let version = store.get(&k).unwrap().map_or(0, |found| found.version);
            let mut batch = Batch::with_capacity(1);
            batch.expect_version(k.clone(), version).put(k, value());
            store.commit(batch).unwrap();
        })
    });
    group.finish();
}

fn commit_batch(c: &mut Criterion) {
    const BATCH_KEYS: u64 = 1_000;
    let (store, bare) = preloaded();
    let mut group = c.benchmark_group("commit_1000_keys");
    group.throughput(Throughput::Elements(BATCH_KEYS));
    let mut round = 0u64;
    group.bench_function("baseline", |b| {
        b.iter_batched(
            || {
                round += 1;
                (0..BATCH_KEYS)
                    .map(|i| (key((round * BATCH_KEYS + i) % (PRELOADED_KEYS * 2)), value()))
                    .collect::<Vec<_>>()
            },
            |items| bare.insert_all(items),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("mem_store", |b| {
        b.iter_batched(
            || {
                round += 1;
                let mut batch = Batch::with_capacity(BATCH_KEYS as usize);
                for i in 0..BATCH_KEYS {
                    batch.put(key((round * BATCH_KEYS + i) % (PRELOADED_KEYS * 2)), value());
                }
                batch
            },
            |batch| store.commit(batch).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Two threads increment one counter; the time is per successful increment.
fn cas_contention(c: &mut Criterion) {
    const THREADS: u64 = 2;
    const COUNTER: &[u8] = b"bench/counter";
    let mut group = c.benchmark_group("cas_2_threads");
    group.throughput(Throughput::Elements(1));

    group.bench_function("baseline", |b| {
        // The same optimistic loop on a bare versioned map: read under the
        // read lock, then check the version and write under the write lock.
        let map: RwLock<BTreeMap<Vec<u8>, (Bytes, u64)>> = RwLock::default();
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(THREADS);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        for _ in 0..per_thread {
                            loop {
                                let (count, version) = match map.read().unwrap().get(COUNTER) {
                                    Some((value, version)) => {
                                        (u64::from_be_bytes(value[..].try_into().unwrap()), *version)
                                    }
                                    None => (0, 0),
                                };
                                let mut map = map.write().unwrap();
                                let current = map.get(COUNTER).map_or(0, |(_, version)| *version);
                                if current == version {
                                    map.insert(
                                        COUNTER.to_vec(),
                                        (Bytes::from((count + 1).to_be_bytes().to_vec()), version + 1),
                                    );
                                    break;
                                }
                                drop(map);
                                std::thread::yield_now();
                            }
                        }
                    });
                }
            });
            start.elapsed()
        })
    });

    group.bench_function("floor_mutex_counter", |b| {
        // A mutex-guarded integer: no map, no versions; the floor for any
        // contended read-modify-write.
        let counter = Mutex::new(0u64);
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(THREADS);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        for _ in 0..per_thread {
                            *counter.lock().unwrap() += 1;
                        }
                    });
                }
            });
            start.elapsed()
        })
    });

    group.bench_function("mem_store", |b| {
        let store = MemStore::new();
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(THREADS);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        for _ in 0..per_thread {
                            loop {
                                let (count, version) = match store.get(COUNTER).unwrap() {
                                    Some(found) => {
                                        (u64::from_be_bytes(found.value[..].try_into().unwrap()), found.version)
                                    }
                                    None => (0, 0),
                                };
                                let mut batch = Batch::with_capacity(1);
                                batch
                                    .expect_version(COUNTER, version)
                                    .put(COUNTER, (count + 1).to_be_bytes().to_vec());
                                match store.commit(batch) {
                                    Ok(()) => break,
                                    Err(StoreError::Conflict(_)) => std::thread::yield_now(),
                                    Err(other) => panic!("{other}"),
                                }
                            }
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = get, commit_single, commit_batch, cas_contention
}
criterion_main!(benches);
