//! The shell: [`Ledger<S>`] runs the [`core`](crate::core) rules against any
//! [`Store`], one atomic commit per batch.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use tally_store::{MAX_GET_MANY_KEYS, RetryPolicy, Store, StoreError, Txn, codec, scan_all, transact};

use crate::core::{self, Changes, JournalEvent, TransferSlot, View};
use crate::error::LedgerError;
use crate::id_hash::IdMap;
use crate::journal::{AuditReport, Auditor, JournalPage, JournalRecord};
use crate::keys::{self, Keys};
use crate::status::{CreateAccountResult, CreateTransferResult};
use crate::types::{
    Account, AccountBalance, AccountFilter, AccountFlags, BATCH_EVENTS_MAX, EXPIRE_BATCH_MAX, PendingStatus,
    QUERY_LIMIT_MAX, Transfer, TransferFlags, TransferRecord,
};

/// The namespace [`Ledger::new`] keeps its keys under.
pub const DEFAULT_NAMESPACE: &str = "ledger";

/// Entries per page when the shell scans its own indexes.
const SCAN_PAGE: usize = 1_024;

/// The ledger's head record: the guard every commit writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The sequence number the next journal event gets (= events so far).
    pub next_seq: u64,
    /// The last timestamp assigned, in nanoseconds.
    pub timestamp_last_ns: u64,
    /// Accounts created.
    pub accounts: u64,
    /// Transfers applied (every kind).
    pub transfers: u64,
    /// Pending transfers not yet posted, voided or expired.
    pub pending: u64,
}

/// TigerBeetle's ledger on a [`Store`].
///
/// Each `create_*` call is one atomic commit, computed from one consistent
/// snapshot and retried on conflict, so any number of threads or processes
/// may share one store: they are serialized by the ledger's head record, as
/// TigerBeetle serializes requests on its single core. Calls never return a
/// result they did not commit.
///
/// `now_ns` is the caller's clock in nanoseconds since the Unix epoch; the
/// ledger stamps events from it (see [`core`](crate::core#timestamps)).
#[derive(Debug)]
pub struct Ledger<S> {
    store: S,
    keys: Keys,
    policy: RetryPolicy,
}

impl<S: Store> Ledger<S> {
    /// A ledger on `store`, under [`DEFAULT_NAMESPACE`]. An empty store is
    /// an empty ledger; nothing is written until the first batch.
    pub fn new(store: S) -> Self {
        Ledger::with_namespace(store, DEFAULT_NAMESPACE)
    }

    /// A ledger on `store` under `namespace`, so several ledgers (or other
    /// tally crates) can share one store.
    pub fn with_namespace(store: S, namespace: &str) -> Self {
        Ledger {
            store,
            keys: Keys::new(namespace),
            // Commits serialize on the head, so contention is the norm under
            // load: be patient.
            policy: RetryPolicy::default().with_max_attempts(10_000),
        }
    }

