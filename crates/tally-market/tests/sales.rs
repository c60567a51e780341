//! Sales on a store against the toy market, scenario by scenario after
//! Codex's `testsales.nim` ("Sales - start" and "Sales"), plus restarts.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;
use tally_market::periods::ProofConfig;
use tally_market::sales::{
    Action, Agent, Handled, Input, Notification, Reply, SaleState, Sales, SalesConfig, SalesOptions,
};
use tally_market::sim::{self, SimMarket};
use tally_market::{
    Address, AvailabilityId, AvailabilitySpec, AvailabilityUpdate, MarketError, Nonce, RequestId, RequestState,
    Reservations, SlotRef, SlotState, StorageAsk, StorageContent, StorageRequest, U256,
};

use tally_store::MemStore;

type Shared = Arc<MemStore>;

const ME: Address = Address([0xaa; 20]);
const OTHER: Address = Address([0xbb; 20]);
const START: u64 = 1_000;

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

/// A request: `slots` slots of 100 bytes for 200 s at price 2, collateral 1/byte, expiry 60 s.
fn request(n: u8, slots: u64) -> StorageRequest {
    StorageRequest {
        client: Address([n; 20]),
        ask: StorageAsk {
            proof_probability: U256::from(3u8),
            price_per_byte_per_second: U256::from(2u8),
            collateral_per_byte: U256::one(),
            slots,
            slot_size_bytes: 100,
            duration_secs: 200,
            max_slot_loss: 0,
        },
        content: StorageContent {
            cid: vec![n; 8],
            merkle_root: [n; 32],
        },
        expiry_secs: 60,
        nonce: Nonce([n; 32]),
    }
}

fn availability(n: u8, size: u64) -> AvailabilitySpec {
    AvailabilitySpec::new(AvailabilityId([n; 32]), size, 1_000, U256::one(), U256::from(size * 10))
}

fn sales_with(availabilities: &[AvailabilitySpec]) -> Sales<Shared> {
    let reservations = Reservations::open(Arc::new(MemStore::new()), 100_000).unwrap();
    for spec in availabilities {
        reservations.create_availability(spec).unwrap();
    }
    Sales::new(reservations, config(), SalesOptions::default()).unwrap()
}

fn the_availability(sales: &Sales<Shared>, n: u8) -> tally_market::Availability {
    sales
        .reservations()
        .availability(&AvailabilityId([n; 32]))
        .unwrap()
        .unwrap()
}

