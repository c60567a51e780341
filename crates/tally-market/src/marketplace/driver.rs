//! Runs a host's [sales](crate::sales) against a [`Marketplace`]: the
//! host's effects become contract operations (reserve, fill, prove, free)
//! and queries of its records, the marketplace's receipts become the
//! host's market events, and [`validate`] plays a validator that marks
//! every missed proof it can.
//!
//! Each effect is applied with a transaction id derived from the host, the
//! slot, how often the slot was freed and the effect's id, so an effect the
//! host performs again (after a restart, or a lost acknowledgement) is
//! applied once, while a later sale of the same slot gets fresh ids. The host's own
//! work that needs no chain (downloading, proving, clearing data) is
//! simulated: a download stores the slot in batches, a proof is the hash
//! of its challenge.
//!
//! ```
//! use tally_market::marketplace::driver::{HostDriver, validate};
//! use tally_market::marketplace::{Marketplace, MarketplaceConfig, Operation};
//! use tally_market::sales::{Sales, SalesConfig, SalesOptions};
//! use tally_market::{Address, AvailabilityId, AvailabilitySpec, Nonce, Reservations, StorageAsk};
//! use tally_market::{StorageContent, StorageRequest, TxId, U256};
//! use tally_store::MemStore;
//!
//! let mut config = MarketplaceConfig::default();
//! config.proofs.period_secs = 60;
//! let chain = Marketplace::open(MemStore::new(), config.clone(), 0)?;
//! let (client, host) = (Address([1; 20]), Address([2; 20]));
//! for (n, account) in [client, host].into_iter().enumerate() {
//!     let mint = Operation::Mint { account, amount: U256::from(10_000_000u32) };
//!     chain.apply(&TxId([n as u8; 32]), &mint)?;
//! }
//!
//! // A host offering 4 KiB.
//! let reservations = Reservations::open(MemStore::new(), 1 << 20)?;
//! let offer = AvailabilitySpec::new(AvailabilityId([1; 32]), 4_096, 7_200, U256::one(), U256::from(100_000u32));
//! reservations.create_availability(&offer)?;
//! let sales_config = SalesConfig { host, proofs: config.proofs, repair_reward_percentage: 10 };
//! let mut sales = Sales::new(reservations, sales_config, SalesOptions::default())?;
//! let mut driver = HostDriver::new(host);
//!
//! // A client asks for one slot of 1 KiB for 10 minutes.
//! let request = StorageRequest {
//!     client,
//!     ask: StorageAsk {
//!         proof_probability: U256::one(),
//!         price_per_byte_per_second: U256::from(2u8),
//!         collateral_per_byte: U256::from(3u8),
//!         slots: 1,
//!         slot_size_bytes: 1_024,
//!         duration_secs: 600,
//!         max_slot_loss: 0,
//!     },
//!     content: StorageContent { cid: vec![1], merkle_root: [0; 32] },
//!     expiry_secs: 300,
//!     nonce: Nonce([7; 32]),
//! };
//! chain.apply(&TxId([9; 32]), &Operation::RequestStorage { request })?;
//!
//! // Time passes in steps of 10 s; the host sells, proves and is paid.
//! for step in 0..80u64 {
//!     validate(&chain, Address([0xee; 20]))?;
//!     driver.step(&chain, &mut sales)?;
//!     chain.apply(&TxId::derive("clock", &[&step.to_be_bytes()]), &Operation::Advance { seconds: 10 })?;
//! }
//! assert!(chain.balance(&host)? > U256::from(10_000_000u32), "paid, and its collateral back");
//! assert!(sales.agents()?.is_empty(), "the sale is over");
//! chain.snapshot()?.check()?;
//! # Ok::<(), tally_market::MarketError>(())
//! ```

use std::collections::{BTreeSet, VecDeque};

use primitive_types::U256;
use tally_store::Store;

