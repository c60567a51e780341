//! A storage host selling its space, on redb.
//!
//! ```sh
//! cargo run --release --example market --features market,redb [-- --store redb:PATH]
//! ```
//!
//! The host offers two availabilities. Three storage requests arrive on a
//! simulated market (`tally::market::sim`): one pays too little, one wants
//! slots larger than anything offered, one fits. The host's sales run
//! through their states; every state change is printed with the quota after
//! each step. Halfway the host process restarts, reopens the redb file and
//! resumes each sale where it was. At the end every slot has been paid for
//! and every byte is back in the availabilities.

use std::collections::BTreeMap;
use std::error::Error;

use tally::market::periods::ProofConfig;
use tally::market::sales::{Handled, Notification, Sales, SalesConfig, SalesOptions};
use tally::market::sim::{self, SimMarket};
use tally::market::{
    Address, AvailabilityId, AvailabilitySpec, Nonce, Reservations, SlotId, SlotRef, StorageAsk, StorageContent,
    StorageRequest, U256,
};
use tally::redb::RedbStore;

const HOST: Address = Address([0xaa; 20]);
const QUOTA_BYTES: u64 = 64 * 1024;
const START_SECS: u64 = 1_700_000_000;

fn config() -> SalesConfig {
    SalesConfig {
        host: HOST,
        proofs: ProofConfig {
            period_secs: 60,
            timeout_secs: 30,
            downtime: 64,
            downtime_product: 67,
        },
        repair_reward_percentage: 10,
    }
}

fn request(label: u8, slots: u64, slot_size_bytes: u64, price: u64) -> StorageRequest {
    StorageRequest {
        client: Address([label; 20]),
        ask: StorageAsk {
            proof_probability: U256::from(3u8),
            price_per_byte_per_second: U256::from(price),
            collateral_per_byte: U256::from(2u8),
            slots,
            slot_size_bytes,
            duration_secs: 1_800,
            max_slot_loss: 1,
        },
        content: StorageContent {
            cid: vec![0x01, 0x55, label],
            merkle_root: [label; 32],
        },
        expiry_secs: 600,
        nonce: Nonce([label; 32]),
    }
}

fn open(path: &std::path::Path) -> Result<Sales<RedbStore>, Box<dyn Error>> {
    let reservations = Reservations::open(RedbStore::open(path)?, QUOTA_BYTES)?;
    Ok(Sales::new(reservations, config(), SalesOptions::default())?)
}

fn print_quota(sales: &Sales<RedbStore>) -> Result<(), Box<dyn Error>> {
    let quota = sales.reservations().quota()?;
    let free: Vec<String> = sales
        .reservations()
        .availabilities(None, 10)?
        .iter()
        .map(|a| {
            format!(
                "{}… {}/{} free",
                &a.id.to_hex()[..4],
                a.free_size_bytes,
                a.total_size_bytes
            )
        })
        .collect();
    println!(
        "          quota: max {} used {} reserved {} | {}",
        quota.max_bytes,
        quota.used_bytes,
        quota.reserved_bytes,
        free.join(", ")
    );
    Ok(())
}

fn print_log(log: &[Handled], labels: &BTreeMap<SlotId, String>, now_secs: u64) -> bool {
    let mut printed = false;
    for handled in log {
        let label = labels.get(&handled.slot_id).map_or("?", String::as_str);
        for notification in &handled.notifications {
            let line = match notification {
                Notification::StateChanged { from, to } => format!("{} → {}", from.name(), to.name()),
                Notification::SlotFilledByMe => "filled by this host".to_owned(),
                Notification::Done => "done".to_owned(),
            };
            println!("t+{:>5}s  {label:<10} {line}", now_secs - START_SECS);
            printed = true;
        }
    }
    printed
}

