//! A storage host selling its space on redb, against the marketplace
//! contract's rules.
//!
//! ```sh
//! cargo run --release --example market --features market,redb [-- --store redb:PATH]
//! cargo run --example market --features market,redb -- --help
//! ```
//!
//! A simulated chain (`tally::market::marketplace`, in memory) runs the
//! Codex marketplace contract: two clients request storage, paying up
//! front. Three hosts sell through the sales state machine, each step of
//! every sale executed as contract operations: this host (two
//! availabilities, its sales on redb), a rival, and a host whose prover is
//! broken, so it never submits a proof. A validator marks its missed
//! proofs; after two it is slashed out of its slot, and another host
//! repairs the slot for the repair reward. A request too large for anyone
//! expires unfilled and its client takes the whole price back. Halfway
//! this host's process restarts, reopens the redb file and resumes each
//! sale where it was. At the end every slot is paid, every client refunded,
//! and every token minted is in a balance or burned.

use std::collections::BTreeMap;
use std::error::Error;

use tally::market::marketplace::driver::{HostDriver, validate};
use tally::market::marketplace::{Event, Marketplace, MarketplaceConfig, Operation};
use tally::market::periods::ProofConfig;
use tally::market::sales::{Handled, Notification, Sales, SalesConfig, SalesOptions};
use tally::market::{
    Address, AvailabilityId, AvailabilitySpec, Nonce, RequestId, RequestState, Reservations, SlotId, SlotRef,
    StorageAsk, StorageContent, StorageRequest, TxId, U256,
};
use tally::redb::RedbStore;
use tally::store::{MemStore, Store};

const ME: Address = Address([0xaa; 20]);
const RIVAL: Address = Address([0xbb; 20]);
const BROKEN: Address = Address([0xdd; 20]);
const VALIDATOR: Address = Address([0xee; 20]);
const CLIENTS: [Address; 2] = [Address([0xc1; 20]), Address([0xc2; 20])];
const QUOTA_BYTES: u64 = 64 * 1024;
const START_SECS: u64 = 1_700_000_000;
const STEP_SECS: u64 = 10;

type Chain = Marketplace<MemStore>;

fn chain_config() -> MarketplaceConfig {
    MarketplaceConfig {
        proofs: ProofConfig {
            period_secs: 60,
            timeout_secs: 30,
            downtime: 64,
            downtime_product: 67,
        },
        ..MarketplaceConfig::default()
    }
}

fn sales_config(host: Address) -> SalesConfig {
    let chain = chain_config();
    SalesConfig {
        host,
        proofs: chain.proofs,
        repair_reward_percentage: chain.collateral.repair_reward_percentage,
    }
}

fn request(client: Address, label: u8, slots: u64, slot_size_bytes: u64, price: u64) -> StorageRequest {
    StorageRequest {
        client,
        ask: StorageAsk {
            proof_probability: U256::from(2u8),
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
        expiry_secs: 300,
        nonce: Nonce([label; 32]),
    }
}

/// Applies an operation the example makes itself (not a sale's).
fn apply(chain: &Chain, label: &str, n: u64, op: &Operation) -> Result<(), Box<dyn Error>> {
    chain.apply(&TxId::derive(label, &[&n.to_be_bytes()]), op)?;
    Ok(())
}

fn open_mine(path: &std::path::Path) -> Result<Sales<RedbStore>, Box<dyn Error>> {
    let reservations = Reservations::open(RedbStore::open(path)?, QUOTA_BYTES)?;
    Ok(Sales::new(reservations, sales_config(ME), SalesOptions::default())?)
}

fn in_memory(host: Address, salt: u8, size_bytes: u64, collateral: u64) -> Result<Sales<MemStore>, Box<dyn Error>> {
    let reservations = Reservations::open(MemStore::new(), QUOTA_BYTES)?;
    reservations.create_availability(&AvailabilitySpec::new(
        AvailabilityId([salt; 32]),
        size_bytes,
        7_200,
        U256::one(),
        U256::from(collateral),
    ))?;
    let options = SalesOptions {
        queue_salt: [salt; 32],
        ..SalesOptions::default()
    };
    Ok(Sales::new(reservations, sales_config(host), options)?)
}

fn print_quota<S: Store>(sales: &Sales<S>) -> Result<(), Box<dyn Error>> {
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
        "          my quota: used {} reserved {} | {}",
        quota.used_bytes,
        quota.reserved_bytes,
        free.join(", ")
    );
    Ok(())
}

