//! Request and slot ids against vectors derived independently of this crate
//! (`tests/vectors/ids.py`: its own Keccak-256 and its own ABI encoding,
//! from the Solidity ABI specification and Codex's definitions
//! `RequestId = keccak256(abi.encode(request))`,
//! `SlotId = keccak256(abi.encode(requestId, slotIndex))`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use serde_json::Value;
use tally_market::{Address, Nonce, RequestId, StorageAsk, StorageContent, StorageRequest, U256, keccak256, slot_id};

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/ids.json")).unwrap()
}

fn bytes32(value: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(value.as_str().unwrap(), &mut out).unwrap();
    out
}

fn request_of(vector: &Value) -> StorageRequest {
    let ask = &vector["ask"];
    let amount = |name: &str| U256::from_dec_str(ask[name].as_str().unwrap()).unwrap();
    let int = |name: &str| ask[name].as_u64().unwrap();
    StorageRequest {
        client: vector["client"].as_str().unwrap().parse::<Address>().unwrap(),
        ask: StorageAsk {
            proof_probability: amount("proof_probability"),
            price_per_byte_per_second: amount("price_per_byte_per_second"),
            collateral_per_byte: amount("collateral_per_byte"),
            slots: int("slots"),
            slot_size_bytes: int("slot_size"),
            duration_secs: int("duration"),
            max_slot_loss: int("max_slot_loss"),
        },
        content: StorageContent {
            cid: hex::decode(vector["cid"].as_str().unwrap()).unwrap(),
            merkle_root: bytes32(&vector["merkle_root"]),
        },
        expiry_secs: vector["expiry"].as_u64().unwrap(),
        nonce: Nonce(bytes32(&vector["nonce"])),
    }
}

#[test]
fn request_ids_are_keccak_of_the_abi_encoding_as_codex_derives_them() {
    for vector in vectors()["requests"].as_array().unwrap() {
        let request = request_of(vector);
        assert_eq!(
            hex::encode(request.abi_encode().unwrap()),
            vector["abi"].as_str().unwrap()
        );
        let id = request.id().unwrap();
        assert_eq!(id.to_hex(), vector["request_id"].as_str().unwrap());
        for (index, expected) in vector["slot_ids"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                request.slot_id(index as u64).unwrap().to_hex(),
                expected.as_str().unwrap()
            );
        }
    }
}

#[test]
fn slot_ids_are_keccak_of_the_request_id_and_the_index_as_a_word() {
    for vector in vectors()["slots"].as_array().unwrap() {
        let request_id = RequestId(bytes32(&vector["request_id"]));
        let index = vector["slot_index"].as_u64().unwrap();
        assert_eq!(
            hex::encode(keccak256(&hex::decode(vector["abi"].as_str().unwrap()).unwrap())),
            vector["slot_id"].as_str().unwrap()
        );
        assert_eq!(
            slot_id(&request_id, index).to_hex(),
            vector["slot_id"].as_str().unwrap()
        );
    }
}

/// Worked by hand: `abi.encode(bytes32(0), uint256(0))` is 64 zero bytes,
/// and keccak-256 of 64 zero bytes is the well-known
/// `ad3228b6…7ba5fb5` (the second zero hash of keccak Merkle trees).
#[test]
fn the_slot_id_of_slot_zero_of_the_zero_request_is_keccak_of_64_zero_bytes() {
    assert_eq!(
        slot_id(&RequestId([0; 32]), 0).to_hex(),
        "ad3228b676f7d3cd4284a5443f17f1962b36e491b30a40b2405849e597ba5fb5"
    );
}

#[test]
fn a_cid_longer_than_the_limit_is_refused() {
    let mut request = request_of(&vectors()["requests"][0]);
    request.content.cid = vec![1; tally_market::types::MAX_CID_BYTES + 1];
    assert!(request.id().is_err());
}
