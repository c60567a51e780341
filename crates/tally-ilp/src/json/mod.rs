//! Packets as JSON, in the shape of the JavaScript reference packages
//! (feature `json`).
//!
//! Each family has a module with `to_json` (a packet, view or owned, to a
//! [`serde_json::Value`]) and `from_json` (a value to an owned packet):
//! [`ilp4`], [`legacy`], [`clp`], [`btp2`]. [`decode_to_json`] and
//! [`encode_from_json`] go all the way between wire bytes and JSON for a
//! [`Family`] chosen at run time.
//!
//! The shape is the one `ilp-packet` and `btp-packet` produce, and the test
//! vectors (made by those packages) pin it:
//!
//! - a packet is an object `{"type": NAME, ...fields}`; NAME is the
//!   JavaScript type name (`prepare`, `ilqp_liquidity_response`, ...);
//! - field names are the JavaScript packages' own (`expiresAt`,
//!   `executionCondition`, `protocolData`, ...);
//! - byte fields (`data`, conditions, fulfillments, `liquidityCurve`,
//!   `rejectionReason`, a protocolData entry's `data`) are lowercase hex
//!   (either case is read);
//! - u64 amounts are decimal strings (a JSON number is also read); u32
//!   fields (`requestId`, hold durations) and `contentType` are numbers;
//! - times are ISO-8601 UTC with milliseconds (`2017-09-14T12:34:56.789Z`),
//!   `transferId` is UUID text;
//! - addresses, codes, names and messages are strings; bytes that are not
//!   UTF-8 are shown with U+FFFD, so such a packet does not come back from
//!   its JSON byte for byte. Strict decoding refuses them in the text fields
//!   it checks (an ILPv4 Reject's message, for one), but legacy packets'
//!   addresses are never validated, as the legacy decoders did not
//!   validate them (see [`crate::legacy`]).
//!
//! `from_json` checks the JSON shape only; the packet rules (addresses,
//! lengths, codes) are checked by [`Encode::encode`], as for any packet
//! built in code.
//!
//! ```
//! use tally_ilp::json::{self, Family};
//! use tally_ilp::Mode;
//!
//! let wire = hex::decode("07000000070affffffffffffffff0100")?;
//! let value = json::decode_to_json(Family::Btp2, &wire, Mode::Strict)?;
//! assert_eq!(
//!     value.to_string(),
//!     r#"{"amount":"18446744073709551615","protocolData":[],"requestId":7,"type":"transfer"}"#,
//! );
//! assert_eq!(json::encode_from_json(Family::Btp2, &value)?, wire);
//!
//! // A field of the wrong shape is a typed error that names the field.
//! let bad = serde_json::json!({"type": "fulfill", "fulfillment": "00", "data": ""});
//! let error = json::ilp4::from_json(&bad).unwrap_err();
//! assert!(matches!(
//!     error,
//!     json::JsonError::WrongLength { field: json::Field::Member("fulfillment"), expected_bytes: 32, found_bytes: 1 }
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::{DecodeError, Encode, EncodeError, ErrorCode, Mode, ProtocolData, ProtocolDataEntry, Timestamp};

/// The `serde_json` crate this module's API is built on, re-exported so
/// callers match its version.
pub use serde_json;

pub mod btp2;
pub mod clp;
pub mod ilp4;
pub mod legacy;

/// A packet family, for [`decode_to_json`] and [`encode_from_json`].
///
/// Its text form (`Display`, `FromStr`) is the family's module name:
/// `ilp4`, `legacy`, `clp`, `btp2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// ILPv4 ([`crate::ilp4`]).
    Ilp4,
    /// Legacy ILP/ILQP ([`crate::legacy`]).
    Legacy,
    /// CLP, BTP alpha ([`crate::clp`]).
    Clp,
    /// BTP 2.0 ([`crate::btp2`]).
    Btp2,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 4] = [Family::Ilp4, Family::Legacy, Family::Clp, Family::Btp2];

    /// `ilp4`, `legacy`, `clp` or `btp2`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ilp4 => "ilp4",
            Family::Legacy => "legacy",
            Family::Clp => "clp",
            Family::Btp2 => "btp2",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Family {
    type Err = JsonError;

    /// Parses a family name; anything else is [`JsonError::UnknownFamily`].
    fn from_str(name: &str) -> Result<Self, JsonError> {
        Family::ALL
            .into_iter()
            .find(|family| family.name() == name)
            .ok_or_else(|| JsonError::UnknownFamily { name: name.to_string() })
    }
}

