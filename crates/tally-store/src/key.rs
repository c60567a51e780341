//! Order-preserving key encoding.
//!
//! Stores order keys bytewise. [`KeyBuilder`] writes each part of a key so
//! that comparing the encoded bytes compares the parts, in order, by value:
//!
//! - integers are big-endian (signed ones with the sign bit flipped), so
//!   `u64(2) < u64(10)` holds for the bytes too;
//! - variable-length parts ([`bytes`](KeyBuilder::bytes), [`str`](KeyBuilder::str)
//!   and the namespace) are escaped and terminated, so no part can run into
//!   the next: `("ab", 1)` and `("a", …)` never collide and a part that is a
//!   prefix of another sorts first;
//! - fixed-size parts ([`fixed`](KeyBuilder::fixed)) are copied as they are.
//!
//! A key built from complete parts is also the scan prefix of every key that
//! continues it. [`KeyReader`] decodes the parts again.
//!
//! ```
//! use tally_store::key::{KeyBuilder, KeyReader};
//!
//! let key = KeyBuilder::new("ledger").u64(42).str("alice").build();
//! let prefix = KeyBuilder::new("ledger").u64(42).build();
//! assert!(key.starts_with(&prefix));
//!
//! let mut reader = KeyReader::new("ledger", &key)?;
//! assert_eq!(reader.u64()?, 42);
//! assert_eq!(reader.str()?, "alice");
//! reader.finish()?;
//! # Ok::<(), tally_store::key::KeyError>(())
//! ```
//!
//! Escaping: a variable-length part writes each byte as is except `0x00`,
//! which becomes `0x00 0xFF`, then ends with `0x00 0x01`. Because the
//! terminator sorts below every escaped or literal continuation, a shorter
//! part sorts before any longer part it is a prefix of.

use std::fmt::Write as _;

/// Marks the end of a variable-length part.
const TERMINATOR: [u8; 2] = [0x00, 0x01];
/// Follows a `0x00` that belongs to the data.
const ESCAPED_ZERO: u8 = 0xFF;

/// Builds an order-preserving key part by part. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyBuilder {
    bytes: Vec<u8>,
}

impl KeyBuilder {
    /// Starts a key in the namespace `namespace` (a domain's prefix, such as
    /// `"ledger"`). Namespaces never overlap: no key of `"ledger"` starts
    /// with the prefix of `"ledger2"`, and the reverse.
    pub fn new(namespace: &str) -> Self {
        KeyBuilder::empty().str(namespace)
    }

    /// Starts a key with no namespace.
    pub fn empty() -> Self {
        KeyBuilder { bytes: Vec::new() }
    }

    /// Appends a `u8`.
    pub fn u8(mut self, value: u8) -> Self {
        self.bytes.push(value);
        self
    }

    /// Appends a `u16`, big-endian.
    pub fn u16(mut self, value: u16) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a `u32`, big-endian.
    pub fn u32(mut self, value: u32) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a `u64`, big-endian.
    pub fn u64(mut self, value: u64) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a `u128`, big-endian.
    pub fn u128(mut self, value: u128) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends an `i64` so that negative numbers sort before positive ones.
    pub fn i64(mut self, value: i64) -> Self {
        self.bytes
            .extend_from_slice(&((value as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    /// Appends a variable-length byte string (escaped and terminated).
    pub fn bytes(mut self, value: &[u8]) -> Self {
        escape_into(&mut self.bytes, value);
        self.bytes.extend_from_slice(&TERMINATOR);
        self
    }

    /// Appends a variable-length string (escaped and terminated).
    pub fn str(self, value: &str) -> Self {
        self.bytes(value.as_bytes())
    }

    /// Appends bytes as they are. Use it only for parts whose length is fixed
    /// by the key layout (a 32-byte id, a 20-byte address); a variable-length
    /// part written this way breaks ordering and decoding.
    pub fn fixed(mut self, value: &[u8]) -> Self {
        self.bytes.extend_from_slice(value);
        self
    }

    /// Appends the escaped form of `value` **without** a terminator, and
    /// returns the result as a scan prefix: it matches every key whose next
    /// variable-length part starts with `value`. Nothing can follow it.
    pub fn bytes_prefix(mut self, value: &[u8]) -> Vec<u8> {
        escape_into(&mut self.bytes, value);
        self.bytes
    }

    /// The key so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The finished key.
    pub fn build(self) -> Vec<u8> {
        self.bytes
    }
}

impl From<KeyBuilder> for Vec<u8> {
    fn from(key: KeyBuilder) -> Self {
        key.build()
    }
}

fn escape_into(out: &mut Vec<u8>, value: &[u8]) {
    out.reserve(value.len() + TERMINATOR.len());
    for &byte in value {
        out.push(byte);
        if byte == 0 {
            out.push(ESCAPED_ZERO);
        }
    }
}

/// A key that does not decode as the layout the reader expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key ended inside a part.
    #[error("key ends at byte {offset} but the layout expects {expected_bytes} more bytes")]
    Truncated {
        /// Where the part started.
        offset: usize,
        /// How many bytes the part needed at least.
        expected_bytes: usize,
    },
    /// A variable-length part holds `0x00` followed by a byte other than the
    /// escape (`0xFF`) or the terminator (`0x01`).
    #[error("invalid escape 0x00 0x{found:02x} at byte {offset}")]
    BadEscape {
        /// Offset of the `0x00`.
        offset: usize,
        /// The byte that followed it.
        found: u8,
    },
    /// The key belongs to another namespace.
    #[error("key is in namespace {found:?}, expected {expected:?}")]
    WrongNamespace {
        /// The namespace the reader was told to expect.
        expected: String,
        /// What the key holds instead (lossy UTF-8).
        found: String,
    },
    /// A string part is not UTF-8.
    #[error("part at byte {offset} is not UTF-8")]
    NotUtf8 {
        /// Where the part started.
        offset: usize,
    },
    /// Bytes remain after the last expected part.
    #[error("{remaining} unexpected bytes after the last part, at byte {offset}")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        remaining: usize,
    },
}

/// Decodes a key written by [`KeyBuilder`], part by part, in the same order.
#[derive(Debug, Clone)]
pub struct KeyReader<'a> {
    key: &'a [u8],
    offset: usize,
}

impl<'a> KeyReader<'a> {
    /// Starts reading `key`, checking that its namespace is `namespace`.
    pub fn new(namespace: &str, key: &'a [u8]) -> Result<Self, KeyError> {
        let mut reader = KeyReader::raw(key);
        let found = reader.bytes()?;
        if found != namespace.as_bytes() {
            return Err(KeyError::WrongNamespace {
                expected: namespace.to_owned(),
                found: String::from_utf8_lossy(&found).into_owned(),
            });
        }
        Ok(reader)
    }

