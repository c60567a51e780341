//! The JSON-lines interface of `examples/marketplace-cli.rs`: one
//! operation per line in, one JSON answer per line out, for checking the
//! marketplace rules from outside.
//!
//! Each line is an object with an `"op"`; the answer is `{"ok": ...}` or
//! `{"error": KIND}`, `KIND` a refusal's snake_case name
//! ([`ContractError::kind`](super::ContractError::kind): `slot_not_free`, `insufficient_balance`, ...),
//! or `limit`, `overflow`, `invalid` (a malformed line or field) or `store`.
//! An error changes nothing. Accounts are 20-byte and ids 32-byte hex
//! strings (`0x` optional; answers use `0x` and lower case); amounts are
//! decimal strings (plain JSON integers are accepted too); times and counts
//! are integers (seconds).
//!
//! | `op` | fields | `ok` |
//! |---|---|---|
//! | `mint` | `account`, `amount` | `{"events":[]}` |
//! | `request_storage` | `client`, `ask`: {`slots`, `slot_size`, `duration`, `proof_probability`, `price_per_byte_per_second`, `collateral_per_byte`, `max_slot_loss`}, `expiry`, `nonce`; optional `cid` (hex, default `0x01`) and `merkle_root` (default zeros) | `{"request_id":ID}` |
//! | `reserve_slot` | `host`, `request_id`, `slot_index` | `{"events":[...]}` |
//! | `fill_slot` | `host`, `request_id`, `slot_index`, `proof` (hex) | `{"events":[...]}` |
//! | `free_slot` | `host`, `slot_id` | `{"events":[...]}` |
//! | `submit_proof` | `host`, `slot_id`, `proof` (hex) | `{"events":[...]}` |
//! | `mark_proof_as_missing` | `validator`, `slot_id`, `period` | `{"events":[...]}` |
//! | `withdraw_funds` | `client`, `request_id` | `{"events":[...]}` |
//! | `advance` | `seconds` | `{"now":N}` |
//! | `state` | | `{"now":N,"minted":"...","balances":{ACCOUNT:"..."},"contract_balance":"...","burned":"...","requests":[{"id","state"}],"slots":[{"id","request_id","slot_index","state","host"}]}` |
//!
//! Lists are sorted by id; states are named as the contract names them;
//! `host` is `null` for a slot without one. Events are objects named by
//! `"event"`: `{"event":"SlotFilled","request_id":ID,"slot_index":0}`,
//! `{"event":"ProofSubmitted","slot_id":ID}`, `{"event":"StorageRequested",
//! "request_id":ID,"ask":{...},"expiry":N}` (the expiry as a timestamp), and
//! so on for `SlotReservationsFull`, `SlotFreed`, `RequestFulfilled`,
//! `RequestCancelled` and `RequestFailed`.
//!
//! Proofs are any non-empty bytes; which periods need one is derived from
//! the slot id and the period ([`rules::challenge`](super::rules::challenge)).
//! The tool's default configuration is [`default_config`].
//!
//! A line whose commit failed answers `{"error":"store"}` and may or may
//! not have applied; repeating the same line applies it at most once (it
//! reuses the failed attempt's transaction id).

use std::collections::VecDeque;

use primitive_types::U256;
use serde_json::{Map, Value, json};
use tally_store::Store;

use crate::error::MarketError;
use crate::marketplace::{ContractState, Event, Marketplace, MarketplaceConfig, Operation};
use crate::types::{
    Address, Nonce, RequestId, SlotId, StorageAsk, StorageContent, StorageRequest, TxId, keccak256, parse_amount,
};

/// The longest line the tool reads.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// How many failed lines the tool remembers for repeats.
const MAX_FAILED_REMEMBERED: usize = 16;

/// The contract's default configuration ([`MarketplaceConfig::default`]:
/// periods of 120 s, a 30 s validation timeout, 3 reservations per slot, 2
/// slashes of 20%, ...) with **no downtime**, so that from outside a proof
/// probability of 1 means a proof in every period after the fill.
pub fn default_config() -> MarketplaceConfig {
    let mut config = MarketplaceConfig::default();
    config.proofs.downtime = 0;
    config
}

/// Why a line was refused: its kind, and a reason for humans.
#[derive(Debug)]
struct Refusal {
    kind: &'static str,
    reason: String,
}

/// The kind a refusal reports.
pub fn error_kind(error: &MarketError) -> &'static str {
    match error {
        MarketError::Contract(refusal) => refusal.kind(),
        MarketError::Overflow { .. } => "overflow",
        MarketError::Limit { .. } => "limit",
        MarketError::Store(_) | MarketError::Corrupt { .. } => "store",
        _ => "invalid",
    }
}

impl From<MarketError> for Refusal {
    fn from(error: MarketError) -> Self {
        Refusal {
            kind: error_kind(&error),
            reason: error.to_string(),
        }
    }
}

fn invalid(reason: impl Into<String>) -> Refusal {
    Refusal {
        kind: "invalid",
        reason: reason.into(),
    }
}

