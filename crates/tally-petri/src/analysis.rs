//! Analysis: what states a net can reach, and whether it is bounded.
//!
//! - [`explore`]: breadth-first reachability up to a state limit: how many
//!   states, which are deadlocks (no transition enabled), which
//!   transitions never fire, and the most tokens each place ever holds.
//!   States are kept in a compact exact set (bit-, byte- or varint-packed
//!   by their largest count, deduplicated by a `u32`-indexed hash table: a
//!   15-place 1-safe net costs about 15 bytes per state in all), so tens of
//!   millions of states fit in memory.
//! - [`boundedness`]: an answer that does not depend on that limit. It tries,
//!   in order: every place has a capacity; no transition adds tokens to the
//!   unbounded places (their token sum never grows); and finally a
//!   Karp–Miller coverability graph, whose ω entries mark the places that
//!   grow without bound.
//! - [`inspect`]: both at once, in the shape `examples/petri.rs` prints.
//!
//! Analysis fires transitions as a trusted caller (roles are ignored: they
//! restrict *who* fires, not *what* can happen) with multiple 1, and treats a
//! place of capacity 0 as unbounded ([`MAX_TOKENS`](crate::MAX_TOKENS) is an implementation
//! limit, not part of the net).
//!
//! ```
//! use tally_petri::{analysis, Boundedness, Net, NetSpec};
//!
//! // A token moving around a ring of three places.
//! let net = Net::new(NetSpec::new().place("a", 1).place("b", 0).place("c", 0)
//!     .transition("ab").transition("bc").transition("ca")
//!     .arc("a", "ab", 1).arc("ab", "b", 1).arc("b", "bc", 1)
//!     .arc("bc", "c", 1).arc("c", "ca", 1).arc("ca", "a", 1))?;
//! let reach = analysis::explore(&net, 1_000)?;
//! assert_eq!((reach.states, reach.deadlocks, reach.complete), (3, 0, true));
//! assert!(matches!(analysis::boundedness(&net, 1_000)?, Boundedness::Bounded(_)));
//! # Ok::<(), tally_petri::PetriError>(())
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::PetriError;
use crate::net::Net;
use crate::stateset::{self, Inserted, StateSet};

/// The largest state limit [`explore`] accepts (100 million states).
pub const MAX_STATE_LIMIT: usize = 100_000_000;
/// The largest node limit [`boundedness`] accepts (10 million nodes).
pub const MAX_COVERABILITY_NODES: usize = 10_000_000;
/// The state limit `petri inspect` uses unless told otherwise.
pub const DEFAULT_STATE_LIMIT: usize = 1_000_000;
/// The coverability-graph node limit [`inspect`] uses.
pub const DEFAULT_COVERABILITY_NODES: usize = 1_000_000;
/// How many deadlock states [`Reachability::deadlock_examples`] keeps.
pub const MAX_DEADLOCK_EXAMPLES: usize = 16;

/// What breadth-first exploration found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    /// Distinct states found (at most the limit).
    pub states: u64,
    /// Firings explored (edges of the reachability graph).
    pub edges: u64,
    /// True when every reachable state was explored. When false, the other
    /// fields describe only the states found before the limit.
    pub complete: bool,
    /// States in which no transition is enabled.
    pub deadlocks: u64,
    /// The first few deadlock states, in breadth-first order.
    pub deadlock_examples: Vec<Vec<u32>>,
    /// Transitions that fired in no explored state (dead, when complete).
    pub dead_transitions: Vec<usize>,
    /// The most tokens each place held in any explored state.
    pub bounds: Vec<u32>,
    /// Memory the state set used, in bytes.
    pub state_set_bytes: u64,
}

fn check_limit(what: &'static str, value: usize, max: usize) -> Result<(), PetriError> {
    if value == 0 || value > max {
        return Err(PetriError::LimitExceeded {
            what,
            value: value as u64,
            max: max as u64,
        });
    }
    Ok(())
}

/// Explores the states reachable from the initial state, breadth first,
/// stopping at `max_states` distinct states.
///
/// # Errors
/// [`PetriError::LimitExceeded`] when `max_states` is 0 or over
/// [`MAX_STATE_LIMIT`].
pub fn explore(net: &Net, max_states: usize) -> Result<Reachability, PetriError> {
    explore_each(net, max_states, |_| {})
}

