//! [`Connector`]: the shell. Loads what the core needs from a [`Store`],
//! calls the core, commits the result in one atomic commit (retried on
//! conflict). Every call is idempotent: calling it again after an error,
//! even a lost acknowledgement, applies nothing twice.
//!
//! Any number of `Connector`s (threads, processes, machines) may share one
//! store; each is a **worker** with its own [`WorkerId`] and owns the
//! payments it accepts. The key layout is in [`keys`](crate::keys).

use std::sync::{PoisonError, RwLock};

use serde::{Deserialize, Serialize};
use tally_store::{RetryPolicy, Store, StoreError, Txn, scan_all, transact};

use crate::account::{AccountConfig, AccountId, WorkerId};
use crate::balance::{self, BalanceChange, BalanceParts};
use crate::error::ConnectorError;
use crate::forward::{
    self, Downstream, ForwardPolicy, IgnoredEvent, IncomingPrepare, Payment, PaymentId, PaymentState, RejectReason,
    Transition, Upstream,
};
use crate::keys;
use crate::reconcile::{self, LogEntry};
use crate::routing::{LiquidityCurve, RouteChoice, RouteTable};

/// The most expired payments one [`Connector::handle_timeouts`] or
/// [`Connector::recover`] call resolves; call again for more.
pub const MAX_TIMEOUTS_PER_CALL: usize = 1_000;

const PAGE: usize = 256;

/// `(prefix, account, fulfilled)`: one payment's effect on a route's counts.
type RouteFeedback = (Vec<u8>, AccountId, bool);

/// An account's stored record: its configuration and its cold balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account's configuration.
    pub config: AccountConfig,
    /// The cold balance, shared by every worker.
    pub cold: BalanceParts,
}

/// An account's balances as stored: the cold record and every hot slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalances {
    /// The account's configuration.
    pub config: AccountConfig,
    /// The cold record.
    pub cold: BalanceParts,
    /// Each hot slot, by slot number.
    pub slots: Vec<BalanceParts>,
    /// Every record added up, counter by counter (moves cancel out).
    pub total: BalanceParts,
}

impl AccountBalances {
    /// The account's balance: the formula over every record.
    pub fn balance(&self) -> i128 {
        self.total.balance().unwrap_or(i128::MIN)
    }
}

/// How a [`Connector`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Forwarding rules (our address, expiry margins).
    pub policy: ForwardPolicy,
    /// How to pick among accounts announcing the same prefix.
    pub route_choice: RouteChoice,
    /// Retries on commit conflicts.
    pub retry: RetryPolicy,
}

impl ConnectorConfig {
    /// A configuration for the connector at `address` with default rules.
    pub fn new(address: impl Into<Vec<u8>>) -> Self {
        ConnectorConfig {
            policy: ForwardPolicy::new(address),
            route_choice: RouteChoice::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// What the connector decided for an incoming Prepare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrepareOutcome {
    /// Send this Prepare to `to` (the amount is prepared on its balance).
    Forward(OutgoingPrepare),
    /// Reply upstream with this (a reject, or, for a duplicate of a payment
    /// that has ended, its final reply).
    Reply(Upstream),
    /// A duplicate of a payment whose outgoing leg timed out; its reject
    /// was sent by the timer.
    TimedOut,
}

/// A Prepare to send to the next hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingPrepare {
    /// The payment.
    pub payment: PaymentId,
    /// The next hop's account.
    pub to: AccountId,
    /// The outgoing transfer id (CLP transferId; BTP hosts map it to a
    /// request id).
    pub transfer_id: [u8; 16],
    /// The amount, in `to`'s units.
    pub amount: u64,
    /// When it lapses, ms since the Unix epoch.
    pub expires_at_ms: u64,
    /// The condition, unchanged.
    pub execution_condition: [u8; 32],
    /// The destination, unchanged.
    pub destination: Vec<u8>,
    /// The data, unchanged.
    pub data: Vec<u8>,
}

/// What the connector did with a downstream event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolved {
    /// Applied: send `reply` upstream to `from` for `incoming_transfer_id`.
    Upstream {
        /// The payment.
        payment: PaymentId,
        /// The account the payment came from.
        from: AccountId,
        /// Its incoming transfer id.
        incoming_transfer_id: [u8; 16],
        /// The reply.
        reply: Upstream,
    },
    /// Another worker owns the payment: hand the event to it.
    ToOwner(WorkerId),
    /// A repeat of an event already applied; nothing changed. Re-send
    /// `reply` if present.
    Duplicate {
        /// The payment.
        payment: PaymentId,
        /// The final reply, if it was not sent by the timer.
        reply: Option<Upstream>,
    },
    /// Nothing changed (no such payment, or it ended another way).
    Ignored(IgnoredEvent),
    /// No payment has this outgoing transfer id.
    Unknown,
}

