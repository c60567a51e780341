//! The core: a Petri net as integer vectors, and the rule for firing it.
//!
//! A net has **places** (a label, an initial token count, a capacity where
//! `0` means unbounded) and **transitions** (a label, an optional role). Arcs
//! join them: a place → transition arc *consumes* its weight from the place,
//! a transition → place arc *produces* its weight into it, and an
//! **inhibitor** arc forbids the firing (see below). The state of a net is a
//! vector of token counts, one per place, in the order the places were
//! declared (for PNML: document order).
//!
//! # The firing rule
//!
//! Firing transition `t` with `multiple` `m` (as one step) from state `s`
//! succeeds when every check passes, in this order, and then gives
//! `s' = s - m·consume(t) + m·produce(t)`:
//!
//! 1. `t` exists, `1 <= m <= MAX_MULTIPLE`, `s` has one entry per place;
//! 2. the caller's role is `t`'s role, when `t` has one (only
//!    [`Net::fire_as`] checks roles; [`Net::fire`] is the trusted form);
//! 3. no inhibitor arc forbids it: an inhibitor arc place → `t` of weight
//!    `w` forbids firing while the place holds `>= w` tokens; an *inverted*
//!    one (drawn transition → place, as in bitwrap's successor
//!    go-metamodel) forbids it while the place holds `< w`;
//! 4. every place holds at least what the firing consumes from it (no place
//!    goes negative);
//! 5. no place ends above its capacity (or above [`MAX_TOKENS`] when
//!    unbounded).
//!
//! Arc weights **accumulate**: two arcs from one place to one transition
//! consume the sum, and a place that is both input and output of a
//! transition is a self-loop: the transition needs the input tokens even
//! though the place ends where it started (unlike bitwrap, which kept only
//! the last arc's weight). A refused firing changes nothing.
//!
//! Places and transitions share one namespace of labels, as PNML ids do.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::PetriError;

/// The most places a net may have.
pub const MAX_PLACES: usize = 1_024;
/// The most transitions a net may have.
pub const MAX_TRANSITIONS: usize = 4_096;
/// The most arcs a net may have.
pub const MAX_ARCS: usize = 65_536;
/// The most bytes in a label (place, transition, arc id or role).
pub const MAX_LABEL_BYTES: usize = 256;
/// The most tokens a place may hold, and the largest arc weight and
/// capacity (2^30).
pub const MAX_TOKENS: u32 = 1 << 30;
/// The largest firing multiple (2^30).
pub const MAX_MULTIPLE: u32 = 1 << 30;

/// Where a node is drawn (PNML `<graphics><position>`); cosmetic only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// Horizontal coordinate.
    pub x: f64,
    /// Vertical coordinate.
    pub y: f64,
}

/// A place as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaceSpec {
    /// The place's label (its PNML id), unique among places and transitions.
    pub label: String,
    /// Tokens in the initial state.
    pub initial: u32,
    /// The most tokens it may hold; `0` means unbounded (up to [`MAX_TOKENS`]).
    pub capacity: u32,
    /// Where it is drawn, if known.
    pub position: Option<Position>,
}

/// A transition as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionSpec {
    /// The transition's label (its PNML id; bitwrap's "action").
    pub label: String,
    /// The only role allowed to fire it through [`Net::fire_as`]; `None` =
    /// anyone.
    pub role: Option<String>,
    /// Where it is drawn, if known.
    pub position: Option<Position>,
}

/// The kind of an arc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArcKind {
    /// Consumes (place → transition) or produces (transition → place).
    Normal,
    /// Forbids firing (see the [module docs](self)); moves no tokens.
    Inhibitor,
}

/// An arc as declared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArcSpec {
    /// The arc's PNML id, if it has one.
    pub id: Option<String>,
    /// Label of the source place or transition.
    pub source: String,
    /// Label of the target place or transition.
    pub target: String,
    /// Tokens moved (or the inhibitor threshold), `1..=MAX_TOKENS`.
    pub weight: u32,
    /// Normal or inhibitor.
    pub kind: ArcKind,
}

impl ArcSpec {
    /// The arc's id, or `source -> target` when it has none (for errors).
    pub fn name(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!("{} -> {}", self.source, self.target),
        }
    }
}

/// A net as declared: plain data, validated by [`Net::new`].
///
/// Build one by hand with the chained helpers, or read one from PNML with
/// [`crate::pnml::read`].
///
/// ```
/// use tally_petri::{Net, NetSpec};
///
/// let spec = NetSpec::new()
///     .place("p0", 0)
///     .transition("INC_0")
///     .arc("INC_0", "p0", 1);
/// let net = Net::new(spec)?;
/// assert_eq!(net.initial(), &[0]);
/// # Ok::<(), tally_petri::PetriError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// The net's name (PNML `net@id`), if any.
    pub name: Option<String>,
    /// Places, in state-vector order.
    pub places: Vec<PlaceSpec>,
    /// Transitions, in index order.
    pub transitions: Vec<TransitionSpec>,
    /// Arcs, in declaration order.
    pub arcs: Vec<ArcSpec>,
}

