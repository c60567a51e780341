//! A seeded, deterministic simulation in the spirit of TigerBeetle's VOPR.
//!
//! Each seed drives several clients of one ledger through a
//! `FaultyStore` (commits that fail before the write, commits applied whose
//! acknowledgement is lost, failed reads) over an `Interleaved` store (so
//! another client's commit lands between a transaction's reads: conflicts
//! and retries, deterministically), with process restarts that drop every
//! in-memory object. Clients keep their unacknowledged batches, as
//! TigerBeetle's reliable-submission guide asks, and retry them with the
//! same ids.
//!
//! Checked throughout and at the end: the audit passes (journal replay =
//! stored balances, Σ debits = Σ credits, gapless journal), no limit is
//! broken, every acknowledged transfer is in the ledger exactly once and as
//! submitted, and nothing is in the ledger that no client submitted.
//!
//! `TALLY_SIM_SEED=n` replays one seed; `TALLY_LONG_TESTS=1` runs 20,000.

#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tally_ledger::core::JournalEvent;
use tally_ledger::{
    AMOUNT_MAX, Account, AccountFlags, CreateTransferStatus as S, Ledger, NS_PER_S, Transfer, TransferFlags,
};
use tally_store::interleave::Interleaved;
use tally_store::{Fault, FaultyStore, MemStore};

/// SplitMix64: tiny, seedable, good enough to pick actions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

type Inner = Arc<MemStore>;
type Stack = FaultyStore<Interleaved<Inner>>;

/// What the clients learned: transfer id -> the request that was acknowledged.
#[derive(Default)]
struct Acks {
    acked: BTreeMap<u128, Transfer>,
    submitted: BTreeSet<u128>,
}

impl Acks {
    fn record(&mut self, batch: &[Transfer], statuses: &[S]) {
        assert_eq!(batch.len(), statuses.len());
        for (transfer, status) in batch.iter().zip(statuses) {
            if status.is_ok()
                && let Some(previous) = self.acked.insert(transfer.id, *transfer)
            {
                assert_eq!(
                    previous.flags, transfer.flags,
                    "one id, two different transfers acknowledged"
                );
            }
        }
    }
}

const ACCOUNTS: u128 = 6;

fn accounts() -> Vec<Account> {
    (1..=ACCOUNTS)
        .map(|id| {
            let flags = match id {
                2 | 3 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                4 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                5 => AccountFlags::HISTORY,
                _ => AccountFlags::NONE,
            };
            Account::new(id, 1, 1).with_flags(flags)
        })
        .collect()
}

struct World {
    rng: Rng,
    seed: u64,
    inner: Inner,
    ledger: Ledger<Arc<Stack>>,
    now_ns: u64,
    next_id: u128,
    /// Per client: batches sent but not yet acknowledged.
    unacked: Vec<Vec<Vec<Transfer>>>,
    acks: Arc<Mutex<Acks>>,
}

impl World {
    fn new(seed: u64) -> Self {
        let inner: Inner = Arc::new(MemStore::new());
        let now_ns = 1_700_000_000 * NS_PER_S;
        Ledger::new(inner.clone())
            .create_accounts(&accounts(), now_ns)
            .expect("accounts");
        let mut rng = Rng(seed);
        let stack = Self::stack(&inner, &mut rng);
        World {
            rng,
            seed,
            inner,
            ledger: Ledger::new(stack),
            now_ns,
            next_id: 1,
            unacked: vec![Vec::new(); 3],
            acks: Arc::new(Mutex::new(Acks::default())),
        }
    }

    /// A fresh process: new store objects over the same durable data, with
    /// this run's fault rates.
    fn stack(inner: &Inner, rng: &mut Rng) -> Arc<Stack> {
        let faulty = FaultyStore::new(Interleaved::new(inner.clone()));
        let rate = |rng: &mut Rng| (rng.below(15) as f64) / 100.0;
        faulty.inject(Fault::on_commit().rate(rate(rng), rng.next()).before_write());
        faulty.inject(Fault::on_commit().rate(rate(rng), rng.next()).after_write());
        faulty.inject(Fault::on_get().rate(rate(rng) / 10.0, rng.next()));
        Arc::new(faulty)
    }

    fn restart(&mut self) {
        let stack = Self::stack(&self.inner, &mut self.rng);
        self.ledger = Ledger::new(stack);
    }

