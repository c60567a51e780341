//! Machine loss under load: threads run `transact` transfers between
//! accounts on a three-member cluster while the test SIGKILLs the leader,
//! waits, restarts it, then SIGKILLs a follower. Afterwards every
//! acknowledged transfer is present exactly once, money is conserved, and
//! the workload resumed after each kill.
//!
//! The test starts its own members from the `etcd` binary on the PATH (on
//! ports and directories of its own), so it can kill them; without the
//! binary it skips, or fails under `TALLY_REQUIRE_SERVICES=1`. It prints
//! the stalls it saw to stderr (past the test harness's capture, so they
//! show in CI's log).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tally_store::{RetryPolicy, Store, StoreError, Txn, scan_all, transact};
use tally_store_etcd::{EtcdOptions, EtcdStore, RequestError};

const ACCOUNTS: u64 = 8;
const OPENING_BALANCE: u64 = 1_000;
const WORKERS: u64 = 4;
/// However the cluster behaves, the workload stops after this long.
const MAX_RUN: Duration = Duration::from_secs(120);
/// Each kill must be followed by an acknowledged transfer within this.
const MAX_RESUME: Duration = Duration::from_secs(10);

fn account_key(account: u64) -> Vec<u8> {
    format!("acct/{account:02}").into_bytes()
}

fn transfer_key(id: u64) -> Vec<u8> {
    format!("xfer/{id:016x}").into_bytes()
}

fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().unwrap())
}

/// A transfer record: from, to, the amount moved (0 when the payer could
/// not cover it).
fn record(from: u64, to: u64, amount: u64) -> Vec<u8> {
    [from, to, amount].iter().flat_map(|n| n.to_be_bytes()).collect()
}

fn parse_record(bytes: &[u8]) -> (u64, u64, u64) {
    (read_u64(&bytes[..8]), read_u64(&bytes[8..16]), read_u64(&bytes[16..24]))
}

fn balance<S: Store + ?Sized>(txn: &mut Txn<'_, S>, account: u64) -> Result<u64, StoreError> {
    Ok(txn.get(&account_key(account))?.map_or(0, |value| read_u64(&value)))
}

/// Transfer `id` as one transaction that also writes its record, so a
/// retry after a lost acknowledgement finds the record and does nothing.
fn transfer(store: &EtcdStore, id: u64, from: u64, to: u64, amount: u64) -> Result<(), StoreError> {
    let policy = RetryPolicy::default().with_max_attempts(1_000);
    transact(store, &policy, |txn| {
        if txn.get(&transfer_key(id))?.is_some() {
            return Ok(());
        }
        let payer = balance(txn, from)?;
        let payee = balance(txn, to)?;
        let moved = if payer >= amount { amount } else { 0 };
        txn.put(account_key(from), (payer - moved).to_be_bytes().to_vec());
        txn.put(account_key(to), (payee + moved).to_be_bytes().to_vec());
        txn.put(transfer_key(id), record(from, to, moved));
        Ok::<_, StoreError>(())
    })
}

/// What the workers saw.
#[derive(Default)]
struct Log {
    /// When each transfer was acknowledged.
    acknowledged: Vec<(Instant, u64)>,
    /// Failed tries (each retried with the same id), by kind.
    failures: BTreeMap<String, u64>,
    /// Failed tries whose outcome was unknown (a lost acknowledgement).
    unknown_outcomes: u64,
}

fn failure_kind(error: &StoreError) -> String {
    match error {
        StoreError::Backend { source, .. } => match source.downcast_ref::<RequestError>() {
            Some(RequestError::GaveUp { last, .. }) => format!("gave up: {}", variant(last)),
            Some(other) => variant(other).to_owned(),
            None => "backend".to_owned(),
        },
        other => format!("{other}"),
    }
}

fn variant(error: &RequestError) -> &'static str {
    match error {
        RequestError::Unreachable { .. } => "unreachable",
        RequestError::NotTaken { .. } => "not taken",
        RequestError::NoAnswer { .. } => "no answer",
        RequestError::Refused { .. } => "refused",
        RequestError::Server { .. } => "server error",
        RequestError::ResponseTooLarge { .. } => "response too large",
        RequestError::Malformed { .. } => "malformed",
        _ => "other",
    }
}