impl NetSpec {
    /// An empty net.
    pub fn new() -> Self {
        NetSpec::default()
    }

    /// Adds an unbounded place.
    pub fn place(self, label: &str, initial: u32) -> Self {
        self.place_with_capacity(label, initial, 0)
    }

    /// Adds a place holding at most `capacity` tokens (`0` = unbounded).
    pub fn place_with_capacity(mut self, label: &str, initial: u32, capacity: u32) -> Self {
        self.places.push(PlaceSpec {
            label: label.to_owned(),
            initial,
            capacity,
            position: None,
        });
        self
    }

    /// Adds a transition anyone may fire.
    pub fn transition(mut self, label: &str) -> Self {
        self.transitions.push(TransitionSpec {
            label: label.to_owned(),
            role: None,
            position: None,
        });
        self
    }

    /// Adds a transition only `role` may fire through [`Net::fire_as`].
    pub fn transition_with_role(mut self, label: &str, role: &str) -> Self {
        self.transitions.push(TransitionSpec {
            label: label.to_owned(),
            role: Some(role.to_owned()),
            position: None,
        });
        self
    }

    /// Adds a normal arc (place → transition consumes, transition → place
    /// produces).
    pub fn arc(mut self, source: &str, target: &str, weight: u32) -> Self {
        self.arcs.push(ArcSpec {
            id: None,
            source: source.to_owned(),
            target: target.to_owned(),
            weight,
            kind: ArcKind::Normal,
        });
        self
    }

    /// Adds an inhibitor arc from `place` to `transition`: the transition
    /// may not fire while the place holds `weight` tokens or more.
    pub fn inhibitor(mut self, place: &str, transition: &str, weight: u32) -> Self {
        self.arcs.push(ArcSpec {
            id: None,
            source: place.to_owned(),
            target: transition.to_owned(),
            weight,
            kind: ArcKind::Inhibitor,
        });
        self
    }
}

/// What a transition does to one place, all its arcs to that place summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Effect {
    pub(crate) place: u32,
    pub(crate) consume: u32,
    pub(crate) produce: u32,
    /// The place's capacity, or [`MAX_TOKENS`] when unbounded (copied here
    /// so firing reads one record per place).
    pub(crate) limit: u32,
}

/// One inhibitor condition of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inhibitor {
    pub(crate) place: u32,
    pub(crate) weight: u32,
    /// `false`: forbids while `tokens >= weight`; `true`: while `tokens < weight`.
    pub(crate) inverted: bool,
}

impl Inhibitor {
    #[inline]
    pub(crate) fn forbids(self, tokens: u32) -> bool {
        (tokens >= self.weight) != self.inverted
    }
}

/// Why a firing was refused, by index: the allocation-free form used on hot
/// paths, turned into a [`PetriError`] with labels by [`Net::refusal_error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Inhibited { place: u32 },
    Negative { place: u32, tokens: u64, needed: u64 },
    Capacity { place: u32, tokens: u64 },
    Overflow { place: u32, tokens: u64 },
}

/// The most `transitions x places` cells for which a net also keeps dense
/// per-transition rows, for single firings (multiple 1): fixed-length,
/// branch-free loops over the whole state vector that vectorize and never
/// mispredict (3 x 4 bytes a cell, so at most 768 KiB).
const DENSE_CELLS_MAX: usize = 1 << 16;

/// Dense rows, `transitions x places`, row-major: what one firing of each
/// transition consumes from each place, produces into it, and the room the
/// place has for the rest (`limit - produce`). A place the transition does
/// not touch has room `u32::MAX`: firing never checks it.
#[derive(Debug, Clone)]
struct Dense {
    consume: Vec<u32>,
    produce: Vec<u32>,
    room: Vec<u32>,
    /// Transitions that produce more into some place than its capacity:
    /// they can never fire, and have no meaningful room.
    never: Vec<bool>,
}

/// One firing (multiple 1) on the dense rows, checked and written in one
/// fixed-length pass: `out = state - consume + produce`, and whether every
/// place had enough and stays within its limit. `out` is meaningless when
/// it returns false.
#[inline]
fn dense_step(dense: &Dense, state: &[u32], transition: usize, out: &mut [u32]) -> bool {
    let row = transition * state.len()..(transition + 1) * state.len();
    let columns = dense.consume[row.clone()]
        .iter()
        .zip(&dense.produce[row.clone()])
        .zip(&dense.room[row]);
    let mut fits = !dense.never[transition];
    for ((slot, &tokens), ((&consume, &produce), &room)) in out.iter_mut().zip(state).zip(columns) {
        // tokens - consume + produce <= limit, without an addition that
        // could overflow: tokens - consume <= limit - produce.
        let rest = tokens.wrapping_sub(consume);
        fits &= (tokens >= consume) & (rest <= room);
        *slot = rest.wrapping_add(produce);
    }
    fits
}