    /// The same ledger with another retry policy.
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, giving up the ledger.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Creates accounts: one result per event, in order (see
    /// [`CreateAccountStatus`](crate::CreateAccountStatus)).
    ///
    /// # Errors
    /// [`LedgerError::TooMany`] above [`BATCH_EVENTS_MAX`] events,
    /// [`LedgerError::Clock`], [`LedgerError::Store`] (retry the same
    /// batch: see [`LedgerError::Store`]), [`LedgerError::Inconsistent`].
    pub fn create_accounts(&self, batch: &[Account], now_ns: u64) -> Result<Vec<CreateAccountResult>, LedgerError> {
        check_count("create_accounts", batch.len())?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        transact(&self.store, &self.policy, |txn| {
            let head = self.read_head(txn)?;
            let base = core::batch_base_ns(now_ns, head.timestamp_last_ns, batch.len())?;
            let mut view = StoreView::new(txn.store(), &self.keys);
            view.prefetch_accounts(batch.iter().map(|account| account.id))?;
            let (results, changes) = core::create_accounts(&mut view, batch, base)?;
            self.write(txn, head, changes, &mut view)?;
            Ok(results)
        })
    }

    /// Creates transfers: one result per event, in order (see
    /// [`CreateTransferStatus`](crate::CreateTransferStatus)).
    ///
    /// # Errors
    /// As [`create_accounts`](Self::create_accounts).
    pub fn create_transfers(&self, batch: &[Transfer], now_ns: u64) -> Result<Vec<CreateTransferResult>, LedgerError> {
        check_count("create_transfers", batch.len())?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        transact(&self.store, &self.policy, |txn| {
            let head = self.read_head(txn)?;
            let base = core::batch_base_ns(now_ns, head.timestamp_last_ns, batch.len())?;
            let mut view = StoreView::new(txn.store(), &self.keys);
            view.prefetch_transfers(batch)?;
            let (results, changes) = core::create_transfers(&mut view, batch, base)?;
            self.write(txn, head, changes, &mut view)?;
            Ok(results)
        })
    }

    /// Expires every pending transfer whose timeout has passed by `now_ns`
    /// (TigerBeetle's pulse), in order of expiry, then creation; returns how
    /// many it expired. Each commit expires at most [`EXPIRE_BATCH_MAX`].
    ///
    /// Until this runs, an expired transfer still holds its pending balance,
    /// but posting or voiding it already fails with `pending_transfer_expired`.
    ///
    /// # Errors
    /// [`LedgerError::Store`], [`LedgerError::Clock`], [`LedgerError::Inconsistent`].
    pub fn expire(&self, now_ns: u64) -> Result<usize, LedgerError> {
        let mut expired = 0;
        loop {
            let count = transact(&self.store, &self.policy, |txn| {
                let head = self.read_head(txn)?;
                let threshold = now_ns.max(head.timestamp_last_ns);
                let due = self.due_expiries(txn, threshold)?;
                if due.is_empty() {
                    return Ok(0);
                }
                let base = core::batch_base_ns(now_ns, head.timestamp_last_ns, due.len())?;
                let mut view = StoreView::new(txn.store(), &self.keys);
                let changes = core::expire_pending_transfers(&mut view, &due, base)?;
                self.write(txn, head, changes, &mut view)?;
                Ok::<_, LedgerError>(due.len())
            })?;
            expired += count;
            if count < EXPIRE_BATCH_MAX {
                return Ok(expired);
            }
        }
    }

    /// The ids of up to [`EXPIRE_BATCH_MAX`] pending transfers that expire
    /// at or before `threshold_ns`, in expiry order. Covered by the head.
    fn due_expiries(&self, txn: &mut Txn<'_, S>, threshold_ns: u64) -> Result<Vec<u128>, LedgerError> {
        let prefix = self.keys.expiries_prefix();
        let page = txn.store().scan(&prefix, None, EXPIRE_BATCH_MAX)?;
        let mut due = Vec::new();
        for entry in page.entries {
            // E keys are prefix / expires_at / timestamp.
            let expires_at = entry
                .key
                .get(prefix.len()..prefix.len() + 8)
                .and_then(|bytes| bytes.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| core::Inconsistent {
                    what: "malformed expiry key".to_owned(),
                })?;
            if expires_at > threshold_ns {
                break;
            }
            due.push(decode::<u128>(&entry.key, &entry.value)?);
        }
        Ok(due)
    }

    /// The soonest time a pending transfer expires, if any is pending with
    /// a timeout: when to call [`expire`](Self::expire) next.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn next_expiry_ns(&self) -> Result<Option<u64>, LedgerError> {
        let prefix = self.keys.expiries_prefix();
        let page = self.store.scan(&prefix, None, 1)?;
        Ok(page.entries.first().and_then(|entry| {
            entry
                .key
                .get(prefix.len()..prefix.len() + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        }))
    }

    /// The accounts with these ids, in the order asked, leaving out the ones
    /// that do not exist (as TigerBeetle).
    ///
    /// # Errors
    /// [`LedgerError::TooMany`] above [`BATCH_EVENTS_MAX`] ids; [`LedgerError::Store`].
    pub fn lookup_accounts(&self, ids: &[u128]) -> Result<Vec<Account>, LedgerError> {
        check_count("lookup_accounts", ids.len())?;
        let mut view = StoreView::new(&self.store, &self.keys);
        view.prefetch_accounts(ids.iter().copied())?;
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(account) = view.account(id)? {
                found.push(account);
            }
        }
        Ok(found)
    }

