//! The marketplace contract's rules, operation by operation and refusal by
//! refusal, after `codex-contracts-eth`'s `Marketplace.test.js`,
//! `Proofs.test.js` and `SlotReservations.test.js`. Every operation is
//! followed by a full invariant check (conservation of tokens, escrow =
//! claims, records = totals), and every refusal by a check that nothing
//! changed.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod marketplace_fixtures;

use marketplace_fixtures::*;
use tally_market::marketplace::{
    ContractError, ContractState, Event, MarketplaceConfig, Operation, ReservationRefusal, rules,
};
use tally_market::periods::proof_requirement;
use tally_market::{Address, MarketError, RequestState, SlotId, SlotState, StorageAsk, U256};

fn contract_error(error: MarketError) -> ContractError {
    match error {
        MarketError::Contract(refusal) => refusal,
        other => panic!("expected a contract refusal, got {other}"),
    }
}

// ----- configuration -------------------------------------------------------------

#[test]
fn the_configuration_is_checked_as_the_constructor_does() {
    let with = |change: fn(&mut MarketplaceConfig)| {
        let mut config = config();
        change(&mut config);
        ContractState::new(config, 0).map(drop).map_err(|e| e.kind())
    };
    assert_eq!(with(|_| {}), Ok(()));
    assert_eq!(
        with(|c| c.collateral.repair_reward_percentage = 101),
        Err("repair_reward_percentage_too_high")
    );
    assert_eq!(
        with(|c| c.collateral.slash_percentage = 101),
        Err("slash_percentage_too_high")
    );
    assert_eq!(
        with(|c| {
            c.collateral.max_number_of_slashes = 6;
            c.collateral.slash_percentage = 20;
        }),
        Err("maximum_slashing_too_high")
    );
    assert_eq!(with(|c| c.proofs.period_secs = 0), Err("invalid_seconds_per_period"));
    assert_eq!(with(|c| c.proofs.timeout_secs = 65 * PERIOD), Err("invalid"));
}

#[test]
fn rewards_that_would_exceed_the_forfeited_collateral_are_refused() {
    let mut config = config();
    config.collateral.validator_reward_percentage = 101;
    assert_eq!(
        ContractState::new(config.clone(), 0).unwrap_err().kind(),
        "validator_reward_percentage_too_high"
    );
    config.collateral.validator_reward_percentage = 91;
    config.collateral.repair_reward_percentage = 10;
    assert_eq!(
        ContractState::new(config, 0).unwrap_err().kind(),
        "rewards_exceed_forfeited_collateral"
    );
    assert!(ContractState::new(MarketplaceConfig::default(), 0).is_ok());
}

// ----- mint and advance ------------------------------------------------------------

#[test]
fn mint_is_the_only_way_tokens_enter() {
    let mut chain = Chain::new();
    assert_eq!(chain.balance(&CLIENT), u(WEALTH));
    assert_eq!(chain.state.totals().minted, u(6 * WEALTH));
    chain.ok(Operation::Mint {
        account: VALIDATOR,
        amount: u(5),
    });
    assert_eq!(chain.balance(&VALIDATOR), u(5));
    assert_eq!(chain.state.totals().balances, u(6 * WEALTH + 5));
}

#[test]
fn minting_past_the_largest_amount_overflows() {
    let mut chain = Chain::new();
    assert_eq!(
        chain.kind(Operation::Mint {
            account: VALIDATOR,
            amount: U256::MAX,
        }),
        "invalid" // MarketError::Overflow
    );
    assert!(matches!(
        chain.err(Operation::Mint {
            account: VALIDATOR,
            amount: U256::MAX
        }),
        MarketError::Overflow { .. }
    ));
}

#[test]
fn advance_moves_the_clock_and_refuses_to_overflow() {
    let mut chain = Chain::new();
    let outcome = chain.ok(Operation::Advance { seconds: 25 });
    assert_eq!((outcome.now_secs, outcome.events.len()), (START + 25, 0));
    assert!(matches!(
        chain.err(Operation::Advance { seconds: u64::MAX }),
        MarketError::Overflow { .. }
    ));
}

// ----- requestStorage ----------------------------------------------------------------

#[test]
fn requesting_storage_escrows_the_maximum_price_and_emits_storage_requested() {
    let mut chain = Chain::new();
    let request = request(1);
    let id = request.id().unwrap();
    let outcome = chain.ok(Operation::RequestStorage {
        request: request.clone(),
    });
    assert_eq!(
        outcome.events,
        vec![Event::StorageRequested {
            request_id: id,
            ask: request.ask.clone(),
            expiry_secs: START + 300,
        }]
    );
    assert_eq!(chain.balance(&CLIENT), u(WEALTH - MAX_PRICE));
    let record = chain.state.request(&id).unwrap();
    assert_eq!(record.escrow, u(MAX_PRICE));
    assert_eq!(record.funds_to_return_to_client, u(MAX_PRICE));
    assert_eq!(
        (record.ends_at_secs, record.expires_at_secs),
        (START + 1_000, START + 300)
    );
    assert_eq!(chain.state.request_state(&id), Some(RequestState::New));
    assert_eq!(chain.state.totals().escrow, u(MAX_PRICE));
}

