//! The marketplace on a store: the shell applies exactly the core's rules,
//! one atomic commit per operation; it survives restarts; several hosts
//! share one store; an operation repeated with its transaction id after a
//! lost acknowledgement applies nothing twice; and under random operations
//! with random store faults and restarts the persisted marketplace never
//! leaves the core's (tokens conserved throughout). `TALLY_LONG_TESTS=1`
//! runs twenty times as many cases.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod marketplace_fixtures;

use std::sync::Arc;

use marketplace_fixtures::ops::{note_request, op};
use marketplace_fixtures::*;
use proptest::prelude::*;
use tally_market::marketplace::{ContractState, Event, Marketplace, Operation, Receipt};
use tally_market::{MarketError, RequestId, SlotState, TxId};
use tally_store::{Fault, FaultyStore, MemStore, Store};

type Faulty = Arc<FaultyStore<MemStore>>;

fn tx(n: u64) -> TxId {
    TxId::derive("test", &[&n.to_be_bytes()])
}

/// The same marketplace twice: in memory (the model) and on a store.
struct Twin<S: Store> {
    market: Marketplace<S>,
    model: ContractState,
    next_tx: u64,
}

impl<S: Store> Twin<S> {
    fn open(store: S) -> Twin<S> {
        let mut twin = Twin {
            market: Marketplace::open(store, config(), START).unwrap(),
            model: ContractState::new(config(), START).unwrap(),
            next_tx: 0,
        };
        for account in [CLIENT, CLIENT2, HOST1, HOST2, HOST3, HOST4] {
            twin.ok(Operation::Mint {
                account,
                amount: u(WEALTH),
            });
        }
        twin
    }

    /// Applies `op` to both; they must agree on the outcome and the state.
    fn apply(&mut self, op: Operation) -> Result<Receipt, MarketError> {
        self.next_tx += 1;
        let expected = self.model.apply(&op);
        let got = self.market.apply(&tx(self.next_tx), &op);
        match (&expected, &got) {
            (Ok(outcome), Ok(receipt)) => assert_eq!(&receipt.outcome, outcome, "{op:?}"),
            (Err(e), Err(g)) => assert_eq!(e.kind(), g.kind(), "{op:?}"),
            _ => panic!("{op:?}: the core said {expected:?}, the shell {got:?}"),
        }
        self.assert_same();
        got
    }

    fn ok(&mut self, op: Operation) -> Receipt {
        self.apply(op).unwrap()
    }

    fn assert_same(&self) {
        let snapshot = self.market.snapshot().unwrap();
        assert_eq!(snapshot, self.model, "the store and the core disagree");
        snapshot.check().unwrap();
    }
}

fn request_op(nonce: u8) -> (RequestId, Operation) {
    let request = request(nonce);
    (request.id().unwrap(), Operation::RequestStorage { request })
}

/// A request that runs its course with a slash, a repair, payouts and a
/// refund; another that expires unfilled.
fn lifecycle() -> Vec<Operation> {
    let (a, request_a) = request_op(1);
    let (b, request_b) = request_op(2);
    let mut ops = vec![request_a, request_b, Operation::Advance { seconds: 20 }];
    for (index, host) in [(0, HOST1), (1, HOST2), (2, HOST3), (3, HOST4)] {
        ops.push(Operation::ReserveSlot {
            host,
            request_id: a,
            slot_index: index,
        });
        ops.push(Chain::fill_op(host, a, index));
    }
    let s0 = slot(&a, 0);
    // Filled in period 102; HOST1 misses 103 and 104 and is freed.
    for (seconds, missed) in [(21, 103), (10, 104)] {
        ops.push(Operation::Advance { seconds });
        ops.push(Operation::MarkProofAsMissing {
            validator: VALIDATOR,
            slot_id: s0,
            period: missed,
        });
    }
    ops.push(Operation::Advance { seconds: 10 });
    ops.push(Operation::ReserveSlot {
        host: HOST2,
        request_id: a,
        slot_index: 0,
    });
    ops.push(Chain::fill_op(HOST2, a, 0));
    ops.push(Operation::SubmitProof {
        host: HOST3,
        slot_id: slot(&a, 2),
        proof: vec![3],
    });
    ops.push(Operation::Advance { seconds: 1_000 });
    for (index, host) in [(0, HOST2), (1, HOST2), (2, HOST3), (3, HOST4)] {
        ops.push(Operation::FreeSlot {
            host,
            slot_id: slot(&a, index),
        });
    }
    ops.push(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: a,
    });
    ops.push(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: b,
    });
    ops
}

