//! TiMPE's user-to-user API on the ledger: users registered by nickname,
//! transfers issued in phase one and posted by a phase-two sweep, or both
//! at once.
//!
//! [TiMPE](https://github.com/lukasender/TiMPE) ("transactions in massively
//! parallel environments") let users registered by nickname send each other
//! money in two phases: `POST /transactions` recorded an intent, and
//! `POST /transactions/process`, run by anyone at any time, rolled every
//! recorded intent forward into balance entries;
//! `POST /transactions/immediately` did both in one request. [`Users`] is
//! that API on a [`Ledger`], through a [`LedgerClient`] so that many
//! threads share commits:
//!
//! | TiMPE | here |
//! |---|---|
//! | `POST /users/register` (nickname, balance) | [`Users::register`]: the user's account and an opening balance paid by the issuance account, so the books always balance |
//! | `GET /users` | [`Users::users`]: every user with their balance |
//! | `POST /transactions` | [`Users::transfer`]: phase one, a **pending** transfer that reserves the funds |
//! | `POST /transactions/immediately` | [`Users::transfer_immediately`]: both phases in one commit |
//! | `POST /transactions/process` | [`Users::process`]: posts every pending user transfer, in creation order |
//!
//! What changes (see the reference notes on TiMPE's weaknesses):
//!
//! - **Phase one reserves the funds.** TiMPE checked the sender's balance
//!   apart from the insert and ignored transactions still in flight, so
//!   concurrent requests could overdraw. Here phase one is a pending
//!   transfer from an account that may not go below zero: the ledger refuses
//!   it unless the sender can cover it *and* everything already reserved,
//!   atomically. Phase two can then never fail for lack of funds.
//! - **Integers**, not doubles: amounts are `u128`.
//! - **Idempotent by id.** Every transaction has an id (from
//!   [`new_transaction_id`](Users::new_transaction_id), or the caller's); a
//!   retry with the same id answers as the first call did. Posts have ids
//!   derived from their transaction's ([`post_id`]), so any number of
//!   sweeps, in any number of processes, post each transaction exactly once.
//! - **The sweep is a cursor over the journal.** [`process`](Users::process)
//!   reads the ledger's journal from a stored cursor, posts the pending user
//!   transfers it finds in creation order, and moves the cursor past what
//!   it posted. Interrupted, it resumes from the cursor; run twice at once,
//!   both post the same transfers and the ledger applies each once.
//!
//! ```
//! use tally_ledger::users::{UserId, Users};
//! use tally_store::MemStore;
//!
//! let users = Users::new(MemStore::new());
//! let now_ns = 1_700_000_000_000_000_000;
//! let alice = users.register("alice", 100, now_ns)?.id;
//! let bob = users.register("bob", 0, now_ns)?.id;
//!
//! // Phase one reserves 70 of alice's 100: another 70 cannot be covered.
//! users.transfer(&alice, &bob, 70, now_ns)?;
//! assert!(users.transfer(&alice, &bob, 70, now_ns).is_err());
//!
//! // Phase two posts every pending transfer.
//! let swept = users.process(now_ns, 100)?;
//! assert_eq!(swept.posted, 1);
//! let report = users.report()?;
//! let balances: Vec<(&str, u128)> = report.users.iter().map(|u| (u.nickname.as_str(), u.balance)).collect();
//! assert_eq!(balances, [("alice", 30), ("bob", 70)]);
//! assert_eq!((report.total, report.pending), (100, 0));
//! assert!(report.audit.is_empty());
//! # Ok::<(), tally_ledger::LedgerError>(())
//! ```
//!
//! The layout of the registry is in the `keys` module's source docs; the
//! ledger's accounts and transfers are ordinary ledger records (see
//! [`rules`] for the ids and codes).

mod keys;
pub mod rules;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tally_store::key::KeyBuilder;
use tally_store::{Batch, RetryPolicy, Store, StoreError, scan_all, transact};

