//! The event store: bitwrap's own test scenarios, faults, concurrency and
//! tampering.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use tally_petri::{ChainFault, Command, ErrorClass, Machines, Net, NetSpec, PetriError};
use tally_store::{Batch, Fault, FaultyStore, MemStore, Store, scan_all};

/// bitwrap's `counter` machine (its tests' net).
fn counter() -> Net {
    Net::new(
        NetSpec::new()
            .place("p0", 0)
            .place("p1", 0)
            .transition("INC_0")
            .transition("INC_1")
            .transition("DEC_1")
            .transition("DEC_0")
            .arc("INC_0", "p0", 1)
            .arc("INC_1", "p1", 1)
            .arc("p1", "DEC_1", 1)
            .arc("p0", "DEC_0", 1),
    )
    .unwrap()
}

/// bitwrap's schema `trial` with stream `foo`.
fn trial<S: Store>(store: S) -> Machines<S> {
    let machines = Machines::new(store);
    machines.register("trial", &counter()).unwrap();
    machines.create_stream("trial", "foo", 1_000).unwrap();
    machines
}

fn key_count(store: &MemStore) -> usize {
    store.len()
}

#[test]
fn schemas_and_streams_are_created_once_and_exist() {
    let machines = Machines::new(MemStore::new());
    assert!(machines.register("trial", &counter()).unwrap());
    assert!(
        !machines.register("trial", &counter()).unwrap(),
        "registering again is a no-op"
    );
    let other = Net::new(NetSpec::new().place("p0", 0)).unwrap();
    assert!(matches!(
        machines.register("trial", &other),
        Err(PetriError::SchemaConflict { .. })
    ));
    assert!(!machines.stream_exists("trial", "foo").unwrap());
    assert!(machines.create_stream("trial", "foo", 1_000).unwrap());
    assert!(!machines.create_stream("trial", "foo", 2_000).unwrap());
    assert!(machines.stream_exists("trial", "foo").unwrap());
    let head = machines.state("trial", "foo").unwrap();
    assert_eq!((head.rev, head.state.clone(), head.created_ms), (0, vec![0, 0], 1_000));
    assert!(matches!(
        machines.create_stream("nope", "foo", 0),
        Err(PetriError::SchemaNotFound { .. })
    ));
    assert!(matches!(
        machines.create_stream("trial", "", 0),
        Err(PetriError::InvalidName { .. })
    ));
    // Another instance on the same store reads the schema from the store.
    let again = Machines::new(machines.into_store());
    assert_eq!(again.net("trial").unwrap().fingerprint(), counter().fingerprint());
}

#[test]
fn a_commit_to_a_missing_stream_is_invalid_input_and_stores_nothing() {
    let machines = trial(MemStore::new());
    let before = key_count(machines.store());
    let error = machines.dispatch("trial", "bar", "INC_0", b"{}", 2_000).unwrap_err();
    assert!(matches!(error, PetriError::StreamNotFound { .. }), "{error}");
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
    assert_eq!(error.class().unwrap().code(), "INVALID_INPUT");
    let error = machines.dispatch("missing", "foo", "INC_0", b"{}", 2_000).unwrap_err();
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
    assert_eq!(key_count(machines.store()), before);
}

#[test]
fn an_unknown_action_is_invalid_input_and_stores_nothing() {
    let machines = trial(MemStore::new());
    let before = key_count(machines.store());
    let error = machines.dispatch("trial", "foo", "BOGUS", b"{}", 2_000).unwrap_err();
    assert!(matches!(error, PetriError::UnknownTransition { .. }), "{error}");
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
    assert_eq!(key_count(machines.store()), before);
    assert_eq!(machines.state("trial", "foo").unwrap().rev, 0);
}

#[test]
fn going_negative_is_invalid_output_and_stores_nothing() {
    let machines = trial(MemStore::new());
    let before = key_count(machines.store());
    let error = machines.dispatch("trial", "foo", "DEC_0", b"{}", 2_000).unwrap_err();
    assert!(matches!(error, PetriError::WouldGoNegative { .. }), "{error}");
    assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
    assert_eq!(error.class().unwrap().code(), "INVALID_OUTPUT");
    assert_eq!(key_count(machines.store()), before);
    assert!(machines.events("trial", "foo").unwrap().is_empty());
}