#[test]
fn the_shell_applies_the_core_rules_record_for_record() {
    let mut twin = Twin::open(MemStore::new());
    let mut events = Vec::new();
    for op in lifecycle() {
        events.extend(twin.ok(op).outcome.events);
    }
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    for expected in [
        "StorageRequested",
        "SlotFilled",
        "RequestFulfilled",
        "SlotFreed",
        "RequestCancelled",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let snapshot = twin.market.snapshot().unwrap();
    let totals = snapshot.totals();
    assert!(totals.escrow.is_zero() && totals.collateral.is_zero());
    assert_eq!(totals.burned, u(COLLATERAL - 2 * 40 - 100));
    // Receipts are numbered in order; the log holds every one.
    let receipts = twin.market.receipts_after(None, 1_000).unwrap();
    assert_eq!(receipts.len() as u64, twin.next_tx);
    assert!(receipts.iter().enumerate().all(|(i, r)| r.seq == i as u64));
}

#[test]
fn a_restarted_marketplace_resumes_from_its_records() {
    let store = Arc::new(MemStore::new());
    let mut twin = Twin::open(Arc::clone(&store));
    let ops = lifecycle();
    let (first, rest) = ops.split_at(12);
    for op in first {
        twin.ok(op.clone());
    }
    // The process dies; another opens the same store.
    twin.market = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
    twin.assert_same();
    assert_eq!(
        twin.market.now_secs().unwrap(),
        twin.model.now_secs(),
        "the clock is the stored one"
    );
    for op in rest {
        twin.ok(op.clone());
    }
}

#[test]
fn reopening_with_another_configuration_is_refused() {
    let store = Arc::new(MemStore::new());
    Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
    let mut other = config();
    other.max_reservations = 9;
    let error = Marketplace::open(Arc::clone(&store), other, 0).unwrap_err();
    assert!(matches!(error, MarketError::Invalid { field: "config", .. }), "{error}");
}

#[test]
fn an_operation_repeated_with_its_tx_id_returns_the_first_receipt_and_applies_nothing() {
    let market = Marketplace::open(MemStore::new(), config(), START).unwrap();
    let mint = Operation::Mint {
        account: HOST1,
        amount: u(500),
    };
    let first = market.apply(&tx(1), &mint).unwrap();
    let again = market.apply(&tx(1), &mint).unwrap();
    assert_eq!(first, again);
    assert_eq!(market.balance(&HOST1).unwrap(), u(500));
    let advance = Operation::Advance { seconds: 7 };
    market.apply(&tx(2), &advance).unwrap();
    market.apply(&tx(2), &advance).unwrap();
    assert_eq!(market.now_secs().unwrap(), START + 7);
    // A different transaction id is a different operation.
    market.apply(&tx(3), &mint).unwrap();
    assert_eq!(market.balance(&HOST1).unwrap(), u(1_000));
}

#[test]
fn a_tx_id_names_one_operation_only() {
    let market = Marketplace::open(MemStore::new(), config(), START).unwrap();
    market.apply(&tx(1), &Operation::Advance { seconds: 1 }).unwrap();
    let error = market.apply(&tx(1), &Operation::Advance { seconds: 2 }).unwrap_err();
    assert_eq!(error.kind(), "tx_id_reused");
    assert_eq!(market.now_secs().unwrap(), START + 1);
}

#[test]
fn a_refused_operation_leaves_no_receipt_and_changes_nothing() {
    let mut twin = Twin::open(MemStore::new());
    let before = twin.market.receipt_range().unwrap();
    let error = twin
        .apply(Operation::WithdrawFunds {
            client: CLIENT,
            request_id: RequestId([1; 32]),
        })
        .unwrap_err();
    assert_eq!(error.kind(), "unknown_request");
    assert_eq!(twin.market.receipt_range().unwrap(), before);
}

#[test]
fn receipts_are_the_event_log_in_order_and_the_oldest_are_forgotten() {
    let market = Marketplace::open(MemStore::new(), config(), START)
        .unwrap()
        .with_max_receipts(3);
    for n in 0..5 {
        market.apply(&tx(n), &Operation::Advance { seconds: 1 }).unwrap();
    }
    assert_eq!(market.receipt_range().unwrap(), 2..5);
    let seqs: Vec<u64> = market.receipts_after(None, 10).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4]);
    let after: Vec<u64> = market
        .receipts_after(Some(2), 10)
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(after, vec![3, 4]);
    // A forgotten receipt no longer protects its operation from a repeat.
    market.apply(&tx(0), &Operation::Advance { seconds: 1 }).unwrap();
    assert_eq!(market.now_secs().unwrap(), START + 6);
    market.apply(&tx(4), &Operation::Advance { seconds: 1 }).unwrap();
    assert_eq!(market.now_secs().unwrap(), START + 6, "a kept receipt still does");
}

