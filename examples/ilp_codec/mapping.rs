//! The `ilp-codec` line protocol: packets to and from the JSON shape of the
//! JavaScript reference packages.
//!
//! Shared by `examples/ilp-codec.rs` and tally-ilp's vector tests (which
//! include this file with `#[path]`), so the tool that is checked against
//! the reference implementation is the code that is tested. The includer
//! must have `ilp` in scope at its crate root (`use tally::ilp;` or
//! `use tally_ilp as ilp;`).
//!
//! Field names are the JavaScript packages' own. Byte fields (`data`,
//! conditions, `liquidityCurve`, `rejectionReason`, protocolData `data`)
//! are lowercase hex, u64 amounts decimal strings, times ISO-8601 UTC with
//! milliseconds, `transferId` UUID text; addresses, codes, names and
//! messages are strings (invalid UTF-8, accepted only in lenient mode, is
//! shown with U+FFFD).

use serde_json::{Map, Value, json};

use crate::ilp::{self, Encode, Mode, ProtocolData, ProtocolDataEntry, Timestamp, btp2, clp, ilp4, legacy};

use crate::ilp::bytes::Bytes;

/// A packet family on a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// ILPv4.
    Ilp4,
    /// Legacy ILP/ILQP.
    Legacy,
    /// CLP (BTP alpha).
    Clp,
    /// BTP 2.0.
    Btp2,
}

impl Family {
    /// `ilp4`, `legacy`, `clp` or `btp2`.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "ilp4" => Some(Family::Ilp4),
            "legacy" => Some(Family::Legacy),
            "clp" => Some(Family::Clp),
            "btp2" => Some(Family::Btp2),
            _ => None,
        }
    }
}

/// What the tool was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// `decode [--lenient]`: lines of `FAMILY HEX`.
    Decode(Mode),
    /// `encode`: lines of `FAMILY JSON`.
    Encode,
}

/// Handles one input line and returns the output line (no newline).
pub(crate) fn run_line(command: Command, line: &str) -> String {
    let result = (|| {
        let line = line.trim();
        let (family, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let family = Family::parse(family).ok_or_else(|| format!("unknown family {family:?}"))?;
        match command {
            Command::Decode(mode) => {
                let bytes = from_hex(rest.trim())?;
                decode_to_json(family, &bytes, mode).map(|v| v.to_string())
            }
            Command::Encode => {
                let value: Value = serde_json::from_str(rest).map_err(|e| format!("invalid JSON: {e}"))?;
                encode_from_json(family, &value).map(|bytes| to_hex(&bytes))
            }
        }
    })();
    result.unwrap_or_else(|error| json!({ "error": error }).to_string())
}

/// Lowercase hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex (either case).
pub(crate) fn from_hex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err("hex has an odd number of digits".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("invalid hex at {i}"))
        })
        .collect()
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(bytes).into_owned())
}

fn hex(bytes: &[u8]) -> Value {
    Value::String(to_hex(bytes))
}

fn amount(value: u64) -> Value {
    Value::String(value.to_string())
}

fn time(t: Timestamp) -> Value {
    Value::String(t.to_string())
}

fn uuid(id: &[u8; 16]) -> Value {
    let h = to_hex(id);
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
            .map(|e| json!({ "protocolName": text(e.protocol_name), "contentType": e.content_type, "data": hex(e.data) }))
            .collect(),
    )
}

fn object(type_name: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), Value::String(type_name.into()));
    for (key, value) in fields {
        map.insert(key.into(), value);
    }
    Value::Object(map)
}

