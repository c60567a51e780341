//! The rules: TigerBeetle 0.17's state machine for `create_accounts`,
//! `create_transfers` and the expiry of pending transfers, as pure functions.
//!
//! Nothing here does I/O or reads a clock. A batch is decided against a
//! [`View`] of the ledger (the accounts and transfers it names; the shell
//! reads them from its store, a test from a map) and the caller's `now_ns`,
//! and yields one result per event plus the [`Changes`] to commit. Every
//! check runs in TigerBeetle's order, before any state changes, and the first
//! that applies decides the event's status.
//!
//! # Timestamps
//!
//! A batch of `n` events gets the timestamps `base + 1 ..= base + n`, where
//! `base = max(now_ns, last timestamp)`, so timestamps strictly increase
//! across the ledger's life even if the caller's clock steps back. Failed
//! events consume their timestamp too (it is the "time checked" of their
//! result), as in TigerBeetle.
//!
//! # Linked chains
//!
//! Events flagged `linked` form a chain with the event after them. The chain
//! applies in order (later events see earlier ones' effects) and all or
//! nothing: the first failing event gets its own status, the ones before it
//! are rolled back to `linked_event_failed`, and the ones after it get
//! `linked_event_failed` without being checked. A chain still open at the
//! end of the batch fails with `linked_event_chain_open` on its last event.

use serde::{Deserialize, Serialize};

use crate::id_hash::IdMap;
use crate::status::{CreateAccountResult, CreateAccountStatus, CreateTransferResult, CreateTransferStatus};
use crate::types::{
    Account, AccountBalance, AccountFlags, PendingStatus, TIMESTAMP_MAX_NS, Transfer, TransferFlags, TransferRecord,
};

/// What the store holds under a transfer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferSlot {
    /// A transfer that was applied.
    Applied(TransferRecord),
    /// An id burned by a transient failure: it can never be created.
    Failed,
}

/// One applied event, as the journal records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JournalEvent {
    /// An account was created (balances zero).
    AccountCreated(Account),
    /// A transfer was applied: single-phase, pending, post or void, with the
    /// amount actually moved and inherited fields filled in.
    TransferCreated(Transfer),
    /// The pending transfer `pending_id` expired at `timestamp`.
    TransferExpired {
        /// The expired pending transfer.
        pending_id: u128,
        /// When the expiry was applied.
        timestamp: u64,
    },
}

impl JournalEvent {
    /// The event's timestamp.
    pub fn timestamp(&self) -> u64 {
        match self {
            JournalEvent::AccountCreated(account) => account.timestamp,
            JournalEvent::TransferCreated(transfer) => transfer.timestamp,
            JournalEvent::TransferExpired { timestamp, .. } => *timestamp,
        }
    }
}

/// The ledger as the rules see it: the accounts and transfers by id.
///
/// Lookups may fail (a store read); the rules pass the error through. A
/// lookup of a key the batch changed is answered from the batch's own
/// changes and never reaches the view.
///
/// A view may be *torn*: the shell reads records one at a time while other
/// processes commit, so two records may come from different moments. The
/// rules therefore never assert relations *between* records (a pending
/// transfer older than the post, an account older than its transfer); what
/// cannot hold in a consistent ledger is reported as [`Inconsistent`], and
/// the shell only returns results and errors its commit (or a read check)
/// has confirmed came from one snapshot, retrying otherwise.
pub trait View {
    /// A failed lookup.
    type Error: From<Inconsistent>;

    /// The account `id`, if it exists.
    ///
    /// # Errors
    /// When the lookup fails.
    fn account(&mut self, id: u128) -> Result<Option<Account>, Self::Error>;

    /// What is stored under transfer id `id`, if anything.
    ///
    /// # Errors
    /// When the lookup fails.
    fn transfer(&mut self, id: u128) -> Result<Option<TransferSlot>, Self::Error>;
}

/// The stored state breaks an invariant the rules rely on (a pending
/// transfer whose account is missing, say): the store is corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger state is inconsistent: {what}")]
pub struct Inconsistent {
    /// What was found.
    pub what: String,
}

fn inconsistent(what: String) -> Inconsistent {
    Inconsistent { what }
}

/// The effects of one batch, to be committed atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// The new state of every account the batch created or changed.
    pub accounts: IdMap<Account>,
    /// The new state of every transfer id the batch wrote: applied
    /// transfers, pending transfers whose status changed, burned ids.
    pub transfers: IdMap<TransferSlot>,
    /// The applied events, in order, for the journal.
    pub events: Vec<JournalEvent>,
    /// Balances after each transfer, for accounts with the `history` flag.
    pub balances: Vec<(u128, AccountBalance)>,
    /// The last timestamp the batch assigned (`base + n`); the ledger's
    /// clock after the commit.
    pub timestamp_last_ns: u64,
}

/// The caller's clock is past the largest timestamp a batch may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timestamps would pass the maximum: now_ns {now_ns}, last {timestamp_last_ns}, {events} events")]
pub struct ClockOverflow {
    /// The caller's clock.
    pub now_ns: u64,
    /// The ledger's last timestamp.
    pub timestamp_last_ns: u64,
    /// The events to stamp.
    pub events: usize,
}

