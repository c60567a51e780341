//! The firing rule, checked against a plain dense model and by example.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use proptest::prelude::*;
use tally_petri::{ArcKind, ArcSpec, ErrorClass, MAX_TOKENS, Net, NetSpec, PetriError, PlaceSpec, TransitionSpec};

/// A random small net: places with initial markings and capacities (some
/// unbounded), transitions (some with roles), and arcs of every kind.
fn arb_spec(self_loops: bool, inhibitors: bool, capacities: bool) -> impl Strategy<Value = NetSpec> {
    (1usize..6, 1usize..6).prop_flat_map(move |(places, transitions)| {
        let place = (0u32..4, 0u32..4).prop_map(move |(capacity, initial)| {
            let capacity = if capacities { capacity } else { 0 };
            (capacity, if capacity == 0 { initial } else { initial.min(capacity) })
        });
        let arc = (0..places, 0..transitions, any::<bool>(), 1u32..4, 0u8..8);
        (
            proptest::collection::vec(place, places),
            proptest::collection::vec(proptest::option::of(0u8..2), transitions),
            proptest::collection::vec(arc, 0..16),
        )
            .prop_map(move |(place_defs, roles, arcs)| {
                let mut spec = NetSpec::new();
                for (index, (capacity, initial)) in place_defs.into_iter().enumerate() {
                    spec.places.push(PlaceSpec {
                        label: format!("p{index}"),
                        initial,
                        capacity,
                        position: None,
                    });
                }
                for (index, role) in roles.into_iter().enumerate() {
                    spec.transitions.push(TransitionSpec {
                        label: format!("t{index}"),
                        role: role.map(|role| format!("r{role}")),
                        position: None,
                    });
                }
                let mut used = std::collections::HashSet::new();
                for (place, transition, outgoing, weight, kind) in arcs {
                    let inhibitor = inhibitors && kind == 0;
                    if !self_loops && !inhibitor {
                        // One direction per (place, transition) pair.
                        if !used.insert((place, transition)) {
                            continue;
                        }
                    }
                    let (p, t) = (format!("p{place}"), format!("t{transition}"));
                    let (source, target) = if outgoing { (t, p) } else { (p, t) };
                    spec.arcs.push(ArcSpec {
                        id: None,
                        source,
                        target,
                        weight,
                        kind: if inhibitor { ArcKind::Inhibitor } else { ArcKind::Normal },
                    });
                }
                spec
            })
    })
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Fired(Vec<u32>),
    Inhibited,
    Negative,
    OverCapacity,
}

/// The firing rule written the obvious way: dense vectors in i128.
fn model_fire(spec: &NetSpec, state: &[u32], transition: usize, multiple: u32) -> Outcome {
    let index = |label: &str| spec.places.iter().position(|place| place.label == label);
    let name = &spec.transitions[transition].label;
    let m = i128::from(multiple);
    let mut consume = vec![0i128; spec.places.len()];
    let mut produce = vec![0i128; spec.places.len()];
    for arc in &spec.arcs {
        match arc.kind {
            ArcKind::Inhibitor => {
                let (place, inverted) = if &arc.target == name {
                    (index(&arc.source), false)
                } else if &arc.source == name {
                    (index(&arc.target), true)
                } else {
                    continue;
                };
                let tokens = state[place.unwrap()];
                if (tokens >= arc.weight) != inverted {
                    return Outcome::Inhibited;
                }
            }
            ArcKind::Normal if &arc.target == name => consume[index(&arc.source).unwrap()] += i128::from(arc.weight),
            ArcKind::Normal if &arc.source == name => produce[index(&arc.target).unwrap()] += i128::from(arc.weight),
            ArcKind::Normal => {}
        }
    }
    if (0..state.len()).any(|i| i128::from(state[i]) < consume[i] * m) {
        return Outcome::Negative;
    }
    let after: Vec<i128> = (0..state.len())
        .map(|i| i128::from(state[i]) - consume[i] * m + produce[i] * m)
        .collect();
    for (i, &tokens) in after.iter().enumerate() {
        let touched = consume[i] != 0 || produce[i] != 0;
        let capacity = spec.places[i].capacity;
        let limit = if capacity == 0 {
            i128::from(MAX_TOKENS)
        } else {
            i128::from(capacity)
        };
        if touched && tokens > limit {
            return Outcome::OverCapacity;
        }
    }
    Outcome::Fired(after.into_iter().map(|tokens| tokens as u32).collect())
}