/// Decodes `bytes` as a packet of `family` into the JSON shape.
pub(crate) fn decode_to_json(family: Family, bytes: &[u8], mode: Mode) -> Result<Value, String> {
    let err = |e: ilp::DecodeError| e.to_string();
    Ok(match family {
        Family::Ilp4 => match ilp4::Packet::decode(bytes, mode).map_err(err)? {
            ilp4::Packet::Prepare(p) => object(
                "prepare",
                vec![
                    ("amount", amount(p.amount)),
                    ("expiresAt", time(p.expires_at)),
                    ("executionCondition", hex(&p.execution_condition)),
                    ("destination", text(p.destination)),
                    ("data", hex(p.data)),
                ],
            ),
            ilp4::Packet::Fulfill(p) => object(
                "fulfill",
                vec![("fulfillment", hex(&p.fulfillment)), ("data", hex(p.data))],
            ),
            ilp4::Packet::Reject(p) => object(
                "reject",
                vec![
                    ("code", text(&p.code.0)),
                    ("triggeredBy", text(p.triggered_by)),
                    ("message", text(p.message)),
                    ("data", hex(p.data)),
                ],
            ),
        },
        Family::Legacy => match legacy::Packet::decode(bytes, mode).map_err(err)? {
            legacy::Packet::IlpPayment(p) => object(
                "ilp_payment",
                vec![
                    ("amount", amount(p.amount)),
                    ("account", text(p.account)),
                    ("data", hex(p.data)),
                ],
            ),
            legacy::Packet::IlqpLiquidityRequest(p) => object(
                "ilqp_liquidity_request",
                vec![
                    ("destinationAccount", text(p.destination_account)),
                    ("destinationHoldDuration", json!(p.destination_hold_duration_ms)),
                ],
            ),
            legacy::Packet::IlqpLiquidityResponse(p) => object(
                "ilqp_liquidity_response",
                vec![
                    ("liquidityCurve", hex(p.liquidity_curve.raw())),
                    ("appliesToPrefix", text(p.applies_to_prefix)),
                    ("sourceHoldDuration", json!(p.source_hold_duration_ms)),
                    ("expiresAt", time(p.expires_at)),
                ],
            ),
            legacy::Packet::IlqpBySourceRequest(p) => object(
                "ilqp_by_source_request",
                vec![
                    ("destinationAccount", text(p.destination_account)),
                    ("sourceAmount", amount(p.source_amount)),
                    ("destinationHoldDuration", json!(p.destination_hold_duration_ms)),
                ],
            ),
            legacy::Packet::IlqpBySourceResponse(p) => object(
                "ilqp_by_source_response",
                vec![
                    ("destinationAmount", amount(p.destination_amount)),
                    ("sourceHoldDuration", json!(p.source_hold_duration_ms)),
                ],
            ),
            legacy::Packet::IlqpByDestinationRequest(p) => object(
                "ilqp_by_destination_request",
                vec![
                    ("destinationAccount", text(p.destination_account)),
                    ("destinationAmount", amount(p.destination_amount)),
                    ("destinationHoldDuration", json!(p.destination_hold_duration_ms)),
                ],
            ),
            legacy::Packet::IlqpByDestinationResponse(p) => object(
                "ilqp_by_destination_response",
                vec![
                    ("sourceAmount", amount(p.source_amount)),
                    ("sourceHoldDuration", json!(p.source_hold_duration_ms)),
                ],
            ),
            legacy::Packet::IlpError(p) => object(
                "ilp_error",
                vec![
                    ("code", text(&p.code.0)),
                    ("name", text(p.name)),
                    ("triggeredBy", text(p.triggered_by)),
                    ("forwardedBy", Value::Array(p.forwarded_by.iter().map(text).collect())),
                    ("triggeredAt", time(p.triggered_at)),
                    ("data", hex(p.data)),
                ],
            ),
            legacy::Packet::IlpFulfillment(p) => object("ilp_fulfillment", vec![("data", hex(p.data))]),
            legacy::Packet::IlpForwardedPayment(p) => object(
                "ilp_forwarded_payment",
                vec![("account", text(p.account)), ("data", hex(p.data))],
            ),
            legacy::Packet::IlpRejection(p) => object(
                "ilp_rejection",
                vec![
                    ("code", text(&p.code.0)),
                    ("triggeredBy", text(p.triggered_by)),
                    ("message", text(p.message)),
                    ("data", hex(p.data)),
                ],
            ),
        },
        Family::Clp => match clp::Packet::decode(bytes, mode).map_err(err)? {
            clp::Packet::Ack(p) => object("ack", request(p.request_id, &p.protocol_data, vec![])),
            clp::Packet::Response(p) => object("response", request(p.request_id, &p.protocol_data, vec![])),
            clp::Packet::Message(p) => object("message", request(p.request_id, &p.protocol_data, vec![])),
            clp::Packet::Error(p) => object(
                "error",
                request(
                    p.request_id,
                    &p.protocol_data,
                    vec![("rejectionReason", hex(p.rejection_reason))],
                ),
            ),
            clp::Packet::Prepare(p) => object(
                "prepare",
                request(
                    p.request_id,
                    &p.protocol_data,
                    vec![
                        ("transferId", uuid(&p.transfer_id)),
                        ("amount", amount(p.amount)),
                        ("executionCondition", hex(&p.execution_condition)),
                        ("expiresAt", time(p.expires_at)),
                    ],
                ),
            ),
            clp::Packet::Fulfill(p) => object(
                "fulfill",
                request(
                    p.request_id,
                    &p.protocol_data,
                    vec![
                        ("transferId", uuid(&p.transfer_id)),
                        ("fulfillment", hex(&p.fulfillment)),
                    ],
                ),
            ),
            clp::Packet::Reject(p) => object(
                "reject",
                request(
                    p.request_id,
                    &p.protocol_data,
                    vec![
                        ("transferId", uuid(&p.transfer_id)),
                        ("rejectionReason", hex(p.rejection_reason)),
                    ],
                ),
            ),
        },
        Family::Btp2 => match btp2::Packet::decode(bytes, mode).map_err(err)? {
            btp2::Packet::Response(p) => object("response", request(p.request_id, &p.protocol_data, vec![])),
            btp2::Packet::Message(p) => object("message", request(p.request_id, &p.protocol_data, vec![])),
            btp2::Packet::Transfer(p) => object(
                "transfer",
                request(p.request_id, &p.protocol_data, vec![("amount", amount(p.amount))]),
            ),
            btp2::Packet::Error(p) => object(
                "error",
                request(
                    p.request_id,
                    &p.protocol_data,
                    vec![
                        ("code", text(&p.code.0)),
                        ("name", text(p.name)),
                        ("triggeredAt", time(p.triggered_at)),
                        ("data", hex(p.data)),
                    ],
                ),
            ),
        },
    })
}