    fn account(&mut self) -> u128 {
        // Mostly valid, now and then a missing account.
        if self.rng.chance(5) {
            ACCOUNTS + 1
        } else {
            1 + u128::from(self.rng.below(ACCOUNTS as u64))
        }
    }

    fn random_transfer(&mut self) -> Transfer {
        let id = if self.rng.chance(10) && self.next_id > 1 {
            1 + u128::from(self.rng.below(self.next_id as u64 - 1)) // a reused id
        } else {
            self.next_id += 1;
            self.next_id - 1
        };
        let amount = u128::from(self.rng.below(50));
        let mut transfer = match self.rng.below(10) {
            0..=3 => Transfer::new(id, self.account(), self.account(), amount, 1, 1),
            4..=6 => {
                let timeout = if self.rng.chance(50) {
                    self.rng.below(3) as u32
                } else {
                    0
                };
                Transfer::new(id, self.account(), self.account(), amount, 1, 1)
                    .with_flags(TransferFlags::PENDING)
                    .with_timeout(timeout)
            }
            7 | 8 => {
                let pending_id = 1 + u128::from(self.rng.below(self.next_id as u64));
                let amount = if self.rng.chance(50) { AMOUNT_MAX } else { amount };
                Transfer::post(id, pending_id, amount)
            }
            _ => Transfer::void(id, 1 + u128::from(self.rng.below(self.next_id as u64))),
        };
        if self.rng.chance(10) {
            transfer.flags = transfer.flags | TransferFlags::BALANCING_DEBIT;
        }
        if self.rng.chance(20) {
            transfer.flags = transfer.flags | TransferFlags::LINKED;
        }
        transfer
    }

    fn submit(&mut self, client: usize, batch: Vec<Transfer>) {
        {
            let mut acks = self.acks.lock().expect("acks");
            acks.submitted.extend(batch.iter().map(|t| t.id));
        }
        match self.ledger.create_transfers(&batch, self.now_ns) {
            Ok(results) => {
                let statuses: Vec<S> = results.iter().map(|r| r.status).collect();
                self.acks.lock().expect("acks").record(&batch, &statuses);
            }
            Err(error) => {
                assert!(
                    matches!(&error, tally_ledger::LedgerError::Store(e) if e.is_injected()),
                    "seed {}: {error}",
                    self.seed
                );
                self.unacked[client].push(batch);
            }
        }
    }

    /// Another client's batch lands between the next transaction's reads.
    fn interleave(&mut self) {
        let batch: Vec<Transfer> = (0..1 + self.rng.below(3)).map(|_| self.random_transfer()).collect();
        let acks = self.acks.clone();
        let now_ns = self.now_ns;
        let nth = 1 + self.rng.below(6);
        acks.lock().expect("acks").submitted.extend(batch.iter().map(|t| t.id));
        self.ledger.store().inner().before_read(nth, move |inner: &Inner| {
            let results = Ledger::new(inner)
                .create_transfers(&batch, now_ns)
                .expect("unfaulted commit");
            let statuses: Vec<S> = results.iter().map(|r| r.status).collect();
            acks.lock().expect("acks").record(&batch, &statuses);
        });
    }

    fn step(&mut self) {
        let client = self.rng.below(3) as usize;
        match self.rng.below(100) {
            0..=49 => {
                let size = 1 + self.rng.below(6);
                let batch: Vec<Transfer> = (0..size).map(|_| self.random_transfer()).collect();
                self.submit(client, batch);
            }
            50..=64 => {
                if let Some(batch) = self.unacked[client].pop() {
                    self.submit(client, batch);
                }
            }
            65..=74 => self.interleave(),
            75..=86 => {
                self.now_ns += self.rng.below(3 * NS_PER_S);
                if let Err(error) = self.ledger.expire(self.now_ns) {
                    assert!(
                        matches!(&error, tally_ledger::LedgerError::Store(e) if e.is_injected()),
                        "seed {}: {error}",
                        self.seed
                    );
                }
            }
            87..=92 => self.restart(),
            _ => self.check(),
        }
    }

