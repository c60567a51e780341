//! End to end: four hosts with availabilities sell through the sales state
//! machine against the marketplace contract rules on a shared store. They
//! compete for the slots of three requests; one host never submits its
//! proofs, is slashed by a validator and freed, and its slot is repaired
//! by another; one request, too large for anyone, expires unfilled. At the
//! end every payout and refund is checked against the contract's formulas,
//! and every minted token is in a balance or burned.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;

use tally_market::marketplace::driver::{HostDriver, validate};
use tally_market::marketplace::{Event, Marketplace, MarketplaceConfig, Operation};
use tally_market::periods::ProofConfig;
use tally_market::sales::{Sales, SalesConfig, SalesOptions};
use tally_market::{
    Address, AvailabilityId, AvailabilitySpec, Nonce, RequestId, RequestState, Reservations, SlotState, StorageAsk,
    StorageContent, StorageRequest, TxId, U256, slot_id,
};
use tally_store::MemStore;

const START: u64 = 1_700_000_000;
const STEP: u64 = 10;
const CLIENT1: Address = Address([0xc1; 20]);
const CLIENT2: Address = Address([0xc2; 20]);
const VALIDATOR: Address = Address([0xee; 20]);
const FAULTY: Address = Address([0xa4; 20]);
const HONEST: [Address; 3] = [Address([0xa1; 20]), Address([0xa2; 20]), Address([0xa3; 20])];
const CLIENT_WEALTH: u64 = 1_000_000_000;
const HOST_WEALTH: u64 = 10_000_000;
const KIB: u64 = 1_024;
/// 3 tokens per byte of a 1 KiB slot.
const SMALL_COLLATERAL: u64 = 3 * KIB;

fn u(n: u64) -> U256 {
    U256::from(n)
}

fn config() -> MarketplaceConfig {
    MarketplaceConfig {
        proofs: ProofConfig {
            period_secs: 60,
            timeout_secs: 30,
            downtime: 64,
            downtime_product: 67,
        },
        challenge_seed: [5; 32],
        ..MarketplaceConfig::default()
    }
}

fn request(client: Address, n: u8, slots: u64, slot_size_bytes: u64) -> StorageRequest {
    StorageRequest {
        client,
        ask: StorageAsk {
            proof_probability: u(1),
            price_per_byte_per_second: u(2),
            collateral_per_byte: u(3),
            slots,
            slot_size_bytes,
            duration_secs: 1_800,
            max_slot_loss: 1,
        },
        content: StorageContent {
            cid: vec![0x01, 0x55, n],
            merkle_root: [n; 32],
        },
        expiry_secs: 300,
        nonce: Nonce([n; 32]),
    }
}

struct Host {
    address: Address,
    sales: Sales<MemStore>,
    driver: HostDriver,
    offered_bytes: u64,
}

fn host(index: u8, address: Address, size_bytes: u64, collateral: u64, skip_proofs: bool) -> Host {
    let reservations = Reservations::open(MemStore::new(), 1 << 20).unwrap();
    reservations
        .create_availability(&AvailabilitySpec::new(
            AvailabilityId([index; 32]),
            size_bytes,
            7_200,
            u(1),
            u(collateral),
        ))
        .unwrap();
    let sales_config = SalesConfig {
        host: address,
        proofs: config().proofs,
        repair_reward_percentage: config().collateral.repair_reward_percentage,
    };
    let options = SalesOptions {
        queue_salt: [index; 32],
        ..SalesOptions::default()
    };
    let mut driver = HostDriver::new(address);
    driver.batch_bytes = 512;
    driver.skip_proofs = skip_proofs;
    Host {
        address,
        sales: Sales::new(reservations, sales_config, options).unwrap(),
        driver,
        offered_bytes: size_bytes,
    }
}

fn apply(chain: &Marketplace<MemStore>, label: &str, n: u64, op: Operation) {
    chain
        .apply(&TxId::derive(label, &[&n.to_be_bytes()]), &op)
        .unwrap_or_else(|error| panic!("{label} {n}: {error}"));
}

