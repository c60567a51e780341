//! The append-only journal and its audit.
//!
//! Every applied event (an account created, a transfer applied, a pending
//! transfer expired) is a [`JournalRecord`] with a gapless sequence number,
//! written in the same atomic commit as the balances it changes and never
//! rewritten. Balances are derived state: [`Auditor`] replays the journal
//! from nothing, recomputes every account, and compares the result with the
//! stored accounts.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::core::JournalEvent;
use crate::types::{Account, AccountFlags, Transfer, TransferFlags};

/// The events of one commit, stored under their first sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalPage {
    /// The sequence number of `events[0]`; `events[i]` has `first_seq + i`.
    pub first_seq: u64,
    /// The events, in the order they were applied.
    pub events: Vec<JournalEvent>,
}

/// One journal entry: an applied event and its sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Gapless, from 0.
    pub seq: u64,
    /// What was applied.
    pub event: JournalEvent,
}

/// The most problems an audit lists (it counts the rest).
pub const AUDIT_PROBLEMS_MAX: usize = 100;

/// Something the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum AuditProblem {
    /// A journal page does not start where the previous one ended.
    SequenceGap {
        /// The sequence number expected next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// An event's timestamp is not above the previous event's.
    TimestampNotIncreasing {
        /// The event.
        seq: u64,
        /// Its timestamp.
        timestamp: u64,
        /// The previous event's.
        previous: u64,
    },
    /// An event cannot be replayed (a transfer on a missing account, a
    /// second creation of one id, a resolution of a transfer that is not
    /// pending, an overflow).
    Replay {
        /// The event.
        seq: u64,
        /// What went wrong.
        what: String,
    },
    /// A stored account differs from its replay.
    AccountDiffers {
        /// The account.
        account_id: u128,
        /// The field (`"debits_posted"`, `"closed"`, ...).
        field: &'static str,
        /// The replayed value.
        journal: u128,
        /// The stored value.
        stored: u128,
    },
    /// An account is stored but was never journaled, or the reverse.
    AccountMissing {
        /// The account.
        account_id: u128,
        /// True when the store has it and the journal does not.
        in_store: bool,
    },
    /// The head's next sequence number is not the journal's.
    HeadDiffers {
        /// The journal's next sequence number.
        journal: u64,
        /// The head's.
        head: u64,
    },
    /// Σ debits differs from Σ credits over the stored accounts.
    NotBalanced {
        /// `"pending"` or `"posted"`.
        which: &'static str,
    },
}

/// What [`Ledger::audit`](crate::Ledger::audit) found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Journal events replayed.
    pub events: u64,
    /// Accounts compared.
    pub accounts: u64,
    /// Transfers replayed.
    pub transfers: u64,
    /// Pending transfers still unresolved after the replay.
    pub pending: u64,
    /// The first [`AUDIT_PROBLEMS_MAX`] problems.
    pub problems: Vec<AuditProblem>,
    /// How many problems there were in all.
    pub problem_count: u64,
}

impl AuditReport {
    /// True when the audit found nothing wrong.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }
}

/// Replays journal pages in order and compares the result with the stored
/// accounts.
#[derive(Debug, Default)]
pub struct Auditor {
    accounts: HashMap<u128, Account>,
    pending: HashMap<u128, Transfer>,
    transfer_ids: HashSet<u128>,
    next_seq: u64,
    timestamp_last: u64,
    report: AuditReport,
}

impl Auditor {
    /// An auditor that has seen nothing.
    pub fn new() -> Self {
        Auditor::default()
    }

    fn problem(&mut self, problem: AuditProblem) {
        self.report.problem_count += 1;
        if self.report.problems.len() < AUDIT_PROBLEMS_MAX {
            self.report.problems.push(problem);
        }
    }

    /// Replays the next page.
    pub fn page(&mut self, page: &JournalPage) {
        if page.first_seq != self.next_seq {
            self.problem(AuditProblem::SequenceGap {
                expected: self.next_seq,
                found: page.first_seq,
            });
        }
        self.next_seq = page.first_seq;
        for event in &page.events {
            let seq = self.next_seq;
            self.event(seq, event);
            self.next_seq = self.next_seq.saturating_add(1);
        }
    }

    fn event(&mut self, seq: u64, event: &JournalEvent) {
        self.report.events += 1;
        let timestamp = event.timestamp();
        if timestamp <= self.timestamp_last {
            self.problem(AuditProblem::TimestampNotIncreasing {
                seq,
                timestamp,
                previous: self.timestamp_last,
            });
        }
        self.timestamp_last = timestamp;
        if let Err(what) = self.replay(event) {
            self.problem(AuditProblem::Replay { seq, what });
        }
    }

