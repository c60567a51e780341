//! A tour of tally: one storage sale, paid for, forwarded, booked and
//! audited, every record on one store.
//!
//! ```sh
//! cargo run --release --features full --example tour
//! cargo run --release --features full --example tour -- --store mem
//! cargo run --release --features full --example tour -- --help
//! ```
//!
//! The story, each step checked as it goes:
//!
//! 1. A storage host offers space (tally-market: an availability within a quota).
//! 2. A client asks for one slot. The books open (tally-ledger: accounts for
//!    the client and the host, the client funded) and the sale's workflow
//!    starts (tally-petri: a small net, its events hash-chained).
//! 3. The host's sale runs through the sales state machine until the slot is
//!    filled (against `tally_market::sim`, a toy chain in memory); the ledger
//!    holds the price as a pending transfer meanwhile.
//! 4. The client pays the price over a Machinomy payment channel to its
//!    connector (tally-channel: contract events folded into the channel's
//!    status, secp256k1-signed payments verified and recorded).
//! 5. The payment travels as ILPv4 packets through the connector to the host
//!    (tally-ilp, tally-connector): Prepare, forwarded Prepare, Fulfill whose
//!    SHA-256 is the condition. The ledger posts the pending transfer.
//! 6. The slot's contract ends and the sale finishes: bytes and collateral go
//!    back to the host's availability.
//! 7. Audits: the ledger's journal replayed, the workflow's event chain
//!    verified, an invalid firing refused.
//!
//! The exit code is 0 only if every check held.
//!
//! Choose the store with `--store` (see `--help`). Each run keeps its records
//! under a fresh run number (`RunScoped` below prefixes every key), so running
//! the tour again on the same file, table or Redis prefix starts over cleanly.

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use tally::channel::secp256k1::{PublicKey, SecretKey};
use tally::channel::{
    Address as EthAddress, BlockHash, ChainId, ChannelBook, ChannelEvent, ChannelId, ChannelKey, EventFields,
    EventType, LogPosition, Payment, StateUpdate, StateUpdateOutcome, TxHash, U256, address_of_public_key, keccak256,
    sign_payment,
};
use tally::connector::routing::LiquidityCurve;
use tally::connector::{
    AccountConfig, AccountId, Connector, ConnectorConfig, IncomingPrepare, PrepareOutcome, Resolved, Upstream, WorkerId,
};
use tally::ilp::ilp4::{self, fulfillment_to_condition};
use tally::ilp::{Encode, Mode, Timestamp};
use tally::ledger::{Account, AccountFlags, CreateTransferStatus, Ledger, Transfer, TransferFlags};
use tally::market::periods::ProofConfig;
use tally::market::sales::{Handled, Notification, SaleState, Sales, SalesConfig, SalesOptions};
use tally::market::sim::{self, SimMarket};
use tally::market::{
    Address, AvailabilityId, AvailabilitySpec, Nonce, Reservations, SlotRef, StorageAsk, StorageContent, StorageRequest,
};
use tally::petri::{Machines, Net, NetSpec};
use tally::store::key::KeyBuilder;
use tally::store::{
    Batch, Conflict, Entry, MemStore, Op, Page, RetryPolicy, Store, StoreError, Versioned, codec, transact,
};

/// The one store every domain of the tour writes to.
type Shared = Arc<dyn Store>;

const USAGE: &str = "\
usage: tour [--store STORE]

STORE is one of
  redb           a fresh redb file in a temporary directory, removed at the end (the default)
  redb:PATH      a redb file, created if missing
  mem            in memory
  postgres:URL   the table tally_tour (feature postgres), e.g. postgres:postgres://postgres@127.0.0.1:5432/test
  redis:URL      the key prefix tally-tour (feature redis), e.g. redis:redis://127.0.0.1:6379/
  etcd:ENDPOINTS the key prefix tally-tour/ on an etcd cluster (feature etcd), e.g. etcd:127.0.0.1:2379,127.0.0.1:22379

Build with every backend: cargo run --release --features full --example tour -- --store STORE";

/// A well-known throwaway test key (web3.js's documentation example): it
/// signs the client's channel payments. Never give such a key real funds.
const CLIENT_KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
/// Another fixed test key, for a forger who claims to be the client.
const FORGER_KEY: &str = "0d5b2c8a37ad2a4f4e1ef2f5d07dbd7e63c27ec1c67b0c9f06b5c8a6ac09a7c1";

/// The chain's clock at the start of the story, in seconds.
const START_SECS: u64 = 1_700_000_000;
/// The host's quota and its one availability.
const QUOTA_BYTES: u64 = 65_536;
const OFFER_BYTES: u64 = 8_192;
const OFFER_COLLATERAL: u64 = 100_000;
/// The client's slot: 500 bytes for 100 s at 2 per byte-second.
const SLOT_BYTES: u64 = 500;
const SLOT_SECS: u64 = 100;
const PRICE_PER_BYTE_SECOND: u64 = 2;
/// What the client deposits in its channel (and is funded with in the ledger).
const DEPOSIT: u64 = 250_000;
/// What the connector holds on its link with the host.
const HOST_LIQUIDITY: u64 = 500_000;

/// Ledger ids: one ledger (the token), three accounts, three transfers.
const TOKEN: u32 = 1;
const FUNDING: u128 = 1;
const CLIENT: u128 = 2;
const HOST: u128 = 3;
const DEPOSIT_TRANSFER: u128 = 10;
const PRICE_PENDING: u128 = 11;
const PRICE_POSTED: u128 = 12;

/// The sale's workflow net and where its stream ends.
const SCHEMA: &str = "sale";
const PLACES: [&str; 5] = ["requested", "reserved", "filled", "paid", "finished"];

// ---------------------------------------------------------------------------
// The store: opening it, and keeping each run's records apart.
// ---------------------------------------------------------------------------

