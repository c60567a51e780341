//! The sales state machine, transition by transition, with no store and no
//! chain: inputs in, effects out (after Codex's `tests/codex/sales/states/`
//! and `testsalesagent.nim`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_market::periods::{ChainRandomness, ProofConfig};
use tally_market::sales::{
    Action, Agent, EffectId, ErrorReason, FillSlotError, FreeSlotError, Input, Notification, ProvingInfo, Reply,
    ReservationRef, ReserveBytesError, ReserveSlotError, ReturnedCollateral, SaleState, SalesConfig, SlotInfo, apply,
};
use tally_market::slot_queue::SlotQueueItem;
use tally_market::{
    Address, AvailabilityId, MarketError, Nonce, RequestState, ReservationId, SlotRef, SlotState, StorageAsk,
    StorageContent, StorageRequest, U256,
};

const ME: Address = Address([0xaa; 20]);
const OTHER: Address = Address([0xbb; 20]);
const PERIOD: u64 = 10;

fn config() -> SalesConfig {
    SalesConfig {
        host: ME,
        proofs: ProofConfig {
            period_secs: PERIOD,
            timeout_secs: 5,
            downtime: 0,
            downtime_product: 67,
        },
        repair_reward_percentage: 10,
    }
}

fn request() -> StorageRequest {
    StorageRequest {
        client: Address([0x11; 20]),
        ask: StorageAsk {
            proof_probability: U256::zero(), // a proof every period
            price_per_byte_per_second: U256::from(2u8),
            collateral_per_byte: U256::from(3u8),
            slots: 3,
            slot_size_bytes: 100,
            duration_secs: 1_000,
            max_slot_loss: 1,
        },
        content: StorageContent {
            cid: vec![1, 2, 3],
            merkle_root: [4; 32],
        },
        expiry_secs: 300,
        nonce: Nonce([5; 32]),
    }
}

fn slot() -> SlotRef {
    SlotRef {
        request_id: request().id().unwrap(),
        slot_index: 1,
    }
}

fn item() -> SlotQueueItem {
    let request = request();
    SlotQueueItem::new(
        slot().request_id,
        1,
        &request.ask,
        Some(300),
        request.ask.collateral_per_slot().unwrap(),
    )
}

fn info(state: SlotState) -> SlotInfo {
    SlotInfo {
        request: Some(request()),
        slot_state: state,
        request_end_secs: 1_500,
        request_expires_at_secs: 300,
    }
}

fn reservation() -> ReservationRef {
    ReservationRef {
        id: ReservationId([7; 32]),
        availability_id: AvailabilityId([8; 32]),
    }
}

fn randomness() -> ChainRandomness {
    ChainRandomness {
        block_number: 1_000,
        recent_block_hashes: (0..=255u8).map(|i| [i; 32]).collect(),
    }
}

/// An agent and a clock, with helpers to answer its effects.
struct Sale {
    agent: Agent,
    now: u64,
    effects: Vec<tally_market::sales::Effect>,
    notifications: Vec<Notification>,
}

impl Sale {
    fn new() -> Sale {
        let step = Agent::start(item(), 100, &config());
        Sale {
            agent: step.agent,
            now: 100,
            effects: step.effects,
            notifications: step.notifications,
        }
    }

    fn restored() -> Sale {
        let step = Agent::restored(slot(), Some(reservation()), 100, &config());
        Sale {
            agent: step.agent,
            now: 100,
            effects: step.effects,
            notifications: step.notifications,
        }
    }

    fn state(&self) -> SaleState {
        self.agent.state
    }

    fn send(&mut self, input: Input) -> Result<(), MarketError> {
        let step = apply(&self.agent, input, self.now, &config())?;
        self.agent = step.agent;
        self.effects = step.effects;
        self.notifications.extend(step.notifications);
        Ok(())
    }

    /// The id of the pending effect with this action name.
    fn pending(&self, name: &str) -> EffectId {
        self.agent
            .pending
            .iter()
            .find(|effect| effect.action.name() == name)
            .unwrap_or_else(|| panic!("no pending {name} in {:?}: {:?}", self.state(), self.agent.pending))
            .id
    }

    fn has_pending(&self, name: &str) -> bool {
        self.agent.pending.iter().any(|effect| effect.action.name() == name)
    }

    fn pending_action(&self, name: &str) -> Action {
        let id = self.pending(name);
        self.agent.pending.iter().find(|e| e.id == id).unwrap().action.clone()
    }

    fn reply(&mut self, name: &str, reply: Reply) {
        let effect = self.pending(name);
        self.send(Input::Reply { effect, reply }).unwrap();
    }

    fn tick_to(&mut self, now: u64) {
        self.now = now;
        self.send(Input::Tick).unwrap();
    }

    fn wake(&mut self) {
        let at = self.agent.wake_at_secs.expect("waiting");
        self.tick_to(at);
    }

    fn to(target: SaleState) -> Sale {
        let mut sale = Sale::new();
        let path = [
            SaleState::Preparing,
            SaleState::SlotReserving,
            SaleState::Downloading,
            SaleState::InitialProving,
            SaleState::Filling,
            SaleState::Filled,
            SaleState::Proving,
            SaleState::Payout,
            SaleState::Finished,
        ];
        for state in path {
            if sale.state() == target {
                return sale;
            }
            assert_eq!(sale.state(), state);
            sale.advance();
        }
        assert_eq!(sale.state(), target);
        sale
    }

