//! Legacy ILP/ILQP packets as JSON: `ilp_payment`, the six `ilqp_*` quote
//! packets, `ilp_error`, `ilp_fulfillment`, `ilp_forwarded_payment`,
//! `ilp_rejection`.

use serde_json::Value;

use super::{Family, JsonError, amount, code, hex, object, packet_object, text, time, unknown_type};
use crate::VarOctetsList;
use crate::legacy::{
    IlpError, IlpForwardedPayment, IlpFulfillment, IlpPayment, IlpRejection, IlqpByDestinationRequest,
    IlqpByDestinationResponse, IlqpBySourceRequest, IlqpBySourceResponse, IlqpLiquidityRequest, IlqpLiquidityResponse,
    LiquidityCurve, Packet,
};

/// The JSON shape of a legacy ILP/ILQP packet.
pub fn to_json<B: AsRef<[u8]>>(packet: &Packet<B>) -> Value {
    match packet {
        Packet::IlpPayment(p) => object(
            "ilp_payment",
            vec![
                ("amount", amount(p.amount)),
                ("account", text(p.account.as_ref())),
                ("data", hex(p.data.as_ref())),
            ],
        ),
        Packet::IlqpLiquidityRequest(p) => object(
            "ilqp_liquidity_request",
            vec![
                ("destinationAccount", text(p.destination_account.as_ref())),
                ("destinationHoldDuration", Value::from(p.destination_hold_duration_ms)),
            ],
        ),
        Packet::IlqpLiquidityResponse(p) => object(
            "ilqp_liquidity_response",
            vec![
                ("liquidityCurve", hex(p.liquidity_curve.raw())),
                ("appliesToPrefix", text(p.applies_to_prefix.as_ref())),
                ("sourceHoldDuration", Value::from(p.source_hold_duration_ms)),
                ("expiresAt", time(p.expires_at)),
            ],
        ),
        Packet::IlqpBySourceRequest(p) => object(
            "ilqp_by_source_request",
            vec![
                ("destinationAccount", text(p.destination_account.as_ref())),
                ("sourceAmount", amount(p.source_amount)),
                ("destinationHoldDuration", Value::from(p.destination_hold_duration_ms)),
            ],
        ),
        Packet::IlqpBySourceResponse(p) => object(
            "ilqp_by_source_response",
            vec![
                ("destinationAmount", amount(p.destination_amount)),
                ("sourceHoldDuration", Value::from(p.source_hold_duration_ms)),
            ],
        ),
        Packet::IlqpByDestinationRequest(p) => object(
            "ilqp_by_destination_request",
            vec![
                ("destinationAccount", text(p.destination_account.as_ref())),
                ("destinationAmount", amount(p.destination_amount)),
                ("destinationHoldDuration", Value::from(p.destination_hold_duration_ms)),
            ],
        ),
        Packet::IlqpByDestinationResponse(p) => object(
            "ilqp_by_destination_response",
            vec![
                ("sourceAmount", amount(p.source_amount)),
                ("sourceHoldDuration", Value::from(p.source_hold_duration_ms)),
            ],
        ),
        Packet::IlpError(p) => object(
            "ilp_error",
            vec![
                ("code", code(p.code)),
                ("name", text(p.name.as_ref())),
                ("triggeredBy", text(p.triggered_by.as_ref())),
                ("forwardedBy", Value::Array(p.forwarded_by.iter().map(text).collect())),
                ("triggeredAt", time(p.triggered_at)),
                ("data", hex(p.data.as_ref())),
            ],
        ),
        Packet::IlpFulfillment(p) => object("ilp_fulfillment", vec![("data", hex(p.data.as_ref()))]),
        Packet::IlpForwardedPayment(p) => object(
            "ilp_forwarded_payment",
            vec![("account", text(p.account.as_ref())), ("data", hex(p.data.as_ref()))],
        ),
        Packet::IlpRejection(p) => object(
            "ilp_rejection",
            vec![
                ("code", code(p.code)),
                ("triggeredBy", text(p.triggered_by.as_ref())),
                ("message", text(p.message.as_ref())),
                ("data", hex(p.data.as_ref())),
            ],
        ),
    }
}

/// Reads the JSON shape of a legacy ILP/ILQP packet.
///
/// # Errors
///
/// A [`JsonError`] naming the member that is missing or malformed, or
/// [`JsonError::UnknownType`]. The packet rules are checked when it is
/// encoded.
pub fn from_json(value: &Value) -> Result<Packet, JsonError> {
    let (f, type_name) = packet_object(value)?;
    Ok(match type_name {
        "ilp_payment" => Packet::IlpPayment(IlpPayment {
            amount: f.u64("amount")?,
            account: f.bytes("account")?,
            data: f.hex("data")?,
        }),
        "ilqp_liquidity_request" => Packet::IlqpLiquidityRequest(IlqpLiquidityRequest {
            destination_account: f.bytes("destinationAccount")?,
            destination_hold_duration_ms: f.u32("destinationHoldDuration")?,
        }),
        "ilqp_liquidity_response" => {
            let raw = f.hex("liquidityCurve")?;
            let len_bytes = raw.len();
            Packet::IlqpLiquidityResponse(IlqpLiquidityResponse {
                liquidity_curve: LiquidityCurve::from_raw(raw).ok_or(JsonError::LiquidityCurveLength { len_bytes })?,
                applies_to_prefix: f.bytes("appliesToPrefix")?,
                source_hold_duration_ms: f.u32("sourceHoldDuration")?,
                expires_at: f.time("expiresAt")?,
            })
        }
        "ilqp_by_source_request" => Packet::IlqpBySourceRequest(IlqpBySourceRequest {
            destination_account: f.bytes("destinationAccount")?,
            source_amount: f.u64("sourceAmount")?,
            destination_hold_duration_ms: f.u32("destinationHoldDuration")?,
        }),
        "ilqp_by_source_response" => Packet::IlqpBySourceResponse(IlqpBySourceResponse {
            destination_amount: f.u64("destinationAmount")?,
            source_hold_duration_ms: f.u32("sourceHoldDuration")?,
        }),
        "ilqp_by_destination_request" => Packet::IlqpByDestinationRequest(IlqpByDestinationRequest {
            destination_account: f.bytes("destinationAccount")?,
            destination_amount: f.u64("destinationAmount")?,
            destination_hold_duration_ms: f.u32("destinationHoldDuration")?,
        }),
        "ilqp_by_destination_response" => Packet::IlqpByDestinationResponse(IlqpByDestinationResponse {
            source_amount: f.u64("sourceAmount")?,
            source_hold_duration_ms: f.u32("sourceHoldDuration")?,
        }),
        "ilp_error" => Packet::IlpError(IlpError {
            code: f.code("code")?,
            name: f.bytes("name")?,
            triggered_by: f.bytes("triggeredBy")?,
            forwarded_by: VarOctetsList::from_items(f.string_list("forwardedBy")?),
            triggered_at: f.time("triggeredAt")?,
            data: f.hex("data")?,
        }),
        "ilp_fulfillment" => Packet::IlpFulfillment(IlpFulfillment { data: f.hex("data")? }),
        "ilp_forwarded_payment" => Packet::IlpForwardedPayment(IlpForwardedPayment {
            account: f.bytes("account")?,
            data: f.hex("data")?,
        }),
        "ilp_rejection" => Packet::IlpRejection(IlpRejection {
            code: f.code("code")?,
            triggered_by: f.bytes("triggeredBy")?,
            message: f.bytes("message")?,
            data: f.hex("data")?,
        }),
        _ => return Err(unknown_type(Family::Legacy, type_name)),
    })
}
