//! pg-machinomy's JSON inputs: state updates and channel events, parsed with
//! errors that say which field was wrong and how.
//!
//! Amounts must be **decimal strings** (`"123"`); a JSON number, a negative,
//! an exponent form or a value of 2^256 or more is `invalid_amount`.
//! Addresses and hashes are hex with or without `0x`; chain ids and block
//! numbers are non-negative JSON integers. Unknown top-level fields are
//! refused, so a misspelt field is not silently ignored.
//!
//! # Reason codes
//!
//! Every [`InputError`] maps to two codes, from this one table:
//! [`InputError::reason`] is pg-machinomy's vocabulary (what
//! [`ChannelBook`](crate::ChannelBook)'s JSON entry points report) and
//! [`InputError::code`] the finer one `channel-verify` prints
//! ([`crate::verify`]). A code always refines its reason.
//!
//! | input | `reason()` | `code()` |
//! |---|---|---|
//! | an amount that is not a decimal string below 2^256 | `invalid_amount` | `invalid_amount` |
//! | a signature of hex digits that is not 65 bytes | `signature_invalid` | `bad_signature_length` |
//! | a signature that is not hex | `invalid_input` | `invalid_input` |
//! | anything else (not JSON, a missing, unknown or malformed field) | `invalid_input` | `invalid_input` |
//!
//! ```
//! use tally_channel::json::parse_state_update;
//!
//! let update = parse_state_update(r#"{
//!     "chain_id": 1,
//!     "contract_id": "08e4f70109ccc5135f50cc359d24cb7686247df4",
//!     "channel_id": "0x6c0e2e1a5b4d4b5e8f1a2b3c4d5e6f7000000000000000000000000000000000",
//!     "amount": "1000",
//!     "signature": "0x0000000000000000000000000000000000000000000000000000000000000001000000000000000000000000000000000000000000000000000000000000000101",
//!     "sender": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
//! }"#, 1_700_000_000_000)?;
//! assert_eq!(update.amount_wei, 1000u64.into());
//!
//! let error = parse_state_update(r#"{"chain_id": 1, "amount": 1000}"#, 0).unwrap_err();
//! assert_eq!(error.reason(), "invalid_amount");
//! # Ok::<(), tally_channel::json::InputError>(())
//! ```

use primitive_types::U256;
use serde_json::{Map, Value};

use crate::channel::{ChannelEvent, EventFields, EventType, LogPosition};
use crate::signature::SignatureError;
use crate::types::{Address, AmountError, BlockHash, ChainId, ChannelId, HexError, Signature, TxHash, parse_wei};
use crate::update::StateUpdate;

/// The largest JSON document accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;

/// A JSON input that is not a valid state update or event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Not JSON, not an object, or larger than [`MAX_JSON_BYTES`].
    #[error("not a JSON object: {0}")]
    NotAnObject(String),
    /// A required field is absent (or `null`).
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field this input does not have.
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// A field has the wrong type or form.
    #[error("field {field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An amount that is not a decimal string below 2^256.
    #[error("field {field}: {error}")]
    InvalidAmount {
        /// The field.
        field: &'static str,
        /// Which amount rule it broke.
        error: AmountError,
    },
    /// The signature is not hex or not 65 bytes.
    #[error("field signature: {0}")]
    Signature(SignatureError),
}

impl InputError {
    /// The reason code in pg-machinomy's vocabulary, as the book reports it:
    /// `invalid_amount`, `signature_invalid` or `invalid_input` (see
    /// [reason codes](self#reason-codes)).
    pub fn reason(&self) -> &'static str {
        self.codes().0
    }

    /// The finer code `channel-verify` prints (see [`crate::verify`]):
    /// [`reason`](InputError::reason) refined, for a signature, to its
    /// [`SignatureError::code`] (see [reason codes](self#reason-codes)).
    pub fn code(&self) -> &'static str {
        self.codes().1
    }

    /// The one mapping behind [`reason`](InputError::reason) and
    /// [`code`](InputError::code): `(reason, code)`.
    fn codes(&self) -> (&'static str, &'static str) {
        match self {
            InputError::InvalidAmount { .. } => ("invalid_amount", "invalid_amount"),
            InputError::Signature(error) => match error.code() {
                // Text that is not hex is not a signature at all, like any
                // other malformed hex field.
                "invalid_input" => ("invalid_input", "invalid_input"),
                // Bytes the contract would refuse (ECRecovery returns
                // address 0 for a wrong length).
                code => ("signature_invalid", code),
            },
            _ => ("invalid_input", "invalid_input"),
        }
    }
}