/// `base` for a batch of `events` events: `max(now_ns, last)`, checked so
/// that `base + events` stays a valid timestamp.
///
/// # Errors
/// [`ClockOverflow`] when it would not.
pub fn batch_base_ns(now_ns: u64, timestamp_last_ns: u64, events: usize) -> Result<u64, ClockOverflow> {
    let base = now_ns.max(timestamp_last_ns);
    let overflow = ClockOverflow {
        now_ns,
        timestamp_last_ns,
        events,
    };
    let events = u64::try_from(events).map_err(|_| overflow)?;
    match base.checked_add(events) {
        Some(last) if last <= TIMESTAMP_MAX_NS => Ok(base),
        _ => Err(overflow),
    }
}

enum Undo {
    Account(u128, Option<Account>),
    Transfer(u128, Option<TransferSlot>),
}

/// A batch in progress: the view plus the batch's own changes on top, with
/// an undo log while a linked chain is open.
struct Working<'v, V> {
    view: &'v mut V,
    changes: Changes,
    chain: Option<ChainMark>,
    undo: Vec<Undo>,
}

struct ChainMark {
    events_len: usize,
    balances_len: usize,
}

impl<'v, V: View> Working<'v, V> {
    fn new(view: &'v mut V, timestamp_last_ns: u64, events: usize) -> Self {
        // Sized up front: growing these maps mid-batch copies megabytes.
        let mut transfers = IdMap::default();
        // A post or void writes two slots: its own and its pending transfer's.
        transfers.reserve(events.saturating_mul(2));
        let mut accounts = IdMap::default();
        accounts.reserve(events.saturating_mul(2).min(1 << 16));
        Working {
            view,
            changes: Changes {
                accounts,
                transfers,
                events: Vec::with_capacity(events),
                balances: Vec::new(),
                timestamp_last_ns,
            },
            chain: None,
            undo: Vec::new(),
        }
    }

    fn account(&mut self, id: u128) -> Result<Option<Account>, V::Error> {
        match self.changes.accounts.get(&id) {
            Some(account) => Ok(Some(*account)),
            None => self.view.account(id),
        }
    }

    fn transfer(&mut self, id: u128) -> Result<Option<TransferSlot>, V::Error> {
        match self.changes.transfers.get(&id) {
            Some(slot) => Ok(Some(*slot)),
            None => self.view.transfer(id),
        }
    }

    fn applied_transfer(&mut self, id: u128) -> Result<Option<TransferRecord>, V::Error> {
        Ok(match self.transfer(id)? {
            Some(TransferSlot::Applied(record)) => Some(record),
            _ => None,
        })
    }

    fn existing_account(&mut self, id: u128, of: u128) -> Result<Account, V::Error> {
        self.account(id)?
            .ok_or_else(|| inconsistent(format!("account {id} of pending transfer {of} is missing")).into())
    }

    fn set_account(&mut self, account: Account) {
        let previous = self.changes.accounts.insert(account.id, account);
        if self.chain.is_some() {
            self.undo.push(Undo::Account(account.id, previous));
        }
    }

    fn set_transfer(&mut self, id: u128, slot: TransferSlot) {
        let previous = self.changes.transfers.insert(id, slot);
        if self.chain.is_some() {
            self.undo.push(Undo::Transfer(id, previous));
        }
    }

    fn record_balance(&mut self, account: &Account, timestamp: u64) {
        if account.flags.contains(AccountFlags::HISTORY) {
            self.changes.balances.push((account.id, account.balance_at(timestamp)));
        }
    }

    fn chain_open(&mut self) {
        debug_assert!(self.chain.is_none());
        debug_assert!(self.undo.is_empty());
        self.chain = Some(ChainMark {
            events_len: self.changes.events.len(),
            balances_len: self.changes.balances.len(),
        });
    }

    fn chain_persist(&mut self) {
        debug_assert!(self.chain.is_some());
        self.chain = None;
        self.undo.clear();
    }

    fn chain_discard(&mut self) {
        let Some(mark) = self.chain.take() else {
            debug_assert!(false, "no chain to discard");
            return;
        };
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Account(id, Some(previous)) => {
                    self.changes.accounts.insert(id, previous);
                }
                Undo::Account(id, None) => {
                    self.changes.accounts.remove(&id);
                }
                Undo::Transfer(id, Some(previous)) => {
                    self.changes.transfers.insert(id, previous);
                }
                Undo::Transfer(id, None) => {
                    self.changes.transfers.remove(&id);
                }
            }
        }
        self.changes.events.truncate(mark.events_len);
        self.changes.balances.truncate(mark.balances_len);
    }
}

/// The per-event outcome the batch driver needs from a kind of event.
trait Status: Copy + PartialEq {
    const CREATED: Self;
    const LINKED_EVENT_FAILED: Self;
    const LINKED_EVENT_CHAIN_OPEN: Self;
}

