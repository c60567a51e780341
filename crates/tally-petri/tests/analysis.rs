//! Reachability and boundedness: the fixtures' results, pinned, and the
//! rules checked on small nets and random ones.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::collections::{HashSet, VecDeque};

use proptest::prelude::*;
use tally_petri::analysis::{self, BoundProof, Boundedness, Undecided};
use tally_petri::{Net, NetSpec, PetriError, pnml};

/// The state limit the fixture test explores with (debug builds are slow;
/// the unbounded nets reach it whatever it is).
const LIMIT: usize = 20_000;

/// (file, reachable states within LIMIT or None, deadlocks, dead
/// transitions, bounded): what the fixtures give, pinned so any change in
/// the analysis shows.
type Expected = (&'static str, Option<u64>, Option<u64>, usize, Option<bool>);
const EXPECTED: &[Expected] = &[
    ("auction.xml", None, None, 0, Some(false)),
    ("battleship.xml", Some(705), Some(101), 0, Some(true)),
    ("counter.xml", None, None, 0, Some(false)),
    ("factom.xml", None, None, 0, Some(false)),
    ("finite.xml", None, None, 0, Some(false)),
    ("nim.xml", None, None, 0, Some(true)),
    ("octoe.xml", Some(2049), Some(512), 0, Some(true)),
    ("octoe2step.xml", Some(6), Some(2), 0, Some(true)),
    ("option.xml", Some(6), Some(1), 0, Some(true)),
    ("registry.xml", None, None, 0, Some(false)),
    ("spend.xml", None, None, 1, Some(false)),
    ("tip.xml", None, None, 1, Some(false)),
    ("untitled.xml", Some(1), Some(1), 0, Some(true)),
];

#[test]
fn fixture_reachability_and_boundedness_are_stable() {
    let Some(fixtures) = common::all_fixtures("fixture_reachability_and_boundedness_are_stable") else {
        return;
    };
    for ((name, text), &(expected_name, states, deadlocks, dead, bounded)) in fixtures.iter().zip(EXPECTED) {
        assert_eq!(*name, expected_name);
        let net = pnml::read(text).unwrap();
        let reach = analysis::explore(&net, LIMIT).unwrap();
        let found = reach.complete.then_some(reach.states);
        assert_eq!(found, states, "{name}: reachable states");
        if !reach.complete {
            assert_eq!(
                reach.states, LIMIT as u64,
                "{name}: an incomplete run stops exactly at the limit"
            );
        }
        assert_eq!(
            reach.complete.then_some(reach.deadlocks),
            deadlocks,
            "{name}: deadlocks"
        );
        if reach.complete {
            assert_eq!(reach.dead_transitions.len(), dead, "{name}: dead transitions");
        }
        let boundedness = analysis::boundedness(&net, 100_000).unwrap();
        assert_eq!(boundedness.is_bounded(), bounded, "{name}: {boundedness:?}");
        // Same answers on a second run: nothing depends on hash order.
        assert_eq!(analysis::explore(&net, LIMIT).unwrap(), reach, "{name}");
    }
}

#[test]
fn fixture_bounds_and_unbounded_places_are_the_expected_ones() {
    let test = "fixture_bounds_and_unbounded_places_are_the_expected_ones";
    let Some(text) = common::fixture(test, "battleship.xml") else {
        return;
    };
    let net = pnml::read(&text).unwrap();
    assert_eq!(
        analysis::explore(&net, LIMIT).unwrap().bounds,
        vec![1, 1, 1, 1, 200, 1, 1]
    );

    let Some(text) = common::fixture(test, "octoe.xml") else {
        return;
    };
    let net = pnml::read(&text).unwrap();
    let reach = analysis::explore(&net, LIMIT).unwrap();
    assert_eq!(reach.bounds, vec![1; 15]);
    // Ten tokens (nine free squares and `new`) that moves only pass on.
    assert_eq!(
        analysis::boundedness(&net, 100_000).unwrap(),
        Boundedness::Bounded(BoundProof::TokenSum { max_tokens: 10 })
    );

    let Some(text) = common::fixture(test, "counter.xml") else {
        return;
    };
    let net = pnml::read(&text).unwrap();
    assert_eq!(
        analysis::boundedness(&net, 100_000).unwrap(),
        Boundedness::Unbounded {
            places: vec![0, 1],
            complete: true
        }
    );

    // nim only ever removes tokens: bounded by their sum, whatever its
    // state count.
    let Some(text) = common::fixture(test, "nim.xml") else {
        return;
    };
    let net = pnml::read(&text).unwrap();
    assert_eq!(
        analysis::boundedness(&net, 1).unwrap(),
        Boundedness::Bounded(BoundProof::TokenSum { max_tokens: 20 })
    );

    let Some(text) = common::fixture(test, "option.xml") else {
        return;
    };
    let net = pnml::read(&text).unwrap();
    assert_eq!(
        analysis::boundedness(&net, 1).unwrap(),
        Boundedness::Bounded(BoundProof::Capacities)
    );
}

#[test]
fn inspect_gives_counts_initial_state_and_nulls_past_the_limit() {
    let test = "inspect_gives_counts_initial_state_and_nulls_past_the_limit";
    let Some(text) = common::fixture(test, "counter.xml") else {
        return;
    };
    let inspection = analysis::inspect(&pnml::read(&text).unwrap(), 1_000).unwrap();
    assert_eq!(
        serde_json::to_string(&inspection).unwrap(),
        r#"{"places":2,"transitions":4,"arcs":4,"initial":[0,0],"reachable_states":null,"deadlocks":null,"bounded":false}"#
    );
    let Some(text) = common::fixture(test, "octoe2step.xml") else {
        return;
    };
    let inspection = analysis::inspect(&pnml::read(&text).unwrap(), 1_000).unwrap();
    assert_eq!(
        serde_json::to_string(&inspection).unwrap(),
        r#"{"places":4,"transitions":12,"arcs":27,"initial":[1,1,0,0],"reachable_states":6,"deadlocks":2,"bounded":true}"#
    );
}

fn ring() -> Net {
    Net::new(
        NetSpec::new()
            .place("a", 1)
            .place("b", 0)
            .place("c", 0)
            .transition("ab")
            .transition("bc")
            .transition("ca")
            .arc("a", "ab", 1)
            .arc("ab", "b", 1)
            .arc("b", "bc", 1)
            .arc("bc", "c", 1)
            .arc("c", "ca", 1)
            .arc("ca", "a", 1),
    )
    .unwrap()
}

#[test]
fn a_limit_equal_to_the_state_count_completes_and_one_less_does_not() {
    let net = ring();
    assert!(analysis::explore(&net, 3).unwrap().complete);
    let partial = analysis::explore(&net, 2).unwrap();
    assert!(!partial.complete);
    assert_eq!(partial.states, 2);
    assert!(matches!(
        analysis::explore(&net, 0),
        Err(PetriError::LimitExceeded { .. })
    ));
    assert!(matches!(
        analysis::explore(&net, analysis::MAX_STATE_LIMIT + 1),
        Err(PetriError::LimitExceeded { .. })
    ));
}

#[test]
fn deadlocks_and_dead_transitions_are_found() {
    let net = Net::new(
        NetSpec::new()
            .place("start", 1)
            .place("end", 0)
            .place("never", 0)
            .transition("go")
            .transition("stuck")
            .arc("start", "go", 1)
            .arc("go", "end", 1)
            .arc("never", "stuck", 1),
    )
    .unwrap();
    let reach = analysis::explore(&net, 100).unwrap();
    assert_eq!((reach.states, reach.deadlocks, reach.edges), (2, 1, 1));
    assert_eq!(reach.deadlock_examples, vec![vec![0, 1, 0]]);
    assert_eq!(reach.dead_transitions, vec![1]);
}

#[test]
fn an_inhibitor_that_caps_a_producer_keeps_the_net_bounded() {
    // Classic Karp–Miller would accelerate p to ω; the inhibitor stops it at 3.
    let net = Net::new(
        NetSpec::new()
            .place("p", 0)
            .transition("make")
            .arc("make", "p", 1)
            .inhibitor("p", "make", 3),
    )
    .unwrap();
    assert_eq!(
        analysis::boundedness(&net, 1_000).unwrap(),
        Boundedness::Bounded(BoundProof::Coverability { bounds: vec![3] })
    );
    assert_eq!(analysis::explore(&net, 1_000).unwrap().states, 4);
}

#[test]
fn an_inhibitor_reading_an_unbounded_place_still_proves_it_unbounded() {
    // when_empty can fire forever while p is 0, so q is unbounded too.
    let net = Net::new(
        NetSpec::new()
            .place("p", 0)
            .place("q", 0)
            .transition("grow")
            .transition("when_empty")
            .arc("grow", "p", 1)
            .arc("when_empty", "q", 1)
            .inhibitor("p", "when_empty", 1),
    )
    .unwrap();
    assert_eq!(
        analysis::boundedness(&net, 1_000).unwrap(),
        Boundedness::Unbounded {
            places: vec![0, 1],
            complete: false
        }
    );
}

#[test]
fn a_capacity_stops_growth_and_the_node_limit_gives_unknown() {
    // q grows with p, and p stops at its capacity: no acceleration of q.
    let capped = Net::new(
        NetSpec::new()
            .place_with_capacity("p", 0, 3)
            .place("q", 0)
            .transition("t")
            .arc("t", "p", 1)
            .arc("t", "q", 1),
    )
    .unwrap();
    assert_eq!(
        analysis::boundedness(&capped, 1_000).unwrap(),
        Boundedness::Bounded(BoundProof::Coverability { bounds: vec![3, 3] })
    );
    let split_join = Net::new(
        NetSpec::new()
            .place("a", 1)
            .place("b", 0)
            .place("c", 0)
            .transition("split")
            .transition("join")
            .arc("a", "split", 1)
            .arc("split", "b", 1)
            .arc("split", "c", 1)
            .arc("b", "join", 1)
            .arc("c", "join", 1)
            .arc("join", "a", 1),
    )
    .unwrap();
    assert_eq!(
        analysis::boundedness(&split_join, 1).unwrap(),
        Boundedness::Unknown(Undecided::NodeLimit { max_nodes: 1 })
    );
    assert_eq!(analysis::boundedness(&split_join, 10).unwrap().is_bounded(), Some(true));
}

/// Breadth-first search the obvious way, for comparison.
fn naive_states(net: &Net, limit: usize) -> Option<HashSet<Vec<u32>>> {
    let mut seen = HashSet::from([net.initial().to_vec()]);
    let mut queue = VecDeque::from([net.initial().to_vec()]);
    while let Some(state) = queue.pop_front() {
        for transition in 0..net.transition_count() {
            if let Ok(next) = net.fire(&state, transition, 1)
                && seen.insert(next.clone())
            {
                if seen.len() > limit {
                    return None;
                }
                queue.push_back(next);
            }
        }
    }
    Some(seen)
}

fn arb_net() -> impl Strategy<Value = Net> {
    (1usize..5, 1usize..5).prop_flat_map(|(places, transitions)| {
        (
            proptest::collection::vec((0u32..3, 0u32..3), places),
            proptest::collection::vec((0..places, 0..transitions, any::<bool>(), 1u32..3, 0u8..10), 0..12),
        )
            .prop_map(move |(place_defs, arcs)| {
                let mut spec = NetSpec::new();
                for (index, (capacity, initial)) in place_defs.iter().enumerate() {
                    let initial = if *capacity == 0 {
                        *initial
                    } else {
                        (*initial).min(*capacity)
                    };
                    spec = spec.place_with_capacity(&format!("p{index}"), initial, *capacity);
                }
                for index in 0..transitions {
                    spec = spec.transition(&format!("t{index}"));
                }
                for (place, transition, outgoing, weight, kind) in arcs {
                    let (p, t) = (format!("p{place}"), format!("t{transition}"));
                    spec = match (kind, outgoing) {
                        (0, _) => spec.inhibitor(&p, &t, weight),
                        (_, true) => spec.arc(&t, &p, weight),
                        (_, false) => spec.arc(&p, &t, weight),
                    };
                }
                Net::new(spec).unwrap()
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_reachable_state_is_negative_or_over_capacity(net in arb_net()) {
        let mut visited = 0u64;
        let reach = analysis::explore_each(&net, 500, |state| {
            visited += 1;
            for (place, &tokens) in state.iter().enumerate() {
                let capacity = net.capacity(place).unwrap();
                assert!(capacity == 0 || tokens <= capacity, "place {place} holds {tokens} > {capacity}");
            }
        }).unwrap();
        prop_assert_eq!(visited, reach.states);
        for (place, &bound) in reach.bounds.iter().enumerate() {
            let capacity = net.capacity(place).unwrap();
            prop_assert!(capacity == 0 || bound <= capacity);
        }
    }

    #[test]
    fn exploration_finds_exactly_the_states_a_naive_search_finds(net in arb_net()) {
        let mut found = HashSet::new();
        let reach = analysis::explore_each(&net, 500, |state| { found.insert(state.to_vec()); }).unwrap();
        match naive_states(&net, 500) {
            Some(naive) => {
                prop_assert!(reach.complete);
                prop_assert_eq!(found, naive);
            }
            None => prop_assert!(!reach.complete),
        }
    }

    #[test]
    fn boundedness_agrees_with_exhaustive_search(net in arb_net()) {
        let verdict = analysis::boundedness(&net, 20_000).unwrap();
        let reach = analysis::explore(&net, 20_000).unwrap();
        match verdict {
            // A bounded net's state space is finite; these are small.
            Boundedness::Bounded(proof) => {
                prop_assert!(reach.complete, "bounded ({:?}) but over 20,000 states", proof);
                if let BoundProof::Coverability { bounds } = proof {
                    prop_assert_eq!(bounds, reach.bounds);
                }
            }
            // An unbounded net has infinitely many states.
            Boundedness::Unbounded { .. } => prop_assert!(!reach.complete),
            Boundedness::Unknown(_) => {}
        }
    }
}
