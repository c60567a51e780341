//! ILP address validation (RFC 15).
//!
//! An address is a scheme (`g`, `private`, `example`, `peer`, `self`,
//! `test`, `test1`, `test2`, `test3`, `local`) followed by one or more
//! segments, each a `.` and at least one of `A-Z a-z 0-9 _ ~ -`, at most
//! [`MAX_ADDRESS_BYTES`] bytes in all. This is the rule ilp-packet 3.x
//! enforces with `^(g|private|example|peer|self|test[1-3]?|local)([.][a-zA-Z0-9_~-]+)+$`.

/// The longest valid ILP address, in bytes.
pub const MAX_ADDRESS_BYTES: usize = 1023;

const SCHEMES: [&[u8]; 10] = [
    b"g", b"private", b"example", b"peer", b"self", b"test", b"test1", b"test2", b"test3", b"local",
];

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
    let Some(scheme) = address.get(..scheme_end) else {
        return Err(AddressError::UnknownScheme);
    };
    if !SCHEMES.contains(&scheme) {
        return Err(AddressError::UnknownScheme);
    }
    if scheme_end == address.len() {
        return Err(AddressError::MissingSegment);
    }
    // From here on the address is `.seg.seg...`; check each byte in one pass.
    let mut previous_was_dot = false;
    for (index, &byte) in address.iter().enumerate().skip(scheme_end) {
        if byte == b'.' {
            if previous_was_dot {
                return Err(AddressError::EmptySegment { index });
            }
            previous_was_dot = true;
        } else if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'~' | b'-') {
            previous_was_dot = false;
        } else {
            return Err(AddressError::InvalidCharacter { byte, index });
        }
    }
    if previous_was_dot {
        return Err(AddressError::EmptySegment { index: address.len() });
    }
    Ok(())
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
        for scheme in SCHEMES {
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
