//! The marketplace's plain data: ids, storage requests and asks, slots and
//! their states, as the Codex contract defines them.
//!
//! Token amounts are [`U256`]; sizes are `u64` bytes and times `u64` seconds
//! (on-chain quantities are seconds, so this crate uses seconds throughout,
//! not the milliseconds of the other tally crates). Every derived amount
//! ([`StorageAsk::price_per_slot`], ...) is computed with checked arithmetic
//! and fails with [`MarketError::Overflow`] rather than wrap.
//!
//! Request and slot ids are keccak-256 of the Solidity ABI encoding, exactly
//! as the contract derives them: see [`StorageRequest::id`] and
//! [`slot_id`].

use std::fmt;
use std::str::FromStr;

use primitive_types::U256;
use serde::{Deserialize, Serialize};

use crate::error::MarketError;

/// keccak-256 (the original Keccak, as Ethereum uses it).
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    use tiny_keccak::Hasher as _;
    let mut hasher = tiny_keccak::Keccak::v256();
    hasher.update(bytes);
    let mut out = [0u8; 32];
    hasher.finalize(&mut out);
    out
}

/// A hex string that is not the expected id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected_bytes} bytes of hex (optionally 0x-prefixed), got {found:?}")]
pub struct HexError {
    /// How many bytes the id has.
    pub expected_bytes: usize,
    /// What was given (cut to 80 characters).
    pub found: String,
}

fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], HexError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let mut out = [0u8; N];
    match hex::decode_to_slice(digits, &mut out) {
        Ok(()) => Ok(out),
        Err(_) => Err(HexError {
            expected_bytes: N,
            found: text.chars().take(80).collect(),
        }),
    }
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lower-case hex, no prefix.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            /// Parses hex, with or without a `0x` prefix.
            fn from_str(text: &str) -> Result<Self, HexError> {
                parse_hex(text).map($name)
            }
        }
    };
}

byte_id!(
    /// A storage request's id: keccak-256 of its ABI encoding ([`StorageRequest::id`]).
    RequestId,
    32
);
byte_id!(
    /// A slot's id: keccak-256 of `abi.encode(requestId, slotIndex)` ([`slot_id`]).
    SlotId,
    32
);
byte_id!(
    /// The random nonce that tells apart otherwise equal requests.
    Nonce,
    32
);
byte_id!(
    /// An availability's id, chosen by the host (Codex draws 32 random bytes).
    AvailabilityId,
    32
);
byte_id!(
    /// A reservation's id, chosen by the host (Codex draws 32 random bytes).
    ReservationId,
    32
);
byte_id!(
    /// Identifies one delta operation (a [`release`](crate::Reservations::release)
    /// or [`return_bytes`](crate::Reservations::return_bytes)) so that
    /// repeating it after a lost acknowledgement applies nothing twice.
    OpId,
    32
);
byte_id!(
    /// Identifies one operation on the [marketplace](crate::marketplace)
    /// (a transaction hash, chosen by the caller): repeating an operation
    /// with its id after a lost acknowledgement returns its receipt and
    /// applies nothing again.
    TxId,
    32
);
byte_id!(
    /// A 20-byte Ethereum address (a host, a client).
    Address,
    20
);

impl TxId {
    /// A deterministic transaction id: keccak-256 of `label` and the parts,
    /// each length-prefixed (as [`OpId::derive`]).
    pub fn derive(label: &str, parts: &[&[u8]]) -> TxId {
        TxId(OpId::derive(label, parts).0)
    }
}

impl OpId {
    /// A deterministic op id: keccak-256 of `label` and the parts, each
    /// length-prefixed so that no two inputs collide.
    pub fn derive(label: &str, parts: &[&[u8]]) -> OpId {
        let mut bytes = Vec::with_capacity(64);
        for part in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        OpId(keccak256(&bytes))
    }
}

/// serde for [`U256`] as its minimal big-endian bytes: compact in the
/// store's binary codec and independent of any text form.
pub(crate) mod u256_bytes {
    use primitive_types::U256;
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = value.to_big_endian();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        serializer.serialize_bytes(&bytes[first..])
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = U256;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("at most 32 big-endian bytes")
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<U256, E> {
            if bytes.len() > 32 {
                return Err(E::invalid_length(bytes.len(), &self));
            }
            Ok(U256::from_big_endian(bytes))
        }

        fn visit_borrowed_bytes<E: de::Error>(self, bytes: &'de [u8]) -> Result<U256, E> {
            self.visit_bytes(bytes)
        }

        fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<U256, E> {
            self.visit_bytes(&bytes)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        deserializer.deserialize_bytes(BytesVisitor)
    }

    /// The same for `Option<U256>`.
    pub(crate) mod option {
        use primitive_types::U256;
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        #[derive(Serialize, Deserialize)]
        struct Wrapped(#[serde(with = "super")] U256);

        pub(crate) fn serialize<S: Serializer>(value: &Option<U256>, serializer: S) -> Result<S::Ok, S::Error> {
            value.map(Wrapped).serialize(serializer)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<U256>, D::Error> {
            Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(value)| value))
        }
    }
}

/// Parses a decimal token amount (no sign, no exponent, at most 78 digits).
///
/// # Errors
/// [`MarketError::Invalid`] naming `field`.
pub fn parse_amount(field: &'static str, text: &str) -> Result<U256, MarketError> {
    let valid = !text.is_empty() && text.len() <= 78 && text.bytes().all(|b| b.is_ascii_digit());
    let parsed = if valid { U256::from_dec_str(text).ok() } else { None };
    parsed.ok_or_else(|| MarketError::Invalid {
        field,
        reason: format!(
            "{:?} is not a decimal amount below 2^256",
            text.chars().take(80).collect::<String>()
        ),
    })
}

fn checked_mul(what: &'static str, a: U256, b: U256) -> Result<U256, MarketError> {
    a.checked_mul(b).ok_or(MarketError::Overflow { what })
}

/// What a client asks for: the `Ask` struct of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageAsk {
    /// How often proofs are required: on average once every this many
    /// periods (`0` = every period).
    #[serde(with = "u256_bytes")]
    pub proof_probability: U256,
    /// Tokens paid per byte per second to the hosts.
    #[serde(with = "u256_bytes")]
    pub price_per_byte_per_second: U256,
    /// Tokens per byte a host must lock as collateral to fill a slot.
    #[serde(with = "u256_bytes")]
    pub collateral_per_byte: U256,
    /// The number of slots (hosts) the data is spread over.
    pub slots: u64,
    /// The size of each slot.
    pub slot_size_bytes: u64,
    /// How long the data must be stored.
    pub duration_secs: u64,
    /// How many slots may be lost before the data counts as lost.
    pub max_slot_loss: u64,
}

impl StorageAsk {
    /// `price_per_byte_per_second × slot_size_bytes`.
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn price_per_slot_per_second(&self) -> Result<U256, MarketError> {
        checked_mul(
            "price per slot per second",
            self.price_per_byte_per_second,
            U256::from(self.slot_size_bytes),
        )
    }

    /// `duration_secs × price_per_slot_per_second`: what one host earns.
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn price_per_slot(&self) -> Result<U256, MarketError> {
        checked_mul(
            "price per slot",
            U256::from(self.duration_secs),
            self.price_per_slot_per_second()?,
        )
    }

    /// `slots × price_per_slot`: what the client pays up front.
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn total_price(&self) -> Result<U256, MarketError> {
        checked_mul("total price", U256::from(self.slots), self.price_per_slot()?)
    }

    /// `collateral_per_byte × slot_size_bytes`: what a host locks per slot.
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn collateral_per_slot(&self) -> Result<U256, MarketError> {
        checked_mul(
            "collateral per slot",
            self.collateral_per_byte,
            U256::from(self.slot_size_bytes),
        )
    }

    /// `slots × slot_size_bytes`: the size of the whole dataset.
    ///
    /// # Errors
    /// [`MarketError::Overflow`].
    pub fn size_bytes(&self) -> Result<u64, MarketError> {
        self.slots
            .checked_mul(self.slot_size_bytes)
            .ok_or(MarketError::Overflow { what: "request size" })
    }
}

/// What is stored: the dataset's content id and the merkle root proofs are
/// checked against (the contract's `Content`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageContent {
    /// The binary CID of the dataset (at most [`MAX_CID_BYTES`]).
    pub cid: Vec<u8>,
    /// The merkle root of the dataset.
    pub merkle_root: [u8; 32],
}

/// The longest CID a [`StorageContent`] may hold.
pub const MAX_CID_BYTES: usize = 256;

/// A storage request as the contract stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageRequest {
    /// Who pays.
    pub client: Address,
    /// What is asked for.
    pub ask: StorageAsk,
    /// What is stored.
    pub content: StorageContent,
    /// Seconds after the request was made at which it expires unless all
    /// slots are filled.
    pub expiry_secs: u64,
    /// Tells apart otherwise equal requests.
    pub nonce: Nonce,
}