/// Every key of one tour run, under `tour / "run" / n`: the domain crates
/// write fixed key layouts, so this adapter (a whole `Store` in four
/// methods) gives each run its own key space on a shared store.
struct RunScoped<S> {
    inner: S,
    prefix: Vec<u8>,
}

impl<S: Store> RunScoped<S> {
    fn new(inner: S, run: u64) -> Self {
        let prefix = KeyBuilder::new("tour").str("run").u64(run).build();
        RunScoped { inner, prefix }
    }

    fn scoped(&self, key: &[u8]) -> Vec<u8> {
        [self.prefix.as_slice(), key].concat()
    }

    fn unscoped(&self, entry: Entry) -> Result<Entry, StoreError> {
        match entry.key.strip_prefix(self.prefix.as_slice()) {
            Some(key) => Ok(Entry {
                key: key.to_vec(),
                ..entry
            }),
            None => Err(StoreError::Corrupt {
                backend: "tour",
                detail: "a scan returned a key outside its prefix".into(),
            }),
        }
    }
}

impl<S: Store> Store for RunScoped<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(&self.scoped(key))
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        let after = after.map(|key| self.scoped(key));
        let page = self.inner.scan(&self.scoped(prefix), after.as_deref(), limit)?;
        let entries = page
            .entries
            .into_iter()
            .map(|entry| self.unscoped(entry))
            .collect::<Result<_, _>>()?;
        Ok(Page {
            entries,
            more: page.more,
        })
    }

    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        let (ops, preconditions) = batch.into_parts();
        let mut scoped = Batch::with_capacity(ops.len());
        for precondition in preconditions {
            scoped.expect_version(self.scoped(&precondition.key), precondition.version);
        }
        for op in ops {
            match op {
                Op::Put { key, value } => scoped.put(self.scoped(&key), value),
                Op::Delete { key } => scoped.delete(self.scoped(&key)),
            };
        }
        // A conflict names the key as the caller wrote it.
        self.inner.commit(scoped).map_err(|error| match error {
            StoreError::Conflict(Conflict::Precondition {
                key,
                expected_version,
                actual_version,
            }) => StoreError::Conflict(Conflict::Precondition {
                key: key
                    .strip_prefix(self.prefix.as_slice())
                    .map_or_else(|| key.clone(), <[u8]>::to_vec),
                expected_version,
                actual_version,
            }),
            other => other,
        })
    }

    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        let scoped: Vec<Vec<u8>> = keys.iter().map(|key| self.scoped(key)).collect();
        let refs: Vec<&[u8]> = scoped.iter().map(Vec::as_slice).collect();
        self.inner.get_many(&refs)
    }
}

/// Claims the next run number in this store.
fn next_run(store: &dyn Store) -> Result<u64, Box<dyn Error>> {
    let key = KeyBuilder::new("tour").str("runs").build();
    let run = transact(store, &RetryPolicy::default(), |txn| {
        let previous: u64 = match txn.get(&key)? {
            Some(bytes) => codec::decode(&bytes)?,
            None => 0,
        };
        txn.put(key.clone(), codec::encode(&(previous + 1))?);
        Ok::<_, Box<dyn Error>>(previous + 1)
    })?;
    Ok(run)
}

/// The store `--store` names, what to call it, and a temporary directory
/// removed when it is dropped.
struct Opened {
    store: Shared,
    description: String,
    _temporary_dir: Option<tempfile::TempDir>,
}

fn open_store(spec: &str) -> Result<Opened, Box<dyn Error>> {
    let opened = |store: Shared, description: String| Opened {
        store,
        description,
        _temporary_dir: None,
    };
    if spec == "mem" {
        return Ok(opened(Arc::new(MemStore::new()), "MemStore (in memory)".into()));
    }
    if spec == "redb" {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("tour.redb");
        let store = tally::redb::RedbStore::open(&path)?;
        return Ok(Opened {
            store: Arc::new(store),
            description: format!("RedbStore, a fresh file {}", path.display()),
            _temporary_dir: Some(dir),
        });
    }
    if let Some(path) = spec.strip_prefix("redb:") {
        let store = tally::redb::RedbStore::open(path)?;
        return Ok(opened(Arc::new(store), format!("RedbStore at {path}")));
    }
    if let Some(url) = spec.strip_prefix("postgres:") {
        #[cfg(feature = "postgres")]
        {
            let options = tally::postgres::PgOptions {
                table: "tally_tour".into(),
                ..Default::default()
            };
            let store = tally::postgres::PgStore::connect_with(url, options)?;
            return Ok(opened(Arc::new(store), format!("PgStore, table tally_tour at {url}")));
        }
        #[cfg(not(feature = "postgres"))]
        return Err(missing_feature("postgres", url));
    }
    if let Some(url) = spec.strip_prefix("redis:") {
        #[cfg(feature = "redis")]
        {
            let options = tally::redis::RedisOptions {
                prefix: "tally-tour".into(),
                ..Default::default()
            };
            let store = tally::redis::RedisStore::connect_with(url, options)?;
            return Ok(opened(
                Arc::new(store),
                format!("RedisStore, prefix tally-tour at {url}"),
            ));
        }
        #[cfg(not(feature = "redis"))]
        return Err(missing_feature("redis", url));
    }
    if let Some(endpoints) = spec.strip_prefix("etcd:") {
        #[cfg(feature = "etcd")]
        {
            let options = tally::etcd::EtcdOptions {
                prefix: b"tally-tour/".to_vec(),
                ..Default::default()
            };
            let store = tally::etcd::EtcdStore::connect_with(endpoints, options)?;
            return Ok(opened(
                Arc::new(store),
                format!("EtcdStore, prefix tally-tour/ on {endpoints}"),
            ));
        }
        #[cfg(not(feature = "etcd"))]
        return Err(missing_feature("etcd", endpoints));
    }
    Err(format!("unknown store {spec:?}\n\n{USAGE}").into())
}