/// Decodes `bytes` as a packet of `family` and returns its JSON shape.
///
/// # Errors
///
/// [`JsonError::Decode`] when the bytes are not a packet of that family in
/// that mode.
pub fn decode_to_json(family: Family, bytes: &[u8], mode: Mode) -> Result<Value, JsonError> {
    Ok(match family {
        Family::Ilp4 => ilp4::to_json(&crate::ilp4::Packet::decode(bytes, mode)?),
        Family::Legacy => legacy::to_json(&crate::legacy::Packet::decode(bytes, mode)?),
        Family::Clp => clp::to_json(&crate::clp::Packet::decode(bytes, mode)?),
        Family::Btp2 => btp2::to_json(&crate::btp2::Packet::decode(bytes, mode)?),
    })
}

/// Reads the JSON shape of a `family` packet and encodes it.
///
/// # Errors
///
/// A [`JsonError`] naming the field when the value is not the JSON shape of
/// a packet of that family, or [`JsonError::Encode`] when the packet breaks
/// a packet rule (an invalid address, ILPv4 data too long, ...).
pub fn encode_from_json(family: Family, value: &Value) -> Result<Bytes, JsonError> {
    let encoded = match family {
        Family::Ilp4 => ilp4::from_json(value)?.encode(),
        Family::Legacy => legacy::from_json(value)?.encode(),
        Family::Clp => clp::from_json(value)?.encode(),
        Family::Btp2 => btp2::from_json(value)?.encode(),
    };
    Ok(encoded?)
}

/// Where in a packet's JSON object a problem was found.
///
/// `Display` writes it as a path: `amount`, `forwardedBy[1]`,
/// `protocolData[0].contentType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A member of the packet object.
    Member(&'static str),
    /// An entry (0-based) of a list member.
    Entry(&'static str, usize),
    /// A member of an entry of a list member: `(list, index, member)`.
    EntryMember(&'static str, usize, &'static str),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Member(name) => f.write_str(name),
            Field::Entry(list, index) => write!(f, "{list}[{index}]"),
            Field::EntryMember(list, index, name) => write!(f, "{list}[{index}].{name}"),
        }
    }
}

/// A JSON value is not a packet of the family asked for, or the packet it
/// describes cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// A family name other than `ilp4`, `legacy`, `clp`, `btp2`.
    #[error("unknown family {name:?}")]
    UnknownFamily {
        /// The name given.
        name: String,
    },
    /// The value is not a JSON object.
    #[error("expected a JSON object")]
    NotAnObject,
    /// The `type` member names no packet type of the family.
    #[error("unknown {family} packet type {type_name:?}")]
    UnknownType {
        /// The family asked for.
        family: Family,
        /// The `type` given.
        type_name: String,
    },
    /// A member the packet type needs is absent.
    #[error("missing field {field}")]
    MissingField {
        /// The member.
        field: Field,
    },
    /// A member of the wrong JSON type (a number where a string belongs, ...).
    #[error("field {field} must be {expected}")]
    WrongType {
        /// The member.
        field: Field,
        /// What it must be: `a string`, `an array`, `an object`.
        expected: &'static str,
    },
    /// A hex field with an odd number of digits.
    #[error("field {field}: hex has an odd number of digits")]
    OddHexLength {
        /// The member.
        field: Field,
    },
    /// A hex field with a character that is not a hex digit.
    #[error("field {field}: invalid hex digit at {index}")]
    InvalidHexDigit {
        /// The member.
        field: Field,
        /// The character's index in the string.
        index: usize,
    },
    /// A fixed-size field (condition, fulfillment, error code) of another size.
    #[error("field {field} must be {expected_bytes} bytes, not {found_bytes}")]
    WrongLength {
        /// The member.
        field: Field,
        /// Its size.
        expected_bytes: usize,
        /// The size given.
        found_bytes: usize,
    },
    /// An integer field that is not an integer of its width (a u64 amount
    /// is also read from a decimal string).
    #[error("field {field} is not a u{bits}")]
    NotAnInteger {
        /// The member.
        field: Field,
        /// Its width in bits: 64, 32 or 8.
        bits: u32,
    },
    /// A time that is not ISO-8601 UTC with milliseconds.
    #[error("field {field} is not YYYY-MM-DDTHH:mm:SS.fffZ")]
    InvalidTime {
        /// The member.
        field: Field,
    },
    /// A `transferId` that is not a UUID (32 hex digits, dashes anywhere).
    #[error("field {field} is not a UUID")]
    InvalidUuid {
        /// The member.
        field: Field,
    },
    /// A `liquidityCurve` whose length is not a whole number of points.
    #[error(
        "field liquidityCurve must be a multiple of {} bytes, not {len_bytes}",
        crate::legacy::LIQUIDITY_POINT_BYTES
    )]
    LiquidityCurveLength {
        /// Its length in bytes.
        len_bytes: usize,
    },
    /// The bytes are not a packet of the family ([`decode_to_json`]).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The packet breaks a packet rule ([`encode_from_json`]).
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