    /// One step along the happy path.
    fn advance(&mut self) {
        match self.state() {
            SaleState::Preparing => {
                self.reply("QuerySlot", Reply::Slot(info(SlotState::Free)));
                self.reply("ReserveBytes", Reply::BytesReserved(Ok(reservation())));
            }
            SaleState::SlotReserving => self.reply("ReserveSlot", Reply::SlotReserved(Ok(()))),
            SaleState::Downloading => self.reply("FetchData", Reply::DataStored(Ok(()))),
            SaleState::InitialProving => {
                self.wake();
                self.reply("QueryChallenge", Reply::Randomness(randomness()));
                self.reply("GenerateProof", Reply::ProofGenerated(Ok(vec![9; 8])));
            }
            SaleState::Filling => self.reply("FillSlot", Reply::SlotFillResult(Ok(()))),
            SaleState::Filled => {
                self.reply("QueryHost", Reply::Host(Some(ME)));
                self.reply("UpdateExpiry", Reply::ExpiryUpdated(Ok(())));
            }
            SaleState::Proving => self.reply("QueryProving", proving(SlotState::Finished)),
            SaleState::Payout => self.reply(
                "FreeSlot",
                Reply::SlotFreed {
                    current_collateral: U256::from(250u16),
                    result: Ok(()),
                },
            ),
            other => panic!("no happy step from {other:?}"),
        }
    }

    fn clean_up_action(&self) -> (Option<ReservationId>, ReturnedCollateral, Option<SlotQueueItem>) {
        match self.pending_action("CleanUp") {
            Action::CleanUp {
                reservation_id,
                returned_collateral,
                requeue,
            } => (reservation_id, returned_collateral, requeue),
            other => panic!("{other:?}"),
        }
    }

    fn finish_clean_up(&mut self) {
        if self.has_pending("ClearData") {
            self.reply("ClearData", Reply::DataCleared);
        }
        self.reply("CleanUp", Reply::CleanedUp);
        assert!(self.agent.done);
        assert!(self.agent.pending.is_empty());
        assert_eq!(self.notifications.last(), Some(&Notification::Done));
    }
}

fn proving(state: SlotState) -> Reply {
    Reply::Proving(ProvingInfo {
        slot_state: state,
        slot_started_at_secs: 0,
        randomness: randomness(),
    })
}

const CANCELLABLE: [SaleState; 9] = [
    SaleState::Preparing,
    SaleState::SlotReserving,
    SaleState::Downloading,
    SaleState::InitialProving,
    SaleState::Filling,
    SaleState::Filled,
    SaleState::Proving,
    SaleState::Payout,
    SaleState::Finished,
];

// ----- Preparing --------------------------------------------------------------

#[test]
fn a_new_sale_prepares_by_querying_the_slot() {
    let sale = Sale::new();
    assert_eq!(sale.state(), SaleState::Preparing);
    assert_eq!(sale.effects.len(), 1);
    assert_eq!(sale.effects[0].action, Action::QuerySlot { slot: slot() });
    assert!(sale.state().occupies_worker());
}

#[test]
fn preparing_errors_when_the_request_cannot_be_retrieved() {
    let mut sale = Sale::new();
    sale.reply(
        "QuerySlot",
        Reply::Slot(SlotInfo {
            request: None,
            ..info(SlotState::Free)
        }),
    );
    assert_eq!(sale.state(), SaleState::Errored);
    assert_eq!(sale.agent.error, Some(ErrorReason::RequestNotFound));
    // Nothing to clear without a request: straight to the clean-up.
    assert!(!sale.has_pending("ClearData"));
    sale.finish_clean_up();
}

#[test]
fn preparing_ignores_a_slot_that_is_neither_free_nor_in_repair_without_requeueing() {
    for state in [
        SlotState::Filled,
        SlotState::Finished,
        SlotState::Failed,
        SlotState::Paid,
        SlotState::Cancelled,
    ] {
        let mut sale = Sale::new();
        sale.reply("QuerySlot", Reply::Slot(info(state)));
        assert_eq!(sale.state(), SaleState::Ignored, "{state:?}");
        let (reservation, _, requeue) = sale.clean_up_action();
        assert_eq!((reservation, requeue), (None, None), "{state:?}");
    }
}

#[test]
fn preparing_reserves_bytes_matching_the_ask_until_the_request_ends() {
    let mut sale = Sale::new();
    sale.reply("QuerySlot", Reply::Slot(info(SlotState::Free)));
    match sale.pending_action("ReserveBytes") {
        Action::ReserveBytes { slot: reserved, query } => {
            assert_eq!(reserved, slot());
            assert_eq!(query.size_bytes, 100);
            assert_eq!(query.duration_secs, 1_000);
            assert_eq!(query.price_per_byte_per_second, U256::from(2u8));
            assert_eq!(query.collateral_per_byte, U256::from(3u8));
            assert_eq!(query.valid_until_secs, 1_500);
        }
        other => panic!("{other:?}"),
    }
    assert!(!sale.agent.repairing);
}

#[test]
fn preparing_a_slot_in_repair_marks_the_sale_as_repairing() {
    let mut sale = Sale::new();
    sale.reply("QuerySlot", Reply::Slot(info(SlotState::Repair)));
    assert!(sale.has_pending("ReserveBytes"));
    assert!(sale.agent.repairing);
}

#[test]
fn preparing_moves_to_slot_reserving_once_bytes_are_reserved() {
    let mut sale = Sale::new();
    sale.advance();
    assert_eq!(sale.state(), SaleState::SlotReserving);
    assert_eq!(sale.agent.reservation, Some(reservation()));
    assert_eq!(
        sale.effects.last().unwrap().action,
        Action::ReserveSlot { slot: slot() }
    );
}