    /// The transfers with these ids, in the order asked, leaving out the
    /// ones that do not exist.
    ///
    /// # Errors
    /// As [`lookup_accounts`](Self::lookup_accounts).
    pub fn lookup_transfers(&self, ids: &[u128]) -> Result<Vec<Transfer>, LedgerError> {
        check_count("lookup_transfers", ids.len())?;
        let mut view = StoreView::new(&self.store, &self.keys);
        let mut found = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(TransferSlot::Applied(record)) = view.transfer(id)? {
                found.push(record.transfer);
            }
        }
        Ok(found)
    }

    /// The pending status of transfer `id` (`None` when no such transfer).
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn pending_status(&self, id: u128) -> Result<Option<PendingStatus>, LedgerError> {
        Ok(match StoreView::new(&self.store, &self.keys).transfer(id)? {
            Some(TransferSlot::Applied(record)) => Some(record.status),
            _ => None,
        })
    }

    /// The account's transfers that pass `filter` (TigerBeetle's
    /// `get_account_transfers`), oldest first unless `reversed`; empty for
    /// an invalid filter.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn get_account_transfers(&self, filter: &AccountFilter) -> Result<Vec<Transfer>, LedgerError> {
        if !filter.is_valid() {
            return Ok(Vec::new());
        }
        transact(&self.store, &self.policy, |txn| {
            self.read_head(txn)?;
            let found = self.scan_account(txn.store(), filter)?;
            Ok(found.into_iter().map(|(transfer, _)| transfer).collect())
        })
    }

    /// The balances of a `history` account after each of its transfers that
    /// pass `filter` (TigerBeetle's `get_account_balances`); empty for an
    /// invalid filter, a missing account or one without `history`.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn get_account_balances(&self, filter: &AccountFilter) -> Result<Vec<AccountBalance>, LedgerError> {
        if !filter.is_valid() {
            return Ok(Vec::new());
        }
        transact(&self.store, &self.policy, |txn| {
            self.read_head(txn)?;
            let store = txn.store();
            let Some(account) = StoreView::new(store, &self.keys).account(filter.account_id)? else {
                return Ok(Vec::new());
            };
            if !account.flags.contains(AccountFlags::HISTORY) {
                return Ok(Vec::new());
            }
            let mut balances = Vec::new();
            for (_, timestamp) in self.scan_account(store, filter)? {
                let key = self.keys.balance(filter.account_id, timestamp);
                let balance = read::<AccountBalance, _>(store, &key)?.ok_or_else(|| core::Inconsistent {
                    what: format!("no balance of history account {} at {timestamp}", filter.account_id),
                })?;
                balances.push(balance);
            }
            Ok(balances)
        })
    }

    /// The account's matching transfers with their timestamps, in the
    /// filter's order, at most its (capped) limit.
    fn scan_account(&self, store: &S, filter: &AccountFilter) -> Result<Vec<(Transfer, u64)>, LedgerError> {
        let limit = filter.limit.min(QUERY_LIMIT_MAX) as usize;
        let (min, max) = filter.timestamp_range();
        let account_bucket = keys::bucket(filter.account_id);
        let prefix = self.keys.account_transfers_prefix(account_bucket);
        let mut view = StoreView::new(store, &self.keys);
        // A chunk holds one commit's entries, which lie within
        // BATCH_EVENTS_MAX ns of its first: earlier chunks end before `min`.
        let start = min.saturating_sub(BATCH_EVENTS_MAX as u64);
        let mut after = Some(self.keys.account_transfers(account_bucket, start));
        let mut found: VecDeque<(Transfer, u64)> = VecDeque::new();
        'pages: loop {
            let page = store.scan(&prefix, after.as_deref(), SCAN_PAGE)?;
            for entry in &page.entries {
                let first = Keys::trailing_u64(&entry.key).ok_or_else(|| core::Inconsistent {
                    what: "malformed account index key".to_owned(),
                })?;
                if first > max {
                    break 'pages;
                }
                for (account_id, timestamp, id) in decode::<Vec<(u128, u64, u128)>>(&entry.key, &entry.value)? {
                    if account_id != filter.account_id || timestamp < min {
                        continue;
                    }
                    if timestamp > max {
                        break 'pages;
                    }
                    let slot = view.transfer(id)?;
                    let Some(TransferSlot::Applied(record)) = slot else {
                        return Err(core::Inconsistent {
                            what: format!("account index names transfer {id}, which is missing"),
                        }
                        .into());
                    };
                    if !filter.matches(&record.transfer) {
                        continue;
                    }
                    found.push_back((record.transfer, timestamp));
                    if found.len() > limit {
                        // Reversed keeps the newest `limit`; forward is done.
                        found.pop_front();
                    }
                    if !filter.flags.reversed && found.len() == limit {
                        break 'pages;
                    }
                }
            }
            match page.next_after() {
                Some(last) => after = Some(last.to_vec()),
                None => break,
            }
        }
        let mut found: Vec<(Transfer, u64)> = found.into();
        if filter.flags.reversed {
            found.reverse();
        }
        debug_assert!(found.len() <= limit);
        Ok(found)
    }

    /// The ledger's head (all zero for an empty ledger).
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn head(&self) -> Result<Head, LedgerError> {
        Ok(read::<Head, _>(&self.store, &self.keys.head())?.unwrap_or_default())
    }

    /// Up to `limit` journal records with `seq >= from_seq`, in order.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn journal(&self, from_seq: u64, limit: usize) -> Result<Vec<JournalRecord>, LedgerError> {
        let mut records = Vec::new();
        let prefix = self.keys.journal_prefix();
        for entry in scan_all(&self.store, &prefix, 64) {
            let entry = entry?;
            let page = decode::<JournalPage>(&entry.key, &entry.value)?;
            for (offset, event) in page.events.iter().enumerate() {
                let seq = page.first_seq + offset as u64;
                if seq >= from_seq {
                    if records.len() == limit {
                        return Ok(records);
                    }
                    records.push(JournalRecord { seq, event: *event });
                }
            }
        }
        Ok(records)
    }

    /// Up to `max_pages` journal pages (one per commit that applied events)
    /// that start at or after `from_seq`, in order; `max_pages` is clamped
    /// to `1..=64`. Pages start where the previous one ended, so passing
    /// the end of the last page read (`first_seq + events.len()`) resumes
    /// exactly after it.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn journal_pages(&self, from_seq: u64, max_pages: usize) -> Result<Vec<JournalPage>, LedgerError> {
        let prefix = self.keys.journal_prefix();
        let after = from_seq.checked_sub(1).map(|seq| self.keys.journal(seq));
        let page = self.store.scan(&prefix, after.as_deref(), max_pages.clamp(1, 64))?;
        let mut pages = Vec::with_capacity(page.entries.len());
        for entry in page.entries {
            let page = decode::<JournalPage>(&entry.key, &entry.value)?;
            debug_assert!(page.first_seq >= from_seq);
            pages.push(page);
        }
        Ok(pages)
    }

    /// The accounts with these ids (in the order asked, leaving out missing
    /// ones) and the head, all read from one consistent snapshot: no commit
    /// lands between the reads of two of them, so balances that must add up
    /// do. Costs one more round trip than
    /// [`lookup_accounts`](Self::lookup_accounts) (the check of the snapshot).
    ///
    /// # Errors
    /// [`LedgerError::TooMany`] above [`BATCH_EVENTS_MAX`] ids; [`LedgerError::Store`].
    pub fn lookup_accounts_with_head(&self, ids: &[u128]) -> Result<(Head, Vec<Account>), LedgerError> {
        check_count("lookup_accounts", ids.len())?;
        transact(&self.store, &self.policy, |txn| {
            let head = self.read_head(txn)?;
            let mut view = StoreView::new(txn.store(), &self.keys);
            view.prefetch_accounts(ids.iter().copied())?;
            let mut found = Vec::with_capacity(ids.len());
            for &id in ids {
                if let Some(account) = view.account(id)? {
                    found.push(account);
                }
            }
            Ok((head, found))
        })
    }

    /// Replays the whole journal and compares it with the stored accounts:
    /// gapless sequence numbers, increasing timestamps, every account's
    /// balances and closed flag, Σ debits = Σ credits. Runs on one
    /// consistent snapshot (retried if a commit lands meanwhile).
    ///
    /// # Errors
    /// [`LedgerError::Store`]; a found difference is a problem in the
    /// report, not an error.
    pub fn audit(&self) -> Result<AuditReport, LedgerError> {
        transact(&self.store, &self.policy, |txn| {
            let head = self.read_head(txn)?;
            let store = txn.store();
            let mut auditor = Auditor::new();
            let prefix = self.keys.journal_prefix();
            for entry in scan_all(store, &prefix, 64) {
                let entry = entry?;
                auditor.page(&decode::<JournalPage>(&entry.key, &entry.value)?);
            }
            let mut accounts = Vec::new();
            let prefix = self.keys.accounts_prefix();
            for entry in scan_all(store, &prefix, SCAN_PAGE) {
                let entry = entry?;
                accounts.extend(decode::<Vec<Account>>(&entry.key, &entry.value)?);
            }
            Ok(auditor.finish(accounts, head.next_seq))
        })
    }

    fn read_head(&self, txn: &mut Txn<'_, S>) -> Result<Head, LedgerError> {
        Ok(txn.get_as::<Head>(&self.keys.head())?.unwrap_or_default())
    }

    /// Writes a batch's changes, its indexes, its journal page and the head.
    fn write(
        &self,
        txn: &mut Txn<'_, S>,
        mut head: Head,
        changes: Changes,
        view: &mut StoreView<'_, S>,
    ) -> Result<(), LedgerError> {
        let keys = &self.keys;
        // One account-index chunk per account bucket per commit.
        let mut index: IdMap<Vec<(u128, u64, u128)>> = IdMap::default();
        for event in &changes.events {
            match event {
                JournalEvent::AccountCreated(_) => head.accounts += 1,
                JournalEvent::TransferCreated(transfer) => {
                    head.transfers += 1;
                    for account_id in [transfer.debit_account_id, transfer.credit_account_id] {
                        let chunk = index.entry(keys::bucket(account_id)).or_default();
                        chunk.push((account_id, transfer.timestamp, transfer.id));
                    }
                    let flags = transfer.flags;
                    if flags.contains(TransferFlags::PENDING) {
                        head.pending += 1;
                        if transfer.timeout > 0 {
                            let expires_at = transfer.timestamp.saturating_add(transfer.timeout_ns());
                            txn.put_as(keys.expiry(expires_at, transfer.timestamp), &transfer.id)?;
                        }
                    } else if flags.contains(TransferFlags::POST_PENDING_TRANSFER)
                        || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
                    {
                        self.resolved(txn, &mut head, &changes, view, transfer.pending_id)?;
                    }
                }
                JournalEvent::TransferExpired { pending_id, .. } => {
                    self.resolved(txn, &mut head, &changes, view, *pending_id)?;
                }
            }
        }
        for (account_bucket, entries) in &index {
            debug_assert!(entries.windows(2).all(|pair| pair[0].1 <= pair[1].1));
            if let Some(&(_, first_timestamp, _)) = entries.first() {
                txn.put_as(keys.account_transfers(*account_bucket, first_timestamp), entries)?;
            }
        }
        // Merge the changes into their buckets (each was read to decide the
        // batch, so it is in the view) and write every touched bucket once.
        let mut account_buckets: IdMap<Vec<Account>> = IdMap::default();
        for account in changes.accounts.values() {
            let bucket = keys::bucket(account.id);
            let records = match account_buckets.entry(bucket) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(view.take_account_bucket(bucket)?),
            };
            match records.binary_search_by_key(&account.id, |a| a.id) {
                Ok(index) => records[index] = *account,
                Err(index) => records.insert(index, *account),
            }
        }
        for (bucket, records) in &account_buckets {
            txn.put_as(keys.account_bucket(*bucket), records)?;
        }
        let mut transfer_buckets: IdMap<Vec<(u128, TransferSlot)>> = IdMap::default();
        for (id, slot) in &changes.transfers {
            let bucket = keys::bucket(*id);
            let records = match transfer_buckets.entry(bucket) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => entry.insert(view.take_transfer_bucket(bucket)?),
            };
            match records.binary_search_by_key(id, |(id, _)| *id) {
                Ok(index) => records[index].1 = *slot,
                Err(index) => records.insert(index, (*id, *slot)),
            }
        }
        for (bucket, records) in &transfer_buckets {
            txn.put_as(keys.transfer_bucket(*bucket), records)?;
        }
        for (account_id, balance) in &changes.balances {
            txn.put_as(keys.balance(*account_id, balance.timestamp), balance)?;
        }
        let events = changes.events.len() as u64;
        if events > 0 {
            let page = JournalPage {
                first_seq: head.next_seq,
                events: changes.events,
            };
            txn.put_as(keys.journal(head.next_seq), &page)?;
            head.next_seq += events;
        }
        debug_assert!(changes.timestamp_last_ns > head.timestamp_last_ns);
        head.timestamp_last_ns = changes.timestamp_last_ns;
        txn.put_as(keys.head(), &head)?;
        Ok(())
    }

    /// Bookkeeping for a pending transfer that was posted, voided or expired:
    /// its expiry entry goes, the pending count drops.
    fn resolved(
        &self,
        txn: &mut Txn<'_, S>,
        head: &mut Head,
        changes: &Changes,
        view: &mut StoreView<'_, S>,
        pending_id: u128,
    ) -> Result<(), LedgerError> {
        let record: Option<TransferRecord> = match changes.transfers.get(&pending_id) {
            Some(TransferSlot::Applied(record)) => Some(*record),
            _ => match view.transfer(pending_id)? {
                Some(TransferSlot::Applied(record)) => Some(record),
                _ => None,
            },
        };
        let record = record.ok_or_else(|| core::Inconsistent {
            what: format!("resolved pending transfer {pending_id} is missing"),
        })?;
        head.pending = head.pending.checked_sub(1).ok_or_else(|| core::Inconsistent {
            what: "pending count below zero".to_owned(),
        })?;
        if let Some(expires_at) = record.expires_at_ns() {
            txn.delete(self.keys.expiry(expires_at, record.transfer.timestamp));
        }
        Ok(())
    }
}