#[test]
fn hosts_sharing_one_store_fill_the_slots_of_a_request_concurrently() {
    let store = Arc::new(MemStore::new());
    let setup = Twin::open(Arc::clone(&store));
    let (id, request) = request_op(1);
    setup.market.apply(&tx(100), &request).unwrap();
    let hosts = [HOST1, HOST2, HOST3, HOST4];
    let threads: Vec<_> = hosts
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let store = Arc::clone(&store);
            let host = *host;
            std::thread::spawn(move || {
                let market = Marketplace::open(store, config(), 0).unwrap();
                let index = index as u64;
                let reserve = Operation::ReserveSlot {
                    host,
                    request_id: id,
                    slot_index: index,
                };
                market
                    .apply(&TxId::derive("reserve", &[host.as_bytes()]), &reserve)
                    .unwrap();
                market
                    .apply(
                        &TxId::derive("fill", &[host.as_bytes()]),
                        &Chain::fill_op(host, id, index),
                    )
                    .unwrap()
            })
        })
        .collect();
    let receipts: Vec<Receipt> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let fulfilled = receipts
        .iter()
        .filter(|r| r.outcome.events.contains(&Event::RequestFulfilled { request_id: id }))
        .count();
    assert_eq!(fulfilled, 1, "exactly one fill started the request");
    let snapshot = setup.market.snapshot().unwrap();
    snapshot.check().unwrap();
    for index in 0..4 {
        assert_eq!(snapshot.slot_state(&slot(&id, index)).unwrap(), SlotState::Filled);
        assert_eq!(
            snapshot.slot(&slot(&id, index)).unwrap().host,
            Some(hosts[index as usize])
        );
    }
}

// ----- faults, one operation at a time ---------------------------------------------

/// A marketplace with a started request (slots 0–3 filled by HOST1–HOST4
/// at START + 20, in period 102) and a new one (request 2), at START + 41.
fn prepared() -> (Faulty, RequestId, RequestId) {
    let store: Faulty = Arc::new(FaultyStore::new(MemStore::new()));
    let mut twin = Twin::open(Arc::clone(&store));
    for op in &lifecycle()[..11] {
        twin.ok(op.clone());
    }
    // Period 104: period 103 can be validated.
    twin.ok(Operation::Advance { seconds: 21 });
    (store, request(1).id().unwrap(), request(2).id().unwrap())
}

fn steps(a: RequestId, b: RequestId) -> Vec<(&'static str, Operation)> {
    vec![
        (
            "mint",
            Operation::Mint {
                account: VALIDATOR,
                amount: u(3),
            },
        ),
        ("request_storage", request_op(3).1),
        (
            "reserve_slot",
            Operation::ReserveSlot {
                host: HOST1,
                request_id: b,
                slot_index: 0,
            },
        ),
        (
            "free_slot",
            Operation::FreeSlot {
                host: HOST2,
                slot_id: slot(&a, 1),
            },
        ),
        (
            "submit_proof",
            Operation::SubmitProof {
                host: HOST3,
                slot_id: slot(&a, 2),
                proof: vec![1],
            },
        ),
        (
            "mark_proof_as_missing",
            Operation::MarkProofAsMissing {
                validator: VALIDATOR,
                slot_id: slot(&a, 0),
                period: 103,
            },
        ),
        ("advance", Operation::Advance { seconds: 400 }),
    ]
}

fn model_after(op: &Operation) -> ContractState {
    let (store, _, _) = prepared();
    let market = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
    market.apply(&tx(999), op).unwrap();
    market.snapshot().unwrap()
}

#[test]
fn a_commit_failing_before_the_write_changes_nothing_and_the_operation_can_be_repeated() {
    let (_, a, b) = prepared();
    for (name, op) in steps(a, b) {
        let (store, _, _) = prepared();
        let market = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
        let before = market.snapshot().unwrap();
        store.inject(Fault::on_commit().nth(1).times(1).before_write());
        let error = market.apply(&tx(999), &op).unwrap_err();
        assert!(
            matches!(error, MarketError::Store(ref e) if e.is_injected()),
            "{name}: {error}"
        );
        assert_eq!(market.snapshot().unwrap(), before, "{name} changed something");
        market
            .apply(&tx(999), &op)
            .unwrap_or_else(|e| panic!("{name} repeated: {e}"));
        assert_eq!(market.snapshot().unwrap(), model_after(&op), "{name}");
    }
}

#[test]
fn repeating_an_operation_whose_acknowledgement_was_lost_applies_it_once() {
    let (_, a, b) = prepared();
    for (name, op) in steps(a, b) {
        let expected = model_after(&op);
        let (store, _, _) = prepared();
        let market = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
        store.inject(Fault::on_commit().nth(1).times(1).after_write());
        let error = market.apply(&tx(999), &op).unwrap_err();
        assert!(
            matches!(error, MarketError::Store(ref e) if e.is_injected()),
            "{name}: {error}"
        );
        assert_eq!(
            market.snapshot().unwrap(),
            expected,
            "{name}: the lost acknowledgement hid a write"
        );
        for attempt in 0..2 {
            market
                .apply(&tx(999), &op)
                .unwrap_or_else(|e| panic!("{name} repeat {attempt}: {e}"));
            assert_eq!(market.snapshot().unwrap(), expected, "{name} applied twice");
        }
        // A restart in between changes nothing either.
        let restarted = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
        restarted.apply(&tx(999), &op).unwrap();
        assert_eq!(restarted.snapshot().unwrap(), expected, "{name} after a restart");
    }
}