#[test]
fn preparing_ignores_and_requeues_as_seen_when_no_availability_matches_or_it_no_longer_fits() {
    for error in [
        ReserveBytesError::NoMatchingAvailability,
        ReserveBytesError::AvailabilityMismatch,
    ] {
        let mut sale = Sale::new();
        sale.reply("QuerySlot", Reply::Slot(info(SlotState::Free)));
        sale.reply("ReserveBytes", Reply::BytesReserved(Err(error.clone())));
        assert_eq!(sale.state(), SaleState::Ignored, "{error:?}");
        let (reservation, _, requeue) = sale.clean_up_action();
        assert_eq!(reservation, None);
        let requeue = requeue.expect("re-queued");
        assert!(requeue.seen);
        assert_eq!(requeue.slot(), slot());
    }
}

#[test]
fn preparing_errors_when_the_reservation_is_refused_for_another_reason() {
    let mut sale = Sale::new();
    sale.reply("QuerySlot", Reply::Slot(info(SlotState::Free)));
    sale.reply(
        "ReserveBytes",
        Reply::BytesReserved(Err(ReserveBytesError::Refused("limit".into()))),
    );
    assert_eq!(sale.state(), SaleState::Errored);
    assert!(matches!(sale.agent.error, Some(ErrorReason::Reservation(_))));
}

// ----- SlotReserving ------------------------------------------------------------

#[test]
fn slot_reserving_moves_to_downloading_once_the_slot_is_reserved() {
    let sale = Sale::to(SaleState::Downloading);
    assert!(sale.has_pending("FetchData"));
}

#[test]
fn slot_reserving_ignores_without_requeueing_when_reservation_is_not_allowed_and_returns_the_collateral() {
    let mut sale = Sale::to(SaleState::SlotReserving);
    sale.reply("ReserveSlot", Reply::SlotReserved(Err(ReserveSlotError::NotAllowed)));
    assert_eq!(sale.state(), SaleState::Ignored);
    let (reservation_id, returned, requeue) = sale.clean_up_action();
    assert_eq!(reservation_id, Some(reservation().id));
    assert_eq!(returned, ReturnedCollateral::Full);
    assert_eq!(requeue, None);
    sale.finish_clean_up();
}

#[test]
fn slot_reserving_errors_on_another_market_error() {
    let mut sale = Sale::to(SaleState::SlotReserving);
    sale.reply(
        "ReserveSlot",
        Reply::SlotReserved(Err(ReserveSlotError::Market("reverted".into()))),
    );
    assert_eq!(sale.state(), SaleState::Errored);
    assert_eq!(sale.agent.error, Some(ErrorReason::Market("reverted".into())));
}

// ----- Downloading ------------------------------------------------------------