fn states(log: &[Handled]) -> Vec<SaleState> {
    log.iter()
        .flat_map(|h| h.notifications.iter())
        .filter_map(|n| match n {
            Notification::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

fn whole_again(sales: &Sales<Shared>) {
    let snapshot = sales.reservations().snapshot().unwrap();
    snapshot.check().unwrap();
    assert!(
        snapshot.reservations.is_empty(),
        "no reservation left: {:?}",
        snapshot.reservations
    );
    for a in &snapshot.availabilities {
        assert_eq!(a.free_size_bytes, a.total_size_bytes, "availability {} whole", a.id);
    }
    assert_eq!(snapshot.quota.used_bytes, 0);
    assert_eq!(
        snapshot.quota.reserved_bytes,
        snapshot.availabilities.iter().map(|a| a.total_size_bytes).sum::<u64>()
    );
}

// ----- the queue ------------------------------------------------------------------

#[test]
fn every_slot_of_a_requested_storage_joins_the_queue() {
    let mut sales = sales_with(&[]);
    let request = request(1, 4);
    assert_eq!(
        sales
            .on_storage_requested(request.id().unwrap(), &request.ask, 1_060)
            .unwrap(),
        4
    );
    assert_eq!(sales.queue().len(), 4);
    assert!(!sales.queue().paused());
}

#[test]
fn slots_leave_the_queue_when_their_request_is_cancelled_failed_or_fulfilled() {
    for event in ["cancelled", "failed", "fulfilled"] {
        let mut sales = sales_with(&[]);
        let (one, two) = (request(1, 2), request(2, 2));
        sales.on_storage_requested(one.id().unwrap(), &one.ask, 1_060).unwrap();
        sales.on_storage_requested(two.id().unwrap(), &two.ask, 1_060).unwrap();
        let id = one.id().unwrap();
        match event {
            "cancelled" => sales.on_request_cancelled(&id, START).unwrap(),
            "failed" => sales.on_request_failed(&id, START).unwrap(),
            _ => sales.on_request_fulfilled(&id, START).unwrap(),
        };
        assert_eq!(sales.queue().len(), 2, "{event}");
        assert!(
            sales.queue().items().all(|item| item.request_id == two.id().unwrap()),
            "{event}"
        );
    }
}

#[test]
fn a_slot_leaves_the_queue_when_it_is_filled_or_its_reservations_are_full() {
    let mut sales = sales_with(&[]);
    let request = request(1, 3);
    let id = request.id().unwrap();
    sales.on_storage_requested(id, &request.ask, 1_060).unwrap();
    sales
        .on_slot_filled(
            SlotRef {
                request_id: id,
                slot_index: 0,
            },
            START,
        )
        .unwrap();
    sales.on_slot_reservations_full(SlotRef {
        request_id: id,
        slot_index: 1,
    });
    let left: Vec<u16> = sales.queue().items().map(|item| item.slot_index).collect();
    assert_eq!(left, vec![2]);
}

#[test]
fn a_freed_slot_joins_the_queue_with_the_repair_collateral() {
    let mut sales = sales_with(&[]);
    let request = request(1, 3);
    sales.on_slot_freed(&request, 2, 1_060).unwrap();
    let item = sales.queue().items().next().unwrap().clone();
    assert_eq!(item.slot_index, 2);
    assert_eq!(item.collateral, U256::from(90u8), "100 less the 10% repair reward");
}

#[test]
fn ignored_slots_are_queued_again_as_seen_and_the_queue_pauses_once_nothing_fits() {
    // Room for one slot of three.
    let mut sales = sales_with(&[availability(1, 150)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 3)).unwrap();
    let log = sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    assert!(states(&log).contains(&SaleState::Ignored));
    assert_eq!(sales.queue().len(), 2, "the two that did not fit are back");
    assert!(sales.queue().items().all(|item| item.seen));
    assert!(sales.queue().paused());
    assert!(
        sales.start_next_sale(market.now_secs).unwrap().is_none(),
        "a paused queue starts nothing"
    );
}

#[test]
fn a_saved_availability_unpauses_the_queue_and_the_waiting_slots_sell() {
    let mut sales = sales_with(&[availability(1, 150)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 3)).unwrap();
    sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    assert!(sales.queue().paused());
    let grown = sales
        .reservations()
        .update_availability(
            &AvailabilityId([1; 32]),
            &AvailabilityUpdate {
                total_size_bytes: Some(400),
                ..AvailabilityUpdate::default()
            },
        )
        .unwrap();
    assert!(grown.saved);
    sales.on_availability_saved();
    assert!(!sales.queue().paused());
    assert!(sales.queue().items().all(|item| !item.seen));
    sim::run(&mut sales, &mut market, START + 50, 10).unwrap();
    assert_eq!(market.my_slots(ME).len(), 3, "all three slots are ours now");
}

// ----- one sale -----------------------------------------------------------------------

#[test]
fn the_availability_shrinks_by_the_slot_size_once_the_data_is_downloaded() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 1)).unwrap();
    sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    let availability = the_availability(&sales, 1);
    assert_eq!(availability.free_size_bytes, 900);
    let reservation = &sales.reservations().snapshot().unwrap().reservations[0];
    assert_eq!(
        (reservation.size_bytes, reservation.stored_bytes),
        (0, 100),
        "downloaded: all used"
    );
    assert_eq!(sales.reservations().quota().unwrap().used_bytes, 100);
}

#[test]
fn the_data_is_stored_proved_and_the_slot_filled_by_me_and_paid() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 1)).unwrap();
    let log = sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    let slot = SlotRef {
        request_id: id,
        slot_index: 0,
    };
    assert_eq!(market.my_slots(ME), vec![slot]);
    assert_eq!(market.requests[&id].state, RequestState::Started);
    assert!(
        log.iter()
            .any(|h| h.notifications.contains(&Notification::SlotFilledByMe))
    );
    assert_eq!(
        states(&log),
        vec![
            SaleState::SlotReserving,
            SaleState::Downloading,
            SaleState::InitialProving,
            SaleState::Filling,
            SaleState::Filled,
            SaleState::Proving
        ]
    );
    sim::run(&mut sales, &mut market, START + 260, 10).unwrap();
    assert_eq!(
        market.paid_out[&ME],
        U256::from(100u32 + 40_000u32),
        "collateral 100 + 200 s × 2 × 100 bytes"
    );
}

