//! Sales: the [state machine](machine) of each slot a host sells, and
//! [`Sales`], the shell that keeps the agents in a [`Store`] next to the
//! host's [`Reservations`] and feeds the [slot queue](crate::slot_queue).
//!
//! The host drives it: it tells [`Sales`] what the market said
//! ([`on_storage_requested`](Sales::on_storage_requested),
//! [`on_slot_filled`](Sales::on_slot_filled), ...), starts sales while it
//! has workers ([`start_next_sale`](Sales::start_next_sale)), performs the
//! [`Effect`]s it gets back and reports their outcome
//! ([`handle`](Sales::handle)), and calls [`tick`](Sales::tick) when
//! [`next_deadline`](Sales::next_deadline) passes. Each call is one atomic
//! commit of the agent's new state together with whatever it did to the
//! reservations, so a crash at any point leaves a sale and its bytes in
//! agreement; [`load`](Sales::load) after a restart resumes every sale
//! where it was and returns the bytes of reservations no sale owns.

pub mod machine;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use primitive_types::U256;
use tally_store::{Store, Txn, transact};

pub use machine::{
    Action, Agent, Effect, EffectId, ErrorReason, FillSlotError, FreeSlotError, Input, Notification, ProvingInfo,
    Reply, ReservationRef, ReserveBytesError, ReserveSlotError, ReturnedCollateral, SaleState, SalesConfig, SlotInfo,
    Step, apply,
};

use crate::error::MarketError;
use crate::keys;
use crate::reservations::rules::{self, FindQuery, ReservationSpec};
use crate::reservations::{self as shell, Reservations};
use crate::slot_queue::{SlotQueue, SlotQueueItem};
use crate::types::{RequestId, ReservationId, SlotId, SlotRef, SlotState, StorageAsk, StorageRequest, slot_collateral};

/// The most sales agents one store holds.
pub const MAX_AGENTS: usize = 10_000;
/// The most internal effects one step may chain (a bound on the loop that
/// feeds internal replies back into the machine).
const MAX_INTERNAL_STEPS: usize = 64;

/// How the shell runs its queue and workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesOptions {
    /// The slot queue's size (Codex: 128).
    pub queue_max_size: u16,
    /// Seeds the queue's tie-break (pick at random once per host).
    pub queue_salt: [u8; 32],
    /// How many sales may be between Preparing and Filled at once (Codex: 3).
    pub max_workers: u16,
}

impl Default for SalesOptions {
    fn default() -> Self {
        SalesOptions {
            queue_max_size: crate::slot_queue::DEFAULT_MAX_SIZE,
            queue_salt: [0; 32],
            max_workers: 3,
        }
    }
}

/// What one call did to one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The slot.
    pub slot_id: SlotId,
    /// Effects for the host to perform now (internal ones are done).
    pub effects: Vec<Effect>,
    /// State changes and other news, in order.
    pub notifications: Vec<Notification>,
    /// The agent's state after the call.
    pub state: SaleState,
    /// The sale is over; the agent is gone.
    pub done: bool,
}

struct Committed {
    handled: Handled,
    requeue: Option<SlotQueueItem>,
    saved: bool,
}

/// The sales of one host, on a [`Store`]; see the [module docs](self).
#[derive(Debug)]
pub struct Sales<S> {
    reservations: Reservations<S>,
    config: SalesConfig,
    queue: SlotQueue,
    max_workers: u16,
}

/// The deterministic id of a slot's reservation (one per slot).
pub fn reservation_id_for(slot_id: &SlotId) -> ReservationId {
    ReservationId(crate::types::OpId::derive("sales reservation", &[slot_id.as_bytes()]).0)
}