fn request<'a, B: AsRef<[u8]>>(
    request_id: u32,
    list: &ProtocolData<B>,
    mut fields: Vec<(&'a str, Value)>,
) -> Vec<(&'a str, Value)> {
    fields.insert(0, ("requestId", json!(request_id)));
    fields.push(("protocolData", protocol_data(list)));
    fields
}

/// Reads the fields of one JSON object.
struct Fields<'v>(&'v Map<String, Value>);

impl<'v> Fields<'v> {
    fn get(&self, key: &str) -> Result<&'v Value, String> {
        self.0.get(key).ok_or_else(|| format!("missing field {key}"))
    }

    fn str(&self, key: &str) -> Result<&'v str, String> {
        self.get(key)?
            .as_str()
            .ok_or_else(|| format!("field {key} must be a string"))
    }

    fn bytes(&self, key: &str) -> Result<Bytes, String> {
        Ok(Bytes::copy_from_slice(self.str(key)?.as_bytes()))
    }

    fn hex(&self, key: &str) -> Result<Bytes, String> {
        from_hex(self.str(key)?)
            .map(Bytes::from)
            .map_err(|e| format!("field {key}: {e}"))
    }

    fn hex_array<const N: usize>(&self, key: &str) -> Result<[u8; N], String> {
        from_hex(self.str(key)?)?
            .try_into()
            .map_err(|_| format!("field {key} must be {N} bytes"))
    }

    fn u64(&self, key: &str) -> Result<u64, String> {
        match self.get(key)? {
            Value::String(s) => s.parse().map_err(|_| format!("field {key} is not a u64")),
            other => other.as_u64().ok_or_else(|| format!("field {key} is not a u64")),
        }
    }

    fn u32(&self, key: &str) -> Result<u32, String> {
        u32::try_from(self.u64(key)?).map_err(|_| format!("field {key} is not a u32"))
    }

    fn time(&self, key: &str) -> Result<Timestamp, String> {
        Timestamp::parse_iso8601(self.str(key)?).ok_or_else(|| format!("field {key} is not YYYY-MM-DDTHH:mm:SS.fffZ"))
    }

    fn code(&self, key: &str) -> Result<ilp::ErrorCode, String> {
        let code: [u8; 3] = self
            .str(key)?
            .as_bytes()
            .try_into()
            .map_err(|_| format!("field {key} must be 3 bytes"))?;
        Ok(ilp::ErrorCode(code))
    }

    fn uuid(&self, key: &str) -> Result<[u8; 16], String> {
        let digits: String = self.str(key)?.chars().filter(|&c| c != '-').collect();
        from_hex(&digits)?
            .try_into()
            .map_err(|_| format!("field {key} is not a UUID"))
    }

    fn protocol_data(&self) -> Result<ProtocolData, String> {
        let list = self
            .get("protocolData")?
            .as_array()
            .ok_or("field protocolData must be an array")?;
        let mut entries = Vec::with_capacity(list.len());
        for item in list {
            let fields = Fields(item.as_object().ok_or("protocolData entries must be objects")?);
            let content_type =
                u8::try_from(fields.u64("contentType")?).map_err(|_| "contentType must be a byte".to_string())?;
            entries.push((fields.bytes("protocolName")?, content_type, fields.hex("data")?));
        }
        Ok(ProtocolData::from_entries(entries.iter().map(
            |(name, content_type, data)| ProtocolDataEntry {
                protocol_name: name,
                content_type: *content_type,
                data,
            },
        )))
    }
}