#[test]
fn bytes_and_collateral_return_to_the_availability_once_the_sale_finishes() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 1)).unwrap();
    let log = sim::run(&mut sales, &mut market, START + 260, 10).unwrap();
    assert!(states(&log).ends_with(&[SaleState::Payout, SaleState::Finished]));
    assert!(sales.agents().unwrap().is_empty());
    let availability = the_availability(&sales, 1);
    assert_eq!(availability.total_remaining_collateral, availability.total_collateral);
    whole_again(&sales);
}

#[test]
fn requests_the_availability_cannot_take_are_ignored_and_nothing_is_reserved() {
    let base = request(1, 1);
    let mut too_long = base.clone();
    too_long.ask.duration_secs = 1_001;
    let mut too_large = base.clone();
    too_large.ask.slot_size_bytes = 1_001;
    let mut too_cheap = base.clone();
    too_cheap.ask.price_per_byte_per_second = U256::zero();
    let mut too_much_collateral = base.clone();
    too_much_collateral.ask.collateral_per_byte = U256::from(11u8);
    for (what, request) in [
        ("duration not long enough", too_long),
        ("slot size too large", too_large),
        ("reward too low", too_cheap),
        ("collateral too high", too_much_collateral),
    ] {
        let mut sales = sales_with(&[availability(1, 1_000)]);
        let mut market = SimMarket::new(START);
        market.request_storage(request).unwrap();
        let log = sim::run(&mut sales, &mut market, START + 20, 10).unwrap();
        assert_eq!(states(&log), vec![SaleState::Ignored], "{what}");
        assert!(sales.agents().unwrap().is_empty(), "{what}");
        assert_eq!(
            the_availability(&sales, 1).free_size_bytes,
            1_000,
            "{what}: availability untouched"
        );
        assert!(
            sales.queue().items().all(|item| item.seen),
            "{what}: queued again as seen"
        );
    }
}

#[test]
fn a_request_is_ignored_when_the_availability_is_disabled_or_ends_too_early() {
    let mut disabled = availability(1, 1_000);
    disabled.enabled = false;
    let mut short = availability(1, 1_000);
    short.until_secs = START + 199; // the request ends at START + 200
    for (what, spec) in [("disabled", disabled), ("until before the end", short)] {
        let mut sales = sales_with(&[spec]);
        let mut market = SimMarket::new(START);
        market.request_storage(request(1, 1)).unwrap();
        let log = sim::run(&mut sales, &mut market, START + 20, 10).unwrap();
        assert_eq!(states(&log), vec![SaleState::Ignored], "{what}");
    }
    let mut long_enough = availability(1, 1_000);
    long_enough.until_secs = START + 200;
    let mut sales = sales_with(&[long_enough]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 1)).unwrap();
    let log = sim::run(&mut sales, &mut market, START + 20, 10).unwrap();
    assert!(
        states(&log).contains(&SaleState::Downloading),
        "until at the end is enough"
    );
}

#[test]
fn a_slot_that_is_not_free_is_ignored_and_not_queued_again() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 2)).unwrap();
    sim::dispatch(&mut sales, &mut market).unwrap();
    // Another host takes slot 0 on chain; we have not heard the event yet.
    market
        .fill_by(
            &SlotRef {
                request_id: id,
                slot_index: 0,
            },
            OTHER,
        )
        .unwrap();
    market.take_events();
    let mut log = Vec::new();
    while let Some(started) = sales.start_next_sale(START).unwrap() {
        log.extend(sim::drive(&mut sales, &mut market, vec![started]).unwrap());
    }
    assert!(states(&log).contains(&SaleState::Ignored));
    assert!(!sales.queue().contains(&id, 0));
}