#[allow(dead_code, reason = "used only when some backend feature is off")]
fn missing_feature(feature: &str, target: &str) -> Box<dyn Error> {
    format!(
        "--store {feature}:{target} needs the {feature} feature: \
         cargo run --release --features full --example tour -- --store {feature}:..."
    )
    .into()
}

// ---------------------------------------------------------------------------
// Checks: every invariant the tour claims, collected rather than panicking.
// ---------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Checks {
    held: usize,
    failed: Vec<String>,
}

impl Checks {
    /// Records whether `what` held; prints it at once when it did not.
    fn check(&mut self, what: impl Into<String>, held: bool) {
        if held {
            self.held += 1;
        } else {
            let what = what.into();
            println!("   FAILED: {what}");
            self.failed.push(what);
        }
    }

    fn total(&self) -> usize {
        self.held + self.failed.len()
    }
}

/// What a finished tour reports: its checks and one summary line per domain.
#[derive(Debug)]
struct Report {
    checks: Checks,
    summary: Vec<String>,
}

// ---------------------------------------------------------------------------
// The parties.
// ---------------------------------------------------------------------------

/// Who takes part, on each layer.
struct Parties {
    client_key: SecretKey,
    forger_key: SecretKey,
    /// The client's Ethereum address (the channel's sender).
    client_eth: EthAddress,
    /// The connector's Ethereum address (the channel's receiver).
    connector_eth: EthAddress,
    /// The client and the host on the storage market.
    client: Address,
    host: Address,
}

fn secret_key(hex_key: &str) -> Result<SecretKey, Box<dyn Error>> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut bytes)?;
    Ok(SecretKey::from_secret_bytes(bytes)?)
}

fn parties() -> Result<Parties, Box<dyn Error>> {
    let client_key = secret_key(CLIENT_KEY)?;
    let client_eth = address_of_public_key(&PublicKey::from_secret_key(&client_key));
    Ok(Parties {
        forger_key: secret_key(FORGER_KEY)?,
        client_key,
        client_eth,
        connector_eth: EthAddress([0xc0; 20]),
        client: Address(client_eth.0),
        host: Address([0x40; 20]),
    })
}

fn now_ms(secs: u64) -> u64 {
    secs * 1_000
}

fn now_ns(secs: u64) -> u64 {
    secs * 1_000_000_000
}

fn short(bytes: &[u8]) -> String {
    format!("{}…", hex::encode(&bytes[..bytes.len().min(4)]))
}

// ---------------------------------------------------------------------------
// 1-3, 6: the storage sale (tally-market).
// ---------------------------------------------------------------------------

fn sales_config(host: Address) -> SalesConfig {
    SalesConfig {
        host,
        proofs: ProofConfig {
            period_secs: 10,
            timeout_secs: 5,
            downtime: 0,
            downtime_product: 67,
        },
        repair_reward_percentage: 10,
    }
}

/// Step 1: the host's availability, on the store.
fn offer_storage(store: &Shared, host: Address, checks: &mut Checks) -> Result<Sales<Shared>, Box<dyn Error>> {
    let reservations = Reservations::open(Arc::clone(store), QUOTA_BYTES)?;
    let offer = AvailabilitySpec::new(
        AvailabilityId(keccak256(b"tour: the host's availability")),
        OFFER_BYTES,
        3_600,
        U256::one(),
        U256::from(OFFER_COLLATERAL),
    );
    reservations.create_availability(&offer)?;
    let snapshot = reservations.snapshot()?;
    println!(
        "1. The host offers {OFFER_BYTES} bytes for up to 1 h at ≥ 1 per byte-second, backed by {OFFER_COLLATERAL} collateral"
    );
    println!(
        "   quota: {} of {} bytes promised, {} used",
        snapshot.quota.reserved_bytes, snapshot.quota.max_bytes, snapshot.quota.used_bytes
    );
    checks.check(
        "market: the accounting invariant holds after the offer",
        snapshot.check().is_ok(),
    );
    checks.check(
        "market: the quota promises exactly the offer",
        snapshot.quota.reserved_bytes == OFFER_BYTES && snapshot.availabilities.len() == 1,
    );
    Ok(Sales::new(reservations, sales_config(host), SalesOptions::default())?)
}

fn storage_request(client: Address) -> StorageRequest {
    StorageRequest {
        client,
        ask: StorageAsk {
            proof_probability: U256::from(2u8),
            price_per_byte_per_second: U256::from(PRICE_PER_BYTE_SECOND),
            collateral_per_byte: U256::from(10u8),
            slots: 1,
            slot_size_bytes: SLOT_BYTES,
            duration_secs: SLOT_SECS,
            max_slot_loss: 0,
        },
        content: StorageContent {
            cid: b"tour dataset".to_vec(),
            merkle_root: keccak256(b"tour dataset"),
        },
        expiry_secs: 60,
        nonce: Nonce(keccak256(b"tour request")),
    }
}

/// The states a sale went through, as `A → B → C`.
fn state_path(log: &[Handled]) -> Vec<SaleState> {
    let mut path = Vec::new();
    for handled in log {
        for notification in &handled.notifications {
            if let Notification::StateChanged { from, to } = notification {
                if path.is_empty() {
                    path.push(*from);
                }
                path.push(*to);
            }
        }
    }
    path
}

fn show_path(path: &[SaleState]) -> String {
    let names: Vec<&str> = path.iter().map(|s| s.name().trim_start_matches("Sale")).collect();
    names.join(" → ")
}

