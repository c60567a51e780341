//! Property tests of the marketplace core over random operation sequences:
//! tokens are never created or destroyed (minted = balances + escrow +
//! locked collateral + burned, and the flows add up), each request's escrow
//! is exactly what its client and hosts can still claim, the records agree
//! with the totals and with the slots' states, and a refused operation
//! changes nothing. `TALLY_LONG_TESTS=1` runs twenty times as many cases.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod marketplace_fixtures;

use marketplace_fixtures::ops::{Op, note_request, op};
use marketplace_fixtures::{Chain, config};
use proptest::prelude::*;
use tally_market::MarketError;
use tally_market::marketplace::{Event, Operation};

fn cases(ci: u32) -> u32 {
    if std::env::var_os("TALLY_LONG_TESTS").is_some() {
        ci * 20
    } else {
        ci
    }
}

/// Which interesting things a run saw, to make sure the generator reaches them.
#[derive(Debug, Default)]
struct Seen {
    fills: usize,
    repairs: usize,
    freed: usize,
    failed: usize,
    fulfilled: usize,
    payouts: usize,
    withdrawals: usize,
    slashes: usize,
}

fn step(chain: &mut Chain, requests: &mut Vec<tally_market::RequestId>, seen: &mut Seen, operation: Operation) {
    let before = chain.state.clone();
    match chain.state.apply(&operation) {
        Ok(outcome) => {
            chain
                .state
                .check()
                .unwrap_or_else(|e| panic!("after {operation:?}: {e}"));
            note_request(&operation, requests);
            for event in &outcome.events {
                match event {
                    Event::SlotFreed { .. } => seen.freed += 1,
                    Event::RequestFailed { .. } => seen.failed += 1,
                    Event::RequestFulfilled { .. } => seen.fulfilled += 1,
                    _ => {}
                }
            }
            match operation {
                Operation::FillSlot { .. } => {
                    seen.fills += 1;
                    if before.totals().repair_rewards != chain.state.totals().repair_rewards {
                        seen.repairs += 1;
                    }
                }
                Operation::FreeSlot { .. } if before.totals().sent != chain.state.totals().sent => seen.payouts += 1,
                Operation::WithdrawFunds { .. } => seen.withdrawals += 1,
                Operation::MarkProofAsMissing { .. } => seen.slashes += 1,
                _ => {}
            }
        }
        Err(error) => {
            assert!(
                matches!(
                    error,
                    MarketError::Contract(_) | MarketError::Overflow { .. } | MarketError::Limit { .. }
                ),
                "{operation:?} broke an invariant: {error}"
            );
            assert_eq!(chain.state, before, "a refused {operation:?} changed something");
        }
    }
}

fn run(ops: &[Op], downtime: u8) -> Seen {
    let mut config = config();
    config.proofs.downtime = downtime;
    let mut chain = Chain::with(config);
    let mut requests = Vec::new();
    let mut seen = Seen::default();
    for op in ops {
        for operation in op.resolve(&requests, &chain.state) {
            step(&mut chain, &mut requests, &mut seen, operation);
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(96), ..ProptestConfig::default() })]

    #[test]
    fn tokens_are_conserved_and_escrow_equals_claims_under_random_operations(
        ops in prop::collection::vec(op(), 1..120),
        downtime in prop_oneof![Just(0u8), Just(64u8)],
    ) {
        run(&ops, downtime);
    }
}

/// The generator reaches every path: over a fixed batch of seeds, fills,
/// repairs, frees, failures, starts, payouts, withdrawals and slashes all
/// happen (a property that only ever saw refusals would prove nothing).
#[test]
fn random_sequences_reach_every_path_of_the_contract() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let mut total = Seen::default();
    for _ in 0..40 {
        let ops = prop::collection::vec(op(), 150)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let seen = run(&ops, 0);
        total.fills += seen.fills;
        total.repairs += seen.repairs;
        total.freed += seen.freed;
        total.failed += seen.failed;
        total.fulfilled += seen.fulfilled;
        total.payouts += seen.payouts;
        total.withdrawals += seen.withdrawals;
        total.slashes += seen.slashes;
    }
    eprintln!("{total:?}");
    assert!(total.fills > 100 && total.repairs > 0 && total.freed > 5, "{total:?}");
    assert!(total.failed > 0 && total.fulfilled > 5, "{total:?}");
    assert!(
        total.payouts > 5 && total.withdrawals > 5 && total.slashes > 5,
        "{total:?}"
    );
}