fn worker(store: &EtcdStore, thread: u64, stop: &AtomicBool, started: Instant, log: &Mutex<Log>) {
    // A small deterministic generator per thread.
    let mut state = thread.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut sequence = 0u64;
    while !stop.load(Ordering::Relaxed) && started.elapsed() < MAX_RUN {
        let id = thread << 32 | sequence;
        sequence += 1;
        let from = next() % ACCOUNTS;
        let to = (from + 1 + next() % (ACCOUNTS - 1)) % ACCOUNTS;
        let amount = 1 + next() % 20;
        // The same id until it is acknowledged: a retry after an unknown
        // outcome finds its record if the first try was applied.
        loop {
            match transfer(store, id, from, to, amount) {
                Ok(()) => {
                    log.lock().unwrap().acknowledged.push((Instant::now(), id));
                    break;
                }
                Err(error @ StoreError::Backend { .. }) => {
                    let mut log = log.lock().unwrap();
                    if let StoreError::Backend { source, .. } = &error
                        && source
                            .downcast_ref::<RequestError>()
                            .is_some_and(RequestError::outcome_unknown)
                    {
                        log.unknown_outcomes += 1;
                    }
                    *log.failures.entry(failure_kind(&error)).or_default() += 1;
                    drop(log);
                    if started.elapsed() >= MAX_RUN {
                        panic!("transfer {id} still failing when the run ended: {error}");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(other) => panic!("transfer {id} failed with {other:?}"),
            }
        }
    }
}

/// Waits until `count` more transfers have been acknowledged after `since`,
/// and returns how long after `since` the first of them came.
fn wait_for_progress(log: &Mutex<Log>, since: Instant, count: usize, what: &str) -> Duration {
    let deadline = since + MAX_RESUME;
    loop {
        {
            let log = log.lock().unwrap();
            let after: Vec<Instant> = log
                .acknowledged
                .iter()
                .map(|(at, _)| *at)
                .filter(|at| *at > since)
                .collect();
            if after.len() >= count {
                return after.iter().min().unwrap().duration_since(since);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the workload did not resume within {MAX_RESUME:?} after {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The longest time without any acknowledgement in `[from, to]`.
fn longest_gap(acknowledged: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut times: Vec<Instant> = acknowledged
        .iter()
        .copied()
        .filter(|at| *at >= from && *at <= to)
        .collect();
    times.sort();
    let mut previous = from;
    let mut longest = Duration::ZERO;
    for at in times.into_iter().chain([to]) {
        longest = longest.max(at.duration_since(previous));
        previous = at;
    }
    longest
}

#[test]
fn acknowledged_transfers_survive_the_loss_of_the_leader_and_of_a_follower() {
    let test = "acknowledged_transfers_survive_the_loss_of_the_leader_and_of_a_follower";
    let Some(mut cluster) = support::Cluster::start(test, 3, &[]) else {
        return;
    };
    let store = EtcdStore::connect_with(
        &cluster.endpoints(),
        EtcdOptions {
            prefix: support::unique_prefix("loss"),
            connect_timeout: Duration::from_millis(500),
            // A commit stuck on a member whose leader died is abandoned
            // (outcome unknown) after this, and retried by its worker.
            request_timeout: Duration::from_secs(2),
            failover_window: Duration::from_secs(10),
            ..EtcdOptions::default()
        },
    )
    .unwrap();
    let mut opening = tally_store::Batch::new();
    for account in 0..ACCOUNTS {
        opening.put(account_key(account), OPENING_BALANCE.to_be_bytes().to_vec());
    }
    store.commit(opening).unwrap();

    let stop = AtomicBool::new(false);
    let log = Mutex::new(Log::default());
    let started = Instant::now();
    let mut events: Vec<(Instant, String)> = Vec::new();
    let mut resumed: Vec<(String, Duration)> = Vec::new();
    std::thread::scope(|scope| {
        for thread in 0..WORKERS {
            let (store, stop, log) = (&store, &stop, &log);
            scope.spawn(move || worker(store, thread, stop, started, log));
        }
        let finish = |stop: &AtomicBool| stop.store(true, Ordering::Relaxed);
        wait_for_progress(&log, started, 50, "the start");
        std::thread::sleep(Duration::from_secs(1));

        let leader = cluster.leader().expect("the cluster has a leader");
        let killed_at = Instant::now();
        cluster.kill(leader);
        events.push((killed_at, format!("SIGKILL leader m{leader}")));
        resumed.push((
            format!("leader m{leader} killed"),
            wait_for_progress(&log, killed_at, 20, "the leader was killed"),
        ));
        std::thread::sleep(Duration::from_secs(2));

        let restart_at = Instant::now();
        cluster.restart(leader);
        events.push((restart_at, format!("restart m{leader}")));
        std::thread::sleep(Duration::from_secs(2));

        let new_leader = cluster.leader().expect("the cluster has a leader again");
        // A follower that stayed up all along (the restarted member may
        // lead now, or follow).
        let followers: Vec<usize> = (0..3).filter(|&i| i != new_leader).collect();
        let follower = followers.iter().copied().find(|&i| i != leader).unwrap_or(followers[0]);
        let killed_at = Instant::now();
        cluster.kill(follower);
        events.push((
            killed_at,
            format!("SIGKILL follower m{follower} (leader m{new_leader})"),
        ));
        resumed.push((
            format!("follower m{follower} killed"),
            wait_for_progress(&log, killed_at, 20, "a follower was killed"),
        ));
        std::thread::sleep(Duration::from_secs(2));
        finish(&stop);
    });
    let ended = Instant::now();

    // Everything acknowledged is there, exactly once, and the books balance.
    let log = log.into_inner().unwrap();
    let records: BTreeMap<Vec<u8>, (u64, u64, u64)> = scan_all(&store, b"xfer/", 1_000)
        .map(|entry| entry.map(|e| (e.key, parse_record(&e.value))))
        .collect::<Result<_, _>>()
        .unwrap();
    let acknowledged: BTreeSet<u64> = log.acknowledged.iter().map(|(_, id)| *id).collect();
    assert_eq!(
        acknowledged.len(),
        log.acknowledged.len(),
        "a transfer was acknowledged twice"
    );
    for id in &acknowledged {
        assert!(
            records.contains_key(&transfer_key(*id)),
            "acknowledged transfer {id:x} is missing"
        );
    }
    let mut expected = vec![OPENING_BALANCE; ACCOUNTS as usize];
    for (from, to, moved) in records.values() {
        expected[*from as usize] -= moved;
        expected[*to as usize] += moved;
    }
    let balances: Vec<u64> = (0..ACCOUNTS)
        .map(|account| read_u64(&store.get(&account_key(account)).unwrap().unwrap().value))
        .collect();
    assert_eq!(
        balances, expected,
        "every recorded transfer moved its amount exactly once"
    );
    assert_eq!(
        balances.iter().sum::<u64>(),
        ACCOUNTS * OPENING_BALANCE,
        "money is conserved"
    );
    store.delete_all().unwrap();

    // The report.
    let times: Vec<Instant> = log.acknowledged.iter().map(|(at, _)| *at).collect();
    let mut report = format!(
        "machine loss: {} transfers acknowledged ({} recorded) by {WORKERS} threads in {:.1} s; \
         {} failed tries retried ({} with an unknown outcome): {:?}\n",
        acknowledged.len(),
        records.len(),
        ended.duration_since(started).as_secs_f64(),
        log.failures.values().sum::<u64>(),
        log.unknown_outcomes,
        log.failures
    );
    for (at, event) in &events {
        report += &format!("  {:>6.2} s  {event}\n", at.duration_since(started).as_secs_f64());
    }
    for (what, after) in &resumed {
        report += &format!(
            "  first acknowledgement {:.0} ms after the {what}\n",
            after.as_secs_f64() * 1e3
        );
    }
    let steady = longest_gap(&times, started, events[0].0);
    let around_leader = longest_gap(&times, events[0].0, events[1].0);
    let around_follower = longest_gap(&times, events[2].0, ended);
    report += &format!(
        "  longest stall: {:.0} ms before any kill, {:.0} ms after the leader's, {:.0} ms after the follower's\n",
        steady.as_secs_f64() * 1e3,
        around_leader.as_secs_f64() * 1e3,
        around_follower.as_secs_f64() * 1e3
    );
    // Straight to the process's stderr: libtest captures only print! and
    // eprint!, and this is meant for CI's log.
    let _ = std::io::stderr().write_all(report.as_bytes());
}
