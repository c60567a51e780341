//! ILPv4 packets (RFC 27): Prepare (type 12), Fulfill (13) and Reject (14).
//!
//! Each packet is `type` followed by a var-octet-string holding its fields:
//!
//! | type | fields |
//! |---|---|
//! | 12 Prepare | amount u64 · expiresAt 17 digits · executionCondition 32 bytes · destination (ILP address) · data |
//! | 13 Fulfill | fulfillment 32 bytes · data |
//! | 14 Reject | code 3 bytes · triggeredBy (ILP address or empty) · message (UTF-8) · data |
//!
//! The packet structs are generic over their byte fields: decoding yields
//! views over the input (`Prepare<&[u8]>`, no copies, no allocation),
//! [`Packet::decode_bytes`] yields `Prepare<Bytes>` sharing the input
//! buffer, and an owned `Prepare<Bytes>` (or over any `AsRef<[u8]>`) built
//! field by field encodes with [`Encode`].
//!
//! ```
//! use bytes::Bytes;
//! use tally_ilp::ilp4::{fulfillment_to_condition, Packet, Prepare};
//! use tally_ilp::{Encode, Mode, Timestamp};
//!
//! let fulfillment = [7u8; 32];
//! let prepare = Prepare {
//!     amount: 107,
//!     expires_at: Timestamp::from_unix_ms(1_505_392_496_789).unwrap(),
//!     execution_condition: fulfillment_to_condition(&fulfillment),
//!     destination: Bytes::from_static(b"example.alice"),
//!     data: Bytes::from_static(b"hello"),
//! };
//! let wire = prepare.encode()?;
//!
//! let Packet::Prepare(view) = Packet::decode(&wire, Mode::Strict)? else { unreachable!() };
//! assert_eq!(view.destination, b"example.alice");
//! assert_eq!(view.expires_at.to_string(), "2017-09-14T12:34:56.789Z");
//! assert_eq!(view.encode()?, wire);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::Mode;
use crate::address::validate_address;
use crate::codec::{self, Encode, slicer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::oer::{self, Reader};
use crate::time::Timestamp;

pub use crate::codec::{ErrorClass, ErrorCode};

/// Type id of a Prepare.
pub const TYPE_PREPARE: u8 = 12;
/// Type id of a Fulfill.
pub const TYPE_FULFILL: u8 = 13;
/// Type id of a Reject.
pub const TYPE_REJECT: u8 = 14;

/// The largest `data` field RFC 27 allows, in bytes. Strict decoding and
/// encoding enforce it; lenient decoding (like the JavaScript reference)
/// does not.
pub const MAX_DATA_BYTES: usize = 32_767;

/// The SHA-256 hash of a fulfillment: the condition it fulfills.
pub fn fulfillment_to_condition(fulfillment: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(fulfillment).into()
}

/// Whether `fulfillment` hashes to `condition` (SHA-256).
pub fn fulfillment_matches_condition(fulfillment: &[u8; 32], condition: &[u8; 32]) -> bool {
    fulfillment_to_condition(fulfillment) == *condition
}

/// A conditional payment offer (type 12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Prepare<B = Bytes> {
    /// Amount in the receiving ledger's base units.
    pub amount: u64,
    /// When the offer lapses.
    pub expires_at: Timestamp,
    /// SHA-256 hash of the fulfillment that claims the payment.
    pub execution_condition: [u8; 32],
    /// The ILP address of the receiver.
    pub destination: B,
    /// End-to-end payload, at most [`MAX_DATA_BYTES`].
    pub data: B,
}

/// The receiver's claim on a Prepare (type 13).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fulfill<B = Bytes> {
    /// The preimage of the Prepare's execution condition.
    pub fulfillment: [u8; 32],
    /// End-to-end payload, at most [`MAX_DATA_BYTES`].
    pub data: B,
}

/// A refusal of a Prepare (type 14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reject<B = Bytes> {
    /// What went wrong.
    pub code: ErrorCode,
    /// ILP address of the node that rejected, or empty.
    pub triggered_by: B,
    /// Human-readable explanation, UTF-8.
    pub message: B,
    /// Machine-readable details, at most [`MAX_DATA_BYTES`].
    pub data: B,
}

/// Any ILPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Packet<B = Bytes> {
    /// Type 12.
    Prepare(Prepare<B>),
    /// Type 13.
    Fulfill(Fulfill<B>),
    /// Type 14.
    Reject(Reject<B>),
}