fn outcome(result: Result<Vec<u32>, PetriError>) -> Outcome {
    match result {
        Ok(state) => Outcome::Fired(state),
        Err(PetriError::Inhibited { .. }) => Outcome::Inhibited,
        Err(PetriError::WouldGoNegative { .. }) => Outcome::Negative,
        Err(PetriError::ExceedsCapacity { .. } | PetriError::Overflow { .. }) => Outcome::OverCapacity,
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn arb_state(places: usize) -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0u32..5, places)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn firing_equals_vector_addition_for_nets_without_self_loops(
        (spec, state, multiple) in arb_spec(false, false, false)
            .prop_flat_map(|spec| { let n = spec.places.len(); (Just(spec), arb_state(n), 1u32..4) })
    ) {
        let net = Net::new(spec).unwrap();
        prop_assert!(!net.has_self_loops());
        for transition in 0..net.transition_count() {
            let delta = net.delta(transition).unwrap();
            let sum: Vec<i64> = state.iter().zip(&delta)
                .map(|(&tokens, &d)| i64::from(tokens) + d * i64::from(multiple)).collect();
            match net.fire(&state, transition, multiple) {
                Ok(next) => {
                    let next: Vec<i64> = next.into_iter().map(i64::from).collect();
                    prop_assert_eq!(next, sum);
                }
                Err(error) => {
                    prop_assert!(matches!(error, PetriError::WouldGoNegative { .. }), "{}", error);
                    prop_assert!(sum.iter().any(|&tokens| tokens < 0));
                    prop_assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
                }
            }
        }
    }

    #[test]
    fn firing_matches_the_dense_model_with_self_loops_capacities_and_inhibitors(
        (spec, state, multiple) in arb_spec(true, true, true)
            .prop_flat_map(|spec| { let n = spec.places.len(); (Just(spec), arb_state(n), 1u32..4) })
    ) {
        let net = Net::new(spec.clone()).unwrap();
        for transition in 0..net.transition_count() {
            let expected = model_fire(&spec, &state, transition, multiple);
            prop_assert_eq!(outcome(net.fire(&state, transition, multiple)), expected);
        }
    }

    #[test]
    fn a_refused_firing_changes_nothing(
        (spec, state) in arb_spec(true, true, true)
            .prop_flat_map(|spec| { let n = spec.places.len(); (Just(spec), arb_state(n)) })
    ) {
        let net = Net::new(spec).unwrap();
        for transition in 0..net.transition_count() {
            let mut scratch = state.clone();
            if net.fire_in_place(&mut scratch, transition, 1).is_err() {
                prop_assert_eq!(&scratch, &state);
            }
        }
    }

    #[test]
    fn enabled_lists_exactly_the_transitions_that_fire(
        (spec, state) in arb_spec(true, true, true)
            .prop_flat_map(|spec| { let n = spec.places.len(); (Just(spec), arb_state(n)) })
    ) {
        let net = Net::new(spec).unwrap();
        let enabled = net.enabled(&state).unwrap();
        let fires: Vec<usize> = (0..net.transition_count()).filter(|&t| net.fire(&state, t, 1).is_ok()).collect();
        prop_assert_eq!(&enabled, &fires);
        for role in [None, Some("r0"), Some("r1")] {
            let as_role = net.enabled_as(&state, role).unwrap();
            let fires: Vec<usize> = (0..net.transition_count())
                .filter(|&t| net.fire_as(&state, t, 1, role).is_ok()).collect();
            prop_assert_eq!(as_role, fires);
        }
    }

    #[test]
    fn no_state_on_a_random_walk_is_negative_or_over_capacity(
        (spec, choices) in arb_spec(true, true, true)
            .prop_flat_map(|spec| (Just(spec), proptest::collection::vec(any::<u16>(), 0..64)))
    ) {
        let net = Net::new(spec.clone()).unwrap();
        let mut state = net.initial().to_vec();
        for choice in choices {
            let enabled = net.enabled(&state).unwrap();
            if enabled.is_empty() { break; }
            let transition = enabled[usize::from(choice) % enabled.len()];
            state = net.fire(&state, transition, 1).unwrap();
            for (tokens, place) in state.iter().zip(&spec.places) {
                prop_assert!(place.capacity == 0 || *tokens <= place.capacity);
                prop_assert!(*tokens <= MAX_TOKENS);
            }
        }
    }
}

fn counter() -> Net {
    Net::new(
        NetSpec::new()
            .place("p0", 0)
            .place("p1", 0)
            .transition("INC_0")
            .transition("INC_1")
            .transition("DEC_0")
            .transition("DEC_1")
            .arc("INC_0", "p0", 1)
            .arc("INC_1", "p1", 1)
            .arc("p0", "DEC_0", 1)
            .arc("p1", "DEC_1", 1),
    )
    .unwrap()
}