/// The tool's state: the marketplace, and the transaction ids of this run.
#[derive(Debug)]
pub struct MarketplaceCli<S: Store> {
    market: Marketplace<S>,
    session: [u8; 32],
    next_tx: u64,
    failed: VecDeque<(Value, TxId)>,
    last_error: Option<String>,
}

impl<S: Store> MarketplaceCli<S> {
    /// Opens the marketplace in `store` (created with `config`, its clock at
    /// 0, if the store has none). `session` makes this run's transaction ids
    /// unique (pick it at random: two runs on one durable store must not
    /// share it).
    ///
    /// # Errors
    /// As [`Marketplace::open`].
    pub fn open(store: S, config: MarketplaceConfig, session: [u8; 32]) -> Result<Self, MarketError> {
        Ok(MarketplaceCli {
            market: Marketplace::open(store, config, 0)?,
            session,
            next_tx: 0,
            failed: VecDeque::new(),
            last_error: None,
        })
    }

    /// The marketplace.
    pub fn market(&self) -> &Marketplace<S> {
        &self.market
    }

    /// Why the last line was refused, for humans (`--verbose`).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Answers one line (without its newline).
    pub fn handle_line(&mut self, line: &str) -> String {
        self.last_error = None;
        let answer = match self.answer(line) {
            Ok(value) => json!({ "ok": value }),
            Err(refusal) => {
                self.last_error = Some(refusal.reason);
                json!({ "error": refusal.kind })
            }
        };
        answer.to_string()
    }

    fn tx_id(&mut self, request: &Value) -> TxId {
        if let Some((_, tx)) = self.failed.iter().find(|(failed, _)| failed == request) {
            return *tx;
        }
        self.next_tx += 1;
        TxId(keccak256(
            &[&self.session[..], &self.next_tx.to_be_bytes()[..]].concat(),
        ))
    }

    fn answer(&mut self, line: &str) -> Result<Value, Refusal> {
        if line.len() > MAX_LINE_BYTES {
            return Err(invalid(format!("line longer than {MAX_LINE_BYTES} bytes")));
        }
        let request: Value = serde_json::from_str(line).map_err(|error| invalid(format!("not JSON: {error}")))?;
        let Some(fields) = request.as_object() else {
            return Err(invalid("a line must be a JSON object"));
        };
        let op = fields
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("missing \"op\""))?;
        if op == "state" {
            return state_json(&self.market.snapshot()?);
        }
        let operation = parse_operation(op, fields)?;
        let tx = self.tx_id(&request);
        let result = self.market.apply(&tx, &operation);
        match &result {
            Err(MarketError::Store(_)) => {
                if !self.failed.iter().any(|(failed, _)| *failed == request) {
                    if self.failed.len() >= MAX_FAILED_REMEMBERED {
                        self.failed.pop_front();
                    }
                    self.failed.push_back((request.clone(), tx));
                }
            }
            _ => self.failed.retain(|(failed, _)| *failed != request),
        }
        let receipt = result?;
        Ok(match &operation {
            Operation::RequestStorage { request } => json!({ "request_id": hex_id(request.id()?.as_bytes()) }),
            Operation::Advance { .. } => json!({ "now": receipt.outcome.now_secs }),
            _ => json!({ "events": receipt.outcome.events.iter().map(event_json).collect::<Vec<_>>() }),
        })
    }
}

fn parse_operation(op: &str, fields: &Map<String, Value>) -> Result<Operation, Refusal> {
    Ok(match op {
        "mint" => Operation::Mint {
            account: address(fields, "account")?,
            amount: amount(fields, "amount")?,
        },
        "request_storage" => {
            let ask = fields
                .get("ask")
                .and_then(Value::as_object)
                .ok_or_else(|| invalid("ask: an object is required"))?;
            let cid = match fields.get("cid") {
                None => vec![0x01],
                Some(_) => bytes(fields, "cid")?,
            };
            let merkle_root = match fields.get("merkle_root") {
                None => [0; 32],
                Some(_) => id(fields, "merkle_root")?,
            };
            Operation::RequestStorage {
                request: StorageRequest {
                    client: address(fields, "client")?,
                    ask: StorageAsk {
                        proof_probability: amount(ask, "proof_probability")?,
                        price_per_byte_per_second: amount(ask, "price_per_byte_per_second")?,
                        collateral_per_byte: amount(ask, "collateral_per_byte")?,
                        slots: int(ask, "slots")?,
                        slot_size_bytes: int(ask, "slot_size")?,
                        duration_secs: int(ask, "duration")?,
                        max_slot_loss: int(ask, "max_slot_loss")?,
                    },
                    content: StorageContent { cid, merkle_root },
                    expiry_secs: int(fields, "expiry")?,
                    nonce: Nonce(id(fields, "nonce")?),
                },
            }
        }
        "reserve_slot" => Operation::ReserveSlot {
            host: address(fields, "host")?,
            request_id: RequestId(id(fields, "request_id")?),
            slot_index: int(fields, "slot_index")?,
        },
        "fill_slot" => Operation::FillSlot {
            host: address(fields, "host")?,
            request_id: RequestId(id(fields, "request_id")?),
            slot_index: int(fields, "slot_index")?,
            proof: bytes(fields, "proof")?,
        },
        "free_slot" => Operation::FreeSlot {
            host: address(fields, "host")?,
            slot_id: SlotId(id(fields, "slot_id")?),
        },
        "submit_proof" => Operation::SubmitProof {
            host: address(fields, "host")?,
            slot_id: SlotId(id(fields, "slot_id")?),
            proof: bytes(fields, "proof")?,
        },
        "mark_proof_as_missing" => Operation::MarkProofAsMissing {
            validator: address(fields, "validator")?,
            slot_id: SlotId(id(fields, "slot_id")?),
            period: int(fields, "period")?,
        },
        "withdraw_funds" => Operation::WithdrawFunds {
            client: address(fields, "client")?,
            request_id: RequestId(id(fields, "request_id")?),
        },
        "advance" => Operation::Advance {
            seconds: int(fields, "seconds")?,
        },
        other => return Err(invalid(format!("unknown op {other:?}"))),
    })
}