fn check_count(what: &'static str, count: usize) -> Result<(), LedgerError> {
    if count > BATCH_EVENTS_MAX {
        return Err(LedgerError::TooMany {
            what,
            count,
            max: BATCH_EVENTS_MAX,
        });
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    codec::decode(bytes).map_err(|error| StoreError::codec(key, error))
}

fn read<T: serde::de::DeserializeOwned, S: Store + ?Sized>(store: &S, key: &[u8]) -> Result<Option<T>, StoreError> {
    match store.get(key)? {
        Some(versioned) => decode(key, &versioned.value).map(Some),
        None => Ok(None),
    }
}

/// The core's view of the store: each bucket of accounts and of transfers
/// read (and decoded) at most once per attempt. Reads carry no
/// precondition of their own; the head read before them covers them (see
/// [`keys`](crate::keys)).
struct StoreView<'a, S: ?Sized> {
    store: &'a S,
    keys: &'a Keys,
    accounts: IdMap<Vec<Account>>,
    transfers: IdMap<Vec<(u128, TransferSlot)>>,
}

impl<'a, S: Store + ?Sized> StoreView<'a, S> {
    fn new(store: &'a S, keys: &'a Keys) -> Self {
        StoreView {
            store,
            keys,
            accounts: IdMap::default(),
            transfers: IdMap::default(),
        }
    }