/// The connector's shell over a store: one atomic, idempotent commit per
/// event, any number of workers on one store.
#[derive(Debug)]
pub struct Connector<S> {
    store: S,
    worker: WorkerId,
    config: ConnectorConfig,
    routes: RwLock<RouteTable>,
}

fn decode_err(error: tally_store::key::KeyError) -> ConnectorError {
    ConnectorError::Key(error)
}

impl<S: Store> Connector<S> {
    /// Worker `worker` of a connector on `store`; loads the announced routes.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] for an address that is not a
    /// valid ILP address; store errors reading the routes.
    pub fn new(store: S, worker: WorkerId, config: ConnectorConfig) -> Result<Self, ConnectorError> {
        if tally_ilp::address::validate_address(&config.policy.address).is_err() {
            return Err(ConnectorError::InvalidConfig {
                reason: "the connector's address is not an ILP address",
            });
        }
        let connector = Connector {
            store,
            worker,
            config,
            routes: RwLock::new(RouteTable::new()),
        };
        connector.reload_routes()?;
        Ok(connector)
    }

    /// This worker's id.
    pub fn worker(&self) -> WorkerId {
        self.worker
    }

    /// The configuration.
    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// A copy of the route table as this worker sees it (with its own
    /// success and failure counts).
    pub fn routes(&self) -> RouteTable {
        self.routes.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Re-reads the announced routes from the store (other workers'
    /// announcements), keeping this worker's counts.
    ///
    /// # Errors
    /// Store errors; [`ConnectorError::Store`] with a codec error for a
    /// corrupt route record.
    pub fn reload_routes(&self) -> Result<(), ConnectorError> {
        let prefix = keys::route_prefix();
        let mut fresh = RouteTable::new();
        for entry in scan_all(&self.store, &prefix, PAGE) {
            let entry = entry?;
            let mut reader = tally_store::key::KeyReader::new(keys::NAMESPACE, &entry.key).map_err(decode_err)?;
            let _kind = reader.str().map_err(decode_err)?;
            let route_prefix = reader.bytes().map_err(decode_err)?;
            let account = AccountId::new(reader.str().map_err(decode_err)?)?;
            let curve: LiquidityCurve =
                tally_store::codec::decode(&entry.value).map_err(|error| StoreError::codec(&entry.key, error))?;
            fresh.announce(&route_prefix, account, curve)?;
        }
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        // Keep the counts this worker has gathered for routes still announced.
        fresh.keep_counts_from(&routes);
        *routes = fresh;
        Ok(())
    }

    /// Opens account `id` with `config`, or updates its limits. Idempotent.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] for a bad configuration or a
    /// change of parallelism (slots would be orphaned); store errors.
    pub fn open_account(&self, id: &AccountId, config: AccountConfig) -> Result<(), ConnectorError> {
        config.validate()?;
        let key = keys::account(id);
        transact(&self.store, &self.config.retry, |txn| {
            let record = match txn.get_as::<AccountRecord>(&key)? {
                Some(existing) if existing.config.parallelism != config.parallelism => {
                    return Err(ConnectorError::InvalidConfig {
                        reason: "an account's parallelism cannot change",
                    });
                }
                Some(existing) if existing.config == config => return Ok(()),
                Some(existing) => AccountRecord {
                    config: config.clone(),
                    cold: existing.cold,
                },
                None => AccountRecord {
                    config: config.clone(),
                    cold: BalanceParts::default(),
                },
            };
            txn.put_as(key.clone(), &record)?;
            Ok(())
        })
    }

    /// Announces that `account` reaches `prefix` with `curve`, for every
    /// worker (others see it after [`Connector::reload_routes`]).
    ///
    /// # Errors
    /// [`ConnectorError::UnknownAccount`]; the table's limits; store errors.
    pub fn announce_route(
        &self,
        prefix: &[u8],
        account: &AccountId,
        curve: LiquidityCurve,
    ) -> Result<(), ConnectorError> {
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .announce(prefix, account.clone(), curve.clone())?;
        transact(&self.store, &self.config.retry, |txn| {
            load_account(txn, account)?;
            txn.put_as(keys::route(prefix, account), &curve)?;
            Ok::<_, ConnectorError>(())
        })
    }

    /// Withdraws `account`'s route to `prefix`.
    ///
    /// # Errors
    /// Store errors.
    pub fn withdraw_route(&self, prefix: &[u8], account: &AccountId) -> Result<(), ConnectorError> {
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .withdraw(prefix, account);
        transact(&self.store, &self.config.retry, |txn| {
            txn.delete(keys::route(prefix, account));
            Ok::<_, ConnectorError>(())
        })
    }

    /// The account's balances: the cold record, every slot and the total.
    ///
    /// # Errors
    /// [`ConnectorError::UnknownAccount`]; store errors.
    pub fn balances(&self, id: &AccountId) -> Result<AccountBalances, ConnectorError> {
        transact(&self.store, &self.config.retry, |txn| {
            let record = load_account(txn, id)?;
            let slots = load_slots(txn, id, record.config.parallelism)?;
            let mut total = record.cold;
            for slot in &slots {
                total = total.plus(slot).ok_or(ConnectorError::overflow("account total"))?;
            }
            Ok(AccountBalances {
                config: record.config,
                cold: record.cold,
                slots,
                total,
            })
        })
    }

    /// Credits `amount` that the peer paid us unconditionally (a
    /// settlement, a deposit) to the cold balance. `operation` identifies
    /// the credit: the same id again applies nothing. Returns whether it
    /// applied now.
    ///
    /// # Errors
    /// [`ConnectorError::UnknownAccount`], [`ConnectorError::Overflow`]; store errors.
    pub fn credit(&self, id: &AccountId, operation: [u8; 16], amount: u64) -> Result<bool, ConnectorError> {
        self.coordinated(
            id,
            operation,
            |_, _, _| Ok(()),
            |cold, _| Ok((cold.apply(BalanceChange::IncomingUnconditional(amount))?, None)),
        )
    }

    /// Pays the peer `amount` unconditionally out of the cold balance, if
    /// every slot's share stays covered ([`balance::check_coordinated`]).
    /// Idempotent by `operation`; returns whether it applied now.
    ///
    /// # Errors
    /// [`ConnectorError::InsufficientBalance`]; as [`Connector::credit`].
    pub fn pay_out(&self, id: &AccountId, operation: [u8; 16], amount: u64) -> Result<bool, ConnectorError> {
        self.coordinated(
            id,
            operation,
            |config, cold, hots| {
                balance::check_coordinated(config, cold, hots, None, -i128::from(amount), 0).map_err(|available| {
                    ConnectorError::InsufficientBalance {
                        account: id.clone(),
                        amount,
                        available,
                    }
                })
            },
            |cold, _| Ok((cold.apply(BalanceChange::OutgoingUnconditional(amount))?, None)),
        )
    }

    /// Moves `amount` from the cold balance into this worker's hot slot (or
    /// back, with `to_hot = false`) in one commit, if no other slot's share
    /// drops below zero. Idempotent by `operation`; returns whether it
    /// applied now.
    ///
    /// # Errors
    /// [`ConnectorError::InsufficientBalance`]; as [`Connector::credit`].
    pub fn move_balance(
        &self,
        id: &AccountId,
        operation: [u8; 16],
        amount: u64,
        to_hot: bool,
    ) -> Result<bool, ConnectorError> {
        let signed = i128::from(amount);
        let (cold_delta, hot_delta) = if to_hot { (-signed, signed) } else { (signed, -signed) };
        let worker = self.worker;
        self.coordinated(
            id,
            operation,
            |config, cold, hots| {
                let slot = config.slot_of(worker) as usize;
                balance::check_coordinated(config, cold, hots, Some(slot), cold_delta, hot_delta).map_err(|available| {
                    ConnectorError::InsufficientBalance {
                        account: id.clone(),
                        amount,
                        available,
                    }
                })
            },
            |cold, config| {
                let slot = config.slot_of(worker);
                let (cold_change, hot_change) = if to_hot {
                    (BalanceChange::MovedOut(amount), BalanceChange::MovedIn(amount))
                } else {
                    (BalanceChange::MovedIn(amount), BalanceChange::MovedOut(amount))
                };
                Ok((cold.apply(cold_change)?, Some((slot, hot_change))))
            },
        )
    }

    /// One coordinated operation on an account: reads the account and every
    /// slot, checks, applies to the cold record (and maybe one slot), marks
    /// `operation` done.
    fn coordinated(
        &self,
        id: &AccountId,
        operation: [u8; 16],
        check: impl Fn(&AccountConfig, i128, &[i128]) -> Result<(), ConnectorError>,
        apply: impl Fn(
            &BalanceParts,
            &AccountConfig,
        ) -> Result<(BalanceParts, Option<(u32, BalanceChange)>), balance::BalanceError>,
    ) -> Result<bool, ConnectorError> {
        let marker = keys::operation(id, &operation);
        transact(&self.store, &self.config.retry, |txn| {
            if txn.get(&marker)?.is_some() {
                return Ok(false);
            }
            let mut record = load_account(txn, id)?;
            let slots = load_slots(txn, id, record.config.parallelism)?;
            let cold = record.cold.balance().ok_or(ConnectorError::overflow("cold balance"))?;
            let hots = slots
                .iter()
                .map(|s| s.balance().ok_or(ConnectorError::overflow("hot balance")))
                .collect::<Result<Vec<_>, _>>()?;
            check(&record.config, cold, &hots)?;
            let (cold_after, hot) = apply(&record.cold, &record.config).map_err(|e| balance_error(id, e))?;
            record.cold = cold_after;
            if let Some((slot, change)) = hot {
                let index = slot as usize;
                let next = slots
                    .get(index)
                    .ok_or_else(|| ConnectorError::Inconsistent("slot out of range".into()))?
                    .apply(change)
                    .map_err(|e| balance_error(id, e))?;
                txn.put_as(keys::slot(id, slot), &next)?;
            }
            txn.put_as(keys::account(id), &record)?;
            txn.put(marker.clone(), Vec::new());
            Ok(true)
        })
    }

    /// Handles a Prepare from `incoming.from` at `now_ms`: checks it (the
    /// order is in [`forward`]), and either refuses it or prepares the
    /// outgoing amount and records the payment with this worker as owner,
    /// in one commit.
    ///
    /// A duplicate (same account and transfer id) changes nothing and gets
    /// the first answer again, or the final reply if the payment has ended.
    ///
    /// # Errors
    /// [`ConnectorError::UnknownAccount`] when `from` was never opened;
    /// store errors (retrying the call is safe).
    pub fn handle_prepare(&self, incoming: &IncomingPrepare, now_ms: u64) -> Result<PrepareOutcome, ConnectorError> {
        let id = PaymentId::of(&incoming.from, &incoming.transfer_id);
        let payment_key = keys::payment(&id);
        let policy = &self.config.policy;
        // The route is chosen outside the transaction: a heuristic over
        // balances read without preconditions.
        let chosen = {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            let mut balance_of = |account: &AccountId| self.balances(account).ok().map(|b| b.balance());
            routes.route(
                &incoming.destination,
                Some(&incoming.from),
                &self.config.route_choice,
                &mut balance_of,
            )
        };
        transact(&self.store, &self.config.retry, |txn| {
            if let Some(existing) = txn.get_as::<Payment>(&payment_key)? {
                return Ok(outcome_of(&existing, incoming));
            }
            let from = load_account(txn, &incoming.from)?;
            let plan = match forward::plan(policy, incoming, chosen.clone(), now_ms) {
                Ok(plan) => plan,
                Err(reason) => {
                    let payment = forward::refused(incoming, &from.config, self.worker, reason.clone());
                    txn.put_as(payment_key.clone(), &payment)?;
                    return Ok(PrepareOutcome::Reply(Upstream::Reject(reason)));
                }
            };
            let to = load_account(txn, &plan.route.account)?;
            let slot = to.config.slot_of(self.worker);
            let slot_key = keys::slot(&plan.route.account, slot);
            let hot: BalanceParts = txn.get_as(&slot_key)?.unwrap_or_default();
            let cold_balance = to.cold.balance().ok_or(ConnectorError::overflow("cold balance"))?;
            let hot_balance = hot.balance().ok_or(ConnectorError::overflow("hot balance"))?;
            if let Err(refusal) = balance::check_outgoing(&to.config, cold_balance, hot_balance, plan.amount) {
                let reason = forward::refusal_reject(policy, refusal, plan.amount);
                let payment = forward::refused(incoming, &from.config, self.worker, reason.clone());
                txn.put_as(payment_key.clone(), &payment)?;
                return Ok(PrepareOutcome::Reply(Upstream::Reject(reason)));
            }
            let to_account = plan.route.account.clone();
            let (payment, change) = forward::forwarded(incoming, &from.config, self.worker, plan, slot);
            let next_hot = hot.apply(change).map_err(|e| balance_error(&to_account, e))?;
            let leg = payment
                .outgoing
                .as_ref()
                .ok_or_else(|| ConnectorError::Inconsistent("forwarded payment without a leg".into()))?;
            txn.put_as(slot_key, &next_hot)?;
            txn.put_as(keys::outgoing(&leg.to, &leg.transfer_id), &id)?;
            txn.put_as(keys::condition(&incoming.execution_condition, &id), &self.worker)?;
            txn.put(keys::expiry(leg.expires_at_ms, &id), Vec::new());
            txn.put_as(payment_key.clone(), &payment)?;
            Ok(outcome_of(&payment, incoming))
        })
    }

    /// The next hop `to` fulfilled our outgoing transfer `transfer_id`.
    ///
    /// # Errors
    /// Store errors (retrying is safe).
    pub fn handle_fulfill(
        &self,
        to: &AccountId,
        transfer_id: &[u8; 16],
        fulfillment: [u8; 32],
        now_ms: u64,
    ) -> Result<Resolved, ConnectorError> {
        self.downstream(to, transfer_id, Downstream::Fulfilled { fulfillment }, now_ms)
    }

    /// The next hop `to` rejected our outgoing transfer `transfer_id`.
    ///
    /// # Errors
    /// Store errors (retrying is safe).
    pub fn handle_reject(
        &self,
        to: &AccountId,
        transfer_id: &[u8; 16],
        reason: RejectReason,
        now_ms: u64,
    ) -> Result<Resolved, ConnectorError> {
        self.downstream(to, transfer_id, Downstream::Rejected(reason), now_ms)
    }

    fn downstream(
        &self,
        to: &AccountId,
        transfer_id: &[u8; 16],
        event: Downstream,
        now_ms: u64,
    ) -> Result<Resolved, ConnectorError> {
        let index = keys::outgoing(to, transfer_id);
        let resolved = transact(&self.store, &self.config.retry, |txn| {
            let Some(id) = txn.get_as::<PaymentId>(&index)? else {
                return Ok((Resolved::Unknown, None));
            };
            self.apply_event(txn, &id, event.clone(), false, now_ms)
        })?;
        Ok(self.count_route(resolved))
    }

    /// The owner's timer: resolves this worker's in-flight payments whose
    /// outgoing leg has expired at `now_ms` as timed out (`R00` upstream),
    /// earliest first, at most [`MAX_TIMEOUTS_PER_CALL`].
    ///
    /// # Errors
    /// Store errors (retrying is safe).
    pub fn handle_timeouts(&self, now_ms: u64) -> Result<Vec<Resolved>, ConnectorError> {
        self.expire(now_ms, false)
    }

    /// Start-up recovery: marks **every** in-flight payment past its expiry
    /// at `now_ms` as timed out, whatever worker owns it, releasing its
    /// prepared amount (at most [`MAX_TIMEOUTS_PER_CALL`] per call).
    ///
    /// # Errors
    /// Store errors (retrying is safe).
    pub fn recover(&self, now_ms: u64) -> Result<Vec<Resolved>, ConnectorError> {
        self.expire(now_ms, true)
    }

    fn expire(&self, now_ms: u64, take_over: bool) -> Result<Vec<Resolved>, ConnectorError> {
        let prefix = keys::expiry_prefix();
        let mut due = Vec::new();
        for entry in scan_all(&self.store, &prefix, PAGE) {
            let entry = entry?;
            let (expires_at_ms, id) = keys::parse_expiry(&entry.key)
                .ok_or_else(|| ConnectorError::Inconsistent("malformed expiry key".into()))?;
            if due.len() >= MAX_TIMEOUTS_PER_CALL || !crate::hotset::is_expired(expires_at_ms, now_ms) {
                break;
            }
            due.push((expires_at_ms, id));
        }
        let mut out = Vec::new();
        for (_, id) in crate::hotset::expired_at_start_up(due, now_ms) {
            let resolved = transact(&self.store, &self.config.retry, |txn| {
                self.apply_event(txn, &id, Downstream::Expired, take_over, now_ms)
            })?;
            match self.count_route(resolved) {
                Resolved::ToOwner(_) | Resolved::Ignored(_) => {}
                resolved => out.push(resolved),
            }
        }
        Ok(out)
    }

    /// Loads the payment, runs the core transition, writes its effects.
    fn apply_event(
        &self,
        txn: &mut Txn<'_, S>,
        id: &PaymentId,
        event: Downstream,
        take_over: bool,
        now_ms: u64,
    ) -> Result<(Resolved, Option<RouteFeedback>), ConnectorError> {
        let payment_key = keys::payment(id);
        let Some(payment) = txn.get_as::<Payment>(&payment_key)? else {
            return Err(ConnectorError::Inconsistent("an index names a missing payment".into()));
        };
        match forward::on_downstream(&self.config.policy, &payment, event, self.worker, take_over, now_ms) {
            Transition::ToOwner(owner) => Ok((Resolved::ToOwner(owner), None)),
            Transition::Duplicate(reply) => Ok((Resolved::Duplicate { payment: *id, reply }, None)),
            Transition::Ignored(reason) => Ok((Resolved::Ignored(reason), None)),
            Transition::Apply {
                next,
                changes,
                route_feedback,
                upstream,
            } => {
                for change in &changes {
                    let key = keys::slot(&change.account, change.slot);
                    let parts: BalanceParts = txn.get_as(&key)?.unwrap_or_default();
                    let after = parts
                        .apply(change.change)
                        .map_err(|e| balance_error(&change.account, e))?;
                    txn.put_as(key, &after)?;
                }
                if let Some(leg) = &next.outgoing {
                    txn.delete(keys::expiry(leg.expires_at_ms, id));
                    txn.delete(keys::condition(&next.execution_condition, id));
                    reconcile::log_legs(txn, &next)?;
                }
                txn.put_as(payment_key, &next)?;
                Ok((
                    Resolved::Upstream {
                        payment: *id,
                        from: next.from.clone(),
                        incoming_transfer_id: next.incoming_transfer_id,
                        reply: upstream,
                    },
                    Some(route_feedback),
                ))
            }
        }
    }

    fn count_route(&self, (resolved, feedback): (Resolved, Option<RouteFeedback>)) -> Resolved {
        if let Some((prefix, account, success)) = feedback {
            self.routes
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .record(&prefix, &account, success);
        }
        resolved
    }

    /// The payment `id`, if recorded.
    ///
    /// # Errors
    /// Store errors.
    pub fn payment(&self, id: &PaymentId) -> Result<Option<Payment>, ConnectorError> {
        transact(&self.store, &self.config.retry, |txn| {
            Ok(txn.get_as::<Payment>(&keys::payment(id))?)
        })
    }

    /// The in-flight payments locked on `condition`, with their owners:
    /// where a fulfillment seen by any worker (say, on a ledger all workers
    /// watch) must be handed.
    ///
    /// # Errors
    /// Store errors.
    pub fn owners_of_condition(&self, condition: &[u8; 32]) -> Result<Vec<(PaymentId, WorkerId)>, ConnectorError> {
        let prefix = keys::condition_prefix(condition);
        let mut out = Vec::new();
        for entry in scan_all(&self.store, &prefix, PAGE).take(crate::routing::MAX_ACCOUNTS_PER_PREFIX) {
            let entry = entry?;
            let id: [u8; 32] = entry.key[prefix.len()..]
                .try_into()
                .map_err(|_| ConnectorError::Inconsistent("malformed hot set key".into()))?;
            let owner: WorkerId =
                tally_store::codec::decode(&entry.value).map_err(|error| StoreError::codec(&entry.key, error))?;
            out.push((PaymentId(id), owner));
        }
        Ok(out)
    }

    /// The transfer log of `account` (both directions), in expiry order,
    /// for reconciliation.
    ///
    /// # Errors
    /// Store errors.
    pub fn transfer_log(&self, account: &AccountId, from_ms: u64, to_ms: u64) -> Result<Vec<LogEntry>, ConnectorError> {
        reconcile::read_log(&self.store, account, from_ms, to_ms)
    }

    /// Step 1 of reconciliation: our final transfers with `account` that
    /// expired in `[from_ms, to_ms)`, as the message to send. Resolves any
    /// expired payment first (so the range is complete); `to_ms` must not
    /// be after `now_ms`.
    ///
    /// # Errors
    /// [`ConnectorError::Protocol`] for a range not yet wholly expired;
    /// [`ConnectorError::Limit`] for a range over
    /// [`MAX_RANGE_ENTRIES`](crate::reconcile::MAX_RANGE_ENTRIES); store errors.
    pub fn reconcile_range(
        &self,
        account: &AccountId,
        from_ms: u64,
        to_ms: u64,
        now_ms: u64,
    ) -> Result<reconcile::ReconcileMessage, ConnectorError> {
        if to_ms > now_ms {
            return Err(ConnectorError::protocol("a reconcile range must have expired"));
        }
        while !self.recover(now_ms)?.is_empty() {}
        Ok(reconcile::ReconcileMessage::Range {
            from_ms,
            to_ms,
            entries: reconcile::read_log(&self.store, account, from_ms, to_ms)?,
        })
    }

    /// Steps 2 and 3: handles a reconcile message from `account` at
    /// `now_ms` and returns the answer to send, if any. A `Range` is
    /// compared with our log and answered with the disputed set; when it is
    /// empty the range is recorded as resolved. A `PleaseReconcile` is
    /// answered with our `Range`. A `Disputed` answer is recorded as
    /// resolved when empty and returned to the caller otherwise (as
    /// [`ConnectorError`]-free data: `Ok(None)` means nothing to send).
    ///
    /// # Errors
    /// As [`Connector::reconcile_range`]; store errors.
    pub fn handle_reconcile(
        &self,
        account: &AccountId,
        message: &reconcile::ReconcileMessage,
        now_ms: u64,
    ) -> Result<Option<reconcile::ReconcileMessage>, ConnectorError> {
        use reconcile::ReconcileMessage as M;
        match message {
            M::Range {
                from_ms,
                to_ms,
                entries,
            } => {
                let (from_ms, to_ms) = (*from_ms, (*to_ms).min(now_ms));
                while !self.recover(now_ms)?.is_empty() {}
                let ours = reconcile::read_log(&self.store, account, from_ms, to_ms)?;
                let disputed = reconcile::compare(&ours, entries);
                if disputed.is_empty() {
                    self.mark_resolved(account, from_ms, to_ms)?;
                }
                Ok(Some(M::Disputed {
                    from_ms,
                    to_ms,
                    disputed,
                }))
            }
            M::PleaseReconcile { from_ms, to_ms } => Ok(Some(self.reconcile_range(
                account,
                *from_ms,
                (*to_ms).min(now_ms),
                now_ms,
            )?)),
            M::Disputed {
                from_ms,
                to_ms,
                disputed,
            } => {
                if disputed.is_empty() {
                    self.mark_resolved(account, *from_ms, *to_ms)?;
                }
                Ok(None)
            }
        }
    }

    /// The ranges agreed with `account` so far.
    ///
    /// # Errors
    /// Store errors.
    pub fn resolved_ranges(&self, account: &AccountId) -> Result<reconcile::ResolvedRanges, ConnectorError> {
        reconcile::read_resolved(&self.store, account)
    }

    fn mark_resolved(&self, account: &AccountId, from_ms: u64, to_ms: u64) -> Result<(), ConnectorError> {
        let key = keys::log_head(account);
        transact(&self.store, &self.config.retry, |txn| {
            let mut ranges: reconcile::ResolvedRanges = txn.get_as(&key)?.unwrap_or_default();
            ranges.insert(from_ms, to_ms)?;
            txn.put_as(key.clone(), &ranges)?;
            Ok::<_, ConnectorError>(())
        })
    }
}

fn outcome_of(payment: &Payment, incoming: &IncomingPrepare) -> PrepareOutcome {
    match (&payment.state, &payment.outgoing) {
        (PaymentState::Forwarded, Some(leg)) => PrepareOutcome::Forward(OutgoingPrepare {
            payment: payment.id,
            to: leg.to.clone(),
            transfer_id: leg.transfer_id,
            amount: leg.amount,
            expires_at_ms: leg.expires_at_ms,
            execution_condition: payment.execution_condition,
            destination: payment.destination.clone(),
            data: incoming.data.clone(),
        }),
        _ => match payment.upstream() {
            Some(reply) => PrepareOutcome::Reply(reply),
            None => PrepareOutcome::TimedOut,
        },
    }
}

fn balance_error(account: &AccountId, error: balance::BalanceError) -> ConnectorError {
    match error {
        balance::BalanceError::NotPrepared { amount, prepared } => ConnectorError::NotPrepared {
            account: account.clone(),
            amount,
            prepared,
        },
        _ => ConnectorError::overflow("balance counter"),
    }
}

fn load_account<S: Store>(txn: &mut Txn<'_, S>, id: &AccountId) -> Result<AccountRecord, ConnectorError> {
    txn.get_as::<AccountRecord>(&keys::account(id))?
        .ok_or_else(|| ConnectorError::UnknownAccount { account: id.clone() })
}

fn load_slots<S: Store>(
    txn: &mut Txn<'_, S>,
    id: &AccountId,
    parallelism: u32,
) -> Result<Vec<BalanceParts>, ConnectorError> {
    (0..parallelism)
        .map(|slot| Ok(txn.get_as::<BalanceParts>(&keys::slot(id, slot))?.unwrap_or_default()))
        .collect()
}