#[test]
fn valid_commits_advance_the_revision_and_echo_the_oid() {
    let machines = trial(MemStore::new());
    let first = machines.dispatch("trial", "foo", "INC_0", b"{}", 2_000).unwrap();
    assert_eq!((first.oid.as_str(), first.seq, first.duplicate), ("foo", 1, false));
    let second = machines.dispatch("trial", "foo", "INC_0", b"{}", 2_001).unwrap();
    assert_eq!((second.seq, second.state.clone()), (2, vec![2, 0]));
    assert_ne!(first.hash, second.hash);
    assert_eq!(machines.state("trial", "foo").unwrap().rev, 2);
}

#[test]
fn ten_commits_with_payload_are_stored_in_order_with_the_state_after_each() {
    let machines = trial(MemStore::new());
    let payload = br#"{"testing":"foo"}"#;
    let mut receipts = Vec::new();
    for index in 0..10u64 {
        receipts.push(
            machines
                .dispatch("trial", "foo", "INC_0", payload, 2_000 + index)
                .unwrap(),
        );
    }
    let events = machines.events("trial", "foo").unwrap();
    assert_eq!(events.len(), 10);
    let first = &events[0];
    assert_eq!(
        (first.seq, first.action.as_str(), first.payload.as_slice()),
        (1, "INC_0", &payload[..])
    );
    assert_eq!(first.timestamp_ms, 2_000);
    for (index, (event, receipt)) in events.iter().zip(&receipts).enumerate() {
        assert_eq!(event.seq, index as u64 + 1);
        assert_eq!(event.state, vec![index as u32 + 1, 0]);
        assert_eq!(event.hash, receipt.hash);
        if index > 0 {
            assert_eq!(
                event.prev_hash,
                events[index - 1].hash,
                "each hash covers the one before"
            );
        }
    }
    let head = machines.state("trial", "foo").unwrap();
    assert_eq!(head.rev, 10);
    assert_eq!(head.last_action.as_deref(), Some("INC_0"));
    assert_eq!(head.modified_ms, events[9].timestamp_ms);
    assert_eq!(head.head_hash, events[9].hash);
    // One event by its hash.
    assert_eq!(
        machines.event("trial", &events[4].hash).unwrap().as_ref(),
        Some(&events[4])
    );
    assert_eq!(machines.event("trial", &[7; 32]).unwrap(), None);
    // Pages.
    let page = machines.events_page("trial", "foo", 3, 4).unwrap();
    assert_eq!(page.iter().map(|event| event.seq).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
    assert_eq!(machines.verify("trial", "foo").unwrap().events, 10);
}

#[test]
fn roles_multiples_and_payload_limits_are_enforced_by_dispatch() {
    let net = Net::new(
        NetSpec::new()
            .place_with_capacity("cash", 0, 10)
            .transition_with_role("mint", "bank")
            .arc("mint", "cash", 1),
    )
    .unwrap();
    let machines = Machines::new(MemStore::new());
    machines.register("mint", &net).unwrap();
    machines.create_stream("mint", "vault", 0).unwrap();
    let error = machines.dispatch("mint", "vault", "mint", b"", 1).unwrap_err();
    assert!(matches!(error, PetriError::RoleMismatch { .. }), "{error}");
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
    let receipt = machines
        .dispatch_command("mint", "vault", &Command::new("mint", b"").as_role("bank").times(10), 2)
        .unwrap();
    assert_eq!(receipt.state, vec![10]);
    let error = machines
        .dispatch_command("mint", "vault", &Command::new("mint", b"").as_role("bank"), 3)
        .unwrap_err();
    assert!(matches!(error, PetriError::ExceedsCapacity { .. }), "{error}");
    assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
    let big = vec![0u8; tally_petri::stream::MAX_PAYLOAD_BYTES + 1];
    let error = machines
        .dispatch_command("mint", "vault", &Command::new("mint", &big).as_role("bank"), 4)
        .unwrap_err();
    assert!(matches!(error, PetriError::LimitExceeded { .. }), "{error}");
    assert_eq!(machines.verify("mint", "vault").unwrap().events, 1);
}

#[test]
fn a_dispatch_that_fails_before_the_write_stores_nothing() {
    let machines = trial(FaultyStore::new(MemStore::new()));
    machines.dispatch("trial", "foo", "INC_0", b"{}", 2_000).unwrap();
    let before = key_count(machines.store().inner());
    machines.store().inject(Fault::on_commit().nth(1).before_write());
    let error = machines.dispatch("trial", "foo", "INC_0", b"{}", 2_001).unwrap_err();
    assert!(
        matches!(&error, PetriError::Store(inner) if inner.is_injected()),
        "{error}"
    );
    assert_eq!(key_count(machines.store().inner()), before);
    assert_eq!(machines.state("trial", "foo").unwrap().rev, 1);
    assert_eq!(machines.verify("trial", "foo").unwrap().events, 1);
    // And a plain retry then applies it once.
    assert_eq!(machines.dispatch("trial", "foo", "INC_0", b"{}", 2_001).unwrap().seq, 2);
}

#[test]
fn a_retry_after_a_lost_acknowledgement_applies_once() {
    let machines = trial(FaultyStore::new(MemStore::new()));
    machines.store().inject(Fault::on_commit().nth(1).after_write());
    let command = Command::new("INC_0", b"{\"n\":1}").after(0);
    let error = machines.dispatch_command("trial", "foo", &command, 2_000).unwrap_err();
    assert!(
        matches!(&error, PetriError::Store(inner) if inner.is_injected()),
        "{error}"
    );
    let retry = machines.dispatch_command("trial", "foo", &command, 2_000).unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.seq, 1);
    assert_eq!(machines.events("trial", "foo").unwrap().len(), 1);
    // Another command after 0 is stale now.
    let stale = machines
        .dispatch_command("trial", "foo", &Command::new("INC_1", b"").after(0), 2_001)
        .unwrap_err();
    assert!(
        matches!(
            stale,
            PetriError::StaleRevision {
                expected: 0,
                current: 1,
                ..
            }
        ),
        "{stale}"
    );
    assert_eq!(machines.verify("trial", "foo").unwrap().events, 1);
}