    /// Reads every bucket a `create_transfers` batch will look at, with as
    /// few store calls as it can: one `get_many` for the buckets of the
    /// transfers, their pending transfers and their accounts, then one
    /// for the accounts of the pending transfers that posts and voids name
    /// (only when there are such). On PostgreSQL or Redis that is one or
    /// two round trips instead of one per bucket.
    fn prefetch_transfers(&mut self, batch: &[Transfer]) -> Result<(), LedgerError> {
        self.transfers.reserve(batch.len().min(1_024));
        self.accounts.reserve(batch.len().min(1_024));
        let mut transfer_buckets = Vec::with_capacity(batch.len() / 32 + 2);
        let mut account_buckets = Vec::with_capacity(batch.len().min(1_024));
        let mut resolves = false;
        for transfer in batch {
            transfer_buckets.push(keys::bucket(transfer.id));
            if transfer.pending_id != 0 {
                transfer_buckets.push(keys::bucket(transfer.pending_id));
                resolves = true;
            }
            for id in [transfer.debit_account_id, transfer.credit_account_id] {
                if id != 0 && id != u128::MAX {
                    account_buckets.push(keys::bucket(id));
                }
            }
        }
        self.load_buckets(transfer_buckets, account_buckets)?;
        if resolves {
            let mut more = Vec::new();
            for transfer in batch.iter().filter(|t| t.pending_id != 0) {
                if let Some(TransferSlot::Applied(record)) = self.transfer(transfer.pending_id)? {
                    more.push(keys::bucket(record.transfer.debit_account_id));
                    more.push(keys::bucket(record.transfer.credit_account_id));
                }
            }
            self.load_account_buckets(more)?;
        }
        Ok(())
    }

