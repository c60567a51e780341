//! The plain identifiers of the channel world: chain ids, addresses, channel
//! ids, block hashes, signatures and wei amounts, with their text forms.
//!
//! Every type parses from the forms pg-machinomy and Ethereum tooling write
//! (hex with or without `0x`, any case) and serializes as lowercase `0x` hex.
//! Wei amounts are [`U256`] and travel as **decimal strings only**; see
//! [`parse_wei`].

use std::fmt;
use std::str::FromStr;

use primitive_types::U256;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::keccak256;

/// The most decimal digits a wei amount may have: 2^256 has 78.
pub const MAX_WEI_DIGITS: usize = 78;

/// An EVM chain id (1 = mainnet, 3 = ropsten, 4 = rinkeby, 42 = kovan, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChainId(pub u64);

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a hex identifier or a signature did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// A character is not a hex digit.
    #[error("not hex: invalid character at position {position}")]
    InvalidCharacter {
        /// Index of the offending character, after any `0x`.
        position: usize,
    },
    /// The hex decodes to the wrong number of bytes.
    #[error("expected {expected_bytes} bytes ({} hex digits), got {found_digits} hex digits", expected_bytes * 2)]
    WrongLength {
        /// How many bytes the type holds.
        expected_bytes: usize,
        /// How many hex digits were given.
        found_digits: usize,
    },
    /// A mixed-case address whose capitalisation is not its EIP-55 checksum
    /// (usually a typo in the address).
    #[error("mixed-case address fails its EIP-55 checksum")]
    BadChecksum,
}

fn strip_0x(text: &str) -> &str {
    text.strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text)
}

/// The [`hex`] crate's error in this crate's terms; `digits` is the text it
/// was given (after any `0x`).
fn hex_error(error: hex::FromHexError, digits: &str, expected_bytes: usize) -> HexError {
    match error {
        hex::FromHexError::InvalidHexCharacter { index, .. } => HexError::InvalidCharacter { position: index },
        hex::FromHexError::OddLength | hex::FromHexError::InvalidStringLength => HexError::WrongLength {
            expected_bytes,
            found_digits: digits.len(),
        },
    }
}

/// Decodes hex (with or without `0x`, any case) of any even length.
///
/// # Errors
/// [`HexError::InvalidCharacter`] or, for an odd number of digits,
/// [`HexError::WrongLength`] with `expected_bytes` the rounded-up length.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, HexError> {
    // A second `0x` is not hex: only one prefix is stripped.
    let digits = strip_0x(text);
    hex::decode(digits).map_err(|error| hex_error(error, digits, digits.len().div_ceil(2)))
}

fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let digits = strip_0x(text);
    if digits.len() != N * 2 {
        return Err(HexError::WrongLength {
            expected_bytes: N,
            found_digits: digits.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(digits, &mut out).map_err(|error| hex_error(error, digits, N))?;
    Ok(out)
}

/// Lowercase hex with a `0x` prefix.
pub fn encode_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    out.push_str(&hex::encode(bytes));
    out
}

macro_rules! hex_type {
    ($name:ident, $len:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The number of bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), encode_hex(&self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&encode_hex(&self.0))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&encode_hex(&self.0))
                } else {
                    self.0.serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = String::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; $len]>::deserialize(deserializer).map($name)
                }
            }
        }
    };
}

hex_type!(
    Address,
    20,
    "A 20-byte Ethereum address. Parses with or without `0x`, in all-lowercase, all-uppercase or EIP-55 \
     mixed case (checked); displays as lowercase `0x` hex ([`Address::to_checksum`] gives EIP-55)."
);
hex_type!(
    ChannelId,
    32,
    "A 32-byte channel id (a `bytes32` in the contract). Parses from 64 hex digits, with or without `0x`."
);
hex_type!(
    BlockHash,
    32,
    "A 32-byte block hash. Parses from 64 hex digits, with or without `0x`."
);
hex_type!(
    TxHash,
    32,
    "A 32-byte transaction hash. Parses from 64 hex digits, with or without `0x`."
);

impl FromStr for Address {
    type Err = HexError;

    /// Parses an address: 40 hex digits, optional `0x`; a mixed-case address
    /// must carry a valid EIP-55 checksum.
    fn from_str(text: &str) -> Result<Self, HexError> {
        let bytes = decode_fixed::<20>(text)?;
        let address = Address(bytes);
        let digits = strip_0x(text);
        let has_lower = digits.bytes().any(|b| b.is_ascii_lowercase());
        let has_upper = digits.bytes().any(|b| b.is_ascii_uppercase());
        if has_lower && has_upper && address.to_checksum()[2..] != *digits {
            return Err(HexError::BadChecksum);
        }
        Ok(address)
    }
}