#[test]
fn storage_is_available_again_when_the_download_fails() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 1)).unwrap();
    market.failing_downloads.insert(
        SlotRef {
            request_id: id,
            slot_index: 0,
        }
        .id(),
    );
    let log = sim::run(&mut sales, &mut market, START + 20, 10).unwrap();
    assert!(states(&log).contains(&SaleState::Errored));
    assert!(
        log.iter()
            .flat_map(|h| &h.effects)
            .any(|e| matches!(e.action, Action::ClearData { .. })),
        "onClear: the partial data is deleted"
    );
    whole_again(&sales);
    assert_eq!(
        the_availability(&sales, 1).total_remaining_collateral,
        U256::from(10_000u16)
    );
}

#[test]
fn storage_is_available_again_when_another_host_fills_the_slot() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 1)).unwrap();
    sim::dispatch(&mut sales, &mut market).unwrap();
    let started = sales.start_next_sale(START).unwrap().unwrap();
    // Prepare and reserve, then the other host fills before our download.
    let mut work = vec![started];
    for _ in 0..2 {
        let handled = work.remove(0);
        for effect in &handled.effects {
            for input in market.perform(ME, effect) {
                work.push(sales.handle(&handled.slot_id, input, START).unwrap());
            }
        }
    }
    assert_eq!(sales.agents().unwrap()[0].state, SaleState::Downloading);
    market
        .fill_by(
            &SlotRef {
                request_id: id,
                slot_index: 0,
            },
            OTHER,
        )
        .unwrap();
    let events = sim::dispatch(&mut sales, &mut market).unwrap();
    let log = sim::drive(&mut sales, &mut market, events).unwrap();
    assert!(states(&log).contains(&SaleState::Errored), "host mismatch");
    assert!(sales.agents().unwrap().is_empty());
    whole_again(&sales);
}

#[test]
fn storage_is_available_again_when_the_request_expires() {
    // One slot of two fits: ours is filled, the other never is, the request expires.
    let mut sales = sales_with(&[availability(1, 100)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 2)).unwrap();
    let log = sim::run(&mut sales, &mut market, START + 120, 10).unwrap();
    assert!(states(&log).contains(&SaleState::Cancelled));
    assert!(sales.agents().unwrap().is_empty());
    whole_again(&sales);
    let availability = the_availability(&sales, 1);
    assert_eq!(
        availability.total_remaining_collateral, availability.total_collateral,
        "collateral freed back"
    );
    assert_eq!(
        market.paid_out[&ME],
        U256::from(100u8),
        "the contract returned the collateral"
    );
}

#[test]
fn a_sale_is_cancelled_only_once_the_chain_says_the_request_is() {
    let mut sales = sales_with(&[availability(1, 100)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 2)).unwrap();
    sim::run(&mut sales, &mut market, START + 40, 10).unwrap();
    let slot_id = SlotRef {
        request_id: id,
        slot_index: 0,
    }
    .id();
    let slot_id = if sales.agent(&slot_id).unwrap().is_some() {
        slot_id
    } else {
        SlotRef {
            request_id: id,
            slot_index: 1,
        }
        .id()
    };
    // Expired (START + 60) but the chain still says New: the watch re-arms.
    let handled = sales.tick(START + 61).unwrap();
    let check = handled
        .iter()
        .flat_map(|h| &h.effects)
        .find(|e| matches!(e.action, Action::CheckRequestState { .. }))
        .expect("the watch asks the chain")
        .id;
    let after = sales
        .handle(
            &slot_id,
            Input::Reply {
                effect: check,
                reply: Reply::RequestState(Some(RequestState::New)),
            },
            START + 61,
        )
        .unwrap();
    assert_eq!(after.state, SaleState::Proving, "not cancelled while the chain lags");
    assert_eq!(
        sales.agent(&slot_id).unwrap().unwrap().cancellation_check_at_secs,
        Some(START + 62)
    );
    assert_eq!(the_availability(&sales, 1).free_size_bytes, 0);
}

// ----- restarts -------------------------------------------------------------------

fn restart(sales: Sales<Shared>) -> Sales<Shared> {
    let store = sales.reservations().store().clone();
    let reservations = Reservations::open(store, 100_000).unwrap();
    Sales::new(reservations, config(), SalesOptions::default()).unwrap()
}