impl Status for CreateAccountStatus {
    const CREATED: Self = CreateAccountStatus::Created;
    const LINKED_EVENT_FAILED: Self = CreateAccountStatus::LinkedEventFailed;
    const LINKED_EVENT_CHAIN_OPEN: Self = CreateAccountStatus::LinkedEventChainOpen;
}

impl Status for CreateTransferStatus {
    const CREATED: Self = CreateTransferStatus::Created;
    const LINKED_EVENT_FAILED: Self = CreateTransferStatus::LinkedEventFailed;
    const LINKED_EVENT_CHAIN_OPEN: Self = CreateTransferStatus::LinkedEventChainOpen;
}

/// Runs a batch: chain structure, per-event rules, rollback of broken
/// chains. `apply` returns an event's status and result timestamp;
/// `failed` runs after a failure has been rolled back (to burn the id).
fn run_batch<V, E, St>(
    work: &mut Working<'_, V>,
    events: &[E],
    base_ns: u64,
    linked: impl Fn(&E) -> bool,
    mut apply: impl FnMut(&mut Working<'_, V>, u64, &E) -> Result<(St, u64), V::Error>,
    mut failed: impl FnMut(&mut Working<'_, V>, &E, St),
) -> Result<Vec<(u64, St)>, V::Error>
where
    V: View,
    St: Status,
{
    let mut results: Vec<(u64, St)> = Vec::with_capacity(events.len());
    let mut chain_start: Option<usize> = None;
    let mut chain_broken = false;
    for (index, event) in events.iter().enumerate() {
        // `index < events.len()` and `base + len` was checked not to overflow.
        let timestamp_event = base_ns.saturating_add(index as u64 + 1);
        let is_last = index + 1 == events.len();
        let (status, timestamp) = 'result: {
            if linked(event) {
                if chain_start.is_none() {
                    chain_start = Some(index);
                    debug_assert!(!chain_broken);
                    work.chain_open();
                }
                if is_last {
                    break 'result (St::LINKED_EVENT_CHAIN_OPEN, timestamp_event);
                }
            }
            if chain_broken {
                break 'result (St::LINKED_EVENT_FAILED, timestamp_event);
            }
            apply(work, timestamp_event, event)?
        };
        if status != St::CREATED {
            if let Some(start) = chain_start
                && !chain_broken
            {
                chain_broken = true;
                work.chain_discard();
                for earlier in &mut results[start..index] {
                    earlier.1 = St::LINKED_EVENT_FAILED;
                }
            }
            failed(work, event, status);
        }
        results.push((timestamp, status));
        if chain_start.is_some() && (!linked(event) || status == St::LINKED_EVENT_CHAIN_OPEN) {
            if !chain_broken {
                work.chain_persist();
            }
            chain_start = None;
            chain_broken = false;
        }
    }
    debug_assert!(chain_start.is_none());
    debug_assert!(work.chain.is_none());
    debug_assert_eq!(results.len(), events.len());
    Ok(results)
}

/// Decides a `create_accounts` batch against `view`; event `i` gets the
/// timestamp `base_ns + i + 1`. Take `base_ns` from [`batch_base_ns`], which
/// refuses a clock that would overflow (timestamps saturate otherwise).
///
/// The batch length is the caller's to limit (the shell refuses more than
/// [`BATCH_EVENTS_MAX`](crate::BATCH_EVENTS_MAX)).
///
/// # Errors
/// Only `view` errors (or [`Inconsistent`] state) pass through.
pub fn create_accounts<V: View>(
    view: &mut V,
    batch: &[Account],
    base_ns: u64,
) -> Result<(Vec<CreateAccountResult>, Changes), V::Error> {
    let mut work = Working::new(view, base_ns.saturating_add(batch.len() as u64), batch.len());
    let results = run_batch(
        &mut work,
        batch,
        base_ns,
        |account| account.flags.contains(AccountFlags::LINKED),
        create_account,
        |_, _, _| {},
    )?;
    let results = results
        .into_iter()
        .map(|(timestamp, status)| CreateAccountResult { timestamp, status })
        .collect();
    Ok((results, work.changes))
}

fn create_account<V: View>(
    work: &mut Working<'_, V>,
    timestamp: u64,
    a: &Account,
) -> Result<(CreateAccountStatus, u64), V::Error> {
    use CreateAccountStatus as S;
    let fail = |status| Ok((status, timestamp));
    if a.timestamp != 0 {
        return fail(S::TimestampMustBeZero);
    }
    if a.flags.has_reserved_bits() {
        return fail(S::ReservedFlag);
    }
    if a.id == 0 {
        return fail(S::IdMustNotBeZero);
    }
    if a.id == u128::MAX {
        return fail(S::IdMustNotBeIntMax);
    }
    if let Some(existing) = work.account(a.id)? {
        return match account_exists(a, &existing) {
            S::Exists => Ok((S::Exists, existing.timestamp)),
            status => fail(status),
        };
    }
    if a.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && a.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
    {
        return fail(S::FlagsAreMutuallyExclusive);
    }
    if a.debits_pending != 0 {
        return fail(S::DebitsPendingMustBeZero);
    }
    if a.debits_posted != 0 {
        return fail(S::DebitsPostedMustBeZero);
    }
    if a.credits_pending != 0 {
        return fail(S::CreditsPendingMustBeZero);
    }
    if a.credits_posted != 0 {
        return fail(S::CreditsPostedMustBeZero);
    }
    if a.ledger == 0 {
        return fail(S::LedgerMustNotBeZero);
    }
    if a.code == 0 {
        return fail(S::CodeMustNotBeZero);
    }
    let account = Account { timestamp, ..*a };
    work.set_account(account);
    work.changes.events.push(JournalEvent::AccountCreated(account));
    Ok((S::Created, timestamp))
}

fn account_exists(a: &Account, e: &Account) -> CreateAccountStatus {
    use CreateAccountStatus as S;
    debug_assert_eq!(a.id, e.id);
    if a.flags != e.flags {
        S::ExistsWithDifferentFlags
    } else if a.user_data_128 != e.user_data_128 {
        S::ExistsWithDifferentUserData128
    } else if a.user_data_64 != e.user_data_64 {
        S::ExistsWithDifferentUserData64
    } else if a.user_data_32 != e.user_data_32 {
        S::ExistsWithDifferentUserData32
    } else if a.ledger != e.ledger {
        S::ExistsWithDifferentLedger
    } else if a.code != e.code {
        S::ExistsWithDifferentCode
    } else {
        S::Exists
    }
}

/// Decides a `create_transfers` batch against `view`; event `i` gets the
/// timestamp `base_ns + i + 1` (see [`batch_base_ns`]).
///
/// # Errors
/// Only `view` errors (or [`Inconsistent`] state) pass through.
pub fn create_transfers<V: View>(
    view: &mut V,
    batch: &[Transfer],
    base_ns: u64,
) -> Result<(Vec<CreateTransferResult>, Changes), V::Error> {
    let mut work = Working::new(view, base_ns.saturating_add(batch.len() as u64), batch.len());
    let results = run_batch(
        &mut work,
        batch,
        base_ns,
        |transfer| transfer.flags.contains(TransferFlags::LINKED),
        create_transfer,
        |work, transfer, status: CreateTransferStatus| {
            // After the chain's rollback, so a burned id stays burned.
            if status.is_transient() {
                work.changes.transfers.insert(transfer.id, TransferSlot::Failed);
            }
        },
    )?;
    let results = results
        .into_iter()
        .map(|(timestamp, status)| CreateTransferResult { timestamp, status })
        .collect();
    Ok((results, work.changes))
}

fn create_transfer<V: View>(
    work: &mut Working<'_, V>,
    timestamp: u64,
    t: &Transfer,
) -> Result<(CreateTransferStatus, u64), V::Error> {
    use CreateTransferStatus as S;
    let fail = |status| Ok((status, timestamp));
    if t.timestamp != 0 {
        return fail(S::TimestampMustBeZero);
    }
    if t.flags.has_reserved_bits() {
        return fail(S::ReservedFlag);
    }
    if t.id == 0 {
        return fail(S::IdMustNotBeZero);
    }
    if t.id == u128::MAX {
        return fail(S::IdMustNotBeIntMax);
    }
    match work.transfer(t.id)? {
        Some(TransferSlot::Applied(existing)) => {
            return match transfer_exists(work, t, &existing.transfer)? {
                S::Exists => Ok((S::Exists, existing.transfer.timestamp)),
                status => fail(status),
            };
        }
        Some(TransferSlot::Failed) => return fail(S::IdAlreadyFailed),
        None => {}
    }
    let post = t.flags.contains(TransferFlags::POST_PENDING_TRANSFER);
    let void = t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
    if post || void {
        return post_or_void_pending_transfer(work, timestamp, t);
    }
    if t.debit_account_id == 0 {
        return fail(S::DebitAccountIdMustNotBeZero);
    }
    if t.debit_account_id == u128::MAX {
        return fail(S::DebitAccountIdMustNotBeIntMax);
    }
    if t.credit_account_id == 0 {
        return fail(S::CreditAccountIdMustNotBeZero);
    }
    if t.credit_account_id == u128::MAX {
        return fail(S::CreditAccountIdMustNotBeIntMax);
    }
    if t.credit_account_id == t.debit_account_id {
        return fail(S::AccountsMustBeDifferent);
    }
    if t.pending_id != 0 {
        return fail(S::PendingIdMustBeZero);
    }
    let pending = t.flags.contains(TransferFlags::PENDING);
    let closing_debit = t.flags.contains(TransferFlags::CLOSING_DEBIT);
    let closing_credit = t.flags.contains(TransferFlags::CLOSING_CREDIT);
    if !pending {
        if t.timeout != 0 {
            return fail(S::TimeoutReservedForPendingTransfer);
        }
        if closing_debit || closing_credit {
            return fail(S::ClosingTransferMustBePending);
        }
    }
    if t.ledger == 0 {
        return fail(S::LedgerMustNotBeZero);
    }
    if t.code == 0 {
        return fail(S::CodeMustNotBeZero);
    }
    let Some(dr) = work.account(t.debit_account_id)? else {
        return fail(S::DebitAccountNotFound);
    };
    let Some(cr) = work.account(t.credit_account_id)? else {
        return fail(S::CreditAccountNotFound);
    };
    if dr.ledger != cr.ledger {
        return fail(S::AccountsMustHaveTheSameLedger);
    }
    if t.ledger != dr.ledger {
        return fail(S::TransferMustHaveTheSameLedgerAsAccounts);
    }
    if dr.flags.contains(AccountFlags::CLOSED) {
        return fail(S::DebitAccountAlreadyClosed);
    }
    if cr.flags.contains(AccountFlags::CLOSED) {
        return fail(S::CreditAccountAlreadyClosed);
    }

    // The invariant `pending + posted` never overflows holds for every
    // stored account (the `overflows_debits` check below keeps it).
    let dr_total = dr.debits_posted.saturating_add(dr.debits_pending);
    let cr_total = cr.credits_posted.saturating_add(cr.credits_pending);
    let mut amount = t.amount;
    if t.flags.contains(TransferFlags::BALANCING_DEBIT) {
        amount = amount.min(dr.credits_posted.saturating_sub(dr_total));
    }
    if t.flags.contains(TransferFlags::BALANCING_CREDIT) {
        amount = amount.min(cr.debits_posted.saturating_sub(cr_total));
    }

    if pending {
        if amount.checked_add(dr.debits_pending).is_none() {
            return fail(S::OverflowsDebitsPending);
        }
        if amount.checked_add(cr.credits_pending).is_none() {
            return fail(S::OverflowsCreditsPending);
        }
    }
    if amount.checked_add(dr.debits_posted).is_none() {
        return fail(S::OverflowsDebitsPosted);
    }
    if amount.checked_add(cr.credits_posted).is_none() {
        return fail(S::OverflowsCreditsPosted);
    }
    if dr
        .debits_pending
        .checked_add(dr.debits_posted)
        .and_then(|total| total.checked_add(amount))
        .is_none()
    {
        return fail(S::OverflowsDebits);
    }
    if cr
        .credits_pending
        .checked_add(cr.credits_posted)
        .and_then(|total| total.checked_add(amount))
        .is_none()
    {
        return fail(S::OverflowsCredits);
    }
    match timestamp.checked_add(t.timeout_ns()) {
        Some(expires_at) if expires_at <= TIMESTAMP_MAX_NS => {}
        _ => return fail(S::OverflowsTimeout),
    }
    if dr.debits_exceed_credits(amount) {
        return fail(S::ExceedsCredits);
    }
    if cr.credits_exceed_debits(amount) {
        return fail(S::ExceedsDebits);
    }

    // From here on the transfer applies.
    let applied = Transfer {
        amount,
        timestamp,
        ..*t
    };
    let status = if pending {
        PendingStatus::Pending
    } else {
        PendingStatus::None
    };
    work.set_transfer(
        t.id,
        TransferSlot::Applied(TransferRecord {
            transfer: applied,
            status,
        }),
    );
    let mut dr_new = dr;
    let mut cr_new = cr;
    // Checked above; `checked_add` keeps the arithmetic honest regardless.
    let add = |a: u128, b: u128| {
        a.checked_add(b)
            .ok_or_else(|| inconsistent(format!("overflow applying transfer {}", t.id)))
    };
    if pending {
        dr_new.debits_pending = add(dr.debits_pending, amount)?;
        cr_new.credits_pending = add(cr.credits_pending, amount)?;
    } else {
        dr_new.debits_posted = add(dr.debits_posted, amount)?;
        cr_new.credits_posted = add(cr.credits_posted, amount)?;
    }
    if closing_debit {
        dr_new.flags = dr_new.flags.with(AccountFlags::CLOSED);
    }
    if closing_credit {
        cr_new.flags = cr_new.flags.with(AccountFlags::CLOSED);
    }
    debug_assert!(!dr_new.debits_exceed_credits(0));
    debug_assert!(!cr_new.credits_exceed_debits(0));
    work.set_account(dr_new);
    work.set_account(cr_new);
    work.changes.events.push(JournalEvent::TransferCreated(applied));
    work.record_balance(&dr_new, timestamp);
    work.record_balance(&cr_new, timestamp);
    Ok((S::Created, timestamp))
}

fn transfer_exists<V: View>(
    work: &mut Working<'_, V>,
    t: &Transfer,
    e: &Transfer,
) -> Result<CreateTransferStatus, V::Error> {
    use CreateTransferStatus as S;
    debug_assert_eq!(t.id, e.id);
    // The flags change what the other fields mean, so they come first.
    if t.flags != e.flags {
        return Ok(S::ExistsWithDifferentFlags);
    }
    if t.pending_id != e.pending_id {
        return Ok(S::ExistsWithDifferentPendingId);
    }
    if t.timeout != e.timeout {
        return Ok(S::ExistsWithDifferentTimeout);
    }
    if t.flags.contains(TransferFlags::POST_PENDING_TRANSFER) || t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
    {
        let Some(p) = work.applied_transfer(t.pending_id)? else {
            return Err(inconsistent(format!(
                "pending transfer {} of transfer {} is missing",
                t.pending_id, e.id
            ))
            .into());
        };
        return Ok(post_or_void_exists(t, e, &p.transfer));
    }
    if t.debit_account_id != e.debit_account_id {
        return Ok(S::ExistsWithDifferentDebitAccountId);
    }
    if t.credit_account_id != e.credit_account_id {
        return Ok(S::ExistsWithDifferentCreditAccountId);
    }
    // A balancing transfer's `amount` is a maximum; a retry with a maximum
    // at least what was moved is the same request.
    let balancing =
        t.flags.contains(TransferFlags::BALANCING_DEBIT) || t.flags.contains(TransferFlags::BALANCING_CREDIT);
    if (balancing && t.amount < e.amount) || (!balancing && t.amount != e.amount) {
        return Ok(S::ExistsWithDifferentAmount);
    }
    Ok(if t.user_data_128 != e.user_data_128 {
        S::ExistsWithDifferentUserData128
    } else if t.user_data_64 != e.user_data_64 {
        S::ExistsWithDifferentUserData64
    } else if t.user_data_32 != e.user_data_32 {
        S::ExistsWithDifferentUserData32
    } else if t.ledger != e.ledger {
        S::ExistsWithDifferentLedger
    } else if t.code != e.code {
        S::ExistsWithDifferentCode
    } else {
        S::Exists
    })
}

/// The idempotency check of a post or void: fields left 0 compare as what
/// they inherited.
fn post_or_void_exists(t: &Transfer, e: &Transfer, p: &Transfer) -> CreateTransferStatus {
    use CreateTransferStatus as S;
    debug_assert_eq!(t.pending_id, p.id);
    debug_assert_eq!(e.debit_account_id, p.debit_account_id);
    if t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id {
        return S::ExistsWithDifferentDebitAccountId;
    }
    if t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id {
        return S::ExistsWithDifferentCreditAccountId;
    }
    let amount_differs = if t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER) {
        if t.amount == 0 {
            e.amount != p.amount
        } else {
            t.amount != e.amount
        }
    } else if t.amount == u128::MAX {
        e.amount != p.amount
    } else {
        t.amount != e.amount
    };
    if amount_differs {
        return S::ExistsWithDifferentAmount;
    }
    let inherited = |given: u128, recorded: u128, pending: u128| {
        if given == 0 {
            recorded != pending
        } else {
            given != recorded
        }
    };
    if inherited(t.user_data_128, e.user_data_128, p.user_data_128) {
        return S::ExistsWithDifferentUserData128;
    }
    if inherited(t.user_data_64.into(), e.user_data_64.into(), p.user_data_64.into()) {
        return S::ExistsWithDifferentUserData64;
    }
    if inherited(t.user_data_32.into(), e.user_data_32.into(), p.user_data_32.into()) {
        return S::ExistsWithDifferentUserData32;
    }
    if t.ledger != 0 && t.ledger != e.ledger {
        return S::ExistsWithDifferentLedger;
    }
    if t.code != 0 && t.code != e.code {
        return S::ExistsWithDifferentCode;
    }
    S::Exists
}