use crate::error::MarketError;
use crate::marketplace::{ContractError, Event, Marketplace, Operation, Receipt};
use crate::sales::{
    Action, Effect, FillSlotError, FreeSlotError, Handled, Input, ProvingInfo, Reply, ReserveSlotError, Sales, SlotInfo,
};
use crate::types::{Address, SlotId, SlotRef, SlotState, TxId, keccak256};

/// The most effects one [`HostDriver::drive`] performs.
pub const MAX_DRIVE_EFFECTS: usize = 100_000;
/// How many receipts one poll of the chain reads.
const RECEIPTS_PER_POLL: usize = 1_000;

/// One host's link to the marketplace; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct HostDriver {
    host: Address,
    cursor: Option<u64>,
    /// Bytes per batch a simulated download reports (at least 1).
    pub batch_bytes: u64,
    /// The host never submits the proofs its sales generate (a broken
    /// prover): the marketplace will find them missing.
    pub skip_proofs: bool,
    /// Downloads of these slots fail.
    pub failing_downloads: BTreeSet<SlotId>,
}

fn refusal(error: MarketError) -> Result<String, MarketError> {
    match error {
        MarketError::Contract(refused) => Ok(refused.kind().to_owned()),
        other @ (MarketError::Overflow { .. } | MarketError::Limit { .. } | MarketError::Invalid { .. }) => {
            Ok(other.to_string())
        }
        other => Err(other),
    }
}

impl HostDriver {
    /// A driver for `host`, reading the chain's receipts from the oldest
    /// kept; downloads in batches of 256 bytes.
    pub fn new(host: Address) -> HostDriver {
        HostDriver {
            host,
            cursor: None,
            batch_bytes: 256,
            skip_proofs: false,
            failing_downloads: BTreeSet::new(),
        }
    }

    /// The host.
    pub fn host(&self) -> Address {
        self.host
    }

    /// The last receipt whose events were handed to the sales.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// Starts reading receipts after `cursor` (a host that persisted it).
    pub fn with_cursor(mut self, cursor: Option<u64>) -> Self {
        self.cursor = cursor;
        self
    }

    /// The transaction id of an effect: the host, the slot, how often the
    /// slot was freed, the effect's id and its operation. Performing the
    /// same effect again gives the same id (it applies once); a later sale
    /// of the same slot, whose effect ids start over, needs the slot freed
    /// first to act on it again, and so gets other ids.
    fn tx<S: Store>(
        &self,
        market: &Marketplace<S>,
        slot_id: &SlotId,
        effect: &Effect,
        op: &Operation,
    ) -> Result<TxId, MarketError> {
        let frees = market.slot(slot_id)?.map_or(0, |slot| slot.frees);
        Ok(TxId::derive(
            "sales effect",
            &[
                self.host.as_bytes(),
                slot_id.as_bytes(),
                &frees.to_be_bytes(),
                &effect.id.0.to_be_bytes(),
                op.name().as_bytes(),
            ],
        ))
    }

    fn apply<S: Store>(
        &self,
        market: &Marketplace<S>,
        slot_id: &SlotId,
        effect: &Effect,
        op: &Operation,
    ) -> Result<Receipt, MarketError> {
        market.apply(&self.tx(market, slot_id, effect, op)?, op)
    }