#[test]
fn a_restarted_host_resumes_each_sale_where_it_was() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 1)).unwrap();
    sim::dispatch(&mut sales, &mut market).unwrap();
    let started = sales.start_next_sale(START).unwrap().unwrap();
    // The host performs the first query, then dies before anything else.
    let effect = started.effects[0].clone();
    let input = market.perform(ME, &effect).remove(0);
    sales.handle(&started.slot_id, input, START).unwrap();
    let agent: Agent = sales.agent(&started.slot_id).unwrap().unwrap();
    assert_eq!(agent.state, SaleState::SlotReserving);

    let mut sales = restart(sales);
    let resumed = sales.load(&market.my_slots(ME), START).unwrap();
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0].state, SaleState::SlotReserving);
    assert!(matches!(resumed[0].effects[..], [ref e] if matches!(e.action, Action::ReserveSlot { .. })));
    sim::drive(&mut sales, &mut market, resumed).unwrap();
    sim::run(&mut sales, &mut market, START + 260, 10).unwrap();
    assert!(sales.agents().unwrap().is_empty());
    whole_again(&sales);
}

#[test]
fn active_slots_are_loaded_when_sales_start() {
    // The host filled a slot, then lost every agent record (a new process
    // with the same reservations, as after Codex's restart).
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 2)).unwrap();
    sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    let mine = market.my_slots(ME);
    assert_eq!(mine.len(), 2);
    let store = sales.reservations().store().clone();
    for agent in sales.agents().unwrap() {
        let mut batch = tally_store::Batch::new();
        batch.delete(
            tally_store::key::KeyBuilder::new("market")
                .str("g")
                .fixed(agent.slot_id.as_bytes())
                .build(),
        );
        tally_store::Store::commit(&store, batch).unwrap();
    }
    let mut sales = restart(sales);
    let loaded = sales.load(&mine, market.now_secs).unwrap();
    assert_eq!(loaded.len(), 2);
    assert!(loaded.iter().all(|h| h.state == SaleState::Unknown));
    let agents = sales.agents().unwrap();
    assert!(
        agents.iter().all(|a| a.reservation.is_some()),
        "each adopts its slot's reservation"
    );
    let log = sim::drive(&mut sales, &mut market, loaded).unwrap();
    assert!(states(&log).contains(&SaleState::Proving));
    sim::run(&mut sales, &mut market, START + 260, 10).unwrap();
    whole_again(&sales);
}

#[test]
fn reservations_no_sale_owns_are_deleted_on_load_and_their_bytes_returned() {
    let sales = sales_with(&[availability(1, 1_000)]);
    let spec = tally_market::ReservationSpec {
        id: tally_market::ReservationId([9; 32]),
        availability_id: AvailabilityId([1; 32]),
        size_bytes: 300,
        request_id: RequestId([9; 32]),
        slot_index: 0,
        collateral_per_byte: U256::from(2u8),
        valid_until_secs: START + 100,
    };
    sales.reservations().create_reservation(&spec).unwrap();
    sales
        .reservations()
        .release(&spec.id, 120, tally_market::OpId([1; 32]))
        .unwrap();
    assert_eq!(the_availability(&sales, 1).free_size_bytes, 700);
    let mut sales = restart(sales);
    sales.load(&[], START).unwrap();
    assert!(sales.reservations().reservation(&spec.id).unwrap().is_none());
    whole_again(&sales);
    let availability = the_availability(&sales, 1);
    assert_eq!(availability.total_remaining_collateral, availability.total_collateral);
}

#[test]
fn a_restarted_host_whose_filled_slot_is_no_longer_listed_finds_out_why() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 1)).unwrap();
    sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    assert_eq!(sales.agents().unwrap()[0].state, SaleState::Proving);
    // While we were down the request failed and the slot is no longer ours.
    market.fail_request(&id);
    market.take_events();
    let mut sales = restart(sales);
    let loaded = sales.load(&[], market.now_secs).unwrap();
    assert_eq!(loaded[0].state, SaleState::Unknown);
    let log = sim::drive(&mut sales, &mut market, loaded).unwrap();
    assert!(states(&log).contains(&SaleState::Failed));
    assert!(sales.agents().unwrap().is_empty());
    whole_again(&sales);
    let availability = the_availability(&sales, 1);
    assert_eq!(
        availability.collateral_forfeited,
        U256::from(100u8),
        "a failed request keeps the collateral"
    );
}