    fn replay(&mut self, event: &JournalEvent) -> Result<(), String> {
        match *event {
            JournalEvent::AccountCreated(account) => {
                if account.debits_pending != 0
                    || account.debits_posted != 0
                    || account.credits_pending != 0
                    || account.credits_posted != 0
                {
                    return Err(format!("account {} created with balances", account.id));
                }
                if self.accounts.insert(account.id, account).is_some() {
                    return Err(format!("account {} created twice", account.id));
                }
                Ok(())
            }
            JournalEvent::TransferCreated(transfer) => {
                self.report.transfers += 1;
                if !self.transfer_ids.insert(transfer.id) {
                    return Err(format!("transfer {} applied twice", transfer.id));
                }
                let flags = transfer.flags;
                if flags.contains(TransferFlags::POST_PENDING_TRANSFER)
                    || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
                {
                    let pending = self.pending.remove(&transfer.pending_id).ok_or_else(|| {
                        format!(
                            "transfer {} resolves {}, which is not pending",
                            transfer.id, transfer.pending_id
                        )
                    })?;
                    let post = flags.contains(TransferFlags::POST_PENDING_TRANSFER);
                    if transfer.amount > pending.amount {
                        return Err(format!("transfer {} posts more than its pending amount", transfer.id));
                    }
                    self.release(&pending, !post)?;
                    if post {
                        self.move_amount(&transfer, false)?;
                    }
                    Ok(())
                } else if flags.contains(TransferFlags::PENDING) {
                    self.move_amount(&transfer, true)?;
                    self.pending.insert(transfer.id, transfer);
                    let closing = [
                        (TransferFlags::CLOSING_DEBIT, transfer.debit_account_id),
                        (TransferFlags::CLOSING_CREDIT, transfer.credit_account_id),
                    ];
                    for (flag, account_id) in closing {
                        if flags.contains(flag) {
                            let account = self.account(account_id)?;
                            account.flags = account.flags.with(AccountFlags::CLOSED);
                        }
                    }
                    Ok(())
                } else {
                    self.move_amount(&transfer, false)
                }
            }
            JournalEvent::TransferExpired { pending_id, .. } => {
                let pending = self
                    .pending
                    .remove(&pending_id)
                    .ok_or_else(|| format!("expiry of {pending_id}, which is not pending"))?;
                self.release(&pending, true)
            }
        }
    }

    fn account(&mut self, id: u128) -> Result<&mut Account, String> {
        self.accounts
            .get_mut(&id)
            .ok_or_else(|| format!("account {id} does not exist"))
    }

    fn move_amount(&mut self, transfer: &Transfer, pending: bool) -> Result<(), String> {
        let overflow = || format!("transfer {} overflows", transfer.id);
        let debit = self.account(transfer.debit_account_id)?;
        let field = if pending {
            &mut debit.debits_pending
        } else {
            &mut debit.debits_posted
        };
        *field = field.checked_add(transfer.amount).ok_or_else(overflow)?;
        let credit = self.account(transfer.credit_account_id)?;
        let field = if pending {
            &mut credit.credits_pending
        } else {
            &mut credit.credits_posted
        };
        *field = field.checked_add(transfer.amount).ok_or_else(overflow)?;
        Ok(())
    }

    /// Takes a pending transfer's reservation back; `reopen` undoes its
    /// closing flags (void and expiry, not post).
    fn release(&mut self, pending: &Transfer, reopen: bool) -> Result<(), String> {
        let underflow = || format!("releasing {} drops a pending balance below zero", pending.id);
        let debit = self.account(pending.debit_account_id)?;
        debit.debits_pending = debit.debits_pending.checked_sub(pending.amount).ok_or_else(underflow)?;
        if reopen && pending.flags.contains(TransferFlags::CLOSING_DEBIT) {
            debit.flags = debit.flags.without(AccountFlags::CLOSED);
        }
        let credit = self.account(pending.credit_account_id)?;
        credit.credits_pending = credit
            .credits_pending
            .checked_sub(pending.amount)
            .ok_or_else(underflow)?;
        if reopen && pending.flags.contains(TransferFlags::CLOSING_CREDIT) {
            credit.flags = credit.flags.without(AccountFlags::CLOSED);
        }
        Ok(())
    }

    /// Compares the replay with the stored accounts and the head's next
    /// sequence number, and returns the report.
    pub fn finish(mut self, stored: impl IntoIterator<Item = Account>, head_next_seq: u64) -> AuditReport {
        if head_next_seq != self.next_seq {
            self.problem(AuditProblem::HeadDiffers {
                journal: self.next_seq,
                head: head_next_seq,
            });
        }
        let mut seen = HashSet::new();
        let (mut debits_pending, mut credits_pending, mut debits_posted, mut credits_posted) =
            (0u128, 0u128, 0u128, 0u128);
        for account in stored {
            self.report.accounts += 1;
            seen.insert(account.id);
            // Wrapping sums still compare exactly (modulo 2^128).
            debits_pending = debits_pending.wrapping_add(account.debits_pending);
            credits_pending = credits_pending.wrapping_add(account.credits_pending);
            debits_posted = debits_posted.wrapping_add(account.debits_posted);
            credits_posted = credits_posted.wrapping_add(account.credits_posted);
            let Some(replayed) = self.accounts.get(&account.id).copied() else {
                self.problem(AuditProblem::AccountMissing {
                    account_id: account.id,
                    in_store: true,
                });
                continue;
            };
            let closed = |a: &Account| u128::from(a.flags.contains(AccountFlags::CLOSED));
            let fields = [
                ("debits_pending", replayed.debits_pending, account.debits_pending),
                ("debits_posted", replayed.debits_posted, account.debits_posted),
                ("credits_pending", replayed.credits_pending, account.credits_pending),
                ("credits_posted", replayed.credits_posted, account.credits_posted),
                ("closed", closed(&replayed), closed(&account)),
                ("timestamp", replayed.timestamp.into(), account.timestamp.into()),
            ];
            for (field, journal, stored) in fields {
                if journal != stored {
                    self.problem(AuditProblem::AccountDiffers {
                        account_id: account.id,
                        field,
                        journal,
                        stored,
                    });
                }
            }
        }
        let mut missing: Vec<u128> = self.accounts.keys().filter(|id| !seen.contains(id)).copied().collect();
        missing.sort_unstable();
        for account_id in missing {
            self.problem(AuditProblem::AccountMissing {
                account_id,
                in_store: false,
            });
        }
        if debits_pending != credits_pending {
            self.problem(AuditProblem::NotBalanced { which: "pending" });
        }
        if debits_posted != credits_posted {
            self.problem(AuditProblem::NotBalanced { which: "posted" });
        }
        self.report.pending = self.pending.len() as u64;
        self.report
    }
}