#[test]
fn a_request_is_refused_for_each_invalid_field_in_the_contracts_order() {
    let mut chain = Chain::new();
    chain.request_storage(request(1));
    let refused = |chain: &mut Chain, change: fn(&mut tally_market::StorageRequest)| {
        let mut request = request(2);
        change(&mut request);
        chain.kind(Operation::RequestStorage { request })
    };
    assert_eq!(refused(&mut chain, |r| *r = request(1)), "request_already_exists");
    assert_eq!(refused(&mut chain, |r| r.expiry_secs = 0), "invalid_expiry");
    assert_eq!(
        refused(&mut chain, |r| r.expiry_secs = r.ask.duration_secs),
        "invalid_expiry"
    );
    assert_eq!(refused(&mut chain, |r| r.ask.slots = 0), "insufficient_slots");
    assert_eq!(
        refused(&mut chain, |r| r.ask.max_slot_loss = 5),
        "invalid_max_slot_loss"
    );
    // A zero duration can never pass the expiry check first (0 < expiry < 0).
    assert_eq!(refused(&mut chain, |r| r.ask.duration_secs = 0), "invalid_expiry");
    assert_eq!(
        refused(&mut chain, |r| r.ask.proof_probability = U256::zero()),
        "insufficient_proof_probability"
    );
    assert_eq!(
        refused(&mut chain, |r| r.ask.collateral_per_byte = U256::zero()),
        "insufficient_collateral"
    );
    assert_eq!(
        refused(&mut chain, |r| r.ask.price_per_byte_per_second = U256::zero()),
        "insufficient_reward"
    );
    assert_eq!(refused(&mut chain, |r| r.content.cid.clear()), "invalid_cid");
    assert_eq!(
        refused(&mut chain, |r| r.ask.duration_secs = 30 * 24 * 3_600 + 1),
        "duration_exceeds_limit"
    );
    assert_eq!(
        refused(&mut chain, |r| r.client = Address([0x99; 20])),
        "insufficient_balance"
    );
    assert_eq!(refused(&mut chain, |r| r.ask.slots = 1_025), "invalid"); // MarketError::Limit
    assert_eq!(
        refused(&mut chain, |r| r.ask.price_per_byte_per_second = U256::MAX),
        "invalid" // MarketError::Overflow
    );
}

#[test]
fn a_client_without_the_maximum_price_cannot_request() {
    let mut chain = Chain::new();
    let mut request = request(1);
    request.ask.price_per_byte_per_second = u(WEALTH); // 400,000 × 10^7
    let error = contract_error(chain.err(Operation::RequestStorage { request }));
    assert_eq!(
        error,
        ContractError::InsufficientBalance {
            account: CLIENT,
            balance: u(WEALTH),
            required: u(MAX_PRICE * WEALTH),
        }
    );
}

// ----- reserveSlot ---------------------------------------------------------------------

#[test]
fn a_free_slot_can_be_reserved_once_per_host_up_to_max_reservations() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    assert!(chain.reserve(HOST1, id, 0).events.is_empty());
    assert!(chain.reserve(HOST2, id, 0).events.is_empty());
    let refusal = contract_error(chain.err(Operation::ReserveSlot {
        host: HOST1,
        request_id: id,
        slot_index: 0,
    }));
    assert_eq!(
        refusal,
        ContractError::ReservationNotAllowed {
            reason: ReservationRefusal::AlreadyReserved
        }
    );
    assert_eq!(
        chain.reserve(HOST3, id, 0).events,
        vec![Event::SlotReservationsFull {
            request_id: id,
            slot_index: 0
        }]
    );
    let refusal = contract_error(chain.err(Operation::ReserveSlot {
        host: HOST4,
        request_id: id,
        slot_index: 0,
    }));
    assert_eq!(
        refusal,
        ContractError::ReservationNotAllowed {
            reason: ReservationRefusal::ReservationsFull
        }
    );
    assert_eq!(
        chain.state.slot(&slot(&id, 0)).unwrap().reservations,
        vec![HOST1, HOST2, HOST3]
    );
    assert_eq!(chain.state.slot_state(&slot(&id, 0)).unwrap(), SlotState::Free);
}

#[test]
fn a_filled_slot_cannot_be_reserved() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.fill(HOST1, id, 0);
    let refusal = contract_error(chain.err(Operation::ReserveSlot {
        host: HOST2,
        request_id: id,
        slot_index: 0,
    }));
    assert_eq!(
        refusal,
        ContractError::ReservationNotAllowed {
            reason: ReservationRefusal::SlotNotFree(SlotState::Filled)
        }
    );
}

#[test]
fn slots_of_unknown_requests_or_beyond_the_last_index_cannot_be_reserved() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let unknown = request(9).id().unwrap();
    assert_eq!(
        chain.kind(Operation::ReserveSlot {
            host: HOST1,
            request_id: unknown,
            slot_index: 0
        }),
        "unknown_request"
    );
    assert_eq!(
        chain.kind(Operation::ReserveSlot {
            host: HOST1,
            request_id: id,
            slot_index: 4
        }),
        "invalid_slot"
    );
}