/// Step 3: the sale runs until this host has filled the slot.
fn fill_slot(sales: &mut Sales<Shared>, market: &mut SimMarket, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    // The initial proof waits for the next proof period: step the clock
    // 10 s at a time until the slot is filled (or a minute has passed).
    let mut log = Vec::new();
    for _ in 0..6 {
        log.extend(sim::run(sales, market, market.now_secs + 10, 10)?);
        if state_path(&log).contains(&SaleState::Filled) {
            break;
        }
    }
    let path = state_path(&log);
    let filled_by_me = log
        .iter()
        .any(|h| h.notifications.contains(&Notification::SlotFilledByMe));
    let snapshot = sales.reservations().snapshot()?;
    println!(
        "   the host's sale: {}; {} of {SLOT_BYTES} bytes stored, quota {} used",
        show_path(&path),
        snapshot.reservations.iter().map(|r| r.stored_bytes).sum::<u64>(),
        snapshot.quota.used_bytes
    );
    checks.check(
        "market: this host filled the slot and is proving it",
        path.contains(&SaleState::Filled) && filled_by_me && path.last() == Some(&SaleState::Proving),
    );
    checks.check(
        "market: the accounting invariant holds with the slot reserved",
        snapshot.check().is_ok(),
    );
    checks.check(
        "market: one reservation holds the slot's bytes, all of them stored",
        snapshot.reservations.len() == 1
            && snapshot.reservations[0].stored_bytes == SLOT_BYTES
            && snapshot.quota.used_bytes == SLOT_BYTES,
    );
    Ok(())
}

/// Step 6: time passes past the request's end; the sale is paid out and ends.
fn finish_sale(
    sales: &mut Sales<Shared>,
    market: &mut SimMarket,
    host: Address,
    checks: &mut Checks,
) -> Result<String, Box<dyn Error>> {
    let log = sim::run(sales, market, START_SECS + SLOT_SECS + 60, 10)?;
    let path = state_path(&log);
    let snapshot = sales.reservations().snapshot()?;
    let offer = snapshot.availabilities.first();
    let free = offer.map_or(0, |a| a.free_size_bytes);
    let collateral = offer.map_or(U256::zero(), |a| a.total_remaining_collateral);
    println!("6. The slot's {SLOT_SECS} s are over: {}", show_path(&path));
    println!(
        "   back in the availability: {free} of {OFFER_BYTES} bytes free, collateral {collateral}; sales left: {}",
        sales.agents()?.len()
    );
    checks.check(
        "market: the sale finished and its agent is gone",
        path.last() == Some(&SaleState::Finished) && sales.agents()?.is_empty(),
    );
    checks.check(
        "market: the accounting invariant holds after the sale",
        snapshot.check().is_ok(),
    );
    checks.check(
        "market: every byte and all collateral went back",
        snapshot.reservations.is_empty()
            && free == OFFER_BYTES
            && snapshot.quota.used_bytes == 0
            && collateral == U256::from(OFFER_COLLATERAL)
            && market.collateral_kept(&host).is_zero(),
    );
    Ok(format!(
        "market     1 slot of {SLOT_BYTES} bytes sold and served for {SLOT_SECS} s; {free} bytes and {collateral} collateral back"
    ))
}

// ---------------------------------------------------------------------------
// 2, 3, 5, 7: the books (tally-ledger).
// ---------------------------------------------------------------------------

fn created(results: &[tally::ledger::CreateTransferResult]) -> bool {
    results.iter().all(|r| r.status == CreateTransferStatus::Created)
}

/// Step 2: the client's and the host's accounts; the client funded with its deposit.
fn open_books(ledger: &Ledger<Shared>, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    let accounts = [
        Account::new(FUNDING, TOKEN, 1),
        Account::new(CLIENT, TOKEN, 2).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        Account::new(HOST, TOKEN, 3),
    ];
    let opened = ledger.create_accounts(&accounts, now_ns(START_SECS))?;
    let funded = ledger.create_transfers(
        &[Transfer::new(
            DEPOSIT_TRANSFER,
            FUNDING,
            CLIENT,
            u128::from(DEPOSIT),
            TOKEN,
            1,
        )],
        now_ns(START_SECS),
    )?;
    println!("   ledger: accounts for the client and the host; the client is funded with {DEPOSIT}");
    checks.check(
        "ledger: the accounts and the funding were created",
        opened
            .iter()
            .all(|r| r.status == tally::ledger::CreateAccountStatus::Created)
            && created(&funded),
    );
    Ok(())
}

/// Step 3: when the sale starts, the price is reserved for the host (phase one).
fn reserve_price(ledger: &Ledger<Shared>, price: u64, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    let pending =
        Transfer::new(PRICE_PENDING, CLIENT, HOST, u128::from(price), TOKEN, 2).with_flags(TransferFlags::PENDING);
    let results = ledger.create_transfers(&[pending], now_ns(START_SECS))?;
    // The pending price counts: the client cannot spend it twice.
    let too_much = Transfer::new(
        PRICE_PENDING + 100,
        CLIENT,
        FUNDING,
        u128::from(DEPOSIT - price + 1),
        TOKEN,
        3,
    );
    let refused = ledger.create_transfers(&[too_much], now_ns(START_SECS))?;
    let client = ledger.lookup_accounts(&[CLIENT])?;
    let pending_now = client.first().map_or(0, |a| a.debits_pending);
    println!(
        "3. The sale starts. ledger: {price} of the client's {DEPOSIT} held for the host (pending); spending {} more is refused ({})",
        DEPOSIT - price + 1,
        refused.first().map_or("?", |r| r.status.name())
    );
    checks.check("ledger: the pending transfer was created", created(&results));
    checks.check(
        "ledger: the pending price cannot be spent again",
        refused.first().map(|r| r.status) == Some(CreateTransferStatus::ExceedsCredits)
            && pending_now == u128::from(price),
    );
    Ok(())
}

/// Step 5: the payment arrived; phase two posts the price.
fn post_price(ledger: &Ledger<Shared>, price: u64, checks: &mut Checks) -> Result<String, Box<dyn Error>> {
    let results = ledger.create_transfers(
        &[Transfer::post(PRICE_POSTED, PRICE_PENDING, u128::from(price))],
        now_ns(START_SECS + 5),
    )?;
    checks.check("ledger: the post was created", created(&results));
    Ok(format!("ledger: the pending {price} is posted to the host"))
}

