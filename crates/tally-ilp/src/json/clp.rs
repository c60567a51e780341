//! CLP packets as JSON: `ack`, `response`, `error`, `prepare`, `fulfill`,
//! `reject`, `message`, each with `requestId` and `protocolData`.

use serde_json::Value;

use super::{Family, JsonError, amount, hex, object, packet_object, request, time, unknown_type, uuid};
use crate::clp::{Ack, Error, Fulfill, Message, Packet, Prepare, Reject, Response};

/// The JSON shape of a CLP packet.
pub fn to_json<B: AsRef<[u8]>>(packet: &Packet<B>) -> Value {
    match packet {
        Packet::Ack(p) => object("ack", request(p.request_id, &p.protocol_data, vec![])),
        Packet::Response(p) => object("response", request(p.request_id, &p.protocol_data, vec![])),
        Packet::Message(p) => object("message", request(p.request_id, &p.protocol_data, vec![])),
        Packet::Error(p) => object(
            "error",
            request(
                p.request_id,
                &p.protocol_data,
                vec![("rejectionReason", hex(p.rejection_reason.as_ref()))],
            ),
        ),
        Packet::Prepare(p) => object(
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
        Packet::Fulfill(p) => object(
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
        Packet::Reject(p) => object(
            "reject",
            request(
                p.request_id,
                &p.protocol_data,
                vec![
                    ("transferId", uuid(&p.transfer_id)),
                    ("rejectionReason", hex(p.rejection_reason.as_ref())),
                ],
            ),
        ),
    }
}

/// Reads the JSON shape of a CLP packet.
///
/// # Errors
///
/// A [`JsonError`] naming the member that is missing or malformed, or
/// [`JsonError::UnknownType`]. The packet rules (a rejection reason must
/// be a legacy IlpError) are checked when it is encoded.
pub fn from_json(value: &Value) -> Result<Packet, JsonError> {
    let (f, type_name) = packet_object(value)?;
    let known = ["ack", "response", "message", "error", "prepare", "fulfill", "reject"];
    if !known.contains(&type_name) {
        return Err(unknown_type(Family::Clp, type_name));
    }
    let request_id = f.u32("requestId")?;
    let protocol_data = f.protocol_data()?;
    Ok(match type_name {
        "ack" => Packet::Ack(Ack {
            request_id,
            protocol_data,
        }),
        "response" => Packet::Response(Response {
            request_id,
            protocol_data,
        }),
        "message" => Packet::Message(Message {
            request_id,
            protocol_data,
        }),
        "error" => Packet::Error(Error {
            request_id,
            rejection_reason: f.hex("rejectionReason")?,
            protocol_data,
        }),
        "prepare" => Packet::Prepare(Prepare {
            request_id,
            transfer_id: f.uuid("transferId")?,
            amount: f.u64("amount")?,
            execution_condition: f.hex_array("executionCondition")?,
            expires_at: f.time("expiresAt")?,
            protocol_data,
        }),
        "fulfill" => Packet::Fulfill(Fulfill {
            request_id,
            transfer_id: f.uuid("transferId")?,
            fulfillment: f.hex_array("fulfillment")?,
            protocol_data,
        }),
        _ => Packet::Reject(Reject {
            request_id,
            transfer_id: f.uuid("transferId")?,
            rejection_reason: f.hex("rejectionReason")?,
            protocol_data,
        }),
    })
}
