//! Model-based property test: random batches, reads and scans applied to
//! MemStore and to a trivially correct model give the same answers, step by step.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use proptest::prelude::*;
use support::ModelStore;
use tally_store::{Batch, MemStore, Store, StoreError, scan_all};

const KEYS: &[&[u8]] = &[b"", b"\x00", b"a", b"a\x00", b"ab", b"b", b"\xff", b"\xff\xff"];
const PREFIXES: &[&[u8]] = &[b"", b"a", b"a\x00", b"\xff", b"c"];

#[derive(Debug, Clone)]
enum Expect {
    Current,
    Absent,
    CurrentPlusOne,
    Fixed(u64),
}

#[derive(Debug, Clone)]
enum Action {
    Commit {
        ops: Vec<(usize, Option<Vec<u8>>)>,
        preconditions: Vec<(usize, Expect)>,
    },
    Get(usize),
    Scan {
        prefix: usize,
        after: Option<usize>,
        limit: usize,
    },
}

fn expect_strategy() -> impl Strategy<Value = Expect> {
    prop_oneof![
        4 => Just(Expect::Current),
        2 => Just(Expect::Absent),
        1 => Just(Expect::CurrentPlusOne),
        1 => (0u64..6).prop_map(Expect::Fixed),
    ]
}

fn action_strategy() -> impl Strategy<Value = Action> {
    let key = 0..KEYS.len();
    prop_oneof![
        6 => (
            prop::collection::vec((key.clone(), prop::option::weighted(0.75, prop::collection::vec(any::<u8>(), 0..4))), 0..6),
            prop::collection::vec((key.clone(), expect_strategy()), 0..3),
        ).prop_map(|(ops, preconditions)| Action::Commit { ops, preconditions }),
        2 => key.clone().prop_map(Action::Get),
        2 => (0..PREFIXES.len(), prop::option::of(key), 1usize..5)
            .prop_map(|(prefix, after, limit)| Action::Scan { prefix, after, limit }),
    ]
}

/// Compares results by kind and content; backend errors never happen here.
fn same_outcome(a: &Result<(), StoreError>, b: &Result<(), StoreError>) -> bool {
    match (a, b) {
        (Ok(()), Ok(())) => true,
        (Err(StoreError::Conflict(x)), Err(StoreError::Conflict(y))) => x == y,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mem_store_agrees_with_the_model_on_every_step(actions in prop::collection::vec(action_strategy(), 1..40)) {
        let mem = MemStore::new();
        let model = ModelStore::new();
        for action in actions {
            match action {
                Action::Commit { ops, preconditions } => {
                    let mut batch = Batch::new();
                    for (key, expect) in preconditions {
                        let current = model.get(KEYS[key]).unwrap().map_or(0, |v| v.version);
                        let version = match expect {
                            Expect::Current => current,
                            Expect::Absent => 0,
                            Expect::CurrentPlusOne => current + 1,
                            Expect::Fixed(v) => v,
                        };
                        batch.expect_version(KEYS[key], version);
                    }
                    for (key, value) in ops {
                        match value {
                            Some(value) => batch.put(KEYS[key], value),
                            None => batch.delete(KEYS[key]),
                        };
                    }
                    let from_mem = mem.commit(batch.clone());
                    let from_model = model.commit(batch);
                    prop_assert!(same_outcome(&from_mem, &from_model), "commit: mem {:?} vs model {:?}", from_mem, from_model);
                }
                Action::Get(key) => {
                    prop_assert_eq!(mem.get(KEYS[key]).unwrap(), model.get(KEYS[key]).unwrap());
                }
                Action::Scan { prefix, after, limit } => {
                    let after = after.map(|i| KEYS[i]);
                    prop_assert_eq!(
                        mem.scan(PREFIXES[prefix], after, limit).unwrap(),
                        model.scan(PREFIXES[prefix], after, limit).unwrap()
                    );
                }
            }
            let everything_mem: Vec<_> = scan_all(&mem, b"", 3).collect::<Result<_, _>>().unwrap();
            let everything_model: Vec<_> = scan_all(&model, b"", 3).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(everything_mem, everything_model);
        }
    }
}