    /// Invariants that hold at any moment, read without faults.
    fn check(&self) {
        let checker = Ledger::new(self.inner.clone());
        let report = checker.audit().expect("audit");
        assert!(report.is_ok(), "seed {}: audit {report:?}", self.seed);
        let ids: Vec<u128> = (1..=ACCOUNTS).collect();
        for account in checker.lookup_accounts(&ids).expect("lookup") {
            assert!(!account.debits_exceed_credits(0), "seed {}: {account:?}", self.seed);
            assert!(!account.credits_exceed_debits(0), "seed {}: {account:?}", self.seed);
        }
        let acks = self.acks.lock().expect("acks");
        let acked: Vec<u128> = acks.acked.keys().copied().collect();
        for chunk in acked.chunks(tally_ledger::BATCH_EVENTS_MAX) {
            let found = checker.lookup_transfers(chunk).expect("lookup");
            assert_eq!(
                found.len(),
                chunk.len(),
                "seed {}: an acknowledged transfer is missing",
                self.seed
            );
            for transfer in found {
                let request = acks.acked[&transfer.id];
                assert_eq!(
                    (transfer.flags, transfer.pending_id),
                    (request.flags, request.pending_id),
                    "seed {}",
                    self.seed
                );
            }
        }
        let mut journaled = BTreeSet::new();
        for record in checker.journal(0, usize::MAX).expect("journal") {
            if let JournalEvent::TransferCreated(transfer) = record.event {
                assert!(
                    journaled.insert(transfer.id),
                    "seed {}: transfer {} applied twice",
                    self.seed,
                    transfer.id
                );
                assert!(
                    acks.submitted.contains(&transfer.id),
                    "seed {}: {} came from nowhere",
                    self.seed,
                    transfer.id
                );
            }
        }
    }

    /// Heal: no more faults, every client retries until acknowledged.
    fn settle(&mut self) {
        self.ledger = Ledger::new(Arc::new(FaultyStore::new(Interleaved::new(self.inner.clone()))));
        for client in 0..self.unacked.len() {
            while let Some(batch) = self.unacked[client].pop() {
                self.submit(client, batch);
            }
        }
        self.now_ns += 10 * NS_PER_S;
        self.ledger.expire(self.now_ns).expect("expire");
        let head = self.ledger.head().expect("head");
        assert_eq!(
            head.pending,
            self.ledger.audit().expect("audit").pending,
            "seed {}",
            self.seed
        );
        self.check();
    }
}

fn run(seed: u64, steps: usize) {
    let outcome = std::panic::catch_unwind(|| {
        let mut world = World::new(seed);
        for _ in 0..steps {
            world.step();
        }
        world.settle();
    });
    if let Err(panic) = outcome {
        eprintln!("simulation failed for seed {seed}; replay it with TALLY_SIM_SEED={seed}");
        std::panic::resume_unwind(panic);
    }
}

fn seeds(shard: u64, shards: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("TALLY_SIM_SEED") {
        let seed: u64 = seed.parse().expect("TALLY_SIM_SEED is a number");
        return if shard == 0 { vec![seed] } else { Vec::new() };
    }
    let total = if long() { 20_000 } else { 1_000 };
    (0..total).filter(|seed| seed % shards == shard).collect()
}

fn long() -> bool {
    std::env::var("TALLY_LONG_TESTS").is_ok_and(|v| v == "1")
}

/// Steps per seed: 60 in CI (1,000 seeds in a few seconds in debug), 120 long.
fn steps() -> usize {
    if long() { 120 } else { 60 }
}

// Four shards of the seeds, so the test harness runs them on every core.
#[test]
fn simulated_clients_with_faults_and_restarts_lose_nothing_shard_0() {
    seeds(0, 4).into_iter().for_each(|seed| run(seed, steps()));
}

#[test]
fn simulated_clients_with_faults_and_restarts_lose_nothing_shard_1() {
    seeds(1, 4).into_iter().for_each(|seed| run(seed, steps()));
}

#[test]
fn simulated_clients_with_faults_and_restarts_lose_nothing_shard_2() {
    seeds(2, 4).into_iter().for_each(|seed| run(seed, steps()));
}

#[test]
fn simulated_clients_with_faults_and_restarts_lose_nothing_shard_3() {
    seeds(3, 4).into_iter().for_each(|seed| run(seed, steps()));
}

#[test]
fn the_simulation_is_deterministic_for_a_seed() {
    let fingerprint = |seed| {
        let mut world = World::new(seed);
        for _ in 0..steps() {
            world.step();
        }
        world.settle();
        let head = Ledger::new(world.inner.clone()).head().expect("head");
        let acked = world.acks.lock().expect("acks").acked.len();
        (head, acked)
    };
    assert_eq!(fingerprint(7), fingerprint(7));
}
