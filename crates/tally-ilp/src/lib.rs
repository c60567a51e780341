//! A byte-exact OER codec for Interledger packets.
//!
//! tally-ilp decodes and encodes what the 2017 Testnet connector ilp-node
//! put on the wire, and what ILPv4 nodes send today:
//!
//! | module | packets |
//! |---|---|
//! | [`ilp4`] | ILPv4 (RFC 27) Prepare, Fulfill, Reject; error codes; SHA-256 condition check |
//! | [`legacy`] | ilp-packet 1.x/2.x: IlpPayment, the six ILQP quote packets, IlpError, IlpFulfillment, IlpForwardedPayment, IlpRejection |
//! | [`clp`] | the Common Ledger Protocol ilp-node spoke between peers (BTP alpha): Ack, Response, Error, Prepare, Fulfill, Reject, Message |
//! | [`btp2`] | BTP 2.0 (RFC 23): Response, Error, Message, Transfer |
//!
//! # Design
//!
//! - **Zero-copy, allocation-free decoding.** Every packet struct is generic
//!   over its byte fields. `decode` returns views (`Prepare<&[u8]>`) whose
//!   fields borrow the input; lists (`protocolData`, `forwardedBy`, the
//!   liquidity curve) are kept as their validated wire bytes and iterated on
//!   demand, so decoding never touches the heap. `decode_bytes` gives the
//!   same packet with [`bytes::Bytes`] fields that share the input buffer.
//! - **Exact encoding.** [`Encode::encode`] computes the exact size, allocates
//!   once and writes. It validates first: encoding succeeds exactly when
//!   strict decoding of the result succeeds and gives the packet back, so
//!   `decode(encode(p)) == p` and, in strict mode, `encode(decode(b)) == b`.
//! - **Strict by default, lenient on request.** [`Mode::Strict`] rejects
//!   trailing bytes, non-canonical lengths and integers, impossible dates,
//!   invalid addresses and over-long data. [`Mode::Lenient`] accepts what the
//!   JavaScript reference decoders accept (trailing bytes, a missing
//!   extensibility byte, out-of-range date fields).
//! - **Typed errors, no panics.** Every failure is a [`DecodeError`] with
//!   the byte offset and a [`DecodeErrorKind`]; nothing panics on any input
//!   (the `fuzz/` targets check this).
//!
//! # Example
//!
//! ```
//! use tally_ilp::{clp, legacy, Encode, Mode};
//!
//! // A CLP Error from ilp-node carries a legacy IlpError as its rejection reason.
//! let wire = hex::decode(concat!(
//!     "03", "00000001", "32",                          // Error, requestId 1, content length
//!     "08", "2e", "463032", "0b556e726561636861626c65", // IlpError: F02 "Unreachable"
//!     "06746573742e61", "0100",                        // triggeredBy "test.a", forwardedBy []
//!     "13", "32303137303931343132333435362e3738395a",  // triggeredAt
//!     "00", "00",                                      // data "", extensibility byte
//!     "0100",                                          // no protocolData
//! ))?;
//! let clp::Packet::Error(error) = clp::Packet::decode(&wire, Mode::Strict)? else { unreachable!() };
//! let reason = error.rejection_reason()?;
//! assert_eq!(reason.code.to_string(), "F02");
//! assert_eq!(reason.triggered_at.to_string(), "2017-09-14T12:34:56.789Z");
//! assert_eq!(error.encode()?.as_ref(), &wire[..]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod macros;
pub mod address;
pub mod btp2;
pub mod clp;
mod codec;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ilp4;
#[cfg(feature = "json")]
pub mod json;
pub mod legacy;
pub mod oer;
mod time;

/// The `bytes` crate this API is built on, re-exported so callers match its version.
pub use bytes;
pub use codec::{
    CONTENT_TYPE_JSON, CONTENT_TYPE_OCTET_STREAM, CONTENT_TYPE_TEXT_PLAIN_UTF8, Encode, ErrorClass, ErrorCode,
    ProtocolData, ProtocolDataEntry, VarOctetsList,
};
pub use error::{DecodeError, DecodeErrorKind, EncodeError};
pub use time::Timestamp;

/// How strictly to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Accept only the canonical encoding of a valid packet, so that
    /// re-encoding gives back the input byte for byte. The default.
    #[default]
    Strict,
    /// Accept what the JavaScript reference decoders accept: trailing bytes
    /// after the packet and inside its content, a missing legacy
    /// extensibility byte, leading zeros in var-uints, out-of-range date
    /// fields (normalized as `Date.UTC` does), non-UTF-8 text, ILPv4 data
    /// over the RFC limit.
    ///
    /// Two differences remain, both deliberate: a timestamp whose fields
    /// are not digits is still an error (ilp-packet 3 reads blanks as 0,
    /// btp-packet yields an `Invalid Date`), and out-of-range
    /// GeneralizedTime fields are normalized although ilp-packet 2 rejects
    /// them.
    Lenient,
}
