//! Sales soak: random markets (several requests and slots, lost races,
//! failed downloads, failed requests, expiries) run to the end with store
//! faults (before the write and lost acknowledgements) and host restarts at
//! random times. Every sale must end, and when all have, every availability
//! is whole again: no reserved or used bytes and no collateral without an
//! owner (Codex issues #1251 and #626), whatever crashed when.
//!
//! `TALLY_LONG_TESTS=1` runs many more cases.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use tally_market::periods::ProofConfig;
use tally_market::sales::{EffectId, Sales, SalesConfig, SalesOptions};
use tally_market::sim::{MarketEvent, SimMarket};
use tally_market::{
    Address, AvailabilityId, AvailabilitySpec, MarketError, Nonce, Reservations, SlotId, SlotRef, StorageAsk,
    StorageContent, StorageRequest, U256,
};
use tally_store::{Fault, FaultyStore, MemStore};

type Shared = Arc<FaultyStore<MemStore>>;

const ME: Address = Address([0xaa; 20]);
const OTHER: Address = Address([0xbb; 20]);
const START: u64 = 10_000;
const QUOTA: u64 = 5_000;

fn config() -> SalesConfig {
    SalesConfig {
        host: ME,
        proofs: ProofConfig {
            period_secs: 10,
            timeout_secs: 5,
            downtime: 0,
            downtime_product: 67,
        },
        repair_reward_percentage: 10,
    }
}

#[derive(Debug, Clone)]
struct RequestPlan {
    at: u64,
    slots: u64,
    slot_size: u64,
    duration: u64,
    price: u64,
    collateral_per_byte: u64,
    expiry: u64,
    probability: u64,
}

#[derive(Debug, Clone)]
enum Chaos {
    /// Another host fills slot `slot` of request `request` at `at`.
    OtherFills { at: u64, request: usize, slot: u64 },
    /// The download of that slot fails.
    DownloadFails { request: usize, slot: u64 },
    /// The request fails at `at`.
    RequestFails { at: u64, request: usize },
    /// The host process restarts at `at`.
    Restart { at: u64 },
}

fn plan() -> impl Strategy<Value = RequestPlan> {
    (
        0u64..120,
        1u64..4,
        20u64..300,
        40u64..300,
        0u64..4,
        0u64..4,
        20u64..90,
        0u64..4,
    )
        .prop_map(
            |(at, slots, slot_size, duration, price, collateral_per_byte, expiry, probability)| RequestPlan {
                at: START + at,
                slots,
                slot_size,
                duration,
                price,
                collateral_per_byte,
                expiry,
                probability,
            },
        )
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        (0u64..250, 0usize..4, 0u64..3).prop_map(|(at, request, slot)| Chaos::OtherFills {
            at: START + at,
            request,
            slot
        }),
        (0usize..4, 0u64..3).prop_map(|(request, slot)| Chaos::DownloadFails { request, slot }),
        (0u64..300, 0usize..4).prop_map(|(at, request)| Chaos::RequestFails {
            at: START + at,
            request
        }),
        (0u64..400).prop_map(|at| Chaos::Restart { at: START + at }),
    ]
}

fn request_of(n: usize, plan: &RequestPlan) -> StorageRequest {
    StorageRequest {
        client: Address([n as u8; 20]),
        ask: StorageAsk {
            proof_probability: U256::from(plan.probability),
            price_per_byte_per_second: U256::from(plan.price),
            collateral_per_byte: U256::from(plan.collateral_per_byte),
            slots: plan.slots,
            slot_size_bytes: plan.slot_size,
            duration_secs: plan.duration,
            max_slot_loss: 0,
        },
        content: StorageContent {
            cid: vec![n as u8; 4],
            merkle_root: [n as u8; 32],
        },
        expiry_secs: plan.expiry,
        nonce: Nonce([n as u8; 32]),
    }
}

