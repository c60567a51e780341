//! The shell's key layout: every key [`ChannelBook`](crate::ChannelBook)
//! reads or writes, in namespace `"channel"`.
//!
//! Per channel, after `"channel" / kind / chain_id u64 / contract 20 / channel_id 32`:
//!
//! | kind | rest | value |
//! |---|---|---|
//! | `c` | | the folded channel (intents included) and the next event sequence number |
//! | `f` | | the fold's latest events and `is_invalid_reason` |
//! | `e` | seq u64 | a [`ChannelEvent`] |
//! | `i` | event identity digest 32 | the seq of the event with that [identity](crate::channel#identity-when-two-sightings-are-one-event) (makes inserts idempotent); a chain event with a log position is also entered under its content identity |
//! | `h` | | the head: the latest [`StateUpdate`](crate::StateUpdate) and the next update id ([`UpdateHead`](crate::update::UpdateHead)) |
//! | `s` | amount 32 (big-endian) | a [`StoredStateUpdate`](crate::StoredStateUpdate); the amount index |
//! | `r` | update digest 32 | a [`RejectedUpdate`](crate::RejectedUpdate) (audit) |
//! | `a` | | the [`RejectedCount`](crate::update::RejectedCount): refusals kept under `r`, and dropped past the cap |
//!
//! Across channels: `b / chain_id / block_number / contract / channel_id / seq`
//! indexes chain events by block (for reorgs), `snd / sender / chain_id /
//! contract / channel_id` and `rcv / receiver / ...` index channels by party.
//!
//! Integers are big-endian, so keys sort as their numbers do: events in
//! insertion order, state updates by amount, the block index by block.
//! Values are [`tally_store::codec`] records (a format byte, then postcard).
//!
//! # Stored format
//!
//! The records are this crate's own types, so their layout is the stored
//! format. It changed before the first release ([`ChannelEvent`] gained
//! `log`, identity digests replaced whole-event hashes): a store written by
//! an earlier build of this crate does not decode (a
//! [`StoreError::Codec`](tally_store::StoreError::Codec) naming the key) and
//! must be rebuilt from the chain; there is no migration, as nothing was
//! released. From the first release on, records evolve as
//! [`tally_store::codec`] describes (new fields appended as `Option`, or a
//! versioned enum), and identity digests, which must match across releases,
//! keep their v1 encoding.
//!
//! The latest state is the head record and the same-amount check is the
//! amount index: `insert_state_update` reads exactly three keys, whatever
//! the number of updates stored.

use std::collections::BTreeSet;

use tally_store::key::{KeyBuilder, KeyReader};

use crate::book::{ChannelError, Inconsistency};
use crate::channel::{Channel, ChannelEvent, ChannelKey};
use crate::types::{Address, ChainId, ChannelId};
use primitive_types::U256;

/// The namespace every key of this crate starts with.
pub(crate) const NAMESPACE: &str = "channel";

const RECORD: &str = "c";
const FOLD_EXTRAS: &str = "f";
const EVENT: &str = "e";
const IDENTITY: &str = "i";
const HEAD: &str = "h";
const STATE_UPDATE: &str = "s";
const REJECTED: &str = "r";
const REJECTED_COUNT: &str = "a";
const BLOCK_INDEX: &str = "b";

/// The two party indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Party {
    Sender,
    Receiver,
}

impl Party {
    fn kind(self) -> &'static str {
        match self {
            Party::Sender => "snd",
            Party::Receiver => "rcv",
        }
    }
}

fn per_channel(kind: &str, key: &ChannelKey) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE)
        .str(kind)
        .u64(key.chain_id.0)
        .fixed(key.contract_id.as_bytes())
        .fixed(key.channel_id.as_bytes())
}

/// `c`: the channel record. Every writer of the channel's `e` keys writes
/// it too, so it guards reads of the events (see `load_events` in the book).
pub(crate) fn record(key: &ChannelKey) -> Vec<u8> {
    per_channel(RECORD, key).build()
}

/// `f`: the fold extras.
pub(crate) fn fold_extras(key: &ChannelKey) -> Vec<u8> {
    per_channel(FOLD_EXTRAS, key).build()
}