#[test]
fn decrementing_an_empty_counter_would_go_negative() {
    let net = counter();
    let dec = net.transition_index("DEC_0").unwrap();
    let error = net.fire(net.initial(), dec, 1).unwrap_err();
    assert!(
        matches!(&error, PetriError::WouldGoNegative { transition, place, tokens: 0, needed: 1 }
            if transition == "DEC_0" && place == "p0"),
        "{error}"
    );
    assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
}

#[test]
fn a_multiple_fires_the_transition_that_many_times_as_one_step() {
    let net = counter();
    let inc = net.transition_index("INC_0").unwrap();
    let dec = net.transition_index("DEC_0").unwrap();
    let state = net.fire(net.initial(), inc, 5).unwrap();
    assert_eq!(state, vec![5, 0]);
    assert_eq!(net.fire(&state, dec, 5).unwrap(), vec![0, 0]);
    assert!(matches!(
        net.fire(&state, dec, 6),
        Err(PetriError::WouldGoNegative { needed: 6, .. })
    ));
    assert!(matches!(
        net.fire(&state, dec, 0),
        Err(PetriError::InvalidMultiple { multiple: 0, .. })
    ));
}

#[test]
fn unknown_transitions_and_wrong_state_lengths_are_invalid_input() {
    let net = counter();
    let error = net.fire(net.initial(), 4, 1).unwrap_err();
    assert!(matches!(error, PetriError::UnknownTransition { .. }));
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
    let error = net.fire(&[0], 0, 1).unwrap_err();
    assert!(matches!(error, PetriError::StateLength { expected: 2, found: 1 }));
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
}

#[test]
fn a_self_loop_needs_its_input_tokens_and_leaves_them() {
    let net = Net::new(
        NetSpec::new()
            .place("key", 0)
            .place("door", 0)
            .transition("open")
            .arc("key", "open", 1)
            .arc("open", "key", 1)
            .arc("open", "door", 1),
    )
    .unwrap();
    assert!(net.has_self_loops());
    assert!(matches!(
        net.fire(&[0, 0], 0, 1),
        Err(PetriError::WouldGoNegative { .. })
    ));
    assert_eq!(net.fire(&[1, 0], 0, 1).unwrap(), vec![1, 1]);
    assert_eq!(net.delta(0).unwrap(), vec![0, 1]);
}

#[test]
fn parallel_arcs_accumulate_their_weights() {
    let net = Net::new(
        NetSpec::new()
            .place("p", 3)
            .transition("t")
            .arc("p", "t", 1)
            .arc("p", "t", 2),
    )
    .unwrap();
    assert_eq!(net.fire(&[3], 0, 1).unwrap(), vec![0]);
    assert!(net.fire(&[2], 0, 1).is_err());
}

#[test]
fn capacity_is_enforced_and_zero_means_unbounded() {
    let net = Net::new(
        NetSpec::new()
            .place_with_capacity("bounded", 0, 2)
            .place("unbounded", 0)
            .transition("t")
            .arc("t", "bounded", 1)
            .arc("t", "unbounded", 1),
    )
    .unwrap();
    let state = net.fire(net.initial(), 0, 2).unwrap();
    assert_eq!(state, vec![2, 2]);
    let error = net.fire(&state, 0, 1).unwrap_err();
    assert!(
        matches!(&error, PetriError::ExceedsCapacity { place, tokens: 3, capacity: 2, .. } if place == "bounded"),
        "{error}"
    );
    assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
    let error = net.fire(&[0, MAX_TOKENS], 0, 1).unwrap_err();
    assert!(matches!(error, PetriError::Overflow { .. }), "{error}");
}

#[test]
fn negative_places_are_reported_before_full_ones() {
    let net = Net::new(
        NetSpec::new()
            .place_with_capacity("full", 1, 1)
            .place("empty", 0)
            .transition("t")
            .arc("t", "full", 1)
            .arc("empty", "t", 1),
    )
    .unwrap();
    assert!(matches!(
        net.fire(&[1, 0], 0, 1),
        Err(PetriError::WouldGoNegative { .. })
    ));
}

#[test]
fn an_inhibitor_arc_forbids_firing_while_its_place_holds_the_weight() {
    let net = Net::new(
        NetSpec::new()
            .place("busy", 0)
            .place("done", 0)
            .transition("work")
            .arc("work", "done", 1)
            .inhibitor("busy", "work", 2),
    )
    .unwrap();
    assert!(net.has_inhibitors());
    assert_eq!(net.fire(&[1, 0], 0, 1).unwrap(), vec![1, 1]);
    let error = net.fire(&[2, 0], 0, 1).unwrap_err();
    assert!(
        matches!(&error, PetriError::Inhibited { place, .. } if place == "busy"),
        "{error}"
    );
    assert_eq!(error.class(), Some(ErrorClass::InvalidOutput));
}

