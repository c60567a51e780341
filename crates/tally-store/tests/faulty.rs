//! FaultyStore: both failure kinds, and every way of choosing which call fails.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_store::{Batch, Fault, FaultyStore, InjectedFault, MemStore, Operation, Store, StoreError, Timing};

fn put_batch(key: &[u8], value: &[u8]) -> Batch {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    batch
}

fn injected(error: &StoreError) -> InjectedFault {
    match error {
        StoreError::Backend {
            backend: "faulty",
            source,
            ..
        } => source
            .downcast_ref::<InjectedFault>()
            .cloned()
            .expect("source is an InjectedFault"),
        other => panic!("expected an injected backend error, got {other:?}"),
    }
}

#[test]
fn before_write_failure_applies_nothing() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_commit().before_write());
    let error = store.commit(put_batch(b"k", b"v")).expect_err("injected");
    assert!(error.is_injected());
    assert_eq!(
        injected(&error),
        InjectedFault {
            operation: Operation::Commit,
            timing: Timing::BeforeWrite,
            rule: 0
        }
    );
    assert_eq!(store.inner().get(b"k").expect("get"), None, "nothing was applied");
    assert_eq!(store.injected_count(), 1);
}

#[test]
fn after_write_failure_applies_the_batch_but_loses_the_acknowledgement() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_commit().after_write());
    let error = store.commit(put_batch(b"k", b"v")).expect_err("injected");
    assert_eq!(injected(&error).timing, Timing::AfterWrite);
    let stored = store
        .inner()
        .get(b"k")
        .expect("get")
        .expect("applied despite the error");
    assert_eq!(&stored.value[..], b"v");
}

#[test]
fn after_write_fault_reports_the_inner_conflict_when_nothing_was_written() {
    let store = FaultyStore::new(MemStore::new());
    store.commit(put_batch(b"k", b"v")).expect("seed");
    store.inject(Fault::on_commit().after_write());
    let mut batch = put_batch(b"k", b"w");
    batch.expect_absent(b"k");
    let error = store.commit(batch).expect_err("conflict");
    assert!(error.is_conflict(), "the inner conflict wins: {error:?}");
    assert_eq!(store.injected_count(), 0);
}

#[test]
fn times_counts_only_failures_actually_injected() {
    let store = FaultyStore::new(MemStore::new());
    store.commit(put_batch(b"k", b"v")).expect("seed");
    store.inject(Fault::on_commit().after_write().times(1));
    let mut conflicting = put_batch(b"k", b"w");
    conflicting.expect_absent(b"k");
    assert!(store.commit(conflicting).expect_err("conflict").is_conflict());
    // The conflict did not use up the rule: the next commit still loses its acknowledgement.
    assert!(store.commit(put_batch(b"x", b"1")).expect_err("lost ack").is_injected());
    assert!(store.commit(put_batch(b"y", b"2")).is_ok(), "times(1) is used up");
    assert_eq!(store.injected_count(), 1);
}

#[test]
fn only_the_deciding_rule_uses_up_its_times() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_get().nth(1));
    store.inject(Fault::on_get().times(1));
    let first = store.get(b"k").expect_err("rule 0 decides the 1st get");
    assert_eq!(injected(&first).rule, 0);
    let second = store.get(b"k").expect_err("rule 1 still has its one failure");
    assert_eq!(injected(&second).rule, 1);
    assert!(store.get(b"k").is_ok());
}

#[test]
fn times_is_exact_under_concurrency() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_get().times(100));
    let failures: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| (0..1000).filter(|_| store.get(b"k").is_err()).count()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(failures, 100);
    assert_eq!(store.injected_count(), 100);
}

#[test]
fn nth_fails_exactly_one_call() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_commit().nth(3));
    let outcomes: Vec<bool> = (0..6u8).map(|i| store.commit(put_batch(&[i], b"v")).is_ok()).collect();
    assert_eq!(outcomes, [true, true, false, true, true, true]);
    assert_eq!(store.inner().get(&[2]).expect("get"), None);
}

#[test]
fn every_nth_and_times_bound_the_failures() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_commit().every_nth(2).times(2));
    let outcomes: Vec<bool> = (0..8u8).map(|i| store.commit(put_batch(&[i], b"v")).is_ok()).collect();
    assert_eq!(outcomes, [true, false, true, false, true, true, true, true]);
    assert_eq!(store.injected_count(), 2);
}

