//! `ChannelBook::insert_state_update` against the bare cost of checking a
//! payment signature.
//!
//! The group `insert_state_update` has:
//! - `baseline`: the bare check, hand-written: keccak256 of the packed
//!   payment, keccak256 of the signed-message prefix and that hash,
//!   secp256k1 public-key recovery, keccak256 of the key, compare addresses;
//! - `verify_payment`: the crate's signature check alone (the same work plus
//!   the v/r/s form checks);
//! - `mem_store`: a whole `insert_state_update` on MemStore (parse nothing,
//!   check everything, read three keys, commit two), each payment larger
//!   than the last.
//!
//! - `redb_store`, `pg_store`: the same on RedbStore (a temporary file) and
//!   PgStore (`TALLY_PG_URL` or the local server; skipped with a note if
//!   unreachable), where durability, not the signature, sets the pace.
//!
//! Goal: `mem_store` at >= 85% of the baseline's rate, i.e. at most about
//! 1.18x its time: the signature is the limit, not the bookkeeping. Run with
//! `cargo bench --bench channel --features channel,postgres`, then
//! `python3 benches/ratios.py`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, reason = "benchmark code")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tally::channel::secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use tally::channel::secp256k1::{Message, PublicKey, SecretKey};
use tally::channel::{
    Address, BlockHash, ChainId, ChannelBook, ChannelEvent, ChannelId, ChannelKey, EventFields, EventType, Payment,
    Scheme, SignaturePolicy, StateUpdate, U256, address_of_public_key, keccak256, sign_payment, verify_payment,
};
use tally::postgres::{PgOptions, PgStore};
use tally::redb::RedbStore;
use tally::store::{MemStore, Store};

struct Fixture {
    key: ChannelKey,
    secret: SecretKey,
    sender: Address,
    next_amount: u64,
}

impl Fixture {
    fn new() -> Self {
        let secret = SecretKey::from_secret_bytes([0x42; 32]).unwrap();
        Fixture {
            key: ChannelKey {
                chain_id: ChainId(1),
                contract_id: Address([0x08; 20]),
                channel_id: ChannelId([0xc4; 32]),
            },
            sender: address_of_public_key(&PublicKey::from_secret_key(&secret)),
            secret,
            next_amount: 1,
        }
    }

    fn next_update(&mut self) -> StateUpdate {
        let amount = U256::from(self.next_amount);
        self.next_amount += 1;
        let payment = Payment {
            chain_id: self.key.chain_id,
            contract: self.key.contract_id,
            channel_id: self.key.channel_id,
            amount_wei: amount,
            token_contract: None,
        };
        StateUpdate {
            chain_id: self.key.chain_id,
            contract_id: self.key.contract_id,
            channel_id: self.key.channel_id,
            ts_ms: 0,
            amount_wei: amount,
            signature: sign_payment(Scheme::Unidirectional, &payment, &self.secret).unwrap(),
            sender: self.sender,
        }
    }
}

/// The bare signature check, with nothing of tally's in the way.
fn bare_check(update: &StateUpdate) -> bool {
    let mut packed = [0u8; 84];
    packed[..20].copy_from_slice(&update.contract_id.0);
    packed[20..52].copy_from_slice(&update.channel_id.0);
    packed[52..].copy_from_slice(&update.amount_wei.to_big_endian());
    let mut prefixed = [0u8; 60];
    prefixed[..28].copy_from_slice(b"\x19Ethereum Signed Message:\n32");
    prefixed[28..].copy_from_slice(&keccak256(&packed));
    let digest = keccak256(&prefixed);
    let bytes = update.signature.0;
    let id = RecoveryId::from_u8_masked(bytes[64].wrapping_sub(27));
    let Ok(signature) = RecoverableSignature::from_compact(&bytes[..64], id) else {
        return false;
    };
    let Ok(public_key) = signature.recover_ecdsa(Message::from_digest(digest)) else {
        return false;
    };
    let hash = keccak256(&public_key.serialize_uncompressed()[1..]);
    hash[12..] == update.sender.0
}

fn insert_state_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("insert_state_update");
    group.throughput(Throughput::Elements(1));
    let mut fixture = Fixture::new();

    group.bench_function("baseline", |b| {
        b.iter_batched(
            || fixture.next_update(),
            |update| assert!(black_box(bare_check(&update))),
            BatchSize::SmallInput,
        )
    });

    group.bench_function("verify_payment", |b| {
        b.iter_batched(
            || fixture.next_update(),
            |update| {
                let payment = Payment {
                    chain_id: update.chain_id,
                    contract: update.contract_id,
                    channel_id: update.channel_id,
                    amount_wei: update.amount_wei,
                    token_contract: None,
                };
                black_box(
                    verify_payment(
                        Scheme::Unidirectional,
                        &payment,
                        &update.signature,
                        update.sender,
                        SignaturePolicy::contract(),
                    )
                    .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });

    let book = ChannelBook::new(MemStore::new());
    open_channel(&book, &fixture);
    group.bench_function("mem_store", |b| {
        b.iter_batched(
            || fixture.next_update(),
            |update| {
                let outcome = book.insert_state_update(update).unwrap();
                assert!(black_box(outcome).accepted().is_some_and(|result| result.created));
            },
            BatchSize::SmallInput,
        )
    });

    // The same on the durable stores: here the commit (an fsync, or a round
    // trip and a WAL flush), not the signature, is the limit.
    let dir = tempfile::tempdir().unwrap();
    let redb_book = ChannelBook::new(RedbStore::open(dir.path().join("channel.redb")).unwrap());
    open_channel(&redb_book, &fixture);
    group.bench_function("redb_store", |b| {
        b.iter_batched(
            || fixture.next_update(),
            |update| assert!(redb_book.insert_state_update(update).unwrap().accepted().is_some()),
            BatchSize::SmallInput,
        )
    });

    let url = std::env::var("TALLY_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into());
    let options = PgOptions {
        table: format!("tally_bench_channel_{}", std::process::id()),
        pool_size: 1,
        ..PgOptions::default()
    };
    match PgStore::connect_with(&url, options) {
        Err(error) => eprintln!("SKIPPED pg_store: cannot connect to {url}: {error}"),
        Ok(store) => {
            let pg_book = ChannelBook::new(store);
            open_channel(&pg_book, &fixture);
            group.bench_function("pg_store", |b| {
                b.iter_batched(
                    || fixture.next_update(),
                    |update| assert!(pg_book.insert_state_update(update).unwrap().accepted().is_some()),
                    BatchSize::SmallInput,
                )
            });
            pg_book.into_store().drop_table().unwrap();
        }
    }
    group.finish();
}

fn open_channel<S: Store>(book: &ChannelBook<S>, fixture: &Fixture) {
    book.insert_channel_event(ChannelEvent {
        chain_id: fixture.key.chain_id,
        contract_id: fixture.key.contract_id,
        channel_id: fixture.key.channel_id,
        ts_ms: 0,
        block_number: 1,
        block_hash: Some(BlockHash([1; 32])),
        block_is_valid: true,
        sender: Some(fixture.sender),
        event_type: EventType::DidOpen,
        fields: EventFields {
            sender: Some(fixture.sender),
            receiver: Some(Address([0xee; 20])),
            value_wei: Some(U256::from(u64::MAX)),
            ..EventFields::default()
        },
        log: None,
    })
    .unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = insert_state_update
}
criterion_main!(benches);