    /// Starts reading `key` from its first byte, with no namespace check.
    pub fn raw(key: &'a [u8]) -> Self {
        KeyReader { key, offset: 0 }
    }

    /// The bytes not read yet.
    pub fn remaining(&self) -> &'a [u8] {
        &self.key[self.offset..]
    }

    /// Reads `N` bytes as they are (a part written with [`KeyBuilder::fixed`]).
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], KeyError> {
        let rest = self.remaining();
        let Some((head, _)) = rest.split_first_chunk::<N>() else {
            return Err(KeyError::Truncated {
                offset: self.offset,
                expected_bytes: N,
            });
        };
        self.offset += N;
        Ok(*head)
    }

    /// Reads a `u8`.
    pub fn u8(&mut self) -> Result<u8, KeyError> {
        self.fixed::<1>().map(|[byte]| byte)
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, KeyError> {
        self.fixed().map(u16::from_be_bytes)
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, KeyError> {
        self.fixed().map(u32::from_be_bytes)
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, KeyError> {
        self.fixed().map(u64::from_be_bytes)
    }

    /// Reads a big-endian `u128`.
    pub fn u128(&mut self) -> Result<u128, KeyError> {
        self.fixed().map(u128::from_be_bytes)
    }

    /// Reads an `i64` written by [`KeyBuilder::i64`].
    pub fn i64(&mut self) -> Result<i64, KeyError> {
        self.fixed().map(|bytes| (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
    }

    /// Reads a variable-length byte string.
    pub fn bytes(&mut self) -> Result<Vec<u8>, KeyError> {
        let start = self.offset;
        let mut out = Vec::new();
        let mut index = start;
        loop {
            let Some(&byte) = self.key.get(index) else {
                return Err(KeyError::Truncated {
                    offset: start,
                    expected_bytes: index - start + TERMINATOR.len(),
                });
            };
            if byte != 0 {
                out.push(byte);
                index += 1;
                continue;
            }
            match self.key.get(index + 1) {
                Some(&ESCAPED_ZERO) => {
                    out.push(0);
                    index += 2;
                }
                Some(&terminator) if terminator == TERMINATOR[1] => {
                    self.offset = index + 2;
                    return Ok(out);
                }
                Some(&found) => return Err(KeyError::BadEscape { offset: index, found }),
                None => {
                    return Err(KeyError::Truncated {
                        offset: start,
                        expected_bytes: index - start + TERMINATOR.len(),
                    });
                }
            }
        }
    }

    /// Reads a variable-length UTF-8 string.
    pub fn str(&mut self) -> Result<String, KeyError> {
        let offset = self.offset;
        String::from_utf8(self.bytes()?).map_err(|_| KeyError::NotUtf8 { offset })
    }

    /// Checks that the whole key was read.
    pub fn finish(self) -> Result<(), KeyError> {
        let remaining = self.key.len() - self.offset;
        if remaining == 0 {
            Ok(())
        } else {
            Err(KeyError::TrailingBytes {
                offset: self.offset,
                remaining,
            })
        }
    }
}

/// Renders a key for error messages: printable ASCII as is, other bytes as
/// `\xNN`, cut after 64 bytes.
pub(crate) fn display_key(key: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 64;
    let mut out = String::with_capacity(key.len().min(SHOWN_BYTES_MAX) + 2);
    out.push('"');
    for &byte in key.iter().take(SHOWN_BYTES_MAX) {
        if byte.is_ascii_graphic() || byte == b' ' {
            if byte == b'"' || byte == b'\\' {
                out.push('\\');
            }
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    if key.len() > SHOWN_BYTES_MAX {
        let _ = write!(out, "… ({} bytes)", key.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn namespaces_that_share_a_prefix_never_overlap() {
        let ledger = KeyBuilder::new("ledger").build();
        let ledger2 = KeyBuilder::new("ledger2").u64(1).build();
        assert!(!ledger2.starts_with(&ledger));
        assert!(ledger < ledger2);
    }

    #[test]
    fn rejects_bad_escapes_and_truncation() {
        assert_eq!(
            KeyReader::raw(&[b'a', 0x00, 0x07]).bytes(),
            Err(KeyError::BadEscape { offset: 1, found: 7 })
        );
        assert!(matches!(
            KeyReader::raw(b"abc").bytes(),
            Err(KeyError::Truncated { offset: 0, .. })
        ));
        assert!(matches!(
            KeyReader::raw(&[1, 2]).u64(),
            Err(KeyError::Truncated {
                offset: 0,
                expected_bytes: 8
            })
        ));
        let key = KeyBuilder::new("a").u8(1).build();
        assert!(matches!(
            KeyReader::new("b", &key),
            Err(KeyError::WrongNamespace { .. })
        ));
        let reader = KeyReader::new("a", &key).expect("namespace matches");
        assert_eq!(
            reader.finish(),
            Err(KeyError::TrailingBytes {
                offset: 3,
                remaining: 1
            })
        );
    }

    #[test]
    fn display_key_escapes_binary_and_cuts_long_keys() {
        assert_eq!(display_key(b"a\x00\"b"), r#""a\x00\"b""#);
        assert!(display_key(&[b'x'; 100]).ends_with("(100 bytes)"));
    }

    proptest! {
        #[test]
        fn byte_parts_keep_their_order(a in proptest::collection::vec(any::<u8>(), 0..12),
                                       b in proptest::collection::vec(any::<u8>(), 0..12),
                                       x in any::<u64>(), y in any::<u64>()) {
            let key_a = KeyBuilder::new("ns").bytes(&a).u64(x).build();
            let key_b = KeyBuilder::new("ns").bytes(&b).u64(y).build();
            prop_assert_eq!(key_a.cmp(&key_b), (&a, x).cmp(&(&b, y)));
        }

        #[test]
        fn integer_parts_keep_their_order(a in any::<i64>(), b in any::<i64>(),
                                          c in any::<u128>(), d in any::<u128>()) {
            let key_a = KeyBuilder::empty().i64(a).u128(c).build();
            let key_b = KeyBuilder::empty().i64(b).u128(d).build();
            prop_assert_eq!(key_a.cmp(&key_b), (a, c).cmp(&(b, d)));
        }

        #[test]
        fn every_layout_decodes_to_what_was_written(ns in "[a-z]{0,8}",
                                                    a in proptest::collection::vec(any::<u8>(), 0..16),
                                                    s in ".{0,8}", x in any::<u32>(), y in any::<i64>(),
                                                    f in any::<[u8; 4]>()) {
            let key = KeyBuilder::new(&ns).bytes(&a).u32(x).str(&s).i64(y).fixed(&f).u16(7).build();
            let mut reader = KeyReader::new(&ns, &key).expect("namespace matches");
            prop_assert_eq!(reader.bytes().expect("bytes"), a);
            prop_assert_eq!(reader.u32().expect("u32"), x);
            prop_assert_eq!(reader.str().expect("str"), s);
            prop_assert_eq!(reader.i64().expect("i64"), y);
            prop_assert_eq!(reader.fixed::<4>().expect("fixed"), f);
            prop_assert_eq!(reader.u16().expect("u16"), 7);
            prop_assert!(reader.finish().is_ok());
        }

        #[test]
        fn bytes_prefix_matches_exactly_the_parts_it_starts(p in proptest::collection::vec(any::<u8>(), 0..6),
                                                            a in proptest::collection::vec(any::<u8>(), 0..8)) {
            let prefix = KeyBuilder::new("ns").bytes_prefix(&p);
            let key = KeyBuilder::new("ns").bytes(&a).build();
            prop_assert_eq!(key.starts_with(&prefix), a.starts_with(&p));
        }

        #[test]
        fn reader_never_panics_on_arbitrary_bytes(key in proptest::collection::vec(any::<u8>(), 0..32)) {
            let mut reader = KeyReader::raw(&key);
            let _ = reader.bytes();
            let _ = reader.u64();
            let _ = reader.str();
            let _ = reader.finish();
        }
    }
}
