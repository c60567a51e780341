//! Shared test helpers: keys, channels, events and signed updates.
#![allow(dead_code, unreachable_pub, reason = "each test file uses a subset")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_channel::secp256k1::{PublicKey, SecretKey};
use tally_channel::{
    Address, BlockHash, ChainId, ChannelEvent, ChannelId, ChannelKey, EventFields, EventType, LogPosition, Payment,
    Scheme, StateUpdate, TxHash, U256, address_of_public_key, sign_payment,
};

pub struct Party {
    pub key: SecretKey,
    pub address: Address,
}

pub fn party(seed: u8) -> Party {
    let key = SecretKey::from_secret_bytes([seed; 32]).unwrap();
    let address = address_of_public_key(&PublicKey::from_secret_key(&key));
    Party { key, address }
}

pub fn sender() -> Party {
    party(7)
}

pub fn stranger() -> Party {
    party(9)
}

pub fn receiver() -> Address {
    Address([0xee; 20])
}

pub fn channel(n: u8) -> ChannelKey {
    ChannelKey {
        chain_id: ChainId(1),
        contract_id: Address([0x08; 20]),
        channel_id: ChannelId([n; 32]),
    }
}

pub fn hash(n: u64) -> BlockHash {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[31] = 0xab;
    BlockHash(bytes)
}

pub fn event(key: ChannelKey, event_type: EventType, block: u64, fields: EventFields) -> ChannelEvent {
    ChannelEvent {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: 1_000 * block,
        block_number: block,
        block_hash: Some(hash(block)),
        block_is_valid: true,
        sender: Some(sender().address),
        event_type,
        fields,
        log: None,
    }
}

pub fn intent(key: ChannelKey, event_type: EventType, last_seen_block: u64, fields: EventFields) -> ChannelEvent {
    ChannelEvent {
        block_hash: None,
        ts_ms: 1_000 * last_seen_block + 500,
        ..event(key, event_type, last_seen_block, fields)
    }
}

pub fn open(key: ChannelKey, block: u64, value: u64) -> ChannelEvent {
    event(
        key,
        EventType::DidOpen,
        block,
        EventFields {
            sender: Some(sender().address),
            receiver: Some(receiver()),
            value_wei: Some(U256::from(value)),
            ..EventFields::default()
        },
    )
}

pub fn deposit_fields(value: u64) -> EventFields {
    EventFields {
        value_wei: Some(U256::from(value)),
        ..EventFields::default()
    }
}

pub fn signed_by(signer: &Party, claimed_sender: Address, key: ChannelKey, amount: u64) -> StateUpdate {
    let payment = Payment {
        chain_id: key.chain_id,
        contract: key.contract_id,
        channel_id: key.channel_id,
        amount_wei: U256::from(amount),
        token_contract: None,
    };
    StateUpdate {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: 5_000 + amount,
        amount_wei: U256::from(amount),
        signature: sign_payment(Scheme::Unidirectional, &payment, &signer.key).unwrap(),
        sender: claimed_sender,
    }
}

pub fn payment(key: ChannelKey, amount: u64) -> StateUpdate {
    signed_by(&sender(), sender().address, key, amount)
}

/// The malleated twin of a signature: (r, n - s), other recovery id. Valid
/// under the contracts' policy, a different byte string.
pub fn high_s_twin(update: &StateUpdate) -> StateUpdate {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae,
        0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
    ];
    let mut twin = update.clone();
    let s = U256::from_big_endian(&update.signature.s());
    let flipped = U256::from_big_endian(&N) - s;
    twin.signature.0[32..64].copy_from_slice(&flipped.to_big_endian());
    twin.signature.0[64] = if update.signature.v() == 27 { 28 } else { 27 };
    twin
}

/// `event` at a log position: transaction `0xtt..tt`, log `log_index`.
pub fn positioned(event: ChannelEvent, tx: u8, log_index: u64) -> ChannelEvent {
    ChannelEvent {
        log: Some(LogPosition {
            tx_hash: TxHash([tx; 32]),
            log_index,
        }),
        ..event
    }
}

/// `event` as seen again later (a watcher re-reading its block).
pub fn seen_later(event: ChannelEvent) -> ChannelEvent {
    ChannelEvent {
        ts_ms: event.ts_ms + 60_000,
        ..event
    }
}

/// Everything stored about a channel, read page by page (small pages, so
/// the paging is exercised too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub events: Vec<ChannelEvent>,
    pub state_updates: Vec<tally_channel::StoredStateUpdate>,
    pub rejected: Vec<tally_channel::RejectedUpdate>,
}

pub fn history<S: tally_store::Store>(book: &tally_channel::ChannelBook<S>, key: &ChannelKey) -> History {
    fn all<T>(mut page: impl FnMut(Option<&tally_channel::HistoryCursor>) -> tally_channel::HistoryPage<T>) -> Vec<T> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let next = page(cursor.as_ref());
            assert!(next.items.len() <= 2);
            out.extend(next.items);
            match next.next {
                Some(next) => cursor = Some(next),
                None => return out,
            }
        }
    }
    History {
        events: all(|after| book.channel_events(key, after, 2).unwrap()),
        state_updates: all(|after| book.channel_state_updates(key, after, 2).unwrap()),
        rejected: all(|after| book.channel_rejected_updates(key, after, 2).unwrap()),
    }
}
