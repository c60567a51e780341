//! Legacy ILP and ILQP packets (ilp-packet 1.x/2.x, types 1–11), as ilp-node spoke them.
//!
//! The envelope is the ILPv4 one (`type`, then a var-octet-string content),
//! and every content ends with the `0x00` extensibility byte.
//!
//! | type | packet | fields |
//! |---|---|---|
//! | 1 | [`IlpPayment`] | amount u64 · account · data |
//! | 2 | [`IlqpLiquidityRequest`] | destinationAccount · destinationHoldDuration u32 |
//! | 3 | [`IlqpLiquidityResponse`] | liquidityCurve · appliesToPrefix · sourceHoldDuration u32 · expiresAt |
//! | 4 | [`IlqpBySourceRequest`] | destinationAccount · sourceAmount u64 · destinationHoldDuration u32 |
//! | 5 | [`IlqpBySourceResponse`] | destinationAmount u64 · sourceHoldDuration u32 |
//! | 6 | [`IlqpByDestinationRequest`] | destinationAccount · destinationAmount u64 · destinationHoldDuration u32 |
//! | 7 | [`IlqpByDestinationResponse`] | sourceAmount u64 · sourceHoldDuration u32 |
//! | 8 | [`IlpError`] | code · name · triggeredBy · forwardedBy · triggeredAt · data |
//! | 9 | [`IlpFulfillment`] | data |
//! | 10 | [`IlpForwardedPayment`] | account · data |
//! | 11 | [`IlpRejection`] | code · triggeredBy · message · data |
//!
//! Addresses here are not validated (the legacy decoders did not, and
//! legacy prefixes end with `.`, e.g. `test.crypto.xrp.`). Durations are
//! milliseconds.
//!
//! ```
//! use tally_ilp::legacy::{IlqpBySourceRequest, Packet};
//! use tally_ilp::{Encode, Mode};
//!
//! let request = IlqpBySourceRequest {
//!     destination_account: &b"test.crypto.xrp.bob"[..],
//!     source_amount: 1_000,
//!     destination_hold_duration_ms: 3_000,
//! };
//! let wire = request.encode()?;
//! assert_eq!(Packet::decode(&wire, Mode::Strict)?, Packet::IlqpBySourceRequest(request));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{BufMut, Bytes, BytesMut};

use crate::Mode;
use crate::codec::ReadContent;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::oer::{self, Reader};

/// Type id of [`IlpPayment`].
pub const TYPE_ILP_PAYMENT: u8 = 1;
/// Type id of [`IlqpLiquidityRequest`].
pub const TYPE_ILQP_LIQUIDITY_REQUEST: u8 = 2;
/// Type id of [`IlqpLiquidityResponse`].
pub const TYPE_ILQP_LIQUIDITY_RESPONSE: u8 = 3;
/// Type id of [`IlqpBySourceRequest`].
pub const TYPE_ILQP_BY_SOURCE_REQUEST: u8 = 4;
/// Type id of [`IlqpBySourceResponse`].
pub const TYPE_ILQP_BY_SOURCE_RESPONSE: u8 = 5;
/// Type id of [`IlqpByDestinationRequest`].
pub const TYPE_ILQP_BY_DESTINATION_REQUEST: u8 = 6;
/// Type id of [`IlqpByDestinationResponse`].
pub const TYPE_ILQP_BY_DESTINATION_RESPONSE: u8 = 7;
/// Type id of [`IlpError`].
pub const TYPE_ILP_ERROR: u8 = 8;
/// Type id of [`IlpFulfillment`].
pub const TYPE_ILP_FULFILLMENT: u8 = 9;
/// Type id of [`IlpForwardedPayment`].
pub const TYPE_ILP_FORWARDED_PAYMENT: u8 = 10;
/// Type id of [`IlpRejection`].
pub const TYPE_ILP_REJECTION: u8 = 11;

/// Bytes per liquidity curve point: `x` and `y`, both u64.
pub const LIQUIDITY_POINT_BYTES: usize = 16;

/// A liquidity curve: points `(source amount, destination amount)`, kept as
/// their wire bytes. Iterate with [`LiquidityCurve::points`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LiquidityCurve<B = Bytes> {
    /// `count × 16` bytes: each point is `x` u64 then `y` u64.
    raw: B,
}