use self::keys::UserKeys;
pub use self::rules::{
    ISSUANCE_ACCOUNT_CODE, ISSUANCE_ACCOUNT_ID, NICKNAME_BYTES_MAX, OPENING_TRANSFER_CODE, USER_ACCOUNT_CODE,
    USER_TRANSFER_CODE, USERS_LEDGER, UserId, post_id,
};
use self::rules::{SweepScan, is_reserved_account_id, is_transaction_id, next_cursor, opening_transfer_id};
use crate::client::LedgerClient;
use crate::error::LedgerError;
use crate::ledger::Ledger;
use crate::status::{CreateAccountStatus, CreateTransferStatus as Status};
use crate::types::{AMOUNT_MAX, Account, AccountFlags, BATCH_EVENTS_MAX, Transfer, TransferFlags};

/// The namespace [`Users::new`] keeps its ledger under (and its registry
/// under `u2u.users`).
pub const DEFAULT_USERS_NAMESPACE: &str = "u2u";

/// Journal pages a sweep reads per store scan.
const SWEEP_PAGES_PER_READ: usize = 4;

/// Keys one commit of [`Users::reset`] deletes.
const RESET_KEYS_PER_COMMIT: usize = 256;

/// What the registry holds for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The nickname.
    pub nickname: String,
    /// SHA-1 of `"salt"` and the nickname.
    pub id: UserId,
    /// The opening balance it was registered with.
    pub opening_balance: u128,
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The nickname.
    pub nickname: String,
    /// The id (SHA-1 of `"salt"` and the nickname).
    pub id: UserId,
    /// The ledger account ([`UserId::account_id`]).
    pub account_id: u128,
}

/// A user and their balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserBalance {
    /// The nickname.
    pub nickname: String,
    /// The id.
    pub id: UserId,
    /// The ledger account.
    pub account_id: u128,
    /// Posted credits minus posted debits: what the user owns.
    pub balance: u128,
    /// Reserved by the user's pending outgoing transfers (phase one done,
    /// phase two not yet); the user can spend `balance - reserved`.
    pub reserved: u128,
    /// On its way to the user in pending transfers.
    pub incoming: u128,
}

/// What [`Users::report`] found: every user, the sum, the pending count and
/// the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Every user, by nickname.
    pub users: Vec<UserBalance>,
    /// The sum of the users' balances.
    pub total: u128,
    /// What the issuance account paid out (opening balances): `total`
    /// must equal it.
    pub issued: u128,
    /// Pending user transfers (phase one done, phase two not yet).
    pub pending: u64,
    /// What the audit found wrong; empty when the books are right. The
    /// ledger's own audit (the journal replayed against every balance) and
    /// the user books (users hold what was issued; no account outside the
    /// registry; nobody overdrawn).
    pub audit: Vec<String>,
}

impl Report {
    /// `"ok"`, or the audit's findings joined by `"; "`.
    pub fn audit_summary(&self) -> String {
        if self.audit.is_empty() {
            "ok".to_owned()
        } else {
            self.audit.join("; ")
        }
    }
}

/// A pending transaction a sweep could not post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedPost {
    /// The transaction.
    pub transaction_id: u128,
    /// What the ledger answered its post.
    pub status: Status,
}

/// What one [`Users::process`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessReport {
    /// Transactions this sweep posted.
    pub posted: u64,
    /// Transactions it found posted already (by another sweep, or an
    /// earlier run of this one that was interrupted).
    pub already_posted: u64,
    /// Transactions whose post the ledger refused (none, unless something
    /// outside this API changed the accounts); they stay pending and the
    /// next sweep tries them again.
    pub failed: Vec<FailedPost>,
    /// True when the sweep stopped at its limit: call again for the rest.
    pub more: bool,
    /// The sweep cursor afterwards (a journal sequence number).
    pub cursor: u64,
}

/// TiMPE's users and their transfers on a [`Ledger`]; see the
/// [module docs](self). Share it between threads (`&Users` or an `Arc`):
/// their calls share commits.
#[derive(Debug)]
pub struct Users<S> {
    client: LedgerClient<S>,
    keys: UserKeys,
    ledger_namespace: Vec<u8>,
    policy: RetryPolicy,
    /// This instance's block of transaction ids, taken on first use.
    block: Mutex<Option<u64>>,
    next_sequence: AtomicU64,
}