/// [`explore`], calling `visit` with each distinct state once, in
/// breadth-first order.
///
/// # Errors
/// As [`explore`].
pub fn explore_each(net: &Net, max_states: usize, mut visit: impl FnMut(&[u32])) -> Result<Reachability, PetriError> {
    check_limit("state limit", max_states, MAX_STATE_LIMIT)?;
    let places = net.place_count();
    let transitions = net.transition_count();
    let mut set = StateSet::new();
    let mut encoded = Vec::with_capacity(places * 2);
    stateset::encode(net.initial(), &mut encoded);
    let inserted = set.insert(&encoded);
    debug_assert_eq!(inserted, Inserted::New(0));
    visit(net.initial());

    let mut bounds = net.initial().to_vec();
    let mut fired = vec![false; transitions];
    let mut current = vec![0u32; places];
    let mut next = vec![0u32; places];
    let mut reach = Reachability {
        states: 1,
        edges: 0,
        complete: true,
        deadlocks: 0,
        deadlock_examples: Vec::new(),
        dead_transitions: Vec::new(),
        bounds: Vec::new(),
        state_set_bytes: 0,
    };
    let mut index = 0;
    'explore: while index < set.len() {
        set.get(index, &mut current);
        let mut enabled = false;
        for (transition, has_fired) in fired.iter_mut().enumerate() {
            if !net.step(&current, transition, &mut next) {
                continue;
            }
            enabled = true;
            *has_fired = true;
            reach.edges += 1;
            encoded.clear();
            stateset::encode(&next, &mut encoded);
            if set.len() >= max_states {
                // Only a state not seen yet would go over the limit.
                if set.contains(&encoded) {
                    continue;
                }
                reach.complete = false;
                break 'explore;
            }
            match set.insert(&encoded) {
                Inserted::Present => {}
                Inserted::New(_) => {
                    for (bound, &tokens) in bounds.iter_mut().zip(&next) {
                        *bound = (*bound).max(tokens);
                    }
                    visit(&next);
                }
                Inserted::Full => {
                    reach.complete = false;
                    break 'explore;
                }
            }
        }
        if !enabled {
            reach.deadlocks += 1;
            if reach.deadlock_examples.len() < MAX_DEADLOCK_EXAMPLES {
                reach.deadlock_examples.push(current.clone());
            }
        }
        index += 1;
    }
    reach.states = set.len() as u64;
    debug_assert!(set.len() <= max_states);
    reach.dead_transitions = (0..transitions).filter(|&t| !fired[t]).collect();
    reach.bounds = bounds;
    reach.state_set_bytes = set.memory_bytes() as u64;
    Ok(reach)
}

/// How [`boundedness`] proved a net bounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoundProof {
    /// Every place has a capacity.
    Capacities,
    /// No transition adds tokens to the places without a capacity, so
    /// together they never hold more than `max_tokens` (their initial sum).
    TokenSum {
        /// The initial token sum of the places without a capacity.
        max_tokens: u64,
    },
    /// The coverability graph has no ω: these are the exact bounds of the
    /// reachable states, per place.
    Coverability {
        /// The most tokens each place can hold.
        bounds: Vec<u32>,
    },
}

/// Why [`boundedness`] could not decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Undecided {
    /// The coverability graph outgrew the node limit before an ω appeared.
    NodeLimit {
        /// The limit.
        max_nodes: u64,
    },
}

/// Whether every place of a net stays below some bound in every reachable
/// state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Boundedness {
    /// Bounded, with the proof.
    Bounded(BoundProof),
    /// Unbounded: these places (indices) can hold arbitrarily many tokens.
    /// `complete` is false when the construction stopped early (a node
    /// limit, or an inhibitor arc on an unbounded place), so more places may
    /// be unbounded.
    Unbounded {
        /// Places shown to be unbounded.
        places: Vec<usize>,
        /// Whether every unbounded place is listed.
        complete: bool,
    },
    /// Not decided within the limit.
    Unknown(Undecided),
}