    /// Reads the account buckets of `ids` in one go (see
    /// [`prefetch_transfers`](Self::prefetch_transfers)).
    fn prefetch_accounts(&mut self, ids: impl Iterator<Item = u128>) -> Result<(), LedgerError> {
        self.load_account_buckets(ids.map(keys::bucket).collect())
    }

    /// The accounts of bucket `bucket`, by id.
    fn account_bucket(&mut self, bucket: u128) -> Result<&Vec<Account>, LedgerError> {
        Ok(match self.accounts.entry(bucket) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let key = self.keys.account_bucket(bucket);
                entry.insert(read::<Vec<Account>, _>(self.store, &key)?.unwrap_or_default())
            }
        })
    }

    /// The transfer slots of bucket `bucket`, by id.
    fn transfer_bucket(&mut self, bucket: u128) -> Result<&Vec<(u128, TransferSlot)>, LedgerError> {
        Ok(match self.transfers.entry(bucket) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let key = self.keys.transfer_bucket(bucket);
                entry.insert(read::<Vec<(u128, TransferSlot)>, _>(self.store, &key)?.unwrap_or_default())
            }
        })
    }

    /// Loads the account buckets not cached yet, with `get_many`.
    fn load_account_buckets(&mut self, buckets: Vec<u128>) -> Result<(), LedgerError> {
        self.load_buckets(Vec::new(), buckets)
    }

    /// Loads the transfer and account buckets not cached yet, all with one
    /// `get_many` (or one per [`MAX_GET_MANY_KEYS`] keys).
    fn load_buckets(&mut self, mut transfers: Vec<u128>, mut accounts: Vec<u128>) -> Result<(), LedgerError> {
        transfers.sort_unstable();
        transfers.dedup();
        transfers.retain(|bucket| !self.transfers.contains_key(bucket));
        accounts.sort_unstable();
        accounts.dedup();
        accounts.retain(|bucket| !self.accounts.contains_key(bucket));
        // (is a transfer bucket, bucket, key)
        let wanted: Vec<(bool, u128, Vec<u8>)> = transfers
            .into_iter()
            .map(|bucket| (true, bucket, self.keys.transfer_bucket(bucket)))
            .chain(
                accounts
                    .into_iter()
                    .map(|bucket| (false, bucket, self.keys.account_bucket(bucket))),
            )
            .collect();
        for chunk in wanted.chunks(MAX_GET_MANY_KEYS) {
            let keys: Vec<&[u8]> = chunk.iter().map(|(_, _, key)| key.as_slice()).collect();
            let found = self.store.get_many(&keys)?;
            debug_assert_eq!(found.len(), keys.len());
            for ((is_transfer, bucket, key), versioned) in chunk.iter().zip(found) {
                let bytes = versioned.map(|versioned| versioned.value);
                if *is_transfer {
                    let records = match &bytes {
                        Some(bytes) => decode::<Vec<(u128, TransferSlot)>>(key, bytes)?,
                        None => Vec::new(),
                    };
                    self.transfers.insert(*bucket, records);
                } else {
                    let records = match &bytes {
                        Some(bytes) => decode::<Vec<Account>>(key, bytes)?,
                        None => Vec::new(),
                    };
                    self.accounts.insert(*bucket, records);
                }
            }
        }
        Ok(())
    }
}