#[test]
fn until_cannot_move_before_the_end_of_a_slot_being_sold() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    market.request_storage(request(1, 1)).unwrap();
    sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    let early = AvailabilityUpdate {
        until_secs: Some(START + 199),
        ..AvailabilityUpdate::default()
    };
    assert!(matches!(
        sales
            .reservations()
            .update_availability(&AvailabilityId([1; 32]), &early),
        Err(MarketError::UntilOutOfBounds { .. })
    ));
}

#[test]
fn workers_are_limited_to_sales_not_yet_filled() {
    let reservations = Reservations::open(Arc::new(MemStore::new()), 100_000).unwrap();
    reservations.create_availability(&availability(1, 10_000)).unwrap();
    let options = SalesOptions {
        max_workers: 2,
        ..SalesOptions::default()
    };
    let mut sales = Sales::new(reservations, config(), options).unwrap();
    let request = request(1, 5);
    sales
        .on_storage_requested(request.id().unwrap(), &request.ask, START + 60)
        .unwrap();
    assert!(sales.start_next_sale(START).unwrap().is_some());
    assert!(sales.start_next_sale(START).unwrap().is_some());
    assert!(sales.start_next_sale(START).unwrap().is_none(), "both workers busy");
    assert!(matches!(
        Sales::new(
            Reservations::open(Arc::new(MemStore::new()), 1).unwrap(),
            config(),
            SalesOptions {
                max_workers: 0,
                ..SalesOptions::default()
            }
        ),
        Err(MarketError::Invalid {
            field: "max_workers",
            ..
        })
    ));
    assert!(matches!(
        Sales::new(
            Reservations::open(Arc::new(MemStore::new()), 1).unwrap(),
            config(),
            SalesOptions {
                max_workers: 5,
                queue_max_size: 4,
                ..SalesOptions::default()
            }
        ),
        Err(MarketError::Invalid {
            field: "max_workers",
            ..
        })
    ));
}

#[test]
fn a_slot_state_the_agent_does_not_expect_leaves_no_bytes_behind() {
    // Repair during proving: the host was kicked out; its collateral is forfeited.
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 1)).unwrap();
    sim::run(&mut sales, &mut market, START + 30, 10).unwrap();
    let request = market.requests.get_mut(&id).unwrap();
    request.slots[0].state = SlotState::Repair;
    request.slots[0].host = None;
    let log = sim::run(&mut sales, &mut market, START + 60, 10).unwrap();
    assert!(states(&log).contains(&SaleState::Errored));
    whole_again(&sales);
    assert_eq!(the_availability(&sales, 1).collateral_forfeited, U256::from(100u8));
}

/// Codex #1234: clean-up must survive cancellation. Here the host dies
/// after the sale errored but before it cleared the data; the restarted host
/// gets the owed `ClearData` back from `load`, and the bytes return.
#[test]
fn a_clean_up_interrupted_by_a_crash_completes_after_the_restart() {
    let mut sales = sales_with(&[availability(1, 1_000)]);
    let mut market = SimMarket::new(START);
    let id = market.request_storage(request(1, 1)).unwrap();
    market.failing_downloads.insert(
        SlotRef {
            request_id: id,
            slot_index: 0,
        }
        .id(),
    );
    sim::dispatch(&mut sales, &mut market).unwrap();
    let started = sales.start_next_sale(START).unwrap().unwrap();
    let mut work = vec![started];
    // Perform effects until the sale has errored and owes ClearData; then stop.
    'run: while let Some(handled) = work.pop() {
        for effect in &handled.effects {
            if matches!(effect.action, Action::ClearData { .. }) {
                break 'run;
            }
            for input in market.perform(ME, effect) {
                work.push(sales.handle(&handled.slot_id, input, START).unwrap());
            }
        }
    }
    let agents = sales.agents().unwrap();
    assert_eq!(agents[0].state, SaleState::Errored);
    assert_eq!(
        the_availability(&sales, 1).free_size_bytes,
        900,
        "the bytes are still reserved"
    );

    let mut sales = restart(sales);
    let resumed = sales.load(&[], START + 5).unwrap();
    assert!(matches!(resumed[0].effects[..], [ref e] if matches!(e.action, Action::ClearData { .. })));
    sim::drive(&mut sales, &mut market, resumed).unwrap();
    assert!(sales.agents().unwrap().is_empty());
    whole_again(&sales);
}