#[test]
fn a_failed_read_changes_nothing_and_the_operation_can_be_repeated() {
    let (_, a, b) = prepared();
    for (name, op) in steps(a, b) {
        for nth in 1..4 {
            let (store, _, _) = prepared();
            let market = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
            let before = market.snapshot().unwrap();
            store.inject(Fault::on_get().nth(nth).times(1));
            let result = market.apply(&tx(999), &op);
            store.clear();
            match result {
                Err(MarketError::Store(error)) if error.is_injected() => {
                    assert_eq!(market.snapshot().unwrap(), before, "{name} read {nth}");
                    market.apply(&tx(999), &op).unwrap();
                }
                Err(error) => panic!("{name}: {error}"),
                Ok(_) => {} // the operation read fewer keys
            }
            assert_eq!(market.snapshot().unwrap(), model_after(&op), "{name} read {nth}");
        }
    }
}

// ----- random operations, random faults, random restarts ------------------------------

#[derive(Debug, Clone)]
enum Trouble {
    None,
    FailCommitBeforeWrite,
    LoseAcknowledgement,
    FailRead(u64),
    Restart,
}

fn trouble() -> impl Strategy<Value = Trouble> {
    prop_oneof![
        12 => Just(Trouble::None),
        2 => Just(Trouble::FailCommitBeforeWrite),
        2 => Just(Trouble::LoseAcknowledgement),
        2 => (1u64..6).prop_map(Trouble::FailRead),
        1 => Just(Trouble::Restart),
    ]
}

fn cases(ci: u32) -> u32 {
    if std::env::var_os("TALLY_LONG_TESTS").is_some() {
        ci * 20
    } else {
        ci
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(32), ..ProptestConfig::default() })]

    #[test]
    fn the_persisted_marketplace_follows_the_core_through_faults_and_restarts(
        steps in prop::collection::vec((op(), trouble()), 1..80),
    ) {
        let store: Faulty = Arc::new(FaultyStore::new(MemStore::new()));
        let mut market = Marketplace::open(Arc::clone(&store), config(), START).unwrap();
        let mut model = ContractState::new(config(), START).unwrap();
        let mut requests = Vec::new();
        let mut n = 0u64;
        let mut apply_both = |market: &Marketplace<Faulty>, model: &mut ContractState, operation: &Operation, trouble: &Trouble| -> bool {
            n += 1;
            let id = tx(n);
            let expected = model.apply(operation);
            match trouble {
                Trouble::FailCommitBeforeWrite => store.inject(Fault::on_commit().nth(1).times(1).before_write()),
                Trouble::LoseAcknowledgement => store.inject(Fault::on_commit().nth(1).times(1).after_write()),
                Trouble::FailRead(nth) => store.inject(Fault::on_get().nth(*nth).times(1)),
                Trouble::None | Trouble::Restart => 0,
            };
            let mut got = market.apply(&id, operation);
            // A store error: repeat with the same id until it answers.
            for _ in 0..3 {
                match &got {
                    Err(MarketError::Store(error)) if error.is_injected() => got = market.apply(&id, operation),
                    _ => break,
                }
            }
            store.clear();
            match (&expected, &got) {
                (Ok(outcome), Ok(receipt)) => assert_eq!(&receipt.outcome, outcome),
                (Err(e), Err(g)) => assert_eq!(e.kind(), g.kind(), "{operation:?}"),
                _ => panic!("{operation:?} ({trouble:?}): the core said {expected:?}, the shell {got:?}"),
            }
            expected.is_ok()
        };
        for account in [CLIENT, CLIENT2, HOST1, HOST2, HOST3, HOST4] {
            let mint = Operation::Mint { account, amount: u(WEALTH) };
            apply_both(&market, &mut model, &mint, &Trouble::None);
        }
        for (op, trouble) in &steps {
            if let Trouble::Restart = trouble {
                market = Marketplace::open(Arc::clone(&store), config(), 0).unwrap();
            }
            for operation in op.resolve(&requests, &model) {
                if apply_both(&market, &mut model, &operation, trouble) {
                    note_request(&operation, &mut requests);
                }
            }
            let snapshot = market.snapshot().unwrap();
            prop_assert_eq!(&snapshot, &model);
            snapshot.check().unwrap();
        }
    }
}
