//! tally: embeddable libraries for off-chain value transfer.
//!
//! This facade re-exports the tally crates behind one feature each, so a host
//! needs a single dependency line:
//!
//! ```toml
//! tally = { version = "0.1", features = ["store"] }
//! ```
//!
//! | feature | module | crate |
//! |---|---|---|
//! | `store` (default) | [`store`] | `tally-store`: the `Store` trait, MemStore, FaultyStore, the conformance kit |
//! | `ilp` | `ilp` | `tally-ilp`: byte-exact OER codec for ILPv4, legacy ILP/ILQP, CLP and BTP 2.0 |
//!
//! The domain crates (`petri`, `channel`, `ledger`, `ilp`, `connector`,
//! `market`) and the durable backends join as they land.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "store")]
pub use tally_store as store;

#[cfg(feature = "ilp")]
pub use tally_ilp as ilp;

// The README's examples are compiled and run as doc-tests, so it cannot lie.
#[cfg(all(doctest, feature = "store"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