impl<S: Store> Sales<S> {
    /// Sales over `reservations` (which must be open on the store the
    /// agents live in).
    ///
    /// # Errors
    /// [`MarketError::Invalid`] when `max_workers` is 0 or exceeds the
    /// queue size, or the queue size is 0, or the proof period is 0.
    pub fn new(reservations: Reservations<S>, config: SalesConfig, options: SalesOptions) -> Result<Self, MarketError> {
        if options.max_workers == 0 || options.max_workers > options.queue_max_size {
            return Err(MarketError::Invalid {
                field: "max_workers",
                reason: format!(
                    "{} workers for a queue of {}: at least one, at most the queue size",
                    options.max_workers, options.queue_max_size
                ),
            });
        }
        config.proofs.periodicity()?;
        Ok(Sales {
            queue: SlotQueue::new(options.queue_max_size, options.queue_salt)?,
            reservations,
            config,
            max_workers: options.max_workers,
        })
    }

    /// The reservations.
    pub fn reservations(&self) -> &Reservations<S> {
        &self.reservations
    }

    /// The configuration.
    pub fn config(&self) -> &SalesConfig {
        &self.config
    }

    /// The slot queue.
    pub fn queue(&self) -> &SlotQueue {
        &self.queue
    }

    /// The slot queue, to push or delete by hand.
    pub fn queue_mut(&mut self) -> &mut SlotQueue {
        &mut self.queue
    }

    fn store(&self) -> &S {
        self.reservations.store()
    }