fn hex_id(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn event_json(event: &Event) -> Value {
    let name = event.name();
    match event {
        Event::StorageRequested {
            request_id,
            ask,
            expiry_secs,
        } => json!({
            "event": name,
            "request_id": hex_id(request_id.as_bytes()),
            "ask": {
                "slots": ask.slots,
                "slot_size": ask.slot_size_bytes,
                "duration": ask.duration_secs,
                "proof_probability": ask.proof_probability.to_string(),
                "price_per_byte_per_second": ask.price_per_byte_per_second.to_string(),
                "collateral_per_byte": ask.collateral_per_byte.to_string(),
                "max_slot_loss": ask.max_slot_loss,
            },
            "expiry": expiry_secs,
        }),
        Event::SlotReservationsFull { request_id, slot_index }
        | Event::SlotFilled { request_id, slot_index }
        | Event::SlotFreed { request_id, slot_index } => json!({
            "event": name,
            "request_id": hex_id(request_id.as_bytes()),
            "slot_index": slot_index,
        }),
        Event::RequestFulfilled { request_id }
        | Event::RequestCancelled { request_id }
        | Event::RequestFailed { request_id } => json!({
            "event": name,
            "request_id": hex_id(request_id.as_bytes()),
        }),
        Event::ProofSubmitted { slot_id } => json!({ "event": name, "slot_id": hex_id(slot_id.as_bytes()) }),
    }
}

fn state_json(state: &ContractState) -> Result<Value, Refusal> {
    let totals = state.totals();
    let balances: Map<String, Value> = state
        .balances()
        .iter()
        .map(|(account, balance)| (hex_id(account.as_bytes()), Value::String(balance.to_string())))
        .collect();
    let now = state.now_secs();
    let requests: Vec<Value> = state
        .requests()
        .iter()
        .map(|(id, record)| {
            json!({
                "id": hex_id(id.as_bytes()),
                "state": crate::marketplace::request_state(record, now).name(),
            })
        })
        .collect();
    let slots: Vec<Value> = state
        .slots()?
        .iter()
        .map(|slot| {
            json!({
                "id": hex_id(slot.id.as_bytes()),
                "request_id": hex_id(slot.request_id.as_bytes()),
                "slot_index": slot.slot_index,
                "state": slot.state.name(),
                "host": slot.host.map(|host| hex_id(host.as_bytes())),
            })
        })
        .collect();
    Ok(json!({
        "now": now,
        "minted": totals.minted.to_string(),
        "balances": balances,
        "contract_balance": totals.contract_balance()?.to_string(),
        "burned": totals.burned.to_string(),
        "requests": requests,
        "slots": slots,
    }))
}

fn text<'a>(fields: &'a Map<String, Value>, name: &str, what: &str) -> Result<&'a str, Refusal> {
    fields
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{name}: {what} is required")))
}

fn address(fields: &Map<String, Value>, name: &'static str) -> Result<Address, Refusal> {
    text(fields, name, "a 20-byte hex string")?
        .parse()
        .map_err(|error| invalid(format!("{name}: {error}")))
}

fn id(fields: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], Refusal> {
    text(fields, name, "a 32-byte hex string")?
        .parse::<RequestId>()
        .map(|id| id.0)
        .map_err(|error| invalid(format!("{name}: {error}")))
}

fn bytes(fields: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, Refusal> {
    let value = text(fields, name, "a hex string")?;
    let digits = value.strip_prefix("0x").unwrap_or(value);
    hex::decode(digits).map_err(|error| invalid(format!("{name}: {error}")))
}

fn int(fields: &Map<String, Value>, name: &'static str) -> Result<u64, Refusal> {
    fields
        .get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(format!("{name}: a non-negative integer is required")))
}

fn amount(fields: &Map<String, Value>, name: &'static str) -> Result<U256, Refusal> {
    match fields.get(name) {
        Some(Value::String(text)) => Ok(parse_amount(name, text)?),
        Some(value) => value
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| invalid(format!("{name}: a decimal string is required"))),
        None => Err(invalid(format!("{name} is required"))),
    }
}
