//! The JSON-lines interface of `examples/market-cli.rs`: one operation per
//! line in, one answer per line out, for checking the reservations from
//! outside. [`MarketCli::handle_line`] is the whole tool; the example only
//! reads stdin and writes stdout.
//!
//! Every answer is `{"ok": ...}` or `{"error": KIND}` with `KIND` one of
//! `not_exists`, `bytes_out_of_bounds`, `until_out_of_bounds`,
//! `quota_not_enough`, `invalid`, `store`. Ids are 32-byte hex strings
//! (optionally `0x`-prefixed) chosen by the caller; sizes, durations and
//! times are integers; prices and collateral are decimal strings (plain
//! non-negative JSON integers are accepted too).
//!
//! | `op` | fields | `ok` |
//! |---|---|---|
//! | `create_availability` | `id`, `total_size`, `duration`, `min_price_per_byte_per_second`, `total_collateral`, `enabled` (default `true`), `until` (default `0`) | the availability |
//! | `update_availability` | `id` and any of the fields above | the availability |
//! | `delete_availability` | `id` (refused with `invalid` while it has reservations) | `null` |
//! | `create_reservation` | `id`, `availability_id`, `size`, `request_id`, `slot_index`, `collateral_per_byte`, `valid_until` | the reservation |
//! | `release` | `reservation_id`, `bytes` | the reservation |
//! | `return_bytes` | `reservation_id`, `bytes` | the reservation |
//! | `delete_reservation` | `reservation_id`, `returned_collateral` (default `"0"`) | `null` |
//! | `find` | `size`, `duration`, `price_per_byte_per_second`, `collateral_per_byte`, `valid_until` | an id or `null` |
//! | `state` | | `{"quota":{"max","used","reserved"},"availabilities":[...],"reservations":[...]}`, lists by id |
//! | `fail_next_commit` | `after_write` | `null`: the next commit fails (before the write, or after it as a lost acknowledgement) |
//!
//! An availability is `{"id","total_size","free_size","total_remaining_collateral","enabled","until"}`,
//! a reservation `{"id","availability_id","size","request_id","slot_index"}`.
//!
//! A negative `until` is `until_out_of_bounds` (as Codex refuses it); an
//! `update_availability` that names `free_size` is `invalid` (as Codex's
//! REST API refuses it).
//!
//! # Repeating after a failure
//!
//! The operation that hits a failed commit answers `{"error":"store"}`; it
//! may or may not have applied. Repeating the same operation (the same
//! JSON) afterwards leaves the state exactly as if it had succeeded once:
//! creations, updates and deletions are idempotent by nature, and a
//! repeated `release` or `return_bytes` reuses the failed attempt's
//! [`OpId`], which the reservation remembers.

use std::collections::VecDeque;

use primitive_types::U256;
use serde_json::{Map, Value, json};
use tally_store::{Fault, FaultyStore, Store};

use crate::error::MarketError;
use crate::reservations::Reservations;
use crate::reservations::rules::{
    Availability, AvailabilitySpec, AvailabilityUpdate, FindQuery, Reservation, ReservationSpec,
};
use crate::types::{AvailabilityId, OpId, RequestId, ReservationId, keccak256, parse_amount};

/// The longest line the tool reads.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// How many failed operations the tool remembers for repeats.
const MAX_FAILED_REMEMBERED: usize = 16;

/// Why a line was refused: a [`MarketError`] kind, with a reason for humans.
#[derive(Debug)]
struct Refusal {
    kind: &'static str,
    reason: String,
}