    /// Every agent, by slot id.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn agents(&self) -> Result<Vec<Agent>, MarketError> {
        let mut out = Vec::new();
        for entry in tally_store::scan_all(self.store(), &keys::agent_prefix(), 1_000) {
            let entry = entry?;
            let agent = tally_store::codec::decode(&entry.value)
                .map_err(|error| MarketError::Store(tally_store::StoreError::codec(&entry.key, error)))?;
            out.push(agent);
            if out.len() > MAX_AGENTS {
                return Err(MarketError::Limit {
                    what: "sales agents",
                    max: MAX_AGENTS as u64,
                });
            }
        }
        Ok(out)
    }

    /// One agent.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn agent(&self, slot_id: &SlotId) -> Result<Option<Agent>, MarketError> {
        shell::read_as(self.store(), &keys::agent(slot_id))
    }

    /// The effects the slot's agent still owes the host: after a call
    /// failed with a store error (its commit may have applied, and its
    /// effects would then be lost), or after a restart.
    ///
    /// # Errors
    /// Store and decoding errors.
    pub fn pending_effects(&self, slot_id: &SlotId) -> Result<Vec<Effect>, MarketError> {
        Ok(self.agent(slot_id)?.map_or_else(Vec::new, |agent| {
            agent
                .pending
                .into_iter()
                .filter(|effect| !effect.action.is_internal())
                .collect()
        }))
    }

    /// The earliest deadline of any agent: call [`tick`](Self::tick) then.
    ///
    /// # Errors
    /// As [`agents`](Self::agents).
    pub fn next_deadline(&self) -> Result<Option<u64>, MarketError> {
        Ok(self.agents()?.iter().filter_map(Agent::next_deadline).min())
    }

    // ----- market events ------------------------------------------------------

    /// A `StorageRequested` event: every slot of the request joins the queue
    /// (slots already queued are skipped).
    ///
    /// # Errors
    /// [`MarketError::SlotsOutOfRange`]; [`MarketError::Overflow`].
    pub fn on_storage_requested(
        &mut self,
        request_id: RequestId,
        ask: &StorageAsk,
        expires_at_secs: u64,
    ) -> Result<usize, MarketError> {
        let collateral = slot_collateral(ask, SlotState::Free, self.config.repair_reward_percentage)?;
        let items = SlotQueueItem::expand(request_id, ask, Some(expires_at_secs), collateral)?;
        let mut queued = 0;
        for item in items {
            if self.queue.push(item).is_ok() {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// A `SlotFreed` event: the slot joins the queue for repair, with the
    /// repair collateral.
    ///
    /// # Errors
    /// [`MarketError::SlotsOutOfRange`] for an index beyond `u16`;
    /// [`MarketError::SlotQueueItemExists`]; [`MarketError::Overflow`].
    pub fn on_slot_freed(
        &mut self,
        request: &StorageRequest,
        slot_index: u64,
        expires_at_secs: u64,
    ) -> Result<(), MarketError> {
        let index = u16::try_from(slot_index).map_err(|_| MarketError::SlotsOutOfRange { slots: slot_index })?;
        let collateral = slot_collateral(&request.ask, SlotState::Repair, self.config.repair_reward_percentage)?;
        let item = SlotQueueItem::new(request.id()?, index, &request.ask, Some(expires_at_secs), collateral);
        self.queue.push(item).map(drop)
    }

    /// A `SlotFilled` event: the slot leaves the queue, and its agent (if
    /// any) hears of it.
    ///
    /// # Errors
    /// Store errors.
    pub fn on_slot_filled(&mut self, slot: SlotRef, now_secs: u64) -> Result<Option<Handled>, MarketError> {
        if let Ok(index) = u16::try_from(slot.slot_index) {
            self.queue.delete(&slot.request_id, index);
        }
        self.deliver(&slot.id(), Input::SlotFilled, now_secs)
    }

    /// A `SlotReservationsFull` event: the slot leaves the queue.
    pub fn on_slot_reservations_full(&mut self, slot: SlotRef) {
        if let Ok(index) = u16::try_from(slot.slot_index) {
            self.queue.delete(&slot.request_id, index);
        }
    }

    /// The request's slots leave the queue and its agents are cancelled
    /// (call this once the chain reports the request Cancelled).
    ///
    /// # Errors
    /// Store errors.
    pub fn on_request_cancelled(&mut self, request_id: &RequestId, now_secs: u64) -> Result<Vec<Handled>, MarketError> {
        self.queue.delete_request(request_id);
        self.deliver_to_request(request_id, Input::RequestCancelled, now_secs)
    }

    /// A `RequestFailed` event.
    ///
    /// # Errors
    /// Store errors.
    pub fn on_request_failed(&mut self, request_id: &RequestId, now_secs: u64) -> Result<Vec<Handled>, MarketError> {
        self.queue.delete_request(request_id);
        self.deliver_to_request(request_id, Input::RequestFailed, now_secs)
    }

    /// A `RequestFulfilled` event: no more slots to take; no cancellation.
    ///
    /// # Errors
    /// Store errors.
    pub fn on_request_fulfilled(&mut self, request_id: &RequestId, now_secs: u64) -> Result<Vec<Handled>, MarketError> {
        self.queue.delete_request(request_id);
        self.deliver_to_request(request_id, Input::RequestFulfilled, now_secs)
    }

    /// An availability now offers more (the [`Applied::saved`](crate::Applied)
    /// flag of a reservations call): queued slots become unseen and the
    /// queue unpauses (Codex's `OnAvailabilitySaved`).
    pub fn on_availability_saved(&mut self) {
        self.queue.clear_seen_flags();
        self.queue.unpause();
    }

    fn deliver(&mut self, slot_id: &SlotId, input: Input, now_secs: u64) -> Result<Option<Handled>, MarketError> {
        match self.handle(slot_id, input, now_secs) {
            Ok(handled) => Ok(Some(handled)),
            Err(MarketError::AgentNotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    fn deliver_to_request(
        &mut self,
        request_id: &RequestId,
        input: Input,
        now_secs: u64,
    ) -> Result<Vec<Handled>, MarketError> {
        let slots: Vec<SlotId> = self
            .agents()?
            .into_iter()
            .filter(|agent| agent.slot.request_id == *request_id)
            .map(|agent| agent.slot_id)
            .collect();
        let mut out = Vec::new();
        for slot_id in slots {
            out.extend(self.deliver(&slot_id, input.clone(), now_secs)?);
        }
        Ok(out)
    }

    // ----- driving agents -------------------------------------------------------

    /// Starts a sale of the best queued slot, if a worker is free (fewer
    /// than `max_workers` sales between Preparing and Filled) and the queue
    /// gives one. Slots that already have an agent are skipped.
    ///
    /// # Errors
    /// Store errors; [`MarketError::Limit`] with [`MAX_AGENTS`] agents.
    pub fn start_next_sale(&mut self, now_secs: u64) -> Result<Option<Handled>, MarketError> {
        let agents = self.agents()?;
        let busy = agents.iter().filter(|agent| agent.state.occupies_worker()).count();
        if busy >= usize::from(self.max_workers) {
            return Ok(None);
        }
        if agents.len() >= MAX_AGENTS {
            return Err(MarketError::Limit {
                what: "sales agents",
                max: MAX_AGENTS as u64,
            });
        }
        let taken: BTreeSet<SlotId> = agents.iter().map(|agent| agent.slot_id).collect();
        while let Some(item) = self.queue.pop() {
            let slot_id = item.slot().id();
            if taken.contains(&slot_id) {
                continue;
            }
            let config = &self.config;
            let committed = transact(self.store(), self.reservations.retry(), |txn| {
                if txn.get(&keys::agent(&slot_id))?.is_some() {
                    return Ok::<_, MarketError>(None);
                }
                let step = Agent::start(item.clone(), now_secs, config);
                run_and_persist(txn, step, now_secs, config).map(Some)
            })?;
            if let Some(committed) = committed {
                return Ok(Some(self.after_commit(committed)));
            }
        }
        Ok(None)
    }

    /// Applies `input` to the slot's agent, performs the internal effects
    /// and commits the agent's new state with them, atomically.
    ///
    /// # Errors
    /// [`MarketError::AgentNotFound`]; the machine's errors (the agent is
    /// unchanged then); store errors (the call may be repeated: a reply to
    /// an effect that already got one is ignored, and the agent's
    /// [`pending`](Agent::pending) effects say what is still owed).
    pub fn handle(&mut self, slot_id: &SlotId, input: Input, now_secs: u64) -> Result<Handled, MarketError> {
        let config = &self.config;
        let committed = transact(self.store(), self.reservations.retry(), |txn| {
            let agent: Agent = txn
                .get_as(&keys::agent(slot_id))?
                .ok_or(MarketError::AgentNotFound { slot_id: *slot_id })?;
            let step = apply(&agent, input.clone(), now_secs, config)?;
            run_and_persist(txn, step, now_secs, config)
        })?;
        Ok(self.after_commit(committed))
    }

    /// Sends [`Input::Tick`] to every agent whose deadline has come.
    ///
    /// # Errors
    /// As [`handle`](Self::handle).
    pub fn tick(&mut self, now_secs: u64) -> Result<Vec<Handled>, MarketError> {
        let due: Vec<SlotId> = self
            .agents()?
            .into_iter()
            .filter(|agent| agent.next_deadline().is_some_and(|at| at <= now_secs))
            .map(|agent| agent.slot_id)
            .collect();
        let mut out = Vec::new();
        for slot_id in due {
            out.extend(self.deliver(&slot_id, Input::Tick, now_secs)?);
        }
        Ok(out)
    }

    /// Start-up (Codex's `Sales.load`): `my_slots` are the slots the chain
    /// lists as this host's.
    ///
    /// - each listed slot without an agent gets one in Unknown (adopting
    ///   the slot's reservation, if there is one);
    /// - each agent that had filled its slot (Filled, Proving, Payout) but
    ///   whose slot is no longer listed goes to Unknown to find out why;
    /// - every reservation no agent owns is deleted, its bytes and
    ///   collateral returned (Codex's `deleteInactiveReservations`);
    /// - every agent's pending effects are returned, so the host resumes
    ///   each sale where it was.
    ///
    /// # Errors
    /// Store errors.
    pub fn load(&mut self, my_slots: &[SlotRef], now_secs: u64) -> Result<Vec<Handled>, MarketError> {
        let listed: BTreeSet<SlotId> = my_slots.iter().map(SlotRef::id).collect();
        let mut resumed: BTreeMap<SlotId, Handled> = BTreeMap::new();
        let config = &self.config;
        for agent in self.agents()? {
            let stale = matches!(agent.state, SaleState::Filled | SaleState::Proving | SaleState::Payout)
                && !listed.contains(&agent.slot_id);
            let handled = if stale {
                let slot_id = agent.slot_id;
                let committed = transact(self.store(), self.reservations.retry(), |txn| {
                    let current: Agent = txn
                        .get_as(&keys::agent(&slot_id))?
                        .ok_or(MarketError::AgentNotFound { slot_id })?;
                    let step = current.resync(now_secs, config);
                    run_and_persist(txn, step, now_secs, config)
                })?;
                committed.handled
            } else {
                Handled {
                    slot_id: agent.slot_id,
                    effects: agent
                        .pending
                        .iter()
                        .filter(|e| !e.action.is_internal())
                        .cloned()
                        .collect(),
                    notifications: Vec::new(),
                    state: agent.state,
                    done: agent.done,
                }
            };
            resumed.insert(agent.slot_id, handled);
        }
        for slot in my_slots {
            let slot_id = slot.id();
            if resumed.contains_key(&slot_id) {
                continue;
            }
            let committed = transact(self.store(), self.reservations.retry(), |txn| {
                if txn.get(&keys::agent(&slot_id))?.is_some() {
                    return Ok::<_, MarketError>(None);
                }
                let holder: Option<ReservationId> =
                    txn.get_as(&keys::slot_reservation(&slot.request_id, slot.slot_index))?;
                let reservation = match holder {
                    Some(id) => shell::load_reservation(txn, &id)?.map(|r| ReservationRef {
                        id: r.id,
                        availability_id: r.availability_id,
                    }),
                    None => None,
                };
                let step = Agent::restored(*slot, reservation, now_secs, config);
                run_and_persist(txn, step, now_secs, config).map(Some)
            })?;
            if let Some(committed) = committed {
                resumed.insert(slot_id, committed.handled);
            }
        }
        self.delete_inactive_reservations()?;
        Ok(resumed.into_values().collect())
    }

    /// Deletes every reservation no agent owns, returning its bytes and all
    /// its collateral; returns how many.
    fn delete_inactive_reservations(&mut self) -> Result<usize, MarketError> {
        let owned: BTreeSet<ReservationId> = self
            .agents()?
            .iter()
            .filter_map(|agent| agent.reservation.as_ref().map(|r| r.id))
            .collect();
        let mut deleted = 0;
        let mut after: Option<ReservationId> = None;
        loop {
            let page = self.reservations.reservations(after.as_ref(), 1_000)?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for reservation in page.iter().filter(|r| !owned.contains(&r.id)) {
                let applied = transact(self.store(), self.reservations.retry(), |txn| {
                    // Re-check ownership inside the commit: no agent may have
                    // adopted it meanwhile (agents name their reservation).
                    let slot_id = reservation.slot().id();
                    if let Some(agent) = txn.get_as::<Agent>(&keys::agent(&slot_id))?
                        && agent.reservation.as_ref().is_some_and(|r| r.id == reservation.id)
                    {
                        return Ok::<_, MarketError>(None);
                    }
                    let current = shell::load_reservation(txn, &reservation.id)?;
                    let returned = current.map_or(U256::zero(), |r| r.collateral);
                    shell::delete_reservation_in(txn, &reservation.id, returned).map(|(_, applied)| Some(applied))
                })?;
                if let Some(applied) = applied {
                    deleted += usize::from(applied.changed);
                    if applied.saved {
                        self.on_availability_saved();
                    }
                }
            }
        }
        Ok(deleted)
    }

    fn after_commit(&mut self, committed: Committed) -> Handled {
        if let Some(item) = committed.requeue {
            // Already queued (a new event got there first) is fine.
            let _ = self.queue.push(item);
        }
        if committed.saved {
            self.on_availability_saved();
        }
        committed.handled
    }
}

/// Performs the step's internal effects inside `txn`, feeding their replies
/// back into the machine, then buffers the agent's new state.
fn run_and_persist<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    step: Step,
    now_secs: u64,
    config: &SalesConfig,
) -> Result<Committed, MarketError> {
    let mut agent = step.agent;
    let mut notifications = step.notifications;
    let mut queue: VecDeque<Effect> = step.effects.into();
    let mut external = Vec::new();
    let mut requeue = None;
    let mut saved = false;
    let mut steps = 0;
    while let Some(effect) = queue.pop_front() {
        if !effect.action.is_internal() {
            external.push(effect);
            continue;
        }
        steps += 1;
        if steps > MAX_INTERNAL_STEPS {
            return Err(MarketError::Limit {
                what: "internal effects in one step",
                max: MAX_INTERNAL_STEPS as u64,
            });
        }
        let reply = match &effect.action {
            Action::ReserveBytes { slot, query } => reserve_bytes(txn, slot, query)?,
            Action::ReleaseBytes {
                reservation_id,
                bytes,
                op,
            } => match shell::release_in(txn, reservation_id, *bytes, *op) {
                Ok(_) => Reply::BytesReleased(Ok(())),
                Err(error @ (MarketError::Store(_) | MarketError::Corrupt { .. })) => return Err(error),
                Err(refused) => Reply::BytesReleased(Err(refused.to_string())),
            },
            Action::CleanUp {
                reservation_id,
                returned_collateral,
                requeue: item,
            } => {
                if let Some(id) = reservation_id
                    && let Some(reservation) = shell::load_reservation(txn, id)?
                {
                    let returned = match returned_collateral {
                        ReturnedCollateral::Full => reservation.collateral,
                        ReturnedCollateral::Amount(amount) => (*amount).min(reservation.collateral),
                    };
                    let (_, applied) = shell::delete_reservation_in(txn, id, returned)?;
                    saved |= applied.saved;
                }
                requeue.clone_from(item);
                Reply::CleanedUp
            }
            _ => continue,
        };
        let next = apply(
            &agent,
            Input::Reply {
                effect: effect.id,
                reply,
            },
            now_secs,
            config,
        )?;
        agent = next.agent;
        notifications.extend(next.notifications);
        queue.extend(next.effects);
    }
    // Effects issued before a state change that dropped them are not owed.
    external.retain(|effect| agent.pending.iter().any(|pending| pending.id == effect.id));
    let key = keys::agent(&agent.slot_id);
    if agent.done {
        txn.delete(key);
    } else {
        txn.put_as(key, &agent)?;
    }
    Ok(Committed {
        handled: Handled {
            slot_id: agent.slot_id,
            effects: external,
            notifications,
            state: agent.state,
            done: agent.done,
        },
        requeue,
        saved,
    })
}

/// Finds an availability and reserves the slot's bytes in it.
fn reserve_bytes<S: Store + ?Sized>(
    txn: &mut Txn<'_, S>,
    slot: &SlotRef,
    query: &FindQuery,
) -> Result<Reply, MarketError> {
    let (found, _) = shell::find_in_store(txn.store(), query)?;
    let Some(found) = found else {
        return Ok(Reply::BytesReserved(Err(ReserveBytesError::NoMatchingAvailability)));
    };
    // The search read outside this transaction; re-check through it.
    match shell::load_availability(txn, &found.id)? {
        Some(current) if rules::matches(&current, query) => {}
        _ => return Ok(Reply::BytesReserved(Err(ReserveBytesError::AvailabilityMismatch))),
    }
    let spec = ReservationSpec {
        id: reservation_id_for(&slot.id()),
        availability_id: found.id,
        size_bytes: query.size_bytes,
        request_id: slot.request_id,
        slot_index: slot.slot_index,
        collateral_per_byte: query.collateral_per_byte,
        valid_until_secs: query.valid_until_secs,
    };
    Ok(Reply::BytesReserved(match shell::create_reservation_in(txn, &spec) {
        Ok(applied) => Ok(ReservationRef {
            id: applied.value.id,
            availability_id: applied.value.availability_id,
        }),
        Err(
            MarketError::BytesOutOfBounds { .. }
            | MarketError::CollateralOutOfBounds { .. }
            | MarketError::UntilOutOfBounds { .. },
        ) => Err(ReserveBytesError::AvailabilityMismatch),
        Err(error @ (MarketError::Store(_) | MarketError::Corrupt { .. })) => return Err(error),
        Err(refused) => Err(ReserveBytesError::Refused(refused.to_string())),
    }))
}
