//! A toy market for tests: deterministic, in memory, answering
//! every external [`Effect`] of the sales machine the way the Codex
//! contract would in the ordinary cases, and a driver that runs [`Sales`]
//! against it until nothing is left to do.
//!
//! It is not the marketplace contract (no token balances, no slashing, no
//! validators); it keeps just enough state to answer the host: requests
//! with their expiry and end, slots with their host, state, start time and
//! collateral, a block clock for proof randomness. Hooks let a test make
//! things go wrong: another host fills a slot first, a download fails, a
//! request fails.
//!
//! ```
//! use tally_market::sim::{SimMarket, run};
//! # use tally_market::{*, sales::*, periods::ProofConfig};
//! # let host = Address([0xaa; 20]);
//! # let config = SalesConfig { host, proofs: ProofConfig { period_secs: 10, timeout_secs: 5, downtime: 0, downtime_product: 67 }, repair_reward_percentage: 10 };
//! let reservations = Reservations::open(tally_store::MemStore::new(), 10_000)?;
//! reservations.create_availability(&AvailabilitySpec::new(AvailabilityId([1; 32]), 1_000, 3_600, U256::one(), U256::from(10_000u32)))?;
//! let mut sales = Sales::new(reservations, config, SalesOptions::default())?;
//! let mut market = SimMarket::new(1_000);
//! # let request = StorageRequest { client: Address([1; 20]), ask: StorageAsk { proof_probability: U256::from(2u8), price_per_byte_per_second: U256::from(2u8), collateral_per_byte: U256::one(), slots: 1, slot_size_bytes: 500, duration_secs: 100, max_slot_loss: 0 }, content: StorageContent { cid: vec![1], merkle_root: [0; 32] }, expiry_secs: 50, nonce: Nonce([1; 32]) };
//! market.request_storage(request)?;
//! let log = run(&mut sales, &mut market, 1_200, 10)?;
//! assert!(log.iter().any(|h| h.state == SaleState::Finished));
//! assert!(sales.agents()?.is_empty(), "the sale is over and cleaned up");
//! assert_eq!(sales.reservations().quota()?.reserved_bytes, 1_000, "all bytes back");
//! # Ok::<(), tally_market::MarketError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use primitive_types::U256;
use tally_store::Store;

use crate::error::MarketError;
use crate::periods::ChainRandomness;
use crate::sales::{
    Action, Effect, FillSlotError, FreeSlotError, Handled, Input, ProvingInfo, Reply, ReserveSlotError, Sales, SlotInfo,
};
use crate::types::{
    Address, RequestId, RequestState, SlotId, SlotRef, SlotState, StorageAsk, StorageRequest, keccak256,
};

/// Seconds per block of the simulated chain.
pub const BLOCK_SECS: u64 = 12;
/// The most effects [`drive`] performs in one call.
pub const MAX_DRIVE_EFFECTS: usize = 100_000;

/// A market event for the host (what Codex subscribes to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarketEvent {
    /// A new request.
    StorageRequested {
        /// The request.
        request_id: RequestId,
        /// Its ask.
        ask: StorageAsk,
        /// When it expires unless filled.
        expires_at_secs: u64,
    },
    /// A slot was filled (by anyone).
    SlotFilled {
        /// The slot.
        slot: SlotRef,
    },
    /// Every slot is filled: the request started.
    RequestFulfilled {
        /// The request.
        request_id: RequestId,
    },
    /// The request expired unfilled.
    RequestCancelled {
        /// The request.
        request_id: RequestId,
    },
    /// The request failed.
    RequestFailed {
        /// The request.
        request_id: RequestId,
    },
}

/// A slot as the toy chain keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSlot {
    /// Who filled it.
    pub host: Option<Address>,
    /// Its stored state (Free, Filled, Paid or Repair).
    pub state: SlotState,
    /// When it was filled.
    pub filled_at_secs: u64,
    /// The collateral it holds.
    pub collateral: U256,
}

/// A request as the toy chain keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRequest {
    /// The request.
    pub request: StorageRequest,
    /// Its state.
    pub state: RequestState,
    /// When it expires unless filled.
    pub expires_at_secs: u64,
    /// When its contract ends.
    pub ends_at_secs: u64,
    /// Its slots.
    pub slots: Vec<SimSlot>,
}