impl From<MarketError> for Refusal {
    fn from(error: MarketError) -> Self {
        Refusal {
            kind: error.kind(),
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

/// The tool's state: the reservations behind a [`FaultyStore`].
#[derive(Debug)]
pub struct MarketCli<S: Store> {
    reservations: Reservations<FaultyStore<S>>,
    session: [u8; 32],
    next_op: u64,
    failed: VecDeque<(Value, OpId)>,
    last_error: Option<String>,
}

impl<S: Store> MarketCli<S> {
    /// Opens the reservations on `store` with a quota of `quota_bytes`.
    /// `session` makes this run's operation ids unique (pick it at random:
    /// two runs on one durable store must not share it).
    ///
    /// # Errors
    /// As [`Reservations::open`].
    pub fn open(store: S, quota_bytes: u64, session: [u8; 32]) -> Result<Self, MarketError> {
        Ok(MarketCli {
            reservations: Reservations::open(FaultyStore::new(store), quota_bytes)?,
            session,
            next_op: 0,
            failed: VecDeque::new(),
            last_error: None,
        })
    }

    /// The reservations.
    pub fn reservations(&self) -> &Reservations<FaultyStore<S>> {
        &self.reservations
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

    fn op_id(&mut self, request: &Value) -> OpId {
        if let Some((_, op)) = self.failed.iter().find(|(failed, _)| failed == request) {
            return *op;
        }
        self.next_op += 1;
        OpId(keccak256(
            &[&self.session[..], &self.next_op.to_be_bytes()[..]].concat(),
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
        let op_id = match op {
            "release" | "return_bytes" => Some(self.op_id(&request)),
            _ => None,
        };
        let result = self.dispatch(op, fields, op_id);
        match &result {
            Err(Refusal { kind: "store", .. }) => {
                if let Some(op_id) = op_id
                    && !self.failed.iter().any(|(failed, _)| *failed == request)
                {
                    if self.failed.len() >= MAX_FAILED_REMEMBERED {
                        self.failed.pop_front();
                    }
                    self.failed.push_back((request.clone(), op_id));
                }
            }
            _ => self.failed.retain(|(failed, _)| *failed != request),
        }
        result
    }

    fn dispatch(&mut self, op: &str, fields: &Map<String, Value>, op_id: Option<OpId>) -> Result<Value, Refusal> {
        let r = &self.reservations;
        match op {
            "create_availability" => {
                let spec = AvailabilitySpec {
                    id: id(fields, "id").map(AvailabilityId)?,
                    total_size_bytes: int(fields, "total_size")?,
                    duration_secs: int(fields, "duration")?,
                    min_price_per_byte_per_second: amount(fields, "min_price_per_byte_per_second")?,
                    total_collateral: amount(fields, "total_collateral")?,
                    enabled: optional_bool(fields, "enabled")?.unwrap_or(true),
                    until_secs: until(fields)?.unwrap_or(0),
                };
                Ok(availability_json(&r.create_availability(&spec)?.value))
            }
            "update_availability" => {
                if fields.contains_key("free_size") {
                    return Err(invalid("free_size cannot be updated; change total_size"));
                }
                let update = AvailabilityUpdate {
                    total_size_bytes: optional_int(fields, "total_size")?,
                    duration_secs: optional_int(fields, "duration")?,
                    min_price_per_byte_per_second: optional_amount(fields, "min_price_per_byte_per_second")?,
                    total_collateral: optional_amount(fields, "total_collateral")?,
                    enabled: optional_bool(fields, "enabled")?,
                    until_secs: until(fields)?,
                };
                let id = id(fields, "id").map(AvailabilityId)?;
                Ok(availability_json(&r.update_availability(&id, &update)?.value))
            }
            "delete_availability" => {
                r.delete_availability(&id(fields, "id").map(AvailabilityId)?)?;
                Ok(Value::Null)
            }
            "create_reservation" => {
                let spec = ReservationSpec {
                    id: id(fields, "id").map(ReservationId)?,
                    availability_id: id(fields, "availability_id").map(AvailabilityId)?,
                    size_bytes: int(fields, "size")?,
                    request_id: id(fields, "request_id").map(RequestId)?,
                    slot_index: int(fields, "slot_index")?,
                    collateral_per_byte: amount(fields, "collateral_per_byte")?,
                    valid_until_secs: int(fields, "valid_until")?,
                };
                Ok(reservation_json(&r.create_reservation(&spec)?.value))
            }
            "release" | "return_bytes" => {
                let reservation = id(fields, "reservation_id").map(ReservationId)?;
                let bytes = int(fields, "bytes")?;
                let op_id = op_id.ok_or_else(|| invalid("no operation id"))?;
                let applied = if op == "release" {
                    r.release(&reservation, bytes, op_id)?
                } else {
                    r.return_bytes(&reservation, bytes, op_id)?
                };
                Ok(reservation_json(&applied.value))
            }
            "delete_reservation" => {
                let reservation = id(fields, "reservation_id").map(ReservationId)?;
                let returned = optional_amount(fields, "returned_collateral")?.unwrap_or_default();
                r.delete_reservation(&reservation, returned)?;
                Ok(Value::Null)
            }
            "find" => {
                let query = FindQuery {
                    size_bytes: int(fields, "size")?,
                    duration_secs: int(fields, "duration")?,
                    price_per_byte_per_second: amount(fields, "price_per_byte_per_second")?,
                    collateral_per_byte: amount(fields, "collateral_per_byte")?,
                    valid_until_secs: int(fields, "valid_until")?,
                };
                Ok(match r.find_availability(&query)? {
                    Some(availability) => Value::String(availability.id.to_hex()),
                    None => Value::Null,
                })
            }
            "state" => {
                let snapshot = r.snapshot()?;
                Ok(json!({
                    "quota": {
                        "max": snapshot.quota.max_bytes,
                        "used": snapshot.quota.used_bytes,
                        "reserved": snapshot.quota.reserved_bytes,
                    },
                    "availabilities": snapshot.availabilities.iter().map(availability_json).collect::<Vec<_>>(),
                    "reservations": snapshot.reservations.iter().map(reservation_json).collect::<Vec<_>>(),
                }))
            }
            "fail_next_commit" => {
                let after_write = optional_bool(fields, "after_write")?.unwrap_or(false);
                let store = self.reservations.store();
                store.clear();
                let fault = Fault::on_commit().nth(1).times(1);
                store.inject(if after_write {
                    fault.after_write()
                } else {
                    fault.before_write()
                });
                Ok(Value::Null)
            }
            other => Err(invalid(format!("unknown op {other:?}"))),
        }
    }
}

fn availability_json(a: &Availability) -> Value {
    json!({
        "id": a.id.to_hex(),
        "total_size": a.total_size_bytes,
        "free_size": a.free_size_bytes,
        "total_remaining_collateral": a.total_remaining_collateral.to_string(),
        "enabled": a.enabled,
        "until": a.until_secs,
    })
}

fn reservation_json(r: &Reservation) -> Value {
    json!({
        "id": r.id.to_hex(),
        "availability_id": r.availability_id.to_hex(),
        "size": r.size_bytes,
        "request_id": r.request_id.to_hex(),
        "slot_index": r.slot_index,
    })
}

fn id(fields: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], Refusal> {
    let text = fields
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{name}: a 32-byte hex string is required")))?;
    text.parse::<AvailabilityId>()
        .map(|id| id.0)
        .map_err(|error| invalid(format!("{name}: {error}")))
}

fn optional_int(fields: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, Refusal> {
    match fields.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{name}: a non-negative integer is required"))),
    }
}

fn int(fields: &Map<String, Value>, name: &'static str) -> Result<u64, Refusal> {
    optional_int(fields, name)?.ok_or_else(|| invalid(format!("{name} is required")))
}

/// `until`: a non-negative integer; a negative one is out of bounds (Codex:
/// "Cannot set until to a negative value").
fn until(fields: &Map<String, Value>) -> Result<Option<u64>, Refusal> {
    match fields.get("until") {
        None => Ok(None),
        Some(value) if value.as_i64().is_some_and(|n| n < 0) => Err(Refusal {
            kind: "until_out_of_bounds",
            reason: "until cannot be negative".into(),
        }),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid("until: an integer is required")),
    }
}

fn optional_amount(fields: &Map<String, Value>, name: &'static str) -> Result<Option<U256>, Refusal> {
    match fields.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(parse_amount(name, text)?)),
        Some(value) => match value.as_u64() {
            Some(n) => Ok(Some(U256::from(n))),
            None => Err(invalid(format!("{name}: a decimal string is required"))),
        },
    }
}

fn amount(fields: &Map<String, Value>, name: &'static str) -> Result<U256, Refusal> {
    optional_amount(fields, name)?.ok_or_else(|| invalid(format!("{name} is required")))
}

fn optional_bool(fields: &Map<String, Value>, name: &'static str) -> Result<Option<bool>, Refusal> {
    match fields.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_bool()
            .map(Some)
            .ok_or_else(|| invalid(format!("{name}: true or false"))),
    }
}
