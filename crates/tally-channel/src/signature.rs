//! Payment signatures: the digest each Machinomy contract signs, and who
//! signed it.
//!
//! A payment ("state update") says: *the receiver of channel `channel_id` on
//! contract `contract` may claim `amount` wei*. The sender signs a digest of
//! those fields; the contract recovers the signer with `ecrecover` and
//! compares it with the channel's sender. Which fields go into the digest,
//! in which order, and whether the Ethereum signed-message prefix is applied
//! depends on the contract, so each layout is a [`Scheme`]:
//!
//! | scheme | digest passed to `ecrecover` | `v` accepted |
//! |---|---|---|
//! | [`Scheme::Unidirectional`] (deployed) | `keccak256(PREFIX ‖ keccak256(contract ‖ channel_id ‖ amount))` | 27/28 and 0/1 |
//! | [`Scheme::TokenUnidirectional`] | `keccak256(PREFIX ‖ keccak256(contract ‖ channel_id ‖ amount ‖ token))` | 27/28 and 0/1 |
//! | [`Scheme::BrokerV2`] (Broker, Oct 2017) | `keccak256(PREFIX ‖ keccak256(channel_id ‖ amount ‖ contract ‖ uint32 chain_id))` | 27/28 |
//! | [`Scheme::BrokerStateUpdate`] (Broker, Aug 2017) | `sha256(uint32 chain_id ‖ contract ‖ channel_id ‖ amount)` | 27/28 |
//!
//! `PREFIX` is `"\x19Ethereum Signed Message:\n32"`; addresses are 20 bytes,
//! ids 32, amounts 32 big-endian, all tightly packed (`abi.encodePacked`).
//! The two unidirectional contracts check signatures through OpenZeppelin's
//! `ECRecovery`, which adds 27 to a `v` below 27; the Broker contracts call
//! `ecrecover` directly, which takes only 27 or 28. Only the Broker layouts
//! bind the chain id.
//!
//! Like the contracts, the default [`SignaturePolicy`] accepts a high-`s`
//! signature (the malleated twin of a low-`s` one); [`SignaturePolicy::strict`]
//! refuses it.

use primitive_types::U256;
use secp256k1::Message;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::keccak256;
use crate::types::{Address, ChainId, ChannelId, Signature};

/// The prefix `eth_sign` / `personal_sign` put before a 32-byte message.
pub const ETH_SIGNED_MESSAGE_PREFIX: &[u8; 28] = b"\x19Ethereum Signed Message:\n32";

/// The order `n` of the secp256k1 group, big-endian.
const CURVE_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc,
    0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

/// The digest layout a contract checks; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// The deployed `Unidirectional` contract (and the machinomy client).
    #[default]
    Unidirectional,
    /// `TokenUnidirectional`: the token contract's address is appended.
    TokenUnidirectional,
    /// The Broker contract from commit acb7c4b (Oct 2017): chain id bound,
    /// signed-message prefix, raw `ecrecover`.
    BrokerV2,
    /// The Broker's `isStateUpdateSigValid` (Aug 2017), the layout
    /// pg-machinomy's SQL hashed: sha256, no prefix, raw `ecrecover`.
    BrokerStateUpdate,
}

impl Scheme {
    /// Every scheme, in a fixed order.
    pub const ALL: [Scheme; 4] = [
        Scheme::Unidirectional,
        Scheme::TokenUnidirectional,
        Scheme::BrokerV2,
        Scheme::BrokerStateUpdate,
    ];

    /// The snake_case name (`"unidirectional"`, `"broker_v2"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Unidirectional => "unidirectional",
            Scheme::TokenUnidirectional => "token_unidirectional",
            Scheme::BrokerV2 => "broker_v2",
            Scheme::BrokerStateUpdate => "broker_state_update",
        }
    }

    /// Parses a [`name`](Scheme::name).
    pub fn from_name(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|scheme| scheme.name() == name)
    }

    /// True when the contract passes `v` straight to `ecrecover` (27/28
    /// only) rather than through `ECRecovery` (which also takes 0/1).
    pub fn raw_ecrecover(self) -> bool {
        matches!(self, Scheme::BrokerV2 | Scheme::BrokerStateUpdate)
    }
}

/// Which signatures to accept beyond what the contract accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct SignaturePolicy {
    /// Refuse signatures whose `s` is in the upper half of the curve order
    /// (EIP-2 style). The contracts accept them, so the default is `false`.
    pub require_low_s: bool,
}