impl<S: Store> Users<S> {
    /// Users on `store`, the ledger under [`DEFAULT_USERS_NAMESPACE`].
    pub fn new(store: S) -> Self {
        Users::with_namespace(store, DEFAULT_USERS_NAMESPACE)
    }

    /// Users on `store`, the ledger under `namespace` and the registry
    /// under `namespace.users`.
    pub fn with_namespace(store: S, namespace: &str) -> Self {
        Users {
            client: LedgerClient::new(Ledger::with_namespace(store, namespace)),
            keys: UserKeys::new(namespace),
            ledger_namespace: KeyBuilder::new(namespace).build(),
            policy: RetryPolicy::default().with_max_attempts(1_000),
            block: Mutex::new(None),
            next_sequence: AtomicU64::new(0),
        }
    }

    /// The group-commit front every change goes through.
    pub fn client(&self) -> &LedgerClient<S> {
        &self.client
    }

    /// The ledger underneath.
    pub fn ledger(&self) -> &Ledger<S> {
        self.client.ledger()
    }

    /// The store, giving up the users.
    pub fn into_store(self) -> S {
        self.client.into_ledger().into_store()
    }

    fn store(&self) -> &S {
        self.ledger().store()
    }

    /// Registers `nickname` with `opening_balance`, paid by the issuance
    /// account. Registering a nickname again with the same opening balance
    /// is a retry and changes nothing; so is finishing a registration that
    /// was interrupted.
    ///
    /// # Errors
    /// [`LedgerError::InvalidNickname`], [`LedgerError::AlreadyRegistered`]
    /// (with another opening balance), [`LedgerError::AccountIdTaken`] (the
    /// nickname's account id is another's: pick another nickname), and
    /// whatever the store or the group commit returns (retry then).
    pub fn register(&self, nickname: &str, opening_balance: u128, now_ns: u64) -> Result<User, LedgerError> {
        if let Some(reason) = rules::nickname_problem(nickname) {
            return Err(LedgerError::InvalidNickname {
                nickname: nickname.to_owned(),
                reason,
            });
        }
        let id = UserId::of_nickname(nickname);
        let account_id = id.account_id();
        let taken = |taken_by: &str| LedgerError::AccountIdTaken {
            nickname: nickname.to_owned(),
            taken_by: taken_by.to_owned(),
        };
        if is_reserved_account_id(account_id) {
            return Err(taken("(reserved)"));
        }
        // First the registry record, so that no account ever holds money
        // without a nickname to list it under.
        let key = self.keys.user(account_id);
        transact(self.store(), &self.policy, |txn| {
            match txn.get_as::<UserRecord>(&key)? {
                None => txn.put_as(
                    key.clone(),
                    &UserRecord {
                        nickname: nickname.to_owned(),
                        id,
                        opening_balance,
                    },
                )?,
                Some(record) if record.nickname != nickname => return Err(taken(&record.nickname)),
                Some(record) if record.opening_balance != opening_balance => {
                    return Err(LedgerError::AlreadyRegistered {
                        nickname: nickname.to_owned(),
                    });
                }
                Some(_) => {}
            }
            Ok(())
        })?;
        let issuance = Account::new(ISSUANCE_ACCOUNT_ID, USERS_LEDGER, ISSUANCE_ACCOUNT_CODE);
        let account = Account::new(account_id, USERS_LEDGER, USER_ACCOUNT_CODE)
            .with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS);
        let results = self.client.create_accounts(&[issuance, account], now_ns)?;
        for result in &results {
            if !matches!(
                result.status,
                CreateAccountStatus::Created | CreateAccountStatus::Exists
            ) {
                return Err(taken("(an account not made by Users)"));
            }
        }
        let opening = Transfer::new(
            opening_transfer_id(account_id),
            ISSUANCE_ACCOUNT_ID,
            account_id,
            opening_balance,
            USERS_LEDGER,
            OPENING_TRANSFER_CODE,
        );
        let id_of_opening = opening.id;
        match self
            .client
            .create_transfers(&[opening], now_ns)?
            .first()
            .map(|r| r.status)
        {
            Some(Status::Created | Status::Exists) => Ok(User {
                nickname: nickname.to_owned(),
                id,
                account_id,
            }),
            Some(status) => Err(LedgerError::TransferRejected {
                id: id_of_opening,
                status,
            }),
            None => Err(answer_missing()),
        }
    }

    /// The user registered as `nickname`, if any.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn user(&self, nickname: &str) -> Result<Option<User>, LedgerError> {
        let id = UserId::of_nickname(nickname);
        let key = self.keys.user(id.account_id());
        Ok(read::<UserRecord, S>(self.store(), &key)?
            .filter(|record| record.nickname == nickname)
            .map(|record| User {
                nickname: record.nickname,
                id: record.id,
                account_id: id.account_id(),
            }))
    }

    /// Every registered user with their balances, by nickname. The balances
    /// of up to [`BATCH_EVENTS_MAX`] users come from one consistent
    /// snapshot (so their sum is exact even while transfers run).
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn users(&self) -> Result<Vec<UserBalance>, LedgerError> {
        Ok(self.snapshot()?.0)
    }

    /// The users (by nickname), the ledger head and the issuance account,
    /// read together.
    fn snapshot(&self) -> Result<(Vec<UserBalance>, crate::Head, Option<Account>, u64), LedgerError> {
        let mut records = Vec::new();
        let prefix = self.keys.users_prefix();
        for entry in scan_all(self.store(), &prefix, 1_024) {
            let entry = entry?;
            records.push(decode::<UserRecord>(&entry.key, &entry.value)?);
        }
        records.sort_by(|a, b| a.nickname.cmp(&b.nickname));
        let mut balances = Vec::with_capacity(records.len());
        let mut head = crate::Head::default();
        let mut issuance = None;
        let mut missing_accounts = 0;
        let mut chunks = records.chunks(BATCH_EVENTS_MAX - 1).peekable();
        if chunks.peek().is_none() {
            let (found_head, found) = self.ledger().lookup_accounts_with_head(&[ISSUANCE_ACCOUNT_ID])?;
            return Ok((Vec::new(), found_head, found.first().copied(), 0));
        }
        for chunk in chunks {
            let mut ids: Vec<u128> = chunk.iter().map(|record| record.id.account_id()).collect();
            ids.push(ISSUANCE_ACCOUNT_ID);
            let (found_head, found) = self.ledger().lookup_accounts_with_head(&ids)?;
            head = found_head;
            let by_id: std::collections::HashMap<u128, Account> = found.into_iter().map(|a| (a.id, a)).collect();
            issuance = by_id.get(&ISSUANCE_ACCOUNT_ID).copied();
            for record in chunk {
                let account_id = record.id.account_id();
                let account = by_id.get(&account_id).copied().unwrap_or_else(|| {
                    missing_accounts += 1;
                    Account::new(account_id, USERS_LEDGER, USER_ACCOUNT_CODE)
                });
                balances.push(UserBalance {
                    nickname: record.nickname.clone(),
                    id: record.id,
                    account_id,
                    // Kept non-negative by the account's limit; the audit
                    // reports a stored account that breaks it.
                    balance: account.credits_posted.saturating_sub(account.debits_posted),
                    reserved: account.debits_pending,
                    incoming: account.credits_pending,
                });
            }
        }
        Ok((balances, head, issuance, missing_accounts))
    }

    /// Pending user transfers: phase one done, phase two not yet.
    ///
    /// # Errors
    /// [`LedgerError::Store`].
    pub fn pending(&self) -> Result<u64, LedgerError> {
        Ok(self.ledger().head()?.pending)
    }

    /// Every user's balance, their sum, the pending count and the audit.
    ///
    /// # Errors
    /// [`LedgerError::Store`]; what the audit finds is in the report.
    pub fn report(&self) -> Result<Report, LedgerError> {
        let (users, head, issuance, missing_accounts) = self.snapshot()?;
        let mut audit = Vec::new();
        let ledger_audit = self.ledger().audit()?;
        if !ledger_audit.is_ok() {
            let first = ledger_audit
                .problems
                .first()
                .map(|problem| format!(" (first: {problem:?})"))
                .unwrap_or_default();
            audit.push(format!(
                "the journal disagrees with the stored ledger in {} places{first}",
                ledger_audit.problem_count
            ));
        }
        let mut total: u128 = 0;
        for user in &users {
            match total.checked_add(user.balance) {
                Some(sum) => total = sum,
                None => audit.push("the users' balances overflow a u128".to_owned()),
            }
        }
        let issued = issuance.map_or(0, |a| a.debits_posted.saturating_sub(a.credits_posted));
        if total != issued {
            audit.push(format!("the users hold {total} but {issued} was issued"));
        }
        // Every account but the issuance account belongs to a user.
        let with_accounts = users.len() as u64 - missing_accounts;
        let accounts_outside = head
            .accounts
            .saturating_sub(with_accounts + u64::from(issuance.is_some()));
        if accounts_outside > 0 {
            audit.push(format!("{accounts_outside} accounts belong to no registered user"));
        }
        if missing_accounts > 0 {
            audit.push(format!(
                "{missing_accounts} registrations are unfinished (register them again)"
            ));
        }
        Ok(Report {
            users,
            total,
            issued,
            pending: head.pending,
            audit,
        })
    }

    /// A fresh transaction id, unique across every process sharing the
    /// store: from this instance's block (taken from the store on first
    /// use), numbered in order.
    ///
    /// # Errors
    /// [`LedgerError::Store`] when a block cannot be taken.
    pub fn new_transaction_id(&self) -> Result<u128, LedgerError> {
        let block = self.block()?;
        let sequence = self.next_sequence.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        rules::transaction_id(block, sequence).ok_or(LedgerError::InvalidTransfer {
            reason: "this Users instance has used up its transaction ids",
        })
    }

    fn block(&self) -> Result<u64, LedgerError> {
        let mut block = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(block) = *block {
            return Ok(block);
        }
        let key = self.keys.next_block();
        let taken = transact(self.store(), &self.policy, |txn| {
            let next = txn.get_as::<u64>(&key)?.unwrap_or(1);
            if next > rules::TRANSACTION_BLOCK_MAX {
                return Err(LedgerError::InvalidTransfer {
                    reason: "every block of transaction ids is used up",
                });
            }
            txn.put_as(key.clone(), &(next + 1))?;
            Ok(next)
        })?;
        *block = Some(taken);
        Ok(taken)
    }

    /// Phase one (TiMPE's `POST /transactions`): a pending transfer of
    /// `amount` from `from` to `to`, reserving the funds. Returns the
    /// transaction's id; [`process`](Self::process) posts it.
    ///
    /// # Errors
    /// As [`transfer_with_id`](Self::transfer_with_id). After a store error
    /// the transfer may have been made; to retry safely, take an id from
    /// [`new_transaction_id`](Self::new_transaction_id) and call
    /// `transfer_with_id` until it answers.
    pub fn transfer(&self, from: &UserId, to: &UserId, amount: u128, now_ns: u64) -> Result<u128, LedgerError> {
        let id = self.new_transaction_id()?;
        self.transfer_with_id(id, from, to, amount, now_ns)?;
        Ok(id)
    }

    /// Phase one with the caller's transaction id `id`: calling again with
    /// the same arguments answers as the first call did.
    ///
    /// # Errors
    /// [`LedgerError::InvalidTransfer`] (a zero amount, the same user
    /// twice, an id not from [`new_transaction_id`](Self::new_transaction_id)),
    /// [`LedgerError::UnknownUser`], [`LedgerError::InsufficientBalance`]
    /// (reserved funds count), [`LedgerError::TransferRejected`] (the id
    /// was used for another transfer, or failed before: `id_already_failed`),
    /// and store or group-commit errors (retry with the same id).
    pub fn transfer_with_id(
        &self,
        id: u128,
        from: &UserId,
        to: &UserId,
        amount: u128,
        now_ns: u64,
    ) -> Result<(), LedgerError> {
        let pending = self.pending_transfer(id, from, to, amount)?;
        let status = self
            .client
            .create_transfers(&[pending], now_ns)?
            .first()
            .map(|r| r.status);
        match status {
            Some(Status::Created | Status::Exists) => Ok(()),
            Some(status) => Err(transfer_error(id, status, from, to, amount)),
            None => Err(answer_missing()),
        }
    }

    /// Both phases at once (TiMPE's `POST /transactions/immediately`): the
    /// pending transfer and its post, linked, in one commit. Returns the
    /// transaction's id.
    ///
    /// # Errors
    /// As [`transfer`](Self::transfer).
    pub fn transfer_immediately(
        &self,
        from: &UserId,
        to: &UserId,
        amount: u128,
        now_ns: u64,
    ) -> Result<u128, LedgerError> {
        let id = self.new_transaction_id()?;
        self.transfer_immediately_with_id(id, from, to, amount, now_ns)?;
        Ok(id)
    }

    /// Both phases with the caller's transaction id; idempotent as
    /// [`transfer_with_id`](Self::transfer_with_id). A retry finds the
    /// transaction and posts it if it is still pending.
    ///
    /// # Errors
    /// As [`transfer_with_id`](Self::transfer_with_id).
    pub fn transfer_immediately_with_id(
        &self,
        id: u128,
        from: &UserId,
        to: &UserId,
        amount: u128,
        now_ns: u64,
    ) -> Result<(), LedgerError> {
        let pending = self.pending_transfer(id, from, to, amount)?;
        let chain = [
            pending.with_flags(TransferFlags::PENDING | TransferFlags::LINKED),
            Transfer::post(post_id(id), id, AMOUNT_MAX),
        ];
        let results = self.client.create_transfers(&chain, now_ns)?;
        match (results.first().map(|r| r.status), results.get(1).map(|r| r.status)) {
            (Some(Status::Created), Some(Status::Created)) => Ok(()),
            // A retry: `exists` breaks the chain, so post on its own (which
            // answers `exists` if the first call got that far).
            (Some(Status::Exists), _) => {
                let post = Transfer::post(post_id(id), id, AMOUNT_MAX);
                match self.client.create_transfers(&[post], now_ns)?.first().map(|r| r.status) {
                    Some(Status::Created | Status::Exists | Status::PendingTransferAlreadyPosted) => Ok(()),
                    Some(status) => Err(LedgerError::TransferRejected { id: post.id, status }),
                    None => Err(answer_missing()),
                }
            }
            (Some(Status::LinkedEventFailed), Some(status)) => Err(LedgerError::TransferRejected {
                id: post_id(id),
                status,
            }),
            (Some(status), _) => Err(transfer_error(id, status, from, to, amount)),
            (None, _) => Err(answer_missing()),
        }
    }

    fn pending_transfer(&self, id: u128, from: &UserId, to: &UserId, amount: u128) -> Result<Transfer, LedgerError> {
        if amount == 0 {
            return Err(LedgerError::InvalidTransfer {
                reason: "the amount must be positive",
            });
        }
        if from == to {
            return Err(LedgerError::InvalidTransfer {
                reason: "sender and recipient are the same user",
            });
        }
        if !is_transaction_id(id) {
            return Err(LedgerError::InvalidTransfer {
                reason: "not a transaction id (take one from new_transaction_id)",
            });
        }
        Ok(Transfer::new(
            id,
            from.account_id(),
            to.account_id(),
            amount,
            USERS_LEDGER,
            USER_TRANSFER_CODE,
        )
        .with_flags(TransferFlags::PENDING))
    }

    /// Phase two (TiMPE's `POST /transactions/process`): posts up to `limit`
    /// pending user transfers, oldest first, and moves the sweep cursor past
    /// them.
    ///
    /// The sweep reads the ledger's journal from the cursor; every phase-one
    /// transfer it finds that it has not seen posted, it posts, in creation
    /// order, in batches of up to [`BATCH_EVENTS_MAX`]. Each post has the id
    /// [`post_id`] of its transaction, so a transaction posted already (by
    /// another sweep running at the same time, in this process or another,
    /// or by an earlier sweep that was interrupted) answers `exists` and
    /// counts in [`ProcessReport::already_posted`]. The cursor only moves
    /// once the posts before it are committed, and only forward: an
    /// interrupted sweep (an error, a crash) loses nothing, and the next
    /// one resumes where this one's posts were last confirmed.
    ///
    /// # Errors
    /// Store or group-commit errors; call again (nothing is posted twice).
    pub fn process(&self, now_ns: u64, limit: usize) -> Result<ProcessReport, LedgerError> {
        let cursor_key = self.keys.sweep_cursor();
        let cursor = read::<u64, S>(self.store(), &cursor_key)?.unwrap_or(0);
        let mut scan = SweepScan::new(cursor);
        let mut more = false;
        loop {
            if scan.candidates() >= limit {
                more = true;
                break;
            }
            let pages = self.ledger().journal_pages(scan.end_seq(), SWEEP_PAGES_PER_READ)?;
            if pages.is_empty() {
                break;
            }
            for page in &pages {
                scan.page(page);
            }
        }
        let end_seq = scan.end_seq();
        let candidates = scan.into_candidates();
        let chosen = &candidates[..candidates.len().min(limit)];
        let mut report = ProcessReport::default();
        let mut done = vec![false; chosen.len()];
        let mut offset = 0;
        for chunk in chosen.chunks(BATCH_EVENTS_MAX) {
            let posts: Vec<Transfer> = chunk
                .iter()
                .map(|pending| Transfer::post(post_id(pending.id), pending.id, AMOUNT_MAX))
                .collect();
            let results = self.client.create_transfers(&posts, now_ns)?;
            for (index, (pending, result)) in chunk.iter().zip(&results).enumerate() {
                match result.status {
                    Status::Created => report.posted += 1,
                    Status::Exists | Status::PendingTransferAlreadyPosted => report.already_posted += 1,
                    status => {
                        report.failed.push(FailedPost {
                            transaction_id: pending.id,
                            status,
                        });
                        continue;
                    }
                }
                done[offset + index] = true;
            }
            offset += chunk.len();
        }
        let target = next_cursor(&candidates, |index| done.get(index).copied().unwrap_or(false), end_seq);
        report.cursor = transact(self.store(), &self.policy, |txn| {
            let current = txn.get_as::<u64>(&cursor_key)?.unwrap_or(0);
            if target > current {
                txn.put_as(cursor_key.clone(), &target)?;
            }
            Ok::<_, LedgerError>(target.max(current))
        })?;
        report.more = more && report.failed.is_empty();
        Ok(report)
    }

    /// Deletes every user, transfer and account of these users (the
    /// ledger's namespace and the registry's), as `u2u seed` does before it
    /// registers anyone. **Not** safe while anything else uses them.
    ///
    /// # Errors
    /// [`LedgerError::Store`]; call again to finish.
    pub fn reset(&self) -> Result<(), LedgerError> {
        *self.block.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.next_sequence.store(0, Ordering::Relaxed);
        for prefix in [self.ledger_namespace.as_slice(), self.keys.namespace()] {
            loop {
                let page = self.store().scan(prefix, None, RESET_KEYS_PER_COMMIT)?;
                if page.entries.is_empty() {
                    break;
                }
                let mut batch = Batch::with_capacity(page.entries.len());
                for entry in page.entries {
                    batch.delete(entry.key);
                }
                self.store().commit(batch)?;
            }
        }
        Ok(())
    }
}

fn transfer_error(id: u128, status: Status, from: &UserId, to: &UserId, amount: u128) -> LedgerError {
    match status {
        Status::ExceedsCredits => LedgerError::InsufficientBalance { user: *from, amount },
        Status::DebitAccountNotFound => LedgerError::UnknownUser { user: *from },
        Status::CreditAccountNotFound => LedgerError::UnknownUser { user: *to },
        status => LedgerError::TransferRejected { id, status },
    }
}

fn answer_missing() -> LedgerError {
    crate::core::Inconsistent {
        what: "the ledger answered a call with fewer results than events".to_owned(),
    }
    .into()
}

fn decode<T: serde::de::DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    tally_store::codec::decode(bytes).map_err(|error| StoreError::codec(key, error))
}

fn read<T: serde::de::DeserializeOwned, S: Store + ?Sized>(store: &S, key: &[u8]) -> Result<Option<T>, StoreError> {
    match store.get(key)? {
        Some(versioned) => decode(key, &versioned.value).map(Some),
        None => Ok(None),
    }
}