impl Address {
    /// The EIP-55 mixed-case checksum form, with `0x`.
    pub fn to_checksum(&self) -> String {
        let lower = encode_hex(&self.0);
        let hash = keccak256(&lower.as_bytes()[2..]);
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (index, ch) in lower[2..].chars().enumerate() {
            let nibble = (hash[index / 2] >> (if index % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if ch.is_ascii_alphabetic() && nibble >= 8 {
                out.push(ch.to_ascii_uppercase());
            } else {
                out.push(ch);
            }
        }
        out
    }

    /// True for the zero address, which the contracts use for "absent".
    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 20]
    }
}

impl FromStr for ChannelId {
    type Err = HexError;
    fn from_str(text: &str) -> Result<Self, HexError> {
        decode_fixed::<32>(text).map(ChannelId)
    }
}

impl FromStr for BlockHash {
    type Err = HexError;
    fn from_str(text: &str) -> Result<Self, HexError> {
        decode_fixed::<32>(text).map(BlockHash)
    }
}

impl FromStr for TxHash {
    type Err = HexError;
    fn from_str(text: &str) -> Result<Self, HexError> {
        decode_fixed::<32>(text).map(TxHash)
    }
}

/// A 65-byte secp256k1 signature as Ethereum RPCs write it: `r ‖ s ‖ v`.
///
/// Parsing checks only the length; whether `v`, `r` and `s` are acceptable
/// is decided by [`verify_payment`](crate::verify_payment) under a scheme and
/// a [`SignaturePolicy`](crate::SignaturePolicy).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 65]);

impl Signature {
    /// The number of bytes.
    pub const LEN: usize = 65;

    /// Wraps 65 bytes.
    ///
    /// # Errors
    /// [`SignatureError::BadLength`](crate::SignatureError::BadLength) for any
    /// other length.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, crate::SignatureError> {
        let array: [u8; 65] = bytes.try_into().map_err(|_| crate::SignatureError::BadLength {
            length_bytes: bytes.len(),
        })?;
        Ok(Signature(array))
    }

    /// Parses hex (with or without `0x`).
    ///
    /// # Errors
    /// [`SignatureError::NotHex`](crate::SignatureError::NotHex) or
    /// [`SignatureError::BadLength`](crate::SignatureError::BadLength).
    pub fn from_hex(text: &str) -> Result<Self, crate::SignatureError> {
        let bytes = decode_hex(text).map_err(|_| crate::SignatureError::NotHex)?;
        Signature::from_slice(&bytes)
    }

    /// The `r` value (bytes 0..32).
    pub fn r(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[..32]);
        out
    }

    /// The `s` value (bytes 32..64).
    pub fn s(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0[32..64]);
        out
    }

    /// The `v` byte (byte 64).
    pub fn v(&self) -> u8 {
        self.0[64]
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", encode_hex(&self.0))
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_hex(&self.0))
    }
}

impl FromStr for Signature {
    type Err = crate::SignatureError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Signature::from_hex(text)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&encode_hex(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl serde::de::Visitor<'_> for BytesVisitor {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 65-byte signature")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Signature, E> {
                Signature::from_slice(bytes).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Signature, E> {
                Signature::from_hex(text).map_err(E::custom)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(BytesVisitor)
        } else {
            deserializer.deserialize_bytes(BytesVisitor)
        }
    }
}

/// Parses a wei amount from its decimal text: ASCII digits only, no sign, no
/// exponent, no fraction, at most [`MAX_WEI_DIGITS`] digits, below 2^256.
/// Leading zeros are allowed (`"007"` is 7).
///
/// # Errors
/// [`AmountError`] says which rule the text broke.
pub fn parse_wei(text: &str) -> Result<U256, AmountError> {
    if text.is_empty() {
        return Err(AmountError::Empty);
    }
    if text.starts_with('-') {
        return Err(AmountError::Negative);
    }
    if let Some(position) = text.bytes().position(|b| !b.is_ascii_digit()) {
        return Err(AmountError::NotDecimal { position });
    }
    let digits = text.trim_start_matches('0');
    if digits.len() > MAX_WEI_DIGITS {
        return Err(AmountError::TooLarge);
    }
    U256::from_dec_str(if digits.is_empty() { "0" } else { digits }).map_err(|_| AmountError::TooLarge)
}

/// Why a wei amount was refused (pg-machinomy's `invalid_amount` /
/// `negative_amount`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The amount was a JSON number; wei travels as a decimal string so no
    /// precision is lost on the way (pg-machinomy: "wei values must be text").
    #[error("wei amounts must be decimal strings, not JSON numbers")]
    NotAString,
    /// The string is empty.
    #[error("empty amount")]
    Empty,
    /// The amount is negative.
    #[error("negative amount")]
    Negative,
    /// A character other than a decimal digit (an exponent, a fraction, a
    /// sign, hex, whitespace).
    #[error("amount is not a plain decimal integer (bad character at position {position})")]
    NotDecimal {
        /// Index of the first bad character.
        position: usize,
    },
    /// The amount does not fit in 256 bits.
    #[error("amount is 2^256 or more")]
    TooLarge,
}

/// Serde for `U256` wei amounts as decimal strings (the JSON form
/// pg-machinomy uses); compact binary formats get the 32 big-endian bytes.
pub mod wei {
    use super::*;