/// `e / seq`: one event.
pub(crate) fn event(key: &ChannelKey, seq: u64) -> Vec<u8> {
    per_channel(EVENT, key).u64(seq).build()
}

/// The prefix of all of a channel's `e` keys.
pub(crate) fn events(key: &ChannelKey) -> Vec<u8> {
    per_channel(EVENT, key).build()
}

/// `i / digest`: the identity index.
pub(crate) fn identity(key: &ChannelKey, digest: &[u8; 32]) -> Vec<u8> {
    per_channel(IDENTITY, key).fixed(digest).build()
}

/// `h`: the state-update head.
pub(crate) fn head(key: &ChannelKey) -> Vec<u8> {
    per_channel(HEAD, key).build()
}

/// `s / amount`: the stored update with that amount.
pub(crate) fn state_update(key: &ChannelKey, amount_wei: U256) -> Vec<u8> {
    per_channel(STATE_UPDATE, key)
        .fixed(&amount_wei.to_big_endian())
        .build()
}

/// The prefix of all of a channel's `s` keys.
pub(crate) fn state_updates(key: &ChannelKey) -> Vec<u8> {
    per_channel(STATE_UPDATE, key).build()
}

/// `r / digest`: one refused update.
pub(crate) fn rejected(key: &ChannelKey, digest: &[u8; 32]) -> Vec<u8> {
    per_channel(REJECTED, key).fixed(digest).build()
}

/// The prefix of all of a channel's `r` keys.
pub(crate) fn rejected_updates(key: &ChannelKey) -> Vec<u8> {
    per_channel(REJECTED, key).build()
}

/// `a`: how many refusals are kept, and how many were dropped.
pub(crate) fn rejected_count(key: &ChannelKey) -> Vec<u8> {
    per_channel(REJECTED_COUNT, key).build()
}

fn block_index_of_chain(chain_id: ChainId) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str(BLOCK_INDEX).u64(chain_id.0)
}

/// The prefix of a chain's whole block index.
pub(crate) fn block_index(chain_id: ChainId) -> Vec<u8> {
    block_index_of_chain(chain_id).build()
}

/// A scan cursor just before the block index entries of `block_number`
/// (pass it as `after`: every entry of that block sorts after it).
pub(crate) fn block_index_before(chain_id: ChainId, block_number: u64) -> Vec<u8> {
    block_index_of_chain(chain_id).u64(block_number).build()
}

/// `b / chain_id / block_number / contract / channel_id / seq`: the block
/// index entry of a chain event stored at `seq`.
pub(crate) fn block_index_entry(event: &ChannelEvent, seq: u64) -> Vec<u8> {
    block_index_of_chain(event.chain_id)
        .u64(event.block_number)
        .fixed(event.contract_id.as_bytes())
        .fixed(event.channel_id.as_bytes())
        .u64(seq)
        .build()
}

/// Reads a [`block_index_entry`] key: `(block_number, channel, seq)`.
pub(crate) fn read_block_index_entry(key: &[u8]) -> Result<(u64, ChannelKey, u64), ChannelError> {
    let mut reader = reader_of_kind(key, BLOCK_INDEX)?;
    let chain_id = ChainId(reader.u64()?);
    let block_number = reader.u64()?;
    let contract_id = Address(reader.fixed()?);
    let channel_id = ChannelId(reader.fixed()?);
    let seq = reader.u64()?;
    reader.finish()?;
    let channel = ChannelKey {
        chain_id,
        contract_id,
        channel_id,
    };
    Ok((block_number, channel, seq))
}

fn party_of(party: Party, address: &Address) -> KeyBuilder {
    KeyBuilder::new(NAMESPACE).str(party.kind()).fixed(address.as_bytes())
}

/// The prefix of every channel `address` is `party` of.
pub(crate) fn party_channels(party: Party, address: &Address) -> Vec<u8> {
    party_of(party, address).build()
}

/// `snd|rcv / address / chain_id / contract / channel_id`: one party index entry.
pub(crate) fn party_index_entry(party: Party, address: &Address, key: &ChannelKey) -> Vec<u8> {
    party_of(party, address)
        .u64(key.chain_id.0)
        .fixed(key.contract_id.as_bytes())
        .fixed(key.channel_id.as_bytes())
        .build()
}

