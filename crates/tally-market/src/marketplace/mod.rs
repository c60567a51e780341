//! The Codex marketplace contract (`codex-contracts-eth`'s
//! `Marketplace.sol`, with `Proofs.sol`, `SlotReservations.sol`,
//! `Periods.sol` and `Requests.sol`) as a deterministic state machine over
//! a test token: the counterpart the [sales](crate::sales) machine runs
//! against, and the rules a host or client can check a chain's answers
//! with.
//!
//! - [`rules`]: the pure core. Every operation, check, state derivation,
//!   proof requirement and token movement of the contract in one file,
//!   with the conservation of tokens asserted after every operation;
//!   [`ContractState`] holds a whole marketplace in memory.
//! - [`Marketplace`]: the shell over a [`Store`]. Each operation is one
//!   atomic commit of exactly the records it changed, retried on conflict,
//!   so a simulated chain survives restarts and several hosts (threads or
//!   processes) can share one.
//! - [`cli`]: the JSON-lines tool of `examples/marketplace-cli.rs`.
//! - [`driver`]: performs the sales machine's effects against a
//!   [`Marketplace`] for one host, feeds the marketplace's events to its
//!   sales, and plays a validator.
//!
//! # A lifecycle
//!
//! ```
//! use tally_market::marketplace::{Event, Marketplace, MarketplaceConfig, Operation};
//! use tally_market::{Address, Nonce, RequestState, SlotState, StorageAsk, StorageContent, StorageRequest, TxId, U256};
//! use tally_store::MemStore;
//!
//! let chain = Marketplace::open(MemStore::new(), MarketplaceConfig::default(), 0)?;
//! let (client, host) = (Address([1; 20]), Address([2; 20]));
//! let mut tx = 0u8;
//! let mut apply = |op: Operation| {
//!     tx += 1;
//!     chain.apply(&TxId([tx; 32]), &op)
//! };
//! apply(Operation::Mint { account: client, amount: U256::from(1_000_000u32) })?;
//! apply(Operation::Mint { account: host, amount: U256::from(1_000u32) })?;
//!
//! // One slot of 10 bytes for 1,000 s at 5 per byte-second: 50,000 escrowed.
//! let request = StorageRequest {
//!     client,
//!     ask: StorageAsk {
//!         proof_probability: U256::from(4u8),
//!         price_per_byte_per_second: U256::from(5u8),
//!         collateral_per_byte: U256::from(20u8),
//!         slots: 1,
//!         slot_size_bytes: 10,
//!         duration_secs: 1_000,
//!         max_slot_loss: 0,
//!     },
//!     content: StorageContent { cid: b"zDv".to_vec(), merkle_root: [0; 32] },
//!     expiry_secs: 300,
//!     nonce: Nonce([9; 32]),
//! };
//! let request_id = request.id()?;
//! apply(Operation::RequestStorage { request })?;
//! apply(Operation::ReserveSlot { host, request_id, slot_index: 0 })?;
//! let filled = apply(Operation::FillSlot { host, request_id, slot_index: 0, proof: vec![1] })?;
//! assert!(filled.outcome.events.contains(&Event::RequestFulfilled { request_id }));
//!
//! // The contract runs its course; the host is paid and gets its collateral back.
//! apply(Operation::Advance { seconds: 1_001 })?;
//! assert_eq!(chain.request_state(&request_id)?, Some(RequestState::Finished));
//! let slot_id = tally_market::slot_id(&request_id, 0);
//! apply(Operation::FreeSlot { host, slot_id })?;
//! assert_eq!(chain.slot_state(&slot_id)?, SlotState::Paid);
//! assert_eq!(chain.balance(&host)?, U256::from(1_000u32 + 50_000));
//! chain.snapshot()?.check()?; // every token accounted for
//! # Ok::<(), tally_market::MarketError>(())
//! ```
//!
//! # Where this differs from the contract, and why
//!
//! The rules are the contract's, check by check and in its order, with its
//! quirks (a slot never filled reads Free even when its request was
//! cancelled; a repair in the very period the previous host proved is
//! refused, since the contract does not forget that proof; a cancelled
//! slot filled at the very second of the expiry can never be paid out).
//! What differs:
//!
//! - **No blocks.** Time is the clock [`Operation::Advance`] moves. The
//!   block hash the contract's pointer designates is replaced by
//!   [`rules::block_hash`] of a seed, the slot id and the period, and the
//!   pointer's block number by 0: a period's requirement is fixed when the
//!   period begins instead of moving block by block. The probability
//!   scaling and the downtime rule are the contract's.
//! - **Proofs are not verified**: any non-empty bytes are a valid proof.
//! - **Tokens**: a built-in token with a faucet ([`Operation::Mint`])
//!   replaces the ERC-20 contract, and transfers need no allowance.
//!   Collateral is locked by [`fill_slot`](Operation::FillSlot) and
//!   returned by [`free_slot`](Operation::FreeSlot), as the contract has
//!   done since collateral became per slot (it no longer has a separate
//!   collateral deposit and withdrawal).
//! - **Payout and withdrawal addresses**: the contract's `freeSlot` and
//!   `withdrawFunds` overloads that pay to other addresses are left out;
//!   hosts and clients are paid themselves.
//! - **Reservations of unknown slots** are refused (`unknown_request`,
//!   `invalid_slot`): the contract accepts them (they can never be filled)
//!   and keeps them forever.
//! - **Configuration**: besides the contract's checks, the validator
//!   reward may not exceed 100% and repair plus validator rewards may not
//!   exceed 100%; otherwise the contract pays rewards out of other
//!   requests' funds. A request fails with its end set one second back, as
//!   the contract does, but never before time 0.
//! - **Limits**: slots per request, requests, accounts, proof size, the
//!   validation timeout in periods (see [`rules`]).
//! - **Proof records** of periods that can no longer be submitted or
//!   validated are forgotten (the contract keeps them; nothing reads them).
//!
//! # Repeating an operation
//!
//! Every [`apply`](Marketplace::apply) names its operation with a
//! [`TxId`], like a transaction hash. The marketplace keeps the receipt of
//! each applied operation (the last [`MAX_RECEIPTS`]), so an operation
//! repeated with its id after a lost acknowledgement returns the first
//! receipt and applies nothing again. That is what makes the
//! non-idempotent operations (`mint`, `advance`, and every other one, which
//! the contract would refuse the second time) safe to retry. A refused
//! operation leaves no receipt: repeating it runs it again, against the
//! state of then.

