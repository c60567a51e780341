//! Entry points for the fuzz targets (`fuzz/fuzz_targets/channel_json.rs`,
//! `fuzz/fuzz_targets/channel_ops.rs`), compiled with the crate so they
//! never drift from it.
//!
//! Only built with the `fuzzing` cargo feature, which the fuzz workspace
//! turns on; hosts have no use for it and its functions may change in any
//! release.

use std::sync::OnceLock;

use primitive_types::U256;
use tally_store::MemStore;
use tally_store::testkit::FuzzBytes;

use crate::book::ChannelBook;
use crate::channel::{ChannelEvent, ChannelKey, EventFields, EventType, LogPosition, fold_events};
use crate::signature::{Payment, Scheme, address_of_public_key, sign_payment};
use crate::status::{ChannelStatus, StateUpdateOutcome};
use crate::types::{Address, BlockHash, ChainId, ChannelId, TxHash};
use crate::update::StateUpdate;

/// Feeds `data` through the JSON entry points: the first byte picks the
/// path, the rest is the input. Must never panic.
pub fn channel_json(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 4 {
        0 => {
            let _ = crate::json::parse_state_update(text, 0);
        }
        1 => {
            let _ = crate::json::parse_channel_event(text);
        }
        2 => {
            let _ = crate::verify::verify_line(text).to_json();
        }
        _ => {
            // Lines alternate between events and state updates on one book.
            let book = ChannelBook::new(MemStore::new());
            for line in text.lines().take(64) {
                if line.contains("event_type") {
                    let _ = book.insert_channel_event_json(line);
                } else {
                    let _ = book.insert_state_update_json(line, 0);
                }
            }
        }
    }
}

/// How many channels the operations touch.
const CHANNELS: u8 = 2;
/// How many amounts are pre-signed (0, 25, ..., 25 × (AMOUNTS − 1) wei).
const AMOUNTS: u8 = 8;
/// The most operations one input runs.
const MAX_OPS: usize = 48;

fn channel_key(n: u8) -> ChannelKey {
    ChannelKey {
        chain_id: ChainId(1),
        contract_id: Address([0x08; 20]),
        channel_id: ChannelId([n % CHANNELS + 1; 32]),
    }
}

/// The canonical hash of block `n`, or (with `fork`) the hash of a block
/// on a competing fork.
fn block_hash(n: u64, fork: bool) -> BlockHash {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes[31] = if fork { 0xf0 } else { 0xab };
    BlockHash(bytes)
}

/// The two signers: the channels' sender and a stranger.
struct Signers {
    sender: Address,
    stranger: Address,
    /// `[channel][signer][amount]`: the update for `25 × amount` wei
    /// signed by the sender (signer 0) or the stranger (signer 1), each
    /// claiming to be from the sender.
    updates: Vec<Vec<Vec<StateUpdate>>>,
}

/// Signing is the slow part: every update the target sends is signed once
/// per process.
fn signers() -> Option<&'static Signers> {
    static SIGNERS: OnceLock<Option<Signers>> = OnceLock::new();
    SIGNERS
        .get_or_init(|| {
            let keys = [
                secp256k1::SecretKey::from_secret_bytes([7; 32]).ok()?,
                secp256k1::SecretKey::from_secret_bytes([9; 32]).ok()?,
            ];
            let address =
                |key: &secp256k1::SecretKey| address_of_public_key(&secp256k1::PublicKey::from_secret_key(key));
            let sender = address(&keys[0]);
            let mut updates = Vec::new();
            for channel in 0..CHANNELS {
                let key = channel_key(channel);
                let mut by_signer = Vec::new();
                for secret in &keys {
                    let mut by_amount = Vec::new();
                    for amount in 0..AMOUNTS {
                        let amount_wei = U256::from(u64::from(amount) * 25);
                        let payment = Payment {
                            chain_id: key.chain_id,
                            contract: key.contract_id,
                            channel_id: key.channel_id,
                            amount_wei,
                            token_contract: None,
                        };
                        by_amount.push(StateUpdate {
                            chain_id: key.chain_id,
                            contract_id: key.contract_id,
                            channel_id: key.channel_id,
                            ts_ms: 0,
                            amount_wei,
                            signature: sign_payment(Scheme::Unidirectional, &payment, secret).ok()?,
                            sender,
                        });
                    }
                    by_signer.push(by_amount);
                }
                updates.push(by_signer);
            }
            Some(Signers {
                sender,
                stranger: address(&keys[1]),
                updates,
            })
        })
        .as_ref()
}

/// A value from a small set that includes the extremes.
fn wei(choice: u8) -> U256 {
    match choice % 6 {
        0 => U256::zero(),
        1 => U256::from(50u8),
        2 => U256::from(100u8),
        3 => U256::from(200u8),
        4 => U256::from(1_000u16),
        _ => U256::MAX,
    }
}

