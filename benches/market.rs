//! tally-market's hot paths, each beside a baseline measured in the same run.
//!
//! - `reservation_cycle`: `create_reservation` + `delete_reservation` on
//!   MemStore (two commits touching the quota, the availability and its five
//!   find-index entries, the reservation and its two index keys). Baseline:
//!   two bare optimistic transactions on the same MemStore, each reading two
//!   keys and writing one 200-byte record (then deleting it): the cost of
//!   the storage contract alone.
//! - `find_<query>_<n>`: `find_availability` (the find index) against
//!   `find_availability_by_scan` (Codex's algorithm: every availability in
//!   id order until one matches) as the baseline, among `n` = 1,000, 10,000
//!   and 100,000 availabilities with random sizes, durations, prices,
//!   collateral and `until`s. Queries:
//!   - `needle_size`: one availability is large enough, nothing else is;
//!   - `needle_price`: one availability accepts the low price offered;
//!   - `none`: nothing is large enough (the scan reads everything);
//!   - `common` (100,000 only): about a tenth of the availabilities match;
//!   - `worst` (100,000 only): every availability fails exactly one of the
//!     five conditions but one passes all (each condition alone passes 80%):
//!     the index's documented worst case.
//!
//! Goal: the index ≥ 100× faster than the scan for selective queries at
//! 100,000, and its time growing sub-linearly from 1,000 to 100,000. Run
//! `cargo bench --bench market --features market` (add `-- --quick` for a
//! short run), then `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark code")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally::market::{
    AvailabilityId, AvailabilitySpec, FindQuery, RequestId, ReservationId, ReservationSpec, Reservations, U256,
};
use tally::store::{MemStore, RetryPolicy, StoreError, transact};

/// A deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

fn id(rng: &mut Rng) -> [u8; 32] {
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_be_bytes());
    }
    out
}

const MIB: u64 = 1024 * 1024;

/// `n` random availabilities: sizes up to 1 MiB, min prices 10..1000,
/// durations 1 h..30 d, collateral up to 100 per byte, a third with an
/// `until`. The needles (one 2 MiB availability, one that takes price 1)
/// sit at random places in id order.
fn population(n: usize, seed: u64) -> Reservations<MemStore> {
    let reservations = Reservations::open(MemStore::new(), u64::MAX).unwrap();
    let mut rng = Rng(seed);
    for i in 0..n {
        let size = if i == n / 3 { 2 * MIB } else { rng.range(1, MIB) };
        let price = if i == 2 * n / 3 { 1 } else { rng.range(10, 1_000) };
        let until = if rng.next().is_multiple_of(3) {
            rng.range(1_000_000, 9_000_000)
        } else {
            0
        };
        let spec = AvailabilitySpec {
            id: AvailabilityId(id(&mut rng)),
            total_size_bytes: size,
            duration_secs: rng.range(3_600, 30 * 86_400),
            min_price_per_byte_per_second: U256::from(price),
            total_collateral: U256::from(size) * U256::from(rng.range(1, 100)),
            enabled: true,
            until_secs: until,
        };
        reservations.create_availability(&spec).unwrap();
    }
    reservations
}

/// Every availability fails exactly one condition of `worst_query`, but one.
fn adversarial_population(n: usize, seed: u64) -> Reservations<MemStore> {
    let reservations = Reservations::open(MemStore::new(), u64::MAX).unwrap();
    let mut rng = Rng(seed);
    for i in 0..n {
        let fails = if i == n / 2 { 5 } else { i % 5 };
        let spec = AvailabilitySpec {
            id: AvailabilityId(id(&mut rng)),
            total_size_bytes: if fails == 0 { 500 } else { 2_000 },
            duration_secs: if fails == 1 { 100 } else { 10_000 },
            min_price_per_byte_per_second: U256::from(if fails == 2 { 100u32 } else { 1 }),
            total_collateral: U256::from(if fails == 3 { 0u32 } else { 200_000 }),
            enabled: true,
            until_secs: if fails == 4 { 10 } else { 0 },
        };
        reservations.create_availability(&spec).unwrap();
    }
    reservations
}