fn print_sales(log: &[Handled], labels: &BTreeMap<SlotId, String>, now_secs: u64) -> bool {
    let mut printed = false;
    for handled in log {
        let label = labels.get(&handled.slot_id).map_or("?", String::as_str);
        for notification in &handled.notifications {
            let line = match notification {
                Notification::StateChanged { from, to } => format!("{} → {}", from.name(), to.name()),
                Notification::SlotFilledByMe => "filled by this host".to_owned(),
                Notification::Done => "done".to_owned(),
            };
            println!("t+{:>5}s  me      {label:<11} {line}", now_secs - START_SECS);
            printed = true;
        }
    }
    printed
}

fn name(address: &Address) -> &'static str {
    match *address {
        ME => "me",
        RIVAL => "rival",
        BROKEN => "broken",
        VALIDATOR => "validator",
        a if a == CLIENTS[0] => "client 1",
        a if a == CLIENTS[1] => "client 2",
        _ => "?",
    }
}

/// Prints the chain's events since `cursor`.
fn print_chain(
    chain: &Chain,
    cursor: &mut Option<u64>,
    labels: &BTreeMap<SlotId, String>,
    requests: &BTreeMap<RequestId, &str>,
) -> Result<(), Box<dyn Error>> {
    let slot_label = |request_id: &RequestId, slot_index: u64| {
        let id = SlotRef {
            request_id: *request_id,
            slot_index,
        }
        .id();
        labels.get(&id).cloned().unwrap_or_default()
    };
    loop {
        let receipts = chain.receipts_after(*cursor, 1_000)?;
        let Some(last) = receipts.last().map(|r| r.seq) else {
            return Ok(());
        };
        for receipt in receipts {
            let t = receipt.outcome.now_secs - START_SECS;
            for event in &receipt.outcome.events {
                let line = match event {
                    Event::SlotFilled { request_id, slot_index } => {
                        let slot = SlotRef {
                            request_id: *request_id,
                            slot_index: *slot_index,
                        };
                        let host = chain.slot(&slot.id())?.and_then(|s| s.host);
                        format!(
                            "{} filled by {}",
                            slot_label(request_id, *slot_index),
                            host.as_ref().map_or("?", name)
                        )
                    }
                    Event::SlotFreed { request_id, slot_index } => {
                        format!(
                            "{} freed: its host missed too many proofs",
                            slot_label(request_id, *slot_index)
                        )
                    }
                    Event::RequestFulfilled { request_id } => format!("request {} started", requests[request_id]),
                    Event::RequestCancelled { request_id } => {
                        format!("request {} cancelled, its client refunded", requests[request_id])
                    }
                    Event::RequestFailed { request_id } => format!("request {} failed", requests[request_id]),
                    _ => continue,
                };
                println!("t+{t:>5}s  chain   {line}");
            }
            if receipt.operation == "mark_proof_as_missing" {
                println!("t+{t:>5}s  chain   the validator marks a missed proof: the host is slashed");
            }
        }
        *cursor = Some(last);
    }
}

const HELP: &str = "\
market: a storage host selling its space on redb, against a simulated marketplace contract.

usage: cargo run --features market,redb --example market -- [--store redb:PATH]
       market [--store redb:PATH] [--help]

