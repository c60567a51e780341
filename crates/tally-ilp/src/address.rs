//! ILP address validation (RFC 15).
//!
//! An address is a scheme (`g`, `private`, `example`, `peer`, `self`,
//! `test`, `test1`, `test2`, `test3`, `local`) followed by one or more
//! segments, each a `.` and at least one of `A-Z a-z 0-9 _ ~ -`, at most
//! [`MAX_ADDRESS_BYTES`] bytes in all. This is the rule ilp-packet 3.x
//! enforces with `^(g|private|example|peer|self|test[1-3]?|local)([.][a-zA-Z0-9_~-]+)+$`.

/// The longest valid ILP address, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 1023;

const SEGMENT: u8 = 0;
const INVALID: u8 = 1;
const DOT: u8 = 2;

/// Each byte's role after the scheme: `.` separates segments, `A-Z a-z 0-9 _ ~ -` form them.
const BYTE_CLASS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'~' || b == b'-' {
            table[byte] = SEGMENT;
        }
        byte += 1;
    }
    table[b'.' as usize] = DOT;
    table
};

/// Why a byte string is not an ILP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// Longer than [`MAX_ADDRESS_BYTES`].
    #[error("{len} bytes is longer than {MAX_ADDRESS_BYTES}")]
    TooLong {
        /// The length.
        len: usize,
    },
    /// The part before the first `.` is not a known scheme (this includes the empty address).
    #[error("unknown scheme")]
    UnknownScheme,
    /// The scheme is not followed by any `.segment`.
    #[error("no segment after the scheme")]
    MissingSegment,
    /// Two dots in a row, or a dot at the end.
    #[error("empty segment at byte {index}")]
    EmptySegment {
        /// Offset of the empty segment within the address.
        index: usize,
    },
    /// A byte outside `A-Z a-z 0-9 _ ~ -` in a segment.
    #[error("byte {byte:#04x} not allowed at byte {index}")]
    InvalidCharacter {
        /// The byte.
        byte: u8,
        /// Its offset within the address.
        index: usize,
    },
}

/// Checks `address` against the ILP address rules.
///
/// ```
/// use tally_ilp::address::{validate_address, AddressError};
/// assert!(validate_address(b"g.us-fed.ach.0.acmebank.swx0a0.acmecorp").is_ok());
/// assert_eq!(validate_address(b"g"), Err(AddressError::MissingSegment));
/// assert_eq!(validate_address(b"h.x"), Err(AddressError::UnknownScheme));
/// ```
pub fn validate_address(address: &[u8]) -> Result<(), AddressError> {
    if address.len() > MAX_ADDRESS_BYTES {
        return Err(AddressError::TooLong { len: address.len() });
    }
    let scheme_end = address.iter().position(|&b| b == b'.').unwrap_or(address.len());
    let (scheme, segments) = address.split_at(scheme_end);
    if !matches!(
        scheme,
        b"g" | b"private" | b"example" | b"peer" | b"self" | b"test" | b"test1" | b"test2" | b"test3" | b"local"
    ) {
        return Err(AddressError::UnknownScheme);
    }
    if segments.is_empty() {
        return Err(AddressError::MissingSegment);
    }
    // This runs on every Prepare decoded, so the common (valid) case is one
    // branch-free pass over a lookup table (a byte is bad if it is invalid,
    // or a dot after a dot); only a failure pays for finding out exactly
    // what is wrong.
    let mut bad = 0u8;
    let mut previous = 0u8;
    for &byte in segments {
        let class = BYTE_CLASS[usize::from(byte)];
        // INVALID always survives the mask; DOT survives only after a DOT.
        bad |= class & (previous | INVALID);
        previous = class;
    }
    let bad = bad != 0 || previous == DOT;
    if bad { Err(explain(address, scheme_end)) } else { Ok(()) }
}

/// The first problem in the segments of an address known to be invalid.
fn explain(address: &[u8], scheme_end: usize) -> AddressError {
    let mut previous_was_dot = false;
    for (index, &byte) in address.iter().enumerate().skip(scheme_end) {
        match BYTE_CLASS[usize::from(byte)] {
            DOT if previous_was_dot => return AddressError::EmptySegment { index },
            DOT => previous_was_dot = true,
            INVALID => return AddressError::InvalidCharacter { byte, index },
            _ => previous_was_dot = false,
        }
    }
    AddressError::EmptySegment { index: address.len() }
}

/// Whether `address` is a valid ILP address.
pub fn is_valid_address(address: &[u8]) -> bool {
    validate_address(address).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_scheme_and_the_longest_address() {
        for scheme in [
            &b"g"[..],
            b"private",
            b"example",
            b"peer",
            b"self",
            b"test",
            b"test1",
            b"test2",
            b"test3",
            b"local",
        ] {
            let mut a = scheme.to_vec();
            a.extend_from_slice(b".a_~-Z9");
            assert_eq!(validate_address(&a), Ok(()), "{a:?}");
        }
        let mut long = b"g.".to_vec();
        long.resize(MAX_ADDRESS_BYTES, b'a');
        assert_eq!(validate_address(&long), Ok(()));
        long.push(b'a');
        assert_eq!(validate_address(&long), Err(AddressError::TooLong { len: 1024 }));
    }

    #[test]
    fn rejects_malformed_addresses() {
        assert_eq!(validate_address(b""), Err(AddressError::UnknownScheme));
        assert_eq!(validate_address(b"test4.a"), Err(AddressError::UnknownScheme));
        assert_eq!(validate_address(b".a"), Err(AddressError::UnknownScheme));
        assert_eq!(validate_address(b"g."), Err(AddressError::EmptySegment { index: 2 }));
        assert_eq!(validate_address(b"g..a"), Err(AddressError::EmptySegment { index: 2 }));
        assert_eq!(
            validate_address(b"test.crypto.xrp."),
            Err(AddressError::EmptySegment { index: 16 })
        );
        assert_eq!(
            validate_address(b"g.a b"),
            Err(AddressError::InvalidCharacter { byte: b' ', index: 3 })
        );
    }
}