#[test]
fn a_slot_in_repair_can_be_reserved_again_its_old_reservations_cleared() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.reserve(HOST2, id, 0);
    chain.fill(HOST1, id, 0);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(chain.state.slot_state(&slot(&id, 0)).unwrap(), SlotState::Repair);
    assert!(chain.state.slot(&slot(&id, 0)).unwrap().reservations.is_empty());
    chain.reserve(HOST2, id, 0);
    chain.reserve(HOST1, id, 0);
}

#[test]
fn a_never_filled_slot_of_a_cancelled_request_reads_free_and_can_be_reserved_but_not_filled() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(301);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Cancelled));
    assert_eq!(chain.state.slot_state(&slot(&id, 1)).unwrap(), SlotState::Free);
    chain.reserve(HOST1, id, 1);
    assert_eq!(
        contract_error(chain.err(Chain::fill_op(HOST1, id, 1))),
        ContractError::SlotNotFree(SlotState::Cancelled)
    );
}

// ----- fillSlot ---------------------------------------------------------------------------

#[test]
fn filling_a_slot_locks_the_collateral_and_takes_its_payout_from_the_clients_refund() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.reserve(HOST1, id, 2);
    let outcome = chain.ok(Chain::fill_op(HOST1, id, 2));
    assert_eq!(
        outcome.events,
        vec![
            Event::ProofSubmitted { slot_id: slot(&id, 2) },
            Event::SlotFilled {
                request_id: id,
                slot_index: 2
            },
        ]
    );
    assert_eq!(chain.balance(&HOST1), u(WEALTH - COLLATERAL));
    let record = chain.state.slot(&slot(&id, 2)).unwrap();
    assert_eq!((record.host, record.filled_at_secs), (Some(HOST1), START + 100));
    assert_eq!(record.current_collateral, u(COLLATERAL));
    let request = chain.state.request(&id).unwrap();
    assert_eq!(request.slots_filled, 1);
    assert_eq!(
        request.funds_to_return_to_client,
        u(MAX_PRICE - 900 * PRICE_PER_SLOT_SECOND)
    );
    assert_eq!(chain.state.my_slots(&HOST1).len(), 1);
    assert_eq!(chain.state.slot_state(&slot(&id, 2)).unwrap(), SlotState::Filled);
}

#[test]
fn filling_the_last_slot_starts_the_request() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    for index in 0..3 {
        chain.fill(HOST1, id, index);
    }
    assert_eq!(chain.state.request_state(&id), Some(RequestState::New));
    chain.reserve(HOST2, id, 3);
    let outcome = chain.ok(Chain::fill_op(HOST2, id, 3));
    assert_eq!(outcome.events.last(), Some(&Event::RequestFulfilled { request_id: id }));
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Started));
    assert_eq!(chain.state.request(&id).unwrap().started_at_secs, START + 100);
}

#[test]
fn a_slot_is_filled_only_with_a_reservation_and_a_proof_and_enough_collateral() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    assert_eq!(
        chain.kind(Chain::fill_op(HOST1, request(9).id().unwrap(), 0)),
        "unknown_request"
    );
    assert_eq!(chain.kind(Chain::fill_op(HOST1, id, 7)), "invalid_slot");
    assert_eq!(chain.kind(Chain::fill_op(HOST1, id, 0)), "reservation_required");
    chain.reserve(HOST1, id, 0);
    assert_eq!(
        chain.kind(Operation::FillSlot {
            host: HOST1,
            request_id: id,
            slot_index: 0,
            proof: Vec::new()
        }),
        "invalid_proof"
    );
    let poor = Address([0x42; 20]);
    chain.reserve(poor, id, 1);
    assert_eq!(chain.kind(Chain::fill_op(poor, id, 1)), "insufficient_balance");
    chain.ok(Chain::fill_op(HOST1, id, 0));
    assert_eq!(
        contract_error(chain.err(Chain::fill_op(HOST1, id, 0))),
        ContractError::SlotNotFree(SlotState::Filled)
    );
}

#[test]
fn slots_of_finished_cancelled_or_failed_requests_cannot_be_filled() {
    // Finished.
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(10);
    for index in 0..3 {
        chain.fill(HOST1, id, index);
    }
    chain.reserve(HOST2, id, 3);
    chain.ok(Chain::fill_op(HOST2, id, 3));
    chain.ok(Operation::FreeSlot {
        host: HOST2,
        slot_id: slot(&id, 3),
    }); // → Repair
    chain.reserve(HOST3, id, 3);
    chain.advance_to(START + 1_001);
    assert_eq!(
        contract_error(chain.err(Chain::fill_op(HOST3, id, 3))),
        ContractError::SlotNotFree(SlotState::Finished)
    );

    // Failed: two slots freed from a started request that may lose one.
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(10);
    chain.fill_all(id, &[HOST1, HOST2]);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    chain.reserve(HOST3, id, 0);
    chain.ok(Operation::FreeSlot {
        host: HOST2,
        slot_id: slot(&id, 1),
    });
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Failed));
    assert_eq!(
        contract_error(chain.err(Chain::fill_op(HOST3, id, 0))),
        ContractError::SlotNotFree(SlotState::Failed)
    );
    assert_eq!(
        contract_error(chain.err(Operation::ReserveSlot {
            host: HOST4,
            request_id: id,
            slot_index: 0
        })),
        ContractError::ReservationNotAllowed {
            reason: ReservationRefusal::SlotNotFree(SlotState::Failed)
        }
    );
}