impl SignaturePolicy {
    /// Exactly what the contracts accept (high `s` included).
    pub fn contract() -> Self {
        SignaturePolicy { require_low_s: false }
    }

    /// Also refuse high-`s` signatures.
    pub fn strict() -> Self {
        SignaturePolicy { require_low_s: true }
    }
}

/// The fields a payment signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Payment {
    /// The chain (bound only by the Broker schemes).
    pub chain_id: ChainId,
    /// The channel contract's address.
    pub contract: Address,
    /// The channel.
    pub channel_id: ChannelId,
    /// The cumulative amount the receiver may claim, in wei.
    pub amount_wei: U256,
    /// The ERC-20 token contract ([`Scheme::TokenUnidirectional`] only).
    pub token_contract: Option<Address>,
}

/// Why a signature does not prove the expected signer; each maps to a short
/// sub-reason [`code`](SignatureError::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature text is not hex.
    #[error("signature is not hex")]
    NotHex,
    /// The signature is not 65 bytes (`ECRecovery` returns address 0).
    #[error("signature is {length_bytes} bytes, expected 65 (r ‖ s ‖ v)")]
    BadLength {
        /// The length found.
        length_bytes: usize,
    },
    /// `v` is not one the contract accepts (27/28, plus 0/1 for the
    /// unidirectional contracts).
    #[error("signature v = {v} is not accepted by the {scheme} contract")]
    BadV {
        /// The `v` byte found.
        v: u8,
        /// The scheme that refused it.
        scheme: &'static str,
    },
    /// `r` is zero.
    #[error("signature r is zero")]
    RZero,
    /// `r` is not below the curve order.
    #[error("signature r is not below the secp256k1 order")]
    ROutOfRange,
    /// `s` is zero.
    #[error("signature s is zero")]
    SZero,
    /// `s` is not below the curve order.
    #[error("signature s is not below the secp256k1 order")]
    SOutOfRange,
    /// `s` is in the upper half of the order and the policy is strict.
    #[error("signature s is high (malleable) and the policy requires low s")]
    HighS,
    /// No public key recovers from this signature (r is not the x
    /// coordinate of a curve point).
    #[error("no public key can be recovered from the signature")]
    Unrecoverable,
    /// The signature is valid but made by someone else.
    #[error("signed by {recovered}, expected {expected}")]
    WrongSigner {
        /// Who signed.
        recovered: Address,
        /// Who should have.
        expected: Address,
    },
    /// [`Scheme::TokenUnidirectional`] needs the token contract's address.
    #[error("token_unidirectional needs the token contract's address")]
    MissingTokenContract,
    /// The Broker schemes pack the chain id as a `uint32`.
    #[error("chain id {chain_id} does not fit the uint32 the Broker contract hashes")]
    ChainIdTooLarge {
        /// The chain id given.
        chain_id: u64,
    },
}

impl SignatureError {
    /// The sub-reason as a short code: `bad_signature_length`, `bad_v`,
    /// `invalid_signature` (r, s, high s, unrecoverable), `wrong_signer`, or
    /// `invalid_input` (not hex, missing token, chain id too large).
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::BadLength { .. } => "bad_signature_length",
            SignatureError::BadV { .. } => "bad_v",
            SignatureError::RZero
            | SignatureError::ROutOfRange
            | SignatureError::SZero
            | SignatureError::SOutOfRange
            | SignatureError::HighS
            | SignatureError::Unrecoverable => "invalid_signature",
            SignatureError::WrongSigner { .. } => "wrong_signer",
            SignatureError::NotHex | SignatureError::MissingTokenContract | SignatureError::ChainIdTooLarge { .. } => {
                "invalid_input"
            }
        }
    }
}

/// `keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)`.
pub fn eth_signed_message_hash(hash: &[u8; 32]) -> [u8; 32] {
    let mut buffer = [0u8; 60];
    buffer[..28].copy_from_slice(ETH_SIGNED_MESSAGE_PREFIX);
    buffer[28..].copy_from_slice(hash);
    keccak256(&buffer)
}

fn broker_chain_id(chain_id: ChainId) -> Result<[u8; 4], SignatureError> {
    u32::try_from(chain_id.0)
        .map(u32::to_be_bytes)
        .map_err(|_| SignatureError::ChainIdTooLarge { chain_id: chain_id.0 })
}