/// Reads a [`party_index_entry`] key of `party`.
pub(crate) fn read_party_index_entry(party: Party, key: &[u8]) -> Result<ChannelKey, ChannelError> {
    let mut reader = reader_of_kind(key, party.kind())?;
    let _address: [u8; 20] = reader.fixed()?;
    let chain_id = ChainId(reader.u64()?);
    let contract_id = Address(reader.fixed()?);
    let channel_id = ChannelId(reader.fixed()?);
    reader.finish()?;
    Ok(ChannelKey {
        chain_id,
        contract_id,
        channel_id,
    })
}

/// The party index entries a channel has: one per known side.
pub(crate) fn party_index_entries(channel: &Channel) -> BTreeSet<Vec<u8>> {
    let key = channel.key();
    let sides = [(Party::Sender, channel.sender), (Party::Receiver, channel.receiver)];
    sides
        .into_iter()
        .filter_map(|(party, address)| address.map(|address| party_index_entry(party, &address, &key)))
        .collect()
}

/// What follows `prefix` in `key`: the page cursor of a per-channel scan.
pub(crate) fn suffix<'k>(key: &'k [u8], prefix: &[u8]) -> Result<&'k [u8], ChannelError> {
    key.strip_prefix(prefix).ok_or_else(|| ChannelError::Inconsistent {
        what: Inconsistency::UnexpectedKey,
        key: key.to_vec(),
    })
}

fn reader_of_kind<'k>(key: &'k [u8], kind: &str) -> Result<KeyReader<'k>, ChannelError> {
    let mut reader = KeyReader::new(NAMESPACE, key)?;
    if reader.str()? != kind {
        return Err(ChannelError::Inconsistent {
            what: Inconsistency::UnexpectedKey,
            key: key.to_vec(),
        });
    }
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(n: u8) -> ChannelKey {
        ChannelKey {
            chain_id: ChainId(3),
            contract_id: Address([0x08; 20]),
            channel_id: ChannelId([n; 32]),
        }
    }

    #[test]
    fn index_keys_read_back_and_refuse_other_kinds() {
        let key = channel(7);
        let party = Address([0x5e; 20]);
        let entry = party_index_entry(Party::Receiver, &party, &key);
        assert!(entry.starts_with(&party_channels(Party::Receiver, &party)));
        assert_eq!(read_party_index_entry(Party::Receiver, &entry).unwrap(), key);
        assert!(matches!(
            read_party_index_entry(Party::Sender, &entry),
            Err(ChannelError::Inconsistent {
                what: Inconsistency::UnexpectedKey,
                ..
            })
        ));
        assert!(matches!(
            read_block_index_entry(&entry),
            Err(ChannelError::Inconsistent { .. })
        ));
    }

    #[test]
    fn block_index_entries_read_back_and_sort_after_their_block_cursor() {
        let key = channel(4);
        let event = ChannelEvent {
            chain_id: key.chain_id,
            contract_id: key.contract_id,
            channel_id: key.channel_id,
            ts_ms: 0,
            block_number: 12,
            block_hash: Some(crate::types::BlockHash([12; 32])),
            block_is_valid: true,
            sender: None,
            event_type: crate::channel::EventType::DidDeposit,
            fields: crate::channel::EventFields::default(),
            log: None,
        };
        let entry = block_index_entry(&event, 9);
        assert_eq!(read_block_index_entry(&entry).unwrap(), (12, key, 9));
        assert!(entry.starts_with(&block_index(key.chain_id)));
        assert!(block_index_before(key.chain_id, 12) < entry);
        assert!(entry < block_index_before(key.chain_id, 13));
    }

    #[test]
    fn per_channel_keys_sort_by_their_numbers_and_stay_under_their_prefix() {
        let key = channel(1);
        assert!(event(&key, 2) < event(&key, 10));
        assert!(event(&key, u64::MAX).starts_with(&events(&key)));
        assert!(state_update(&key, U256::from(9)) < state_update(&key, U256::from(256)));
        assert!(state_update(&key, U256::MAX).starts_with(&state_updates(&key)));
        assert!(!event(&channel(2), 0).starts_with(&events(&key)));
        assert_eq!(suffix(&event(&key, 5), &events(&key)).unwrap(), 5u64.to_be_bytes());
    }
}
