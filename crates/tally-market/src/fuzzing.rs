//! Entry points for the cargo-fuzz targets (`fuzz/fuzz_targets/market_*.rs`),
//! compiled with the crate (feature `fuzzing`) so they never drift from it.
//! Not public API.

use tally_store::MemStore;

use crate::cli::MarketCli;
use crate::marketplace::cli::{MarketplaceCli, default_config};
use crate::sales::{Agent, Input, SalesConfig, apply};

/// Feeds each line of `data` to the JSON-lines tool; after every line the
/// accounting invariants must hold. Panics on a violation (a finding).
pub fn market_cli(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut cli) = MarketCli::open(MemStore::new(), 1_000_000, [0; 32]) else {
        return;
    };
    for line in text.lines().take(256) {
        let answer = cli.handle_line(line);
        assert!(
            answer.starts_with("{\"ok\":") || answer.starts_with("{\"error\":"),
            "{answer}"
        );
        if let Ok(snapshot) = cli.reservations().snapshot()
            && let Err(violation) = snapshot.check()
        {
            panic!("after {line:?}: {violation}");
        }
    }
}

/// Feeds each line of `data` to the JSON-lines tool of
/// `examples/marketplace-cli.rs` (the contract rules): every answer is
/// `{"ok":...}` or `{"error":...}`, a refused line changes nothing (the
/// tool's own `state` answer is the same before and after), and after
/// every line the whole marketplace passes its invariant check
/// ([`ContractState::check`](crate::marketplace::ContractState::check):
/// tokens conserved, totals equal to the records, escrow equal to the
/// claims). Panics on a violation (a finding).
pub fn marketplace_cli(data: &[u8]) {
    const STATE: &str = r#"{"op":"state"}"#;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut cli) = MarketplaceCli::open(MemStore::new(), default_config(), [0; 32]) else {
        return;
    };
    let mut state = cli.handle_line(STATE);
    for line in text.lines().take(128) {
        let answer = cli.handle_line(line);
        if answer.starts_with("{\"error\":") {
            let after = cli.handle_line(STATE);
            assert_eq!(after, state, "the refused line {line:?} ({answer}) changed the state");
        } else {
            assert!(answer.starts_with("{\"ok\":"), "{line:?} answered {answer}");
            state = cli.handle_line(STATE);
        }
        assert!(serde_json::from_str::<serde_json::Value>(&answer).is_ok(), "{answer}");
        match cli.market().snapshot() {
            Ok(snapshot) => {
                if let Err(violation) = snapshot.check() {
                    panic!("after {line:?}: {violation}");
                }
            }
            Err(error) => panic!("after {line:?}: no snapshot: {error}"),
        }
    }
}

