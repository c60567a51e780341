//! A payment-channel receiver's view, persisted in a redb file.
//!
//! ```sh
//! cargo run --release --example channel --features channel,redb
//! cargo run --example channel --features channel,redb -- --help
//! ```
//!
//! The receiver learns from the contract's events that a channel opened,
//! then takes signed payments from the sender: good ones, an exact
//! duplicate, one larger than the channel holds and a forged one. After each
//! it prints what pg-machinomy would have returned and the channel's status.
//! Finally the sender starts settling and the receiver sees it.

use std::error::Error;
use std::hash::{BuildHasher, Hasher};

use tally::channel::secp256k1::{PublicKey, SecretKey};
use tally::channel::{
    Address, BlockHash, ChainId, ChannelBook, ChannelEvent, ChannelId, ChannelKey, EventFields, EventType, LogPosition,
    Payment, Scheme, StateUpdate, StateUpdateOutcome, TxHash, U256, address_of_public_key, keccak256, sign_payment,
};
use tally::redb::RedbStore;
use tally::store::Store;

/// A fresh secp256k1 key from the std hasher's random keys (no RNG crate).
fn generate_key(label: &str) -> Result<SecretKey, Box<dyn Error>> {
    for attempt in 0u64..16 {
        let mut seed = Vec::new();
        for _ in 0..4 {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write(label.as_bytes());
            hasher.write_u64(attempt);
            seed.extend_from_slice(&hasher.finish().to_be_bytes());
        }
        if let Ok(key) = SecretKey::from_secret_bytes(keccak256(&seed)) {
            return Ok(key);
        }
    }
    Err("could not generate a key".into())
}

fn address(key: &SecretKey) -> Address {
    address_of_public_key(&PublicKey::from_secret_key(key))
}

fn block_hash(block_number: u64) -> BlockHash {
    let mut seed = b"example block ".to_vec();
    seed.extend_from_slice(&block_number.to_be_bytes());
    BlockHash(keccak256(&seed))
}

fn chain_event(
    key: ChannelKey,
    event_type: EventType,
    block_number: u64,
    sender: Address,
    fields: EventFields,
) -> ChannelEvent {
    ChannelEvent {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: 1_700_000_000_000 + block_number * 15_000,
        block_number,
        block_hash: Some(block_hash(block_number)),
        block_is_valid: true,
        sender: Some(sender),
        event_type,
        fields,
        // What the event watcher read from the log: it identifies the event,
        // so reading the block again counts nothing twice.
        log: Some(LogPosition {
            tx_hash: TxHash(keccak256(&block_hash(block_number).0)),
            log_index: 0,
        }),
    }
}

fn pay(
    key: ChannelKey,
    signer: &SecretKey,
    claimed_sender: Address,
    amount_wei: u64,
) -> Result<StateUpdate, Box<dyn Error>> {
    let payment = Payment {
        chain_id: key.chain_id,
        contract: key.contract_id,
        channel_id: key.channel_id,
        amount_wei: U256::from(amount_wei),
        token_contract: None,
    };
    Ok(StateUpdate {
        chain_id: key.chain_id,
        contract_id: key.contract_id,
        channel_id: key.channel_id,
        ts_ms: 1_700_000_500_000 + amount_wei,
        amount_wei: U256::from(amount_wei),
        signature: sign_payment(Scheme::Unidirectional, &payment, signer)?,
        sender: claimed_sender,
    })
}

fn show<S: Store>(book: &ChannelBook<S>, key: &ChannelKey, outcome: &StateUpdateOutcome) -> Result<(), Box<dyn Error>> {
    match outcome {
        StateUpdateOutcome::Accepted(result) => println!(
            "   accepted: id {:?}, created {}, latest {}, added {}",
            result.id,
            result.created,
            result.is_latest,
            result.added_amount_wei.map_or("-".into(), |added| added.to_string()),
        ),
        StateUpdateOutcome::Rejected(rejection) => {
            println!("   refused: {} ({})", rejection.reason, rejection.detail)
        }
    }
    let status = book.channel_status(key, true)?;
    println!(
        "   channel: {}, value {} wei, paid {} wei, remaining {} wei",
        status.channel.state.map_or("unopened", |state| state.name()),
        status.channel.value_wei.unwrap_or_default(),
        status.current_payment_wei.unwrap_or_default(),
        status.current_remaining_balance_wei.unwrap_or_default(),
    );
    Ok(())
}