#[test]
fn hosts_compete_a_faulty_host_is_slashed_and_repaired_an_unfilled_request_expires_and_everything_adds_up() {
    let chain = Marketplace::open(MemStore::new(), config(), START).unwrap();
    for (n, (account, amount)) in [
        (CLIENT1, CLIENT_WEALTH),
        (CLIENT2, CLIENT_WEALTH),
        (FAULTY, HOST_WEALTH),
        (HONEST[0], HOST_WEALTH),
        (HONEST[1], HOST_WEALTH),
        (HONEST[2], HOST_WEALTH),
    ]
    .into_iter()
    .enumerate()
    {
        apply(
            &chain,
            "mint",
            n as u64,
            Operation::Mint {
                account,
                amount: u(amount),
            },
        );
    }
    // The faulty host offers room and collateral for exactly one small slot;
    // it is processed first each step, so it wins the slot it goes for.
    let mut hosts = vec![host(4, FAULTY, KIB, SMALL_COLLATERAL, true)];
    for (i, address) in HONEST.into_iter().enumerate() {
        hosts.push(host(i as u8 + 1, address, 16 * KIB, 200_000, false));
    }

    let small = request(CLIENT1, 1, 3, KIB);
    let large = request(CLIENT2, 2, 2, 2 * KIB);
    let too_large = request(CLIENT1, 3, 2, 64 * KIB);
    let ids: Vec<RequestId> = [&small, &large, &too_large].iter().map(|r| r.id().unwrap()).collect();
    for (n, request) in [small.clone(), large.clone(), too_large.clone()]
        .into_iter()
        .enumerate()
    {
        apply(&chain, "request", n as u64, Operation::RequestStorage { request });
    }

    let end = START + 1_800 + 600;
    let mut now = START;
    let mut step = 0u64;
    let mut too_large_withdrawn = false;
    while now <= end {
        validate(&chain, VALIDATOR).unwrap();
        // The faulty host first; the honest ones take turns going first.
        let honest = hosts.len() - 1;
        let order = std::iter::once(0).chain((0..honest).map(|i| 1 + (i + step as usize) % honest));
        for index in order.collect::<Vec<_>>() {
            let host = &mut hosts[index];
            host.driver.step(&chain, &mut host.sales).unwrap();
        }
        if !too_large_withdrawn && chain.request_state(&ids[2]).unwrap() == Some(RequestState::Cancelled) {
            apply(
                &chain,
                "withdraw",
                2,
                Operation::WithdrawFunds {
                    client: CLIENT1,
                    request_id: ids[2],
                },
            );
            too_large_withdrawn = true;
        }
        apply(&chain, "clock", step, Operation::Advance { seconds: STEP });
        now += STEP;
        step += 1;
    }
    assert!(too_large_withdrawn);
    apply(
        &chain,
        "withdraw",
        0,
        Operation::WithdrawFunds {
            client: CLIENT1,
            request_id: ids[0],
        },
    );
    apply(
        &chain,
        "withdraw",
        1,
        Operation::WithdrawFunds {
            client: CLIENT2,
            request_id: ids[1],
        },
    );

    let snapshot = chain.snapshot().unwrap();
    snapshot.check().unwrap();
    let mut all_events = Vec::new();
    let mut after = None;
    loop {
        let page = chain.receipts_after(after, 1_000).unwrap();
        let Some(last) = page.last().map(|r| r.seq) else { break };
        all_events.extend(page.into_iter().flat_map(|r| r.outcome.events));
        after = Some(last);
    }

    // The faulty host filled one small slot, lost it, and it was repaired.
    let freed: Vec<(RequestId, u64)> = all_events
        .iter()
        .filter_map(|e| match e {
            Event::SlotFreed { request_id, slot_index } => Some((*request_id, *slot_index)),
            _ => None,
        })
        .collect();
    assert_eq!(freed.len(), 1, "exactly one slot freed: {freed:?}");
    let (freed_request, freed_index) = freed[0];
    assert_eq!(freed_request, ids[0]);
    assert_eq!(
        chain.balance(&FAULTY).unwrap(),
        u(HOST_WEALTH - SMALL_COLLATERAL),
        "the faulty host lost its collateral"
    );
    let slashed = SMALL_COLLATERAL * 20 / 100;
    let reward = slashed * 20 / 100;
    assert_eq!(
        snapshot.totals().slashed,
        u(2 * slashed),
        "only the faulty host was slashed, twice"
    );
    assert_eq!(chain.balance(&VALIDATOR).unwrap(), u(2 * reward));
    let repaired = snapshot.slot(&slot_id(&freed_request, freed_index)).unwrap();
    assert!(HONEST.contains(&repaired.host.unwrap()), "repaired by an honest host");

    // Every slot of the two fillable requests was paid to an honest host;
    // the too-large request never had a slot filled and was cancelled.
    let price_per_slot_second = |request: &StorageRequest| 2 * request.ask.slot_size_bytes;
    let mut earned: BTreeMap<Address, u64> = BTreeMap::new();
    let mut paid_by_client: BTreeMap<Address, u64> = BTreeMap::new();
    for (request, id) in [(&small, ids[0]), (&large, ids[1])] {
        let record = snapshot.request(&id).unwrap();
        for index in 0..request.ask.slots {
            let slot = snapshot.slot(&slot_id(&id, index)).unwrap();
            assert_eq!(snapshot.slot_state(&slot_id(&id, index)).unwrap(), SlotState::Paid);
            let host = slot.host.unwrap();
            assert!(HONEST.contains(&host));
            let payout = (record.ends_at_secs - slot.filled_at_secs) * price_per_slot_second(request);
            *earned.entry(host).or_default() += payout;
            *paid_by_client.entry(request.client).or_default() += payout;
        }
    }
    assert_eq!(snapshot.request_state(&ids[2]), Some(RequestState::Cancelled));
    for index in 0..2 {
        assert_ne!(
            snapshot.slot_state(&slot_id(&ids[2], index)).unwrap(),
            SlotState::Filled
        );
    }
    let repair_reward = SMALL_COLLATERAL * 10 / 100;
    *earned.entry(repaired.host.unwrap()).or_default() += repair_reward;
    for address in HONEST {
        let expected = HOST_WEALTH + earned.get(&address).copied().unwrap_or(0);
        assert_eq!(chain.balance(&address).unwrap(), u(expected), "host {address}");
    }
    for client in [CLIENT1, CLIENT2] {
        let expected = CLIENT_WEALTH - paid_by_client.get(&client).copied().unwrap_or(0);
        assert_eq!(
            chain.balance(&client).unwrap(),
            u(expected),
            "client {client}: refunds add up"
        );
    }
    let totals = snapshot.totals();
    assert!(totals.escrow.is_zero() && totals.collateral.is_zero(), "{totals:?}");
    assert_eq!(totals.burned, u(SMALL_COLLATERAL - 2 * reward - repair_reward));
    let balances = snapshot.balances().values().fold(U256::zero(), |sum, b| sum + b);
    assert_eq!(
        balances + totals.burned,
        totals.minted,
        "every token is in a balance or burned"
    );

    // Every sale is over and every byte is back in the availabilities.
    for host in &hosts {
        assert!(
            host.sales.agents().unwrap().is_empty(),
            "{} has sales left",
            host.address
        );
        let snapshot = host.sales.reservations().snapshot().unwrap();
        snapshot.check().unwrap();
        assert!(snapshot.reservations.is_empty());
        assert_eq!(snapshot.quota.reserved_bytes, host.offered_bytes, "{}", host.address);
    }
    eprintln!(
        "earned by host (payouts and the repair reward): {earned:?}; burned {}",
        totals.burned
    );
    // They competed: the slots went to more than one host.
    assert!(earned.len() >= 2, "one host won everything: {earned:?}");
}