fn read_data<'a>(reader: &mut Reader<'a>, mode: Mode) -> Result<&'a [u8], DecodeError> {
    let start = reader.offset();
    let data = reader.read_var_octets()?;
    if mode == Mode::Strict && data.len() > MAX_DATA_BYTES {
        return Err(DecodeError::new(
            start,
            DecodeErrorKind::DataTooLong {
                len: data.len(),
                max_bytes: MAX_DATA_BYTES,
            },
        ));
    }
    Ok(data)
}

fn validate_data(data: &[u8]) -> Result<(), EncodeError> {
    if data.len() > MAX_DATA_BYTES {
        return Err(EncodeError::DataTooLong {
            len: data.len(),
            max_bytes: MAX_DATA_BYTES,
        });
    }
    Ok(())
}

impl<'a> Prepare<&'a [u8]> {
    fn read(reader: &mut Reader<'a>, mode: Mode) -> Result<Self, DecodeError> {
        let amount = reader.read_u64()?;
        let time_offset = reader.offset();
        let expires_at = Timestamp::from_ilp_digits(reader.read_array_ref()?, mode)
            .ok_or(DecodeError::new(time_offset, DecodeErrorKind::InvalidTimestamp))?;
        let execution_condition = reader.read_array()?;
        let address_offset = reader.offset();
        let destination = reader.read_var_octets()?;
        // The JavaScript decoder validates the destination in both modes.
        validate_address(destination)
            .map_err(|e| DecodeError::new(address_offset, DecodeErrorKind::InvalidAddress(e)))?;
        let data = read_data(reader, mode)?;
        Ok(Prepare {
            amount,
            expires_at,
            execution_condition,
            destination,
            data,
        })
    }
}

impl<'a> Fulfill<&'a [u8]> {
    fn read(reader: &mut Reader<'a>, mode: Mode) -> Result<Self, DecodeError> {
        let fulfillment = reader.read_array()?;
        let data = read_data(reader, mode)?;
        Ok(Fulfill { fulfillment, data })
    }
}

impl<'a> Reject<&'a [u8]> {
    fn read(reader: &mut Reader<'a>, mode: Mode) -> Result<Self, DecodeError> {
        let code = ErrorCode::read(reader, mode)?;
        let address_offset = reader.offset();
        let triggered_by = reader.read_var_octets()?;
        if !triggered_by.is_empty() {
            validate_address(triggered_by)
                .map_err(|e| DecodeError::new(address_offset, DecodeErrorKind::InvalidAddress(e)))?;
        }
        let message_offset = reader.offset();
        let message = reader.read_var_octets()?;
        codec::check_utf8(message_offset, message, mode)?;
        let data = read_data(reader, mode)?;
        Ok(Reject {
            code,
            triggered_by,
            message,
            data,
        })
    }
}

impl<B: AsRef<[u8]>> Prepare<B> {
    /// Whether `fulfillment` claims this Prepare.
    pub fn is_fulfilled_by(&self, fulfillment: &[u8; 32]) -> bool {
        fulfillment_matches_condition(fulfillment, &self.execution_condition)
    }

    /// The same packet over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> Prepare<C> {
        Prepare {
            amount: self.amount,
            expires_at: self.expires_at,
            execution_condition: self.execution_condition,
            destination: f(self.destination),
            data: f(self.data),
        }
    }

    fn content_len(&self) -> usize {
        8 + 17
            + 32
            + oer::var_octets_len(self.destination.as_ref().len())
            + oer::var_octets_len(self.data.as_ref().len())
    }
}

impl<B: AsRef<[u8]>> Encode for Prepare<B> {
    fn encoded_len(&self) -> usize {
        codec::envelope_len(self.content_len())
    }

    fn validate(&self) -> Result<(), EncodeError> {
        validate_address(self.destination.as_ref()).map_err(|error| EncodeError::InvalidAddress {
            field: "destination",
            error,
        })?;
        validate_data(self.data.as_ref())
    }

    fn write_unchecked(&self, buf: &mut BytesMut) {
        codec::write_envelope_header(buf, TYPE_PREPARE, self.content_len());
        buf.put_u64(self.amount);
        buf.put_slice(&self.expires_at.to_ilp_digits());
        buf.put_slice(&self.execution_condition);
        oer::write_var_octets(buf, self.destination.as_ref());
        oer::write_var_octets(buf, self.data.as_ref());
    }
}