#[test]
fn repairing_a_slot_costs_the_collateral_less_the_repair_reward_but_returns_it_in_full() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill_all(id, &[HOST1, HOST2, HOST3, HOST2]);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(chain.state.totals().burned, u(COLLATERAL));
    chain.advance(10);
    let before = chain.balance(&HOST4);
    chain.fill(HOST4, id, 0);
    assert_eq!(before - chain.balance(&HOST4), u(COLLATERAL - COLLATERAL / 10));
    assert_eq!(
        chain.state.slot(&slot(&id, 0)).unwrap().current_collateral,
        u(COLLATERAL)
    );
    assert_eq!(chain.state.totals().repair_rewards, u(COLLATERAL / 10));
    assert_eq!(chain.state.totals().burned, u(COLLATERAL - COLLATERAL / 10));

    // At the end the repairing host is paid for the time it hosted, and gets all of it back.
    chain.advance_to(START + 1_001);
    let before = chain.balance(&HOST4);
    chain.ok(Operation::FreeSlot {
        host: HOST4,
        slot_id: slot(&id, 0),
    });
    let hosted = (START + 1_000) - (START + 110);
    assert_eq!(
        chain.balance(&HOST4) - before,
        u(hosted * PRICE_PER_SLOT_SECOND + COLLATERAL)
    );
}

#[test]
fn a_repair_in_the_period_the_previous_host_proved_is_refused_as_the_contract_remembers_that_proof() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill_all(id, &[HOST1, HOST2]);
    chain.advance(10);
    chain.prove(HOST1, slot(&id, 0));
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    chain.reserve(HOST3, id, 0);
    assert_eq!(chain.kind(Chain::fill_op(HOST3, id, 0)), "proof_already_submitted");
    chain.advance(10);
    chain.ok(Chain::fill_op(HOST3, id, 0));
}

#[test]
fn repairing_at_the_second_the_request_ends_is_refused_as_start_not_before_expiry() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill_all(id, &[HOST1]);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 1),
    });
    chain.reserve(HOST2, id, 1);
    chain.advance_to(START + 1_000);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Started));
    assert_eq!(chain.kind(Chain::fill_op(HOST2, id, 1)), "start_not_before_expiry");
}

// ----- freeSlot -----------------------------------------------------------------------------

#[test]
fn only_the_host_of_a_filled_slot_can_free_it() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.reserve(HOST1, id, 0);
    assert_eq!(
        chain.kind(Operation::FreeSlot {
            host: HOST1,
            slot_id: slot(&id, 0)
        }),
        "slot_is_free"
    );
    assert_eq!(
        chain.kind(Operation::FreeSlot {
            host: HOST1,
            slot_id: SlotId([5; 32])
        }),
        "slot_is_free"
    );
    chain.ok(Chain::fill_op(HOST1, id, 0));
    assert_eq!(
        chain.kind(Operation::FreeSlot {
            host: HOST2,
            slot_id: slot(&id, 0)
        }),
        "invalid_slot_host"
    );
}

#[test]
fn freeing_a_filled_slot_forfeits_the_collateral_and_refunds_its_payout_to_the_client() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill_all(id, &[HOST1, HOST2]);
    let funds = chain.state.request(&id).unwrap().funds_to_return_to_client;
    let outcome = chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(
        outcome.events,
        vec![Event::SlotFreed {
            request_id: id,
            slot_index: 0
        }]
    );
    let record = chain.state.slot(&slot(&id, 0)).unwrap();
    assert_eq!(
        (record.state, record.host, record.current_collateral),
        (SlotState::Repair, None, U256::zero())
    );
    let request = chain.state.request(&id).unwrap();
    assert_eq!(
        request.funds_to_return_to_client,
        funds + u(900 * PRICE_PER_SLOT_SECOND)
    );
    assert_eq!(request.slots_filled, 3);
    assert_eq!(chain.state.totals().forfeited, u(COLLATERAL));
    assert_eq!(
        chain.balance(&HOST1),
        u(WEALTH - 2 * COLLATERAL),
        "one of its two slots forfeited"
    );
    assert_eq!(chain.state.my_slots(&HOST1).len(), 1);
    // Still one slot lost of one allowed: the request goes on.
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Started));
}

#[test]
fn losing_more_slots_than_max_slot_loss_fails_a_started_request_but_not_a_new_one() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    for index in 0..3 {
        chain.fill(HOST1, id, index);
    }
    for index in 0..3 {
        chain.ok(Operation::FreeSlot {
            host: HOST1,
            slot_id: slot(&id, index),
        });
    }
    assert_eq!(
        chain.state.request_state(&id),
        Some(RequestState::New),
        "New requests never fail"
    );

    let id = chain.request_storage(request(2));
    chain.fill_all(id, &[HOST2]);
    chain.ok(Operation::FreeSlot {
        host: HOST2,
        slot_id: slot(&id, 0),
    });
    let outcome = chain.ok(Operation::FreeSlot {
        host: HOST2,
        slot_id: slot(&id, 1),
    });
    assert_eq!(
        outcome.events,
        vec![
            Event::SlotFreed {
                request_id: id,
                slot_index: 1
            },
            Event::RequestFailed { request_id: id }
        ]
    );
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Failed));
    assert_eq!(chain.state.request(&id).unwrap().ends_at_secs, chain.now() - 1);
    for index in 0..4 {
        assert_eq!(chain.state.slot_state(&slot(&id, index)).unwrap(), SlotState::Failed);
    }
}