/// A chain event (or an intent, with `intent`) decoded from `input`.
fn event_of(input: &mut FuzzBytes<'_>, signers: &Signers, intent: bool) -> ChannelEvent {
    let key = channel_key(input.u8());
    let event_type = EventType::ALL[usize::from(input.u8()) % EventType::ALL.len()];
    let block_number = u64::from(input.u8() % 8);
    let shape = input.u8();
    let amounts = input.u8();
    let fields = EventFields {
        sender: (shape & 1 != 0).then_some(signers.sender),
        receiver: (shape & 2 != 0).then_some(Address([0xee; 20])),
        value_wei: (shape & 4 != 0).then(|| wei(amounts)),
        settlement_period_s: (shape & 8 != 0).then_some(u64::from(amounts % 4)),
        until_s: (shape & 16 != 0).then_some(if amounts & 0x80 != 0 { u64::MAX } else { 50 }),
        payment_wei: (shape & 32 != 0).then(|| wei(amounts >> 3)),
        odd_value_wei: (shape & 32 != 0).then(|| wei(amounts >> 4)),
        token_contract: None,
    };
    let position = input.u8();
    ChannelEvent {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: 1_000 * block_number + u64::from(position >> 6),
        block_number,
        block_hash: (!intent).then(|| block_hash(block_number, shape & 64 != 0)),
        block_is_valid: true,
        sender: Some(if shape & 128 != 0 {
            signers.stranger
        } else {
            signers.sender
        }),
        event_type,
        fields,
        log: (!intent && position & 4 != 0).then_some(LogPosition {
            tx_hash: TxHash([position & 3; 32]),
            log_index: u64::from(position >> 3 & 3),
        }),
    }
}

/// A state update decoded from `input`: pre-signed, then maybe spoiled.
fn update_of(input: &mut FuzzBytes<'_>, signers: &Signers) -> StateUpdate {
    let channel = usize::from(input.u8() % CHANNELS);
    let amount = usize::from(input.u8() % AMOUNTS);
    let how = input.u8();
    let mut update = signers.updates[channel][usize::from(how & 1)][amount].clone();
    update.ts_ms = u64::from(how >> 4);
    match how >> 1 & 7 {
        // The stranger claims to be the sender of its own signature.
        1 => update.sender = signers.stranger,
        // A flipped bit: the signature recovers to someone else, or not.
        2 => update.signature.0[usize::from(how) % 64] ^= 1,
        // A `v` the contracts refuse.
        3 => update.signature.0[64] = 29,
        // Another amount under this signature.
        4 => update.amount_wei += U256::one(),
        _ => {}
    }
    update
}

/// What the checks remember of a channel between operations.
#[derive(Default, Clone)]
struct Seen {
    /// The latest stored amount (it may only grow).
    latest_wei: Option<U256>,
    /// The largest stored update id so far (new ones are larger).
    last_id: u64,
    /// Refused updates, kept plus dropped (it may only grow).
    rejected: u64,
}

/// Every invariant of one channel: its stored fold is what folding its
/// stored events gives, both folds keep [`Channel::check_invariants`](crate::Channel::check_invariants),
/// the payment figures agree, the latest amount never shrinks, the refusal
/// count never shrinks.
///
/// # Panics
/// On a broken invariant.
fn check_channel(book: &ChannelBook<MemStore>, key: &ChannelKey, seen: &mut Seen) -> Option<ChannelStatus> {
    let status = book.channel_status(key, true).ok()?;
    let chain_only = book.channel_status(key, false).ok()?;
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let page = book.channel_events(key, after.as_ref(), 7).ok()?;
        events.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let refolded = ChannelStatus::new(fold_events(*key, &events, true), status.latest_state.clone());
    assert_eq!(
        status, refolded,
        "the stored fold differs from a fold of the stored events"
    );
    let chain_refolded = ChannelStatus::new(fold_events(*key, &events, false), status.latest_state.clone());
    assert_eq!(
        chain_only, chain_refolded,
        "the chain-only status differs from a fresh fold"
    );
    for channel in [&status.channel, &chain_only.channel] {
        if let Err(broken) = channel.check_invariants() {
            panic!("{broken}: {channel:?}");
        }
    }
    assert_eq!(
        status.current_payment_wei,
        status.latest_state.as_ref().map(|latest| latest.amount_wei)
    );
    if let Some(value) = status.channel.value_wei {
        let paid = status.current_payment_wei.unwrap_or_default();
        assert_eq!(status.current_remaining_balance_wei, Some(value.saturating_sub(paid)));
    }
    assert!(
        status.current_payment_wei >= seen.latest_wei,
        "the latest amount went down: {:?} after {:?}",
        status.current_payment_wei,
        seen.latest_wei
    );
    seen.latest_wei = status.current_payment_wei;
    let rejected = book.rejected_count(key).ok()?;
    let total = rejected.stored + rejected.dropped;
    assert!(total >= seen.rejected, "the refusal count went down");
    seen.rejected = total;
    Some(status)
}

