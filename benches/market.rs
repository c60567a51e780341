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
//! - `marketplace_lifecycle`: a whole storage request through the
//!   marketplace contract's rules, 66 operations: request storage, reserve
//!   and fill 4 slots, 10 periods of a proof per slot, the end, 4 payouts,
//!   the client's withdrawal. `memstore`: the [`Marketplace`] shell on a
//!   MemStore (each operation one optimistic transaction with its receipt);
//!   baseline: the same operations on the pure core in memory
//!   ([`ContractState`]), so the ratio is the cost of persisting.
//!
//! Goal: the index ≥ 100× faster than the scan for selective queries at
//! 100,000, and its time growing sub-linearly from 1,000 to 100,000. Run
//! `cargo bench --bench market --features market` (add `-- --quick` for a
//! short run), then `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark code")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tally::market::marketplace::{ContractState, Marketplace, MarketplaceConfig, Operation};
use tally::market::periods::ProofConfig;
use tally::market::{
    Address, AvailabilityId, AvailabilitySpec, FindQuery, Nonce, RequestId, ReservationId, ReservationSpec,
    Reservations, StorageAsk, StorageContent, StorageRequest, TxId, U256, slot_id,
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

const LIFECYCLE_SLOTS: u64 = 4;
const LIFECYCLE_PERIODS: u64 = 10;

fn lifecycle_config() -> MarketplaceConfig {
    MarketplaceConfig {
        proofs: ProofConfig {
            period_secs: 60,
            timeout_secs: 30,
            downtime: 0,
            downtime_product: 67,
        },
        ..MarketplaceConfig::default()
    }
}

/// The funding (not measured), then the lifecycle's operations (measured).
fn lifecycle() -> (Vec<Operation>, Vec<Operation>) {
    let client = Address([0xc1; 20]);
    let hosts: Vec<Address> = (0..LIFECYCLE_SLOTS).map(|i| Address([0xa0 + i as u8; 20])).collect();
    let mut funding = vec![Operation::Mint {
        account: client,
        amount: U256::from(1u64 << 40),
    }];
    for host in &hosts {
        funding.push(Operation::Mint {
            account: *host,
            amount: U256::from(1u64 << 30),
        });
    }
    let duration_secs = (LIFECYCLE_PERIODS + 2) * 60;
    let request = StorageRequest {
        client,
        ask: StorageAsk {
            proof_probability: U256::one(),
            price_per_byte_per_second: U256::one(),
            collateral_per_byte: U256::from(2u8),
            slots: LIFECYCLE_SLOTS,
            slot_size_bytes: 1 << 20,
            duration_secs,
            max_slot_loss: 1,
        },
        content: StorageContent {
            cid: vec![1, 0x55, 7],
            merkle_root: [7; 32],
        },
        expiry_secs: 60,
        nonce: Nonce([7; 32]),
    };
    let id = request.id().unwrap();
    // Filled 10 s after the request, so the client has something to withdraw.
    let mut ops = vec![
        Operation::RequestStorage { request },
        Operation::Advance { seconds: 10 },
    ];
    for (index, host) in hosts.iter().enumerate() {
        let slot_index = index as u64;
        ops.push(Operation::ReserveSlot {
            host: *host,
            request_id: id,
            slot_index,
        });
        ops.push(Operation::FillSlot {
            host: *host,
            request_id: id,
            slot_index,
            proof: vec![0xab; 256],
        });
    }
    for _ in 0..LIFECYCLE_PERIODS {
        ops.push(Operation::Advance { seconds: 60 });
        for (index, host) in hosts.iter().enumerate() {
            ops.push(Operation::SubmitProof {
                host: *host,
                slot_id: slot_id(&id, index as u64),
                proof: vec![0xcd; 256],
            });
        }
    }
    ops.push(Operation::Advance { seconds: duration_secs });
    for (index, host) in hosts.iter().enumerate() {
        ops.push(Operation::FreeSlot {
            host: *host,
            slot_id: slot_id(&id, index as u64),
        });
    }
    ops.push(Operation::WithdrawFunds { client, request_id: id });
    (funding, ops)
}

fn tx(n: usize) -> TxId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
    TxId(bytes)
}

fn marketplace_lifecycle(c: &mut Criterion) {
    let (funding, ops) = lifecycle();
    // Both must run the whole lifecycle, alike, before their speed matters.
    let mut core = ContractState::new(lifecycle_config(), 0).unwrap();
    let shell = Marketplace::open(MemStore::new(), lifecycle_config(), 0).unwrap();
    for (n, op) in funding.iter().chain(&ops).enumerate() {
        let outcome = core.apply(op).unwrap();
        assert_eq!(shell.apply(&tx(n), op).unwrap().outcome, outcome);
    }
    assert_eq!(shell.snapshot().unwrap(), core);
    core.check().unwrap();
    assert!(core.totals().escrow.is_zero() && core.totals().collateral.is_zero());
    eprintln!("marketplace_lifecycle: {} operations per lifecycle", ops.len());

    let mut group = c.benchmark_group("marketplace_lifecycle");
    group.throughput(Throughput::Elements(ops.len() as u64));
    group.bench_function("baseline", |b| {
        b.iter_batched(
            || {
                let mut core = ContractState::new(lifecycle_config(), 0).unwrap();
                for op in &funding {
                    core.apply(op).unwrap();
                }
                core
            },
            |mut core| {
                for op in &ops {
                    black_box(core.apply(op).unwrap());
                }
                core
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("memstore", |b| {
        b.iter_batched(
            || {
                let shell = Marketplace::open(MemStore::new(), lifecycle_config(), 0).unwrap();
                for (n, op) in funding.iter().enumerate() {
                    shell.apply(&tx(n), op).unwrap();
                }
                shell
            },
            |shell| {
                for (n, op) in ops.iter().enumerate() {
                    black_box(shell.apply(&tx(funding.len() + n), op).unwrap());
                }
                shell
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, reservation_cycle, find, marketplace_lifecycle);
criterion_main!(benches);
