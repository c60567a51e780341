//! Typed decode and encode errors.
//!
//! Every decode failure carries the byte offset, counted from the start of
//! the input handed to the decoder, of the item that was wrong, so a caller
//! can log exactly where a peer's packet went bad.

use crate::address::AddressError;

/// A packet could not be decoded: what was wrong, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} (at byte {offset})")]
pub struct DecodeError {
    /// Offset of the offending item from the start of the decoder's input.
    pub offset: usize,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        Self { offset, kind }
    }
}

/// The reasons a decoder rejects its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends inside an item.
    #[error("input ends early: {needed} bytes needed, {available} available")]
    UnexpectedEnd {
        /// Bytes the item needs.
        needed: usize,
        /// Bytes left in the input (or in the enclosing length-delimited field).
        available: usize,
    },
    /// A long-form length prefix `0x80` with no length bytes after it.
    #[error("long-form length prefix 0x80 has no length bytes")]
    EmptyLengthPrefix,
    /// A long-form length prefix announcing more length bytes than fit a `u64`.
    #[error("long-form length prefix uses {bytes} length bytes (at most 8)")]
    LengthPrefixTooLong {
        /// The number of length bytes announced.
        bytes: u8,
    },
    /// A length written in more bytes than needed (long form for a length
    /// below 128, or a leading zero byte).
    #[error("non-canonical length prefix")]
    NonCanonicalLength,
    /// A variable-length integer with no bytes.
    #[error("variable-length integer has no bytes")]
    EmptyVarUint,
    /// A variable-length integer longer than 8 bytes.
    #[error("variable-length integer of {bytes} bytes does not fit a u64")]
    VarUintTooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// A variable-length integer with a leading zero byte (strict mode).
    #[error("variable-length integer has a leading zero byte")]
    NonCanonicalVarUint,
    /// An element count larger than the bytes that could hold the elements.
    #[error("count {count} needs more than the {available} bytes left")]
    CountTooLarge {
        /// The count read.
        count: u64,
        /// Bytes left to hold the elements.
        available: usize,
    },
    /// The packet type byte is not one this family knows.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// A packet of a known type, but not the one the caller asked for.
    #[error("packet type {found}, expected {expected}")]
    UnexpectedType {
        /// The type the caller asked for.
        expected: u8,
        /// The type found.
        found: u8,
    },
    /// Bytes left over after the packet or inside its content (strict mode).
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
    /// An ILP address that breaks the address rules.
    #[error("invalid ILP address: {0}")]
    InvalidAddress(AddressError),
    /// A timestamp that is malformed or names no real instant (strict mode).
    #[error("invalid timestamp")]
    InvalidTimestamp,
    /// A text field that must be UTF-8 is not (strict mode).
    #[error("text field is not valid UTF-8")]
    InvalidUtf8,
    /// A text field that must be ASCII is not (strict mode).
    #[error("text field is not ASCII")]
    NotAscii,
    /// An error code that is not three printable ASCII characters (strict mode).
    #[error("error code is not three printable ASCII characters")]
    InvalidErrorCode,
    /// ILPv4 data longer than [`crate::ilp4::MAX_DATA_BYTES`] (strict mode).
    #[error("data of {len} bytes exceeds the limit of {max_bytes}")]
    DataTooLong {
        /// The data length.
        len: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A legacy packet without its trailing extensibility byte (strict mode).
    #[error("missing extensibility byte")]
    MissingExtensibilityByte,
    /// A legacy extensibility byte other than `0x00` (strict mode).
    #[error("extensibility byte is {0:#04x}, expected 0x00")]
    InvalidExtensibilityByte(u8),
    /// A CLP rejection reason that is not a legacy ILP error packet (type 8).
    #[error("rejection reason has packet type {0}, expected 8 (IlpError)")]
    NotAnIlpError(u8),
}

/// A packet could not be encoded because a field breaks a rule the decoder
/// enforces in strict mode. `encode` succeeds exactly when strict decoding
/// of its output succeeds and gives back the same packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An ILP address field breaks the address rules.
    #[error("field `{field}`: invalid ILP address: {error}")]
    InvalidAddress {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        error: AddressError,
    },
    /// ILPv4 data longer than [`crate::ilp4::MAX_DATA_BYTES`].
    #[error("data of {len} bytes exceeds the limit of {max_bytes}")]
    DataTooLong {
        /// The data length.
        len: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// A text field that must be UTF-8 is not.
    #[error("field `{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A text field that must be ASCII is not.
    #[error("field `{field}` is not ASCII")]
    NotAscii {
        /// The field.
        field: &'static str,
    },
    /// An error code that is not three printable ASCII characters.
    #[error("error code is not three printable ASCII characters")]
    InvalidErrorCode,
    /// A CLP rejection reason that is not a strictly valid legacy ILP error packet.
    #[error("rejection reason is not a valid IlpError packet: {0}")]
    InvalidRejectionReason(DecodeError),
}