impl<B: AsRef<[u8]>> LiquidityCurve<B> {
    /// The points, in order.
    pub fn points(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.raw.as_ref().chunks_exact(LIQUIDITY_POINT_BYTES).map(|point| {
            let (x, y) = point.split_at(8);
            let word = |b: &[u8]| b.iter().fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
            (word(x), word(y))
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.raw.as_ref().len() / LIQUIDITY_POINT_BYTES
    }

    /// Whether the curve has no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points as written on the wire (without the count), as ilp-packet's `liquidityCurve` Buffer.
    pub fn raw(&self) -> &[u8] {
        self.raw.as_ref()
    }

    /// The same curve over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> LiquidityCurve<C> {
        LiquidityCurve { raw: f(self.raw) }
    }

    pub(crate) fn encoded_len(&self) -> usize {
        oer::var_uint_len(self.len() as u64) + self.raw.as_ref().len()
    }

    pub(crate) fn write(&self, buf: &mut BytesMut) {
        oer::write_var_uint(buf, self.len() as u64);
        buf.put_slice(self.raw.as_ref());
    }
}

impl LiquidityCurve<Bytes> {
    /// A curve through `points`.
    pub fn from_points(points: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut raw = BytesMut::new();
        for (x, y) in points {
            raw.put_u64(x);
            raw.put_u64(y);
        }
        Self { raw: raw.freeze() }
    }