/// Step 7: replay the journal; compare the books with what the other layers say.
fn audit_books(
    ledger: &Ledger<Shared>,
    price: u64,
    channel_remaining: u64,
    host_received_over_ilp: u64,
    checks: &mut Checks,
) -> Result<String, Box<dyn Error>> {
    let audit = ledger.audit()?;
    let accounts = ledger.lookup_accounts(&[CLIENT, HOST])?;
    let (Some(client), Some(host)) = (accounts.first(), accounts.get(1)) else {
        return Err("the ledger lost an account".into());
    };
    let client_left = client.credits_posted - client.debits_posted;
    let host_has = host.credits_posted - host.debits_posted;
    println!(
        "7. Audits. ledger: {} journal events replayed, {} problems, {} pending; client {client_left} left, host {host_has}",
        audit.events, audit.problem_count, audit.pending
    );
    checks.check(
        "ledger: the audit replays the journal without a problem",
        audit.is_ok() && audit.pending == 0,
    );
    checks.check(
        "ledger: the client's balance is the channel's unspent deposit",
        client_left == u128::from(channel_remaining) && client.debits_pending == 0,
    );
    checks.check(
        "ledger: the host's balance is the price, what reached it over ILP",
        host_has == u128::from(price) && host_has == u128::from(host_received_over_ilp),
    );
    Ok(format!(
        "ledger     client {client_left} of {DEPOSIT} left, host {host_has}; audit of {} events clean",
        audit.events
    ))
}

// ---------------------------------------------------------------------------
// 2, 3, 5, 6, 7: the sale's workflow (tally-petri).
// ---------------------------------------------------------------------------

fn sale_net() -> Result<Net, Box<dyn Error>> {
    let mut spec = NetSpec::new();
    for (n, place) in PLACES.iter().enumerate() {
        spec = spec.place(place, u32::from(n == 0));
    }
    for (action, from, to) in [
        ("reserve", "requested", "reserved"),
        ("fill", "reserved", "filled"),
        ("pay", "filled", "paid"),
        ("finish", "paid", "finished"),
    ] {
        spec = spec.transition(action).arc(from, action, 1).arc(action, to, 1);
    }
    Ok(Net::new(spec)?)
}

fn marking(state: &[u32]) -> String {
    let marked: Vec<String> = PLACES
        .iter()
        .zip(state)
        .filter(|(_, tokens)| **tokens > 0)
        .map(|(place, tokens)| format!("{place}={tokens}"))
        .collect();
    marked.join(" ")
}