#[test]
fn downloading_fetches_the_slot_data_keeping_blocks_until_the_request_expires() {
    let sale = Sale::to(SaleState::Downloading);
    match sale.pending_action("FetchData") {
        Action::FetchData {
            request: fetched,
            slot_index,
            from_bytes,
            blocks_expire_at_secs,
            repairing,
        } => {
            assert_eq!(fetched, request());
            assert_eq!(
                (slot_index, from_bytes, blocks_expire_at_secs, repairing),
                (1, 0, 300, false)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_repair_download_keeps_blocks_until_the_request_ends() {
    let mut sale = Sale::new();
    sale.reply("QuerySlot", Reply::Slot(info(SlotState::Repair)));
    sale.reply("ReserveBytes", Reply::BytesReserved(Ok(reservation())));
    sale.reply("ReserveSlot", Reply::SlotReserved(Ok(())));
    match sale.pending_action("FetchData") {
        Action::FetchData {
            blocks_expire_at_secs,
            repairing,
            ..
        } => assert_eq!((blocks_expire_at_secs, repairing), (1_500, true)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_stored_batch_releases_its_bytes_exactly_once() {
    let mut sale = Sale::to(SaleState::Downloading);
    let fetch = sale.pending("FetchData");
    sale.send(Input::BatchStored {
        effect: fetch,
        batch_index: 0,
        bytes: 40,
    })
    .unwrap();
    let release = match &sale.effects[..] {
        [effect] => effect.clone(),
        other => panic!("{other:?}"),
    };
    let Action::ReleaseBytes {
        reservation_id, bytes, ..
    } = &release.action
    else {
        panic!("{release:?}")
    };
    assert_eq!((*reservation_id, *bytes), (reservation().id, 40));
    // Reported again (a repeated host call): nothing new.
    sale.send(Input::BatchStored {
        effect: fetch,
        batch_index: 0,
        bytes: 40,
    })
    .unwrap();
    assert!(sale.effects.is_empty());
    sale.send(Input::Reply {
        effect: release.id,
        reply: Reply::BytesReleased(Ok(())),
    })
    .unwrap();
    assert_eq!(sale.agent.stored_bytes, 40);
    assert_eq!(sale.agent.batches_stored, 1);
}

#[test]
fn a_batch_reported_out_of_order_is_refused() {
    let mut sale = Sale::to(SaleState::Downloading);
    let fetch = sale.pending("FetchData");
    let before = sale.agent.clone();
    assert!(matches!(
        sale.send(Input::BatchStored {
            effect: fetch,
            batch_index: 1,
            bytes: 40
        }),
        Err(MarketError::UnexpectedInput { .. })
    ));
    assert_eq!(sale.agent, before);
}

#[test]
fn a_batch_the_reservation_cannot_release_errors_the_sale() {
    let mut sale = Sale::to(SaleState::Downloading);
    let fetch = sale.pending("FetchData");
    sale.send(Input::BatchStored {
        effect: fetch,
        batch_index: 0,
        bytes: 400,
    })
    .unwrap();
    sale.reply("ReleaseBytes", Reply::BytesReleased(Err("bytes out of bounds".into())));
    assert_eq!(sale.state(), SaleState::Errored);
}

#[test]
fn downloading_moves_to_initial_proving_once_the_data_is_stored() {
    let sale = Sale::to(SaleState::InitialProving);
    assert!(sale.agent.wake_at_secs.is_some());
}

#[test]
fn downloading_errors_without_requeueing_when_storing_fails() {
    let mut sale = Sale::to(SaleState::Downloading);
    sale.reply("FetchData", Reply::DataStored(Err("peer gone".into())));
    assert_eq!(sale.state(), SaleState::Errored);
    assert!(!sale.agent.reprocess_slot);
    assert!(sale.has_pending("ClearData"), "the data fetched so far is cleared");
    sale.reply("ClearData", Reply::DataCleared);
    let (reservation_id, returned, requeue) = sale.clean_up_action();
    assert_eq!(reservation_id, Some(reservation().id));
    assert_eq!(returned, ReturnedCollateral::Full, "never filled: all collateral back");
    assert_eq!(requeue, None);
}

// ----- InitialProving ---------------------------------------------------------

#[test]
fn initial_proving_waits_until_just_after_the_current_period() {
    let mut sale = Sale::to(SaleState::Downloading);
    sale.now = 123; // period 12 ends at 130
    sale.reply("FetchData", Reply::DataStored(Ok(())));
    assert_eq!(sale.agent.wake_at_secs, Some(131));
    assert_eq!(sale.agent.next_deadline(), Some(131));
    sale.tick_to(130);
    assert!(!sale.has_pending("QueryChallenge"), "too early");
    sale.tick_to(131);
    assert!(sale.has_pending("QueryChallenge"));
}

#[test]
fn initial_proving_waits_another_period_while_the_pointer_is_about_to_wrap() {
    let downtime_config = SalesConfig {
        proofs: ProofConfig {
            downtime: 64,
            ..config().proofs
        },
        ..config()
    };
    let mut sale = Sale::to(SaleState::InitialProving);
    sale.now = sale.agent.wake_at_secs.unwrap();
    let step = apply(&sale.agent, Input::Tick, sale.now, &downtime_config).unwrap();
    sale.agent = step.agent;
    // Find a block number whose pointer is above 256 − 64 for this slot and period.
    let period = sale.now / PERIOD;
    let block_number = (0..256u64)
        .find(|&n| tally_market::periods::pointer(&slot().id(), period, n, 67) > 192)
        .unwrap();
    let effect = sale.pending("QueryChallenge");
    let step = apply(
        &sale.agent,
        Input::Reply {
            effect,
            reply: Reply::Randomness(ChainRandomness {
                block_number,
                ..randomness()
            }),
        },
        sale.now,
        &downtime_config,
    )
    .unwrap();
    assert!(step.effects.is_empty(), "no proof against an unstable challenge");
    assert_eq!(step.agent.wake_at_secs, Some((period + 1) * PERIOD + 1));
    assert_eq!(step.agent.state, SaleState::InitialProving);
}

#[test]
fn initial_proving_proves_against_the_pointed_challenge_then_fills() {
    let mut sale = Sale::to(SaleState::InitialProving);
    sale.wake();
    sale.reply("QueryChallenge", Reply::Randomness(randomness()));
    let pointer = tally_market::periods::pointer(&slot().id(), sale.now / PERIOD, 1_000, 67);
    let expected = tally_market::periods::challenge(&randomness(), pointer).unwrap();
    match sale.pending_action("GenerateProof") {
        Action::GenerateProof {
            slot: proved,
            challenge,
        } => assert_eq!((proved, challenge), (slot(), expected)),
        other => panic!("{other:?}"),
    }
    sale.reply("GenerateProof", Reply::ProofGenerated(Ok(vec![1, 2, 3])));
    assert_eq!(sale.state(), SaleState::Filling);
    assert_eq!(sale.agent.proof, Some(vec![1, 2, 3]));
}

#[test]
fn initial_proving_errors_when_the_proof_fails() {
    let mut sale = Sale::to(SaleState::InitialProving);
    sale.wake();
    sale.reply("QueryChallenge", Reply::Randomness(randomness()));
    sale.reply("GenerateProof", Reply::ProofGenerated(Err("prover crashed".into())));
    assert_eq!(sale.state(), SaleState::Errored);
    assert!(matches!(sale.agent.error, Some(ErrorReason::Proof(_))));
}

// ----- Filling ----------------------------------------------------------------

#[test]
fn filling_locks_the_full_collateral_for_a_free_slot() {
    let sale = Sale::to(SaleState::Filling);
    match sale.pending_action("FillSlot") {
        Action::FillSlot { collateral, proof, .. } => {
            assert_eq!(collateral, U256::from(300u16));
            assert_eq!(proof, vec![9; 8]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn filling_a_repair_locks_the_collateral_less_the_repair_reward() {
    let mut sale = Sale::new();
    sale.reply("QuerySlot", Reply::Slot(info(SlotState::Repair)));
    sale.reply("ReserveBytes", Reply::BytesReserved(Ok(reservation())));
    sale.reply("ReserveSlot", Reply::SlotReserved(Ok(())));
    sale.reply("FetchData", Reply::DataStored(Ok(())));
    sale.advance();
    match sale.pending_action("FillSlot") {
        Action::FillSlot { collateral, .. } => assert_eq!(collateral, U256::from(270u16)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn filling_moves_to_filled() {
    let sale = Sale::to(SaleState::Filled);
    assert!(sale.has_pending("QueryHost"));
}

#[test]
fn filling_ignores_without_requeueing_when_the_slot_is_not_free_and_returns_the_collateral() {
    let mut sale = Sale::to(SaleState::Filling);
    sale.reply("FillSlot", Reply::SlotFillResult(Err(FillSlotError::SlotNotFree)));
    assert_eq!(sale.state(), SaleState::Ignored);
    let (_, returned, requeue) = sale.clean_up_action();
    assert_eq!((returned, requeue), (ReturnedCollateral::Full, None));
}

#[test]
fn filling_errors_on_another_market_error() {
    let mut sale = Sale::to(SaleState::Filling);
    sale.reply(
        "FillSlot",
        Reply::SlotFillResult(Err(FillSlotError::Market("gas".into()))),
    );
    assert_eq!(sale.state(), SaleState::Errored);
}

// ----- Filled -----------------------------------------------------------------

#[test]
fn a_slot_filled_by_me_notifies_updates_the_expiry_to_the_request_end_and_proves() {
    let mut sale = Sale::to(SaleState::Filled);
    sale.reply("QueryHost", Reply::Host(Some(ME)));
    assert!(sale.notifications.contains(&Notification::SlotFilledByMe));
    assert!(sale.agent.filled_by_me);
    assert_eq!(
        sale.pending_action("UpdateExpiry"),
        Action::UpdateExpiry {
            cid: vec![1, 2, 3],
            expiry_secs: 1_500
        }
    );
    sale.reply("UpdateExpiry", Reply::ExpiryUpdated(Ok(())));
    assert_eq!(sale.state(), SaleState::Proving);
    assert!(
        !sale.state().occupies_worker(),
        "the worker is free once the slot is filled"
    );
}

#[test]
fn a_slot_filled_by_another_host_errors_with_a_host_mismatch() {
    let mut sale = Sale::to(SaleState::Filled);
    sale.reply("QueryHost", Reply::Host(Some(OTHER)));
    assert_eq!(sale.state(), SaleState::Errored);
    assert_eq!(sale.agent.error, Some(ErrorReason::HostMismatch));
    sale.reply("ClearData", Reply::DataCleared);
    assert_eq!(
        sale.clean_up_action().1,
        ReturnedCollateral::Full,
        "our collateral never left"
    );
}

#[test]
fn filled_errors_when_the_expiry_cannot_be_updated() {
    let mut sale = Sale::to(SaleState::Filled);
    sale.reply("QueryHost", Reply::Host(Some(ME)));
    sale.reply("UpdateExpiry", Reply::ExpiryUpdated(Err("disk".into())));
    assert_eq!(sale.state(), SaleState::Errored);
    sale.reply("ClearData", Reply::DataCleared);
    assert_eq!(
        sale.clean_up_action().1,
        ReturnedCollateral::Amount(U256::zero()),
        "filled by us: the collateral is on chain, not back"
    );
}

// ----- Proving ----------------------------------------------------------------

#[test]
fn proving_submits_one_proof_for_each_period_that_requires_one() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.now = 205;
    sale.reply("QueryProving", proving(SlotState::Filled));
    assert!(sale.has_pending("GenerateProof"));
    assert_eq!(sale.agent.wake_at_secs, Some(211));
    sale.reply("GenerateProof", Reply::ProofGenerated(Ok(vec![7])));
    assert_eq!(
        sale.pending_action("SubmitProof"),
        Action::SubmitProof {
            slot_id: slot().id(),
            period: 20,
            proof: vec![7]
        }
    );
    sale.reply("SubmitProof", Reply::ProofSubmitted(Ok(())));
    // Asked again within the same period: no second proof.
    let again = sale.agent.next_effect_id;
    sale.send(Input::Tick).unwrap();
    assert_eq!(sale.agent.next_effect_id, again, "not due yet");
    sale.tick_to(211);
    sale.reply("QueryProving", proving(SlotState::Filled));
    assert!(sale.has_pending("GenerateProof"), "period 21 needs its own proof");
}

#[test]
fn proving_only_waits_when_no_proof_is_required() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.now = 205;
    let effect = sale.pending("QueryProving");
    sale.send(Input::Reply {
        effect,
        reply: Reply::Proving(ProvingInfo {
            slot_state: SlotState::Filled,
            slot_started_at_secs: 200, // started this period: nothing owed yet
            randomness: randomness(),
        }),
    })
    .unwrap();
    assert!(sale.effects.is_empty());
    assert_eq!(sale.agent.wake_at_secs, Some(211));
}

#[test]
fn proving_tries_again_next_period_when_a_proof_fails() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.now = 205;
    sale.reply("QueryProving", proving(SlotState::Filled));
    sale.reply("GenerateProof", Reply::ProofGenerated(Err("busy".into())));
    assert_eq!(sale.state(), SaleState::Proving);
    assert_eq!(sale.agent.last_proved_period, None);
    sale.tick_to(211);
    sale.reply("QueryProving", proving(SlotState::Filled));
    assert!(sale.has_pending("GenerateProof"));
}

#[test]
fn proving_moves_to_payout_once_the_slot_finished() {
    let sale = Sale::to(SaleState::Payout);
    assert!(sale.has_pending("FreeSlot"));
}

#[test]
fn proving_errors_when_the_slot_was_freed_for_missing_proofs_and_the_collateral_is_lost() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.reply("QueryProving", proving(SlotState::Repair));
    assert_eq!(sale.state(), SaleState::Errored);
    assert_eq!(sale.agent.error, Some(ErrorReason::SlotFreed));
    sale.reply("ClearData", Reply::DataCleared);
    assert_eq!(sale.clean_up_action().1, ReturnedCollateral::Amount(U256::zero()));
}

#[test]
fn proving_errors_when_the_slot_is_no_longer_filled() {
    for state in [SlotState::Free, SlotState::Paid] {
        let mut sale = Sale::to(SaleState::Proving);
        sale.reply("QueryProving", proving(state));
        assert_eq!(sale.state(), SaleState::Errored);
        assert_eq!(sale.agent.error, Some(ErrorReason::SlotNotFilled(state)));
    }
}

#[test]
fn proving_waits_for_the_event_when_the_slot_is_cancelled_or_failed() {
    for state in [SlotState::Cancelled, SlotState::Failed] {
        let mut sale = Sale::to(SaleState::Proving);
        sale.reply("QueryProving", proving(state));
        assert_eq!(sale.state(), SaleState::Proving);
        assert!(sale.agent.wake_at_secs.is_some());
    }
}

// ----- Payout, Finished -----------------------------------------------------------

#[test]
fn payout_frees_the_slot_and_finishes_with_the_collateral_the_chain_returned() {
    let mut sale = Sale::to(SaleState::Finished);
    assert_eq!(sale.agent.collateral_returned_by_chain, Some(U256::from(250u16)));
    assert!(sale.has_pending("ClearData"));
    sale.reply("ClearData", Reply::DataCleared);
    let (reservation_id, returned, requeue) = sale.clean_up_action();
    assert_eq!(reservation_id, Some(reservation().id));
    assert_eq!(returned, ReturnedCollateral::Amount(U256::from(250u16)));
    assert_eq!(requeue, None);
    sale.finish_clean_up();
}

#[test]
fn payout_errors_when_the_slot_cannot_be_freed() {
    let mut sale = Sale::to(SaleState::Payout);
    sale.reply(
        "FreeSlot",
        Reply::SlotFreed {
            current_collateral: U256::from(250u16),
            result: Err(FreeSlotError::Market("reverted".into())),
        },
    );
    assert_eq!(sale.state(), SaleState::Errored);
}

// ----- Cancelled, Failed, Errored, Ignored ----------------------------------------

#[test]
fn cancellation_moves_every_state_that_allows_it_to_cancelled() {
    for state in CANCELLABLE {
        let mut sale = Sale::to(state);
        sale.send(Input::RequestCancelled).unwrap();
        assert_eq!(sale.state(), SaleState::Cancelled, "from {state:?}");
        assert!(
            sale.agent
                .pending
                .iter()
                .all(|e| matches!(e.action, Action::QueryHost { .. })),
            "from {state:?}: the old state's effects are dropped"
        );
        assert_eq!(sale.agent.wake_at_secs, None);
        assert_eq!(sale.agent.cancellation_check_at_secs, None);
    }
    let mut unknown = Sale::restored();
    unknown.send(Input::RequestCancelled).unwrap();
    assert_eq!(unknown.state(), SaleState::Cancelled);
}

#[test]
fn failure_moves_every_state_that_allows_it_to_failed() {
    for state in CANCELLABLE {
        let mut sale = Sale::to(state);
        sale.send(Input::RequestFailed).unwrap();
        assert_eq!(sale.state(), SaleState::Failed, "from {state:?}");
        assert!(sale.has_pending("FreeSlot"));
    }
    let mut unknown = Sale::restored();
    unknown.send(Input::RequestFailed).unwrap();
    assert_eq!(unknown.state(), SaleState::Failed);
}

#[test]
fn cancellation_and_failure_are_ignored_while_clearing_up() {
    let clearing: Vec<(&str, Sale)> = vec![
        ("cancelled", {
            let mut sale = Sale::to(SaleState::Proving);
            sale.send(Input::RequestCancelled).unwrap();
            sale
        }),
        ("failed", {
            let mut sale = Sale::to(SaleState::Proving);
            sale.send(Input::RequestFailed).unwrap();
            sale
        }),
        ("errored", {
            let mut sale = Sale::to(SaleState::Downloading);
            sale.reply("FetchData", Reply::DataStored(Err("x".into())));
            sale
        }),
        ("ignored", {
            let mut sale = Sale::to(SaleState::SlotReserving);
            sale.reply("ReserveSlot", Reply::SlotReserved(Err(ReserveSlotError::NotAllowed)));
            sale
        }),
    ];
    for (name, mut sale) in clearing {
        let before = sale.agent.clone();
        for input in [Input::RequestCancelled, Input::RequestFailed, Input::SlotFilled] {
            sale.send(input).unwrap();
            assert_eq!(sale.agent, before, "{name}");
        }
    }
}

#[test]
fn a_cancelled_sale_frees_a_slot_filled_by_me_and_returns_its_current_collateral() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.send(Input::RequestCancelled).unwrap();
    sale.reply("QueryHost", Reply::Host(Some(ME)));
    sale.reply(
        "FreeSlot",
        Reply::SlotFreed {
            current_collateral: U256::from(280u16),
            result: Ok(()),
        },
    );
    sale.reply("ClearData", Reply::DataCleared);
    let (_, returned, requeue) = sale.clean_up_action();
    assert_eq!(
        (returned, requeue),
        (ReturnedCollateral::Amount(U256::from(280u16)), None)
    );
    sale.finish_clean_up();
}

#[test]
fn a_cancelled_sale_tolerates_a_slot_that_is_already_free() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.send(Input::RequestCancelled).unwrap();
    sale.reply("QueryHost", Reply::Host(Some(ME)));
    sale.reply(
        "FreeSlot",
        Reply::SlotFreed {
            current_collateral: U256::from(300u16),
            result: Err(FreeSlotError::StateMismatch),
        },
    );
    assert!(sale.has_pending("ClearData"));
    assert_eq!(sale.agent.collateral_returned_by_chain, Some(U256::from(300u16)));
}

#[test]
fn a_cancelled_sale_that_never_filled_returns_all_the_collateral() {
    // Codex returns none here (#1216 fixed only Ignored); that leaks it.
    let mut sale = Sale::to(SaleState::Downloading);
    sale.send(Input::RequestCancelled).unwrap();
    sale.reply("QueryHost", Reply::Host(None));
    sale.reply("ClearData", Reply::DataCleared);
    assert_eq!(sale.clean_up_action().1, ReturnedCollateral::Full);
}

#[test]
fn a_cancelled_sale_errors_when_freeing_fails_otherwise() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.send(Input::RequestCancelled).unwrap();
    sale.reply("QueryHost", Reply::Host(Some(ME)));
    sale.reply(
        "FreeSlot",
        Reply::SlotFreed {
            current_collateral: U256::zero(),
            result: Err(FreeSlotError::Market("rpc".into())),
        },
    );
    assert_eq!(sale.state(), SaleState::Errored);
}

#[test]
fn a_failed_sale_frees_the_slot_then_errors_and_the_chain_keeps_the_collateral() {
    let mut sale = Sale::to(SaleState::Proving);
    sale.send(Input::RequestFailed).unwrap();
    sale.reply(
        "FreeSlot",
        Reply::SlotFreed {
            current_collateral: U256::zero(),
            result: Ok(()),
        },
    );
    assert_eq!(sale.state(), SaleState::Errored);
    assert_eq!(sale.agent.error, Some(ErrorReason::SaleFailed));
    sale.reply("ClearData", Reply::DataCleared);
    assert_eq!(sale.clean_up_action().1, ReturnedCollateral::Amount(U256::zero()));
}

#[test]
fn a_failed_sale_that_never_filled_returns_all_the_collateral() {
    let mut sale = Sale::to(SaleState::Downloading);
    sale.send(Input::RequestFailed).unwrap();
    sale.reply(
        "FreeSlot",
        Reply::SlotFreed {
            current_collateral: U256::zero(),
            result: Err(FreeSlotError::Market("not the host".into())),
        },
    );
    assert_eq!(sale.state(), SaleState::Errored);
    sale.reply("ClearData", Reply::DataCleared);
    assert_eq!(sale.clean_up_action().1, ReturnedCollateral::Full);
}

#[test]
fn an_errored_sale_clears_the_data_then_cleans_up() {
    let mut sale = Sale::to(SaleState::Downloading);
    sale.reply("FetchData", Reply::DataStored(Err("x".into())));
    assert_eq!(
        sale.pending_action("ClearData"),
        Action::ClearData {
            request_id: slot().request_id,
            slot_index: 1
        }
    );
    assert!(!sale.has_pending("CleanUp"), "the data goes before its bytes return");
    sale.finish_clean_up();
}

// ----- SlotFilled -----------------------------------------------------------------

#[test]
fn a_slot_filled_event_moves_preparing_and_downloading_to_filled() {
    for state in [SaleState::Preparing, SaleState::Downloading] {
        let mut sale = Sale::to(state);
        sale.send(Input::SlotFilled).unwrap();
        assert_eq!(sale.state(), SaleState::Filled, "from {state:?}");
        assert!(sale.has_pending("QueryHost"));
    }
    for state in [
        SaleState::SlotReserving,
        SaleState::InitialProving,
        SaleState::Filling,
        SaleState::Proving,
    ] {
        let mut sale = Sale::to(state);
        sale.send(Input::SlotFilled).unwrap();
        assert_eq!(sale.state(), state, "{state:?} ignores it");
    }
}

#[test]
fn another_host_filling_the_slot_during_download_makes_the_storage_available_again() {
    let mut sale = Sale::to(SaleState::Downloading);
    let fetch = sale.pending("FetchData");
    sale.send(Input::SlotFilled).unwrap();
    sale.reply("QueryHost", Reply::Host(Some(OTHER)));
    assert_eq!(sale.state(), SaleState::Errored);
    // The download's late batches are stale now.
    sale.send(Input::BatchStored {
        effect: fetch,
        batch_index: 0,
        bytes: 10,
    })
    .unwrap();
    assert!(sale.effects.is_empty());
    sale.reply("ClearData", Reply::DataCleared);
    let (reservation_id, returned, _) = sale.clean_up_action();
    assert_eq!(
        (reservation_id, returned),
        (Some(reservation().id), ReturnedCollateral::Full)
    );
}

// ----- Unknown (restart) -------------------------------------------------------------

#[test]
fn a_restored_sale_finds_out_where_its_slot_is_on_chain() {
    let cases = [
        (SlotState::Filled, SaleState::Filled),
        (SlotState::Finished, SaleState::Payout),
        (SlotState::Paid, SaleState::Finished),
        (SlotState::Failed, SaleState::Failed),
        (SlotState::Cancelled, SaleState::Cancelled),
    ];
    for (on_chain, expected) in cases {
        let mut sale = Sale::restored();
        assert_eq!(sale.effects[0].action, Action::QuerySlot { slot: slot() });
        sale.reply("QuerySlot", Reply::Slot(info(on_chain)));
        assert_eq!(sale.state(), expected, "{on_chain:?}");
    }
    for (on_chain, reason) in [
        (SlotState::Free, ErrorReason::UnexpectedSlotState(SlotState::Free)),
        (SlotState::Repair, ErrorReason::SlotFreed),
    ] {
        let mut sale = Sale::restored();
        sale.reply("QuerySlot", Reply::Slot(info(on_chain)));
        assert_eq!(sale.state(), SaleState::Errored, "{on_chain:?}");
        assert_eq!(sale.agent.error, Some(reason));
    }
}

#[test]
fn a_restored_sale_errors_when_the_request_cannot_be_retrieved() {
    let mut sale = Sale::restored();
    sale.reply(
        "QuerySlot",
        Reply::Slot(SlotInfo {
            request: None,
            ..info(SlotState::Filled)
        }),
    );
    assert_eq!(sale.state(), SaleState::Errored);
    assert_eq!(sale.agent.error, Some(ErrorReason::RequestNotFound));
}

#[test]
fn a_restored_paid_slot_finishes_and_returns_nothing_the_chain_did_not() {
    let mut sale = Sale::restored();
    sale.reply("QuerySlot", Reply::Slot(info(SlotState::Paid)));
    sale.reply("ClearData", Reply::DataCleared);
    let (reservation_id, returned, _) = sale.clean_up_action();
    assert_eq!(reservation_id, Some(reservation().id));
    assert_eq!(returned, ReturnedCollateral::Amount(U256::zero()));
}

#[test]
fn a_resynced_agent_drops_its_effects_and_queries_the_slot() {
    let sale = Sale::to(SaleState::Proving);
    let step = sale.agent.resync(150, &config());
    assert_eq!(step.agent.state, SaleState::Unknown);
    assert_eq!(step.effects.len(), 1);
    assert_eq!(step.effects[0].action, Action::QuerySlot { slot: slot() });
}

// ----- the cancellation watch (testsalesagent: onCancelled only when the chain says so) ---

#[test]
fn the_request_state_is_checked_just_after_expiry_and_only_a_cancelled_request_cancels() {
    let mut sale = Sale::to(SaleState::Downloading);
    assert_eq!(sale.agent.cancellation_check_at_secs, Some(301));
    sale.tick_to(300);
    assert!(!sale.has_pending("CheckRequestState"));
    sale.tick_to(301);
    assert!(sale.has_pending("CheckRequestState"));
    assert!(sale.has_pending("FetchData"), "the download goes on");
    // Still New (the chain lags): check again later.
    sale.now = 305;
    sale.reply("CheckRequestState", Reply::RequestState(Some(RequestState::New)));
    assert_eq!(sale.agent.cancellation_check_at_secs, Some(306));
    assert_eq!(sale.state(), SaleState::Downloading);
    sale.tick_to(306);
    sale.reply("CheckRequestState", Reply::RequestState(Some(RequestState::Cancelled)));
    assert_eq!(sale.state(), SaleState::Cancelled);
}

#[test]
fn a_started_request_ends_the_cancellation_watch() {
    for reply in [
        Reply::RequestState(Some(RequestState::Started)),
        Reply::RequestState(Some(RequestState::Finished)),
        Reply::RequestState(None),
    ] {
        let mut sale = Sale::to(SaleState::Downloading);
        sale.tick_to(301);
        sale.reply("CheckRequestState", reply);
        assert_eq!(sale.agent.cancellation_check_at_secs, None);
        assert_eq!(sale.state(), SaleState::Downloading);
    }
}

#[test]
fn a_fulfilled_request_ends_the_cancellation_watch() {
    let mut sale = Sale::to(SaleState::Downloading);
    sale.send(Input::RequestFulfilled).unwrap();
    assert_eq!(sale.agent.cancellation_check_at_secs, None);
    sale.tick_to(1_000);
    assert!(!sale.has_pending("CheckRequestState"));
}

// ----- effects ------------------------------------------------------------------------

#[test]
fn a_reply_to_an_effect_no_longer_pending_is_ignored() {
    let mut sale = Sale::to(SaleState::Downloading);
    let fetch = sale.pending("FetchData");
    sale.send(Input::RequestCancelled).unwrap();
    let before = sale.agent.clone();
    sale.send(Input::Reply {
        effect: fetch,
        reply: Reply::DataStored(Ok(())),
    })
    .unwrap();
    assert_eq!(sale.agent, before, "a late reply changes nothing");
    assert!(sale.effects.is_empty());
}

#[test]
fn a_reply_answered_twice_applies_once() {
    let mut sale = Sale::to(SaleState::SlotReserving);
    let effect = sale.pending("ReserveSlot");
    sale.send(Input::Reply {
        effect,
        reply: Reply::SlotReserved(Ok(())),
    })
    .unwrap();
    let after_first = sale.agent.clone();
    sale.send(Input::Reply {
        effect,
        reply: Reply::SlotReserved(Ok(())),
    })
    .unwrap();
    assert_eq!(sale.agent, after_first);
}

#[test]
fn a_reply_of_the_wrong_kind_is_refused_and_changes_nothing() {
    let mut sale = Sale::to(SaleState::SlotReserving);
    let effect = sale.pending("ReserveSlot");
    let before = sale.agent.clone();
    assert!(matches!(
        sale.send(Input::Reply {
            effect,
            reply: Reply::DataCleared
        }),
        Err(MarketError::UnexpectedInput { .. })
    ));
    assert_eq!(sale.agent, before);
}

#[test]
fn a_done_agent_ignores_every_input() {
    let mut sale = Sale::to(SaleState::Finished);
    sale.finish_clean_up();
    let before = sale.agent.clone();
    for input in [Input::Tick, Input::RequestCancelled, Input::SlotFilled] {
        sale.send(input).unwrap();
        assert_eq!(sale.agent, before);
    }
}

#[test]
fn agents_round_trip_through_the_store_codec_in_every_state() {
    for state in CANCELLABLE {
        let sale = Sale::to(state);
        let bytes = tally_store::codec::encode(&sale.agent).unwrap();
        let back: Agent = tally_store::codec::decode(&bytes).unwrap();
        assert_eq!(back, sale.agent, "{state:?}");
    }
}

#[test]
fn every_transition_is_announced_in_order() {
    let mut sale = Sale::to(SaleState::Finished);
    sale.finish_clean_up();
    let states: Vec<SaleState> = sale
        .notifications
        .iter()
        .filter_map(|n| match n {
            Notification::StateChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            SaleState::SlotReserving,
            SaleState::Downloading,
            SaleState::InitialProving,
            SaleState::Filling,
            SaleState::Filled,
            SaleState::Proving,
            SaleState::Payout,
            SaleState::Finished
        ]
    );
    assert!(sale.notifications.contains(&Notification::SlotFilledByMe));
}