fn step(
    sales: &mut Sales<RedbStore>,
    market: &mut SimMarket,
    labels: &BTreeMap<SlotId, String>,
) -> Result<(), Box<dyn Error>> {
    let mut work = sim::dispatch(sales, market)?;
    while let Some(started) = sales.start_next_sale(market.now_secs)? {
        println!(
            "t+{:>5}s  {:<10} sale started",
            market.now_secs - START_SECS,
            labels.get(&started.slot_id).map_or("?", String::as_str)
        );
        work.push(started);
    }
    work.extend(sales.tick(market.now_secs)?);
    let log = sim::drive(sales, market, work)?;
    if print_log(&log, labels, market.now_secs) {
        print_quota(sales)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile::tempdir()?;
    let path = match (args.next().as_deref(), args.next()) {
        (Some("--store"), Some(store)) => match store.strip_prefix("redb:") {
            Some(path) => std::path::PathBuf::from(path),
            None => return Err("--store takes redb:PATH".into()),
        },
        (None, _) => dir.path().join("market.redb"),
        _ => return Err("usage: market [--store redb:PATH]".into()),
    };
    println!("a storage host on {}\n", path.display());

    let mut sales = open(&path)?;
    let small = AvailabilitySpec::new(
        AvailabilityId([0x0a; 32]),
        8 * 1024,
        3_600,
        U256::from(2u8),
        U256::from(40_000u32),
    );
    let mut large = AvailabilitySpec::new(
        AvailabilityId([0x0b; 32]),
        16 * 1024,
        7_200,
        U256::from(1u8),
        U256::from(60_000u32),
    );
    large.until_secs = START_SECS + 86_400;
    for spec in [&small, &large] {
        sales.reservations().create_availability(spec)?;
    }
    println!("availabilities: 0a0a… 8 KiB for ≥ 2 per byte-second, 0b0b… 16 KiB for ≥ 1 (until a day from now)");
    print_quota(&sales)?;

    let mut market = SimMarket::new(START_SECS);
    market.batch_bytes = 1_024;
    let requests = [
        ("too cheap", request(1, 2, 2_048, 0)),
        ("too large", request(2, 2, 32 * 1024, 5)),
        ("fits", request(3, 3, 4_096, 3)),
    ];
    let mut labels = BTreeMap::new();
    for (name, request) in &requests {
        let id = market.request_storage(request.clone())?;
        for slot_index in 0..request.ask.slots {
            labels.insert(
                SlotRef {
                    request_id: id,
                    slot_index,
                }
                .id(),
                format!("{name}#{slot_index}"),
            );
        }
        println!(
            "request {name:<9}: {} slots of {} bytes at {} per byte-second for {} s",
            request.ask.slots,
            request.ask.slot_size_bytes,
            request.ask.price_per_byte_per_second,
            request.ask.duration_secs
        );
    }
    println!();

    let restart_at = START_SECS + 900;
    let end = START_SECS + 2_400;
    let mut restarted = false;
    while market.now_secs <= end {
        if !restarted && market.now_secs >= restart_at {
            restarted = true;
            drop(sales); // the process dies; the redb file stays
            println!(
                "t+{:>5}s  -- host restarts and reopens {} --",
                market.now_secs - START_SECS,
                path.display()
            );
            sales = open(&path)?;
            let resumed = sales.load(&market.my_slots(HOST), market.now_secs)?;
            for handled in &resumed {
                let label = labels.get(&handled.slot_id).map_or("?", String::as_str);
                println!("          {label:<10} resumes in {}", handled.state.name());
            }
            let log = sim::drive(&mut sales, &mut market, resumed)?;
            print_log(&log, &labels, market.now_secs);
        }
        step(&mut sales, &mut market, &labels)?;
        market.advance_to(market.now_secs + 30);
    }

    println!();
    let paid = market.paid_out.get(&HOST).copied().unwrap_or_default();
    println!("paid to the host: {paid} tokens (rewards and collateral back)");
    let snapshot = sales.reservations().snapshot()?;
    snapshot.check()?;
    println!(
        "sales left: {}, reservations left: {}, quota used {} reserved {}",
        sales.agents()?.len(),
        snapshot.reservations.len(),
        snapshot.quota.used_bytes,
        snapshot.quota.reserved_bytes
    );
    for availability in &snapshot.availabilities {
        println!(
            "availability {}…: {}/{} bytes free, collateral {} of {} available",
            &availability.id.to_hex()[..4],
            availability.free_size_bytes,
            availability.total_size_bytes,
            availability.total_remaining_collateral,
            availability.total_collateral
        );
    }
    Ok(())
}