impl Boundedness {
    /// `Some(true)` when bounded, `Some(false)` when unbounded, `None` when
    /// undecided.
    pub fn is_bounded(&self) -> Option<bool> {
        match self {
            Boundedness::Bounded(_) => Some(true),
            Boundedness::Unbounded { .. } => Some(false),
            Boundedness::Unknown(_) => None,
        }
    }
}

/// ω: "as many tokens as you like" in a coverability marking.
const OMEGA: u64 = u64::MAX;

struct Node {
    marking: Vec<u64>,
    parent: Option<u32>,
    /// The transition fired from the parent.
    via: u32,
}

/// Decides whether `net` is bounded, independently of any state limit
/// (see the [module docs](self) for the method). `max_nodes` caps the
/// Karp–Miller coverability graph, the last resort.
///
/// The acceleration to ω is applied only where it is sound for this
/// crate's nets: on places without a capacity, when the ancestor agrees on
/// every place with a capacity and on every place an inhibitor arc of the
/// path reads, so the path can really be repeated forever. Every ω is
/// therefore a proof of unboundedness.
///
/// # Errors
/// [`PetriError::LimitExceeded`] when `max_nodes` is 0 or over
/// [`MAX_COVERABILITY_NODES`].
pub fn boundedness(net: &Net, max_nodes: usize) -> Result<Boundedness, PetriError> {
    check_limit("coverability node limit", max_nodes, MAX_COVERABILITY_NODES)?;
    let places = net.place_count();
    let capacity = |place: usize| net.capacity(place).unwrap_or(0);
    if (0..places).all(|place| capacity(place) > 0) {
        return Ok(Boundedness::Bounded(BoundProof::Capacities));
    }
    let grows = (0..net.transition_count()).any(|transition| {
        let change: i64 = net
            .effects_of(transition)
            .iter()
            .filter(|effect| capacity(effect.place as usize) == 0)
            .map(|effect| i64::from(effect.produce) - i64::from(effect.consume))
            .sum();
        change > 0
    });
    if !grows {
        let max_tokens = (0..places)
            .filter(|&place| capacity(place) == 0)
            .map(|place| u64::from(net.initial()[place]))
            .sum();
        return Ok(Boundedness::Bounded(BoundProof::TokenSum { max_tokens }));
    }
    Ok(karp_miller(net, max_nodes))
}

/// Fires `transition` on a coverability marking: `Ok(None)` when disabled,
/// `Err(())` when an inhibitor reads an ω place (undecidable here).
fn fire_omega(net: &Net, marking: &[u64], transition: usize) -> Result<Option<Vec<u64>>, ()> {
    for inhibitor in net.inhibitors_of(transition) {
        let tokens = marking[inhibitor.place as usize];
        if tokens == OMEGA {
            if inhibitor.inverted {
                continue; // Needs at least the weight: ω has it.
            }
            return Err(());
        }
        if (tokens >= u64::from(inhibitor.weight)) != inhibitor.inverted {
            return Ok(None);
        }
    }
    let mut next = marking.to_vec();
    for effect in net.effects_of(transition) {
        let place = effect.place as usize;
        let tokens = marking[place];
        if tokens == OMEGA {
            continue;
        }
        if tokens < u64::from(effect.consume) {
            return Ok(None);
        }
        let after = (tokens - u64::from(effect.consume)).saturating_add(u64::from(effect.produce));
        let capacity = net.capacity(place).unwrap_or(0);
        if capacity > 0 && after > u64::from(capacity) {
            return Ok(None);
        }
        next[place] = after.min(OMEGA - 1);
    }
    Ok(Some(next))
}