/// Node kinds in the label namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Place(u32),
    Transition(u32),
}

/// A validated net, compiled for fast firing.
///
/// Construct it with [`Net::new`] (or [`crate::pnml::read`]); it keeps its
/// [`NetSpec`] ([`Net::spec`]) for export. Serializes as its spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "NetSpec", into = "NetSpec")]
pub struct Net {
    spec: NetSpec,
    labels: HashMap<String, Node>,
    initial: Vec<u32>,
    /// Per place: its capacity, or [`MAX_TOKENS`] when unbounded.
    limits: Vec<u32>,
    /// Every transition's effects, one run per transition.
    effects: Vec<Effect>,
    /// `effect_ranges[t] = (start, end)`: `t`'s effects.
    effect_ranges: Vec<(u32, u32)>,
    inhibitors: Vec<Inhibitor>,
    /// `inhibitor_ranges[t] = (start, end)`: `t`'s inhibitors.
    inhibitor_ranges: Vec<(u32, u32)>,
    self_loops: bool,
    fingerprint: [u8; 32],
    dense: Option<Dense>,
}

impl PartialEq for Net {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl TryFrom<NetSpec> for Net {
    type Error = PetriError;
    fn try_from(spec: NetSpec) -> Result<Self, PetriError> {
        Net::new(spec)
    }
}

impl From<Net> for NetSpec {
    fn from(net: Net) -> NetSpec {
        net.spec
    }
}

/// Checks a label, schema name, stream id or role: 1 to `max_bytes` bytes,
/// no control characters.
pub(crate) fn check_name(what: &'static str, name: &str, max_bytes: usize) -> Result<(), PetriError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > max_bytes {
        Some("it is too long")
    } else if name.chars().any(char::is_control) {
        Some("it contains control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(PetriError::InvalidName {
            what,
            name: name.chars().take(max_bytes.min(64)).collect(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), PetriError> {
    if count > max {
        return Err(PetriError::LimitExceeded {
            what,
            value: count as u64,
            max: max as u64,
        });
    }
    Ok(())
}

fn check_tokens(element: &str, field: &'static str, value: u32, min: u32) -> Result<(), PetriError> {
    let reason = if value < min {
        "is below the minimum of 1"
    } else if value > MAX_TOKENS {
        "is over the limit of 2^30"
    } else {
        return Ok(());
    };
    Err(PetriError::InvalidNumber {
        element: element.to_owned(),
        field,
        text: value.to_string(),
        reason,
    })
}

impl Net {
    /// Validates `spec` and compiles it.
    ///
    /// # Errors
    /// - [`PetriError::LimitExceeded`]: more than [`MAX_PLACES`],
    ///   [`MAX_TRANSITIONS`] or [`MAX_ARCS`], or a transition consuming or
    ///   producing more than [`MAX_TOKENS`] from one place in all;
    /// - [`PetriError::InvalidName`]: a label or role that is empty, over
    ///   [`MAX_LABEL_BYTES`] or contains control characters;
    /// - [`PetriError::DuplicateId`]: two places/transitions with one label;
    /// - [`PetriError::InvalidNumber`]: an initial marking or capacity over
    ///   [`MAX_TOKENS`], an arc weight of 0 or over it;
    /// - [`PetriError::InitialOverCapacity`];
    /// - [`PetriError::DanglingArc`], [`PetriError::InvalidArc`]: an arc
    ///   naming an unknown node, or joining two places, two transitions, or
    ///   an inhibitor arc that has no place end.
    pub fn new(spec: NetSpec) -> Result<Net, PetriError> {
        check_count("place count", spec.places.len(), MAX_PLACES)?;
        check_count("transition count", spec.transitions.len(), MAX_TRANSITIONS)?;
        check_count("arc count", spec.arcs.len(), MAX_ARCS)?;
        if let Some(name) = &spec.name {
            check_name("net name", name, MAX_LABEL_BYTES)?;
        }

        let mut labels = HashMap::with_capacity(spec.places.len() + spec.transitions.len());
        let mut initial = Vec::with_capacity(spec.places.len());
        let mut limits = Vec::with_capacity(spec.places.len());
        for (index, place) in spec.places.iter().enumerate() {
            check_name("label", &place.label, MAX_LABEL_BYTES)?;
            check_tokens(&place.label, "initial marking", place.initial, 0)?;
            check_tokens(&place.label, "capacity", place.capacity, 0)?;
            if place.capacity > 0 && place.initial > place.capacity {
                return Err(PetriError::InitialOverCapacity {
                    place: place.label.clone(),
                    initial: place.initial,
                    capacity: place.capacity,
                });
            }
            if labels.insert(place.label.clone(), Node::Place(index as u32)).is_some() {
                return Err(PetriError::DuplicateId {
                    id: place.label.clone(),
                });
            }
            initial.push(place.initial);
            limits.push(if place.capacity == 0 {
                MAX_TOKENS
            } else {
                place.capacity
            });
        }
        for (index, transition) in spec.transitions.iter().enumerate() {
            check_name("label", &transition.label, MAX_LABEL_BYTES)?;
            if let Some(role) = &transition.role {
                check_name("role", role, MAX_LABEL_BYTES)?;
            }
            if labels
                .insert(transition.label.clone(), Node::Transition(index as u32))
                .is_some()
            {
                return Err(PetriError::DuplicateId {
                    id: transition.label.clone(),
                });
            }
        }

        // Per transition: place -> (consume, produce), summed over arcs, in
        // place order so firing walks the state vector forwards.
        let mut sums: Vec<std::collections::BTreeMap<u32, (u64, u64)>> =
            vec![std::collections::BTreeMap::new(); spec.transitions.len()];
        let mut guards: Vec<Vec<Inhibitor>> = vec![Vec::new(); spec.transitions.len()];
        for arc in &spec.arcs {
            if let Some(id) = &arc.id {
                check_name("arc id", id, MAX_LABEL_BYTES)?;
            }
            let resolve = |end: &'static str, label: &str| {
                labels.get(label).copied().ok_or_else(|| PetriError::DanglingArc {
                    arc: arc.name(),
                    end,
                    node: label.to_owned(),
                })
            };
            let source = resolve("source", &arc.source)?;
            let target = resolve("target", &arc.target)?;
            check_tokens(&arc.name(), "weight", arc.weight, 1)?;
            let invalid = |reason| PetriError::InvalidArc {
                arc: arc.name(),
                source_node: arc.source.clone(),
                target_node: arc.target.clone(),
                reason,
            };
            match (arc.kind, source, target) {
                (ArcKind::Normal, Node::Place(p), Node::Transition(t)) => {
                    let entry = sums[t as usize].entry(p).or_default();
                    entry.0 += u64::from(arc.weight);
                }
                (ArcKind::Normal, Node::Transition(t), Node::Place(p)) => {
                    let entry = sums[t as usize].entry(p).or_default();
                    entry.1 += u64::from(arc.weight);
                }
                (ArcKind::Inhibitor, Node::Place(p), Node::Transition(t)) => guards[t as usize].push(Inhibitor {
                    place: p,
                    weight: arc.weight,
                    inverted: false,
                }),
                (ArcKind::Inhibitor, Node::Transition(t), Node::Place(p)) => guards[t as usize].push(Inhibitor {
                    place: p,
                    weight: arc.weight,
                    inverted: true,
                }),
                (_, Node::Place(_), Node::Place(_)) => return Err(invalid("an arc cannot join two places")),
                (_, Node::Transition(_), Node::Transition(_)) => {
                    return Err(invalid("an arc cannot join two transitions"));
                }
            }
        }

        let mut effects = Vec::new();
        let mut effect_ranges = Vec::with_capacity(spec.transitions.len());
        let mut inhibitors = Vec::new();
        let mut inhibitor_ranges = Vec::with_capacity(spec.transitions.len());
        let mut self_loops = false;
        for (sum, guard) in sums.iter().zip(&guards) {
            let effect_start = effects.len() as u32;
            let inhibitor_start = inhibitors.len() as u32;
            for (&place, &(consume, produce)) in sum {
                for (what, total) in [
                    ("tokens one transition consumes from a place", consume),
                    ("tokens one transition produces into a place", produce),
                ] {
                    if total > u64::from(MAX_TOKENS) {
                        return Err(PetriError::LimitExceeded {
                            what,
                            value: total,
                            max: u64::from(MAX_TOKENS),
                        });
                    }
                }
                self_loops |= consume > 0 && produce > 0;
                effects.push(Effect {
                    place,
                    consume: consume as u32,
                    produce: produce as u32,
                    limit: limits[place as usize],
                });
            }
            inhibitors.extend_from_slice(guard);
            effect_ranges.push((effect_start, effects.len() as u32));
            inhibitor_ranges.push((inhibitor_start, inhibitors.len() as u32));
        }
        debug_assert_eq!(effect_ranges.len(), spec.transitions.len());
        debug_assert!(effects.len() <= spec.arcs.len());

        let fingerprint = fingerprint(&spec);
        let cells = spec.places.len() * spec.transitions.len();
        let dense = (cells <= DENSE_CELLS_MAX).then(|| {
            let places = spec.places.len();
            let mut dense = Dense {
                consume: vec![0; cells],
                produce: vec![0; cells],
                room: vec![u32::MAX; cells],
                never: vec![false; spec.transitions.len()],
            };
            for (transition, &(start, end)) in effect_ranges.iter().enumerate() {
                for effect in &effects[start as usize..end as usize] {
                    let cell = transition * places + effect.place as usize;
                    dense.consume[cell] = effect.consume;
                    dense.produce[cell] = effect.produce;
                    match effect.limit.checked_sub(effect.produce) {
                        Some(room) => dense.room[cell] = room,
                        None => dense.never[transition] = true,
                    }
                }
            }
            dense
        });
        Ok(Net {
            spec,
            labels,
            initial,
            limits,
            effects,
            effect_ranges,
            inhibitors,
            inhibitor_ranges,
            self_loops,
            fingerprint,
            dense,
        })
    }

    /// The net as declared.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// Number of places (the state vector's length).
    pub fn place_count(&self) -> usize {
        self.initial.len()
    }

    /// Number of transitions.
    pub fn transition_count(&self) -> usize {
        self.spec.transitions.len()
    }

    /// The initial state vector.
    pub fn initial(&self) -> &[u32] {
        &self.initial
    }

    /// The index of the place labelled `label`.
    pub fn place_index(&self, label: &str) -> Option<usize> {
        match self.labels.get(label) {
            Some(Node::Place(index)) => Some(*index as usize),
            _ => None,
        }
    }

    /// The index of the transition labelled `label`.
    pub fn transition_index(&self, label: &str) -> Option<usize> {
        match self.labels.get(label) {
            Some(Node::Transition(index)) => Some(*index as usize),
            _ => None,
        }
    }

    /// The label of place `index`.
    pub fn place_label(&self, index: usize) -> Option<&str> {
        self.spec.places.get(index).map(|place| place.label.as_str())
    }

    /// The label of transition `index`.
    pub fn transition_label(&self, index: usize) -> Option<&str> {
        self.spec
            .transitions
            .get(index)
            .map(|transition| transition.label.as_str())
    }

    /// The role allowed to fire transition `index`, if it has one.
    pub fn role(&self, index: usize) -> Option<&str> {
        self.spec
            .transitions
            .get(index)
            .and_then(|transition| transition.role.as_deref())
    }

    /// The capacity of place `index` (`0` = unbounded).
    pub fn capacity(&self, index: usize) -> Option<u32> {
        self.spec.places.get(index).map(|place| place.capacity)
    }

    /// True when some transition both consumes from and produces into one
    /// place (then firing is not plain vector addition of its delta).
    pub fn has_self_loops(&self) -> bool {
        self.self_loops
    }

    /// True when the net has inhibitor arcs.
    pub fn has_inhibitors(&self) -> bool {
        !self.inhibitors.is_empty()
    }

    /// Transition `index`'s delta: what one firing adds to each place
    /// (`produce - consume`), bitwrap's "transaction vector".
    pub fn delta(&self, index: usize) -> Option<Vec<i64>> {
        if index >= self.transition_count() {
            return None;
        }
        let mut delta = vec![0i64; self.place_count()];
        for effect in self.effects_of(index) {
            delta[effect.place as usize] = i64::from(effect.produce) - i64::from(effect.consume);
        }
        Some(delta)
    }

    #[inline]
    pub(crate) fn effects_of(&self, transition: usize) -> &[Effect] {
        let (start, end) = self.effect_ranges[transition];
        &self.effects[start as usize..end as usize]
    }

    #[inline]
    pub(crate) fn inhibitors_of(&self, transition: usize) -> &[Inhibitor] {
        let (start, end) = self.inhibitor_ranges[transition];
        &self.inhibitors[start as usize..end as usize]
    }

    /// Fires `transition` `multiple` times as one step from `state`, as a
    /// trusted caller (roles are not checked), and returns the new state.
    ///
    /// ```
    /// use tally_petri::{Net, NetSpec, PetriError};
    ///
    /// let net = Net::new(NetSpec::new().place("p", 1).place("q", 0)
    ///     .transition("move").arc("p", "move", 1).arc("move", "q", 1))?;
    /// let next = net.fire(net.initial(), 0, 1)?;
    /// assert_eq!(next, vec![0, 1]);
    /// assert!(matches!(net.fire(&next, 0, 1), Err(PetriError::WouldGoNegative { .. })));
    /// # Ok::<(), PetriError>(())
    /// ```
    ///
    /// # Errors
    /// [`PetriError::UnknownTransition`], [`PetriError::InvalidMultiple`],
    /// [`PetriError::StateLength`], [`PetriError::Inhibited`],
    /// [`PetriError::WouldGoNegative`], [`PetriError::ExceedsCapacity`],
    /// [`PetriError::Overflow`], checked in the order of the
    /// [firing rule](self).
    pub fn fire(&self, state: &[u32], transition: usize, multiple: u32) -> Result<Vec<u32>, PetriError> {
        let mut next = state.to_vec();
        self.fire_in_place(&mut next, transition, multiple)?;
        Ok(next)
    }

    /// [`fire`](Net::fire) as `role` (`None` = a caller with no role): a
    /// transition with a role may only be fired by that role.
    ///
    /// # Errors
    /// As [`fire`](Net::fire), plus [`PetriError::RoleMismatch`] (checked
    /// after the arguments, before the tokens).
    pub fn fire_as(
        &self,
        state: &[u32],
        transition: usize,
        multiple: u32,
        role: Option<&str>,
    ) -> Result<Vec<u32>, PetriError> {
        self.check_arguments(state, transition, multiple)?;
        self.check_role(transition, role)?;
        self.fire(state, transition, multiple)
    }

    /// [`fire`](Net::fire) in place, without allocating: on success `state`
    /// is the new state; on error it is unchanged.
    ///
    /// # Errors
    /// As [`fire`](Net::fire).
    #[inline]
    pub fn fire_in_place(&self, state: &mut [u32], transition: usize, multiple: u32) -> Result<(), PetriError> {
        self.check_arguments(state, transition, multiple)?;
        match self.try_fire(state, transition, u64::from(multiple)) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.refusal_error(transition, refusal)),
        }
    }