/// Drives one sales agent with inputs chosen by `data`: each byte picks an
/// event, a time step, or an answer (success or failure) to one of the
/// pending effects. The machine must never panic, and its invariants
/// (`debug_assert!`s) must hold.
pub fn sales_machine(data: &[u8]) {
    let config = SalesConfig {
        host: crate::types::Address([0xaa; 20]),
        proofs: crate::periods::ProofConfig {
            period_secs: 10,
            timeout_secs: 5,
            downtime: 16,
            downtime_product: 67,
        },
        repair_reward_percentage: 10,
    };
    let request = fuzz_request();
    let Ok(request_id) = request.id() else { return };
    let Ok(collateral) = request.ask.collateral_per_slot() else {
        return;
    };
    let item = crate::slot_queue::SlotQueueItem::new(request_id, 0, &request.ask, Some(60), collateral);
    let mut agent = Agent::start(item, 0, &config).agent;
    let mut now = 0u64;
    for pair in data.chunks(2).take(512) {
        let (choice, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let input = match choice % 8 {
            0 => {
                now = now.saturating_add(u64::from(arg));
                Input::Tick
            }
            1 => Input::RequestCancelled,
            2 => Input::RequestFailed,
            3 => Input::RequestFulfilled,
            4 => Input::SlotFilled,
            5 => match agent
                .pending
                .iter()
                .find(|e| matches!(e.action, crate::sales::Action::FetchData { .. }))
            {
                Some(effect) => Input::BatchStored {
                    effect: effect.id,
                    batch_index: u64::from(arg % 4),
                    bytes: u64::from(arg),
                },
                None => Input::Tick,
            },
            _ => match agent.pending.get(usize::from(arg) % agent.pending.len().max(1)) {
                Some(effect) => Input::Reply {
                    effect: effect.id,
                    reply: reply_to(&effect.action, arg, &request),
                },
                None => Input::Tick,
            },
        };
        if let Ok(step) = apply(&agent, input, now, &config) {
            assert!(step.agent.pending.len() <= crate::sales::machine::MAX_PENDING_EFFECTS);
            assert!(!step.agent.done || step.agent.pending.is_empty());
            agent = step.agent;
        }
    }
}

fn fuzz_request() -> crate::types::StorageRequest {
    use primitive_types::U256;
    crate::types::StorageRequest {
        client: crate::types::Address([1; 20]),
        ask: crate::types::StorageAsk {
            proof_probability: U256::from(2u8),
            price_per_byte_per_second: U256::one(),
            collateral_per_byte: U256::one(),
            slots: 2,
            slot_size_bytes: 100,
            duration_secs: 100,
            max_slot_loss: 0,
        },
        content: crate::types::StorageContent {
            cid: vec![1],
            merkle_root: [0; 32],
        },
        expiry_secs: 60,
        nonce: crate::types::Nonce([0; 32]),
    }
}

/// A reply of the right kind for `action`; `arg` picks success or failure
/// and the details.
fn reply_to(action: &crate::sales::Action, arg: u8, request: &crate::types::StorageRequest) -> crate::sales::Reply {
    use crate::sales::{
        Action, FillSlotError, FreeSlotError, ProvingInfo, Reply, ReservationRef, ReserveBytesError, ReserveSlotError,
        SlotInfo,
    };
    use crate::types::{AvailabilityId, RequestState, ReservationId, SlotState};
    use primitive_types::U256;
    let ok = !arg.is_multiple_of(3);
    let states = [
        SlotState::Free,
        SlotState::Filled,
        SlotState::Finished,
        SlotState::Failed,
        SlotState::Paid,
        SlotState::Cancelled,
        SlotState::Repair,
    ];
    let slot_state = states[usize::from(arg) % states.len()];
    let randomness = crate::periods::ChainRandomness {
        block_number: u64::from(arg),
        recent_block_hashes: (0..=255u8).map(|i| [i ^ arg; 32]).collect(),
    };
    match action {
        Action::QuerySlot { .. } => Reply::Slot(SlotInfo {
            request: (!arg.is_multiple_of(7)).then(|| request.clone()),
            slot_state,
            request_end_secs: 200,
            request_expires_at_secs: 60,
        }),
        Action::ReserveBytes { .. } => Reply::BytesReserved(match arg % 4 {
            0 => Err(ReserveBytesError::NoMatchingAvailability),
            1 => Err(ReserveBytesError::AvailabilityMismatch),
            2 => Err(ReserveBytesError::Refused("no".into())),
            _ => Ok(ReservationRef {
                id: ReservationId([1; 32]),
                availability_id: AvailabilityId([2; 32]),
            }),
        }),
        Action::ReserveSlot { .. } => Reply::SlotReserved(match arg % 3 {
            0 => Err(ReserveSlotError::NotAllowed),
            1 => Err(ReserveSlotError::Market("x".into())),
            _ => Ok(()),
        }),
        Action::FetchData { .. } => Reply::DataStored(if ok { Ok(()) } else { Err("x".into()) }),
        Action::ReleaseBytes { .. } => Reply::BytesReleased(if ok { Ok(()) } else { Err("x".into()) }),
        Action::QueryChallenge { .. } => Reply::Randomness(randomness),
        Action::GenerateProof { .. } => Reply::ProofGenerated(if ok { Ok(vec![arg; 4]) } else { Err("x".into()) }),
        Action::FillSlot { .. } => Reply::SlotFillResult(match arg % 3 {
            0 => Err(FillSlotError::SlotNotFree),
            1 => Err(FillSlotError::Market("x".into())),
            _ => Ok(()),
        }),
        Action::QueryHost { .. } => Reply::Host(match arg % 3 {
            0 => None,
            1 => Some(crate::types::Address([0xbb; 20])),
            _ => Some(crate::types::Address([0xaa; 20])),
        }),
        Action::UpdateExpiry { .. } => Reply::ExpiryUpdated(if ok { Ok(()) } else { Err("x".into()) }),
        Action::QueryProving { .. } => Reply::Proving(ProvingInfo {
            slot_state,
            slot_started_at_secs: u64::from(arg),
            randomness,
        }),
        Action::SubmitProof { .. } => Reply::ProofSubmitted(if ok { Ok(()) } else { Err("x".into()) }),
        Action::FreeSlot { .. } => Reply::SlotFreed {
            current_collateral: U256::from(arg),
            result: match arg % 3 {
                0 => Err(FreeSlotError::StateMismatch),
                1 => Err(FreeSlotError::Market("x".into())),
                _ => Ok(()),
            },
        },
        Action::CheckRequestState { .. } => {
            let states = [
                RequestState::New,
                RequestState::Started,
                RequestState::Cancelled,
                RequestState::Finished,
                RequestState::Failed,
            ];
            Reply::RequestState(Some(states[usize::from(arg) % states.len()]))
        }
        Action::ClearData { .. } => Reply::DataCleared,
        Action::CleanUp { .. } => Reply::CleanedUp,
    }
}