impl<B: AsRef<[u8]>> Fulfill<B> {
    /// The same packet over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> Fulfill<C> {
        Fulfill {
            fulfillment: self.fulfillment,
            data: f(self.data),
        }
    }

    /// The condition this fulfillment satisfies.
    pub fn condition(&self) -> [u8; 32] {
        fulfillment_to_condition(&self.fulfillment)
    }

    fn content_len(&self) -> usize {
        32 + oer::var_octets_len(self.data.as_ref().len())
    }
}

impl<B: AsRef<[u8]>> Encode for Fulfill<B> {
    fn encoded_len(&self) -> usize {
        codec::envelope_len(self.content_len())
    }

    fn validate(&self) -> Result<(), EncodeError> {
        validate_data(self.data.as_ref())
    }

    fn write_unchecked(&self, buf: &mut BytesMut) {
        codec::write_envelope_header(buf, TYPE_FULFILL, self.content_len());
        buf.put_slice(&self.fulfillment);
        oer::write_var_octets(buf, self.data.as_ref());
    }
}

impl<B: AsRef<[u8]>> Reject<B> {
    /// The same packet over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> Reject<C> {
        Reject {
            code: self.code,
            triggered_by: f(self.triggered_by),
            message: f(self.message),
            data: f(self.data),
        }
    }

    /// The message as text (checked UTF-8 after strict decoding).
    pub fn message_str(&self) -> Option<&str> {
        std::str::from_utf8(self.message.as_ref()).ok()
    }

    fn content_len(&self) -> usize {
        3 + oer::var_octets_len(self.triggered_by.as_ref().len())
            + oer::var_octets_len(self.message.as_ref().len())
            + oer::var_octets_len(self.data.as_ref().len())
    }
}

impl<B: AsRef<[u8]>> Encode for Reject<B> {
    fn encoded_len(&self) -> usize {
        codec::envelope_len(self.content_len())
    }

    fn validate(&self) -> Result<(), EncodeError> {
        self.code.validate()?;
        let triggered_by = self.triggered_by.as_ref();
        if !triggered_by.is_empty() {
            validate_address(triggered_by).map_err(|error| EncodeError::InvalidAddress {
                field: "triggeredBy",
                error,
            })?;
        }
        if std::str::from_utf8(self.message.as_ref()).is_err() {
            return Err(EncodeError::InvalidUtf8 { field: "message" });
        }
        validate_data(self.data.as_ref())
    }

    fn write_unchecked(&self, buf: &mut BytesMut) {
        codec::write_envelope_header(buf, TYPE_REJECT, self.content_len());
        buf.put_slice(&self.code.0);
        oer::write_var_octets(buf, self.triggered_by.as_ref());
        oer::write_var_octets(buf, self.message.as_ref());
        oer::write_var_octets(buf, self.data.as_ref());
    }
}

macro_rules! single_type_decoders {
    ($($ty:ident => $variant:ident, $type_id:expr;)*) => {$(
        impl<'a> $ty<&'a [u8]> {
            #[doc = concat!("Decodes a ", stringify!($ty), " as a view over `input`; any other type is an error.")]
            pub fn decode(input: &'a [u8], mode: Mode) -> Result<Self, DecodeError> {
                match Packet::decode(input, mode)? {
                    Packet::$variant(packet) => Ok(packet),
                    other => Err(DecodeError::new(0, DecodeErrorKind::UnexpectedType { expected: $type_id, found: other.type_id() })),
                }
            }
        }

        impl $ty<Bytes> {
            #[doc = concat!("Decodes a ", stringify!($ty), " whose byte fields share `input`'s buffer (no copies).")]
            pub fn decode_bytes(input: &Bytes, mode: Mode) -> Result<Self, DecodeError> {
                Ok($ty::<&[u8]>::decode(input, mode)?.map_bytes(&mut slicer(input)))
            }
        }
    )*};
}

single_type_decoders! {
    Prepare => Prepare, TYPE_PREPARE;
    Fulfill => Fulfill, TYPE_FULFILL;
    Reject => Reject, TYPE_REJECT;
}

