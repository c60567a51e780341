//! Octet Encoding Rules primitives, as the Interledger packets use them.
//!
//! - fixed-width unsigned integers, big-endian;
//! - length determinants: one byte `len` when `len <= 127`, otherwise
//!   `0x80 | n` followed by the length in `n` big-endian bytes, `n` minimal;
//! - variable-length octet strings: a length determinant, then the bytes;
//! - variable-length unsigned integers: a variable-length octet string
//!   holding the minimal big-endian bytes of the value (`0` is `01 00`).
//!
//! [`Reader`] walks a borrowed byte slice and hands out sub-slices of it, so
//! decoding copies nothing and allocates nothing; the packet types map those
//! slices onto a [`bytes::Bytes`] when the caller wants owned, zero-copy
//! fields (`decode_bytes`). The `write_*` functions append to a
//! [`bytes::BytesMut`] and the `*_len` functions compute sizes ahead, so an
//! encoder sizes its buffer exactly once.

use bytes::{BufMut, BytesMut};

use crate::Mode;
use crate::error::{DecodeError, DecodeErrorKind};

/// A cursor over borrowed input that reports errors with absolute offsets.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    input: &'a [u8],
    position: usize,
    /// Absolute offset of `input[0]` in the decoder's whole input.
    base_offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`; offsets count from its first byte.
    pub fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            position: 0,
            base_offset: 0,
        }
    }

    /// Absolute offset of the next byte to read.
    pub fn offset(&self) -> usize {
        self.base_offset + self.position
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.position
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The bytes not read yet, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        self.input.get(self.position..).unwrap_or_default()
    }

    /// An error of `kind` at the current offset.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.offset(), kind)
    }

    /// Reads `len` bytes as a borrowed slice.
    pub fn read_slice(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.position.checked_add(len).filter(|&end| end <= self.input.len());
        match end.and_then(|end| self.input.get(self.position..end)) {
            Some(slice) => {
                self.position += len;
                Ok(slice)
            }
            None => Err(self.error(DecodeErrorKind::UnexpectedEnd {
                needed: len,
                available: self.remaining(),
            })),
        }
    }

    /// Reads exactly `N` bytes as a borrowed array.
    pub fn read_array_ref<const N: usize>(&mut self) -> Result<&'a [u8; N], DecodeError> {
        let slice = self.read_slice(N)?;
        slice.try_into().map_err(|_| {
            self.error(DecodeErrorKind::UnexpectedEnd {
                needed: N,
                available: slice.len(),
            })
        })
    }

    /// Reads exactly `N` bytes into an array.
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_slice(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.read_array::<1>()?[0])
    }

    /// Reads a big-endian `u32`.
    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.read_array()?))
    }

    /// Reads a big-endian `u64`.
    pub fn read_u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.read_array()?))
    }

    /// Reads a length determinant. Rejects `0x80`, more than 8 length bytes
    /// and non-canonical lengths in every mode (the JavaScript readers do too).
    /// The length is not checked against the remaining input; the caller's
    /// next read does that.
    pub fn read_length(&mut self) -> Result<usize, DecodeError> {
        let start = self.offset();
        let first = self.read_u8()?;
        if first & 0x80 == 0 {
            return Ok(usize::from(first));
        }
        let length_bytes = first & 0x7f;
        if length_bytes == 0 {
            return Err(DecodeError::new(start, DecodeErrorKind::EmptyLengthPrefix));
        }
        if length_bytes > 8 {
            return Err(DecodeError::new(
                start,
                DecodeErrorKind::LengthPrefixTooLong { bytes: length_bytes },
            ));
        }
        let bytes = self.read_slice(usize::from(length_bytes))?;
        if bytes.first() == Some(&0) {
            return Err(DecodeError::new(start, DecodeErrorKind::NonCanonicalLength));
        }
        let value = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if value < 128 {
            return Err(DecodeError::new(start, DecodeErrorKind::NonCanonicalLength));
        }
        // A length that does not fit usize cannot fit the input either.
        Ok(usize::try_from(value).unwrap_or(usize::MAX))
    }

    /// Reads a variable-length octet string as a borrowed slice.
    pub fn read_var_octets(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.read_length()?;
        self.read_slice(len)
    }

    /// Reads a variable-length octet string and returns a reader over it,
    /// keeping absolute offsets.
    pub fn read_var_octets_reader(&mut self) -> Result<Reader<'a>, DecodeError> {
        let len = self.read_length()?;
        let base_offset = self.offset();
        let input = self.read_slice(len)?;
        Ok(Reader {
            input,
            position: 0,
            base_offset,
        })
    }

    /// Reads a variable-length unsigned integer (1 to 8 bytes). Strict mode
    /// rejects leading zero bytes; lenient mode accepts them as the
    /// JavaScript readers do.
    pub fn read_var_uint(&mut self, mode: Mode) -> Result<u64, DecodeError> {
        let start = self.offset();
        let bytes = self.read_var_octets()?;
        if bytes.is_empty() {
            return Err(DecodeError::new(start, DecodeErrorKind::EmptyVarUint));
        }
        if bytes.len() > 8 {
            return Err(DecodeError::new(
                start,
                DecodeErrorKind::VarUintTooLong { bytes: bytes.len() },
            ));
        }
        if mode == Mode::Strict && bytes.len() > 1 && bytes.first() == Some(&0) {
            return Err(DecodeError::new(start, DecodeErrorKind::NonCanonicalVarUint));
        }
        Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// Reads an element count as a var-uint and checks that `count` elements
    /// of at least `min_element_bytes` each fit in what is left, so no caller
    /// ever loops (or allocates) on a count the input cannot back.
    pub fn read_count(&mut self, mode: Mode, min_element_bytes: usize) -> Result<usize, DecodeError> {
        let start = self.offset();
        let count = self.read_var_uint(mode)?;
        let available = self.remaining();
        let fits = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(min_element_bytes))
            .is_some_and(|needed| needed <= available);
        if !fits {
            return Err(DecodeError::new(
                start,
                DecodeErrorKind::CountTooLarge { count, available },
            ));
        }
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Ends the read: strict mode rejects unread bytes, lenient mode ignores them.
    pub fn finish(self, mode: Mode) -> Result<(), DecodeError> {
        if mode == Mode::Strict && !self.is_empty() {
            return Err(self.error(DecodeErrorKind::TrailingBytes {
                count: self.remaining(),
            }));
        }
        Ok(())
    }
}

/// Encoded size of a length determinant for `len`.
pub fn length_prefix_len(len: usize) -> usize {
    if len <= 127 { 1 } else { 1 + minimal_be_len(len as u64) }
}

/// Encoded size of a variable-length octet string of `len` bytes.
pub fn var_octets_len(len: usize) -> usize {
    length_prefix_len(len) + len
}

/// Encoded size of `value` as a variable-length unsigned integer.
pub fn var_uint_len(value: u64) -> usize {
    1 + minimal_be_len(value)
}

/// Bytes needed for `value` big-endian without leading zeros (at least 1).
fn minimal_be_len(value: u64) -> usize {
    let significant_bits = 64 - value.leading_zeros() as usize;
    significant_bits.div_ceil(8).max(1)
}

/// Appends a length determinant for `len`.
pub fn write_length(buf: &mut BytesMut, len: usize) {
    if len <= 127 {
        buf.put_u8(len as u8);
    } else {
        let n = minimal_be_len(len as u64);
        buf.put_u8(0x80 | n as u8);
        buf.put_slice(&(len as u64).to_be_bytes()[8 - n..]);
    }
}

/// Appends a variable-length octet string.
pub fn write_var_octets(buf: &mut BytesMut, bytes: &[u8]) {
    write_length(buf, bytes.len());
    buf.put_slice(bytes);
}

/// Appends a variable-length unsigned integer in its minimal form.
pub fn write_var_uint(buf: &mut BytesMut, value: u64) {
    let n = minimal_be_len(value);
    buf.put_u8(n as u8);
    buf.put_slice(&value.to_be_bytes()[8 - n..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_length(len: usize) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write_length(&mut buf, len);
        assert_eq!(buf.len(), length_prefix_len(len));
        buf.to_vec()
    }

    #[test]
    fn length_prefixes_use_short_form_up_to_127_and_minimal_long_form_after() {
        assert_eq!(encode_length(0), [0]);
        assert_eq!(encode_length(127), [127]);
        assert_eq!(encode_length(128), [0x81, 0x80]);
        assert_eq!(encode_length(255), [0x81, 0xff]);
        assert_eq!(encode_length(256), [0x82, 0x01, 0x00]);
        assert_eq!(encode_length(65536), [0x83, 0x01, 0x00, 0x00]);
        for len in [0, 1, 127, 128, 255, 256, 65535, 65536, 1 << 24] {
            assert_eq!(Reader::new(&encode_length(len)).read_length(), Ok(len));
        }
    }

    #[test]
    fn rejects_empty_overlong_and_non_canonical_length_prefixes() {
        let kind = |input: &[u8]| Reader::new(input).read_length().map_err(|e| e.kind);
        assert_eq!(kind(&[0x80]), Err(DecodeErrorKind::EmptyLengthPrefix));
        assert_eq!(
            kind(&[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
            Err(DecodeErrorKind::LengthPrefixTooLong { bytes: 9 })
        );
        assert_eq!(kind(&[0x81, 0x7f]), Err(DecodeErrorKind::NonCanonicalLength));
        assert_eq!(kind(&[0x82, 0x00, 0xff]), Err(DecodeErrorKind::NonCanonicalLength));
        assert_eq!(
            kind(&[0x82, 0x01]),
            Err(DecodeErrorKind::UnexpectedEnd {
                needed: 2,
                available: 1
            })
        );
    }

    #[test]
    fn var_uints_are_minimal_and_strict_mode_rejects_leading_zeros() {
        for (value, bytes) in [(0u64, &[1u8, 0][..]), (255, &[1, 255]), (256, &[2, 1, 0])] {
            let mut buf = BytesMut::new();
            write_var_uint(&mut buf, value);
            assert_eq!(&buf[..], bytes);
            assert_eq!(var_uint_len(value), bytes.len());
        }
        let mut buf = BytesMut::new();
        write_var_uint(&mut buf, u64::MAX);
        assert_eq!(&buf[..], [8, 255, 255, 255, 255, 255, 255, 255, 255]);
        let padded = [2u8, 0, 5];
        assert_eq!(
            Reader::new(&padded).read_var_uint(Mode::Strict).map_err(|e| e.kind),
            Err(DecodeErrorKind::NonCanonicalVarUint)
        );
        assert_eq!(Reader::new(&padded).read_var_uint(Mode::Lenient), Ok(5));
        assert_eq!(
            Reader::new(&[0]).read_var_uint(Mode::Lenient).map_err(|e| e.kind),
            Err(DecodeErrorKind::EmptyVarUint)
        );
    }

    #[test]
    fn errors_carry_absolute_offsets_inside_nested_strings() {
        let input = [9u8, 3, 0xaa, 0x81, 0x05];
        let mut outer = Reader::new(&input);
        outer.read_u8().unwrap();
        let mut inner = outer.read_var_octets_reader().unwrap();
        inner.read_u8().unwrap();
        let err = inner.read_length().unwrap_err();
        assert_eq!(err.offset, 3);
        assert_eq!(err.kind, DecodeErrorKind::NonCanonicalLength);
    }
}
