//! Entry points for the cargo-fuzz targets in `fuzz/` (`petri_pnml`,
//! `petri_fire`), compiled with the crate (feature `fuzzing`) so they never
//! drift from it. Not public API. Each panics only on a real bug.

#![allow(clippy::panic, reason = "a fuzz entry point reports a bug by panicking")]

use crate::analysis;
use crate::net::{ArcKind, ArcSpec, MAX_TOKENS, Net, NetSpec, PlaceSpec, TransitionSpec};
use crate::pnml::{self, Dialect};
use crate::{PetriError, dot};

/// Reads `data` as PNML. Whatever is accepted must write back, in both
/// dialects, to a document that reads as the same net, and must survive
/// DOT export and a little analysis.
pub fn pnml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(net) = pnml::read(text) else {
        return;
    };
    for dialect in [Dialect::Pipe, Dialect::Iso] {
        let written = pnml::write(&net, dialect);
        match pnml::read(&written) {
            Ok(again) if again.spec() == net.spec() => {}
            Ok(again) => panic!(
                "{dialect:?} round trip changed the net: {:?} became {:?}",
                net.spec(),
                again.spec()
            ),
            Err(error) => panic!("{dialect:?} output does not read back: {error}\n{written}"),
        }
    }
    if dot::write(&net, None).is_err() {
        panic!("DOT export of the initial marking failed");
    }
    let _ = analysis::explore(&net, 256);
    let _ = analysis::boundedness(&net, 256);
}

/// Bytes, read one at a time; zero once exhausted.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&byte, rest)) => {
                self.0 = rest;
                byte
            }
            None => 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Builds a small random net from the first bytes of `data`, then fires