    /// Serializes as a decimal string (human-readable) or 32 bytes.
    pub fn serialize<S: Serializer>(amount: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&amount.to_string())
        } else {
            amount.to_big_endian().serialize(serializer)
        }
    }

    /// Deserializes from a decimal string (human-readable) or 32 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            parse_wei(&text).map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(deserializer).map(|bytes| U256::from_big_endian(&bytes))
        }
    }

    /// The same for `Option<U256>` (JSON `null` for `None`).
    pub mod option {
        use super::*;

        /// Serializes `None` as `null`, `Some` as [`wei`](super) does.
        pub fn serialize<S: Serializer>(amount: &Option<U256>, serializer: S) -> Result<S::Ok, S::Error> {
            #[derive(Serialize)]
            struct Wrapped<'a>(#[serde(with = "super")] &'a U256);
            amount.as_ref().map(Wrapped).serialize(serializer)
        }

        /// Deserializes `null` as `None`.
        pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<U256>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] U256);
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(amount)| amount))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_in_every_accepted_form() {
        let lower = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
        let checksummed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        let a: Address = lower.parse().unwrap();
        assert_eq!(a.to_checksum(), checksummed);
        assert_eq!(checksummed.parse::<Address>().unwrap(), a);
        assert_eq!(lower[2..].parse::<Address>().unwrap(), a);
        assert_eq!(lower.to_uppercase().replace("0X", "0x").parse::<Address>().unwrap(), a);
        let typo = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
        assert_eq!(typo.parse::<Address>(), Err(HexError::BadChecksum));
        assert!(matches!("0x1234".parse::<Address>(), Err(HexError::WrongLength { .. })));
        // Found by the fuzzer: a doubled prefix is 40 characters but not 40 hex digits.
        assert!(matches!(
            "0x0xe4f70109ccc5135f50cc359d24cb7686247df4".parse::<Address>(),
            Err(HexError::InvalidCharacter { position: 1 })
        ));
        assert!("0x0x".parse::<BlockHash>().is_err());
        assert!(decode_hex("0x0x00").is_err());
        assert!(matches!(
            "0xzzaeb6053f3e94c9b9a09f33669435e7ef1beaed".parse::<Address>(),
            Err(HexError::InvalidCharacter { position: 0 })
        ));
    }

    #[test]
    fn hex_keeps_its_prefix_case_and_error_rules() {
        assert_eq!(decode_hex("0xABcd"), Ok(vec![0xab, 0xcd]));
        assert_eq!(decode_hex("0XabCD"), Ok(vec![0xab, 0xcd]));
        assert_eq!(decode_hex(""), Ok(vec![]));
        assert_eq!(
            decode_hex("0xabc"),
            Err(HexError::WrongLength {
                expected_bytes: 2,
                found_digits: 3
            })
        );
        assert_eq!(decode_hex("ab\u{e9}"), Err(HexError::InvalidCharacter { position: 2 }));
        assert_eq!(encode_hex(&[0x00, 0xff, 0x1a]), "0x00ff1a");
        assert_eq!(encode_hex(&[]), "0x");
        let hash: BlockHash = format!("0X{}", "Ab".repeat(32)).parse().unwrap();
        assert_eq!(hash.to_string(), format!("0x{}", "ab".repeat(32)));
        assert_eq!(
            "0x00".parse::<ChannelId>(),
            Err(HexError::WrongLength {
                expected_bytes: 32,
                found_digits: 2
            })
        );
    }

    #[test]
    fn wei_accepts_only_plain_decimal_strings_below_2_pow_256() {
        assert_eq!(parse_wei("0"), Ok(U256::zero()));
        assert_eq!(parse_wei("007"), Ok(U256::from(7)));
        let max = U256::MAX.to_string();
        assert_eq!(parse_wei(&max), Ok(U256::MAX));
        let two_pow_256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(parse_wei(two_pow_256), Err(AmountError::TooLarge));
        assert_eq!(parse_wei("-1"), Err(AmountError::Negative));
        assert_eq!(parse_wei("1e21"), Err(AmountError::NotDecimal { position: 1 }));
        assert_eq!(parse_wei("1.0"), Err(AmountError::NotDecimal { position: 1 }));
        assert_eq!(parse_wei("+1"), Err(AmountError::NotDecimal { position: 0 }));
        assert_eq!(parse_wei(" 1"), Err(AmountError::NotDecimal { position: 0 }));
        assert_eq!(parse_wei(""), Err(AmountError::Empty));
        let long_zeros = format!("{}1", "0".repeat(200));
        assert_eq!(parse_wei(&long_zeros), Ok(U256::one()));
    }

    #[test]
    fn signature_needs_65_bytes() {
        assert!(Signature::from_hex(&"00".repeat(65)).is_ok());
        assert_eq!(
            Signature::from_hex(&"00".repeat(64)),
            Err(crate::SignatureError::BadLength { length_bytes: 64 })
        );
        assert_eq!(Signature::from_hex("0xzz"), Err(crate::SignatureError::NotHex));
    }
}