#[test]
fn a_finished_slot_is_paid_for_the_time_hosted_once() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(150);
    chain.fill_all(id, &[HOST1, HOST2]);
    chain.advance_to(START + 1_001);
    assert_eq!(chain.state.slot_state(&slot(&id, 0)).unwrap(), SlotState::Finished);
    let before = chain.balance(&HOST1);
    let outcome = chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert!(outcome.events.is_empty());
    assert_eq!(
        chain.balance(&HOST1) - before,
        u(850 * PRICE_PER_SLOT_SECOND + COLLATERAL)
    );
    assert_eq!(chain.state.slot_state(&slot(&id, 0)).unwrap(), SlotState::Paid);
    assert_eq!(chain.state.request(&id).unwrap().state, RequestState::Finished);
    assert_eq!(
        chain.kind(Operation::FreeSlot {
            host: HOST1,
            slot_id: slot(&id, 0)
        }),
        "already_paid"
    );
    // Its reservation stands, but a paid slot is not free.
    assert_eq!(chain.kind(Chain::fill_op(HOST1, id, 0)), "slot_not_free");
}

#[test]
fn a_finished_slot_is_not_paid_before_the_request_ends() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.fill(HOST1, id, 0);
    let before = chain.balance(&HOST1);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(chain.balance(&HOST1), before, "freed, not paid");
}

#[test]
fn a_cancelled_slot_is_paid_until_the_expiry_and_gets_its_collateral_back() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill(HOST1, id, 0);
    chain.advance_to(START + 301);
    assert_eq!(chain.state.slot_state(&slot(&id, 0)).unwrap(), SlotState::Cancelled);
    let before = chain.balance(&HOST1);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(
        chain.balance(&HOST1) - before,
        u(200 * PRICE_PER_SLOT_SECOND + COLLATERAL)
    );
    assert_eq!(chain.state.slot_state(&slot(&id, 0)).unwrap(), SlotState::Paid);
}

#[test]
fn a_slot_filled_at_the_second_of_the_expiry_can_never_be_paid_out_as_in_the_contract() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(300);
    chain.fill(HOST1, id, 0);
    chain.advance(1);
    assert_eq!(
        chain.kind(Operation::FreeSlot {
            host: HOST1,
            slot_id: slot(&id, 0)
        }),
        "start_not_before_expiry"
    );
    // The collateral stays locked; the books still balance.
    assert_eq!(chain.state.totals().collateral, u(COLLATERAL));
}

#[test]
fn freeing_a_failed_slot_pays_nothing_and_drops_it_from_the_hosts_list() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.fill_all(id, &[HOST1, HOST2]);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    chain.ok(Operation::FreeSlot {
        host: HOST2,
        slot_id: slot(&id, 1),
    });
    let before = chain.balance(&HOST1);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 2),
    });
    assert_eq!(chain.balance(&HOST1), before);
    assert!(chain.state.my_slots(&HOST1).is_empty());
    // Freeing it again is allowed and does nothing (the contract has no guard).
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 2),
    });
}

// ----- proofs -----------------------------------------------------------------------------------

#[test]
fn proofs_are_required_from_the_period_after_the_fill_while_the_slot_is_filled() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.fill(HOST1, id, 0);
    let fill_period = chain.period();
    let s = slot(&id, 0);
    assert!(!chain.state.is_proof_required(&s, fill_period).unwrap());
    for period in fill_period + 1..fill_period + 20 {
        assert!(chain.state.is_proof_required(&s, period).unwrap(), "period {period}");
    }
    assert!(
        !chain.state.is_proof_required(&slot(&id, 1), fill_period + 1).unwrap(),
        "not filled"
    );
    chain.advance(301); // cancelled
    assert!(!chain.state.is_proof_required(&s, chain.period()).unwrap());
}

#[test]
fn submitting_a_proof_records_it_for_the_current_period_once() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let s = slot(&id, 0);
    chain.fill(HOST1, id, 0);
    // The fill's own proof counts for the fill's period.
    assert_eq!(
        contract_error(chain.err(Operation::SubmitProof {
            host: HOST1,
            slot_id: s,
            proof: vec![1]
        })),
        ContractError::ProofAlreadySubmitted { period: chain.period() }
    );
    chain.advance(PERIOD);
    assert_eq!(chain.prove(HOST1, s).events, vec![Event::ProofSubmitted { slot_id: s }]);
    assert_eq!(
        chain.kind(Operation::SubmitProof {
            host: HOST1,
            slot_id: s,
            proof: vec![1]
        }),
        "proof_already_submitted"
    );
}