impl StorageRequest {
    /// The request's ABI encoding, as `abi.encode(request)` in Solidity
    /// (Codex: `AbiEncoder.encode((request,))`).
    ///
    /// The request is a tuple with a dynamic member (the CID bytes), so the
    /// encoding is one word holding the offset `0x20` of the tuple, then the
    /// tuple: its head (client, the seven words of the ask inline since the
    /// ask is static, the offset of the content tuple, expiry, nonce: eleven
    /// words), then the content tuple (offset `0x40` of the CID, merkle root,
    /// then the CID's length word and its bytes right-padded to 32).
    ///
    /// # Errors
    /// [`MarketError::Invalid`] when the CID is longer than [`MAX_CID_BYTES`].
    pub fn abi_encode(&self) -> Result<Vec<u8>, MarketError> {
        let cid = &self.content.cid;
        if cid.len() > MAX_CID_BYTES {
            return Err(MarketError::Invalid {
                field: "cid",
                reason: format!("{} bytes; at most {MAX_CID_BYTES}", cid.len()),
            });
        }
        const HEAD_WORDS: u64 = 11;
        let padded_cid = cid.len().div_ceil(32) * 32;
        let mut out = Vec::with_capacity(32 * 16 + padded_cid);
        push_word_u64(&mut out, 0x20);
        let mut client = [0u8; 32];
        client[12..].copy_from_slice(self.client.as_bytes());
        out.extend_from_slice(&client);
        let ask = &self.ask;
        for amount in [
            ask.proof_probability,
            ask.price_per_byte_per_second,
            ask.collateral_per_byte,
        ] {
            out.extend_from_slice(&amount.to_big_endian());
        }
        for word in [ask.slots, ask.slot_size_bytes, ask.duration_secs, ask.max_slot_loss] {
            push_word_u64(&mut out, word);
        }
        push_word_u64(&mut out, HEAD_WORDS * 32);
        push_word_u64(&mut out, self.expiry_secs);
        out.extend_from_slice(self.nonce.as_bytes());
        // The content tuple: (bytes cid, bytes32 merkleRoot).
        push_word_u64(&mut out, 0x40);
        out.extend_from_slice(&self.content.merkle_root);
        push_word_u64(&mut out, cid.len() as u64);
        out.extend_from_slice(cid);
        out.resize(out.len() + (padded_cid - cid.len()), 0);
        debug_assert_eq!(out.len() % 32, 0);
        debug_assert_eq!(out.len(), 32 * (1 + HEAD_WORDS as usize + 3) + padded_cid);
        Ok(out)
    }

    /// The request id: keccak-256 of [`abi_encode`](Self::abi_encode).
    ///
    /// # Errors
    /// As [`abi_encode`](Self::abi_encode).
    pub fn id(&self) -> Result<RequestId, MarketError> {
        Ok(RequestId(keccak256(&self.abi_encode()?)))
    }

    /// The id of slot `slot_index` of this request.
    ///
    /// # Errors
    /// As [`abi_encode`](Self::abi_encode).
    pub fn slot_id(&self, slot_index: u64) -> Result<SlotId, MarketError> {
        Ok(slot_id(&self.id()?, slot_index))
    }
}

fn push_word_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&[0u8; 24]);
    out.extend_from_slice(&value.to_be_bytes());
}

/// The slot id: keccak-256 of `abi.encode(requestId, slotIndex)`, which is
/// the 32 id bytes followed by the index as a big-endian 256-bit word.
pub fn slot_id(request_id: &RequestId, slot_index: u64) -> SlotId {
    let mut encoding = [0u8; 64];
    encoding[..32].copy_from_slice(request_id.as_bytes());
    encoding[56..].copy_from_slice(&slot_index.to_be_bytes());
    SlotId(keccak256(&encoding))
}

/// One slot of a request: which request, which index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SlotRef {
    /// The request.
    pub request_id: RequestId,
    /// The slot's index, below the request's `slots`.
    pub slot_index: u64,
}

impl SlotRef {
    /// The slot's id.
    pub fn id(&self) -> SlotId {
        slot_id(&self.request_id, self.slot_index)
    }
}

/// A request's state on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestState {
    /// Waiting for its slots to be filled.
    New,
    /// All slots filled; proofs are required.
    Started,
    /// Not filled before expiry.
    Cancelled,
    /// Ran its full duration.
    Finished,
    /// Lost more than `max_slot_loss` slots.
    Failed,
}