fn query(size_bytes: u64, price: u64) -> FindQuery {
    FindQuery {
        size_bytes,
        duration_secs: 3_600,
        price_per_byte_per_second: U256::from(price),
        collateral_per_byte: U256::zero(),
        valid_until_secs: 100,
    }
}

fn worst_query() -> FindQuery {
    FindQuery {
        size_bytes: 1_000,
        duration_secs: 1_000,
        price_per_byte_per_second: U256::from(10u8),
        collateral_per_byte: U256::from(10u8),
        valid_until_secs: 100,
    }
}

fn find_group(c: &mut Criterion, name: &str, reservations: &Reservations<MemStore>, query: &FindQuery) {
    // The two must agree before their speed matters.
    let (by_index, index_stats) = reservations.find_availability_with_stats(query).unwrap();
    let (by_scan, scan_stats) = reservations.find_availability_by_scan(query).unwrap();
    assert_eq!(by_index.is_some(), by_scan.is_some(), "{name}");
    eprintln!(
        "{name}: index read {} entries in {} pages, scan {} availabilities (found: {})",
        index_stats.entries_examined,
        index_stats.pages_read,
        scan_stats.entries_examined,
        by_index.is_some()
    );
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("baseline", |b| {
        b.iter(|| black_box(reservations.find_availability_by_scan(query).unwrap()))
    });
    group.bench_function("index", |b| {
        b.iter(|| black_box(reservations.find_availability(query).unwrap()))
    });
    group.finish();
}

fn find(c: &mut Criterion) {
    for n in [1_000usize, 10_000, 100_000] {
        let reservations = population(n, n as u64);
        find_group(
            c,
            &format!("find_needle_size_{n}"),
            &reservations,
            &query(MIB + MIB / 2, 2_000),
        );
        find_group(c, &format!("find_needle_price_{n}"), &reservations, &query(1, 5));
        find_group(c, &format!("find_none_{n}"), &reservations, &query(4 * MIB, 2_000));
        if n == 100_000 {
            find_group(c, "find_common_100000", &reservations, &query(MIB / 2, 100));
        }
    }
    let adversarial = adversarial_population(100_000, 7);
    find_group(c, "find_worst_100000", &adversarial, &worst_query());
}

fn reservation_cycle(c: &mut Criterion) {
    let reservations = Reservations::open(MemStore::new(), u64::MAX).unwrap();
    let availability = AvailabilityId([1; 32]);
    reservations
        .create_availability(&AvailabilitySpec::new(
            availability,
            1 << 40,
            86_400,
            U256::one(),
            U256::from(1u64 << 50),
        ))
        .unwrap();
    let mut group = c.benchmark_group("reservation_cycle");
    group.throughput(Throughput::Elements(1));
    let bare = MemStore::new();
    let record = vec![0x5a; 200];
    let policy = RetryPolicy::default();
    let mut n = 0u64;
    group.bench_function("baseline", |b| {
        b.iter(|| {
            n += 1;
            let key = n.to_be_bytes();
            transact(&bare, &policy, |txn| {
                txn.get(b"quota")?;
                txn.get(&key)?;
                txn.put(key.to_vec(), record.clone());
                Ok::<_, StoreError>(())
            })
            .unwrap();
            transact(&bare, &policy, |txn| {
                txn.get(b"quota")?;
                txn.get(&key)?;
                txn.delete(key.to_vec());
                Ok::<_, StoreError>(())
            })
            .unwrap();
        })
    });
    group.bench_function("create_delete", |b| {
        b.iter(|| {
            n += 1;
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&n.to_be_bytes());
            let spec = ReservationSpec {
                id: ReservationId(bytes),
                availability_id: availability,
                size_bytes: 4_096,
                request_id: RequestId(bytes),
                slot_index: 0,
                collateral_per_byte: U256::one(),
                valid_until_secs: 10_000,
            };
            reservations.create_reservation(&spec).unwrap();
            reservations.delete_reservation(&spec.id, U256::from(4_096u32)).unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, reservation_cycle, find);
criterion_main!(benches);