impl<'a> Packet<&'a [u8]> {
    /// Decodes any ILPv4 packet as a view over `input`, without copying or
    /// allocating.
    ///
    /// Both modes reject truncation, bad length prefixes, unknown types,
    /// invalid addresses and unparseable timestamps. Strict mode also
    /// rejects trailing bytes (after the packet and inside its content),
    /// impossible calendar dates, non-UTF-8 Reject messages, error codes
    /// that are not printable ASCII and data over [`MAX_DATA_BYTES`].
    pub fn decode(input: &'a [u8], mode: Mode) -> Result<Self, DecodeError> {
        let (type_id, mut content) =
            codec::read_envelope(input, mode, |t| matches!(t, TYPE_PREPARE | TYPE_FULFILL | TYPE_REJECT))?;
        let packet = match type_id {
            TYPE_PREPARE => Packet::Prepare(Prepare::read(&mut content, mode)?),
            TYPE_FULFILL => Packet::Fulfill(Fulfill::read(&mut content, mode)?),
            _ => Packet::Reject(Reject::read(&mut content, mode)?),
        };
        content.finish(mode)?;
        Ok(packet)
    }
}

impl Packet<Bytes> {
    /// Decodes any ILPv4 packet with byte fields sharing `input`'s buffer.
    ///
    /// Copies nothing. It allocates nothing either once `input` is in the
    /// `bytes` crate's shared form (a clone of it exists, or it came from
    /// `BytesMut::freeze` of a shared buffer, or `Bytes::from_static`); a
    /// `Bytes` made straight from a `Vec` allocates its shared header on the
    /// first slice, once.
    pub fn decode_bytes(input: &Bytes, mode: Mode) -> Result<Self, DecodeError> {
        Ok(Packet::<&[u8]>::decode(input, mode)?.map_bytes(&mut slicer(input)))
    }
}

impl<B: AsRef<[u8]>> Packet<B> {
    /// The type id (12, 13 or 14).
    pub fn type_id(&self) -> u8 {
        match self {
            Packet::Prepare(_) => TYPE_PREPARE,
            Packet::Fulfill(_) => TYPE_FULFILL,
            Packet::Reject(_) => TYPE_REJECT,
        }
    }

    /// The same packet over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> Packet<C> {
        match self {
            Packet::Prepare(p) => Packet::Prepare(p.map_bytes(f)),
            Packet::Fulfill(p) => Packet::Fulfill(p.map_bytes(f)),
            Packet::Reject(p) => Packet::Reject(p.map_bytes(f)),
        }
    }
}

impl<B: AsRef<[u8]>> Encode for Packet<B> {
    fn encoded_len(&self) -> usize {
        match self {
            Packet::Prepare(p) => p.encoded_len(),
            Packet::Fulfill(p) => p.encoded_len(),
            Packet::Reject(p) => p.encoded_len(),
        }
    }

    fn validate(&self) -> Result<(), EncodeError> {
        match self {
            Packet::Prepare(p) => p.validate(),
            Packet::Fulfill(p) => p.validate(),
            Packet::Reject(p) => p.validate(),
        }
    }

    fn write_unchecked(&self, buf: &mut BytesMut) {
        match self {
            Packet::Prepare(p) => p.write_unchecked(buf),
            Packet::Fulfill(p) => p.write_unchecked(buf),
            Packet::Reject(p) => p.write_unchecked(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fulfillment_of_zeros_matches_its_known_condition() {
        // SHA-256 of 32 zero bytes.
        let condition: [u8; 32] = [
            0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77, 0x6c, 0x8f, 0xc1, 0x8b, 0x8e, 0x9f, 0x8e, 0x20, 0x08, 0x97,
            0x14, 0x85, 0x6e, 0xe2, 0x33, 0xb3, 0x90, 0x2a, 0x59, 0x1d, 0x0d, 0x5f, 0x29, 0x25,
        ];
        assert!(fulfillment_matches_condition(&[0; 32], &condition));
        assert!(!fulfillment_matches_condition(&[1; 32], &condition));
    }

    #[test]
    fn rejects_a_reject_whose_type_is_asked_as_prepare() {
        let reject = Reject {
            code: ErrorCode::F02_UNREACHABLE,
            triggered_by: &b""[..],
            message: &b""[..],
            data: &b""[..],
        };
        let wire = reject.encode().unwrap();
        let err = Prepare::decode(&wire, Mode::Strict).unwrap_err();
        assert_eq!(
            err.kind,
            DecodeErrorKind::UnexpectedType {
                expected: 12,
                found: 14
            }
        );
        assert_eq!(Reject::decode(&wire, Mode::Strict).unwrap(), reject);
    }
}