/// The 32-byte digest `scheme`'s contract passes to `ecrecover` for
/// `payment` (prefix included where the contract applies it).
///
/// # Errors
/// [`SignatureError::MissingTokenContract`] and
/// [`SignatureError::ChainIdTooLarge`].
pub fn payment_digest(scheme: Scheme, payment: &Payment) -> Result<[u8; 32], SignatureError> {
    let amount = payment.amount_wei.to_big_endian();
    let contract = payment.contract.as_bytes();
    let channel = payment.channel_id.as_bytes();
    match scheme {
        Scheme::Unidirectional => {
            let mut packed = [0u8; 84];
            packed[..20].copy_from_slice(contract);
            packed[20..52].copy_from_slice(channel);
            packed[52..].copy_from_slice(&amount);
            Ok(eth_signed_message_hash(&keccak256(&packed)))
        }
        Scheme::TokenUnidirectional => {
            let token = payment.token_contract.ok_or(SignatureError::MissingTokenContract)?;
            let mut packed = [0u8; 104];
            packed[..20].copy_from_slice(contract);
            packed[20..52].copy_from_slice(channel);
            packed[52..84].copy_from_slice(&amount);
            packed[84..].copy_from_slice(token.as_bytes());
            Ok(eth_signed_message_hash(&keccak256(&packed)))
        }
        Scheme::BrokerV2 => {
            let chain = broker_chain_id(payment.chain_id)?;
            let mut packed = [0u8; 88];
            packed[..32].copy_from_slice(channel);
            packed[32..64].copy_from_slice(&amount);
            packed[64..84].copy_from_slice(contract);
            packed[84..].copy_from_slice(&chain);
            Ok(eth_signed_message_hash(&keccak256(&packed)))
        }
        Scheme::BrokerStateUpdate => {
            let chain = broker_chain_id(payment.chain_id)?;
            let mut packed = [0u8; 88];
            packed[..4].copy_from_slice(&chain);
            packed[4..24].copy_from_slice(contract);
            packed[24..56].copy_from_slice(channel);
            packed[56..].copy_from_slice(&amount);
            Ok(sha2::Sha256::digest(packed).into())
        }
    }
}

/// Checks `v`, `r` and `s` as `scheme`'s contract (and `policy`) would,
/// without any elliptic-curve work; returns the recovery id (0 or 1).
///
/// # Errors
/// [`SignatureError::BadV`], [`SignatureError::RZero`],
/// [`SignatureError::ROutOfRange`], [`SignatureError::SZero`],
/// [`SignatureError::SOutOfRange`], [`SignatureError::HighS`].
pub fn check_signature_form(
    scheme: Scheme,
    signature: &Signature,
    policy: SignaturePolicy,
) -> Result<u8, SignatureError> {
    let raw_v = signature.v();
    let v = if !scheme.raw_ecrecover() && raw_v < 27 {
        raw_v + 27
    } else {
        raw_v
    };
    if v != 27 && v != 28 {
        return Err(SignatureError::BadV {
            v: raw_v,
            scheme: scheme.name(),
        });
    }
    let r = signature.r();
    let s = signature.s();
    if r == [0u8; 32] {
        return Err(SignatureError::RZero);
    }
    if r >= CURVE_ORDER {
        return Err(SignatureError::ROutOfRange);
    }
    if s == [0u8; 32] {
        return Err(SignatureError::SZero);
    }
    if s >= CURVE_ORDER {
        return Err(SignatureError::SOutOfRange);
    }
    if policy.require_low_s && U256::from_big_endian(&s) > U256::from_big_endian(&CURVE_ORDER) >> 1 {
        return Err(SignatureError::HighS);
    }
    Ok(v - 27)
}

/// Recovers who signed the 32-byte `digest` (already prefixed where the
/// scheme prefixes), checking the signature's form first.
///
/// # Errors
/// The form errors of [`check_signature_form`] and
/// [`SignatureError::Unrecoverable`].
pub fn recover_signer(
    scheme: Scheme,
    digest: &[u8; 32],
    signature: &Signature,
    policy: SignaturePolicy,
) -> Result<Address, SignatureError> {
    let recovery_id = check_signature_form(scheme, signature, policy)?;
    let id = RecoveryId::from_u8_masked(recovery_id);
    let recoverable =
        RecoverableSignature::from_compact(&signature.0[..64], id).map_err(|_| SignatureError::Unrecoverable)?;
    let public_key = recoverable
        .recover_ecdsa(Message::from_digest(*digest))
        .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(address_of_public_key(&public_key))
}