pub mod cli;
pub mod driver;
mod error;
pub mod keys;
pub mod rules;

use std::collections::BTreeMap;

use primitive_types::U256;
use serde::{Deserialize, Serialize};
use tally_store::{RetryPolicy, Store, Txn, codec, transact};

pub use error::{ContractError, ReservationRefusal};
pub use rules::{
    ChainRecord, CollateralConfig, ContractState, Event, MarketplaceConfig, Operation, Outcome, PeriodProofs,
    RequestRecord, SlotRecord, SlotSummary, Totals, request_state, slot_state,
};

use crate::error::MarketError;
use crate::periods::ChainRandomness;
use crate::types::{Address, RequestId, RequestState, SlotId, SlotRef, SlotState, TxId, keccak256, u256_bytes};
use rules::{RecordKey, Records, Stop};

/// How many receipts the marketplace keeps (older ones are forgotten, and
/// repeating their operations would apply them again).
pub const MAX_RECEIPTS: u64 = 65_536;
/// The most records one operation may read.
const MAX_LOADS: usize = 32;
/// Page size of the scans that read whole record kinds.
const PAGE: usize = 1_000;

/// What an applied operation left on the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Its position among applied operations (0, 1, ...).
    pub seq: u64,
    /// The id it was applied with.
    pub tx: TxId,
    /// The operation's name.
    pub operation: String,
    /// Its events and the time.
    pub outcome: Outcome,
    /// keccak-256 of the operation's encoding: a repeat must match it.
    pub operation_hash: [u8; 32],
}

