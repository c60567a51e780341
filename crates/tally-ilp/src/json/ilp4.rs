//! ILPv4 packets as JSON: `prepare`, `fulfill`, `reject`.

use serde_json::Value;

use super::{Family, JsonError, amount, code, hex, object, packet_object, text, time, unknown_type};
use crate::ilp4::{Fulfill, Packet, Prepare, Reject};

/// The JSON shape of an ILPv4 packet.
pub fn to_json<B: AsRef<[u8]>>(packet: &Packet<B>) -> Value {
    match packet {
        Packet::Prepare(p) => object(
            "prepare",
            vec![
                ("amount", amount(p.amount)),
                ("expiresAt", time(p.expires_at)),
                ("executionCondition", hex(&p.execution_condition)),
                ("destination", text(p.destination.as_ref())),
                ("data", hex(p.data.as_ref())),
            ],
        ),
        Packet::Fulfill(p) => object(
            "fulfill",
            vec![("fulfillment", hex(&p.fulfillment)), ("data", hex(p.data.as_ref()))],
        ),
        Packet::Reject(p) => object(
            "reject",
            vec![
                ("code", code(p.code)),
                ("triggeredBy", text(p.triggered_by.as_ref())),
                ("message", text(p.message.as_ref())),
                ("data", hex(p.data.as_ref())),
            ],
        ),
    }
}

/// Reads the JSON shape of an ILPv4 packet.
///
/// # Errors
///
/// A [`JsonError`] naming the member that is missing or malformed, or
/// [`JsonError::UnknownType`]. The packet rules are checked when it is
/// encoded.
pub fn from_json(value: &Value) -> Result<Packet, JsonError> {
    let (f, type_name) = packet_object(value)?;
    Ok(match type_name {
        "prepare" => Packet::Prepare(Prepare {
            amount: f.u64("amount")?,
            expires_at: f.time("expiresAt")?,
            execution_condition: f.hex_array("executionCondition")?,
            destination: f.bytes("destination")?,
            data: f.hex("data")?,
        }),
        "fulfill" => Packet::Fulfill(Fulfill {
            fulfillment: f.hex_array("fulfillment")?,
            data: f.hex("data")?,
        }),
        "reject" => Packet::Reject(Reject {
            code: f.code("code")?,
            triggered_by: f.bytes("triggeredBy")?,
            message: f.bytes("message")?,
            data: f.hex("data")?,
        }),
        _ => return Err(unknown_type(Family::Ilp4, type_name)),
    })
}
