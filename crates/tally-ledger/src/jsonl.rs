//! The JSON-lines protocol of `examples/ledger-cli.rs`: one request per
//! line in, one JSON value per line out, for checking the ledger against
//! TigerBeetle line by line.
//!
//! Requests (ids and amounts are decimal strings; `ledger`, `code`,
//! `timeout`, `seconds` are numbers; `flags` is a list of TigerBeetle flag
//! names; omitted fields are 0):
//!
//! | request | answer |
//! |---|---|
//! | `{"op":"create_account","id":"1","ledger":1,"code":10,"flags":["debits_must_not_exceed_credits"]}` | the status name, `"created"` |
//! | `{"op":"create_transfer","id":"100","debit_account_id":"1","credit_account_id":"2","amount":"50","ledger":1,"code":1,"flags":["pending"],"pending_id":"0","timeout":0}` | the status name |
//! | `{"op":"create_accounts","accounts":[{...}, ...]}` | a list of status names (one batch) |
//! | `{"op":"create_transfers","transfers":[{...}, ...]}` | a list of status names (one batch) |
//! | `{"op":"lookup_account","id":"1"}` | `{"debits_pending":"0","debits_posted":"0","credits_pending":"0","credits_posted":"0"}` or `null` |
//! | `{"op":"advance","seconds":N}` | `null`: N seconds pass after the ledger's last event, then what is due expires |
//!
//! Beyond the issue's operations, for checking queries against TigerBeetle:
//!
//! | request | answer |
//! |---|---|
//! | `{"op":"lookup_transfer","id":"100"}` | the transfer (ids, amounts and user_data_128/64 as strings, `flags` as names; no timestamp) or `null` |
//! | `{"op":"get_account_transfers","account_id":"1","limit":10,"flags":["debits","credits","reversed"]}` (also `code`, `user_data_*`, `timestamp_min/max`) | the matching transfer ids, in order |
//! | `{"op":"get_account_balances", ...the same filter...}` | the balances after each matching transfer, as `lookup_account` prints them |
//!
//! Accounts and transfers may also carry `user_data_128` (string),
//! `user_data_64` (string or number), `user_data_32` and `timestamp`
//! (numbers), accounts their four balances (strings, which must be 0), and
//! `flags` may be a number (raw bits, to reach reserved ones). A line that is not such a request, or that the ledger cannot
//! serve, is answered `{"error":"..."}` and the session goes on.
//!
//! ```
//! use tally_ledger::{jsonl::Session, Ledger};
//! use tally_store::MemStore;
//!
//! let mut session = Session::new(Ledger::new(MemStore::new()));
//! assert_eq!(session.handle_line(r#"{"op":"create_account","id":"1","ledger":1,"code":10}"#), r#""created""#);
//! assert_eq!(session.handle_line(r#"{"op":"lookup_account","id":"2"}"#), "null");
//! assert!(session.handle_line("not json").starts_with(r#"{"error":"#));
//! ```

use serde_json::{Map, Value, json};
use tally_store::Store;

use crate::types::{NS_PER_S, TIMESTAMP_MAX_NS};
use crate::{Account, AccountFilter, AccountFilterFlags, AccountFlags, Ledger, Transfer, TransferFlags};

/// The clock a new session starts at: 2023-11-14T22:13:20Z, in nanoseconds.
pub const SESSION_START_NS: u64 = 1_700_000_000 * NS_PER_S;

/// The longest line a session reads, in bytes.
pub const LINE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A ledger and its clock, answering one request line at a time.
#[derive(Debug)]
pub struct Session<S> {
    ledger: Ledger<S>,
    now_ns: u64,
}