/// Retries `call` while the store fails (an injected fault).
fn retrying<T>(mut call: impl FnMut() -> Result<T, MarketError>) -> T {
    for _ in 0..1_000 {
        match call() {
            Ok(value) => return value,
            Err(MarketError::Store(_)) => continue,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    panic!("the store never recovered");
}

fn open_sales(store: &Shared) -> Sales<Shared> {
    let reservations = retrying(|| Reservations::open(Arc::clone(store), QUOTA));
    Sales::new(reservations, config(), SalesOptions::default()).unwrap()
}

/// The host's loop body: every effect any agent still owes is performed
/// once, and its inputs handed back, until nothing is owed.
fn settle(sales: &mut Sales<Shared>, market: &mut SimMarket, performed: &mut BTreeSet<(SlotId, EffectId)>) {
    for _round in 0..10_000 {
        let agents = retrying(|| sales.agents());
        let mut any = false;
        for agent in agents {
            for effect in agent.pending.iter().filter(|e| !e.action.is_internal()) {
                if !performed.insert((agent.slot_id, effect.id)) {
                    continue;
                }
                any = true;
                for input in market.perform(ME, effect) {
                    match sales.handle(&agent.slot_id, input.clone(), market.now_secs) {
                        Ok(_) | Err(MarketError::AgentNotFound { .. }) => {}
                        Err(MarketError::Store(_)) => {
                            // Repeat until it goes through; a repeat of an input that
                            // had applied is ignored by the machine.
                            retrying(|| match sales.handle(&agent.slot_id, input.clone(), market.now_secs) {
                                Err(MarketError::AgentNotFound { .. }) => Ok(()),
                                other => other.map(drop),
                            });
                        }
                        Err(other) => panic!("handle failed: {other}"),
                    }
                }
            }
        }
        dispatch(sales, market);
        if !any {
            return;
        }
    }
    panic!("the host never settled");
}

fn dispatch(sales: &mut Sales<Shared>, market: &mut SimMarket) {
    let now = market.now_secs;
    for event in market.take_events() {
        match event {
            MarketEvent::StorageRequested {
                request_id,
                ask,
                expires_at_secs,
            } => {
                let _ = sales.on_storage_requested(request_id, &ask, expires_at_secs);
            }
            MarketEvent::SlotFilled { slot } => {
                retrying(|| sales.on_slot_filled(slot, now));
            }
            MarketEvent::RequestFulfilled { request_id } => {
                retrying(|| sales.on_request_fulfilled(&request_id, now));
            }
            MarketEvent::RequestCancelled { request_id } => {
                retrying(|| sales.on_request_cancelled(&request_id, now));
            }
            MarketEvent::RequestFailed { request_id } => {
                retrying(|| sales.on_request_failed(&request_id, now));
            }
        }
    }
}

fn cases() -> u32 {
    if std::env::var_os("TALLY_LONG_TESTS").is_some() {
        400
    } else {
        20
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), max_shrink_iters: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_sale_ends_and_leaves_every_byte_and_token_accounted_for(
        sizes in prop::collection::vec(50u64..900, 1..3),
        plans in prop::collection::vec(plan(), 1..4),
        chaos in prop::collection::vec(chaos(), 0..6),
        seed in any::<u64>(),
    ) {
        let store: Shared = Arc::new(FaultyStore::new(MemStore::new()));
        {
            let reservations = Reservations::open(Arc::clone(&store), QUOTA).unwrap();
            for (n, size) in sizes.iter().enumerate() {
                let mut spec = AvailabilitySpec::new(AvailabilityId([n as u8 + 1; 32]), *size, 400, U256::from(n as u64), U256::from(size * 2));
                spec.until_secs = if n == 1 { START + 250 } else { 0 };
                reservations.create_availability(&spec).unwrap();
            }
        }
        store.inject(Fault::on_commit().rate(0.04, seed).before_write());
        store.inject(Fault::on_commit().rate(0.04, seed.rotate_left(17)).after_write());
        store.inject(Fault::on_get().rate(0.005, seed.rotate_left(33)));

        let mut sales = open_sales(&store);
        let mut market = SimMarket::new(START);
        market.batch_bytes = 64;
        let mut requests: Vec<Option<tally_market::RequestId>> = vec![None; plans.len()];
        let mut performed = BTreeSet::new();
        let end = START + 800;
        let mut now = START;
        while now <= end {
            market.advance_to(now);
            for (n, plan) in plans.iter().enumerate() {
                if plan.at <= now && requests[n].is_none() {
                    requests[n] = Some(market.request_storage(request_of(n, plan)).unwrap());
                }
            }
            for event in &chaos {
                match *event {
                    Chaos::OtherFills { at, request, slot } if at == now => {
                        if let Some(Some(id)) = requests.get(request) {
                            let _ = market.fill_by(&SlotRef { request_id: *id, slot_index: slot }, OTHER);
                        }
                    }
                    Chaos::DownloadFails { request, slot } => {
                        if let Some(Some(id)) = requests.get(request) {
                            market.failing_downloads.insert(SlotRef { request_id: *id, slot_index: slot }.id());
                        }
                    }
                    Chaos::RequestFails { at, request } if at == now => {
                        if let Some(Some(id)) = requests.get(request) {
                            market.fail_request(id);
                        }
                    }
                    Chaos::Restart { at } if at == now => {
                        sales = open_sales(&store);
                        let mine = market.my_slots(ME);
                        retrying(|| sales.load(&mine, now));
                    }
                    _ => {}
                }
            }
            dispatch(&mut sales, &mut market);
            while retrying(|| sales.start_next_sale(now)).is_some() {}
            retrying(|| sales.tick(now));
            settle(&mut sales, &mut market, &mut performed);
            // Every step the books balance, faults or not.
            let snapshot = Reservations::open(store.inner(), QUOTA).unwrap().snapshot().unwrap();
            snapshot.check().unwrap();
            now += 10;
        }
        store.clear();
        prop_assert!(sales.agents().unwrap().is_empty(), "sales left over: {:?}",
            sales.agents().unwrap().iter().map(|a| (a.state, a.pending.len())).collect::<Vec<_>>());
        let snapshot = sales.reservations().snapshot().unwrap();
        snapshot.check().unwrap();
        prop_assert!(snapshot.reservations.is_empty(), "reservations left: {:?}", snapshot.reservations);
        prop_assert_eq!(snapshot.quota.used_bytes, 0);
        prop_assert_eq!(snapshot.quota.reserved_bytes, sizes.iter().sum::<u64>());
        // What the availabilities record as lost is exactly what the chain kept.
        let forfeited = snapshot.availabilities.iter().fold(U256::zero(), |sum, a| sum + a.collateral_forfeited);
        prop_assert_eq!(forfeited, market.collateral_kept(&ME));
        for availability in &snapshot.availabilities {
            prop_assert_eq!(availability.free_size_bytes, availability.total_size_bytes);
            prop_assert_eq!(
                availability.total_remaining_collateral + availability.collateral_forfeited,
                availability.total_collateral
            );
        }
    }
}