// ---------------------------------------------------------------------------
// Writing: packet fields to JSON values.
// ---------------------------------------------------------------------------

/// A text field; invalid UTF-8 shows as U+FFFD.
fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

fn hex(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

fn amount(value: u64) -> Value {
    Value::String(value.to_string())
}

fn time(t: Timestamp) -> Value {
    Value::String(t.to_string())
}

fn code(code: ErrorCode) -> Value {
    text(&code.0)
}

fn uuid(id: &[u8; 16]) -> Value {
    let h = hex::encode(id);
    Value::String(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

fn protocol_data<B: AsRef<[u8]>>(list: &ProtocolData<B>) -> Value {
    Value::Array(
        list.iter()
            .map(|entry| {
                object_of(vec![
                    ("protocolName", text(entry.protocol_name)),
                    ("contentType", Value::from(entry.content_type)),
                    ("data", hex(entry.data)),
                ])
            })
            .collect(),
    )
}

fn object_of(fields: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (key, value) in fields {
        map.insert(key.into(), value);
    }
    Value::Object(map)
}

/// `{"type": type_name, ...fields}`.
fn object(type_name: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut all = Vec::with_capacity(fields.len() + 1);
    all.push(("type", Value::String(type_name.into())));
    all.extend(fields);
    object_of(all)
}

/// The fields of a CLP or BTP 2.0 packet: `requestId`, its own, `protocolData`.
fn request<'a, B: AsRef<[u8]>>(
    request_id: u32,
    list: &ProtocolData<B>,
    mut fields: Vec<(&'a str, Value)>,
) -> Vec<(&'a str, Value)> {
    fields.insert(0, ("requestId", Value::from(request_id)));
    fields.push(("protocolData", protocol_data(list)));
    fields
}

// ---------------------------------------------------------------------------
// Reading: JSON values to packet fields.
// ---------------------------------------------------------------------------

/// The members of one JSON object: the packet, or an entry of one of its
/// lists (`entry` = the list and the index, for errors).
struct Fields<'v> {
    map: &'v Map<String, Value>,
    entry: Option<(&'static str, usize)>,
}

/// The members of the packet object and its `type`.
fn packet_object(value: &Value) -> Result<(Fields<'_>, &str), JsonError> {
    let map = value.as_object().ok_or(JsonError::NotAnObject)?;
    let fields = Fields { map, entry: None };
    let type_name = fields.str("type")?;
    Ok((fields, type_name))
}

fn unknown_type(family: Family, type_name: &str) -> JsonError {
    JsonError::UnknownType {
        family,
        type_name: type_name.to_string(),
    }
}

/// Parses hex (either case).
fn parse_hex(field: Field, text: &str) -> Result<Vec<u8>, JsonError> {
    hex::decode(text).map_err(|error| match error {
        hex::FromHexError::InvalidHexCharacter { index, .. } => JsonError::InvalidHexDigit { field, index },
        hex::FromHexError::OddLength | hex::FromHexError::InvalidStringLength => JsonError::OddHexLength { field },
    })
}

impl<'v> Fields<'v> {
    /// Names member `key` of this object for an error.
    fn at(&self, key: &'static str) -> Field {
        match self.entry {
            None => Field::Member(key),
            Some((list, index)) => Field::EntryMember(list, index, key),
        }
    }

    fn get(&self, key: &'static str) -> Result<&'v Value, JsonError> {
        self.map.get(key).ok_or(JsonError::MissingField { field: self.at(key) })
    }

    fn str(&self, key: &'static str) -> Result<&'v str, JsonError> {
        self.get(key)?.as_str().ok_or(JsonError::WrongType {
            field: self.at(key),
            expected: "a string",
        })
    }

    fn array(&self, key: &'static str) -> Result<&'v Vec<Value>, JsonError> {
        self.get(key)?.as_array().ok_or(JsonError::WrongType {
            field: self.at(key),
            expected: "an array",
        })
    }

    /// A text field, as its UTF-8 bytes.
    fn bytes(&self, key: &'static str) -> Result<Bytes, JsonError> {
        Ok(Bytes::copy_from_slice(self.str(key)?.as_bytes()))
    }

    fn hex(&self, key: &'static str) -> Result<Bytes, JsonError> {
        parse_hex(self.at(key), self.str(key)?).map(Bytes::from)
    }

    fn hex_array<const N: usize>(&self, key: &'static str) -> Result<[u8; N], JsonError> {
        let bytes = parse_hex(self.at(key), self.str(key)?)?;
        let found_bytes = bytes.len();
        bytes.try_into().map_err(|_| JsonError::WrongLength {
            field: self.at(key),
            expected_bytes: N,
            found_bytes,
        })
    }

    fn u64(&self, key: &'static str) -> Result<u64, JsonError> {
        let value = match self.get(key)? {
            Value::String(s) => s.parse().ok(),
            other => other.as_u64(),
        };
        value.ok_or(JsonError::NotAnInteger {
            field: self.at(key),
            bits: 64,
        })
    }

    fn u32(&self, key: &'static str) -> Result<u32, JsonError> {
        u32::try_from(self.u64(key)?).map_err(|_| JsonError::NotAnInteger {
            field: self.at(key),
            bits: 32,
        })
    }

    fn time(&self, key: &'static str) -> Result<Timestamp, JsonError> {
        Timestamp::parse_iso8601(self.str(key)?).ok_or(JsonError::InvalidTime { field: self.at(key) })
    }

    fn code(&self, key: &'static str) -> Result<ErrorCode, JsonError> {
        let text = self.str(key)?.as_bytes();
        let code: [u8; 3] = text.try_into().map_err(|_| JsonError::WrongLength {
            field: self.at(key),
            expected_bytes: 3,
            found_bytes: text.len(),
        })?;
        Ok(ErrorCode(code))
    }

    fn uuid(&self, key: &'static str) -> Result<[u8; 16], JsonError> {
        let invalid = || JsonError::InvalidUuid { field: self.at(key) };
        let digits: String = self.str(key)?.chars().filter(|&c| c != '-').collect();
        hex::decode(digits)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(invalid)
    }

    /// The `protocolData` list of a CLP or BTP 2.0 packet.
    fn protocol_data(&self) -> Result<ProtocolData, JsonError> {
        const LIST: &str = "protocolData";
        let list = self.array(LIST)?;
        let mut entries = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            let map = item.as_object().ok_or(JsonError::WrongType {
                field: Field::Entry(LIST, index),
                expected: "an object",
            })?;
            let entry = Fields {
                map,
                entry: Some((LIST, index)),
            };
            let content_type = u8::try_from(entry.u64("contentType")?).map_err(|_| JsonError::NotAnInteger {
                field: entry.at("contentType"),
                bits: 8,
            })?;
            entries.push((entry.bytes("protocolName")?, content_type, entry.hex("data")?));
        }
        Ok(ProtocolData::from_entries(entries.iter().map(
            |(name, content_type, data)| ProtocolDataEntry {
                protocol_name: name,
                content_type: *content_type,
                data,
            },
        )))
    }

    /// The `forwardedBy` list of a legacy IlpError: strings.
    fn string_list(&self, key: &'static str) -> Result<Vec<&'v [u8]>, JsonError> {
        self.array(key)?
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str().map(str::as_bytes).ok_or(JsonError::WrongType {
                    field: Field::Entry(key, index),
                    expected: "a string",
                })
            })
            .collect()
    }
}