impl<S: Store> Session<S> {
    /// A session on `ledger`, its clock at [`SESSION_START_NS`] (or the
    /// ledger's last timestamp, if later).
    pub fn new(ledger: Ledger<S>) -> Self {
        Session {
            ledger,
            now_ns: SESSION_START_NS,
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger<S> {
        &self.ledger
    }

    /// The session's clock, in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Answers one request line with one line of JSON (no newline).
    pub fn handle_line(&mut self, line: &str) -> String {
        match self.handle(line) {
            Ok(answer) => answer,
            Err(message) => json!({ "error": message }).to_string(),
        }
    }

    fn handle(&mut self, line: &str) -> Result<String, String> {
        if line.len() > LINE_BYTES_MAX {
            return Err(format!("line longer than {LINE_BYTES_MAX} bytes"));
        }
        let request: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let object = request.as_object().ok_or("a request is a JSON object")?;
        let op = object.get("op").and_then(Value::as_str).ok_or("missing \"op\"")?;
        match op {
            "create_account" => {
                let account = account(object, true)?;
                Ok(Value::from(self.create_accounts(&[account])?.remove(0)).to_string())
            }
            "create_accounts" => {
                only(object, &["op", "accounts"])?;
                let items = list(object, "accounts")?;
                let batch = items
                    .iter()
                    .map(|item| account(item.as_object().ok_or("an account is a JSON object")?, false))
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Value::from(self.create_accounts(&batch)?).to_string())
            }
            "create_transfer" => {
                let transfer = transfer(object, true)?;
                Ok(Value::from(self.create_transfers(&[transfer])?.remove(0)).to_string())
            }
            "create_transfers" => {
                only(object, &["op", "transfers"])?;
                let items = list(object, "transfers")?;
                let batch = items
                    .iter()
                    .map(|item| transfer(item.as_object().ok_or("a transfer is a JSON object")?, false))
                    .collect::<Result<Vec<_>, String>>()?;
                Ok(Value::from(self.create_transfers(&batch)?).to_string())
            }
            "lookup_account" => {
                only(object, &["op", "id"])?;
                let id = u128_field(object, "id")?;
                let found = self.ledger.lookup_accounts(&[id]).map_err(|e| e.to_string())?;
                // In the issue's field order (a JSON map would sort them).
                Ok(match found.first() {
                    Some(a) => format!(
                        r#"{{"debits_pending":"{}","debits_posted":"{}","credits_pending":"{}","credits_posted":"{}"}}"#,
                        a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted
                    ),
                    None => "null".to_owned(),
                })
            }
            "lookup_transfer" => {
                only(object, &["op", "id"])?;
                let id = u128_field(object, "id")?;
                let found = self.ledger.lookup_transfers(&[id]).map_err(|e| e.to_string())?;
                Ok(found.first().map_or(Value::Null, transfer_json).to_string())
            }
            "get_account_transfers" => {
                let filter = filter(object)?;
                let found = self.ledger.get_account_transfers(&filter).map_err(|e| e.to_string())?;
                let ids: Vec<String> = found.iter().map(|t| t.id.to_string()).collect();
                Ok(Value::from(ids).to_string())
            }
            "get_account_balances" => {
                let filter = filter(object)?;
                let found = self.ledger.get_account_balances(&filter).map_err(|e| e.to_string())?;
                let rows: Vec<Value> = found
                    .iter()
                    .map(|b| {
                        json!({
                            "debits_pending": b.debits_pending.to_string(),
                            "debits_posted": b.debits_posted.to_string(),
                            "credits_pending": b.credits_pending.to_string(),
                            "credits_posted": b.credits_posted.to_string(),
                        })
                    })
                    .collect();
                Ok(Value::from(rows).to_string())
            }
            "advance" => {
                only(object, &["op", "seconds"])?;
                let seconds = object
                    .get("seconds")
                    .and_then(Value::as_u64)
                    .ok_or("\"seconds\" must be a whole number")?;
                let last = self.ledger.head().map_err(|e| e.to_string())?.timestamp_last_ns;
                let now = seconds
                    .checked_mul(NS_PER_S)
                    .and_then(|step| self.now_ns.max(last).checked_add(step))
                    .filter(|now| *now < TIMESTAMP_MAX_NS)
                    .ok_or("the clock would pass the largest timestamp")?;
                self.now_ns = now;
                self.ledger.expire(now).map_err(|e| e.to_string())?;
                Ok("null".to_owned())
            }
            other => Err(format!("unknown op {other:?}")),
        }
    }

    fn create_accounts(&mut self, batch: &[Account]) -> Result<Vec<&'static str>, String> {
        let results = self
            .ledger
            .create_accounts(batch, self.now_ns)
            .map_err(|e| e.to_string())?;
        Ok(results.into_iter().map(|r| r.status.name()).collect())
    }

    fn create_transfers(&mut self, batch: &[Transfer]) -> Result<Vec<&'static str>, String> {
        let results = self
            .ledger
            .create_transfers(batch, self.now_ns)
            .map_err(|e| e.to_string())?;
        Ok(results.into_iter().map(|r| r.status.name()).collect())
    }
}

fn only(object: &Map<String, Value>, allowed: &[&str]) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!("unknown field {key:?}")),
        None => Ok(()),
    }
}

fn list<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Vec<Value>, String> {
    object
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| format!("\"{name}\" must be a list"))
}