    /// [`fire`](Net::fire) from `state` into `out`, without allocating or
    /// copying first: the fastest way to compute a successor state. On error
    /// `out` is unspecified.
    ///
    /// # Errors
    /// As [`fire`](Net::fire), and [`PetriError::StateLength`] when `out`
    /// does not have one entry per place.
    #[inline]
    pub fn fire_into(
        &self,
        state: &[u32],
        transition: usize,
        multiple: u32,
        out: &mut [u32],
    ) -> Result<(), PetriError> {
        self.check_arguments(state, transition, multiple)?;
        self.check_length(out)?;
        match self.try_fire_into(state, transition, u64::from(multiple), out) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.refusal_error(transition, refusal)),
        }
    }

    /// Whether `transition` can fire once from `state`, as a trusted caller.
    pub fn is_enabled(&self, state: &[u32], transition: usize) -> bool {
        state.len() == self.place_count()
            && transition < self.transition_count()
            && self.check(state, transition, 1).is_ok()
    }

    /// The transitions that can fire once from `state`, as a trusted caller
    /// (roles ignored), in index order.
    ///
    /// # Errors
    /// [`PetriError::StateLength`].
    pub fn enabled(&self, state: &[u32]) -> Result<Vec<usize>, PetriError> {
        self.check_length(state)?;
        Ok((0..self.transition_count())
            .filter(|&transition| self.check(state, transition, 1).is_ok())
            .collect())
    }

    /// The transitions `role` (`None` = no role) can fire once from `state`.
    ///
    /// # Errors
    /// [`PetriError::StateLength`].
    pub fn enabled_as(&self, state: &[u32], role: Option<&str>) -> Result<Vec<usize>, PetriError> {
        let mut enabled = self.enabled(state)?;
        enabled.retain(|&transition| self.check_role(transition, role).is_ok());
        Ok(enabled)
    }

    #[inline]
    fn check_length(&self, state: &[u32]) -> Result<(), PetriError> {
        if state.len() != self.place_count() {
            return Err(PetriError::StateLength {
                expected: self.place_count(),
                found: state.len(),
            });
        }
        Ok(())
    }

    #[inline]
    fn check_arguments(&self, state: &[u32], transition: usize, multiple: u32) -> Result<(), PetriError> {
        if transition >= self.transition_count() {
            return Err(PetriError::UnknownTransition {
                transition: transition.to_string(),
            });
        }
        if multiple == 0 || multiple > MAX_MULTIPLE {
            return Err(PetriError::InvalidMultiple {
                multiple,
                max: MAX_MULTIPLE,
            });
        }
        self.check_length(state)
    }

    /// Checks that `role` may fire `transition` (which must exist).
    pub(crate) fn check_role(&self, transition: usize, role: Option<&str>) -> Result<(), PetriError> {
        match self.role(transition) {
            Some(required) if role != Some(required) => Err(PetriError::RoleMismatch {
                transition: self.transition_label(transition).unwrap_or_default().to_owned(),
                required: required.to_owned(),
                given: role.map(str::to_owned),
            }),
            _ => Ok(()),
        }
    }

    /// The firing rule's token checks (3 to 5), allocation-free. The caller
    /// has checked the transition index, the multiple and the state length.
    #[inline]
    pub(crate) fn check(&self, state: &[u32], transition: usize, multiple: u64) -> Result<(), Refusal> {
        debug_assert_eq!(state.len(), self.place_count());
        debug_assert!((1..=u64::from(MAX_MULTIPLE)).contains(&multiple));
        if let Some(place) = self.inhibiting_place(state, transition) {
            return Err(Refusal::Inhibited { place });
        }
        if self.fits(state, transition, multiple) {
            return Ok(());
        }
        Err(self.refusal(state, transition, multiple))
    }

    /// The common case, branch-free: whether every place has enough and
    /// stays within its limit.
    #[inline]
    fn fits(&self, state: &[u32], transition: usize, multiple: u64) -> bool {
        let mut fits = true;
        match &self.dense {
            Some(dense) if multiple == 1 => {
                let row = transition * state.len()..(transition + 1) * state.len();
                let consume = &dense.consume[row.clone()];
                let room = &dense.room[row];
                // tokens - consume + produce <= limit, without an addition
                // that could overflow: tokens - consume <= limit - produce.
                for ((&tokens, &consume), &room) in state.iter().zip(consume).zip(room) {
                    fits &= (tokens >= consume) & (tokens.wrapping_sub(consume) <= room);
                }
                fits &= !dense.never[transition];
            }
            _ => {
                for effect in self.effects_of(transition) {
                    let tokens = u64::from(state[effect.place as usize]);
                    let needed = u64::from(effect.consume) * multiple;
                    let after = tokens
                        .wrapping_sub(needed)
                        .wrapping_add(u64::from(effect.produce) * multiple);
                    fits &= tokens >= needed && after <= u64::from(effect.limit);
                }
            }
        }
        fits
    }

    /// Why a firing that does not fit is refused: a place going negative
    /// (rule 4) before one going over its limit (rule 5).
    #[cold]
    fn refusal(&self, state: &[u32], transition: usize, multiple: u64) -> Refusal {
        let effects = self.effects_of(transition);
        for effect in effects {
            let tokens = u64::from(state[effect.place as usize]);
            let needed = u64::from(effect.consume) * multiple;
            if tokens < needed {
                return Refusal::Negative {
                    place: effect.place,
                    tokens,
                    needed,
                };
            }
        }
        for effect in effects {
            let place = effect.place as usize;
            let after =
                u64::from(state[place]) - u64::from(effect.consume) * multiple + u64::from(effect.produce) * multiple;
            if after > u64::from(effect.limit) {
                return if self.spec.places[place].capacity > 0 {
                    Refusal::Capacity {
                        place: effect.place,
                        tokens: after,
                    }
                } else {
                    Refusal::Overflow {
                        place: effect.place,
                        tokens: after,
                    }
                };
            }
        }
        debug_assert!(false, "refusal() called for a firing that fits");
        Refusal::Overflow { place: 0, tokens: 0 }
    }

    /// Checks, then applies, the firing; `state` is unchanged on refusal.
    #[inline]
    pub(crate) fn try_fire(&self, state: &mut [u32], transition: usize, multiple: u64) -> Result<(), Refusal> {
        self.check(state, transition, multiple)?;
        match &self.dense {
            Some(dense) if multiple == 1 => {
                let row = transition * state.len()..(transition + 1) * state.len();
                for ((slot, &consume), &produce) in state
                    .iter_mut()
                    .zip(&dense.consume[row.clone()])
                    .zip(&dense.produce[row])
                {
                    // Checked above: consume <= *slot and the result fits.
                    *slot = slot.wrapping_sub(consume).wrapping_add(produce);
                }
            }
            _ => {
                for effect in self.effects_of(transition) {
                    let slot = &mut state[effect.place as usize];
                    let after =
                        u64::from(*slot) - u64::from(effect.consume) * multiple + u64::from(effect.produce) * multiple;
                    debug_assert!(after <= u64::from(effect.limit));
                    *slot = after as u32;
                }
            }
        }
        Ok(())
    }

    /// [`try_fire`](Self::try_fire) from `state` into `out` (same length),
    /// without a separate copy; `out` is unspecified on refusal.
    #[inline]
    pub(crate) fn try_fire_into(
        &self,
        state: &[u32],
        transition: usize,
        multiple: u64,
        out: &mut [u32],
    ) -> Result<(), Refusal> {
        debug_assert_eq!(state.len(), out.len());
        match &self.dense {
            Some(dense) if multiple == 1 => {
                if let Some(place) = self.inhibiting_place(state, transition) {
                    return Err(Refusal::Inhibited { place });
                }
                if dense_step(dense, state, transition, out) {
                    Ok(())
                } else {
                    Err(self.refusal(state, transition, multiple))
                }
            }
            _ => {
                out.copy_from_slice(state);
                self.try_fire(out, transition, multiple)
            }
        }
    }

    /// Fires `transition` once from `state` into `out` as a trusted caller,
    /// saying only whether it could (`out` is unspecified when not): the
    /// inner loop of exploration.
    #[inline]
    pub(crate) fn step(&self, state: &[u32], transition: usize, out: &mut [u32]) -> bool {
        match &self.dense {
            Some(dense) => {
                self.inhibiting_place(state, transition).is_none() && dense_step(dense, state, transition, out)
            }
            None => self.try_fire_into(state, transition, 1, out).is_ok(),
        }
    }

    /// The first place whose inhibitor arc forbids firing `transition`.
    #[inline]
    fn inhibiting_place(&self, state: &[u32], transition: usize) -> Option<u32> {
        if self.inhibitors.is_empty() {
            return None;
        }
        self.inhibitors_of(transition)
            .iter()
            .find(|inhibitor| inhibitor.forbids(state[inhibitor.place as usize]))
            .map(|inhibitor| inhibitor.place)
    }

    /// Turns an index-based refusal into an error with labels.
    pub(crate) fn refusal_error(&self, transition: usize, refusal: Refusal) -> PetriError {
        let transition = self.transition_label(transition).unwrap_or_default().to_owned();
        let label = |place: u32| self.place_label(place as usize).unwrap_or_default().to_owned();
        match refusal {
            Refusal::Inhibited { place } => PetriError::Inhibited {
                transition,
                place: label(place),
            },
            Refusal::Negative { place, tokens, needed } => PetriError::WouldGoNegative {
                transition,
                place: label(place),
                tokens,
                needed,
            },
            Refusal::Capacity { place, tokens } => PetriError::ExceedsCapacity {
                transition,
                place: label(place),
                tokens,
                capacity: self.limits[place as usize],
            },
            Refusal::Overflow { place, tokens } => PetriError::Overflow {
                transition,
                place: label(place),
                tokens,
                max: MAX_TOKENS,
            },
        }
    }

    /// The same net without its dense rows, so firing takes the sparse path
    /// that nets with more than 2^16 transition-place cells use. For tests
    /// and fuzzing, which compare the two paths.
    #[cfg(any(test, feature = "fuzzing"))]
    #[doc(hidden)]
    pub fn without_dense_rows(mut self) -> Net {
        self.dense = None;
        self
    }

    /// A keccak-256 digest of the whole declaration (places, transitions,
    /// arcs, positions and name, in order): two nets with the same
    /// fingerprint are the same net. The event store keys schemas by it.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}

