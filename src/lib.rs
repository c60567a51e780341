//! tally: embeddable libraries for off-chain value transfer.
//!
//! This facade re-exports the tally crates behind one feature each, so a host
//! needs a single dependency line:
//!
//! ```toml
//! tally = { git = "https://github.com/tally-rs/tally", features = ["channel"] }
//! ```
//!
//! (no release is on crates.io yet). For the Interledger codec alone, with
//! nothing of the store: `default-features = false, features = ["ilp"]`.
//!
//! | feature | module | crate |
//! |---|---|---|
//! | `store` (default) | [`store`] | `tally-store`: the `Store` trait, MemStore, FaultyStore, the conformance kit |
//! | `redb` (default) | `redb` | `tally-store-redb`: `RedbStore`, the embedded durable store (one file, no server) |
//! | `postgres` | `postgres` | `tally-store-postgres`: `PgStore`, one PostgreSQL table shared by many processes |
//! | `redis` | `redis` | `tally-store-redis`: `RedisStore`, a key prefix in a Redis database shared by many processes |
//! | `channel` | `channel` | `tally-channel`: Machinomy payment channels (state updates, contract events, channel status) |
//! | `ilp` | `ilp` | `tally-ilp`: byte-exact OER codec for ILPv4, legacy ILP/ILQP, CLP and BTP 2.0 |
//! | `ilp-json` | `ilp::json` | `tally-ilp` with its `json` feature: packets to and from the JSON shape of the JavaScript packages |
//! | `connector` | `connector` | `tally-connector`: an Interledger connector's balances, routing, request tracking and reconciliation |
//! | `market` | `market` | `tally-market`: storage-marketplace availabilities, per-slot reservations, the slot queue, the sans-IO sales state machine and the marketplace contract's rules (nim-codex) |
//! | `ledger` | `ledger` | `tally-ledger`: TigerBeetle's two-phase transfer semantics on any store, with journal and audit, group commit, and TiMPE's user-to-user API |
//! | `petri` | `petri` | `tally-petri`: Petri nets (firing, PNML, reachability and coverability) and a hash-chained event store |
//! | `etcd` | `etcd` | `tally-store-etcd`: `EtcdStore`, the replicated store on an etcd cluster (a commit is on a quorum's disks) |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "store")]
pub use tally_store as store;

#[cfg(feature = "redb")]
pub use tally_store_redb as redb;

#[cfg(feature = "postgres")]
pub use tally_store_postgres as postgres;

#[cfg(feature = "channel")]
pub use tally_channel as channel;

#[cfg(feature = "ilp")]
pub use tally_ilp as ilp;

#[cfg(feature = "connector")]
pub use tally_connector as connector;
#[cfg(feature = "ledger")]
pub use tally_ledger as ledger;
#[cfg(feature = "market")]
pub use tally_market as market;
#[cfg(feature = "petri")]
pub use tally_petri as petri;
#[cfg(feature = "redis")]
pub use tally_store_redis as redis;

#[cfg(feature = "etcd")]
pub use tally_store_etcd as etcd;

// The README's examples are compiled and run as doc-tests, so it cannot lie.
#[cfg(all(doctest, feature = "store"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