/// A u128 given as a decimal string (or, for convenience, a JSON number).
fn u128_field(object: &Map<String, Value>, name: &str) -> Result<u128, String> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(text)) => text
            .parse::<u128>()
            .map_err(|_| format!("\"{name}\" must be a decimal u128, got {text:?}")),
        Some(Value::Number(number)) => number
            .as_u64()
            .map(u128::from)
            .ok_or_else(|| format!("\"{name}\" must be a whole number")),
        Some(other) => Err(format!("\"{name}\" must be a decimal string, got {other}")),
    }
}

fn small_field<T: TryFrom<u128>>(object: &Map<String, Value>, name: &str) -> Result<T, String> {
    let value = u128_field(object, name)?;
    T::try_from(value).map_err(|_| format!("\"{name}\" is out of range: {value}"))
}

/// The flag bits: a list of names, or (to reach reserved bits) a number.
fn flag_bits(object: &Map<String, Value>, by_name: impl Fn(&str) -> Option<u16>) -> Result<u16, String> {
    match object.get("flags") {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Array(items)) => items.iter().try_fold(0u16, |bits, item| {
            let name = item.as_str().ok_or("flags are names (strings)")?;
            let bit = by_name(name).ok_or_else(|| format!("unknown flag {name:?}"))?;
            Ok(bits | bit)
        }),
        Some(Value::Number(number)) => number
            .as_u64()
            .and_then(|bits| u16::try_from(bits).ok())
            .ok_or_else(|| "numeric \"flags\" must fit in 16 bits".to_owned()),
        Some(_) => Err("\"flags\" must be a list of names".to_owned()),
    }
}

const ACCOUNT_FIELDS: &[&str] = &[
    "op",
    "id",
    "ledger",
    "code",
    "flags",
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "timestamp",
    "debits_pending",
    "debits_posted",
    "credits_pending",
    "credits_posted",
];

fn account(object: &Map<String, Value>, with_op: bool) -> Result<Account, String> {
    only(object, if with_op { ACCOUNT_FIELDS } else { &ACCOUNT_FIELDS[1..] })?;
    let flags = AccountFlags(flag_bits(object, |name| AccountFlags::from_name(name).map(|f| f.0))?);
    let mut account = Account::new(
        u128_field(object, "id")?,
        small_field(object, "ledger")?,
        small_field(object, "code")?,
    )
    .with_flags(flags);
    account.user_data_128 = u128_field(object, "user_data_128")?;
    account.user_data_64 = small_field(object, "user_data_64")?;
    account.user_data_32 = small_field(object, "user_data_32")?;
    account.timestamp = small_field(object, "timestamp")?;
    account.debits_pending = u128_field(object, "debits_pending")?;
    account.debits_posted = u128_field(object, "debits_posted")?;
    account.credits_pending = u128_field(object, "credits_pending")?;
    account.credits_posted = u128_field(object, "credits_posted")?;
    Ok(account)
}

/// A transfer as `lookup_transfer` answers it (timestamp left out: it is
/// the ledger's clock, not the request's).
fn transfer_json(t: &Transfer) -> Value {
    json!({
        "id": t.id.to_string(),
        "debit_account_id": t.debit_account_id.to_string(),
        "credit_account_id": t.credit_account_id.to_string(),
        "amount": t.amount.to_string(),
        "pending_id": t.pending_id.to_string(),
        "user_data_128": t.user_data_128.to_string(),
        "user_data_64": t.user_data_64.to_string(),
        "user_data_32": t.user_data_32,
        "timeout": t.timeout,
        "ledger": t.ledger,
        "code": t.code,
        "flags": t.flags.names(),
    })
}

const FILTER_FIELDS: &[&str] = &[
    "op",
    "account_id",
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "code",
    "timestamp_min",
    "timestamp_max",
    "limit",
    "flags",
];

fn filter(object: &Map<String, Value>) -> Result<AccountFilter, String> {
    only(object, FILTER_FIELDS)?;
    let mut filter = AccountFilter {
        account_id: u128_field(object, "account_id")?,
        user_data_128: u128_field(object, "user_data_128")?,
        user_data_64: small_field(object, "user_data_64")?,
        user_data_32: small_field(object, "user_data_32")?,
        code: small_field(object, "code")?,
        timestamp_min: small_field(object, "timestamp_min")?,
        timestamp_max: small_field(object, "timestamp_max")?,
        limit: small_field(object, "limit")?,
        flags: AccountFilterFlags::default(),
    };
    const DEBITS: u16 = 1;
    const CREDITS: u16 = 2;
    const REVERSED: u16 = 4;
    let bits = flag_bits(object, |name| match name {
        "debits" => Some(DEBITS),
        "credits" => Some(CREDITS),
        "reversed" => Some(REVERSED),
        _ => None,
    })?;
    filter.flags.debits = bits & DEBITS != 0;
    filter.flags.credits = bits & CREDITS != 0;
    filter.flags.reversed = bits & REVERSED != 0;
    Ok(filter)
}

