//! Property tests of the balance core: the formula, and the parallelism
//! rule under random interleavings of workers that read, decide and commit
//! at different moments (the store's optimistic commits modelled exactly:
//! a commit whose read keys changed is retried on fresh reads).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use proptest::prelude::*;
use tally_connector::AccountConfig;
use tally_connector::balance::{BalanceChange, BalanceParts, check_coordinated, check_outgoing};

fn change_strategy() -> impl Strategy<Value = BalanceChange> {
    let amount = prop_oneof![0u64..1_000, Just(u64::MAX), any::<u64>()];
    (0u8..8, amount).prop_map(|(kind, amount)| match kind {
        0 => BalanceChange::OutgoingPrepared(amount),
        1 => BalanceChange::OutgoingFulfilled(amount),
        2 => BalanceChange::OutgoingReleased(amount),
        3 => BalanceChange::IncomingFulfilled(amount),
        4 => BalanceChange::IncomingUnconditional(amount),
        5 => BalanceChange::OutgoingUnconditional(amount),
        6 => BalanceChange::MovedIn(amount),
        _ => BalanceChange::MovedOut(amount),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The balance is always exactly the formula over every change applied,
    /// and a refused change leaves the record untouched.
    #[test]
    fn balance_is_always_the_formula_over_the_applied_changes(
        changes in proptest::collection::vec(change_strategy(), 0..60)
    ) {
        let mut parts = BalanceParts::default();
        // The model: a plain signed sum, and the prepared amount.
        let mut model_balance: i128 = 0;
        let mut model_prepared: i128 = 0;
        for change in changes {
            match parts.apply(change) {
                Ok(next) => {
                    let (balance_delta, prepared_delta) = match change {
                        BalanceChange::OutgoingPrepared(a) => (-i128::from(a), i128::from(a)),
                        BalanceChange::OutgoingFulfilled(a) => (0, -i128::from(a)),
                        BalanceChange::OutgoingReleased(a) => (i128::from(a), -i128::from(a)),
                        BalanceChange::IncomingFulfilled(a)
                        | BalanceChange::IncomingUnconditional(a)
                        | BalanceChange::MovedIn(a) => (i128::from(a), 0),
                        BalanceChange::OutgoingUnconditional(a) | BalanceChange::MovedOut(a) => (-i128::from(a), 0),
                    };
                    model_balance += balance_delta;
                    model_prepared += prepared_delta;
                    parts = next;
                }
                Err(_) => {
                    // Only settling more than is prepared can be refused at these sizes.
                    let settles_more = match change {
                        BalanceChange::OutgoingFulfilled(a) | BalanceChange::OutgoingReleased(a) => {
                            i128::from(a) > model_prepared
                        }
                        _ => false,
                    };
                    prop_assert!(settles_more, "refused {change:?} with {model_prepared} prepared");
                }
            }
            prop_assert!(model_prepared >= 0);
            prop_assert_eq!(parts.outgoing_prepared as i128, model_prepared);
            let formula = parts.incoming_fulfilled as i128 + parts.incoming_unconditional as i128
                - parts.outgoing_fulfilled as i128 - parts.outgoing_unconditional as i128
                - parts.outgoing_prepared as i128 + parts.moved_in as i128 - parts.moved_out as i128;
            prop_assert_eq!(parts.balance(), Some(formula));
            prop_assert_eq!(formula, model_balance);
        }
    }
}

/// One worker operation in the interleaving model.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// An outgoing prepare of `amount` from `slot` (writes the slot only).
    Prepare { slot: usize, amount: u64 },
    /// Release (reject) the slot's oldest prepare.
    Release { slot: usize },
    /// Move `amount` between the cold record and `slot` (writes both).
    Move { slot: usize, amount: u64, to_hot: bool },
}

/// The store as the shell sees it: each record with a version that grows on
/// every write, exactly what the optimistic commit checks.
#[derive(Debug, Clone)]
struct Model {
    config: AccountConfig,
    cold: (BalanceParts, u64),
    hot: Vec<(BalanceParts, u64)>,
    prepared: Vec<Vec<u64>>,
}

/// What an operation read: the versions it will require at commit, and the
/// decision it took from those reads.
#[derive(Debug, Clone)]
struct Decided {
    versions: Vec<(Option<usize>, u64)>,
    writes: Vec<(Option<usize>, BalanceChange)>,
}

impl Model {
    fn total(&self) -> i128 {
        self.cold.0.balance().unwrap() + self.hot.iter().map(|(h, _)| h.balance().unwrap()).sum::<i128>()
    }

    fn version(&self, record: Option<usize>) -> u64 {
        match record {
            None => self.cold.1,
            Some(slot) => self.hot[slot].1,
        }
    }

    /// Reads and decides, as one attempt of the shell's transaction does.
    fn decide(&self, op: Op) -> Decided {
        let cold = self.cold.0.balance().unwrap();
        let hots: Vec<i128> = self.hot.iter().map(|(h, _)| h.balance().unwrap()).collect();
        match op {
            Op::Prepare { slot, amount } => Decided {
                versions: vec![(None, self.cold.1), (Some(slot), self.hot[slot].1)],
                writes: if check_outgoing(&self.config, cold, hots[slot], amount).is_ok() {
                    vec![(Some(slot), BalanceChange::OutgoingPrepared(amount))]
                } else {
                    vec![]
                },
            },
            Op::Release { slot } => Decided {
                versions: vec![(Some(slot), self.hot[slot].1)],
                writes: self.prepared[slot]
                    .first()
                    .map(|&amount| vec![(Some(slot), BalanceChange::OutgoingReleased(amount))])
                    .unwrap_or_default(),
            },
            Op::Move { slot, amount, to_hot } => {
                let mut versions = vec![(None, self.cold.1)];
                versions.extend((0..self.hot.len()).map(|s| (Some(s), self.hot[s].1)));
                let signed = i128::from(amount);
                let (cold_delta, hot_delta) = if to_hot { (-signed, signed) } else { (signed, -signed) };
                let allowed = check_coordinated(&self.config, cold, &hots, Some(slot), cold_delta, hot_delta).is_ok();
                let writes = match (allowed, to_hot) {
                    (false, _) => vec![],
                    (true, true) => vec![
                        (None, BalanceChange::MovedOut(amount)),
                        (Some(slot), BalanceChange::MovedIn(amount)),
                    ],
                    (true, false) => vec![
                        (Some(slot), BalanceChange::MovedOut(amount)),
                        (None, BalanceChange::MovedIn(amount)),
                    ],
                };
                Decided { versions, writes }
            }
        }
    }

    /// Commits if every version read still holds; false = conflict.
    fn commit(&mut self, decided: &Decided) -> bool {
        if decided
            .versions
            .iter()
            .any(|&(record, version)| self.version(record) != version)
        {
            return false;
        }
        for &(record, change) in &decided.writes {
            let slot_record = match record {
                None => &mut self.cold,
                Some(slot) => &mut self.hot[slot],
            };
            slot_record.0 = slot_record.0.apply(change).unwrap();
            slot_record.1 += 1;
            if let Some(slot) = record {
                match change {
                    BalanceChange::OutgoingPrepared(amount) => self.prepared[slot].push(amount),
                    BalanceChange::OutgoingReleased(_) => {
                        self.prepared[slot].remove(0);
                    }
                    _ => {}
                }
            }
        }
        true
    }
}

fn op_strategy(parallelism: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..parallelism, 1u64..400).prop_map(|(slot, amount)| Op::Prepare { slot, amount }),
        2 => (0..parallelism).prop_map(|slot| Op::Release { slot }),
        1 => (0..parallelism, 1u64..300, any::<bool>()).prop_map(|(slot, amount, to_hot)| Op::Move { slot, amount, to_hot }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, u64, i128, Vec<(Op, usize)>)> {
    (1usize..=4, 0u64..2_000, prop_oneof![Just(0i128), -500i128..0]).prop_flat_map(|(p, cold, min)| {
        (
            Just(p),
            Just(cold),
            Just(min),
            proptest::collection::vec((op_strategy(p), 0usize..8), 1..60),
        )
    })
}

/// Runs `ops`, each reading at its index and committing `delay` steps later,
/// retrying on conflict; checks `total ≥ min_balance` after every commit.
fn run_interleaved(model: &mut Model, ops: &[(Op, usize)]) -> Result<(), TestCaseError> {
    let mut in_flight: Vec<(usize, usize, Decided)> = Vec::new(); // (commit_at, op index, decision)
    let horizon = ops.len() + 8;
    for step in 0..=horizon {
        if let Some(&(op, delay)) = ops.get(step) {
            in_flight.push((step + delay, step, model.decide(op)));
        }
        let mut due: Vec<(usize, usize, Decided)> = Vec::new();
        in_flight.retain(|entry| {
            if entry.0 <= step {
                due.push(entry.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|entry| entry.1);
        for (_, index, decided) in due {
            let mut decided = decided;
            // A conflict re-runs the closure on fresh reads (transact's retry).
            for _attempt in 0..10 {
                if model.commit(&decided) {
                    break;
                }
                decided = model.decide(ops[index].0);
            }
            prop_assert!(
                model.total() >= model.config.min_balance,
                "total {} below min_balance {} after op {index}",
                model.total(),
                model.config.min_balance
            );
        }
    }
    prop_assert!(in_flight.is_empty());
    Ok(())
}

fn fresh_model(parallelism: usize, cold: u64, min_balance: i128) -> Model {
    Model {
        config: AccountConfig {
            parallelism: parallelism as u32,
            min_balance,
            ..AccountConfig::default()
        },
        cold: (
            BalanceParts::default()
                .apply(BalanceChange::IncomingUnconditional(cold))
                .unwrap(),
            1,
        ),
        hot: vec![(BalanceParts::default(), 0); parallelism],
        prepared: vec![Vec::new(); parallelism],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Workers that decide from reads taken at different moments, and commit
    /// in any order, never take the account below `min_balance`.
    #[test]
    fn parallelism_rule_keeps_the_total_above_min_balance_under_any_interleaving(
        (parallelism, cold, min_balance, ops) in scenario()
    ) {
        let mut model = fresh_model(parallelism, cold, min_balance);
        run_interleaved(&mut model, &ops)?;
    }
}

/// The control: the same workers with the factor left out (each checks
/// `cold + hot ≥ amount`) overdraw the account, although every commit passes
/// the store's version checks. This is what the parallelism rule prevents.
#[test]
fn without_the_parallelism_factor_concurrent_workers_overdraw() {
    let mut model = fresh_model(2, 100, 0);
    let cold = model.cold.0.balance().unwrap();
    for slot in 0..2 {
        let naive_ok = cold + model.hot[slot].0.balance().unwrap() >= 100;
        assert!(naive_ok, "each worker alone sees enough");
        let decided = Decided {
            versions: vec![(None, model.cold.1), (Some(slot), model.hot[slot].1)],
            writes: vec![(Some(slot), BalanceChange::OutgoingPrepared(100))],
        };
        assert!(
            model.commit(&decided),
            "no conflict: the workers write different records"
        );
    }
    assert_eq!(model.total(), -100, "a 2-fold overdraft");

    // With the rule, the second worker is refused.
    let mut model = fresh_model(2, 100, 0);
    let first = model.decide(Op::Prepare { slot: 0, amount: 50 });
    let second = model.decide(Op::Prepare { slot: 1, amount: 51 });
    assert!(model.commit(&first));
    assert!(second.writes.is_empty(), "51 is more than slot 1's share of 50");
    assert_eq!(model.total(), 50);
}