/// Random operation sequences through one [`ChannelBook`]: chain events,
/// intents, signed (and spoiled) state updates, reorganisations, repeats.
/// After every operation the touched channel's invariants are checked
/// ([`check_channel`]), and each operation's own rules:
///
/// - a stored update is signed by the channel's sender, is no larger than
///   the channel's value, gets a fresh, larger id, and becomes the latest
///   exactly when its amount is at least the latest;
/// - a refused update changes neither the latest state nor the events;
/// - the status predicted by `state_update_status` is the one the insert
///   reports;
/// - inserting an event again changes nothing.
///
/// Returns how many updates were stored and how many refused, so the seed
/// replay can tell which paths an input reaches.
///
/// # Panics
/// On a broken invariant (that is the point).
pub fn channel_ops(data: &[u8]) -> (usize, usize) {
    let Some(signers) = signers() else {
        return (0, 0);
    };
    let book = ChannelBook::new(MemStore::new());
    let mut input = FuzzBytes::new(data);
    let mut seen = vec![Seen::default(); usize::from(CHANNELS)];
    let mut last_event: Option<ChannelEvent> = None;
    let (mut stored, mut refused) = (0, 0);
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let key = match input.u8() % 5 {
            0 => {
                let event = event_of(&mut input, signers, false);
                let _ = book.insert_channel_event(event.clone());
                let key = event.key();
                last_event = Some(event);
                key
            }
            1 => {
                let event = event_of(&mut input, signers, true);
                let _ = book.insert_channel_event(event.clone());
                let key = event.key();
                last_event = Some(event);
                key
            }
            2 => {
                let update = update_of(&mut input, signers);
                let key = update.key();
                let index = usize::from(key.channel_id.0[0] - 1);
                let Some(before) = check_channel(&book, &key, &mut seen[index]) else {
                    return (stored, refused);
                };
                let Ok(predicted) = book.state_update_status(&update) else {
                    return (stored, refused);
                };
                match book.insert_state_update(update.clone()) {
                    Ok(StateUpdateOutcome::Accepted(result)) => {
                        assert_eq!(result.status, predicted, "status predicted != status reported");
                        assert!(result.status.signature_valid);
                        assert_eq!(before.channel.sender, Some(update.sender), "stored from a non-sender");
                        if let Some(id) = result.id {
                            // A duplicate is not checked against the value
                            // again (a reorg may have lowered it since).
                            assert!(
                                Some(update.amount_wei) <= before.channel.value_wei,
                                "stored more than the channel holds"
                            );
                            assert!(result.created);
                            assert!(id > seen[index].last_id, "id {id} not fresh");
                            seen[index].last_id = id;
                            stored += 1;
                        }
                        let was_latest = before
                            .current_payment_wei
                            .is_none_or(|latest| update.amount_wei >= latest);
                        assert_eq!(result.is_latest, was_latest);
                    }
                    Ok(StateUpdateOutcome::Rejected(rejection)) => {
                        assert_eq!(rejection.status, predicted, "status predicted != status reported");
                        let Ok(after) = book.channel_status(&key, true) else {
                            return (stored, refused);
                        };
                        assert_eq!(after, before, "a refused update changed the channel");
                        refused += 1;
                    }
                    Err(_) => {}
                }
                key
            }
            3 => {
                let first = u64::from(input.u8() % 8);
                let forks = input.u8();
                let count = usize::from(input.u8() % 6);
                let hashes: Vec<BlockHash> = (0..count)
                    .map(|n| block_hash(first + n as u64, forks >> n & 1 != 0))
                    .collect();
                let _ = book.set_recent_blocks(ChainId(1), first, &hashes);
                // A reorg may touch both channels.
                for (n, seen) in seen.iter_mut().enumerate().skip(1) {
                    let _ = check_channel(&book, &channel_key(n as u8), seen);
                }
                channel_key(0)
            }
            _ => {
                let Some(event) = last_event.clone() else {
                    continue;
                };
                let key = event.key();
                let before = book.channel_status(&key, true).ok();
                let again = book.insert_channel_event(event).ok();
                if let (Some(before), Some(again)) = (before, again) {
                    assert_eq!(before, again, "inserting an event again changed the channel");
                }
                key
            }
        };
        let index = usize::from(key.channel_id.0[0] - 1);
        if check_channel(&book, &key, &mut seen[index]).is_none() {
            break;
        }
    }
    (stored, refused)
}
