//! [`PetriError`]: every way a call into this crate can fail, typed.

use serde::{Deserialize, Serialize};
use tally_store::StoreError;

/// bitwrap's two classes of refused transaction, which its HTTP API
/// reported as `INVALID_INPUT` and `INVALID_OUTPUT`.
///
/// See [`PetriError::class`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorClass {
    /// The request names something that does not exist or may not be used:
    /// an unknown action, a missing stream or schema, a wrong role, a bad
    /// argument. Nothing about the state vector was tried.
    InvalidInput,
    /// The action exists but the state vector it would produce is invalid:
    /// a place would go negative, exceed its capacity or overflow, or an
    /// inhibitor arc forbids the firing.
    InvalidOutput,
}

impl ErrorClass {
    /// bitwrap's reason string: `"INVALID_INPUT"` or `"INVALID_OUTPUT"`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorClass::InvalidInput => "INVALID_INPUT",
            ErrorClass::InvalidOutput => "INVALID_OUTPUT",
        }
    }
}

/// What [`Machines::verify`](crate::Machines::verify) found wrong with a
/// stream's event chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ChainFault {
    /// A stored record does not decode.
    Undecodable {
        /// What the decoder reported.
        reason: String,
    },
    /// The events are not numbered 1, 2, 3, ... without gaps.
    SequenceGap {
        /// The sequence number expected next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// An event's `prev_hash` is not the hash of the event before it (or,
    /// for the first event, the stream's genesis hash).
    PreviousHashMismatch,
    /// An event's stored hash is not the hash of its contents.
    HashMismatch,
    /// Replaying the event's action on the state before it is refused by
    /// the net.
    ReplayRefused {
        /// The refusal.
        reason: String,
    },
    /// Replaying the event's action gives another state than the stored one.
    StateMismatch,
    /// The hash index does not point at this event.
    IndexMismatch,
    /// The stream's head record disagrees with its events.
    HeadMismatch {
        /// Which head field disagrees.
        field: &'static str,
    },
    /// Fewer events are stored than the head's revision says.
    MissingEvents {
        /// The head's revision.
        expected: u64,
        /// Events found.
        found: u64,
    },
}