fn post_or_void_pending_transfer<V: View>(
    work: &mut Working<'_, V>,
    timestamp: u64,
    t: &Transfer,
) -> Result<(CreateTransferStatus, u64), V::Error> {
    use CreateTransferStatus as S;
    let fail = |status| Ok((status, timestamp));
    let post = t.flags.contains(TransferFlags::POST_PENDING_TRANSFER);
    let void = t.flags.contains(TransferFlags::VOID_PENDING_TRANSFER);
    debug_assert!(post || void);
    if post && void {
        return fail(S::FlagsAreMutuallyExclusive);
    }
    for exclusive in [
        TransferFlags::PENDING,
        TransferFlags::BALANCING_DEBIT,
        TransferFlags::BALANCING_CREDIT,
        TransferFlags::CLOSING_DEBIT,
        TransferFlags::CLOSING_CREDIT,
    ] {
        if t.flags.contains(exclusive) {
            return fail(S::FlagsAreMutuallyExclusive);
        }
    }
    if t.pending_id == 0 {
        return fail(S::PendingIdMustNotBeZero);
    }
    if t.pending_id == u128::MAX {
        return fail(S::PendingIdMustNotBeIntMax);
    }
    if t.pending_id == t.id {
        return fail(S::PendingIdMustBeDifferent);
    }
    if t.timeout != 0 {
        return fail(S::TimeoutReservedForPendingTransfer);
    }
    let Some(record) = work.applied_transfer(t.pending_id)? else {
        return fail(S::PendingTransferNotFound);
    };
    let p = record.transfer;
    if !p.flags.contains(TransferFlags::PENDING) {
        return fail(S::PendingTransferNotPending);
    }
    let dr = work.existing_account(p.debit_account_id, p.id)?;
    let cr = work.existing_account(p.credit_account_id, p.id)?;
    if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
        return fail(S::PendingTransferHasDifferentDebitAccountId);
    }
    if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
        return fail(S::PendingTransferHasDifferentCreditAccountId);
    }
    // user_data may differ between the pending transfer and its resolution.
    if t.ledger != 0 && t.ledger != p.ledger {
        return fail(S::PendingTransferHasDifferentLedger);
    }
    if t.code != 0 && t.code != p.code {
        return fail(S::PendingTransferHasDifferentCode);
    }
    let amount = if void {
        if t.amount == 0 { p.amount } else { t.amount }
    } else if t.amount == u128::MAX {
        p.amount
    } else {
        t.amount
    };
    if amount > p.amount {
        return fail(S::ExceedsPendingTransferAmount);
    }
    if void && amount < p.amount {
        return fail(S::PendingTransferHasDifferentAmount);
    }
    match record.status {
        PendingStatus::Pending => {}
        PendingStatus::Posted => return fail(S::PendingTransferAlreadyPosted),
        PendingStatus::Voided => return fail(S::PendingTransferAlreadyVoided),
        PendingStatus::Expired => return fail(S::PendingTransferExpired),
        PendingStatus::None => {
            return Err(inconsistent(format!("pending transfer {} has no pending status", p.id)).into());
        }
    }
    // Expired by time even if `expire` has not run yet.
    if let Some(expires_at) = record.expires_at_ns()
        && expires_at <= timestamp
    {
        return fail(S::PendingTransferExpired);
    }
    // The only movement a closed account allows is voiding its pending transfers.
    if dr.flags.contains(AccountFlags::CLOSED) && !void {
        return fail(S::DebitAccountAlreadyClosed);
    }
    if cr.flags.contains(AccountFlags::CLOSED) && !void {
        return fail(S::CreditAccountAlreadyClosed);
    }

    let applied = Transfer {
        id: t.id,
        debit_account_id: p.debit_account_id,
        credit_account_id: p.credit_account_id,
        amount,
        pending_id: t.pending_id,
        user_data_128: if t.user_data_128 != 0 {
            t.user_data_128
        } else {
            p.user_data_128
        },
        user_data_64: if t.user_data_64 != 0 {
            t.user_data_64
        } else {
            p.user_data_64
        },
        user_data_32: if t.user_data_32 != 0 {
            t.user_data_32
        } else {
            p.user_data_32
        },
        timeout: 0,
        ledger: p.ledger,
        code: p.code,
        flags: t.flags,
        timestamp,
    };
    work.set_transfer(
        t.id,
        TransferSlot::Applied(TransferRecord {
            transfer: applied,
            status: PendingStatus::None,
        }),
    );
    let resolved = if post {
        PendingStatus::Posted
    } else {
        PendingStatus::Voided
    };
    work.set_transfer(
        p.id,
        TransferSlot::Applied(TransferRecord {
            status: resolved,
            ..record
        }),
    );

    let release = |held: u128| {
        held.checked_sub(p.amount)
            .ok_or_else(|| inconsistent(format!("pending balance below pending transfer {}", p.id)))
    };
    let mut dr_new = dr;
    let mut cr_new = cr;
    dr_new.debits_pending = release(dr.debits_pending)?;
    cr_new.credits_pending = release(cr.credits_pending)?;
    if post {
        debug_assert!(amount <= p.amount);
        // posted + amount <= posted + pending, which never overflows.
        dr_new.debits_posted = dr.debits_posted.saturating_add(amount);
        cr_new.credits_posted = cr.credits_posted.saturating_add(amount);
    } else {
        debug_assert_eq!(amount, p.amount);
        if p.flags.contains(TransferFlags::CLOSING_DEBIT) {
            dr_new.flags = dr_new.flags.without(AccountFlags::CLOSED);
        }
        if p.flags.contains(TransferFlags::CLOSING_CREDIT) {
            cr_new.flags = cr_new.flags.without(AccountFlags::CLOSED);
        }
    }
    work.set_account(dr_new);
    work.set_account(cr_new);
    work.changes.events.push(JournalEvent::TransferCreated(applied));
    work.record_balance(&dr_new, timestamp);
    work.record_balance(&cr_new, timestamp);
    Ok((S::Created, timestamp))
}