#[test]
fn prefix_picks_the_calls_that_touch_it() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_any().with_prefix(b"ledger/"));
    assert!(store.commit(put_batch(b"petri/1", b"v")).is_ok());
    assert!(
        store
            .commit(put_batch(b"ledger/1", b"v"))
            .expect_err("prefix")
            .is_injected()
    );
    let mut guarded = put_batch(b"petri/2", b"v");
    guarded.expect_absent(b"ledger/9");
    assert!(
        store
            .commit(guarded)
            .expect_err("a precondition key counts")
            .is_injected()
    );
    assert!(store.get(b"petri/1").is_ok());
    assert!(store.get(b"ledger/1").expect_err("prefix").is_injected());
    assert!(store.scan(b"petri/", None, 10).is_ok());
    assert!(store.scan(b"ledger/x", None, 10).expect_err("inside").is_injected());
    assert!(store.scan(b"led", None, 10).expect_err("overlaps").is_injected());
    assert!(
        store
            .scan(b"", None, 10)
            .expect_err("everything overlaps")
            .is_injected()
    );
}

#[test]
fn reads_can_fail_too() {
    let store = FaultyStore::new(MemStore::new());
    store.commit(put_batch(b"k", b"v")).expect("seed");
    store.inject(Fault::on_get().nth(2));
    store.inject(Fault::on_scan().nth(1));
    assert!(store.get(b"k").is_ok());
    let error = store.get(b"k").expect_err("2nd get");
    assert_eq!(injected(&error).operation, Operation::Get);
    assert!(store.get(b"k").is_ok());
    let error = store.scan(b"", None, 10).expect_err("1st scan");
    assert_eq!(
        injected(&error),
        InjectedFault {
            operation: Operation::Scan,
            timing: Timing::BeforeWrite,
            rule: 1
        }
    );
    assert!(store.scan(b"", None, 10).is_ok());
}

#[test]
fn seeded_rate_is_reproducible() {
    let pattern = |seed: u64| -> Vec<bool> {
        let store = FaultyStore::new(MemStore::new());
        store.inject(Fault::on_get().rate(0.3, seed));
        (0..1000).map(|_| store.get(b"k").is_err()).collect()
    };
    let first = pattern(42);
    assert_eq!(first, pattern(42), "same seed, same failures");
    assert_ne!(first, pattern(43), "another seed, other failures");
    let failures = first.iter().filter(|failed| **failed).count();
    assert!((200..400).contains(&failures), "about 30% fail, got {failures} of 1000");
    let never = FaultyStore::new(MemStore::new());
    never.inject(Fault::on_get().rate(0.0, 1));
    assert!((0..1000).all(|_| never.get(b"k").is_ok()));
}

#[test]
fn clear_removes_every_rule() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_any());
    assert!(store.get(b"k").is_err());
    store.clear();
    assert!(store.get(b"k").is_ok());
    assert!(store.commit(put_batch(b"k", b"v")).is_ok());
}

#[test]
fn first_firing_rule_decides_and_every_rule_counts() {
    let store = FaultyStore::new(MemStore::new());
    let before = store.inject(Fault::on_commit().nth(2).before_write());
    let after = store.inject(Fault::on_commit().nth(2).after_write());
    store.commit(put_batch(b"a", b"1")).expect("1st");
    let error = store.commit(put_batch(b"b", b"2")).expect_err("2nd");
    assert_eq!(injected(&error).rule, before);
    assert_ne!(before, after);
    assert_eq!(
        store.inner().get(b"b").expect("get"),
        None,
        "the first rule (before write) decided"
    );
    store
        .commit(put_batch(b"c", b"3"))
        .expect("the second rule's 2nd call has passed too");
}

#[test]
fn error_messages_say_what_happened() {
    let store = FaultyStore::new(MemStore::new());
    store.inject(Fault::on_commit().after_write());
    let message = store.commit(put_batch(b"k", b"v")).expect_err("injected").to_string();
    assert!(message.contains("commit"), "{message}");
    assert!(message.contains("acknowledgement lost"), "{message}");
}