const HELP: &str = "\
channel: a payment-channel receiver's view, persisted in a redb file in a temporary directory.

usage: cargo run --features channel,redb --example channel
       channel [--help]

It takes no options: it opens a channel from the contract's events, takes
good, duplicate, too-large and forged payments, prints what pg-machinomy
would have answered and the channel's status after each, and finally sees
the sender start settling.
";

fn main() -> Result<(), Box<dyn Error>> {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{HELP}");
            return Ok(());
        }
        Some(other) => {
            eprintln!("channel: unknown argument {other:?}\n\n{HELP}");
            std::process::exit(2);
        }
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("channels.redb");
    let book = ChannelBook::new(RedbStore::open(&path)?);
    println!("Channel book in {}", path.display());

    let sender_key = generate_key("sender")?;
    let forger_key = generate_key("forger")?;
    let sender = address(&sender_key);
    let receiver = Address([0x5e; 20]);
    let mut channel_id = [0u8; 32];
    channel_id[..16].copy_from_slice(&keccak256(b"example channel")[..16]); // a uuid, right-padded
    let key = ChannelKey {
        chain_id: ChainId(1),
        contract_id: "0x08e4f70109ccc5135f50cc359d24cb7686247df4".parse()?,
        channel_id: ChannelId(channel_id),
    };
    println!(
        "Sender {} (key generated for this run), receiver {receiver}",
        sender.to_checksum()
    );

    println!("\n1. The contract emits DidOpen with 1000 wei");
    let opened = EventFields {
        sender: Some(sender),
        receiver: Some(receiver),
        value_wei: Some(U256::from(1_000)),
        ..EventFields::default()
    };
    let opening = chain_event(key, EventType::DidOpen, 100, sender, opened);
    let status = book.insert_channel_event(opening.clone())?;
    println!(
        "   channel: {}, value {} wei",
        status.channel.state.map_or("unopened", |state| state.name()),
        status.channel.value_wei.unwrap_or_default()
    );
    // Watchers read blocks again; the event's log position identifies it,
    // so a second sighting (later ts) changes nothing.
    let seen_again = ChannelEvent {
        ts_ms: opening.ts_ms + 30_000,
        ..opening
    };
    let status = book.insert_channel_event(seen_again)?;
    println!(
        "   (seen again 30 s later: still {} wei)",
        status.channel.value_wei.unwrap_or_default()
    );

    let steps: [(&str, StateUpdate); 6] = [
        ("2. The sender pays 100 wei", pay(key, &sender_key, sender, 100)?),
        ("3. ... then 250 wei in total", pay(key, &sender_key, sender, 250)?),
        (
            "4. The same 250-wei payment arrives again",
            pay(key, &sender_key, sender, 250)?,
        ),
        (
            "5. A payment of 1500 wei, more than the channel holds",
            pay(key, &sender_key, sender, 1_500)?,
        ),
        (
            "6. A forged payment of 900 wei claiming to be from the sender",
            pay(key, &forger_key, sender, 900)?,
        ),
        (
            "7. The sender pays 600 wei in total",
            pay(key, &sender_key, sender, 600)?,
        ),
    ];
    for (title, update) in steps {
        println!("\n{title}");
        let outcome = book.insert_state_update(update)?;
        show(&book, &key, &outcome)?;
    }

    println!("\n8. The sender starts settling; the receiver should claim its 600 wei now");
    let status = book.insert_channel_event(chain_event(
        key,
        EventType::DidStartSettling,
        140,
        sender,
        EventFields::default(),
    ))?;
    println!(
        "   channel: {}, claimable {} wei",
        status.channel.state.map_or("unopened", |state| state.name()),
        status.current_payment_wei.unwrap_or_default()
    );

    // The history is read in pages (here of 100): a channel may hold more
    // payments than one call should load.
    let events = book.channel_events(&key, None, 100)?;
    let payments = book.channel_state_updates(&key, None, 100)?;
    let refused = book.channel_rejected_updates(&key, None, 100)?;
    let refused_count = book.rejected_count(&key)?;
    println!(
        "\nStored: {} events, {} payments, {} refused payments (kept for audit; {} more refused past the cap)",
        events.items.len(),
        payments.items.len(),
        refused_count.stored,
        refused_count.dropped,
    );
    for rejected in &refused.items {
        println!("   refused {} wei: {}", rejected.update.amount_wei, rejected.reason);
    }
    Ok(())
}