fn karp_miller(net: &Net, max_nodes: usize) -> Boundedness {
    let places = net.place_count();
    let bounded_place: Vec<bool> = (0..places).map(|place| net.capacity(place).unwrap_or(0) > 0).collect();
    let initial: Vec<u64> = net.initial().iter().map(|&tokens| u64::from(tokens)).collect();
    let mut nodes = vec![Node {
        marking: initial.clone(),
        parent: None,
        via: 0,
    }];
    let mut index: HashMap<Vec<u64>, u32> = HashMap::new();
    index.insert(initial, 0);
    let mut omega = vec![false; places];
    // Places read by a (non-inverted) inhibitor arc on the path so far.
    let mut read = vec![false; places];
    let mut stopped_early = false;
    let mut cursor = 0;
    'build: while cursor < nodes.len() {
        for transition in 0..net.transition_count() {
            let mut next = match fire_omega(net, &nodes[cursor].marking, transition) {
                Ok(Some(next)) => next,
                Ok(None) => continue,
                Err(()) => {
                    stopped_early = true;
                    break 'build;
                }
            };
            // Accelerate against every ancestor on the spanning-tree path.
            read.iter_mut().for_each(|flag| *flag = false);
            let mark_read = |read: &mut [bool], transition: usize| {
                for inhibitor in net.inhibitors_of(transition) {
                    if !inhibitor.inverted {
                        read[inhibitor.place as usize] = true;
                    }
                }
            };
            mark_read(&mut read, transition);
            let mut ancestor = Some(cursor as u32);
            while let Some(at) = ancestor {
                let node = &nodes[at as usize];
                let below = (0..places).all(|p| node.marking[p] <= next[p]);
                let repeatable = (0..places).all(|p| !(bounded_place[p] || read[p]) || node.marking[p] == next[p]);
                if below && repeatable && node.marking != next {
                    for p in 0..places {
                        if node.marking[p] < next[p] {
                            debug_assert!(!bounded_place[p]);
                            next[p] = OMEGA;
                            omega[p] = true;
                        }
                    }
                }
                if node.parent.is_some() {
                    mark_read(&mut read, node.via as usize);
                }
                ancestor = node.parent;
            }
            if index.contains_key(&next) {
                continue;
            }
            if nodes.len() >= max_nodes {
                stopped_early = true;
                break 'build;
            }
            index.insert(next.clone(), nodes.len() as u32);
            nodes.push(Node {
                marking: next,
                parent: Some(cursor as u32),
                via: transition as u32,
            });
        }
        cursor += 1;
    }
    let unbounded: Vec<usize> = (0..places).filter(|&p| omega[p]).collect();
    if !unbounded.is_empty() {
        return Boundedness::Unbounded {
            places: unbounded,
            complete: !stopped_early,
        };
    }
    if stopped_early {
        return Boundedness::Unknown(Undecided::NodeLimit {
            max_nodes: max_nodes as u64,
        });
    }
    let mut bounds = vec![0u32; places];
    for node in &nodes {
        for (bound, &tokens) in bounds.iter_mut().zip(&node.marking) {
            debug_assert_ne!(tokens, OMEGA);
            *bound = (*bound).max(tokens.min(u64::from(u32::MAX)) as u32);
        }
    }
    Boundedness::Bounded(BoundProof::Coverability { bounds })
}

/// What `petri inspect` prints: element counts, the initial state, and the
/// analysis results, in this field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    /// Places in the net.
    pub places: usize,
    /// Transitions in the net.
    pub transitions: usize,
    /// Arcs in the net (every arc element, inhibitor arcs included).
    pub arcs: usize,
    /// The initial state, in document order of the places.
    pub initial: Vec<u32>,
    /// Reachable states, or `None` when exploration stopped at the limit.
    pub reachable_states: Option<u64>,
    /// Reachable deadlock states, or `None` when exploration stopped at the
    /// limit.
    pub deadlocks: Option<u64>,
    /// [`Boundedness::is_bounded`]: `None` only when undecided.
    pub bounded: Option<bool>,
}

/// Inspects `net`: [`explore`] with `max_states`, [`boundedness`] with
/// [`DEFAULT_COVERABILITY_NODES`].
///
/// # Errors
/// As [`explore`].
pub fn inspect(net: &Net, max_states: usize) -> Result<Inspection, PetriError> {
    let reach = explore(net, max_states)?;
    let bounded = boundedness(net, DEFAULT_COVERABILITY_NODES)?.is_bounded();
    Ok(Inspection {
        places: net.place_count(),
        transitions: net.transition_count(),
        arcs: net.spec().arcs.len(),
        initial: net.initial().to_vec(),
        reachable_states: reach.complete.then_some(reach.states),
        deadlocks: reach.complete.then_some(reach.deadlocks),
        bounded,
    })
}
