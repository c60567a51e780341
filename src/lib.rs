//! tally: embeddable libraries for off-chain value transfer.
//!
//! tally holds the books of off-chain payment systems inside the host's own
//! process: Machinomy payment channels, a TigerBeetle-style two-phase ledger,
//! an Interledger connector and its packet codec, hash-chained Petri-net
//! workflows and a storage marketplace. Each domain is a pure core (plain
//! data and transition functions: no I/O, no clock, time passed in) with a
//! thin shell that persists through one small storage trait, so the host
//! chooses the database (memory, an embedded file, PostgreSQL, Redis, etcd,
//! or its own) and the same code runs on each.
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
//! | `store` (default) | `store` | `tally-store`: the `Store` trait, MemStore, FaultyStore, the conformance kit |
//! | `redb` (default) | `redb` | `tally-store-redb`: `RedbStore`, the embedded durable store (one file, no server) |
//! | `postgres` | `postgres` | `tally-store-postgres`: `PgStore`, one PostgreSQL table shared by many processes |
//! | `redis` | `redis` | `tally-store-redis`: `RedisStore`, a key prefix in a Redis database shared by many processes |
//! | `etcd` | `etcd` | `tally-store-etcd`: `EtcdStore`, the replicated store on an etcd cluster (a commit is on a quorum's disks) |
//! | `channel` | `channel` | `tally-channel`: Machinomy payment channels (state updates, contract events, channel status) |
//! | `ilp` | `ilp` | `tally-ilp`: byte-exact OER codec for ILPv4, legacy ILP/ILQP, CLP and BTP 2.0 |
//! | `ilp-json` | `ilp::json` | `tally-ilp` with its `json` feature: packets to and from the JSON shape of the JavaScript packages |
//! | `connector` | `connector` | `tally-connector`: an Interledger connector's balances, routing, request tracking and reconciliation |
//! | `connector-websocket` | `connector::websocket` | `tally-connector` with its `websocket` feature: a BTP 2.0 over WebSocket server around a connector |
//! | `market` | `market` | `tally-market`: storage-marketplace availabilities, per-slot reservations, the slot queue, the sans-IO sales state machine and the marketplace contract's rules (nim-codex) |
//! | `ledger` | `ledger` | `tally-ledger`: TigerBeetle's two-phase transfer semantics on any store, with journal and audit, group commit, and TiMPE's user-to-user API |
//! | `petri` | `petri` | `tally-petri`: Petri nets (firing, PNML, reachability and coverability) and a hash-chained event store |
//! | `full` | all of the above | every domain and backend at once; the tour needs it: `cargo run --release --features full --example tour` |
//!
//! Each section below shows its domain with a short example that runs as a
//! doc-test. An example is part of this page when the docs were built with
//! its feature (docs.rs builds them with every feature).
//!
//! # The storage contract
//!
//! Every domain shell reads and writes through one trait, `store::Store`:
//! keys and values are bytes, keys are ordered bytewise, and every present
//! key has a `u64` **version** that grows on every write and is never reused,
//! even across a delete (an absent key is version `0`). `get` reads a key,
//! `scan` reads an ordered page under a prefix, and `commit` applies a
//! `Batch` of puts and deletes atomically *if and only if* every
//! precondition in it holds ("this key is at version v", "this key is
//! absent"); otherwise it fails with `StoreError::Conflict` and writes
//! nothing. On top of that one check, `store::transact` runs
//! read-compute-commit: the closure's reads become the batch's
//! preconditions, and a conflict runs the closure again on fresh reads
//! (`RetryPolicy` says how often and how patiently), so threads, and
//! processes sharing one database, never lose or half-apply an update. A
//! commit whose acknowledgement is lost may still have been applied, which
//! is why the domain shells key their writes by ids the caller picks (or
//! offer an idempotent form, such as petri's `dispatch_command`): the call
//! can be repeated after such an error and applies nothing twice.
//!
//! Which backend:
//!
//! - `MemStore` (`store`): in memory, thread-safe; tests, simulations, and
//!   state the host can rebuild.
//! - `RedbStore` (`redb`): one file, one process; durable when `commit`
//!   returns. The default for a host on one machine.
//! - `PgStore` (`postgres`): one table shared by many processes and
//!   machines; durable per the server's settings (on disk by default). The
//!   choice for money shared across processes.
//! - `RedisStore` (`redis`): where a deployment already runs Redis;
//!   durable only as far as the server's persistence settings go.
//! - `EtcdStore` (`etcd`): replicated; a commit is on a quorum's disks, so
//!   losing a machine loses nothing acknowledged; small transactions only.
//! - Your own: implement `Store` and run the conformance kit
//!   (`store::conformance_tests!`) against it.
//!
#![cfg_attr(
    feature = "store",
    doc = r####"