#[test]
fn a_proof_comes_from_the_slots_host_is_non_empty_and_names_a_filled_slot() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.reserve(HOST1, id, 1);
    for never_filled in [slot(&id, 1), slot(&id, 2)] {
        assert_eq!(
            chain.kind(Operation::SubmitProof {
                host: HOST1,
                slot_id: never_filled,
                proof: vec![1]
            }),
            "unknown_request"
        );
    }
    chain.fill(HOST1, id, 0);
    chain.advance(PERIOD);
    assert_eq!(
        chain.kind(Operation::SubmitProof {
            host: HOST2,
            slot_id: slot(&id, 0),
            proof: vec![1]
        }),
        "proof_not_submitted_by_host"
    );
    assert_eq!(
        chain.kind(Operation::SubmitProof {
            host: HOST1,
            slot_id: slot(&id, 0),
            proof: Vec::new()
        }),
        "invalid_proof"
    );
    assert!(matches!(
        chain.err(Operation::SubmitProof {
            host: HOST1,
            slot_id: slot(&id, 0),
            proof: vec![0; 4_097]
        }),
        MarketError::Limit { .. }
    ));
}

#[test]
fn a_missing_proof_slashes_the_host_and_rewards_the_validator() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let s = slot(&id, 0);
    chain.fill(HOST1, id, 0);
    chain.advance(PERIOD);
    let outcome = chain.miss_current_period(s);
    assert!(outcome.events.is_empty());
    let slashed = COLLATERAL * 20 / 100;
    let reward = slashed * 20 / 100;
    assert_eq!(chain.balance(&VALIDATOR), u(reward));
    let record = chain.state.slot(&s).unwrap();
    assert_eq!(
        (record.current_collateral, record.missed_proofs),
        (u(COLLATERAL - slashed), 1)
    );
    assert_eq!(chain.state.totals().burned, u(slashed - reward));
    assert_eq!(chain.state.slot_state(&s).unwrap(), SlotState::Filled);
}

#[test]
fn reaching_max_number_of_slashes_frees_the_slot_and_resets_the_missed_proofs() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let s = slot(&id, 0);
    chain.fill(HOST1, id, 0);
    chain.advance(PERIOD);
    chain.miss_current_period(s);
    let outcome = chain.miss_current_period(s);
    assert_eq!(
        outcome.events,
        vec![Event::SlotFreed {
            request_id: id,
            slot_index: 0
        }]
    );
    let record = chain.state.slot(&s).unwrap();
    assert_eq!(
        (record.state, record.missed_proofs, record.host),
        (SlotState::Repair, 0, None)
    );
    let slashed = 2 * COLLATERAL * 20 / 100;
    assert_eq!(chain.state.totals().forfeited, u(COLLATERAL) - u(slashed));
    assert_eq!(chain.balance(&VALIDATOR), u(slashed / 5));
    assert_eq!(chain.balance(&HOST1), u(WEALTH - COLLATERAL), "all of it lost");
}

#[test]
fn a_proof_is_marked_missing_only_inside_its_validation_window() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let s = slot(&id, 0);
    chain.fill(HOST1, id, 0);
    chain.advance(PERIOD);
    let period = chain.period();
    let mark = |period| Operation::MarkProofAsMissing {
        validator: VALIDATOR,
        slot_id: s,
        period,
    };
    assert_eq!(
        contract_error(chain.err(mark(period))),
        ContractError::PeriodNotEnded {
            period,
            ends_at_secs: (period + 1) * PERIOD
        }
    );
    chain.advance_to((period + 1) * PERIOD);
    assert_eq!(
        chain.kind(mark(period)),
        "period_not_ended",
        "the end itself is too early"
    );
    chain.advance_to((period + 1) * PERIOD + TIMEOUT);
    assert_eq!(chain.kind(mark(period)), "validation_timed_out");
    chain.advance_to((period + 2) * PERIOD + TIMEOUT - 1);
    chain.ok(mark(period + 1));
    assert_eq!(chain.kind(mark(period + 1)), "proof_already_marked_missing");
}

#[test]
fn a_received_or_unrequired_proof_cannot_be_marked_missing() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let s = slot(&id, 0);
    chain.fill(HOST1, id, 0);
    let fill_period = chain.period();
    chain.advance_to((fill_period + 1) * PERIOD + 1);
    let mark = |period| Operation::MarkProofAsMissing {
        validator: VALIDATOR,
        slot_id: s,
        period,
    };
    // The fill period: its proof came with the fill.
    assert_eq!(chain.kind(mark(fill_period)), "proof_not_missing");
    chain.prove(HOST1, s);
    chain.advance(PERIOD);
    assert_eq!(chain.kind(mark(fill_period + 1)), "proof_not_missing");

    // A request whose challenges (almost) never demand a proof.
    let mut rare = request(2);
    rare.ask.proof_probability = U256::MAX;
    let id = chain.request_storage(rare);
    chain.fill(HOST2, id, 0);
    chain.advance(PERIOD);
    let period = chain.period();
    chain.advance(PERIOD);
    assert_eq!(
        chain.kind(Operation::MarkProofAsMissing {
            validator: VALIDATOR,
            slot_id: slot(&id, 0),
            period
        }),
        "proof_not_required"
    );
}

#[test]
fn proofs_cannot_be_marked_missing_for_a_slot_that_is_not_filled() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.fill(HOST1, id, 0);
    let free = Operation::MarkProofAsMissing {
        validator: VALIDATOR,
        slot_id: slot(&id, 1),
        period: chain.period(),
    };
    assert_eq!(
        contract_error(chain.err(free)),
        ContractError::SlotNotAcceptingProofs(SlotState::Free)
    );
    chain.advance(301);
    let cancelled = Operation::MarkProofAsMissing {
        validator: VALIDATOR,
        slot_id: slot(&id, 0),
        period: chain.period() - 1,
    };
    assert_eq!(
        contract_error(chain.err(cancelled)),
        ContractError::SlotNotAcceptingProofs(SlotState::Cancelled)
    );
}