    /// Performs one effect of the sale of `slot_id`; returns the inputs to
    /// feed back (for a download, its batches and then its reply).
    ///
    /// # Errors
    /// Store errors (the effect may be performed again: it applies once).
    pub fn perform<S: Store>(
        &self,
        market: &Marketplace<S>,
        slot_id: &SlotId,
        effect: &Effect,
    ) -> Result<Vec<Input>, MarketError> {
        let reply = |reply| {
            Ok(vec![Input::Reply {
                effect: effect.id,
                reply,
            }])
        };
        let period = |market: &Marketplace<S>| -> Result<u64, MarketError> {
            Ok(market.now_secs()? / market.config().proofs.period_secs.max(1))
        };
        match &effect.action {
            Action::QuerySlot { slot } => {
                let info = match market.request(&slot.request_id)? {
                    Some(record) => SlotInfo {
                        slot_state: market.slot_state(&slot.id())?,
                        request_end_secs: record.ends_at_secs,
                        request_expires_at_secs: record.expires_at_secs,
                        request: Some(record.request),
                    },
                    None => SlotInfo {
                        request: None,
                        slot_state: SlotState::Free,
                        request_end_secs: 0,
                        request_expires_at_secs: 0,
                    },
                };
                reply(Reply::Slot(info))
            }
            Action::ReserveSlot { slot } => {
                let op = Operation::ReserveSlot {
                    host: self.host,
                    request_id: slot.request_id,
                    slot_index: slot.slot_index,
                };
                let result = match self.apply(market, slot_id, effect, &op) {
                    Ok(_) => Ok(()),
                    Err(MarketError::Contract(ContractError::ReservationNotAllowed { .. })) => {
                        Err(ReserveSlotError::NotAllowed)
                    }
                    Err(error) => Err(ReserveSlotError::Market(refusal(error)?)),
                };
                reply(Reply::SlotReserved(result))
            }
            Action::FetchData {
                request,
                slot_index,
                from_bytes,
                ..
            } => {
                if self.failing_downloads.contains(slot_id) {
                    return reply(Reply::DataStored(Err(format!(
                        "slot {slot_index} of the dataset could not be fetched"
                    ))));
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
                inputs.push(Input::Reply {
                    effect: effect.id,
                    reply: Reply::DataStored(Ok(())),
                });
                Ok(inputs)
            }
            Action::QueryChallenge { slot_id } => reply(Reply::Randomness(market.randomness(slot_id, period(market)?))),
            Action::GenerateProof { challenge, .. } => reply(Reply::ProofGenerated(Ok(keccak256(challenge).to_vec()))),
            Action::FillSlot { slot, proof, .. } => {
                let op = Operation::FillSlot {
                    host: self.host,
                    request_id: slot.request_id,
                    slot_index: slot.slot_index,
                    proof: proof.clone(),
                };
                let result = match self.apply(market, slot_id, effect, &op) {
                    Ok(_) => Ok(()),
                    Err(MarketError::Contract(ContractError::SlotNotFree(_))) => Err(FillSlotError::SlotNotFree),
                    Err(error) => Err(FillSlotError::Market(refusal(error)?)),
                };
                reply(Reply::SlotFillResult(result))
            }
            Action::QueryHost { slot_id } => reply(Reply::Host(market.slot(slot_id)?.and_then(|slot| slot.host))),
            Action::UpdateExpiry { .. } => reply(Reply::ExpiryUpdated(Ok(()))),
            Action::QueryProving { slot_id } => {
                let started = market.slot(slot_id)?.map_or(0, |slot| slot.proofs_started_at_secs);
                reply(Reply::Proving(ProvingInfo {
                    slot_state: market.slot_state(slot_id)?,
                    slot_started_at_secs: started,
                    randomness: market.randomness(slot_id, period(market)?),
                }))
            }
            Action::SubmitProof { slot_id, proof, .. } => {
                if self.skip_proofs {
                    return reply(Reply::ProofSubmitted(
                        Err("this host does not submit its proofs".into()),
                    ));
                }
                let op = Operation::SubmitProof {
                    host: self.host,
                    slot_id: *slot_id,
                    proof: proof.clone(),
                };
                let result = match self.apply(market, slot_id, effect, &op) {
                    Ok(_) => Ok(()),
                    Err(error) => Err(refusal(error)?),
                };
                reply(Reply::ProofSubmitted(result))
            }
            Action::FreeSlot { slot_id } => {
                let current_collateral = market
                    .slot(slot_id)?
                    .map_or(U256::zero(), |slot| slot.current_collateral);
                let op = Operation::FreeSlot {
                    host: self.host,
                    slot_id: *slot_id,
                };
                let result = match self.apply(market, slot_id, effect, &op) {
                    Ok(_) => Ok(()),
                    Err(MarketError::Contract(
                        ContractError::AlreadyPaid | ContractError::SlotIsFree(_) | ContractError::InvalidSlotHost,
                    )) => Err(FreeSlotError::StateMismatch),
                    Err(error) => Err(FreeSlotError::Market(refusal(error)?)),
                };
                reply(Reply::SlotFreed {
                    current_collateral,
                    result,
                })
            }
            Action::CheckRequestState { request_id } => reply(Reply::RequestState(market.request_state(request_id)?)),
            Action::ClearData { .. } => reply(Reply::DataCleared),
            // The sales shell performs these itself; they never reach a host.
            Action::ReserveBytes { .. } | Action::ReleaseBytes { .. } | Action::CleanUp { .. } => Ok(Vec::new()),
        }
    }

    /// Hands the events of the receipts applied since the last call to
    /// `sales` (its queue and agents); returns what the agents did.
    ///
    /// # Errors
    /// Store errors; as the [`Sales`] event methods.
    pub fn dispatch<S: Store, T: Store>(
        &mut self,
        market: &Marketplace<S>,
        sales: &mut Sales<T>,
    ) -> Result<Vec<Handled>, MarketError> {
        let now = market.now_secs()?;
        let mut out = Vec::new();
        loop {
            let receipts = market.receipts_after(self.cursor, RECEIPTS_PER_POLL)?;
            let Some(last) = receipts.last().map(|r| r.seq) else {
                return Ok(out);
            };
            let gap = match (self.cursor, receipts.first()) {
                (Some(cursor), Some(first)) => first.seq > cursor + 1,
                _ => false,
            };
            if gap {
                // Receipts were forgotten before this host read them: find
                // out from the chain where its own slots are.
                out.extend(sales.load(&market.my_slots(&self.host)?, now)?);
            }
            for receipt in &receipts {
                self.deliver(market, sales, receipt, now, &mut out)?;
            }
            self.cursor = Some(last);
        }
    }

    fn deliver<S: Store, T: Store>(
        &self,
        market: &Marketplace<S>,
        sales: &mut Sales<T>,
        receipt: &Receipt,
        now: u64,
        out: &mut Vec<Handled>,
    ) -> Result<(), MarketError> {
        for event in &receipt.outcome.events {
            match event {
                Event::StorageRequested {
                    request_id,
                    ask,
                    expiry_secs,
                } => match sales.on_storage_requested(*request_id, ask, *expiry_secs) {
                    // A request with more slots than the queue indexes is not for us.
                    Ok(_) | Err(MarketError::SlotsOutOfRange { .. }) => {}
                    Err(error) => return Err(error),
                },
                Event::SlotFilled { request_id, slot_index } => out.extend(sales.on_slot_filled(
                    SlotRef {
                        request_id: *request_id,
                        slot_index: *slot_index,
                    },
                    now,
                )?),
                Event::SlotFreed { request_id, slot_index } => {
                    if let Some(record) = market.request(request_id)? {
                        match sales.on_slot_freed(&record.request, *slot_index, record.expires_at_secs) {
                            Ok(())
                            | Err(MarketError::SlotQueueItemExists { .. } | MarketError::SlotsOutOfRange { .. }) => {}
                            Err(error) => return Err(error),
                        }
                    }
                }
                Event::SlotReservationsFull { request_id, slot_index } => {
                    sales.on_slot_reservations_full(SlotRef {
                        request_id: *request_id,
                        slot_index: *slot_index,
                    });
                }
                Event::RequestFulfilled { request_id } => out.extend(sales.on_request_fulfilled(request_id, now)?),
                Event::RequestCancelled { request_id } => out.extend(sales.on_request_cancelled(request_id, now)?),
                Event::RequestFailed { request_id } => out.extend(sales.on_request_failed(request_id, now)?),
                Event::ProofSubmitted { .. } => {}
            }
        }
        Ok(())
    }

    /// Performs every effect in `work` (and every effect those lead to,
    /// and the events they cause) until nothing is left; returns everything
    /// the agents did, in order.
    ///
    /// # Errors
    /// As [`Sales::handle`] and [`perform`](Self::perform);
    /// [`MarketError::Limit`] after [`MAX_DRIVE_EFFECTS`].
    pub fn drive<S: Store, T: Store>(
        &mut self,
        market: &Marketplace<S>,
        sales: &mut Sales<T>,
        work: Vec<Handled>,
    ) -> Result<Vec<Handled>, MarketError> {
        let now = market.now_secs()?;
        let mut log = Vec::new();
        let mut todo: VecDeque<Handled> = work.into();
        let mut performed = 0;
        loop {
            while let Some(handled) = todo.pop_front() {
                for effect in &handled.effects {
                    performed += 1;
                    if performed > MAX_DRIVE_EFFECTS {
                        return Err(MarketError::Limit {
                            what: "effects in one drive",
                            max: MAX_DRIVE_EFFECTS as u64,
                        });
                    }
                    for input in self.perform(market, &handled.slot_id, effect)? {
                        match sales.handle(&handled.slot_id, input, now) {
                            Ok(next) => todo.push_back(next),
                            // The agent finished meanwhile; the rest is stale.
                            Err(MarketError::AgentNotFound { .. }) => break,
                            Err(error) => return Err(error),
                        }
                    }
                }
                log.push(handled);
            }
            let events = self.dispatch(market, sales)?;
            if events.is_empty() {
                return Ok(log);
            }
            todo.extend(events);
        }
    }

    /// One step of the host at the chain's time: new events are handed
    /// over, free workers start sales, due deadlines tick, and every effect
    /// is driven to completion. Returns everything the agents did.
    ///
    /// # Errors
    /// As [`drive`](Self::drive).
    pub fn step<S: Store, T: Store>(
        &mut self,
        market: &Marketplace<S>,
        sales: &mut Sales<T>,
    ) -> Result<Vec<Handled>, MarketError> {
        let now = market.now_secs()?;
        let mut work = self.dispatch(market, sales)?;
        while let Some(started) = sales.start_next_sale(now)? {
            work.push(started);
        }
        work.extend(sales.tick(now)?);
        self.drive(market, sales, work)
    }
}

/// A validator's round: marks missing every proof that can be marked now
/// (each filled slot, each period still inside its validation window),
/// rewarding `validator`; returns the receipts. Reads every slot.
///
/// # Errors
/// Store errors.
pub fn validate<S: Store>(market: &Marketplace<S>, validator: Address) -> Result<Vec<Receipt>, MarketError> {
    let snapshot = market.snapshot()?;
    let proofs = market.config().proofs;
    let period_secs = proofs.period_secs.max(1);
    let current = snapshot.now_secs() / period_secs;
    let window = proofs.timeout_secs / period_secs + 1;
    let mut receipts = Vec::new();
    for slot in snapshot.slots()? {
        if slot.state != SlotState::Filled {
            continue;
        }
        for period in current.saturating_sub(window)..current {
            if snapshot.can_mark_proof_as_missing(&slot.id, period).is_err() {
                continue;
            }
            let op = Operation::MarkProofAsMissing {
                validator,
                slot_id: slot.id,
                period,
            };
            let tx = TxId::derive(
                "validator",
                &[validator.as_bytes(), slot.id.as_bytes(), &period.to_be_bytes()],
            );
            match market.apply(&tx, &op) {
                Ok(receipt) => receipts.push(receipt),
                // Another validator got there first, or the slot was freed
                // by an earlier mark of this round.
                Err(MarketError::Contract(_)) => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(receipts)
}