    /// A curve from ilp-packet's raw `liquidityCurve` bytes, which must be a
    /// multiple of [`LIQUIDITY_POINT_BYTES`] long.
    pub fn from_raw(raw: Bytes) -> Option<Self> {
        raw.len().is_multiple_of(LIQUIDITY_POINT_BYTES).then_some(Self { raw })
    }
}

impl<'a> LiquidityCurve<&'a [u8]> {
    pub(crate) fn read(reader: &mut Reader<'a>, mode: Mode) -> Result<Self, DecodeError> {
        let count = reader.read_count(mode, LIQUIDITY_POINT_BYTES)?;
        Ok(Self {
            raw: reader.read_slice(count * LIQUIDITY_POINT_BYTES)?,
        })
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILP_PAYMENT;
    /// A payment to forward (type 1).
    IlpPayment {
        /// Amount in the destination ledger's base units.
        amount: u64 => u64,
        /// The destination account's ILP address.
        account: B => octets,
        /// End-to-end payload.
        data: B => octets,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILQP_LIQUIDITY_REQUEST;
    /// Asks for a liquidity curve towards an account (type 2).
    IlqpLiquidityRequest {
        /// The destination's ILP address.
        destination_account: B => octets,
        /// How long the destination wants the transfer held, in ms.
        destination_hold_duration_ms: u32 => u32,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILQP_LIQUIDITY_RESPONSE;
    /// A liquidity curve answering [`IlqpLiquidityRequest`] (type 3).
    IlqpLiquidityResponse {
        /// Source amount against destination amount.
        liquidity_curve: LiquidityCurve<B> => curve,
        /// The address prefix the curve applies to.
        applies_to_prefix: B => octets,
        /// How long the source must hold the transfer, in ms.
        source_hold_duration_ms: u32 => u32,
        /// When the quote lapses.
        expires_at: crate::Timestamp => time,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILQP_BY_SOURCE_REQUEST;
    /// Asks what arrives for a given source amount (type 4).
    IlqpBySourceRequest {
        /// The destination's ILP address.
        destination_account: B => octets,
        /// Amount to send, in source ledger units.
        source_amount: u64 => u64,
        /// How long the destination wants the transfer held, in ms.
        destination_hold_duration_ms: u32 => u32,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILQP_BY_DESTINATION_REQUEST;
    /// Asks what to send for a given destination amount (type 6).
    IlqpByDestinationRequest {
        /// The destination's ILP address.
        destination_account: B => octets,
        /// Amount to arrive, in destination ledger units.
        destination_amount: u64 => u64,
        /// How long the destination wants the transfer held, in ms.
        destination_hold_duration_ms: u32 => u32,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILP_ERROR;
    /// A legacy ILP error (type 8); also the rejection reason inside CLP Error and Reject.
    IlpError {
        /// The error code (`F02`, `T04`, `L01`, …).
        code: crate::ErrorCode => code,
        /// The code's name (`Unreachable`), ASCII.
        name: B => octets,
        /// Address of the node that raised the error.
        triggered_by: B => octets,
        /// Addresses of the nodes that passed the error back.
        forwarded_by: crate::VarOctetsList<B> => list,
        /// When the error was raised.
        triggered_at: crate::Timestamp => time,
        /// Details, ASCII.
        data: B => octets,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILP_FULFILLMENT;
    /// Data accompanying a fulfillment (type 9).
    IlpFulfillment {
        /// End-to-end payload.
        data: B => octets,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILP_FORWARDED_PAYMENT;
    /// A payment forwarded to the next hop (type 10).
    IlpForwardedPayment {
        /// The destination account's ILP address.
        account: B => octets,
        /// End-to-end payload.
        data: B => octets,
    }
}

packet_struct! {
    envelope = ilp, trailer = ext, type_id = TYPE_ILP_REJECTION;
    /// A rejection (type 11).
    IlpRejection {
        /// The error code.
        code: crate::ErrorCode => code,
        /// Address of the node that rejected.
        triggered_by: B => octets,
        /// Human-readable explanation, UTF-8.
        message: B => octets,
        /// Machine-readable details.
        data: B => octets,
    }
}

/// Quote answer with the destination amount for [`IlqpBySourceRequest`] (type 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IlqpBySourceResponse {
    /// Amount that will arrive, in destination ledger units.
    pub destination_amount: u64,
    /// How long the source must hold the transfer, in ms.
    pub source_hold_duration_ms: u32,
}

/// Quote answer with the source amount for [`IlqpByDestinationRequest`] (type 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IlqpByDestinationResponse {
    /// Amount to send, in source ledger units.
    pub source_amount: u64,
    /// How long the source must hold the transfer, in ms.
    pub source_hold_duration_ms: u32,
}

/// The two quote responses without variable fields share this shape.
macro_rules! amount_and_duration {
    ($name:ident, $amount:ident, $type_id:expr) => {
        impl $name {
            /// The packet type id on the wire.
            pub const TYPE_ID: u8 = $type_id;

            /// The same packet (it has no byte fields), for symmetry with the other packets.
            pub fn map_bytes<B, C>(self, _f: &mut impl FnMut(B) -> C) -> Self {
                self
            }
        }

        impl<'a> ReadContent<'a> for $name {
            fn read_content(reader: &mut Reader<'a>, mode: Mode, _request_id: u32) -> Result<Self, DecodeError> {
                let packet = $name {
                    $amount: reader.read_u64()?,
                    source_hold_duration_ms: reader.read_u32()?,
                };
                crate::codec::read_extensibility_byte(reader, mode)?;
                Ok(packet)
            }
        }

        impl crate::Encode for $name {
            fn encoded_len(&self) -> usize {
                crate::codec::envelope_len(8 + 4 + 1)
            }

            fn validate(&self) -> Result<(), crate::EncodeError> {
                Ok(())
            }

            fn write_unchecked(&self, buf: &mut BytesMut) {
                crate::codec::write_envelope_header(buf, $type_id, 8 + 4 + 1);
                buf.put_u64(self.$amount);
                buf.put_u32(self.source_hold_duration_ms);
                buf.put_u8(0);
            }
        }
    };
}

amount_and_duration!(IlqpBySourceResponse, destination_amount, TYPE_ILQP_BY_SOURCE_RESPONSE);
amount_and_duration!(
    IlqpByDestinationResponse,
    source_amount,
    TYPE_ILQP_BY_DESTINATION_RESPONSE
);

packet_family! {
    envelope = ilp;
    /// Any legacy ILP/ILQP packet.
    pub enum Packet {
        /// Type 1.
        IlpPayment(IlpPayment<B>) = TYPE_ILP_PAYMENT,
        /// Type 2.
        IlqpLiquidityRequest(IlqpLiquidityRequest<B>) = TYPE_ILQP_LIQUIDITY_REQUEST,
        /// Type 3.
        IlqpLiquidityResponse(IlqpLiquidityResponse<B>) = TYPE_ILQP_LIQUIDITY_RESPONSE,
        /// Type 4.
        IlqpBySourceRequest(IlqpBySourceRequest<B>) = TYPE_ILQP_BY_SOURCE_REQUEST,
        /// Type 5.
        IlqpBySourceResponse(IlqpBySourceResponse) = TYPE_ILQP_BY_SOURCE_RESPONSE,
        /// Type 6.
        IlqpByDestinationRequest(IlqpByDestinationRequest<B>) = TYPE_ILQP_BY_DESTINATION_REQUEST,
        /// Type 7.
        IlqpByDestinationResponse(IlqpByDestinationResponse) = TYPE_ILQP_BY_DESTINATION_RESPONSE,
        /// Type 8.
        IlpError(IlpError<B>) = TYPE_ILP_ERROR,
        /// Type 9.
        IlpFulfillment(IlpFulfillment<B>) = TYPE_ILP_FULFILLMENT,
        /// Type 10.
        IlpForwardedPayment(IlpForwardedPayment<B>) = TYPE_ILP_FORWARDED_PAYMENT,
        /// Type 11.
        IlpRejection(IlpRejection<B>) = TYPE_ILP_REJECTION,
    }
}

impl<'a> IlpError<&'a [u8]> {
    /// Decodes an IlpError packet as a view over `input`.
    pub fn decode(input: &'a [u8], mode: Mode) -> Result<Self, DecodeError> {
        match Packet::decode(input, mode)? {
            Packet::IlpError(error) => Ok(error),
            other => Err(DecodeError::new(
                0,
                DecodeErrorKind::UnexpectedType {
                    expected: TYPE_ILP_ERROR,
                    found: other.type_id(),
                },
            )),
        }
    }
}