#[test]
fn with_downtime_a_demanded_proof_is_enforced_only_outside_it() {
    let mut config = config();
    config.proofs.downtime = 128;
    let mut chain = Chain::with(config.clone());
    let id = chain.request_storage(request(1));
    chain.fill(HOST1, id, 0);
    let s = slot(&id, 0);
    let start = chain.period();
    let (mut enforced, mut in_downtime) = (0, 0);
    for period in start + 1..start + 513 {
        let is = chain.state.is_proof_required(&s, period).unwrap();
        let will = chain.state.will_proof_be_required(&s, period).unwrap();
        assert!(!(is && will));
        let pointer = rules::pointer(&config, &s, period);
        assert_eq!(
            is,
            pointer >= 128,
            "probability 1 scaled by downtime is 0: every period is demanded"
        );
        enforced += usize::from(is);
        in_downtime += usize::from(will);
    }
    assert_eq!(enforced + in_downtime, 512);
    assert!(enforced > 128 && in_downtime > 128, "{enforced} / {in_downtime}");
}

#[test]
fn a_host_computing_requirements_from_the_marketplaces_randomness_proves_whenever_it_is_enforced() {
    let mut config = config();
    config.proofs.downtime = 64;
    config.challenge_seed = [7; 32];
    let mut chain = Chain::with(config.clone());
    let mut request = request(1);
    request.ask.proof_probability = u(4); // scaled to 3
    let id = chain.request_storage(request);
    chain.fill_all(id, &[HOST1, HOST2]);
    let started = chain.now();
    let mut demanded = 0;
    for index in 0..4 {
        let s = slot(&id, index);
        for period in chain.period() + 1..chain.period() + 301 {
            let host_view = proof_requirement(
                &config.proofs,
                &s,
                period,
                started,
                true,
                u(4),
                &rules::randomness(&config, &s, period),
            )
            .unwrap();
            let is = chain.state.is_proof_required(&s, period).unwrap();
            let will = chain.state.will_proof_be_required(&s, period).unwrap();
            assert_eq!(host_view.required, is || will, "slot {index} period {period}");
            assert_eq!(host_view.is_proof_required(64), is);
            assert_eq!(
                host_view.challenge,
                rules::challenge(&config.challenge_seed, &s, period)
            );
            demanded += usize::from(host_view.required);
        }
    }
    // About one period in three (probability 4 scaled by downtime to 3).
    assert!((300..=500).contains(&demanded), "{demanded} of 1200");
}

// ----- withdrawFunds -------------------------------------------------------------------------------

#[test]
fn funds_are_withdrawn_by_the_client_once_the_request_is_over() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    let withdraw = |client| Operation::WithdrawFunds { client, request_id: id };
    assert_eq!(
        chain.kind(Operation::WithdrawFunds {
            client: CLIENT,
            request_id: request(9).id().unwrap()
        }),
        "unknown_request"
    );
    assert_eq!(
        contract_error(chain.err(withdraw(CLIENT))),
        ContractError::InvalidState {
            state: RequestState::New
        }
    );
    chain.advance(10);
    chain.fill_all(id, &[HOST1]);
    assert_eq!(
        contract_error(chain.err(withdraw(CLIENT))),
        ContractError::InvalidState {
            state: RequestState::Started
        }
    );
    chain.advance_to(START + 1_001);
    assert_eq!(chain.kind(withdraw(CLIENT2)), "invalid_client_address");
    let before = chain.balance(&CLIENT);
    let outcome = chain.ok(withdraw(CLIENT));
    assert!(outcome.events.is_empty());
    // The slots were filled 10 s into the request: the client gets those 10 s back, per slot.
    assert_eq!(chain.balance(&CLIENT) - before, u(4 * 10 * PRICE_PER_SLOT_SECOND));
    assert_eq!(chain.kind(withdraw(CLIENT)), "nothing_to_withdraw");
    assert_eq!(chain.state.request(&id).unwrap().state, RequestState::Finished);
}

#[test]
fn a_cancelled_request_refunds_all_but_what_filled_slots_earned_until_the_expiry() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill(HOST1, id, 0);
    chain.advance_to(START + 301);
    let before = chain.balance(&CLIENT);
    let outcome = chain.ok(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: id,
    });
    assert_eq!(outcome.events, vec![Event::RequestCancelled { request_id: id }]);
    assert_eq!(
        chain.balance(&CLIENT) - before,
        u(MAX_PRICE - 200 * PRICE_PER_SLOT_SECOND)
    );
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Cancelled));
    // The host is paid its part afterwards all the same.
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(chain.state.request(&id).unwrap().escrow, U256::zero());
}

#[test]
fn an_unfilled_cancelled_request_refunds_the_whole_price() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(301);
    chain.ok(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: id,
    });
    assert_eq!(chain.balance(&CLIENT), u(WEALTH));
}