/// The bounds of the receipt log: receipts `oldest_seq..next_seq` are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct LogRecord {
    next_seq: u64,
    oldest_seq: u64,
}

#[derive(Serialize, Deserialize)]
struct AccountRecord(#[serde(with = "u256_bytes")] U256);

/// The records one operation read, loaded on demand from a transaction.
#[derive(Debug, Default)]
struct Partial {
    chain: Option<ChainRecord>,
    accounts: BTreeMap<Address, Option<U256>>,
    requests: BTreeMap<RequestId, Option<RequestRecord>>,
    slots: BTreeMap<SlotId, Option<SlotRecord>>,
}

impl Records for Partial {
    fn chain(&self) -> Result<&ChainRecord, RecordKey> {
        self.chain.as_ref().ok_or(RecordKey::Chain)
    }
    fn account(&self, account: &Address) -> Result<Option<U256>, RecordKey> {
        self.accounts.get(account).copied().ok_or(RecordKey::Account(*account))
    }
    fn request(&self, id: &RequestId) -> Result<Option<&RequestRecord>, RecordKey> {
        self.requests.get(id).map(Option::as_ref).ok_or(RecordKey::Request(*id))
    }
    fn slot(&self, id: &SlotId) -> Result<Option<&SlotRecord>, RecordKey> {
        self.slots.get(id).map(Option::as_ref).ok_or(RecordKey::Slot(*id))
    }
}

impl Partial {
    fn load<S: Store + ?Sized>(&mut self, txn: &mut Txn<'_, S>, key: RecordKey) -> Result<(), MarketError> {
        let already = match key {
            RecordKey::Chain => self.chain.is_some(),
            RecordKey::Account(a) => self.accounts.contains_key(&a),
            RecordKey::Request(id) => self.requests.contains_key(&id),
            RecordKey::Slot(id) => self.slots.contains_key(&id),
        };
        if already {
            return Err(MarketError::Corrupt {
                reason: format!("the rules asked twice for {key:?}"),
            });
        }
        match key {
            RecordKey::Chain => {
                let chain = txn.get_as(&keys::chain())?.ok_or_else(|| MarketError::Corrupt {
                    reason: "no marketplace in this store (open it first)".into(),
                })?;
                self.chain = Some(chain);
            }
            RecordKey::Account(a) => {
                let balance: Option<AccountRecord> = txn.get_as(&keys::account(&a))?;
                self.accounts.insert(a, balance.map(|AccountRecord(b)| b));
            }
            RecordKey::Request(id) => {
                self.requests.insert(id, txn.get_as(&keys::request(&id))?);
            }
            RecordKey::Slot(id) => {
                self.slots.insert(id, txn.get_as(&keys::slot(&id))?);
            }
        }
        Ok(())
    }
}

/// Runs `f` over records loaded on demand through `txn`.
fn run<S, T>(txn: &mut Txn<'_, S>, f: impl Fn(&Partial) -> Result<T, Stop>) -> Result<T, MarketError>
where
    S: Store + ?Sized,
{
    let mut view = Partial::default();
    for _ in 0..MAX_LOADS {
        match f(&view) {
            Ok(value) => return Ok(value),
            Err(Stop::Refused(error)) => return Err(error),
            Err(Stop::Load(key)) => view.load(txn, key)?,
        }
    }
    Err(MarketError::Limit {
        what: "records read by one operation",
        max: MAX_LOADS as u64,
    })
}

/// The marketplace on a [`Store`]; see the [module docs](self).
#[derive(Debug)]
pub struct Marketplace<S> {
    store: S,
    config: MarketplaceConfig,
    retry: RetryPolicy,
    max_receipts: u64,
}

impl<S: Store> Marketplace<S> {
    /// Opens the marketplace in `store`, creating it with `config` and its
    /// clock at `start_secs` if the store has none.
    ///
    /// # Errors
    /// As [`MarketplaceConfig::validate`]; [`MarketError::Invalid`] when
    /// the store holds a marketplace with another configuration; store
    /// errors.
    pub fn open(store: S, config: MarketplaceConfig, start_secs: u64) -> Result<Self, MarketError> {
        config.validate()?;
        let retry = RetryPolicy::default();
        transact(&store, &retry, |txn| {
            match txn.get_as::<MarketplaceConfig>(&keys::config())? {
                Some(stored) if stored == config => {}
                Some(_) => {
                    return Err(MarketError::Invalid {
                        field: "config",
                        reason: "the store holds a marketplace with another configuration".into(),
                    });
                }
                None => {
                    txn.put_as(keys::config(), &config)?;
                    let empty = ContractState::new(config.clone(), start_secs)?;
                    txn.put_as(keys::chain(), empty.chain())?;
                    txn.put_as(keys::log(), &LogRecord::default())?;
                }
            }
            Ok(())
        })?;
        Ok(Marketplace {
            store,
            config,
            retry,
            max_receipts: MAX_RECEIPTS,
        })
    }

    /// Keeps only the last `max_receipts` receipts (clamped to
    /// `1..=`[`MAX_RECEIPTS`]; every process sharing the store should use
    /// the same bound). Operations whose receipt was forgotten apply again
    /// when repeated.
    pub fn with_max_receipts(mut self, max_receipts: u64) -> Self {
        self.max_receipts = max_receipts.clamp(1, MAX_RECEIPTS);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &MarketplaceConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Applies `op` as transaction `tx`: one atomic commit of every record
    /// it changes and its receipt. Repeating it with the same `tx` returns
    /// the same receipt and changes nothing (see the [module
    /// docs](self#repeating-an-operation)).
    ///
    /// # Errors
    /// As [`ContractState::apply`] (nothing changed);
    /// [`ContractError::TxIdReused`] for a `tx` that named another
    /// operation; store errors (after a failed commit the operation may or
    /// may not have applied: repeat it with the same `tx`).
    pub fn apply(&self, tx: &TxId, op: &Operation) -> Result<Receipt, MarketError> {
        let encoded = codec::encode(op).map_err(|error| MarketError::Invalid {
            field: "operation",
            reason: error.to_string(),
        })?;
        let operation_hash = keccak256(&encoded);
        let config = &self.config;
        let max_receipts = self.max_receipts;
        transact(&self.store, &self.retry, |txn| {
            if let Some(seq) = txn.get_as::<u64>(&keys::tx(tx))? {
                let receipt: Receipt = txn.get_as(&keys::receipt(seq))?.ok_or_else(|| MarketError::Corrupt {
                    reason: format!("transaction {tx} names the missing receipt {seq}"),
                })?;
                if receipt.operation_hash != operation_hash {
                    return Err(ContractError::TxIdReused(tx.0).into());
                }
                return Ok(receipt);
            }
            let applied = run(txn, |view| rules::execute(config, view, op))?;
            let writes = &applied.writes;
            txn.put_as(keys::chain(), &writes.chain)?;
            for (address, balance) in &writes.accounts {
                txn.put_as(keys::account(address), &AccountRecord(*balance))?;
            }
            for (id, request) in &writes.requests {
                txn.put_as(keys::request(id), request)?;
            }
            for (id, slot) in &writes.slots {
                txn.put_as(keys::slot(id), slot)?;
            }
            let mut log: LogRecord = txn.get_as(&keys::log())?.unwrap_or_default();
            let receipt = Receipt {
                seq: log.next_seq,
                tx: *tx,
                operation: op.name().to_owned(),
                outcome: applied.outcome,
                operation_hash,
            };
            txn.put_as(keys::receipt(receipt.seq), &receipt)?;
            txn.put_as(keys::tx(tx), &receipt.seq)?;
            log.next_seq += 1;
            // At most two per operation, so a bound lowered on a full log
            // shrinks it one receipt per operation rather than all at once.
            for _ in 0..2 {
                if log.next_seq - log.oldest_seq <= max_receipts {
                    break;
                }
                let oldest: Option<Receipt> = txn.get_as(&keys::receipt(log.oldest_seq))?;
                if let Some(oldest) = oldest {
                    txn.delete(keys::tx(&oldest.tx));
                }
                txn.delete(keys::receipt(log.oldest_seq));
                log.oldest_seq += 1;
            }
            debug_assert!(log.oldest_seq <= log.next_seq);
            txn.put_as(keys::log(), &log)?;
            Ok(receipt)
        })
    }

    /// Runs a read-only view over one consistent snapshot.
    fn read<T>(&self, f: impl Fn(&Partial) -> Result<T, Stop>) -> Result<T, MarketError> {
        transact(&self.store, &self.retry, |txn| run(txn, &f))
    }

    fn with_tx<T>(&self, f: impl Fn(&rules::Tx<'_, Partial>) -> Result<T, Stop>) -> Result<T, MarketError> {
        let config = &self.config;
        self.read(|view| f(&rules::Tx::new(config, view)?))
    }

    /// The chain record (the clock, the token sums, the counts).
    ///
    /// # Errors
    /// Store errors.
    pub fn chain(&self) -> Result<ChainRecord, MarketError> {
        self.read(|view| Ok(view.chain().map_err(Stop::Load)?.clone()))
    }

    /// The chain's time.
    ///
    /// # Errors
    /// Store errors.
    pub fn now_secs(&self) -> Result<u64, MarketError> {
        Ok(self.chain()?.now_secs)
    }

    /// An account's balance.
    ///
    /// # Errors
    /// Store errors.
    pub fn balance(&self, account: &Address) -> Result<U256, MarketError> {
        self.with_tx(|tx| tx.balance(account))
    }

    /// A request's record.
    ///
    /// # Errors
    /// Store errors.
    pub fn request(&self, id: &RequestId) -> Result<Option<RequestRecord>, MarketError> {
        self.with_tx(|tx| tx.request(id))
    }

    /// A request's state now, if it is known (`requestState`).
    ///
    /// # Errors
    /// Store errors.
    pub fn request_state(&self, id: &RequestId) -> Result<Option<RequestState>, MarketError> {
        self.read(|view| {
            let now = view.chain().map_err(Stop::Load)?.now_secs;
            Ok(view
                .request(id)
                .map_err(Stop::Load)?
                .map(|record| request_state(record, now)))
        })
    }

    /// A slot's record (none until first reserved or filled).
    ///
    /// # Errors
    /// Store errors.
    pub fn slot(&self, id: &SlotId) -> Result<Option<SlotRecord>, MarketError> {
        self.with_tx(|tx| tx.slot(id))
    }

    /// A slot's state now (`slotState`).
    ///
    /// # Errors
    /// Store errors.
    pub fn slot_state(&self, id: &SlotId) -> Result<SlotState, MarketError> {
        self.with_tx(|tx| tx.slot_state(id))
    }

    /// Whether the slot's proof of `period` is required and would be
    /// slashed if missing.
    ///
    /// # Errors
    /// Store errors.
    pub fn is_proof_required(&self, id: &SlotId, period: u64) -> Result<bool, MarketError> {
        self.with_tx(|tx| Ok(tx.proof_required(id, period)?.0))
    }

    /// Whether a validator may mark the slot's proof of `period` missing
    /// now (`canMarkProofAsMissing`).
    ///
    /// # Errors
    /// The refusal `markProofAsMissing` would give; store errors.
    pub fn can_mark_proof_as_missing(&self, id: &SlotId, period: u64) -> Result<(), MarketError> {
        self.with_tx(|tx| tx.can_mark_proof_as_missing(id, period).map(drop))
    }

    /// The randomness a host proves against for `slot_id` in `period` (see
    /// [`rules::randomness`]).
    pub fn randomness(&self, slot_id: &SlotId, period: u64) -> ChainRandomness {
        rules::randomness(&self.config, slot_id, period)
    }

    /// The slots `host` holds (`mySlots`). Reads every slot record.
    ///
    /// # Errors
    /// Store errors.
    pub fn my_slots(&self, host: &Address) -> Result<Vec<SlotRef>, MarketError> {
        Ok(self.snapshot()?.my_slots(host))
    }

    /// Applied operations' receipts after sequence `after` (from the oldest
    /// kept when `None`), in order, at most `limit`: the chain's event log.
    /// A host that polls it and finds the first sequence beyond the one it
    /// expected has missed receipts that were forgotten.
    ///
    /// # Errors
    /// Store errors.
    pub fn receipts_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<Receipt>, MarketError> {
        let after_key = after.map(keys::receipt);
        let page = self
            .store
            .scan(&keys::receipt_prefix(), after_key.as_deref(), limit.clamp(1, PAGE))?;
        page.entries
            .iter()
            .map(|entry| {
                codec::decode(&entry.value)
                    .map_err(|error| MarketError::Store(tally_store::StoreError::codec(&entry.key, error)))
            })
            .collect()
    }

    /// The sequences of the receipts kept: `oldest..next`.
    ///
    /// # Errors
    /// Store errors.
    pub fn receipt_range(&self) -> Result<std::ops::Range<u64>, MarketError> {
        transact(&self.store, &self.retry, |txn| {
            let log: LogRecord = txn.get_as(&keys::log())?.unwrap_or_default();
            Ok::<_, MarketError>(log.oldest_seq..log.next_seq)
        })
    }

    /// The whole marketplace as one consistent [`ContractState`] (to
    /// [`check`](ContractState::check) it, list it, compare it).
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn snapshot(&self) -> Result<ContractState, MarketError> {
        let config = self.config.clone();
        transact(&self.store, &self.retry, |txn| {
            let chain: ChainRecord = txn.get_as(&keys::chain())?.ok_or_else(|| MarketError::Corrupt {
                reason: "no marketplace in this store".into(),
            })?;
            let accounts = scan_records::<S, AccountRecord, Address, 20>(txn, &keys::account_prefix(), Address)?
                .into_iter()
                .map(|(address, AccountRecord(balance))| (address, balance))
                .collect();
            let requests = scan_records::<S, RequestRecord, RequestId, 32>(txn, &keys::request_prefix(), RequestId)?;
            let slots = scan_records::<S, SlotRecord, SlotId, 32>(txn, &keys::slot_prefix(), SlotId)?;
            Ok(ContractState::from_records(
                config.clone(),
                chain,
                accounts,
                requests.into_iter().collect(),
                slots.into_iter().collect(),
            ))
        })
    }
}

/// Every record under `prefix`, keyed by the fixed-size id that ends its
/// key; guarded by the log record, which every operation writes.
fn scan_records<S, T, K, const N: usize>(
    txn: &mut Txn<'_, S>,
    prefix: &[u8],
    make: fn([u8; N]) -> K,
) -> Result<Vec<(K, T)>, MarketError>
where
    S: Store + ?Sized,
    T: serde::de::DeserializeOwned,
{
    let mut out = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = txn.scan_guarded(&keys::log(), prefix, after.as_deref(), PAGE)?;
        for entry in &page.entries {
            let id = entry
                .key
                .len()
                .checked_sub(N)
                .and_then(|start| <[u8; N]>::try_from(&entry.key[start..]).ok())
                .ok_or_else(|| MarketError::Corrupt {
                    reason: format!("a marketplace key of {} bytes", entry.key.len()),
                })?;
            let value = codec::decode(&entry.value)
                .map_err(|error| MarketError::Store(tally_store::StoreError::codec(&entry.key, error)))?;
            out.push((make(id), value));
        }
        match page.next_after() {
            Some(last) => after = Some(last.to_vec()),
            None => return Ok(out),
        }
    }
}