/// the transitions the rest of the bytes pick, checking every result
/// against a plain dense model of the firing rule and the invariants:
/// a firing gives `state + multiple * delta`, no place goes negative or
/// over its capacity, a refusal changes nothing, and `enabled` lists
/// exactly the transitions that fire.
pub fn fire_sequence(data: &[u8]) {
    let mut bytes = Bytes(data);
    let places = 1 + usize::from(bytes.next() % 6);
    let transitions = 1 + usize::from(bytes.next() % 6);
    let mut spec = NetSpec::new();
    for index in 0..places {
        let capacity = u32::from(bytes.next() % 4);
        let initial = u32::from(bytes.next() % 4);
        spec.places.push(PlaceSpec {
            label: format!("p{index}"),
            initial: if capacity == 0 { initial } else { initial.min(capacity) },
            capacity,
            position: None,
        });
    }
    for index in 0..transitions {
        let role = match bytes.next() % 3 {
            0 => None,
            1 => Some("a".to_owned()),
            _ => Some("b".to_owned()),
        };
        spec.transitions.push(TransitionSpec {
            label: format!("t{index}"),
            role,
            position: None,
        });
    }
    for _ in 0..bytes.next() % 16 {
        let place = format!("p{}", usize::from(bytes.next()) % places);
        let transition = format!("t{}", usize::from(bytes.next()) % transitions);
        let kind = bytes.next() % 5;
        let weight = 1 + u32::from(bytes.next() % 3);
        let (source, target, kind) = match kind {
            0 | 4 => (place, transition, ArcKind::Normal),
            1 => (transition, place, ArcKind::Normal),
            2 => (place, transition, ArcKind::Inhibitor),
            _ => (transition, place, ArcKind::Inhibitor),
        };
        spec.arcs.push(ArcSpec {
            id: None,
            source,
            target,
            weight,
            kind,
        });
    }
    let net = match Net::new(spec.clone()) {
        Ok(net) => net,
        Err(error) => panic!("a valid net was refused: {error}"),
    };
    let sparse = net.clone().without_dense_rows();
    let mut state = net.initial().to_vec();
    let mut steps = 0;
    while !bytes.is_empty() && steps < 256 {
        steps += 1;
        let transition = usize::from(bytes.next()) % transitions;
        let multiple = 1 + u32::from(bytes.next() % 3);
        let role = match bytes.next() % 4 {
            0 => None,
            1 => Some("a"),
            2 => Some("b"),
            _ => Some("c"),
        };
        let enabled = net.enabled(&state).unwrap_or_default();
        for t in 0..transitions {
            assert_eq!(
                enabled.contains(&t),
                net.fire(&state, t, 1).is_ok(),
                "enabled() disagrees on t{t}"
            );
        }
        let expected = model(&spec, &state, transition, multiple);
        let role_ok = spec.transitions[transition]
            .role
            .as_deref()
            .is_none_or(|required| role == Some(required));
        match net.fire_as(&state, transition, multiple, role) {
            Err(PetriError::RoleMismatch { .. }) => assert!(!role_ok, "role {role:?} refused for t{transition}"),
            result => {
                assert!(role_ok, "role {role:?} accepted for t{transition}");
                assert_eq!(
                    outcome(result.as_deref()),
                    expected,
                    "t{transition} x{multiple} from {state:?}"
                );
            }
        }
        let mut into = vec![0; places];
        let fired_into = net.fire_into(&state, transition, multiple, &mut into).map(|()| into);
        let fired_sparse = sparse.fire(&state, transition, multiple);
        assert_eq!(
            fired_into.as_ref().map_err(ToString::to_string),
            fired_sparse.as_ref().map_err(ToString::to_string),
            "the dense and sparse paths disagree"
        );
        let mut scratch = state.clone();
        match net.fire_in_place(&mut scratch, transition, multiple) {
            Ok(()) => {
                let delta = net.delta(transition).unwrap_or_default();
                for place in 0..places {
                    let sum = i64::from(state[place]) + i64::from(multiple) * delta[place];
                    assert_eq!(i64::from(scratch[place]), sum, "not state + multiple * delta");
                    let capacity = spec.places[place].capacity;
                    assert!(capacity == 0 || scratch[place] <= capacity, "over capacity");
                }
                state = scratch;
            }
            Err(_) => assert_eq!(scratch, state, "a refused firing changed the state"),
        }
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Fired(Vec<u32>),
    Refused(&'static str),
}

fn outcome(result: Result<&[u32], &PetriError>) -> Outcome {
    match result {
        Ok(state) => Outcome::Fired(state.to_vec()),
        Err(PetriError::Inhibited { .. }) => Outcome::Refused("inhibited"),
        Err(PetriError::WouldGoNegative { .. }) => Outcome::Refused("negative"),
        Err(PetriError::ExceedsCapacity { .. } | PetriError::Overflow { .. }) => Outcome::Refused("capacity"),
        Err(other) => panic!("unexpected refusal {other}"),
    }
}

/// The firing rule written the obvious way, on dense i128 vectors.
fn model(spec: &NetSpec, state: &[u32], transition: usize, multiple: u32) -> Outcome {
    let name = &spec.transitions[transition].label;
    let index = |label: &str| spec.places.iter().position(|place| place.label == label).unwrap_or(0);
    let mut consume = vec![0i128; state.len()];
    let mut produce = vec![0i128; state.len()];
    for arc in &spec.arcs {
        let weight = i128::from(arc.weight);
        match arc.kind {
            ArcKind::Inhibitor if &arc.target == name && i128::from(state[index(&arc.source)]) >= weight => {
                return Outcome::Refused("inhibited");
            }
            ArcKind::Inhibitor if &arc.source == name && i128::from(state[index(&arc.target)]) < weight => {
                return Outcome::Refused("inhibited");
            }
            ArcKind::Normal if &arc.target == name => consume[index(&arc.source)] += weight,
            ArcKind::Normal if &arc.source == name => produce[index(&arc.target)] += weight,
            _ => {}
        }
    }
    let m = i128::from(multiple);
    if (0..state.len()).any(|place| i128::from(state[place]) < consume[place] * m) {
        return Outcome::Refused("negative");
    }
    let mut after = Vec::with_capacity(state.len());
    for place in 0..state.len() {
        let tokens = i128::from(state[place]) - consume[place] * m + produce[place] * m;
        let capacity = spec.places[place].capacity;
        let limit = if capacity == 0 {
            i128::from(MAX_TOKENS)
        } else {
            i128::from(capacity)
        };
        if (consume[place] != 0 || produce[place] != 0) && tokens > limit {
            return Outcome::Refused("capacity");
        }
        after.push(tokens as u32);
    }
    Outcome::Fired(after)
}
