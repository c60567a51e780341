//! The typed value codec: serde types to stored bytes and back.
//!
//! A stored value is one **format-version byte** followed by the body. Format
//! [`FORMAT_V1`] is [postcard](https://docs.rs/postcard) 1.x: compact
//! (variable-length integers, no field names) and stable. The leading byte
//! lets a later release change the body format and still read old records;
//! a byte this release does not know is refused with
//! [`CodecError::UnknownFormat`] rather than misread.
//!
//! Because the body carries no field names, evolve a record the way you
//! evolve any positional format: append new fields at the end as an
//! `Option`, or wrap the record in a versioned enum. Serde features that need
//! a self-describing format (`#[serde(flatten)]`, untagged enums,
//! `deserialize_any`) are not supported.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tally_store::codec;
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Account { id: u64, balance: u128 }
//!
//! let bytes = codec::encode(&Account { id: 7, balance: 1_000 })?;
//! assert_eq!(bytes[0], codec::FORMAT_V1);
//! let back: Account = codec::decode(&bytes)?;
//! assert_eq!(back, Account { id: 7, balance: 1_000 });
//!
//! assert!(codec::decode::<Account>(&[9, 1, 2]).is_err()); // unknown format byte
//! # Ok::<(), tally_store::codec::CodecError>(())
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The format-version byte of postcard-encoded values.
pub const FORMAT_V1: u8 = 1;

/// A value that could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The stored bytes are empty: there is not even a format byte.
    #[error("stored value is empty (no format-version byte)")]
    Empty,
    /// The format-version byte is not one this release can read (a newer
    /// writer, or bytes that are not a tally value at all).
    #[error("unknown value format version {found} (this release reads {FORMAT_V1})")]
    UnknownFormat {
        /// The byte found.
        found: u8,
    },
    /// The body does not decode as the requested type.
    #[error("corrupt value body: {reason}")]
    Corrupt {
        /// What the decoder reported.
        reason: String,
    },
    /// The body decoded but bytes were left over: the value was written as
    /// another type, or was damaged.
    #[error("{remaining} bytes left over after decoding the value")]
    TrailingBytes {
        /// How many bytes were not consumed.
        remaining: usize,
    },
    /// The value could not be serialized (a serde implementation failed).
    #[error("value could not be encoded: {reason}")]
    Encode {
        /// What the serializer reported.
        reason: String,
    },
}

/// Encodes `value` as a format byte followed by its postcard body.
///
/// # Errors
/// [`CodecError::Encode`] when the value's `Serialize` implementation fails
/// (for example a map whose length is not known up front).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.push(FORMAT_V1);
    postcard::to_extend(value, out).map_err(encode_error)
}

/// Decodes a value written by [`encode`].
///
/// # Errors
/// [`CodecError::Empty`], [`CodecError::UnknownFormat`],
/// [`CodecError::Corrupt`] or [`CodecError::TrailingBytes`]; never panics.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&format, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if format != FORMAT_V1 {
        return Err(CodecError::UnknownFormat { found: format });
    }
    let (value, rest) = postcard::take_from_bytes(body).map_err(|error| CodecError::Corrupt {
        reason: error.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes { remaining: rest.len() });
    }
    Ok(value)
}

fn encode_error(error: postcard::Error) -> CodecError {
    CodecError::Encode {
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Record {
        id: u64,
        amount: u128,
        name: String,
        tags: Vec<Vec<u8>>,
        note: Option<String>,
    }

    #[test]
    fn rejects_empty_unknown_and_trailing_bytes() {
        assert_eq!(decode::<u64>(&[]), Err(CodecError::Empty));
        assert_eq!(decode::<u64>(&[0, 1]), Err(CodecError::UnknownFormat { found: 0 }));
        assert_eq!(decode::<u64>(&[2, 1]), Err(CodecError::UnknownFormat { found: 2 }));
        assert_eq!(
            decode::<u8>(&[FORMAT_V1, 1, 2]),
            Err(CodecError::TrailingBytes { remaining: 1 })
        );
        assert!(matches!(
            decode::<String>(&[FORMAT_V1, 5, b'a']),
            Err(CodecError::Corrupt { .. })
        ));
    }

    #[test]
    fn encoding_is_compact() {
        // One format byte plus a one-byte varint.
        assert_eq!(encode(&5u64).expect("encodes"), vec![FORMAT_V1, 5]);
    }

    proptest! {
        #[test]
        fn every_record_round_trips(id in any::<u64>(), amount in any::<u128>(), name in ".{0,16}",
                                    tags in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 0..4),
                                    note in proptest::option::of(".{0,8}")) {
            let record = Record { id, amount, name, tags, note };
            let bytes = encode(&record).expect("encodes");
            prop_assert_eq!(decode::<Record>(&bytes).expect("decodes"), record);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode::<Record>(&bytes);
        }
    }
}
