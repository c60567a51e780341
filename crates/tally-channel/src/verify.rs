//! The `channel-verify` interface: one JSON object in, one JSON verdict out.
//!
//! Input (one object per line):
//! `{"scheme", "chain_id", "contract_address", "token_contract"?, "channel_id",
//! "amount", "signature", "channel_sender"}`, hex with `0x`, `amount` a
//! decimal string, `scheme` one of `unidirectional`, `token_unidirectional`,
//! `broker_v2`, `broker_state_update`.
//!
//! Output: `{"valid": bool, "signer": "0x…" | null, "reason": null | code}`
//! where `code` is `wrong_signer`, `bad_signature_length`, `bad_v`,
//! `invalid_signature`, `invalid_amount` or `invalid_input`. `signer` is the
//! recovered address (EIP-55) whenever one was recovered, also for
//! `wrong_signer`. The policy is the contracts' own (high `s` accepted).
//!
//! Checks run in this order: the JSON and every non-amount field
//! (`invalid_input`), the amount (`invalid_amount`), the signature's hex
//! (`invalid_input`) and length, then `v`, `r`/`s`, recovery and the signer.
//! An input that does not parse gets [`InputError::code`], from the one
//! table of [reason codes](crate::json#reason-codes) the book's JSON entry
//! points use too.
//!
//! ```
//! let out = tally_channel::verify::verify_line(r#"{"scheme":"unidirectional"}"#);
//! assert_eq!(out.to_json(), r#"{"valid":false,"signer":null,"reason":"invalid_input"}"#);
//! ```

use serde::Serialize;

use crate::json::{Fields, InputError};
use crate::signature::{Payment, Scheme, SignaturePolicy, recover_payment_signer};
use crate::types::{Address, Signature};

/// One verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyOutput {
    /// The signature is the channel sender's.
    pub valid: bool,
    /// The recovered signer, EIP-55, when recovery got that far.
    pub signer: Option<String>,
    /// Why not valid.
    pub reason: Option<&'static str>,
}

impl VerifyOutput {
    fn invalid(reason: &'static str) -> Self {
        VerifyOutput {
            valid: false,
            signer: None,
            reason: Some(reason),
        }
    }

    /// The verdict as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"valid":false,"signer":null,"reason":"invalid_input"}"#.into())
    }
}

/// A parsed input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyInput {
    /// The contract's scheme.
    pub scheme: Scheme,
    /// What was paid.
    pub payment: Payment,
    /// The signature.
    pub signature: Signature,
    /// Who must have signed.
    pub channel_sender: Address,
}

/// Verifies one input line under the contracts' policy; never panics.
pub fn verify_line(line: &str) -> VerifyOutput {
    verify_line_with_policy(line, SignaturePolicy::contract())
}

/// Verifies one input line under `policy`; never panics.
pub fn verify_line_with_policy(line: &str, policy: SignaturePolicy) -> VerifyOutput {
    match parse_line(line) {
        Err(error) => VerifyOutput::invalid(error.code()),
        Ok(input) => verify_input(&input, policy),
    }
}

/// Verifies a parsed input.
pub fn verify_input(input: &VerifyInput, policy: SignaturePolicy) -> VerifyOutput {
    match recover_payment_signer(input.scheme, &input.payment, &input.signature, policy) {
        Ok(signer) => VerifyOutput {
            valid: signer == input.channel_sender,
            signer: Some(signer.to_checksum()),
            reason: (signer != input.channel_sender).then_some("wrong_signer"),
        },
        Err(error) => VerifyOutput::invalid(error.code()),
    }
}

/// Parses one input line.
///
/// # Errors
/// [`InputError`]: `InvalidAmount` for the amount, `Signature` for a
/// signature that is not hex or not 65 bytes, others for the other fields.
pub fn parse_line(line: &str) -> Result<VerifyInput, InputError> {
    let mut fields = Fields::parse(line)?;
    let name = fields.string("scheme")?.ok_or(InputError::MissingField("scheme"))?;
    let scheme = Scheme::from_name(&name).ok_or_else(|| InputError::InvalidField {
        field: "scheme",
        reason: format!("unknown scheme {name:?}"),
    })?;
    let chain_id = fields.required_chain_id()?;
    let contract = fields.required_address("contract_address")?;
    let token_contract = fields.address(&["token_contract"])?;
    let channel_id = fields.required_channel_id()?;
    let channel_sender = fields.required_address("channel_sender")?;
    let signature_text = fields
        .string("signature")?
        .ok_or(InputError::MissingField("signature"))?;
    let amount_wei = fields.required_amount("amount")?;
    fields.finish()?;
    if scheme == Scheme::TokenUnidirectional && token_contract.is_none() {
        return Err(InputError::MissingField("token_contract"));
    }
    if scheme.raw_ecrecover() && u32::try_from(chain_id.0).is_err() {
        return Err(InputError::InvalidField {
            field: "chain_id",
            reason: format!("{scheme:?} packs the chain id as a uint32"),
        });
    }
    let signature = Signature::from_hex(&signature_text).map_err(InputError::Signature)?;
    Ok(VerifyInput {
        scheme,
        payment: Payment {
            chain_id,
            contract,
            channel_id,
            amount_wei,
            token_contract,
        },
        signature,
        channel_sender,
    })
}