impl<S: Store + ?Sized> StoreView<'_, S> {
    /// Moves bucket `bucket` out of the cache (reading it if needed), to be
    /// rewritten; the view must not be asked for it again.
    fn take_account_bucket(&mut self, bucket: u128) -> Result<Vec<Account>, LedgerError> {
        match self.accounts.remove(&bucket) {
            Some(records) => Ok(records),
            None => Ok(read::<Vec<Account>, _>(self.store, &self.keys.account_bucket(bucket))?.unwrap_or_default()),
        }
    }

    /// As [`take_account_bucket`](Self::take_account_bucket), for transfers.
    fn take_transfer_bucket(&mut self, bucket: u128) -> Result<Vec<(u128, TransferSlot)>, LedgerError> {
        match self.transfers.remove(&bucket) {
            Some(records) => Ok(records),
            None => {
                let key = self.keys.transfer_bucket(bucket);
                Ok(read::<Vec<(u128, TransferSlot)>, _>(self.store, &key)?.unwrap_or_default())
            }
        }
    }
}

impl<S: Store + ?Sized> View for StoreView<'_, S> {
    type Error = LedgerError;

    fn account(&mut self, id: u128) -> Result<Option<Account>, LedgerError> {
        let records = self.account_bucket(keys::bucket(id))?;
        Ok(records
            .binary_search_by_key(&id, |a| a.id)
            .ok()
            .map(|index| records[index]))
    }

    fn transfer(&mut self, id: u128) -> Result<Option<TransferSlot>, LedgerError> {
        let records = self.transfer_bucket(keys::bucket(id))?;
        Ok(records
            .binary_search_by_key(&id, |(id, _)| *id)
            .ok()
            .map(|index| records[index].1))
    }
}