#[test]
fn registering_and_creating_again_after_a_lost_acknowledgement_is_a_no_op() {
    let machines = Machines::new(FaultyStore::new(MemStore::new()));
    machines.store().inject(Fault::on_commit().nth(1).after_write());
    assert!(machines.register("trial", &counter()).is_err());
    assert!(
        !machines.register("trial", &counter()).unwrap(),
        "the lost registration had been applied"
    );
    machines.store().clear();
    machines.store().inject(Fault::on_commit().nth(1).after_write());
    assert!(machines.create_stream("trial", "foo", 1_000).is_err());
    assert!(!machines.create_stream("trial", "foo", 1_000).unwrap());
    assert_eq!(machines.state("trial", "foo").unwrap().rev, 0);
    assert_eq!(machines.verify("trial", "foo").unwrap().events, 0);
}

#[test]
fn concurrent_dispatches_to_one_stream_keep_the_sequence_gapless() {
    const THREADS: u64 = 4;
    const EACH: u64 = 25;
    let machines = trial(MemStore::new());
    let clock = AtomicU64::new(10_000);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..EACH {
                    let now = clock.fetch_add(1, Ordering::Relaxed);
                    machines.dispatch("trial", "foo", "INC_0", b"{}", now).unwrap();
                }
            });
        }
    });
    let events = machines.events("trial", "foo").unwrap();
    let seqs: Vec<u64> = events.iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=THREADS * EACH).collect::<Vec<_>>());
    assert_eq!(
        machines.state("trial", "foo").unwrap().state,
        vec![(THREADS * EACH) as u32, 0]
    );
    assert_eq!(machines.verify("trial", "foo").unwrap().events, THREADS * EACH);
}

#[test]
fn the_hash_chain_survives_a_redb_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("petri.redb");
    {
        let machines = trial(tally_store_redb::RedbStore::open(&path).unwrap());
        for index in 0..5 {
            machines
                .dispatch("trial", "foo", "INC_1", b"{}", 2_000 + index)
                .unwrap();
        }
    }
    let machines = Machines::new(tally_store_redb::RedbStore::open(&path).unwrap());
    assert_eq!(machines.verify("trial", "foo").unwrap().events, 5);
    assert_eq!(machines.state("trial", "foo").unwrap().state, vec![0, 5]);
}

