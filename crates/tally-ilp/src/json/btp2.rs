//! BTP 2.0 packets as JSON: `response`, `error`, `message`, `transfer`,
//! each with `requestId` and `protocolData`.

use serde_json::Value;

use super::{Family, JsonError, amount, code, hex, object, packet_object, request, text, time, unknown_type};
use crate::btp2::{Error, Message, Packet, Response, Transfer};

/// The JSON shape of a BTP 2.0 packet.
pub fn to_json<B: AsRef<[u8]>>(packet: &Packet<B>) -> Value {
    match packet {
        Packet::Response(p) => object("response", request(p.request_id, &p.protocol_data, vec![])),
        Packet::Message(p) => object("message", request(p.request_id, &p.protocol_data, vec![])),
        Packet::Transfer(p) => object(
            "transfer",
            request(p.request_id, &p.protocol_data, vec![("amount", amount(p.amount))]),
        ),
        Packet::Error(p) => object(
            "error",
            request(
                p.request_id,
                &p.protocol_data,
                vec![
                    ("code", code(p.code)),
                    ("name", text(p.name.as_ref())),
                    ("triggeredAt", time(p.triggered_at)),
                    ("data", hex(p.data.as_ref())),
                ],
            ),
        ),
    }
}

/// Reads the JSON shape of a BTP 2.0 packet.
///
/// # Errors
///
/// A [`JsonError`] naming the member that is missing or malformed, or
/// [`JsonError::UnknownType`]. The packet rules are checked when it is
/// encoded.
pub fn from_json(value: &Value) -> Result<Packet, JsonError> {
    let (f, type_name) = packet_object(value)?;
    if !["response", "message", "transfer", "error"].contains(&type_name) {
        return Err(unknown_type(Family::Btp2, type_name));
    }
    let request_id = f.u32("requestId")?;
    let protocol_data = f.protocol_data()?;
    Ok(match type_name {
        "response" => Packet::Response(Response {
            request_id,
            protocol_data,
        }),
        "message" => Packet::Message(Message {
            request_id,
            protocol_data,
        }),
        "transfer" => Packet::Transfer(Transfer {
            request_id,
            amount: f.u64("amount")?,
            protocol_data,
        }),
        _ => Packet::Error(Error {
            request_id,
            code: f.code("code")?,
            name: f.bytes("name")?,
            triggered_at: f.time("triggeredAt")?,
            data: f.hex("data")?,
            protocol_data,
        }),
    })
}