/// See [`Net::fingerprint`].
fn fingerprint(spec: &NetSpec) -> [u8; 32] {
    let mut hasher = crate::chain::Keccak::new(b"tally-petri/net/v1");
    hasher.optional_str(spec.name.as_deref());
    hasher.u64(spec.places.len() as u64);
    for place in &spec.places {
        hasher.str(&place.label);
        hasher.u64(u64::from(place.initial));
        hasher.u64(u64::from(place.capacity));
        hasher.position(place.position);
    }
    hasher.u64(spec.transitions.len() as u64);
    for transition in &spec.transitions {
        hasher.str(&transition.label);
        hasher.optional_str(transition.role.as_deref());
        hasher.position(transition.position);
    }
    hasher.u64(spec.arcs.len() as u64);
    for arc in &spec.arcs {
        hasher.optional_str(arc.id.as_deref());
        hasher.str(&arc.source);
        hasher.str(&arc.target);
        hasher.u64(u64::from(arc.weight));
        hasher.u64(match arc.kind {
            ArcKind::Normal => 0,
            ArcKind::Inhibitor => 1,
        });
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_dense_and_sparse_paths_agree(
            places in 1usize..6,
            arcs in proptest::collection::vec((0usize..6, 0usize..4, 0u8..4, 1u32..4), 0..14),
            capacities in proptest::collection::vec(0u32..3, 6),
            state in proptest::collection::vec(prop_oneof![0u32..4, Just(MAX_TOKENS), Just(u32::MAX)], 6),
            multiple in 1u32..4,
        ) {
            let mut spec = NetSpec::new();
            for (place, &capacity) in capacities.iter().enumerate().take(places) {
                spec = spec.place_with_capacity(&format!("p{place}"), 0, capacity);
            }
            for transition in 0..4 {
                spec = spec.transition(&format!("t{transition}"));
            }
            for (place, transition, kind, weight) in arcs {
                let (p, t) = (format!("p{}", place % places), format!("t{transition}"));
                spec = match kind {
                    0 => spec.arc(&p, &t, weight),
                    1 => spec.arc(&t, &p, weight),
                    2 => spec.inhibitor(&p, &t, weight),
                    _ => spec.arc(&p, &t, weight).arc(&t, &p, weight),
                };
            }
            let dense = Net::new(spec).expect("a valid net");
            prop_assert!(dense.dense.is_some());
            let sparse = dense.clone().without_dense_rows();
            let state = &state[..places];
            for transition in 0..4 {
                let a = dense.fire(state, transition, multiple).map_err(|error| error.to_string());
                let b = sparse.fire(state, transition, multiple).map_err(|error| error.to_string());
                prop_assert_eq!(&a, &b);
                let mut out = vec![0; places];
                let c = dense.fire_into(state, transition, multiple, &mut out).map(|()| out.clone());
                prop_assert_eq!(c.map_err(|error| error.to_string()), a);
            }
        }
    }
}