See [`store`] for the whole contract, [`store::key`] for order-preserving
composite keys and [`store::FaultyStore`] for testing what a lost
acknowledgement does.

```
use tally::store::{codec, transact, Batch, MemStore, RetryPolicy, Store, StoreError};

let store = MemStore::new();

// A conditional batch: create alice's balance only if there is none.
let mut open = Batch::new();
open.expect_absent(b"balance/alice").put(b"balance/alice", codec::encode(&100u64)?);
store.commit(open)?;
let before = store.get(b"balance/alice")?.expect("just written").version;

// The same batch again conflicts, and writes nothing.
let mut again = Batch::new();
again.expect_absent(b"balance/alice").put(b"balance/alice", codec::encode(&0u64)?);
assert!(matches!(store.commit(again), Err(StoreError::Conflict(_))));

// A transfer as an optimistic transaction: the reads are the commit's
// preconditions; a concurrent writer makes it run again.
transact(&store, &RetryPolicy::default(), |txn| {
    let alice: u64 = txn.get_as(b"balance/alice")?.unwrap_or(0);
    let bob: u64 = txn.get_as(b"balance/bob")?.unwrap_or(0);
    txn.put_as(b"balance/alice", &(alice - 30))?;
    txn.put_as(b"balance/bob", &(bob + 30))?;
    Ok::<_, StoreError>(())
})?;

let alice = store.get(b"balance/alice")?.expect("still there");
assert_eq!(codec::decode::<u64>(&alice.value)?, 70);
assert!(alice.version > before, "every write raises the version");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Petri nets (`petri`)
//!
//! After bitwrap-io: a net declares places with initial token counts, each
//! transition is an integer delta over them, firing is vector addition, and
//! no place may go negative (or over its capacity, or past an inhibitor
//! arc). Nets are built in code or read from PNML; the analysis explores
//! reachable states and decides boundedness. `Machines` is the event store:
//! each valid firing of a stream is an event whose keccak-256 hash covers the
//! one before, appended in one atomic commit, and `verify` replays the chain.
//!
#![cfg_attr(
    feature = "petri",
    doc = r####"
See [`petri`], [`petri::pnml`] and [`petri::analysis`].

```
use tally::petri::{analysis, ErrorClass, Machines, Net, NetSpec};
use tally::store::MemStore;

// A lock: one token that `acquire` takes and `release` gives back.
let net = Net::new(
    NetSpec::new()
        .place("free", 1)
        .place("held", 0)
        .transition("acquire")
        .transition("release")
        .arc("free", "acquire", 1)
        .arc("acquire", "held", 1)
        .arc("held", "release", 1)
        .arc("release", "free", 1),
)?;
let acquire = net.transition_index("acquire").expect("declared");
let held = net.fire(net.initial(), acquire, 1)?;
assert_eq!(held, [0, 1]);
assert!(net.fire(&held, acquire, 1).is_err(), "the lock is taken");

let reach = analysis::explore(&net, 1_000)?;
assert_eq!((reach.states, reach.deadlocks, reach.complete), (2, 0, true));

