//! Petri-net state vectors (crate docs are completed below).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chain;
mod error;
pub mod net;

pub use chain::keccak256;
pub use error::{ChainFault, ErrorClass, PetriError};
pub use net::{
    ArcKind, ArcSpec, MAX_ARCS, MAX_LABEL_BYTES, MAX_MULTIPLE, MAX_PLACES, MAX_TOKENS, MAX_TRANSITIONS, Net, NetSpec,
    PlaceSpec, Position, TransitionSpec,
};
pub mod analysis;
pub mod dot;
pub mod pnml;
mod stateset;

pub use analysis::{BoundProof, Boundedness, Inspection, Reachability, Undecided};
mod keys;
mod machines;
pub mod stream;

pub use machines::{MAX_EVENTS_PAGE, MAX_EVENTS_READ, Machines, Receipt, VerifiedChain};
pub use stream::{Command, Event, StreamHead};
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