impl RequestState {
    /// The contract's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            RequestState::New => "New",
            RequestState::Started => "Started",
            RequestState::Cancelled => "Cancelled",
            RequestState::Finished => "Finished",
            RequestState::Failed => "Failed",
        }
    }
}

/// A slot's state on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotState {
    /// Not filled yet.
    Free,
    /// A host filled it.
    Filled,
    /// Its request finished.
    Finished,
    /// Its request failed.
    Failed,
    /// Its host was paid.
    Paid,
    /// Its request was cancelled.
    Cancelled,
    /// Its host was removed for missing proofs; another host may repair it.
    Repair,
}

impl SlotState {
    /// The contract's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            SlotState::Free => "Free",
            SlotState::Filled => "Filled",
            SlotState::Finished => "Finished",
            SlotState::Failed => "Failed",
            SlotState::Paid => "Paid",
            SlotState::Cancelled => "Cancelled",
            SlotState::Repair => "Repair",
        }
    }
}

/// The collateral a host locks to fill a slot in `state`: the full
/// `collateral_per_slot`, less `repair_reward_percentage` percent of it when
/// the slot is being repaired (Codex's `slotCollateral`).
///
/// # Errors
/// [`MarketError::Overflow`]; [`MarketError::Invalid`] for a percentage
/// above 100.
pub fn slot_collateral(ask: &StorageAsk, state: SlotState, repair_reward_percentage: u8) -> Result<U256, MarketError> {
    let full = ask.collateral_per_slot()?;
    if state != SlotState::Repair {
        return Ok(full);
    }
    if repair_reward_percentage > 100 {
        return Err(MarketError::Invalid {
            field: "repair_reward_percentage",
            reason: format!("{repair_reward_percentage} is above 100"),
        });
    }
    let reward = checked_mul("repair reward", full, U256::from(repair_reward_percentage))? / U256::from(100u8);
    Ok(full - reward)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex_with_or_without_prefix() {
        let id = AvailabilityId([0xab; 32]);
        assert_eq!(id.to_string().parse::<AvailabilityId>(), Ok(id));
        assert_eq!(format!("0x{id}").parse::<AvailabilityId>(), Ok(id));
        assert!("abcd".parse::<AvailabilityId>().is_err());
        assert!("zz".repeat(32).parse::<AvailabilityId>().is_err());
    }

    #[test]
    fn amounts_parse_only_plain_decimals() {
        assert_eq!(parse_amount("x", "0").ok(), Some(U256::zero()));
        assert_eq!(parse_amount("x", "1000").ok(), Some(U256::from(1000u32)));
        for bad in ["", "-1", "1e3", "0x10", " 1", &"9".repeat(79)] {
            assert!(parse_amount("x", bad).is_err(), "{bad:?}");
        }
        // 2^256 itself does not fit.
        let two_to_256 = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert!(parse_amount("x", two_to_256).is_err());
    }

    #[test]
    fn derived_amounts_overflow_into_errors() {
        let ask = StorageAsk {
            proof_probability: U256::zero(),
            price_per_byte_per_second: U256::MAX,
            collateral_per_byte: U256::MAX,
            slots: 2,
            slot_size_bytes: 2,
            duration_secs: 1,
            max_slot_loss: 0,
        };
        assert!(matches!(ask.price_per_slot(), Err(MarketError::Overflow { .. })));
        assert!(matches!(ask.collateral_per_slot(), Err(MarketError::Overflow { .. })));
        let huge = StorageAsk { slots: u64::MAX, ..ask };
        assert!(huge.size_bytes().is_err());
    }

    #[test]
    fn repair_collateral_is_discounted_by_the_reward_percentage() {
        let ask = StorageAsk {
            proof_probability: U256::zero(),
            price_per_byte_per_second: U256::one(),
            collateral_per_byte: U256::from(10u8),
            slots: 1,
            slot_size_bytes: 100,
            duration_secs: 1,
            max_slot_loss: 0,
        };
        assert_eq!(
            slot_collateral(&ask, SlotState::Free, 10).ok(),
            Some(U256::from(1000u32))
        );
        assert_eq!(
            slot_collateral(&ask, SlotState::Repair, 10).ok(),
            Some(U256::from(900u32))
        );
        assert!(slot_collateral(&ask, SlotState::Repair, 101).is_err());
    }
}