/// Everything that can go wrong in this crate.
///
/// Variants name the element, transition, place or stream involved, so a
/// caller can tell the user exactly what to fix. [`PetriError::class`] sorts
/// refused transactions into bitwrap's two classes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PetriError {
    // ---- building a net -------------------------------------------------
    /// A count or size is over one of the crate's limits (places,
    /// transitions, arcs, tokens, payload bytes, states explored, ...).
    #[error("{what} is {value}, over the limit of {max}")]
    LimitExceeded {
        /// What was counted, with its unit.
        what: &'static str,
        /// The value found.
        value: u64,
        /// The largest value allowed.
        max: u64,
    },
    /// A label, schema name or stream id is empty, too long or contains
    /// control characters.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// What kind of name (`"label"`, `"schema"`, `"oid"`, `"role"`).
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Two places, transitions or arcs share an id.
    #[error("duplicate id {id:?}")]
    DuplicateId {
        /// The id.
        id: String,
    },
    /// An arc's source or target is not a place or transition of the net.
    #[error("arc {arc:?}: its {end} {node:?} is not a place or transition of the net")]
    DanglingArc {
        /// The arc's id (or `source -> target` when it has none).
        arc: String,
        /// `"source"` or `"target"`.
        end: &'static str,
        /// The id it names.
        node: String,
    },
    /// An arc joins two places, two transitions, or is an inhibitor arc
    /// that does not touch a place.
    #[error("arc {arc:?} from {source_node:?} to {target_node:?}: {reason}")]
    InvalidArc {
        /// The arc's id (or `source -> target`).
        arc: String,
        /// Its source.
        source_node: String,
        /// Its target.
        target_node: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A marking, capacity or arc weight is not a non-negative integer in
    /// range.
    #[error("{element:?}: {field} {text:?} {reason}")]
    InvalidNumber {
        /// The id of the element carrying the number.
        element: String,
        /// Which number (`"initial marking"`, `"capacity"`, `"weight"`).
        field: &'static str,
        /// The text or value found.
        text: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A place starts with more tokens than its capacity.
    #[error("place {place:?} starts with {initial} tokens, over its capacity {capacity}")]
    InitialOverCapacity {
        /// The place.
        place: String,
        /// Its initial marking.
        initial: u32,
        /// Its capacity.
        capacity: u32,
    },

    // ---- PNML -------------------------------------------------------------
    /// The document is not well-formed XML (or uses a DTD, which is refused).
    #[error("malformed XML at line {line}, column {column}: {message}")]
    Xml {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// What the parser reported.
        message: String,
    },
    /// Well-formed XML, but not a PNML document with a `<net>`.
    #[error("not a PNML document: {reason}")]
    NotPnml {
        /// What is missing.
        reason: &'static str,
    },
    /// A required attribute is missing (a `<place>` without `id`, an
    /// `<arc>` without `source`, ...).
    #[error("<{element}> at line {line} has no {attribute:?} attribute")]
    MissingAttribute {
        /// The element's tag.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// 1-based line of the element.
        line: u32,
    },
    /// An arc's `<type value="...">` is neither `normal` nor `inhibitor`.
    #[error("arc {arc:?} has unknown type {value:?} (expected \"normal\" or \"inhibitor\")")]
    UnknownArcType {
        /// The arc's id.
        arc: String,
        /// The type found.
        value: String,
    },

    // ---- firing -------------------------------------------------------------
    /// No transition has this label (or index).
    #[error("unknown transition {transition:?}")]
    UnknownTransition {
        /// The label or index asked for.
        transition: String,
    },
    /// A firing multiple of 0 or over [`MAX_MULTIPLE`](crate::MAX_MULTIPLE).
    #[error("multiple {multiple} is not between 1 and {max}")]
    InvalidMultiple {
        /// The multiple asked for.
        multiple: u32,
        /// The largest allowed.
        max: u32,
    },
    /// The state vector has another length than the net has places.
    #[error("state vector has {found} places, the net has {expected}")]
    StateLength {
        /// The net's place count.
        expected: usize,
        /// The state's length.
        found: usize,
    },
    /// The transition may only be fired by another role.
    #[error("transition {transition:?} needs role {required:?}, caller has {given:?}")]
    RoleMismatch {
        /// The transition.
        transition: String,
        /// Its role.
        required: String,
        /// The caller's role.
        given: Option<String>,
    },
    /// An inhibitor arc forbids the firing: an inhibitor place holds at least
    /// the arc's weight, or (an inverted arc, transition to place) holds less.
    #[error("transition {transition:?} is inhibited by place {place:?}")]
    Inhibited {
        /// The transition.
        transition: String,
        /// The place.
        place: String,
    },
    /// A place would go negative: it holds fewer tokens than the firing
    /// consumes.
    #[error("transition {transition:?} needs {needed} tokens in place {place:?}, which holds {tokens}")]
    WouldGoNegative {
        /// The transition.
        transition: String,
        /// The place.
        place: String,
        /// Tokens the place holds.
        tokens: u64,
        /// Tokens the firing consumes from it.
        needed: u64,
    },
    /// A place would hold more tokens than its capacity.
    #[error("transition {transition:?} would put {tokens} tokens in place {place:?}, over its capacity {capacity}")]
    ExceedsCapacity {
        /// The transition.
        transition: String,
        /// The place.
        place: String,
        /// Tokens the place would hold.
        tokens: u64,
        /// Its capacity.
        capacity: u32,
    },
    /// An unbounded place would hold more than [`MAX_TOKENS`](crate::MAX_TOKENS).
    #[error("transition {transition:?} would put {tokens} tokens in place {place:?}, over the limit {max}")]
    Overflow {
        /// The transition.
        transition: String,
        /// The place.
        place: String,
        /// Tokens the place would hold.
        tokens: u64,
        /// [`MAX_TOKENS`](crate::MAX_TOKENS).
        max: u32,
    },

    // ---- the event store ---------------------------------------------------
    /// No net is registered under this schema name.
    #[error("schema {schema:?} is not registered")]
    SchemaNotFound {
        /// The schema.
        schema: String,
    },
    /// The schema name is registered with another net, or a stream was
    /// created under another net than the schema's.
    #[error("schema {schema:?} is registered with another net")]
    SchemaConflict {
        /// The schema.
        schema: String,
    },
    /// The stream does not exist (create it first).
    #[error("stream {oid:?} of schema {schema:?} does not exist")]
    StreamNotFound {
        /// The schema.
        schema: String,
        /// The stream id.
        oid: String,
    },
    /// A dispatch that asked to follow event `expected` found the stream at
    /// another revision, and the event after `expected` is not this one.
    #[error("stream {oid:?} of schema {schema:?} is at revision {current}, not {expected}")]
    StaleRevision {
        /// The schema.
        schema: String,
        /// The stream id.
        oid: String,
        /// The revision the caller expected.
        expected: u64,
        /// The stream's revision.
        current: u64,
    },
    /// [`Machines::verify`](crate::Machines::verify) found the stream's
    /// event chain broken: tampered with, or corrupted.
    #[error("event chain of stream {oid:?} (schema {schema:?}) is broken at seq {seq}: {fault:?}")]
    ChainBroken {
        /// The schema.
        schema: String,
        /// The stream id.
        oid: String,
        /// The event where the fault shows (0 = the stream head).
        seq: u64,
        /// What is wrong.
        fault: ChainFault,
    },
    /// Stored records contradict each other outside a chain check (a bug,
    /// or tampering).
    #[error("inconsistent stored records: {reason}")]
    Inconsistent {
        /// What contradicts what.
        reason: String,
    },
    /// The store failed. After a failed commit the call may or may not
    /// have been applied; see [`Machines::dispatch`](crate::Machines::dispatch).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PetriError {
    /// The bitwrap class of a refused transaction: [`ErrorClass::InvalidInput`]
    /// for an unknown action or transition, a missing stream or schema, a
    /// wrong role, a bad multiple, state length or payload size;
    /// [`ErrorClass::InvalidOutput`] for a firing that would make a place
    /// negative, exceed a capacity, overflow, or is inhibited. `None` for
    /// everything else (malformed nets, store failures, corruption).
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            PetriError::UnknownTransition { .. }
            | PetriError::SchemaNotFound { .. }
            | PetriError::StreamNotFound { .. }
            | PetriError::RoleMismatch { .. }
            | PetriError::InvalidMultiple { .. }
            | PetriError::StateLength { .. }
            | PetriError::StaleRevision { .. }
            | PetriError::InvalidName { .. }
            | PetriError::LimitExceeded { .. } => Some(ErrorClass::InvalidInput),
            PetriError::WouldGoNegative { .. }
            | PetriError::ExceedsCapacity { .. }
            | PetriError::Overflow { .. }
            | PetriError::Inhibited { .. } => Some(ErrorClass::InvalidOutput),
            _ => None,
        }
    }
}