#[test]
fn a_failed_request_refunds_the_whole_price() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(10);
    chain.fill_all(id, &[HOST1]);
    for index in 0..2 {
        chain.ok(Operation::FreeSlot {
            host: HOST1,
            slot_id: slot(&id, index),
        });
    }
    chain.ok(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: id,
    });
    assert_eq!(chain.balance(&CLIENT), u(WEALTH));
    assert_eq!(chain.state.request(&id).unwrap().escrow, U256::zero());
    // The two remaining hosts' collateral stays with the contract for good.
    assert_eq!(chain.state.totals().collateral, u(2 * COLLATERAL));
}

#[test]
fn a_freed_slot_never_repaired_is_refunded_to_the_client() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(100);
    chain.fill_all(id, &[HOST1, HOST2]);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    chain.advance_to(START + 1_001);
    let before = chain.balance(&CLIENT);
    chain.ok(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: id,
    });
    // 100 s of each of the 4 slots before they were filled, and all 900 s of the freed one.
    assert_eq!(
        chain.balance(&CLIENT) - before,
        u((4 * 100 + 900) * PRICE_PER_SLOT_SECOND)
    );
}

// ----- states ----------------------------------------------------------------------------------------

#[test]
fn a_request_is_new_then_started_then_finished_and_stays_finished_once_paid() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    assert_eq!(chain.state.request_state(&id), Some(RequestState::New));
    chain.fill_all(id, &[HOST1]);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Started));
    chain.advance_to(START + 1_000);
    assert_eq!(
        chain.state.request_state(&id),
        Some(RequestState::Started),
        "ends after its end second"
    );
    chain.advance(1);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Finished));
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Finished));
    assert_eq!(chain.state.request_state(&request(9).id().unwrap()), None);
}

#[test]
fn a_request_is_cancelled_after_its_expiry_and_stays_cancelled_once_withdrawn() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance_to(START + 300);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::New));
    chain.advance(1);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Cancelled));
    chain.ok(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: id,
    });
    chain.advance(2_000);
    assert_eq!(chain.state.request_state(&id), Some(RequestState::Cancelled));
}

#[test]
fn the_state_lists_every_slot_of_every_request_by_id() {
    let mut chain = Chain::new();
    let a = chain.request_storage(request(1));
    let b = chain.request_storage(request(2));
    chain.fill(HOST1, a, 3);
    let slots = chain.state.slots().unwrap();
    assert_eq!(slots.len(), 8);
    assert!(slots.windows(2).all(|pair| pair[0].id < pair[1].id));
    let filled: Vec<_> = slots.iter().filter(|s| s.state == SlotState::Filled).collect();
    assert_eq!(filled.len(), 1);
    assert_eq!(
        (filled[0].request_id, filled[0].slot_index, filled[0].host),
        (a, 3, Some(HOST1))
    );
    assert!(
        slots
            .iter()
            .filter(|s| s.request_id == b)
            .all(|s| s.state == SlotState::Free)
    );
}

#[test]
fn a_whole_lifecycle_pays_every_token_back_to_someone_or_the_burn() {
    let mut chain = Chain::new();
    let id = chain.request_storage(request(1));
    chain.advance(50);
    chain.fill_all(id, &[HOST1, HOST2, HOST3, HOST4]);
    // HOST1 misses two proofs and is freed; HOST2 repairs.
    chain.advance(PERIOD);
    chain.miss_current_period(slot(&id, 0));
    chain.miss_current_period(slot(&id, 0));
    chain.advance(PERIOD);
    chain.fill(HOST2, id, 0);
    chain.advance_to(START + 1_001);
    for (index, host) in [(0, HOST2), (1, HOST2), (2, HOST3), (3, HOST4)] {
        chain.ok(Operation::FreeSlot {
            host,
            slot_id: slot(&id, index),
        });
    }
    chain.ok(Operation::WithdrawFunds {
        client: CLIENT,
        request_id: id,
    });
    let totals = chain.state.totals();
    assert_eq!((totals.escrow, totals.collateral), (U256::zero(), U256::zero()));
    // What stays with the contract: HOST1's collateral, less the validator's rewards and the repair reward.
    assert_eq!(totals.burned, u(COLLATERAL - 2 * 40 - 100));
    let everyone: U256 = [CLIENT, CLIENT2, HOST1, HOST2, HOST3, HOST4, VALIDATOR]
        .iter()
        .map(|a| chain.balance(a))
        .fold(U256::zero(), |sum, b| sum + b);
    assert_eq!(everyone + totals.burned, totals.minted);
    assert_eq!(chain.balance(&HOST1), u(WEALTH - COLLATERAL));
    assert_eq!(chain.balance(&VALIDATOR), u(80));
}

#[test]
fn storage_asks_with_zero_size_slots_cost_nothing_and_pay_nothing() {
    let mut chain = Chain::new();
    let mut request = request(1);
    request.ask = StorageAsk {
        slot_size_bytes: 0,
        ..ask()
    };
    let id = chain.request_storage(request);
    chain.fill_all(id, &[HOST1]);
    chain.advance(1_001);
    chain.ok(Operation::FreeSlot {
        host: HOST1,
        slot_id: slot(&id, 0),
    });
    assert_eq!(
        chain.kind(Operation::WithdrawFunds {
            client: CLIENT,
            request_id: id
        }),
        "nothing_to_withdraw"
    );
    assert_eq!(chain.balance(&HOST1), u(WEALTH));
}
