//! tally-petri: firing, exploring and dispatching, each against a bare
//! baseline in the same run.
//!
//! - `petri_fire_octoe`: every (state, enabled transition) pair of bitwrap's
//!   tic-tac-toe net `octoe` (read from `../shared/fixtures/pnml`), fired
//!   into an output vector. `baseline` is bitwrap's rule done bare: dense
//!   vector addition of the transition's delta with a negativity check;
//!   `fire_into` is `Net::fire_into` (every check of the firing rule:
//!   arguments, inhibitors, inputs, capacities), `fire_in_place` the same
//!   on a copy of the state.
//!   Goal: at least 50 M fires/s, at least 50% of the baseline's rate.
//! - `petri_reachability_octoe`: the whole state space of `octoe` (2,049
//!   states). `baseline` is a plain breadth-first search over a
//!   `HashSet<Vec<u32>>` with dense deltas; `explore` is
//!   `analysis::explore` (compact state set). Throughput is in states.
//! - `petri_dispatch_mem` / `petri_dispatch_redb`: one `Machines::dispatch`
//!   (bitwrap's counter, `INC_0`), against a `transact` that reads one key
//!   and writes three values of the same sizes as a dispatch does, on the
//!   same store. redb commits are durable (fsync), so there the disk sets
//!   the pace.
//!
//! Run with `cargo bench --features petri,redb --bench petri`, then
//! `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark code")]

use std::collections::{HashSet, VecDeque};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tally::petri::{Machines, Net, NetSpec, analysis, pnml};
use tally::redb::RedbStore;
use tally::store::{MemStore, RetryPolicy, Store, StoreError, transact};

const OCTOE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/pnml/octoe.xml");

fn octoe() -> Option<Net> {
    match std::fs::read_to_string(OCTOE) {
        Ok(text) => Some(pnml::read(&text).unwrap()),
        Err(error) => {
            eprintln!("SKIPPED the octoe benchmarks: {OCTOE}: {error}");
            None
        }
    }
}

/// Every (state, transition enabled in it) of the net.
fn firing_pairs(net: &Net) -> Vec<(Vec<u32>, usize)> {
    let mut pairs = Vec::new();
    analysis::explore_each(net, 100_000, |state| {
        for transition in net.enabled(state).unwrap() {
            pairs.push((state.to_vec(), transition));
        }
    })
    .unwrap();
    pairs
}

/// Bitwrap's rule, bare: `out = state + delta`, refused if any entry < 0.
#[inline]
fn add_delta(state: &[u32], delta: &[i32], out: &mut [u32]) -> bool {
    let mut ok = true;
    for ((out, &tokens), &delta) in out.iter_mut().zip(state).zip(delta) {
        let sum = i64::from(tokens) + i64::from(delta);
        ok &= sum >= 0;
        *out = sum as u32;
    }
    ok
}

fn fire(c: &mut Criterion) {
    let Some(net) = octoe() else { return };
    let pairs = firing_pairs(&net);
    let deltas: Vec<Vec<i32>> = (0..net.transition_count())
        .map(|t| net.delta(t).unwrap().into_iter().map(|d| d as i32).collect())
        .collect();
    let mut group = c.benchmark_group("petri_fire_octoe");
    group.throughput(Throughput::Elements(pairs.len() as u64));
    let mut out = vec![0u32; net.place_count()];
    group.bench_function("baseline", |b| {
        b.iter(|| {
            for (state, transition) in &pairs {
                let ok = add_delta(black_box(state), &deltas[*transition], &mut out);
                black_box((ok, &out));
            }
        })
    });
    group.bench_function("fire_into", |b| {
        b.iter(|| {
            for (state, transition) in &pairs {
                let result = net.fire_into(black_box(state), *transition, 1, &mut out);
                black_box((result.is_ok(), &out));
            }
        })
    });
    group.bench_function("fire_in_place", |b| {
        b.iter(|| {
            for (state, transition) in &pairs {
                out.copy_from_slice(black_box(state));
                let result = net.fire_in_place(&mut out, *transition, 1);
                black_box((result.is_ok(), &out));
            }
        })
    });
    group.finish();
}