/// The toy market; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct SimMarket {
    /// The chain's time.
    pub now_secs: u64,
    /// Bytes per batch a download reports.
    pub batch_bytes: u64,
    /// The requests, by id.
    pub requests: BTreeMap<RequestId, SimRequest>,
    /// Downloads of these slots fail.
    pub failing_downloads: BTreeSet<SlotId>,
    /// Tokens paid out to each host (rewards and collateral).
    pub paid_out: BTreeMap<Address, U256>,
    /// Collateral each host deposited to fill slots.
    pub collateral_deposited: BTreeMap<Address, U256>,
    /// Collateral given back to each host.
    pub collateral_returned: BTreeMap<Address, U256>,
    events: Vec<MarketEvent>,
}

impl SimMarket {
    /// A market at time `now_secs`, downloads in batches of 256 bytes.
    pub fn new(now_secs: u64) -> SimMarket {
        SimMarket {
            now_secs,
            batch_bytes: 256,
            requests: BTreeMap::new(),
            failing_downloads: BTreeSet::new(),
            paid_out: BTreeMap::new(),
            collateral_deposited: BTreeMap::new(),
            collateral_returned: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    /// Takes the events that happened since the last call.
    pub fn take_events(&mut self) -> Vec<MarketEvent> {
        std::mem::take(&mut self.events)
    }

    /// A client requests storage now.
    ///
    /// # Errors
    /// As [`StorageRequest::id`]; [`MarketError::Limit`] beyond 4096 slots.
    pub fn request_storage(&mut self, request: StorageRequest) -> Result<RequestId, MarketError> {
        let id = request.id()?;
        if request.ask.slots > 4_096 {
            return Err(MarketError::Limit {
                what: "simulated slots per request",
                max: 4_096,
            });
        }
        let expires_at_secs = self.now_secs.saturating_add(request.expiry_secs);
        let slot = SimSlot {
            host: None,
            state: SlotState::Free,
            filled_at_secs: 0,
            collateral: U256::zero(),
        };
        self.events.push(MarketEvent::StorageRequested {
            request_id: id,
            ask: request.ask.clone(),
            expires_at_secs,
        });
        self.requests.insert(
            id,
            SimRequest {
                state: RequestState::New,
                expires_at_secs,
                ends_at_secs: self.now_secs.saturating_add(request.ask.duration_secs),
                slots: vec![slot; request.ask.slots as usize],
                request,
            },
        );
        Ok(id)
    }

    fn slot_mut(&mut self, slot: &SlotRef) -> Option<(&mut SimRequest, usize)> {
        let request = self.requests.get_mut(&slot.request_id)?;
        let index = usize::try_from(slot.slot_index)
            .ok()
            .filter(|&i| i < request.slots.len())?;
        Some((request, index))
    }

    fn find(&self, slot_id: &SlotId) -> Option<SlotRef> {
        self.requests.iter().find_map(|(id, request)| {
            (0..request.slots.len() as u64)
                .map(|slot_index| SlotRef {
                    request_id: *id,
                    slot_index,
                })
                .find(|slot| slot.id() == *slot_id)
        })
    }

    /// The slot's state as the contract reports it (`slotState`).
    pub fn slot_state(&self, slot: &SlotRef) -> SlotState {
        let Some(request) = self.requests.get(&slot.request_id) else {
            return SlotState::Free;
        };
        let Some(stored) = usize::try_from(slot.slot_index).ok().and_then(|i| request.slots.get(i)) else {
            return SlotState::Free;
        };
        match (stored.state, request.state) {
            (SlotState::Paid, _) => SlotState::Paid,
            (_, RequestState::Cancelled) => SlotState::Cancelled,
            (_, RequestState::Failed) => SlotState::Failed,
            (SlotState::Filled, RequestState::Finished) => SlotState::Finished,
            (state, _) => state,
        }
    }

    /// Another host fills the slot (a race the host loses).
    ///
    /// # Errors
    /// [`MarketError::Invalid`] for an unknown slot.
    pub fn fill_by(&mut self, slot: &SlotRef, host: Address) -> Result<(), MarketError> {
        self.fill(slot, host, U256::zero()).map_err(|_| MarketError::Invalid {
            field: "slot",
            reason: "cannot be filled".into(),
        })
    }

    /// The request fails (too many slots lost).
    pub fn fail_request(&mut self, request_id: &RequestId) {
        if let Some(request) = self.requests.get_mut(request_id) {
            request.state = RequestState::Failed;
            self.events.push(MarketEvent::RequestFailed {
                request_id: *request_id,
            });
        }
    }

    fn fill(&mut self, slot: &SlotRef, host: Address, collateral: U256) -> Result<(), FillSlotError> {
        let state = self.slot_state(slot);
        let now_secs = self.now_secs;
        let Some((request, index)) = self.slot_mut(slot) else {
            return Err(FillSlotError::Market("unknown slot".into()));
        };
        if !matches!(request.state, RequestState::New | RequestState::Started)
            || !matches!(state, SlotState::Free | SlotState::Repair)
        {
            return Err(FillSlotError::SlotNotFree);
        }
        let full = request.request.ask.collateral_per_slot().unwrap_or(collateral);
        request.slots[index] = SimSlot {
            host: Some(host),
            state: SlotState::Filled,
            filled_at_secs: now_secs,
            collateral: full,
        };
        let fulfilled =
            request.state == RequestState::New && request.slots.iter().all(|slot| slot.state == SlotState::Filled);
        if fulfilled {
            request.state = RequestState::Started;
        }
        let deposited = self.collateral_deposited.entry(host).or_insert_with(U256::zero);
        *deposited = deposited.saturating_add(collateral);
        self.events.push(MarketEvent::SlotFilled { slot: *slot });
        if fulfilled {
            self.events.push(MarketEvent::RequestFulfilled {
                request_id: slot.request_id,
            });
        }
        Ok(())
    }

    /// The slots `host` holds on chain (Codex's `mySlots`).
    pub fn my_slots(&self, host: Address) -> Vec<SlotRef> {
        let mut out = Vec::new();
        for (id, request) in &self.requests {
            for (index, slot) in request.slots.iter().enumerate() {
                if slot.host == Some(host) && slot.state == SlotState::Filled {
                    out.push(SlotRef {
                        request_id: *id,
                        slot_index: index as u64,
                    });
                }
            }
        }
        out
    }

    /// The chain's randomness now.
    pub fn randomness(&self) -> ChainRandomness {
        let block_number = self.now_secs / BLOCK_SECS;
        ChainRandomness {
            block_number,
            recent_block_hashes: (1..=256u64)
                .map(|back| keccak256(&block_number.saturating_sub(back).to_be_bytes()))
                .collect(),
        }
    }

    /// Time passes: unfilled requests past their expiry are cancelled,
    /// started ones past their end finish.
    pub fn advance_to(&mut self, now_secs: u64) {
        self.now_secs = self.now_secs.max(now_secs);
        for (id, request) in &mut self.requests {
            if request.state == RequestState::New && self.now_secs > request.expires_at_secs {
                request.state = RequestState::Cancelled;
                self.events.push(MarketEvent::RequestCancelled { request_id: *id });
            }
            if request.state == RequestState::Started && self.now_secs > request.ends_at_secs {
                request.state = RequestState::Finished;
            }
        }
    }

    /// Collateral `host` deposited and has not got back (what the chain kept).
    pub fn collateral_kept(&self, host: &Address) -> U256 {
        let deposited = self.collateral_deposited.get(host).copied().unwrap_or_default();
        let returned = self.collateral_returned.get(host).copied().unwrap_or_default();
        deposited.saturating_sub(returned)
    }

    fn pay(&mut self, host: Address, amount: U256) {
        let entry = self.paid_out.entry(host).or_insert_with(U256::zero);
        *entry = entry.saturating_add(amount);
    }

    fn free(&mut self, slot: &SlotRef, host: Address) -> (U256, Result<(), FreeSlotError>) {
        let state = self.slot_state(slot);
        let Some((request, index)) = self.slot_mut(slot) else {
            return (U256::zero(), Err(FreeSlotError::StateMismatch));
        };
        let stored = request.slots[index].clone();
        if stored.host != Some(host) {
            return (U256::zero(), Err(FreeSlotError::Market("not the slot's host".into())));
        }
        let collateral = stored.collateral;
        let reward = request.request.ask.price_per_slot().unwrap_or_default();
        match state {
            SlotState::Finished | SlotState::Cancelled => {
                request.slots[index].state = SlotState::Paid;
                let earned = if state == SlotState::Finished {
                    reward
                } else {
                    U256::zero()
                };
                self.pay(host, collateral.saturating_add(earned));
                let returned = self.collateral_returned.entry(host).or_insert_with(U256::zero);
                *returned = returned.saturating_add(collateral);
                (collateral, Ok(()))
            }
            SlotState::Failed => {
                request.slots[index].host = None;
                (collateral, Ok(()))
            }
            SlotState::Filled => {
                // Freed while the contract runs: the collateral is forfeited.
                request.slots[index] = SimSlot {
                    host: None,
                    state: SlotState::Repair,
                    filled_at_secs: 0,
                    collateral: U256::zero(),
                };
                (collateral, Ok(()))
            }
            SlotState::Free | SlotState::Paid | SlotState::Repair => (collateral, Err(FreeSlotError::StateMismatch)),
        }
    }

    /// Performs one external effect for `host`; returns the inputs to feed
    /// back (for a download: its batches, then its reply).
    pub fn perform(&mut self, host: Address, effect: &Effect) -> Vec<Input> {
        let reply = |reply| Input::Reply {
            effect: effect.id,
            reply,
        };
        match &effect.action {
            Action::QuerySlot { slot } => {
                let info = match self.requests.get(&slot.request_id) {
                    Some(request) => SlotInfo {
                        request: Some(request.request.clone()),
                        slot_state: self.slot_state(slot),
                        request_end_secs: request.ends_at_secs,
                        request_expires_at_secs: request.expires_at_secs,
                    },
                    None => SlotInfo {
                        request: None,
                        slot_state: SlotState::Free,
                        request_end_secs: 0,
                        request_expires_at_secs: 0,
                    },
                };
                vec![reply(Reply::Slot(info))]
            }
            Action::ReserveSlot { slot } => {
                let result = match self.slot_state(slot) {
                    SlotState::Free | SlotState::Repair => Ok(()),
                    _ => Err(ReserveSlotError::NotAllowed),
                };
                vec![reply(Reply::SlotReserved(result))]
            }
            Action::FetchData {
                request,
                slot_index,
                from_bytes,
                ..
            } => {
                let slot = SlotRef {
                    request_id: request.id().unwrap_or_default(),
                    slot_index: *slot_index,
                };
                if self.failing_downloads.contains(&slot.id()) {
                    return vec![reply(Reply::DataStored(Err("the dataset could not be fetched".into())))];
                }
                let total = request.ask.slot_size_bytes;
                let batch = self.batch_bytes.max(1);
                let mut inputs = Vec::new();
                let mut done = *from_bytes;
                while done < total {
                    let bytes = batch.min(total - done);
                    inputs.push(Input::BatchStored {
                        effect: effect.id,
                        batch_index: done / batch,
                        bytes,
                    });
                    done += bytes;
                }
                inputs.push(reply(Reply::DataStored(Ok(()))));
                inputs
            }
            Action::QueryChallenge { .. } => vec![reply(Reply::Randomness(self.randomness()))],
            Action::GenerateProof { challenge, .. } => {
                vec![reply(Reply::ProofGenerated(Ok(keccak256(challenge).to_vec())))]
            }
            Action::FillSlot { slot, collateral, .. } => {
                let result = self.fill(slot, host, *collateral);
                vec![reply(Reply::SlotFillResult(result))]
            }
            Action::QueryHost { slot_id } => {
                let host = self.find(slot_id).and_then(|slot| {
                    let request = self.requests.get(&slot.request_id)?;
                    request.slots.get(slot.slot_index as usize)?.host
                });
                vec![reply(Reply::Host(host))]
            }
            Action::UpdateExpiry { .. } => vec![reply(Reply::ExpiryUpdated(Ok(())))],
            Action::QueryProving { slot_id } => {
                let (slot_state, started) = match self.find(slot_id) {
                    Some(slot) => {
                        let started = self
                            .requests
                            .get(&slot.request_id)
                            .and_then(|r| r.slots.get(slot.slot_index as usize))
                            .map_or(0, |s| s.filled_at_secs);
                        (self.slot_state(&slot), started)
                    }
                    None => (SlotState::Free, 0),
                };
                vec![reply(Reply::Proving(ProvingInfo {
                    slot_state,
                    slot_started_at_secs: started,
                    randomness: self.randomness(),
                }))]
            }
            Action::SubmitProof { .. } => vec![reply(Reply::ProofSubmitted(Ok(())))],
            Action::FreeSlot { slot_id } => {
                let (current_collateral, result) = match self.find(slot_id) {
                    Some(slot) => self.free(&slot, host),
                    None => (U256::zero(), Err(FreeSlotError::StateMismatch)),
                };
                vec![reply(Reply::SlotFreed {
                    current_collateral,
                    result,
                })]
            }
            Action::CheckRequestState { request_id } => {
                let state = self.requests.get(request_id).map(|r| r.state);
                vec![reply(Reply::RequestState(state))]
            }
            Action::ClearData { .. } => vec![reply(Reply::DataCleared)],
            // The shell performs these itself; they never reach a host.
            Action::ReserveBytes { .. } | Action::ReleaseBytes { .. } | Action::CleanUp { .. } => Vec::new(),
        }
    }
}

/// Hands the market's events to `sales` (queue and agents); returns what
/// the agents did.
///
/// # Errors
/// As the [`Sales`] event methods.
pub fn dispatch<S: Store>(sales: &mut Sales<S>, market: &mut SimMarket) -> Result<Vec<Handled>, MarketError> {
    let now = market.now_secs;
    let mut out = Vec::new();
    for event in market.take_events() {
        match event {
            MarketEvent::StorageRequested {
                request_id,
                ask,
                expires_at_secs,
            } => {
                sales.on_storage_requested(request_id, &ask, expires_at_secs)?;
            }
            MarketEvent::SlotFilled { slot } => out.extend(sales.on_slot_filled(slot, now)?),
            MarketEvent::RequestFulfilled { request_id } => out.extend(sales.on_request_fulfilled(&request_id, now)?),
            MarketEvent::RequestCancelled { request_id } => out.extend(sales.on_request_cancelled(&request_id, now)?),
            MarketEvent::RequestFailed { request_id } => out.extend(sales.on_request_failed(&request_id, now)?),
        }
    }
    Ok(out)
}

/// Performs every effect in `work` (and every effect those lead to, and the
/// market events they cause) until nothing is left; returns everything the
/// agents did, in order.
///
/// # Errors
/// As [`Sales::handle`]; [`MarketError::Limit`] after [`MAX_DRIVE_EFFECTS`].
pub fn drive<S: Store>(
    sales: &mut Sales<S>,
    market: &mut SimMarket,
    work: Vec<Handled>,
) -> Result<Vec<Handled>, MarketError> {
    let host = sales.config().host;
    let mut log = Vec::new();
    let mut todo: std::collections::VecDeque<Handled> = work.into();
    let mut performed = 0;
    loop {
        while let Some(handled) = todo.pop_front() {
            for effect in &handled.effects {
                performed += 1;
                if performed > MAX_DRIVE_EFFECTS {
                    return Err(MarketError::Limit {
                        what: "simulated effects",
                        max: MAX_DRIVE_EFFECTS as u64,
                    });
                }
                for input in market.perform(host, effect) {
                    match sales.handle(&handled.slot_id, input, market.now_secs) {
                        Ok(next) => todo.push_back(next),
                        // The agent finished meanwhile; the rest is stale.
                        Err(MarketError::AgentNotFound { .. }) => break,
                        Err(error) => return Err(error),
                    }
                }
            }
            log.push(handled);
        }
        let events = dispatch(sales, market)?;
        if events.is_empty() && todo.is_empty() {
            return Ok(log);
        }
        todo.extend(events);
    }
}

/// Runs `sales` against `market` from the market's time until `until_secs`
/// in steps of `step_secs`: at each step the market's events are handed
/// over, free workers start sales, due deadlines tick and every effect is
/// driven to completion. Returns everything the agents did.
///
/// # Errors
/// As [`drive`]; [`MarketError::Invalid`] for a zero step.
pub fn run<S: Store>(
    sales: &mut Sales<S>,
    market: &mut SimMarket,
    until_secs: u64,
    step_secs: u64,
) -> Result<Vec<Handled>, MarketError> {
    if step_secs == 0 {
        return Err(MarketError::Invalid {
            field: "step_secs",
            reason: "time must move".into(),
        });
    }
    let mut log = Vec::new();
    loop {
        let mut work = dispatch(sales, market)?;
        while let Some(started) = sales.start_next_sale(market.now_secs)? {
            work.push(started);
        }
        work.extend(sales.tick(market.now_secs)?);
        log.extend(drive(sales, market, work)?);
        if market.now_secs >= until_secs {
            return Ok(log);
        }
        market.advance_to(market.now_secs.saturating_add(step_secs).min(until_secs));
    }
}