const TRANSFER_FIELDS: &[&str] = &[
    "op",
    "id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "pending_id",
    "user_data_128",
    "user_data_64",
    "user_data_32",
    "timeout",
    "ledger",
    "code",
    "flags",
    "timestamp",
];

fn transfer(object: &Map<String, Value>, with_op: bool) -> Result<Transfer, String> {
    only(
        object,
        if with_op {
            TRANSFER_FIELDS
        } else {
            &TRANSFER_FIELDS[1..]
        },
    )?;
    let flags = TransferFlags(flag_bits(object, |name| TransferFlags::from_name(name).map(|f| f.0))?);
    Ok(Transfer {
        id: u128_field(object, "id")?,
        debit_account_id: u128_field(object, "debit_account_id")?,
        credit_account_id: u128_field(object, "credit_account_id")?,
        amount: u128_field(object, "amount")?,
        pending_id: u128_field(object, "pending_id")?,
        user_data_128: u128_field(object, "user_data_128")?,
        user_data_64: small_field(object, "user_data_64")?,
        user_data_32: small_field(object, "user_data_32")?,
        timeout: small_field(object, "timeout")?,
        ledger: small_field(object, "ledger")?,
        code: small_field(object, "code")?,
        flags,
        timestamp: small_field(object, "timestamp")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_store::MemStore;

    fn session() -> Session<MemStore> {
        Session::new(Ledger::new(MemStore::new()))
    }

    #[test]
    fn the_issues_example_lines_are_answered_in_the_issues_format() {
        let mut s = session();
        let lines = [
            (
                r#"{"op":"create_account","id":"1","ledger":1,"code":10,"flags":["debits_must_not_exceed_credits"]}"#,
                r#""created""#,
            ),
            (
                r#"{"op":"create_accounts","accounts":[{"id":"2","ledger":1,"code":10},{"id":"3","ledger":1,"code":10}]}"#,
                r#"["created","created"]"#,
            ),
            (
                r#"{"op":"create_transfer","id":"100","debit_account_id":"1","credit_account_id":"2","amount":"50","ledger":1,"code":1,"flags":["pending"],"pending_id":"0","timeout":0}"#,
                r#""exceeds_credits""#,
            ),
            (
                r#"{"op":"create_transfers","transfers":[{"id":"101","debit_account_id":"2","credit_account_id":"1","amount":"50","ledger":1,"code":1},{"id":"0","debit_account_id":"2","credit_account_id":"1","amount":"1","ledger":1,"code":1}]}"#,
                r#"["created","id_must_not_be_zero"]"#,
            ),
            (
                r#"{"op":"lookup_account","id":"1"}"#,
                r#"{"debits_pending":"0","debits_posted":"0","credits_pending":"0","credits_posted":"50"}"#,
            ),
            (r#"{"op":"lookup_account","id":"9"}"#, "null"),
            (r#"{"op":"advance","seconds":5}"#, "null"),
        ];
        for (line, expected) in lines {
            assert_eq!(s.handle_line(line), expected, "{line}");
        }
    }

    #[test]
    fn malformed_lines_get_an_error_and_the_session_goes_on() {
        let mut s = session();
        for line in [
            "",
            "[]",
            "{}",
            r#"{"op":"fly"}"#,
            r#"{"op":"create_account","id":1.5,"ledger":1,"code":1}"#,
            r#"{"op":"create_account","id":"-1","ledger":1,"code":1}"#,
            r#"{"op":"create_account","id":"1","ledger":4294967296,"code":1}"#,
            r#"{"op":"create_account","id":"1","ledger":1,"code":1,"flags":["wings"]}"#,
            r#"{"op":"create_account","id":"1","ledger":1,"code":1,"colour":"red"}"#,
            r#"{"op":"create_transfers","transfers":{}}"#,
            r#"{"op":"advance","seconds":-1}"#,
        ] {
            let answer = s.handle_line(line);
            let value: Value = serde_json::from_str(&answer).expect("JSON");
            assert!(value.get("error").is_some(), "{line} -> {answer}");
        }
        assert_eq!(
            s.handle_line(r#"{"op":"create_account","id":"1","ledger":1,"code":1}"#),
            r#""created""#
        );
    }
}