/// A JSON object being read field by field.
pub(crate) struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    pub(crate) fn parse(text: &str) -> Result<Fields, InputError> {
        if text.len() > MAX_JSON_BYTES {
            return Err(InputError::NotAnObject(format!(
                "{} bytes, the limit is {MAX_JSON_BYTES}",
                text.len()
            )));
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Fields { map }),
            Ok(_) => Err(InputError::NotAnObject("not an object".to_owned())),
            Err(error) => Err(InputError::NotAnObject(error.to_string())),
        }
    }

    fn from_map(map: Map<String, Value>) -> Fields {
        Fields { map }
    }

    /// Removes and returns a field; `null` counts as absent.
    fn take(&mut self, names: &[&'static str]) -> Option<(&'static str, Value)> {
        for name in names {
            if let Some(value) = self.map.remove(*name)
                && !value.is_null()
            {
                return Some((name, value));
            }
        }
        None
    }

    pub(crate) fn finish(self) -> Result<(), InputError> {
        match self.map.into_iter().next() {
            Some((name, _)) => Err(InputError::UnknownField(name)),
            None => Ok(()),
        }
    }

    pub(crate) fn ignore(&mut self, name: &str) {
        self.map.remove(name);
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<Option<String>, InputError> {
        match self.take(&[name]) {
            None => Ok(None),
            Some((_, Value::String(text))) => Ok(Some(text)),
            Some((field, other)) => Err(InputError::InvalidField {
                field,
                reason: format!("expected a string, got {}", kind(&other)),
            }),
        }
    }

    fn required_string(&mut self, name: &'static str) -> Result<String, InputError> {
        self.string(name)?.ok_or(InputError::MissingField(name))
    }

    pub(crate) fn u64(&mut self, name: &'static str) -> Result<Option<u64>, InputError> {
        match self.take(&[name]) {
            None => Ok(None),
            Some((field, Value::Number(number))) => number.as_u64().map(Some).ok_or(InputError::InvalidField {
                field,
                reason: format!("expected a non-negative integer below 2^64, got {number}"),
            }),
            Some((field, other)) => Err(InputError::InvalidField {
                field,
                reason: format!("expected an integer, got {}", kind(&other)),
            }),
        }
    }

    fn required_u64(&mut self, name: &'static str) -> Result<u64, InputError> {
        self.u64(name)?.ok_or(InputError::MissingField(name))
    }

    pub(crate) fn required_chain_id(&mut self) -> Result<ChainId, InputError> {
        self.required_u64("chain_id").map(ChainId)
    }

    pub(crate) fn address(&mut self, names: &[&'static str]) -> Result<Option<Address>, InputError> {
        match self.take(names) {
            None => Ok(None),
            Some((field, Value::String(text))) => {
                text.parse()
                    .map(Some)
                    .map_err(|error: HexError| InputError::InvalidField {
                        field,
                        reason: error.to_string(),
                    })
            }
            Some((field, other)) => Err(InputError::InvalidField {
                field,
                reason: format!("expected a hex string, got {}", kind(&other)),
            }),
        }
    }

    pub(crate) fn required_address(&mut self, name: &'static str) -> Result<Address, InputError> {
        self.address(&[name])?.ok_or(InputError::MissingField(name))
    }

    pub(crate) fn required_channel_id(&mut self) -> Result<ChannelId, InputError> {
        let text = self.required_string("channel_id")?;
        text.parse().map_err(|error: HexError| InputError::InvalidField {
            field: "channel_id",
            reason: error.to_string(),
        })
    }

    /// A hex field parsed as `T` (a hash).
    fn hex<T: std::str::FromStr<Err = HexError>>(&mut self, name: &'static str) -> Result<Option<T>, InputError> {
        match self.string(name)? {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|error: HexError| InputError::InvalidField {
                    field: name,
                    reason: error.to_string(),
                }),
        }
    }

    /// `tx_hash` and `log_index`: both or neither.
    fn log_position(&mut self) -> Result<Option<LogPosition>, InputError> {
        match (self.hex::<TxHash>("tx_hash")?, self.u64("log_index")?) {
            (Some(tx_hash), Some(log_index)) => Ok(Some(LogPosition { tx_hash, log_index })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(InputError::MissingField("log_index")),
            (None, Some(_)) => Err(InputError::MissingField("tx_hash")),
        }
    }

    pub(crate) fn amount(&mut self, names: &[&'static str]) -> Result<Option<U256>, InputError> {
        match self.take(names) {
            None => Ok(None),
            Some((field, Value::String(text))) => parse_wei(&text)
                .map(Some)
                .map_err(|error| InputError::InvalidAmount { field, error }),
            Some((field, Value::Number(number))) => Err(InputError::InvalidAmount {
                field,
                error: if number.as_f64().is_some_and(|n| n < 0.0) {
                    AmountError::Negative
                } else {
                    AmountError::NotAString
                },
            }),
            Some((field, other)) => Err(InputError::InvalidField {
                field,
                reason: format!("expected a decimal string, got {}", kind(&other)),
            }),
        }
    }

    pub(crate) fn required_amount(&mut self, name: &'static str) -> Result<U256, InputError> {
        self.amount(&[name])?.ok_or(InputError::MissingField(name))
    }

    pub(crate) fn required_signature(&mut self) -> Result<Signature, InputError> {
        let text = self.required_string("signature")?;
        Signature::from_hex(&text).map_err(InputError::Signature)
    }

    fn object(&mut self, name: &'static str) -> Result<Option<Fields>, InputError> {
        match self.take(&[name]) {
            None => Ok(None),
            Some((_, Value::Object(map))) => Ok(Some(Fields::from_map(map))),
            Some((field, other)) => Err(InputError::InvalidField {
                field,
                reason: format!("expected an object, got {}", kind(&other)),
            }),
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a state update: `chain_id`, `contract_id`, `channel_id`,
/// `amount` (decimal string), `signature`, `sender`, and optionally `ts`
/// (milliseconds; `default_ts_ms` when absent).
///
/// # Errors
/// [`InputError`]; [`InputError::reason`] gives the reason code.
pub fn parse_state_update(text: &str, default_ts_ms: u64) -> Result<StateUpdate, InputError> {
    let mut fields = Fields::parse(text)?;
    // Amount first: pg-machinomy refused non-string wei before anything else.
    let amount_wei = fields.required_amount("amount")?;
    let chain_id = fields.required_chain_id()?;
    let contract_id = fields.required_address("contract_id")?;
    let channel_id = fields.required_channel_id()?;
    let signature = fields.required_signature()?;
    let sender = fields.required_address("sender")?;
    let ts_ms = fields.u64("ts")?.unwrap_or(default_ts_ms);
    fields.finish()?;
    Ok(StateUpdate {
        chain_id,
        contract_id,
        channel_id,
        ts_ms,
        amount_wei,
        signature,
        sender,
    })
}

/// Parses a channel event or intent: `chain_id`, `contract_id`,
/// `channel_id`, `ts` (milliseconds), `block_number`, `block_hash` (absent
/// or `null` for an intent), optional `tx_hash` and `log_index` (the log's
/// position: both or neither, never for an intent; see
/// [`LogPosition`]), optional `sender`, `event_type` (the contract's event
/// name) and `fields`. Event fields are read in
/// snake_case or as the contract names them (`deposit`, `settlementPeriod`,
/// `oddValue`, `tokenContract`); a `channelId` field is ignored;
/// `block_is_valid` is ignored, as on insert in pg-machinomy.
///
/// # Errors
/// [`InputError`]; [`InputError::reason`] gives the reason code.
pub fn parse_channel_event(text: &str) -> Result<ChannelEvent, InputError> {
    let mut fields = Fields::parse(text)?;
    let chain_id = fields.required_chain_id()?;
    let contract_id = fields.required_address("contract_id")?;
    let channel_id = fields.required_channel_id()?;
    let ts_ms = fields.required_u64("ts")?;
    let block_number = fields.required_u64("block_number")?;
    let block_hash = fields.hex::<BlockHash>("block_hash")?;
    let log = fields.log_position()?;
    if block_hash.is_none() && log.is_some() {
        return Err(InputError::InvalidField {
            field: "tx_hash",
            reason: "an intent (no block_hash) has no log position".to_owned(),
        });
    }
    let sender = fields.address(&["sender"])?;
    let name = fields.required_string("event_type")?;
    let event_type = EventType::from_name(&name).ok_or_else(|| InputError::InvalidField {
        field: "event_type",
        reason: format!("invalid event type: {name}"),
    })?;
    let event_fields = match fields.object("fields")? {
        Some(inner) => parse_event_fields(inner)?,
        None => EventFields::default(),
    };
    fields.ignore("block_is_valid");
    fields.finish()?;
    Ok(ChannelEvent {
        chain_id,
        contract_id,
        channel_id,
        ts_ms,
        block_number,
        block_hash,
        block_is_valid: true,
        sender,
        event_type,
        fields: event_fields,
        log,
    })
}

fn parse_event_fields(mut inner: Fields) -> Result<EventFields, InputError> {
    let parsed = EventFields {
        sender: inner.address(&["sender"])?,
        receiver: inner.address(&["receiver"])?,
        value_wei: inner.amount(&["value", "deposit"])?,
        settlement_period_s: match inner.u64("settlement_period")? {
            Some(period) => Some(period),
            None => inner.u64("settlementPeriod")?,
        },
        until_s: inner.u64("until")?,
        payment_wei: inner.amount(&["payment"])?,
        odd_value_wei: inner.amount(&["odd_value", "oddValue"])?,
        token_contract: inner.address(&["token_contract", "tokenContract"])?,
    };
    inner.ignore("channelId");
    inner.ignore("channel_id");
    inner.finish()?;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATE: &str = r#"{"chain_id":1,"contract_id":"0x08e4f70109ccc5135f50cc359d24cb7686247df4",
        "channel_id":"0x6c0e2e1a5b4d4b5e8f1a2b3c4d5e6f7000000000000000000000000000000000",
        "amount":"AMOUNT","signature":"0xSIG","sender":"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}"#;

    fn update(amount: &str, signature: &str) -> Result<StateUpdate, InputError> {
        parse_state_update(&UPDATE.replace("AMOUNT", amount).replace("SIG", signature), 5)
    }

    #[test]
    fn amounts_must_be_decimal_strings() {
        let sig = "11".repeat(65);
        assert_eq!(update("12", &sig).unwrap().amount_wei, U256::from(12));
        for bad in ["-1", "1e21", "1.5", "0x10", ""] {
            assert_eq!(update(bad, &sig).unwrap_err().reason(), "invalid_amount", "{bad}");
        }
        let numeric = UPDATE.replace("\"AMOUNT\"", "12").replace("SIG", &sig);
        assert_eq!(
            parse_state_update(&numeric, 0).unwrap_err(),
            InputError::InvalidAmount {
                field: "amount",
                error: AmountError::NotAString
            }
        );
    }

    #[test]
    fn malformed_signatures_and_fields_are_typed() {
        assert_eq!(
            update("1", &"11".repeat(64)).unwrap_err(),
            InputError::Signature(SignatureError::BadLength { length_bytes: 64 })
        );
        let extra = UPDATE
            .replace("\"amount\"", "\"extra\":1,\"amount\"")
            .replace("AMOUNT", "1")
            .replace("SIG", &"11".repeat(65));
        assert_eq!(
            parse_state_update(&extra, 0).unwrap_err(),
            InputError::UnknownField("extra".into())
        );
        assert_eq!(parse_state_update("[1]", 0).unwrap_err().reason(), "invalid_input");
    }

    #[test]
    fn one_reason_table_serves_the_book_and_channel_verify() {
        let verify_line = |signature: &str, amount: &str| {
            crate::verify::verify_line(&format!(
                r#"{{"scheme":"unidirectional","chain_id":1,
                "contract_address":"0x08e4f70109ccc5135f50cc359d24cb7686247df4",
                "channel_id":"0x6c0e2e1a5b4d4b5e8f1a2b3c4d5e6f7000000000000000000000000000000000",
                "amount":"{amount}","signature":"{signature}",
                "channel_sender":"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}}"#
            ))
            .reason
        };
        // (signature, amount) -> (reason, code)
        let cases = [
            ("zz".repeat(65), "1", ("invalid_input", "invalid_input")),
            ("11".repeat(64), "1", ("signature_invalid", "bad_signature_length")),
            ("11".repeat(65), "-1", ("invalid_amount", "invalid_amount")),
        ];
        for (signature, amount, (reason, code)) in cases {
            let error = update(amount, &signature).unwrap_err();
            assert_eq!((error.reason(), error.code()), (reason, code), "{signature} {amount}");
            assert_eq!(verify_line(&signature, amount), Some(code), "channel-verify agrees");
        }
        let not_json = parse_state_update("{", 0).unwrap_err();
        assert_eq!((not_json.reason(), not_json.code()), ("invalid_input", "invalid_input"));
        // A code refines its reason, whatever signature error it wraps.
        for error in [
            SignatureError::NotHex,
            SignatureError::BadLength { length_bytes: 3 },
            SignatureError::HighS,
            SignatureError::MissingTokenContract,
        ] {
            let input = InputError::Signature(error.clone());
            assert_eq!(input.code(), error.code());
            let expected = if error.code() == "invalid_input" {
                "invalid_input"
            } else {
                "signature_invalid"
            };
            assert_eq!(input.reason(), expected, "{error:?}");
        }
    }

    const EVENT: &str = r#"{"chain_id":1,"contract_id":"0x08e4f70109ccc5135f50cc359d24cb7686247df4",
        "channel_id":"0x6c0e2e1a5b4d4b5e8f1a2b3c4d5e6f7000000000000000000000000000000000",
        "ts":10,"block_number":5,"block_hash":"0x0505050505050505050505050505050505050505050505050505050505050505",
        LOG"event_type":"DidDeposit","fields":{"deposit":"7"}}"#;

    #[test]
    fn events_carry_their_log_position_both_parts_or_neither() {
        let tx = "0x1111111111111111111111111111111111111111111111111111111111111111";
        let event = parse_channel_event(&EVENT.replace("LOG", &format!(r#""tx_hash":"{tx}","log_index":3,"#))).unwrap();
        assert_eq!(
            event.log,
            Some(LogPosition {
                tx_hash: tx.parse().unwrap(),
                log_index: 3
            })
        );
        assert_eq!(parse_channel_event(&EVENT.replace("LOG", "")).unwrap().log, None);
        assert_eq!(
            parse_channel_event(&EVENT.replace("LOG", r#""log_index":3,"#)).unwrap_err(),
            InputError::MissingField("tx_hash")
        );
        assert_eq!(
            parse_channel_event(&EVENT.replace("LOG", &format!(r#""tx_hash":"{tx}","#))).unwrap_err(),
            InputError::MissingField("log_index")
        );
        assert!(matches!(
            parse_channel_event(&EVENT.replace("LOG", r#""tx_hash":"0x12","log_index":3,"#)),
            Err(InputError::InvalidField { field: "tx_hash", .. })
        ));
        let intent = EVENT
            .replace(
                "\"0x0505050505050505050505050505050505050505050505050505050505050505\"",
                "null",
            )
            .replace("LOG", &format!(r#""tx_hash":"{tx}","log_index":3,"#));
        assert!(matches!(
            parse_channel_event(&intent),
            Err(InputError::InvalidField { field: "tx_hash", .. })
        ));
    }

    #[test]
    fn parses_events_with_contract_field_names() {
        let event = parse_channel_event(
            r#"{"chain_id":1,"contract_id":"0x08e4f70109ccc5135f50cc359d24cb7686247df4",
            "channel_id":"0x6c0e2e1a5b4d4b5e8f1a2b3c4d5e6f7000000000000000000000000000000000",
            "ts":10,"block_number":5,"block_hash":null,"event_type":"DidDeposit",
            "fields":{"channelId":"x","deposit":"7"}}"#,
        )
        .unwrap();
        assert!(event.is_intent());
        assert_eq!(event.fields.value_wei, Some(U256::from(7)));
        let bad = parse_channel_event(
            r#"{"chain_id":1,"contract_id":"0x08e4f70109ccc5135f50cc359d24cb7686247df4","channel_id":"0x6c0e2e1a5b4d4b5e8f1a2b3c4d5e6f7000000000000000000000000000000000","ts":1,"block_number":1,"event_type":"DidExplode"}"#,
        );
        assert!(matches!(
            bad,
            Err(InputError::InvalidField {
                field: "event_type",
                ..
            })
        ));
    }
}