/// Expires the pending transfers `due` (ids, in expiry order), which must
/// all be pending with `timestamp + timeout <= base_ns + 1`; expiry `i` gets
/// the timestamp `base_ns + i + 1`.
///
/// Pending balances go back, closing transfers reopen their accounts, and
/// each becomes a `TransferExpired` journal event. Historical balances
/// (`history`) are not recorded for expiries, as in TigerBeetle.
///
/// # Errors
/// `view` errors, and [`Inconsistent`] when a due id is not a pending
/// transfer that has expired.
pub fn expire_pending_transfers<V: View>(view: &mut V, due: &[u128], base_ns: u64) -> Result<Changes, V::Error> {
    let mut work = Working::new(view, base_ns.saturating_add(due.len() as u64), due.len());
    for (index, &pending_id) in due.iter().enumerate() {
        let timestamp = base_ns.saturating_add(index as u64 + 1);
        let record = match work.applied_transfer(pending_id)? {
            Some(record) if record.status == PendingStatus::Pending => record,
            other => {
                return Err(inconsistent(format!("expiry of {pending_id}, which is not pending: {other:?}")).into());
            }
        };
        let p = record.transfer;
        match record.expires_at_ns() {
            Some(expires_at) if expires_at <= timestamp => {}
            _ => return Err(inconsistent(format!("expiry of {pending_id} before its time")).into()),
        }
        let mut dr = work.existing_account(p.debit_account_id, p.id)?;
        let mut cr = work.existing_account(p.credit_account_id, p.id)?;
        dr.debits_pending = dr
            .debits_pending
            .checked_sub(p.amount)
            .ok_or_else(|| inconsistent(format!("debits_pending below expiring transfer {pending_id}")))?;
        cr.credits_pending = cr
            .credits_pending
            .checked_sub(p.amount)
            .ok_or_else(|| inconsistent(format!("credits_pending below expiring transfer {pending_id}")))?;
        if p.flags.contains(TransferFlags::CLOSING_DEBIT) {
            dr.flags = dr.flags.without(AccountFlags::CLOSED);
        }
        if p.flags.contains(TransferFlags::CLOSING_CREDIT) {
            cr.flags = cr.flags.without(AccountFlags::CLOSED);
        }
        work.set_account(dr);
        work.set_account(cr);
        work.set_transfer(
            pending_id,
            TransferSlot::Applied(TransferRecord {
                status: PendingStatus::Expired,
                ..record
            }),
        );
        work.changes
            .events
            .push(JournalEvent::TransferExpired { pending_id, timestamp });
    }
    Ok(work.changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole ledger in two maps, for testing the rules without a store.
    #[derive(Default)]
    struct Maps {
        accounts: IdMap<Account>,
        transfers: IdMap<TransferSlot>,
        last: u64,
    }

    impl View for Maps {
        type Error = Inconsistent;
        fn account(&mut self, id: u128) -> Result<Option<Account>, Inconsistent> {
            Ok(self.accounts.get(&id).copied())
        }
        fn transfer(&mut self, id: u128) -> Result<Option<TransferSlot>, Inconsistent> {
            Ok(self.transfers.get(&id).copied())
        }
    }

    impl Maps {
        fn apply(&mut self, changes: Changes) {
            self.accounts.extend(changes.accounts);
            self.transfers.extend(changes.transfers);
            self.last = changes.timestamp_last_ns;
        }
        fn accounts(&mut self, batch: &[Account]) -> Vec<CreateAccountStatus> {
            let base = batch_base_ns(10, self.last, batch.len()).expect("clock");
            let (results, changes) = create_accounts(self, batch, base).expect("no view errors");
            self.apply(changes);
            results.into_iter().map(|r| r.status).collect()
        }
        fn transfers(&mut self, batch: &[Transfer]) -> Vec<CreateTransferStatus> {
            let base = batch_base_ns(10, self.last, batch.len()).expect("clock");
            let (results, changes) = create_transfers(self, batch, base).expect("no view errors");
            self.apply(changes);
            results.into_iter().map(|r| r.status).collect()
        }
    }

    #[test]
    fn a_broken_chain_leaves_no_trace_but_a_burned_id() {
        use CreateTransferStatus as S;
        let mut maps = Maps::default();
        maps.accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)]);
        let linked = TransferFlags::LINKED;
        let results = maps.transfers(&[
            Transfer::new(10, 1, 2, 5, 1, 1).with_flags(linked),
            Transfer::new(11, 1, 3, 5, 1, 1).with_flags(linked),
            Transfer::new(12, 1, 2, 5, 1, 1),
        ]);
        assert_eq!(
            results,
            [S::LinkedEventFailed, S::CreditAccountNotFound, S::LinkedEventFailed]
        );
        assert_eq!(maps.accounts[&1].debits_posted, 0);
        assert!(!maps.transfers.contains_key(&10));
        assert_eq!(maps.transfers.get(&11), Some(&TransferSlot::Failed));
        assert!(!maps.transfers.contains_key(&12));
    }

    #[test]
    fn timestamps_increase_even_when_the_clock_steps_back() {
        assert_eq!(batch_base_ns(5, 100, 3), Ok(100));
        assert_eq!(batch_base_ns(500, 100, 3), Ok(500));
        assert!(batch_base_ns(TIMESTAMP_MAX_NS, 0, 1).is_err());
        assert_eq!(batch_base_ns(TIMESTAMP_MAX_NS - 1, 0, 1), Ok(TIMESTAMP_MAX_NS - 1));
    }
}
