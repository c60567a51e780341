//! Petri-net state vectors after [bitwrap-io](https://github.com/bitwrap/bitwrap-io),
//! "a blockchain-style eventstore", with the firing rule of its successor
//! (capacities, inhibitor arcs, roles), PNML import and export, analysis,
//! and a hash-chained event store on any tally [`Store`](tally_store::Store).
//!
//! A **net** declares a state vector of `n` places with initial token
//! counts; each **transition** is an integer delta vector; a transaction
//! applies a transition by vector addition; no place may go negative (nor
//! above its capacity); the state is stored after each valid transaction.
//!
//! # Core, then shell
//!
//! - [`net`]: the core. [`NetSpec`] is a net as declared (plain data);
//!   [`Net::new`] validates it within the crate's limits and compiles it;
//!   [`Net::fire`] / [`Net::fire_as`] / [`Net::fire_into`] apply the
//!   [firing rule](net#the-firing-rule) or return a typed [`PetriError`];
//!   [`Net::enabled`] lists what can fire. Pure: no I/O, clock or threads.
//! - [`pnml`]: read bitwrap's PIPE dialect and ISO PNML, write both;
//!   [`dot`]: Graphviz output to look at a net.
//! - [`analysis`]: breadth-first reachability with a state limit (states,
//!   deadlocks, dead transitions, bounds) over a compact state set, and a
//!   [`boundedness`](analysis::boundedness) answer that does not depend on
//!   that limit (Karp–Miller coverability, sound with capacities and
//!   inhibitor arcs).
//! - [`stream`]: the event store's core: a stream's [`StreamHead`], its
//!   [`Event`]s, [`stream::append`] and the [`stream::ChainVerifier`];
//!   [`chain`] documents the bytes each keccak-256 hash covers.
//! - [`Machines`]: the shell. Streams identified by (schema, oid) on any
//!   `Store`; [`Machines::dispatch`] appends an event and updates the stream
//!   in one atomic commit, retried on conflict, so concurrent dispatches keep
//!   the sequence gapless; every event's hash covers the previous one, and
//!   [`Machines::verify`] replays and checks the whole chain.
//!
//! # Example
//!
//! ```
//! use tally_petri::{pnml, ErrorClass, Machines, PetriError};
//! use tally_store::MemStore;
//!
//! // bitwrap's counter machine, in its PNML dialect.
//! let net = pnml::read(r#"<pnml><net>
//!     <place id="p0"><initialMarking><value>Default,0</value></initialMarking></place>
//!     <transition id="INC_0"/><transition id="DEC_0"/>
//!     <arc id="a" source="INC_0" target="p0"><inscription><value>Default,1</value></inscription></arc>
//!     <arc id="b" source="p0" target="DEC_0"><inscription><value>Default,1</value></inscription></arc>
//! </net></pnml>"#)?;
//!
//! // The core: firing is vector addition that never goes negative.
//! let inc = net.transition_index("INC_0").unwrap();
//! let dec = net.transition_index("DEC_0").unwrap();
//! assert_eq!(net.fire(net.initial(), inc, 1)?, vec![1]);
//! let refused = net.fire(net.initial(), dec, 1).unwrap_err();
//! assert!(matches!(refused, PetriError::WouldGoNegative { .. }));
//!
//! // The shell: a tamper-evident event store on any Store.
//! let machines = Machines::new(MemStore::new());
//! machines.register("counter", &net)?;
//! machines.create_stream("counter", "foo", 1_000)?;
//! let receipt = machines.dispatch("counter", "foo", "INC_0", br#"{"n":1}"#, 2_000)?;
//! assert_eq!((receipt.seq, receipt.state), (1, vec![1]));
//! let error = machines.dispatch("counter", "foo", "BOGUS", b"{}", 3_000).unwrap_err();
//! assert_eq!(error.class(), Some(ErrorClass::InvalidInput));
//! assert_eq!(machines.verify("counter", "foo")?.events, 1);
//! # Ok::<(), PetriError>(())
//! ```
//!
//! # Limits
//!
//! [`MAX_PLACES`], [`MAX_TRANSITIONS`], [`MAX_ARCS`], [`MAX_LABEL_BYTES`],
//! [`MAX_TOKENS`] per place (and per arc weight and capacity),
//! [`MAX_MULTIPLE`]; [`pnml::MAX_PNML_BYTES`] and [`pnml::MAX_XML_NODES`]
//! per document; [`analysis::MAX_STATE_LIMIT`] states explored;
//! [`stream::MAX_PAYLOAD_BYTES`], [`stream::MAX_OID_BYTES`],
//! [`stream::MAX_SCHEMA_BYTES`] and [`stream::MAX_STREAM_EVENTS`] in the
//! event store. Beyond them calls fail with [`PetriError::LimitExceeded`]
//! (or [`PetriError::InvalidName`]); nothing panics on bad input.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analysis;
pub mod chain;
pub mod dot;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod machines;
pub mod net;
pub mod pnml;
mod stateset;
pub mod stream;

pub use analysis::{BoundProof, Boundedness, Inspection, Reachability, Undecided};
pub use chain::keccak256;
pub use error::{ChainFault, ErrorClass, PetriError};
pub use machines::{MAX_EVENTS_PAGE, MAX_EVENTS_READ, Machines, Receipt, VerifiedChain};
pub use net::{
    ArcKind, ArcSpec, MAX_ARCS, MAX_LABEL_BYTES, MAX_MULTIPLE, MAX_PLACES, MAX_TOKENS, MAX_TRANSITIONS, Net, NetSpec,
    PlaceSpec, Position, TransitionSpec,
};
pub use stream::{Command, Event, StreamHead};