/// Fires `actions` in order on the sale's stream and checks each lands.
fn fire(
    machines: &Machines<Shared>,
    oid: &str,
    actions: &[&str],
    secs: u64,
    checks: &mut Checks,
) -> Result<String, Box<dyn Error>> {
    let mut last = Vec::new();
    for action in actions {
        let payload = format!(r#"{{"action":"{action}"}}"#);
        let receipt = machines.dispatch(SCHEMA, oid, action, payload.as_bytes(), now_ms(secs))?;
        checks.check(format!("petri: {action} fired as a new event"), !receipt.duplicate);
        last = receipt.state;
    }
    Ok(format!("workflow: {} → {}", actions.join(", "), marking(&last)))
}

/// Step 7: the chain verifies, the marking is the expected one, and a firing
/// the marking does not allow is refused without writing anything.
fn audit_workflow(machines: &Machines<Shared>, oid: &str, checks: &mut Checks) -> Result<String, Box<dyn Error>> {
    let verified = machines.verify(SCHEMA, oid)?;
    let head = machines.state(SCHEMA, oid)?;
    let refused = machines.dispatch(SCHEMA, oid, "pay", b"{}", now_ms(START_SECS + SLOT_SECS + 61));
    let after = machines.state(SCHEMA, oid)?;
    println!(
        "   workflow: {} events, hash chain verified up to {}; marking {}",
        verified.events,
        short(&verified.head_hash),
        marking(&head.state)
    );
    match &refused {
        Err(error) => println!("   workflow: paying again is refused: {error}"),
        Ok(receipt) => println!("   workflow: paying again was accepted as event {}", receipt.seq),
    }
    checks.check(
        "petri: the hash chain verifies, one event per step",
        verified.events == 4 && verified.head_hash == head.head_hash,
    );
    checks.check(
        "petri: the sale ends with one token in finished",
        head.state == [0, 0, 0, 0, 1],
    );
    checks.check(
        "petri: an invalid firing is refused and changes nothing",
        refused.is_err() && after.rev == head.rev && after.head_hash == head.head_hash,
    );
    Ok(format!(
        "petri      {} events hash-chained and verified, ends in {}",
        verified.events,
        marking(&head.state)
    ))
}

// ---------------------------------------------------------------------------
// 4: the payment channel (tally-channel).
// ---------------------------------------------------------------------------

fn channel_key() -> Result<ChannelKey, Box<dyn Error>> {
    let mut channel_id = [0u8; 32];
    channel_id[..16].copy_from_slice(&keccak256(b"tour channel")[..16]);
    Ok(ChannelKey {
        chain_id: ChainId(1),
        contract_id: "0x08e4f70109ccc5135f50cc359d24cb7686247df4".parse()?,
        channel_id: ChannelId(channel_id),
    })
}

fn did_open(key: ChannelKey, parties: &Parties) -> ChannelEvent {
    let block_number = 100;
    let block_hash = BlockHash(keccak256(b"tour block 100"));
    ChannelEvent {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: now_ms(START_SECS),
        block_number,
        block_hash: Some(block_hash),
        block_is_valid: true,
        sender: Some(parties.client_eth),
        event_type: EventType::DidOpen,
        fields: EventFields {
            sender: Some(parties.client_eth),
            receiver: Some(parties.connector_eth),
            value_wei: Some(U256::from(DEPOSIT)),
            ..EventFields::default()
        },
        log: Some(LogPosition {
            tx_hash: TxHash(keccak256(&block_hash.0)),
            log_index: 0,
        }),
    }
}

/// A signed payment of `amount` in total, signed by `signer`, claiming to be from `sender`.
fn payment(
    book: &ChannelBook<Shared>,
    key: ChannelKey,
    signer: &SecretKey,
    sender: EthAddress,
    amount: u64,
) -> Result<StateUpdate, Box<dyn Error>> {
    let scheme = book.config().scheme_for(key.chain_id, key.contract_id);
    let signed = Payment {
        chain_id: key.chain_id,
        contract: key.contract_id,
        channel_id: key.channel_id,
        amount_wei: U256::from(amount),
        token_contract: None,
    };
    Ok(StateUpdate {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: now_ms(START_SECS + 1) + amount % 1_000,
        amount_wei: U256::from(amount),
        signature: sign_payment(scheme, &signed, signer)?,
        sender,
    })
}

/// What the channel shows: (paid so far, remaining of the deposit).
fn paid_and_remaining(book: &ChannelBook<Shared>, key: &ChannelKey) -> Result<(u64, u64), Box<dyn Error>> {
    let status = book.channel_status(key, true)?;
    let paid = status.current_payment_wei.unwrap_or_default();
    let remaining = status.current_remaining_balance_wei.unwrap_or_default();
    Ok((paid.try_into()?, remaining.try_into()?))
}

/// Step 4: open the channel, pay the price, and show what is refused.
fn pay_over_channel(
    book: &ChannelBook<Shared>,
    parties: &Parties,
    price: u64,
    checks: &mut Checks,
) -> Result<String, Box<dyn Error>> {
    let key = channel_key()?;
    let status = book.insert_channel_event(did_open(key, parties))?;
    let opened = status.channel.state.map_or("unopened", |state| state.name());
    println!(
        "4. The client opens a channel to its connector with {DEPOSIT} wei ({opened}) and signs a payment of {price}"
    );
    let paid = book.insert_state_update(payment(book, key, &parties.client_key, parties.client_eth, price)?)?;
    let accepted = paid.accepted().is_some_and(|r| r.created && r.is_latest);
    let (paid_now, remaining_now) = paid_and_remaining(book, &key)?;
    checks.check(
        "channel: the opening event is folded into an open channel",
        status.channel.value_wei == Some(U256::from(DEPOSIT)),
    );
    checks.check(
        "channel: the signed payment is accepted as the latest state",
        accepted && paid_now == price && remaining_now == DEPOSIT - price,
    );

    // Three payments that must not count.
    let forged = book.insert_state_update(payment(book, key, &parties.forger_key, parties.client_eth, 2 * price)?)?;
    let too_much = book.insert_state_update(payment(
        book,
        key,
        &parties.client_key,
        parties.client_eth,
        DEPOSIT + 1,
    )?)?;
    let stale = book.insert_state_update(payment(book, key, &parties.client_key, parties.client_eth, price / 2)?)?;
    let (paid_after, remaining_after) = paid_and_remaining(book, &key)?;
    let reason = |outcome: &StateUpdateOutcome| outcome.reason().unwrap_or("accepted").to_owned();
    println!(
        "   refused: a forged {} ({}), {} > the deposit ({}); a stale {} is kept but not latest",
        2 * price,
        reason(&forged),
        DEPOSIT + 1,
        reason(&too_much),
        price / 2
    );
    println!("   channel: paid {paid_after}, remaining {remaining_after}");
    checks.check(
        "channel: a bad signature is refused",
        forged.reason() == Some("signature_invalid"),
    );
    checks.check(
        "channel: a payment above the deposit is refused",
        too_much.reason() == Some("amount_exceeds_channel_value"),
    );
    checks.check(
        "channel: a lower (non-increasing) amount does not become the latest state",
        stale
            .accepted()
            .is_some_and(|r| !r.is_latest && r.added_amount_wei.is_none()),
    );
    checks.check(
        "channel: none of them changed what was paid",
        (paid_after, remaining_after) == (paid_now, remaining_now),
    );
    let refused = book.rejected_count(&key)?;
    Ok(format!(
        "channel    {DEPOSIT} wei deposited, {paid_after} paid by signed update, {} bad updates refused",
        refused.stored + refused.dropped
    ))
}

// ---------------------------------------------------------------------------
// 5: the payment over Interledger (tally-ilp, tally-connector).
// ---------------------------------------------------------------------------

/// What the ILP step reports to the others.
struct Forwarded {
    host_received: u64,
    summary: String,
}

fn open_connector(store: &Shared) -> Result<(Connector<Shared>, AccountId, AccountId), Box<dyn Error>> {
    let connector = Connector::new(
        Arc::clone(store),
        WorkerId(0),
        ConnectorConfig::new(b"test.tour".to_vec()),
    )?;
    let (client, host) = (AccountId::new("client")?, AccountId::new("host")?);
    connector.open_account(&client, AccountConfig::default())?;
    connector.open_account(&host, AccountConfig::default())?;
    connector.credit(&host, [1; 16], HOST_LIQUIDITY)?;
    connector.announce_route(b"test.tour.host", &host, LiquidityCurve::identity())?;
    Ok((connector, client, host))
}

/// Step 5: client → connector → host and back, as real ILPv4 bytes.
fn forward_payment(
    store: &Shared,
    channel_paid: u64,
    price: u64,
    fulfillment: [u8; 32],
    checks: &mut Checks,
) -> Result<Forwarded, Box<dyn Error>> {
    let (connector, client, host) = open_connector(store)?;
    let now = now_ms(START_SECS + 5);
    let condition = fulfillment_to_condition(&fulfillment);

    // The client's Prepare, as the bytes it sends.
    let expires_at = Timestamp::from_unix_ms(i64::try_from(now + 30_000)?).ok_or("expiry out of range")?;
    let prepare = ilp4::Prepare {
        amount: price,
        expires_at,
        execution_condition: condition,
        destination: b"test.tour.host".to_vec(),
        data: b"slot payment".to_vec(),
    };
    let sent = prepare.encode()?;

    // The connector decodes it; it accepts only what the client's signed
    // channel payments cover.
    let ilp4::Packet::Prepare(arrived) = ilp4::Packet::decode(&sent, Mode::Strict)? else {
        return Err("the client's packet is not a Prepare".into());
    };
    let covered = connector.balances(&client)?.balance() + i128::from(arrived.amount) <= i128::from(channel_paid);
    let incoming = IncomingPrepare {
        from: client.clone(),
        transfer_id: keccak256(&sent)[..16].try_into()?,
        amount: arrived.amount,
        expires_at_ms: u64::try_from(arrived.expires_at.unix_ms())?,
        execution_condition: arrived.execution_condition,
        destination: arrived.destination.to_vec(),
        data: arrived.data.to_vec(),
    };
    let PrepareOutcome::Forward(out) = connector.handle_prepare(&incoming, now)? else {
        return Err("the connector did not forward the payment".into());
    };
    let host_prepared = connector.balances(&host)?.balance();

    // The host gets the forwarded Prepare and answers with the fulfillment.
    let forwarded = ilp4::Prepare {
        amount: out.amount,
        expires_at: Timestamp::from_unix_ms(i64::try_from(out.expires_at_ms)?).ok_or("expiry out of range")?,
        execution_condition: out.execution_condition,
        destination: out.destination.clone(),
        data: out.data.clone(),
    }
    .encode()?;
    let ilp4::Packet::Prepare(at_host) = ilp4::Packet::decode(&forwarded, Mode::Strict)? else {
        return Err("the forwarded packet is not a Prepare".into());
    };
    let answer = ilp4::Fulfill {
        fulfillment,
        data: Vec::new(),
    }
    .encode()?;
    let fulfills_it = at_host.is_fulfilled_by(&fulfillment);

    // The connector settles both legs and passes the Fulfill back.
    let ilp4::Packet::Fulfill(back) = ilp4::Packet::decode(&answer, Mode::Strict)? else {
        return Err("the host's answer is not a Fulfill".into());
    };
    let resolved = connector.handle_fulfill(&host, &out.transfer_id, back.fulfillment, now + 50)?;
    let Resolved::Upstream {
        reply: Upstream::Fulfill { fulfillment: upstream },
        ..
    } = resolved
    else {
        return Err(format!("the connector did not fulfill upstream: {resolved:?}").into());
    };
    let to_client = ilp4::Fulfill {
        fulfillment: upstream,
        data: Vec::new(),
    }
    .encode()?;
    let ilp4::Packet::Fulfill(receipt) = ilp4::Packet::decode(&to_client, Mode::Strict)? else {
        return Err("the client's answer is not a Fulfill".into());
    };
    let client_balance = connector.balances(&client)?.balance();
    let host_balance = connector.balances(&host)?.balance();

    println!(
        "5. ILPv4 Prepare of {price} for test.tour.host, condition {} ({} bytes) → connector test.tour → host ({} bytes)",
        short(&condition),
        sent.len(),
        forwarded.len()
    );
    println!(
        "   the host fulfills ({} bytes, sha256 of it is the condition); connector's balance with the client {client_balance} (what its channel paid), with the host {host_balance} ({HOST_LIQUIDITY} of liquidity less the price)",
        answer.len()
    );
    checks.check(
        "ilp: the client's Prepare round-trips byte for byte",
        arrived.encode()? == sent && arrived.amount == price,
    );
    checks.check(
        "connector: the Prepare is covered by the client's signed channel payments",
        covered,
    );
    checks.check(
        "connector: the amount is prepared on the host's balance at once",
        host_prepared == i128::from(HOST_LIQUIDITY - price) && out.amount == price,
    );
    checks.check(
        "ilp: the forwarded Prepare and the Fulfills round-trip",
        at_host.encode()? == forwarded && back.encode()? == answer && receipt.encode()? == to_client,
    );
    checks.check(
        "ilp: the fulfillment's sha256 is the condition, end to end",
        fulfills_it && ilp4::fulfillment_matches_condition(&receipt.fulfillment, &condition),
    );
    checks.check(
        "connector: the client's balance equals what its channel paid; the host's dropped by the price",
        client_balance == i128::from(channel_paid) && host_balance == i128::from(HOST_LIQUIDITY - price),
    );
    let host_received = u64::try_from(i128::from(HOST_LIQUIDITY) - host_balance)?;
    Ok(Forwarded {
        host_received,
        summary: format!(
            "ilp        1 payment of {price} forwarded client → test.tour → host and fulfilled; the connector's balances: client {client_balance}, host {host_balance} of {HOST_LIQUIDITY}"
        ),
    })
}

// ---------------------------------------------------------------------------
// The story.
// ---------------------------------------------------------------------------

/// Runs the whole tour on `store` (already scoped to this run).
fn tour(store: Shared) -> Result<Report, Box<dyn Error>> {
    let mut checks = Checks::default();
    let parties = parties()?;

    // 1. The host's offer.
    let mut sales = offer_storage(&store, parties.host, &mut checks)?;

    // 2. The request, the books, the workflow.
    let request = storage_request(parties.client);
    let price: u64 = request.ask.price_per_slot()?.try_into()?;
    let mut market = SimMarket::new(START_SECS);
    let request_id = market.request_storage(request)?;
    let slot_id = SlotRef {
        request_id,
        slot_index: 0,
    }
    .id();
    println!(
        "2. The client asks for 1 slot of {SLOT_BYTES} bytes for {SLOT_SECS} s at {PRICE_PER_BYTE_SECOND} per byte-second: {price} for slot {}",
        short(&slot_id.0)
    );
    let ledger = Ledger::new(Arc::clone(&store));
    open_books(&ledger, &mut checks)?;
    let machines = Machines::new(Arc::clone(&store));
    let oid = format!("slot-{}", hex::encode(&slot_id.0[..8]));
    machines.register(SCHEMA, &sale_net()?)?;
    machines.create_stream(SCHEMA, &oid, now_ms(START_SECS))?;
    println!(
        "   workflow: stream {oid} of net {SCHEMA} ({}), marking {}",
        PLACES.join(" → "),
        marking(&machines.state(SCHEMA, &oid)?.state)
    );

    // 3. The sale.
    reserve_price(&ledger, price, &mut checks)?;
    fill_slot(&mut sales, &mut market, &mut checks)?;
    println!(
        "   {}",
        fire(&machines, &oid, &["reserve", "fill"], START_SECS + 1, &mut checks)?
    );

    // 4. The channel.
    let book = ChannelBook::new(Arc::clone(&store));
    let channel_summary = pay_over_channel(&book, &parties, price, &mut checks)?;
    let (channel_paid, channel_remaining) = paid_and_remaining(&book, &channel_key()?)?;

    // 5. Interledger, then the books and the workflow catch up.
    let fulfillment = keccak256(&[b"tour fulfillment ".as_slice(), &slot_id.0].concat());
    let forwarded = forward_payment(&store, channel_paid, price, fulfillment, &mut checks)?;
    let posted = post_price(&ledger, price, &mut checks)?;
    println!(
        "   {posted}; {}",
        fire(&machines, &oid, &["pay"], START_SECS + 5, &mut checks)?
    );

    // 6. The end of the slot's life.
    let market_summary = finish_sale(&mut sales, &mut market, parties.host, &mut checks)?;
    println!(
        "   {}",
        fire(&machines, &oid, &["finish"], START_SECS + SLOT_SECS + 60, &mut checks)?
    );

    // 7. Audits.
    let ledger_summary = audit_books(&ledger, price, channel_remaining, forwarded.host_received, &mut checks)?;
    let petri_summary = audit_workflow(&machines, &oid, &mut checks)?;

    Ok(Report {
        checks,
        summary: vec![
            market_summary,
            channel_summary,
            forwarded.summary,
            ledger_summary,
            petri_summary,
        ],
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => "redb".to_owned(),
        ["--help" | "-h"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        ["--store", spec] => (*spec).to_owned(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let opened = match open_store(&spec) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("tour: {error}");
            return ExitCode::FAILURE;
        }
    };
    let run = match next_run(&*opened.store) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("tour: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Store: {} (tour run {run} in this store)\n", opened.description);
    let scoped: Shared = Arc::new(RunScoped::new(Arc::clone(&opened.store), run));
    let report = match tour(scoped) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("\ntour: stopped by an error: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("\nSummary");
    for line in &report.summary {
        println!("  {line}");
    }
    let checks = &report.checks;
    let elapsed = started.elapsed().as_secs_f64();
    if checks.failed.is_empty() {
        println!("\nall {} invariants held ({elapsed:.2} s)", checks.total());
        ExitCode::SUCCESS
    } else {
        println!("\n{} of {} invariants FAILED:", checks.failed.len(), checks.total());
        for failed in &checks.failed {
            println!("  - {failed}");
        }
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_on(store: Shared) -> Report {
        let run = next_run(&*store).expect("a run number");
        tour(Arc::new(RunScoped::new(store, run))).expect("the tour runs to the end")
    }

    #[test]
    fn every_invariant_holds_on_a_mem_store() {
        let report = run_on(Arc::new(MemStore::new()));
        assert!(report.checks.failed.is_empty(), "failed: {:?}", report.checks.failed);
        assert!(report.checks.held >= 30, "only {} checks ran", report.checks.held);
        assert_eq!(report.summary.len(), 5);
    }

    #[test]
    fn a_second_run_on_the_same_redb_file_starts_over() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store: Shared = Arc::new(tally::redb::RedbStore::open(dir.path().join("tour.redb")).expect("redb"));
        for _ in 0..2 {
            let report = run_on(Arc::clone(&store));
            assert!(report.checks.failed.is_empty(), "failed: {:?}", report.checks.failed);
        }
    }

    #[test]
    fn run_scoped_stores_keep_runs_apart_and_pass_the_conformance_checks() {
        let inner: Shared = Arc::new(MemStore::new());
        let (one, two) = (
            RunScoped::new(Arc::clone(&inner), 1),
            RunScoped::new(Arc::clone(&inner), 2),
        );
        let mut batch = Batch::new();
        batch.expect_absent(b"k".to_vec()).put(b"k".to_vec(), b"one".to_vec());
        one.commit(batch).expect("commit");
        assert_eq!(two.get(b"k").expect("get"), None);
        let page = one.scan(b"", None, 10).expect("scan");
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].key, b"k");
        // The contract's checks that do not probe the key-length limit
        // (the run prefix makes the longest keys a few bytes shorter).
        use tally::store::testkit;
        let make = || RunScoped::new(MemStore::new(), 7);
        testkit::absent_keys_read_as_none(&make());
        testkit::versions_grow_on_every_write_and_are_never_reused(&make());
        testkit::preconditions_guard_commits(&make());
        testkit::failed_batches_write_nothing(&make());
        testkit::batches_apply_every_operation_in_order(&make());
        testkit::scan_returns_keys_in_bytewise_order(&make());
        testkit::scan_respects_prefix_and_cursor_edges(&make());
        testkit::scan_pages_cover_everything_exactly_once(&make());
        testkit::get_many_answers_each_key_as_get_does(&make());
    }
}