/// Encodes the JSON shape of a `family` packet.
pub(crate) fn encode_from_json(family: Family, value: &Value) -> Result<Bytes, String> {
    let f = Fields(value.as_object().ok_or("expected a JSON object")?);
    let type_name = f.str("type")?;
    let unknown = || format!("unknown {family:?} packet type {type_name:?}");
    let encoded = match family {
        Family::Ilp4 => match type_name {
            "prepare" => ilp4::Packet::Prepare(ilp4::Prepare {
                amount: f.u64("amount")?,
                expires_at: f.time("expiresAt")?,
                execution_condition: f.hex_array("executionCondition")?,
                destination: f.bytes("destination")?,
                data: f.hex("data")?,
            }),
            "fulfill" => ilp4::Packet::Fulfill(ilp4::Fulfill {
                fulfillment: f.hex_array("fulfillment")?,
                data: f.hex("data")?,
            }),
            "reject" => ilp4::Packet::Reject(ilp4::Reject {
                code: f.code("code")?,
                triggered_by: f.bytes("triggeredBy")?,
                message: f.bytes("message")?,
                data: f.hex("data")?,
            }),
            _ => return Err(unknown()),
        }
        .encode(),
        Family::Legacy => match type_name {
            "ilp_payment" => legacy::Packet::IlpPayment(legacy::IlpPayment {
                amount: f.u64("amount")?,
                account: f.bytes("account")?,
                data: f.hex("data")?,
            }),
            "ilqp_liquidity_request" => legacy::Packet::IlqpLiquidityRequest(legacy::IlqpLiquidityRequest {
                destination_account: f.bytes("destinationAccount")?,
                destination_hold_duration_ms: f.u32("destinationHoldDuration")?,
            }),
            "ilqp_liquidity_response" => legacy::Packet::IlqpLiquidityResponse(legacy::IlqpLiquidityResponse {
                liquidity_curve: legacy::LiquidityCurve::from_raw(f.hex("liquidityCurve")?)
                    .ok_or("liquidityCurve must be a multiple of 16 bytes")?,
                applies_to_prefix: f.bytes("appliesToPrefix")?,
                source_hold_duration_ms: f.u32("sourceHoldDuration")?,
                expires_at: f.time("expiresAt")?,
            }),
            "ilqp_by_source_request" => legacy::Packet::IlqpBySourceRequest(legacy::IlqpBySourceRequest {
                destination_account: f.bytes("destinationAccount")?,
                source_amount: f.u64("sourceAmount")?,
                destination_hold_duration_ms: f.u32("destinationHoldDuration")?,
            }),
            "ilqp_by_source_response" => legacy::Packet::IlqpBySourceResponse(legacy::IlqpBySourceResponse {
                destination_amount: f.u64("destinationAmount")?,
                source_hold_duration_ms: f.u32("sourceHoldDuration")?,
            }),
            "ilqp_by_destination_request" => {
                legacy::Packet::IlqpByDestinationRequest(legacy::IlqpByDestinationRequest {
                    destination_account: f.bytes("destinationAccount")?,
                    destination_amount: f.u64("destinationAmount")?,
                    destination_hold_duration_ms: f.u32("destinationHoldDuration")?,
                })
            }
            "ilqp_by_destination_response" => {
                legacy::Packet::IlqpByDestinationResponse(legacy::IlqpByDestinationResponse {
                    source_amount: f.u64("sourceAmount")?,
                    source_hold_duration_ms: f.u32("sourceHoldDuration")?,
                })
            }
            "ilp_error" => {
                let forwarded_by = f.get("forwardedBy")?.as_array().ok_or("forwardedBy must be an array")?;
                let forwarded_by = forwarded_by
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::as_bytes)
                            .ok_or("forwardedBy entries must be strings")
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                legacy::Packet::IlpError(legacy::IlpError {
                    code: f.code("code")?,
                    name: f.bytes("name")?,
                    triggered_by: f.bytes("triggeredBy")?,
                    forwarded_by: ilp::VarOctetsList::from_items(forwarded_by),
                    triggered_at: f.time("triggeredAt")?,
                    data: f.hex("data")?,
                })
            }
            "ilp_fulfillment" => legacy::Packet::IlpFulfillment(legacy::IlpFulfillment { data: f.hex("data")? }),
            "ilp_forwarded_payment" => legacy::Packet::IlpForwardedPayment(legacy::IlpForwardedPayment {
                account: f.bytes("account")?,
                data: f.hex("data")?,
            }),
            "ilp_rejection" => legacy::Packet::IlpRejection(legacy::IlpRejection {
                code: f.code("code")?,
                triggered_by: f.bytes("triggeredBy")?,
                message: f.bytes("message")?,
                data: f.hex("data")?,
            }),
            _ => return Err(unknown()),
        }
        .encode(),
        Family::Clp => {
            let request_id = f.u32("requestId")?;
            let protocol_data = f.protocol_data()?;
            match type_name {
                "ack" => clp::Packet::Ack(clp::Ack {
                    request_id,
                    protocol_data,
                }),
                "response" => clp::Packet::Response(clp::Response {
                    request_id,
                    protocol_data,
                }),
                "message" => clp::Packet::Message(clp::Message {
                    request_id,
                    protocol_data,
                }),
                "error" => clp::Packet::Error(clp::Error {
                    request_id,
                    rejection_reason: f.hex("rejectionReason")?,
                    protocol_data,
                }),
                "prepare" => clp::Packet::Prepare(clp::Prepare {
                    request_id,
                    transfer_id: f.uuid("transferId")?,
                    amount: f.u64("amount")?,
                    execution_condition: f.hex_array("executionCondition")?,
                    expires_at: f.time("expiresAt")?,
                    protocol_data,
                }),
                "fulfill" => clp::Packet::Fulfill(clp::Fulfill {
                    request_id,
                    transfer_id: f.uuid("transferId")?,
                    fulfillment: f.hex_array("fulfillment")?,
                    protocol_data,
                }),
                "reject" => clp::Packet::Reject(clp::Reject {
                    request_id,
                    transfer_id: f.uuid("transferId")?,
                    rejection_reason: f.hex("rejectionReason")?,
                    protocol_data,
                }),
                _ => return Err(unknown()),
            }
            .encode()
        }
        Family::Btp2 => {
            let request_id = f.u32("requestId")?;
            let protocol_data = f.protocol_data()?;
            match type_name {
                "response" => btp2::Packet::Response(btp2::Response {
                    request_id,
                    protocol_data,
                }),
                "message" => btp2::Packet::Message(btp2::Message {
                    request_id,
                    protocol_data,
                }),
                "transfer" => btp2::Packet::Transfer(btp2::Transfer {
                    request_id,
                    amount: f.u64("amount")?,
                    protocol_data,
                }),
                "error" => btp2::Packet::Error(btp2::Error {
                    request_id,
                    code: f.code("code")?,
                    name: f.bytes("name")?,
                    triggered_at: f.time("triggeredAt")?,
                    data: f.hex("data")?,
                    protocol_data,
                }),
                _ => return Err(unknown()),
            }
            .encode()
        }
    };
    encoded.map_err(|e| e.to_string())
}