#[test]
fn an_inverted_inhibitor_needs_the_weight_without_consuming_it() {
    let mut spec = NetSpec::new()
        .place("token", 0)
        .place("out", 0)
        .transition("t")
        .arc("t", "out", 1);
    spec.arcs.push(ArcSpec {
        id: Some("guard".into()),
        source: "t".into(),
        target: "token".into(),
        weight: 1,
        kind: ArcKind::Inhibitor,
    });
    let net = Net::new(spec).unwrap();
    assert!(matches!(net.fire(&[0, 0], 0, 1), Err(PetriError::Inhibited { .. })));
    assert_eq!(net.fire(&[1, 0], 0, 1).unwrap(), vec![1, 1]);
}

#[test]
fn a_transition_with_a_role_needs_that_role() {
    let net = Net::new(
        NetSpec::new()
            .place("p", 0)
            .transition_with_role("admin_only", "admin")
            .transition("anyone")
            .arc("admin_only", "p", 1)
            .arc("anyone", "p", 1),
    )
    .unwrap();
    let error = net.fire_as(&[0], 0, 1, Some("guest")).unwrap_err();
    assert!(
        matches!(&error, PetriError::RoleMismatch { required, given: Some(given), .. }
            if required == "admin" && given == "guest"),
        "{error}"
    );
    assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
    assert!(net.fire_as(&[0], 0, 1, None).is_err());
    assert_eq!(net.fire_as(&[0], 0, 1, Some("admin")).unwrap(), vec![1]);
    assert_eq!(net.fire_as(&[0], 1, 1, None).unwrap(), vec![1]);
    // The trusted form does not check roles.
    assert_eq!(net.fire(&[0], 0, 1).unwrap(), vec![1]);
    assert_eq!(net.enabled_as(&[0], None).unwrap(), vec![1]);
    assert_eq!(net.enabled(&[0]).unwrap(), vec![0, 1]);
}

#[test]
fn construction_rejects_malformed_nets_with_the_element_named() {
    let duplicate = NetSpec::new().place("a", 0).transition("a");
    assert!(matches!(Net::new(duplicate), Err(PetriError::DuplicateId { id }) if id == "a"));

    let dangling = NetSpec::new().place("p", 0).transition("t").arc("p", "nowhere", 1);
    assert!(matches!(Net::new(dangling),
        Err(PetriError::DanglingArc { end: "target", node, .. }) if node == "nowhere"));

    let two_places = NetSpec::new().place("p", 0).place("q", 0).arc("p", "q", 1);
    assert!(matches!(Net::new(two_places), Err(PetriError::InvalidArc { .. })));

    let zero_weight = NetSpec::new().place("p", 0).transition("t").arc("p", "t", 0);
    assert!(matches!(
        Net::new(zero_weight),
        Err(PetriError::InvalidNumber { field: "weight", .. })
    ));

    let over = NetSpec::new().place_with_capacity("p", 3, 2);
    assert!(matches!(
        Net::new(over),
        Err(PetriError::InitialOverCapacity {
            initial: 3,
            capacity: 2,
            ..
        })
    ));

    let huge = NetSpec::new().place("p", MAX_TOKENS + 1);
    assert!(matches!(
        Net::new(huge),
        Err(PetriError::InvalidNumber {
            field: "initial marking",
            ..
        })
    ));

    let empty_label = NetSpec::new().place("", 0);
    assert!(matches!(Net::new(empty_label), Err(PetriError::InvalidName { .. })));

    let mut too_many = NetSpec::new();
    for index in 0..=tally_petri::MAX_PLACES {
        too_many = too_many.place(&format!("p{index}"), 0);
    }
    assert!(matches!(
        Net::new(too_many),
        Err(PetriError::LimitExceeded {
            what: "place count",
            ..
        })
    ));

    let consumes_too_much = NetSpec::new()
        .place("p", 0)
        .transition("t")
        .arc("p", "t", MAX_TOKENS)
        .arc("p", "t", 1);
    assert!(matches!(
        Net::new(consumes_too_much),
        Err(PetriError::LimitExceeded { .. })
    ));
}

#[test]
fn a_net_serializes_as_its_spec_and_is_validated_on_the_way_back() {
    let net = counter();
    let json = serde_json::to_string(&net).unwrap();
    let back: Net = serde_json::from_str(&json).unwrap();
    assert_eq!(back, net);
    assert_eq!(back.fingerprint(), net.fingerprint());
    let bad = json.replace("\"DEC_1\"", "\"p0\"");
    assert!(serde_json::from_str::<Net>(&bad).is_err());
}