Two clients request storage; this host, a rival and a host that never
proves sell slots. The broken host is slashed out of its slot and another
host repairs it, a request too large for anyone expires and is refunded,
and halfway this host restarts and resumes its sales from the redb file.
It prints the chain's events and this host's sales as they happen, then
the balances and totals.

options:
  --store redb:PATH  keep this host's sales in PATH (default: a file in a
                     temporary directory, removed at the end)
  -h, --help         print this text
";

/// Where this host keeps its sales: `Some(path)` from `--store redb:PATH`,
/// `None` for a temporary file, or the problem with the arguments.
fn store_path(args: &[String]) -> Result<Option<std::path::PathBuf>, String> {
    match args {
        [] => Ok(None),
        [flag, store] if flag == "--store" => match store.strip_prefix("redb:") {
            Some(path) => Ok(Some(std::path::PathBuf::from(path))),
            None => Err(format!("--store takes redb:PATH, not {store:?}")),
        },
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{HELP}");
        return Ok(());
    }
    let chosen = store_path(&args).unwrap_or_else(|problem| {
        eprintln!("market: {problem}\n\n{HELP}");
        std::process::exit(2);
    });
    let dir = tempfile::tempdir()?;
    let path = chosen.unwrap_or_else(|| dir.path().join("market.redb"));
    println!("this host keeps its sales in {}\n", path.display());

    let chain = Marketplace::open(MemStore::new(), chain_config(), START_SECS)?;
    for (n, (account, amount)) in [
        (CLIENTS[0], 1_000_000_000u64),
        (CLIENTS[1], 1_000_000_000),
        (ME, 1_000_000),
        (RIVAL, 1_000_000),
        (BROKEN, 1_000_000),
    ]
    .into_iter()
    .enumerate()
    {
        let mint = Operation::Mint {
            account,
            amount: U256::from(amount),
        };
        apply(&chain, "mint", n as u64, &mint)?;
    }

    let mut mine = open_mine(&path)?;
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
        mine.reservations().create_availability(spec)?;
    }
    println!("me:     0a0a… 8 KiB for ≥ 2 per byte-second, 0b0b… 16 KiB for ≥ 1 (until a day from now)");
    // The broken host has room and collateral for exactly one 4 KiB slot.
    let mut rival = in_memory(RIVAL, 0xb1, 16 * 1024, 60_000)?;
    let mut broken = in_memory(BROKEN, 0xd1, 4 * 1024, 2 * 4 * 1024)?;
    println!("rival:  16 KiB for ≥ 1;  broken: 4 KiB for ≥ 1, and it never submits a proof");
    print_quota(&mine)?;

    let requests = [
        ("fits", request(CLIENTS[0], 1, 3, 4 * 1024, 3)),
        ("small", request(CLIENTS[1], 2, 2, 2 * 1024, 2)),
        ("too large", request(CLIENTS[1], 3, 2, 64 * 1024, 1)),
    ];
    let mut labels = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (n, (label, request)) in requests.iter().enumerate() {
        let id = request.id()?;
        names.insert(id, *label);
        for slot_index in 0..request.ask.slots {
            labels.insert(
                SlotRef {
                    request_id: id,
                    slot_index,
                }
                .id(),
                format!("{label}#{slot_index}"),
            );
        }
        apply(
            &chain,
            "request",
            n as u64,
            &Operation::RequestStorage {
                request: request.clone(),
            },
        )?;
        println!(
            "request {label:<9}: {} slots of {} bytes at {} per byte-second for {} s, {} paid up front",
            request.ask.slots,
            request.ask.slot_size_bytes,
            request.ask.price_per_byte_per_second,
            request.ask.duration_secs,
            request.ask.total_price()?
        );
    }
    println!();

    let mut my_driver = HostDriver::new(ME);
    my_driver.batch_bytes = 1_024;
    let mut rival_driver = HostDriver::new(RIVAL);
    let mut broken_driver = HostDriver::new(BROKEN);
    broken_driver.skip_proofs = true;
    let mut printed_up_to = None;
    let too_large = requests[2].1.id()?;

    let restart_at = START_SECS + 900;
    let end = START_SECS + 2_400;
    let mut restarted = false;
    let mut refunded = false;
    let mut step = 0u64;
    loop {
        let now = chain.now_secs()?;
        if now > end {
            break;
        }
        if !restarted && now >= restart_at {
            restarted = true;
            drop(mine); // the process dies; the redb file stays
            println!(
                "t+{:>5}s  me      -- restarts and reopens {} --",
                now - START_SECS,
                path.display()
            );
            mine = open_mine(&path)?;
            let resumed = mine.load(&chain.my_slots(&ME)?, now)?;
            for handled in &resumed {
                let label = labels.get(&handled.slot_id).map_or("?", String::as_str);
                println!("          me      {label:<11} resumes in {}", handled.state.name());
            }
            let log = my_driver.drive(&chain, &mut mine, resumed)?;
            print_sales(&log, &labels, now);
        }
        validate(&chain, VALIDATOR)?;
        // The broken host goes first (so it wins a slot); this host and the
        // rival take turns by period.
        broken_driver.step(&chain, &mut broken)?;
        let log = if (now / chain_config().proofs.period_secs).is_multiple_of(2) {
            let log = my_driver.step(&chain, &mut mine)?;
            rival_driver.step(&chain, &mut rival)?;
            log
        } else {
            rival_driver.step(&chain, &mut rival)?;
            my_driver.step(&chain, &mut mine)?
        };
        print_chain(&chain, &mut printed_up_to, &labels, &names)?;
        if print_sales(&log, &labels, now) {
            print_quota(&mine)?;
        }
        if !refunded && chain.request_state(&too_large)? == Some(RequestState::Cancelled) {
            refunded = true;
            let withdraw = Operation::WithdrawFunds {
                client: CLIENTS[1],
                request_id: too_large,
            };
            apply(&chain, "withdraw", 2, &withdraw)?;
            print_chain(&chain, &mut printed_up_to, &labels, &names)?;
        }
        apply(&chain, "clock", step, &Operation::Advance { seconds: STEP_SECS })?;
        step += 1;
    }
    for (n, (_, request)) in requests.iter().take(2).enumerate() {
        let withdraw = Operation::WithdrawFunds {
            client: request.client,
            request_id: request.id()?,
        };
        apply(&chain, "withdraw", n as u64, &withdraw)?;
    }

    println!();
    let snapshot = chain.snapshot()?;
    snapshot.check()?;
    for (label, request) in &requests {
        let state = snapshot.request_state(&request.id()?).ok_or("unknown request")?;
        println!("request {label:<9}: {}", state.name());
    }
    for account in [CLIENTS[0], CLIENTS[1], ME, RIVAL, BROKEN, VALIDATOR] {
        println!("{:<9} holds {}", name(&account), snapshot.balance(&account));
    }
    let totals = snapshot.totals();
    println!(
        "paid to hosts {}, collateral returned {}, refunded {}, validator rewards {}, burned {}",
        totals.paid_to_hosts,
        totals.collateral_returned,
        totals.refunded_to_clients,
        totals.validator_rewards,
        totals.burned
    );
    let held = snapshot.balances().values().fold(U256::zero(), |sum, b| sum + *b);
    println!(
        "minted {} = balances {} + burned {} (escrow {}, collateral {})",
        totals.minted, held, totals.burned, totals.escrow, totals.collateral
    );
    let quota = mine.reservations().snapshot()?;
    quota.check()?;
    println!(
        "my sales left: {}, reservations left: {}, quota used {} reserved {}",
        mine.agents()?.len(),
        quota.reservations.len(),
        quota.quota.used_bytes,
        quota.quota.reserved_bytes
    );
    Ok(())
}