/// Breadth-first search the plain way: dense deltas, a std HashSet.
fn naive_explore(places: usize, initial: &[u32], deltas: &[Vec<i32>]) -> usize {
    let mut seen: HashSet<Vec<u32>> = HashSet::from([initial.to_vec()]);
    let mut queue = VecDeque::from([initial.to_vec()]);
    let mut next = vec![0u32; places];
    while let Some(state) = queue.pop_front() {
        for delta in deltas {
            if add_delta(&state, delta, &mut next) && !seen.contains(&next) {
                seen.insert(next.clone());
                queue.push_back(next.clone());
            }
        }
    }
    seen.len()
}

fn reachability(c: &mut Criterion) {
    let Some(net) = octoe() else { return };
    // octoe has no capacities, inhibitors or self-loops: the delta rule is
    // exact for it, so both searches find the same states.
    let deltas: Vec<Vec<i32>> = (0..net.transition_count())
        .map(|t| net.delta(t).unwrap().into_iter().map(|d| d as i32).collect())
        .collect();
    let states = analysis::explore(&net, 1_000_000).unwrap().states;
    assert_eq!(naive_explore(net.place_count(), net.initial(), &deltas) as u64, states);
    let mut group = c.benchmark_group("petri_reachability_octoe");
    group.throughput(Throughput::Elements(states));
    group.bench_function("baseline", |b| {
        b.iter(|| black_box(naive_explore(net.place_count(), net.initial(), &deltas)))
    });
    group.bench_function("explore", |b| {
        b.iter(|| black_box(analysis::explore(&net, 1_000_000).unwrap().states))
    });
    group.finish();
}

fn counter() -> Net {
    Net::new(
        NetSpec::new()
            .place("p0", 0)
            .place("p1", 0)
            .transition("INC_0")
            .transition("DEC_0")
            .arc("INC_0", "p0", 1)
            .arc("p0", "DEC_0", 1),
    )
    .unwrap()
}

/// One dispatch-sized transaction: read a head, write it back with an event
/// and an index entry of a dispatch's sizes.
fn bare_transaction<S: Store>(store: &S, seq: u64) {
    transact(store, &RetryPolicy::default(), |txn| {
        let head = txn.get(b"bench/head")?.map_or(0, |value| value.len());
        let mut event_key = b"bench/event/".to_vec();
        event_key.extend_from_slice(&seq.to_be_bytes());
        let mut index_key = b"bench/hash/".to_vec();
        index_key.extend_from_slice(&tally::petri::keccak256(&seq.to_be_bytes()));
        txn.put(b"bench/head".to_vec(), vec![7u8; 120 + head % 2]);
        txn.put(event_key, vec![9u8; 110]);
        txn.put(index_key, vec![1u8; 16]);
        Ok::<_, StoreError>(())
    })
    .unwrap();
}

fn dispatch_group<S: Store>(c: &mut Criterion, name: &str, bare: S, machines: Machines<S>) {
    machines.register("counter", &counter()).unwrap();
    machines.create_stream("counter", "foo", 0).unwrap();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    let mut seq = 0u64;
    group.bench_function("baseline", |b| {
        b.iter(|| {
            seq += 1;
            bare_transaction(&bare, seq);
        })
    });
    let mut now_ms = 1u64;
    group.bench_function("dispatch", |b| {
        b.iter(|| {
            now_ms += 1;
            black_box(
                machines
                    .dispatch("counter", "foo", "INC_0", br#"{"testing":"foo"}"#, now_ms)
                    .unwrap(),
            );
        })
    });
    group.finish();
    assert!(machines.verify("counter", "foo").is_ok());
}

fn dispatch(c: &mut Criterion) {
    dispatch_group(c, "petri_dispatch_mem", MemStore::new(), Machines::new(MemStore::new()));
    let dir = tempfile::tempdir().unwrap();
    dispatch_group(
        c,
        "petri_dispatch_redb",
        RedbStore::open(dir.path().join("bare.redb")).unwrap(),
        Machines::new(RedbStore::open(dir.path().join("petri.redb")).unwrap()),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = fire, reachability, dispatch
}
criterion_main!(benches);