/// Every stored (key, value) of the store.
fn stored(store: &MemStore) -> Vec<(Vec<u8>, Vec<u8>)> {
    scan_all(store, b"", 1_000)
        .map(|entry| entry.map(|entry| (entry.key, entry.value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap()
}

fn tamper(store: &MemStore, key: &[u8], mut value: Vec<u8>, offset: usize, xor: u8) {
    value[offset] ^= xor;
    let mut batch = Batch::new();
    batch.put(key.to_vec(), value);
    store.commit(batch).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chain_verification_fails_after_any_single_byte_tamper(
        actions in proptest::collection::vec(0usize..2, 1..8),
        pick in any::<prop::sample::Index>(),
        offset in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let machines = trial(MemStore::new());
        for (index, action) in actions.iter().enumerate() {
            let action = ["INC_0", "INC_1"][*action];
            machines.dispatch("trial", "foo", action, format!("{{\"i\":{index}}}").as_bytes(), 5_000 + index as u64).unwrap();
        }
        prop_assert!(machines.verify("trial", "foo").is_ok());
        let records = stored(machines.store());
        let (key, value) = pick.get(&records).clone();
        let offset = offset.index(value.len());
        tamper(machines.store(), &key, value, offset, xor);
        let verdict = machines.verify("trial", "foo");
        prop_assert!(verdict.is_err(), "tampering byte {} of {:?} went unnoticed", offset, key);
    }

    #[test]
    fn random_faults_never_lose_or_repeat_a_retried_command(
        actions in proptest::collection::vec(0usize..4, 1..12),
        fault_seed in any::<u64>(),
        after_write in any::<bool>(),
    ) {
        let store = FaultyStore::new(MemStore::new());
        let machines = trial(store);
        let fault = Fault::on_commit().rate(0.4, fault_seed);
        machines.store().inject(if after_write { fault.after_write() } else { fault.before_write() });
        // The model: the counter, applying each command that is valid.
        let mut model = vec![0u32, 0];
        let mut accepted = Vec::new();
        let mut seq = 0;
        for (index, &action) in actions.iter().enumerate() {
            let name = ["INC_0", "INC_1", "DEC_1", "DEC_0"][action];
            let command = Command::new(name, &[index as u8]).after(seq);
            let now = 9_000 + index as u64;
            let outcome = loop {
                match machines.dispatch_command("trial", "foo", &command, now) {
                    Err(PetriError::Store(error)) if error.is_injected() => continue,
                    other => break other,
                }
            };
            let place = [0usize, 1, 1, 0][action];
            let valid = action < 2 || model[place] > 0;
            match outcome {
                Ok(receipt) => {
                    prop_assert!(valid, "{} was accepted on {:?}", name, model);
                    if action < 2 { model[place] += 1 } else { model[place] -= 1 }
                    seq += 1;
                    prop_assert_eq!(receipt.seq, seq);
                    prop_assert_eq!(&receipt.state, &model);
                    accepted.push(name);
                }
                Err(error) => {
                    prop_assert!(!valid, "{} refused on {:?}: {}", name, model, error);
                    prop_assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
                }
            }
        }
        machines.store().clear();
        let events = machines.events("trial", "foo").unwrap();
        prop_assert_eq!(events.iter().map(|event| event.action.as_str()).collect::<Vec<_>>(), accepted);
        prop_assert_eq!(machines.state("trial", "foo").unwrap().state, model);
        prop_assert!(machines.verify("trial", "foo").is_ok());
    }
}

#[test]
fn verify_names_the_fault_it_finds() {
    let machines = trial(MemStore::new());
    for index in 0..3 {
        machines
            .dispatch("trial", "foo", "INC_0", b"{}", 2_000 + index)
            .unwrap();
    }
    // Delete the last event: the head says 3.
    let events = machines.events("trial", "foo").unwrap();
    let (key, _) = stored(machines.store())
        .into_iter()
        .filter(|(key, _)| key.windows(1).next().is_some())
        .find(|(_, value)| {
            tally_store::codec::decode::<tally_petri::Event>(value).is_ok_and(|event| event == events[2])
        })
        .unwrap();
    let mut batch = Batch::new();
    batch.delete(key);
    machines.store().commit(batch).unwrap();
    let error = machines.verify("trial", "foo").unwrap_err();
    assert!(
        matches!(
            &error,
            PetriError::ChainBroken {
                fault: ChainFault::MissingEvents { expected: 3, found: 2 },
                ..
            }
        ),
        "{error}"
    );
}