/// The Ethereum address of a public key: the last 20 bytes of the keccak256
/// of its uncompressed form (without the `0x04` tag).
pub fn address_of_public_key(public_key: &secp256k1::PublicKey) -> Address {
    let uncompressed = public_key.serialize_uncompressed();
    let hash = keccak256(&uncompressed[1..]);
    let mut address = [0u8; 20];
    address.copy_from_slice(&hash[12..]);
    Address(address)
}

/// Recovers who signed `payment` under `scheme`.
///
/// # Errors
/// Any [`SignatureError`] except `WrongSigner`.
pub fn recover_payment_signer(
    scheme: Scheme,
    payment: &Payment,
    signature: &Signature,
    policy: SignaturePolicy,
) -> Result<Address, SignatureError> {
    let digest = payment_digest(scheme, payment)?;
    recover_signer(scheme, &digest, signature, policy)
}

/// Checks that `expected_signer` signed `payment` under `scheme`, exactly as
/// the contract's `canClaim` would (plus the `policy`); returns the signer.
///
/// # Errors
/// Any [`SignatureError`]; [`SignatureError::WrongSigner`] when the
/// signature is well formed but made by another key.
pub fn verify_payment(
    scheme: Scheme,
    payment: &Payment,
    signature: &Signature,
    expected_signer: Address,
    policy: SignaturePolicy,
) -> Result<Address, SignatureError> {
    let recovered = recover_payment_signer(scheme, payment, signature, policy)?;
    if recovered != expected_signer {
        return Err(SignatureError::WrongSigner {
            recovered,
            expected: expected_signer,
        });
    }
    Ok(recovered)
}

/// Signs `payment` under `scheme` with `secret_key`, as the machinomy client
/// does (`v` written as 27/28). For hosts that also send payments, for tests
/// and for examples.
///
/// # Errors
/// [`SignatureError::MissingTokenContract`] and
/// [`SignatureError::ChainIdTooLarge`].
pub fn sign_payment(
    scheme: Scheme,
    payment: &Payment,
    secret_key: &secp256k1::SecretKey,
) -> Result<Signature, SignatureError> {
    let digest = payment_digest(scheme, payment)?;
    let signed = RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest), secret_key);
    let (recovery_id, compact) = signed.serialize_compact();
    let mut bytes = [0u8; 65];
    bytes[..64].copy_from_slice(&compact);
    bytes[64] = 27 + recovery_id.to_u8();
    Ok(Signature(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment() -> Payment {
        Payment {
            chain_id: ChainId(1),
            contract: Address([0x11; 20]),
            channel_id: ChannelId([0x22; 32]),
            amount_wei: U256::from(1_000u64),
            token_contract: Some(Address([0x33; 20])),
        }
    }

    fn key() -> secp256k1::SecretKey {
        secp256k1::SecretKey::from_secret_bytes([7u8; 32]).unwrap()
    }

    #[test]
    fn signs_and_recovers_under_every_scheme() {
        let signer = address_of_public_key(&secp256k1::PublicKey::from_secret_key(&key()));
        for scheme in Scheme::ALL {
            let signature = sign_payment(scheme, &payment(), &key()).unwrap();
            assert_eq!(
                verify_payment(scheme, &payment(), &signature, signer, SignaturePolicy::strict()),
                Ok(signer),
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn schemes_have_distinct_digests() {
        let digests: std::collections::HashSet<_> = Scheme::ALL
            .iter()
            .map(|scheme| payment_digest(*scheme, &payment()).unwrap())
            .collect();
        assert_eq!(digests.len(), 4);
    }

    #[test]
    fn broker_schemes_refuse_v_0_and_unidirectional_accepts_it() {
        let signer = address_of_public_key(&secp256k1::PublicKey::from_secret_key(&key()));
        for scheme in Scheme::ALL {
            let mut signature = sign_payment(scheme, &payment(), &key()).unwrap();
            signature.0[64] -= 27;
            let result = verify_payment(scheme, &payment(), &signature, signer, SignaturePolicy::contract());
            if scheme.raw_ecrecover() {
                assert!(matches!(result, Err(SignatureError::BadV { .. })), "{scheme:?}");
            } else {
                assert_eq!(result, Ok(signer), "{scheme:?}");
            }
        }
    }
}