// The same net as a hash-chained event store.
let machines = Machines::new(MemStore::new());
machines.register("lock", &net)?;
machines.create_stream("lock", "door-1", 1_000)?;
let receipt = machines.dispatch("lock", "door-1", "acquire", br#"{"by":"alice"}"#, 2_000)?;
assert_eq!((receipt.seq, receipt.state), (1, vec![0, 1]));
let refused = machines.dispatch("lock", "door-1", "acquire", b"{}", 3_000).unwrap_err();
assert_eq!(refused.class(), Some(ErrorClass::InvalidOutput)); // and nothing was stored
assert_eq!(machines.verify("lock", "door-1")?.events, 1);
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Payment channels (`channel`)
//!
//! A Machinomy channel is an Ethereum contract holding the sender's deposit;
//! the sender pays off chain by signing ever larger **state updates**, and
//! the receiver claims the largest on chain. `ChannelBook` is the
//! receiver's (or a hub's) book, after pg-machinomy: it checks each
//! payment's signature exactly as the contract would, keeps the latest one,
//! folds the contract's events into each channel's status, and survives
//! chain reorganisations. Every call is one atomic commit, safe to repeat.
//!
#![cfg_attr(
    feature = "channel",
    doc = r####"
See [`channel`] for the rules and the JSON entry points.

```
use tally::channel::secp256k1::{PublicKey, SecretKey};
use tally::channel::{address_of_public_key, sign_payment, Address, BlockHash, ChainId, ChannelBook};
use tally::channel::{ChannelEvent, ChannelId, EventFields, EventType, Payment, Scheme, StateUpdate};
use tally::store::MemStore;

let book = ChannelBook::new(MemStore::new());
let sender_key = SecretKey::from_secret_bytes([7; 32])?;
let sender = address_of_public_key(&PublicKey::from_secret_key(&sender_key));
let (chain_id, contract_id, channel_id) = (ChainId(1), Address([0x08; 20]), ChannelId([0xc0; 32]));

// The chain watcher reports the contract's DidOpen: 1000 wei deposited.
book.insert_channel_event(ChannelEvent {
    chain_id, contract_id, channel_id, ts_ms: 1_000, block_number: 10,
    block_hash: Some(BlockHash([1; 32])), block_is_valid: true, sender: Some(sender),
    event_type: EventType::DidOpen,
    fields: EventFields { sender: Some(sender), receiver: Some(Address([0xee; 20])),
                          value_wei: Some(1_000u64.into()), ..EventFields::default() },
    log: None,
})?;

// Each payment: the running total, signed by the sender.
let pay = |amount_wei: u64, ts_ms: u64| -> Result<_, Box<dyn std::error::Error>> {
    let payment = Payment { chain_id, contract: contract_id, channel_id,
                            amount_wei: amount_wei.into(), token_contract: None };
    let signature = sign_payment(Scheme::Unidirectional, &payment, &sender_key)?;
    Ok(book.insert_state_update(StateUpdate {
        chain_id, contract_id, channel_id, ts_ms, amount_wei: amount_wei.into(), signature, sender,
    })?)
};
let outcome = pay(300, 2_000)?;
let accepted = outcome.accepted().expect("a valid payment");
assert_eq!(accepted.channel_remaining_balance_wei, Some(700u64.into()));
// More than the deposit is refused with pg-machinomy's reason code.
assert_eq!(pay(1_500, 3_000)?.reason(), Some("amount_exceeds_channel_value"));
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Two-phase ledger (`ledger`)
//!
//! TigerBeetle 0.17's semantics on any store: accounts with pending and
//! posted debits and credits and limit flags; transfers that move value at
//! once, or reserve it (**pending**) to be **posted** (all or part) or
//! **voided** later, or expire; linked chains that apply all or nothing; one
//! result per event with TigerBeetle's names; an append-only journal and an
//! `audit` that replays it. A batch of up to 8,189 events is one commit;
//! repeating it applies nothing twice. `LedgerClient` shares commits among
//! threads (group commit); `ledger::users` is TiMPE's user-to-user API.
//!
#![cfg_attr(
    feature = "ledger",
    doc = r####"
See [`ledger`] for the differences from TigerBeetle and the limits.

```
use tally::ledger::{Account, AccountFlags, CreateAccountStatus, CreateTransferStatus};
use tally::ledger::{Ledger, PendingStatus, Transfer, TransferFlags, NS_PER_S};
use tally::store::MemStore;

let ledger = Ledger::new(MemStore::new());
let now_ns = 1_700_000_000 * NS_PER_S; // time is an argument, never read from a clock
let (bank, alice, bob) = (1, 2, 3);
let created = ledger.create_accounts(&[
    Account::new(bank, 1, 10),
    Account::new(alice, 1, 10).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
    Account::new(bob, 1, 10),
], now_ns)?;
assert!(created.iter().all(|r| r.status == CreateAccountStatus::Created));

// Fund alice with 100, then reserve 80 of it for bob, for one minute.
let results = ledger.create_transfers(&[
    Transfer::new(100, bank, alice, 100, 1, 1),
    Transfer::new(101, alice, bob, 80, 1, 1).with_flags(TransferFlags::PENDING).with_timeout(60),
], now_ns)?;
assert!(results.iter().all(|r| r.status == CreateTransferStatus::Created));

// The reservation counts against her limit at once.
let results = ledger.create_transfers(&[Transfer::new(102, alice, bob, 30, 1, 1)], now_ns)?;
assert_eq!(results[0].status, CreateTransferStatus::ExceedsCredits);

// Nobody posts it; when the host expires what is due, the 80 go back.
assert_eq!(ledger.expire(now_ns + 61 * NS_PER_S)?, 1);
assert_eq!(ledger.pending_status(101)?, Some(PendingStatus::Expired));
let alice = ledger.lookup_accounts(&[alice])?[0];
assert_eq!((alice.debits_pending, alice.debits_posted, alice.credits_posted), (0, 0, 100));
assert!(ledger.audit()?.is_ok());
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Interledger packets (`ilp`)
//!
//! A byte-exact OER codec for four packet families: ILPv4 (`ilp4`), legacy
//! ILP/ILQP (`legacy`), ilp-node's Common Ledger Protocol (`clp`) and BTP
//! 2.0 (`btp2`). Decoding returns views that borrow the input (no copies, no
//! allocation); encoding allocates once. Strict mode (the default) accepts
//! only canonical encodings, so `encode(decode(bytes)) == bytes`;
//! `Mode::Lenient` accepts what the JavaScript decoders accept. Every
//! failure is a typed error with its byte offset, and no input panics. With
//! `ilp-json`, `ilp::json` converts packets to and from the JSON of the
//! JavaScript packages.
//!
#![cfg_attr(
    feature = "ilp",
    doc = r####"
See [`ilp`] and [`ilp::ilp4`].

```
use tally::ilp::bytes::Bytes;
use tally::ilp::ilp4::{fulfillment_to_condition, Fulfill, Packet, Prepare};
use tally::ilp::{Encode, Mode, Timestamp};

let fulfillment = [9u8; 32];
let prepare = Prepare {
    amount: 1_000,
    expires_at: Timestamp::parse_iso8601("2030-01-01T00:00:30.000Z").expect("a valid time"),
    execution_condition: fulfillment_to_condition(&fulfillment),
    destination: Bytes::from_static(b"g.example.bob"),
    data: Bytes::new(),
};
let wire = prepare.encode()?;

// A view into `wire`: nothing copied.
let Packet::Prepare(seen) = Packet::decode(&wire, Mode::Strict)? else { unreachable!() };
assert_eq!((seen.amount, seen.destination), (1_000, &b"g.example.bob"[..]));

// The receiver's Fulfill claims it: its fulfillment hashes to the condition.
let reply = Fulfill { fulfillment, data: Bytes::new() }.encode()?;
let Packet::Fulfill(fulfill) = Packet::decode(&reply, Mode::Strict)? else { unreachable!() };
assert!(seen.is_fulfilled_by(&fulfill.fulfillment));

// Strict mode refuses a trailing byte, and says where it is; lenient mode skips it.
let mut padded = wire.to_vec();
padded.push(0);
assert_eq!(Packet::decode(&padded, Mode::Strict).unwrap_err().offset, wire.len());
assert!(Packet::decode(&padded, Mode::Lenient).is_ok());
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Interledger connector (`connector`)
//!
//! A connector forwards conditional payments between peers it holds
//! balances with: a Prepare comes in, goes out to the next hop, and the
//! Fulfill or Reject travels back. `connector::Connector` is the sans-IO
//! library of the 2017 Testnet connector ilp-node: balances (with the
//! parallelism rule that lets several workers spend one balance without
//! conflicts), routing by longest prefix with liquidity curves and ILQP
//! quotes, request tracking, ownership of in-flight payments and
//! reconciliation, with the state in a store any number of workers share.
//! The host owns sockets, threads and the clock; `connector::wire` speaks
//! BTP 2.0 and CLP through `ilp`, and `connector-websocket` adds a BTP
//! server.
//!
#![cfg_attr(
    feature = "connector",
    doc = r####"
See [`connector`] for the rules, module by module.

```
use tally::connector::routing::LiquidityCurve;
use tally::connector::{AccountConfig, AccountId, Connector, ConnectorConfig, IncomingPrepare};
use tally::connector::{PrepareOutcome, Resolved, Upstream, WorkerId};
use tally::ilp::ilp4::fulfillment_to_condition;
use tally::store::MemStore;

let hub = Connector::new(MemStore::new(), WorkerId(0), ConnectorConfig::new(b"test.hub".to_vec()))?;
let (alice, bob) = (AccountId::new("alice")?, AccountId::new("bob")?);
hub.open_account(&alice, AccountConfig::default())?;
hub.open_account(&bob, AccountConfig::default())?;
assert!(hub.credit(&bob, [1; 16], 1_000)?);   // what we hold with bob
assert!(!hub.credit(&bob, [1; 16], 1_000)?);  // the same credit again: nothing
hub.announce_route(b"test.bob", &bob, LiquidityCurve::identity())?;

// alice pays 300 to test.bob.carl: forwarded to bob, with a second less to expire.
let fulfillment = [7u8; 32];
let prepare = IncomingPrepare {
    from: alice.clone(), transfer_id: [9; 16], amount: 300, expires_at_ms: 20_000,
    execution_condition: fulfillment_to_condition(&fulfillment),
    destination: b"test.bob.carl".to_vec(), data: vec![],
};
let PrepareOutcome::Forward(out) = hub.handle_prepare(&prepare, 0)? else { unreachable!() };
assert_eq!((out.to.as_str(), out.amount, out.expires_at_ms), ("bob", 300, 19_000));

// bob fulfills: alice gets the Fulfill and both balances settle, once.
let resolved = hub.handle_fulfill(&bob, &out.transfer_id, fulfillment, 10)?;
assert!(matches!(resolved, Resolved::Upstream { reply: Upstream::Fulfill { .. }, .. }));
assert_eq!((hub.balances(&alice)?.balance(), hub.balances(&bob)?.balance()), (300, 700));
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Storage marketplace (`market`)
//!
//! After nim-codex: a storage host offers **availabilities** (bytes, for so
//! long, at a minimum price, with collateral); for each slot of a client's
//! storage request it reserves bytes and collateral, fills the slot, proves
//! it every period the contract asks, and is paid, or gives everything back.
//! `market::Reservations` keeps the accounting invariant on every commit;
//! `market::sales` is the sans-IO sales state machine, persisted so a
//! restarted host resumes each sale; `market::marketplace` is the contract's
//! side (escrow, proofs, slashing, repair, payouts) as a state machine; and
//! `market::sim` a toy market to run sales against.
//!
#![cfg_attr(
    feature = "market",
    doc = r####"
See [`market`], and [`market::marketplace::driver`] for a sale against the
contract's rules.

```
use tally::market::periods::ProofConfig;
use tally::market::sales::{SaleState, Sales, SalesConfig, SalesOptions};
use tally::market::sim::{run, SimMarket};
use tally::market::{Address, AvailabilityId, AvailabilitySpec, Nonce, Reservations};
use tally::market::{StorageAsk, StorageContent, StorageRequest, U256};
use tally::store::MemStore;

// A host with a 10 kB quota offers 1 kB for up to an hour, at 1 token per
// byte-second or more, against 10,000 tokens of collateral.
let reservations = Reservations::open(MemStore::new(), 10_000)?;
let offer = AvailabilitySpec::new(AvailabilityId([1; 32]), 1_000, 3_600, U256::one(), U256::from(10_000u32));
reservations.create_availability(&offer)?;
let proofs = ProofConfig { period_secs: 10, timeout_secs: 5, downtime: 0, downtime_product: 67 };
let config = SalesConfig { host: Address([0xaa; 20]), proofs, repair_reward_percentage: 10 };
let mut sales = Sales::new(reservations, config, SalesOptions::default())?;

// A client asks a toy market (its clock at 1,000 s) for one 500-byte slot for 100 s.
let mut market = SimMarket::new(1_000);
market.request_storage(StorageRequest {
    client: Address([1; 20]),
    ask: StorageAsk {
        slots: 1, slot_size_bytes: 500, duration_secs: 100, proof_probability: U256::from(2u8),
        price_per_byte_per_second: U256::from(2u8), collateral_per_byte: U256::one(), max_slot_loss: 0,
    },
    content: StorageContent { cid: vec![1], merkle_root: [0; 32] },
    expiry_secs: 50,
    nonce: Nonce([1; 32]),
})?;

// Run to 1,200 s in 10 s steps: the slot is reserved, filled, proven and paid.
let history = run(&mut sales, &mut market, 1_200, 10)?;
assert!(history.iter().any(|step| step.state == SaleState::Finished));
assert!(sales.agents()?.is_empty(), "the sale is over and cleaned up");
assert_eq!(sales.reservations().quota()?.reserved_bytes, 1_000, "every byte back in the offer");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! # Backends
//!
//! Each backend passes the same conformance kit; they differ in where a
//! commit lives once it returns.
//!
//! ## redb (`redb`, default)
//!
//! `RedbStore` keeps the contract in one redb file, locked by the process
//! that opens it. With the default `Durability::Immediate` a returned commit
//! is fsynced and survives a crash or power cut (`Durability::Buffered`
//! trades the last few commits for speed, never part of one); reads never
//! wait for a writer. Opening a file after a power cut falls back to the
//! last whole commit. Tested against simulated power loss.
//!
#![cfg_attr(
    feature = "redb",
    doc = r####"
See [`redb::RedbStore`] and [`redb::Options`].

```
use tally::redb::RedbStore;
use tally::store::{Batch, Store};

let dir = tempfile::tempdir()?;
let store = RedbStore::open(dir.path().join("books.redb"))?; // created if missing
let mut batch = Batch::new();
batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
store.commit(batch)?; // on disk once this returns
drop(store);

let store = RedbStore::open(dir.path().join("books.redb"))?;
assert_eq!(&store.get(b"greeting")?.expect("durable").value[..], b"hello");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! ## PostgreSQL (`postgres`)
//!
//! `PgStore` keeps the contract in one table (default `tally_kv`) that any
//! number of processes and machines share. A commit is one SQL transaction
//! (often one statement) that checks the preconditions under row locks, so
//! `transact` works across processes as it does across threads; a returned
//! commit is as durable as the server makes it (on disk with the default
//! `synchronous_commit = on`). TLS follows libpq's `sslmode` (use
//! `verify-full` over networks you do not control); dropped connections are
//! replaced, and a commit whose answer was lost is reported, never resent.
//!
#![cfg_attr(
    feature = "postgres",
    doc = r####"
See [`postgres::PgStore`] and [`postgres::PgOptions`].

```no_run
use tally::postgres::{PgOptions, PgStore};
use tally::store::{Batch, Store};

let store = PgStore::connect("postgres://app@db.example.com/books?sslmode=verify-full")?;
// Several stores in one database, each in its own table:
let audit = PgStore::connect_with(
    "postgres://app@db.example.com/books?sslmode=verify-full",
    PgOptions { table: "tally_audit".into(), ..PgOptions::default() },
)?;
let mut batch = Batch::new();
batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
store.commit(batch)?; // on disk once this returns, with synchronous_commit = on
assert!(audit.get(b"greeting")?.is_none(), "another table, another key space");
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! ## Redis (`redis`)
//!
//! `RedisStore` keeps the contract under a key prefix of a Redis database;
//! each commit is one Lua script that checks every precondition and then
//! writes, which Redis runs without interleaving. A returned commit is in
//! the server's memory: what survives a restart depends on the server's
//! persistence (`appendfsync always` keeps it through a power cut, the
//! default snapshots lose minutes), and replication is asynchronous, so a
//! failover can lose acknowledged commits. Use it for state the deployment
//! already keeps in Redis or can rebuild; use PostgreSQL for money.
//!
#![cfg_attr(
    feature = "redis",
    doc = r####"
See [`redis::RedisStore`], and its [durability table](redis#durability-read-this-before-you-put-money-in-redis).

```no_run
use tally::redis::{RedisOptions, RedisStore};
use tally::store::{Batch, Store};

let store = RedisStore::connect_with(
    "redis://127.0.0.1:6379/0",
    RedisOptions { prefix: "books".into(), ..RedisOptions::default() },
)?;
let mut batch = Batch::new();
batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
store.commit(batch)?; // in the server's memory; on disk per its persistence settings
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
//!
//! ## etcd (`etcd`)
//!
//! `EtcdStore` keeps the contract on an etcd cluster (3.4 or newer) through
//! its JSON gateway: versions are etcd revisions and a commit is one etcd
//! transaction, returned once a quorum has it on disk, so losing one machine
//! of three loses nothing acknowledged. Reads are linearizable. The store is
//! given every member and fails over between them; a commit whose answer was
//! lost is not resent. etcd caps a transaction (128 operations and 1.5 MiB by
//! default); the store is told the cluster's limits and refuses a larger
//! batch before sending it.
//!
#![cfg_attr(
    feature = "etcd",
    doc = r####"
See [`etcd::EtcdStore`] and [`etcd::EtcdOptions`].

```no_run
use tally::etcd::{EtcdOptions, EtcdStore};
use tally::store::{Batch, Store};

let store = EtcdStore::connect_with(
    "10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379",
    EtcdOptions { prefix: b"books/".to_vec(), ..EtcdOptions::default() },
)?;
let mut batch = Batch::new();
batch.expect_absent(b"greeting").put(b"greeting", b"hello".to_vec());
store.commit(batch)?; // on a quorum's disks
# Ok::<(), Box<dyn std::error::Error>>(())
```
"####
)]
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
