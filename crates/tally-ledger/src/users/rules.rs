//! The rules of the user-to-user API, pure: user ids, the layout of
//! transfer ids, and which pending transfers a sweep posts.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::core::JournalEvent;
use crate::id_hash::IdMap;
use crate::journal::JournalPage;
use crate::types::TransferFlags;

/// The ledger (the currency) every user account and transfer is in.
pub const USERS_LEDGER: u32 = 1;

/// The `code` of a user's account.
pub const USER_ACCOUNT_CODE: u16 = 1;

/// The `code` of the issuance account, which pays every opening balance.
pub const ISSUANCE_ACCOUNT_CODE: u16 = 2;

/// The id of the issuance account. Its debits minus its credits are all
/// the money in the users' hands.
pub const ISSUANCE_ACCOUNT_ID: u128 = 1;

/// The `code` of an opening balance (issuance to a user).
pub const OPENING_TRANSFER_CODE: u16 = 1;

/// The `code` of a transfer between two users.
pub const USER_TRANSFER_CODE: u16 = 2;

/// The longest nickname, in bytes of UTF-8.
pub const NICKNAME_BYTES_MAX: usize = 128;

/// What TiMPE put before a nickname to hash it into a user id.
pub const USER_ID_SALT: &[u8] = b"salt";

/// The largest block number of transaction ids (see [`transaction_id`]).
pub const TRANSACTION_BLOCK_MAX: u64 = (1 << 62) - 1;

/// A user's id, as TiMPE made it: SHA-1 of `"salt"` followed by the
/// nickname's UTF-8, shown as 40 lowercase hex digits.
///
/// ```
/// use tally_ledger::users::UserId;
///
/// let id = UserId::of_nickname("elon_musk");
/// assert_eq!(id.to_string().len(), 40);
/// assert_eq!(UserId::from_hex(&id.to_string()), Some(id));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UserId(pub [u8; 20]);

impl UserId {
    /// The id of `nickname`.
    pub fn of_nickname(nickname: &str) -> UserId {
        let mut hasher = Sha1::new();
        hasher.update(USER_ID_SALT);
        hasher.update(nickname.as_bytes());
        UserId(hasher.finalize().into())
    }

    /// The ledger account of the user: the first 16 bytes of the id,
    /// big-endian.
    pub fn account_id(&self) -> u128 {
        let mut high = [0u8; 16];
        high.copy_from_slice(&self.0[..16]);
        u128::from_be_bytes(high)
    }

    /// The 40 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The id written as 40 hex digits (either case), if `text` is one.
    pub fn from_hex(text: &str) -> Option<UserId> {
        let mut bytes = [0u8; 20];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(UserId(bytes))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.to_hex())
    }
}

/// Why `nickname` cannot be registered, if it cannot.
pub fn nickname_problem(nickname: &str) -> Option<&'static str> {
    if nickname.is_empty() {
        Some("it is empty")
    } else if nickname.len() > NICKNAME_BYTES_MAX {
        Some("it is longer than 128 bytes")
    } else if nickname.chars().any(char::is_control) {
        Some("it holds control characters")
    } else {
        None
    }
}

/// True when `account_id` may not belong to a user (0, `u128::MAX`, the
/// issuance account).
pub fn is_reserved_account_id(account_id: u128) -> bool {
    account_id == 0 || account_id == u128::MAX || account_id == ISSUANCE_ACCOUNT_ID
}

// Transfer ids. The three kinds never collide:
//
// | bits 127..126 | kind |
// |---|---|
// | `00` | a user transaction (phase one): block (62 bits, >= 1) << 64 | sequence (64 bits, >= 1) |
// | `01` | an opening balance: `01` followed by the top 126 bits of the account id |
// | `1x` | the post (phase two) of transaction `t`: `t | 1 << 127` |
//
// A process takes a block of its own from the store and numbers its
// transactions in it, so ids from one process are consecutive (they share
// the ledger's buckets of 64) and ids from two processes never meet.

/// The id of transaction `sequence` of block `block`, if both are in range
/// (`1..=TRANSACTION_BLOCK_MAX` and `1..`).
pub fn transaction_id(block: u64, sequence: u64) -> Option<u128> {
    ((1..=TRANSACTION_BLOCK_MAX).contains(&block) && sequence >= 1)
        .then(|| (u128::from(block) << 64) | u128::from(sequence))
}

/// True when `id` is a transaction id (of [`transaction_id`]'s form).
pub fn is_transaction_id(id: u128) -> bool {
    id >> 126 == 0 && id >> 64 != 0 && id as u64 != 0
}

/// The id of the post (phase two) of transaction `transaction_id`: the same
/// for every sweep and for [`transfer_immediately`](crate::users::Users::transfer_immediately),
/// so a transaction is posted once however many try.
pub fn post_id(transaction_id: u128) -> u128 {
    debug_assert!(is_transaction_id(transaction_id));
    transaction_id | (1 << 127)
}

/// The id of the opening-balance transfer of the account `account_id`.
pub fn opening_transfer_id(account_id: u128) -> u128 {
    (account_id >> 2) | (1 << 126)
}

/// A pending user transaction found in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// The transaction's id.
    pub id: u128,
    /// Its sequence number in the journal (its creation order).
    pub seq: u64,
    /// The first sequence number of the journal page holding it: where a
    /// sweep resumes to find it again.
    pub page_first_seq: u64,
}

/// One sweep's reading of the journal: the pending user transactions it
/// has seen and not seen resolved, in creation order.
///
/// Feed it journal pages in order from the sweep cursor; each phase-one
/// user transfer becomes a candidate, and a post (or void, or expiry) of a
/// candidate seen later removes it.
#[derive(Debug, Default)]
pub struct SweepScan {
    found: Vec<Option<Pending>>,
    by_id: IdMap<usize>,
    candidates: usize,
    /// The sequence number after the last page read.
    end_seq: u64,
}

impl SweepScan {
    /// A scan starting at the cursor `from_seq`.
    pub fn new(from_seq: u64) -> Self {
        SweepScan {
            end_seq: from_seq,
            ..SweepScan::default()
        }
    }

    /// Reads the next page (which must start where the last one ended, or
    /// later, for the first).
    pub fn page(&mut self, page: &JournalPage) {
        debug_assert!(page.first_seq >= self.end_seq);
        for (offset, event) in page.events.iter().enumerate() {
            let seq = page.first_seq + offset as u64;
            match event {
                JournalEvent::TransferCreated(transfer) => {
                    let flags = transfer.flags;
                    if flags.contains(TransferFlags::PENDING)
                        && transfer.code == USER_TRANSFER_CODE
                        && transfer.ledger == USERS_LEDGER
                        && is_transaction_id(transfer.id)
                    {
                        self.by_id.insert(transfer.id, self.found.len());
                        self.found.push(Some(Pending {
                            id: transfer.id,
                            seq,
                            page_first_seq: page.first_seq,
                        }));
                        self.candidates += 1;
                    } else if flags.contains(TransferFlags::POST_PENDING_TRANSFER)
                        || flags.contains(TransferFlags::VOID_PENDING_TRANSFER)
                    {
                        self.resolve(transfer.pending_id);
                    }
                }
                JournalEvent::TransferExpired { pending_id, .. } => self.resolve(*pending_id),
                JournalEvent::AccountCreated(_) => {}
            }
        }
        self.end_seq = page.first_seq + page.events.len() as u64;
    }

    fn resolve(&mut self, pending_id: u128) {
        if let Some(index) = self.by_id.remove(&pending_id)
            && let Some(slot) = self.found.get_mut(index)
            && slot.take().is_some()
        {
            self.candidates -= 1;
        }
    }

    /// Pending transactions seen and not seen resolved.
    pub fn candidates(&self) -> usize {
        self.candidates
    }

    /// The sequence number after the last page read: where the next sweep
    /// may start if every candidate is posted.
    pub fn end_seq(&self) -> u64 {
        self.end_seq
    }

    /// The candidates, in creation order.
    pub fn into_candidates(self) -> Vec<Pending> {
        let pending: Vec<Pending> = self.found.into_iter().flatten().collect();
        debug_assert_eq!(pending.len(), self.candidates);
        debug_assert!(pending.windows(2).all(|pair| pair[0].seq < pair[1].seq));
        pending
    }
}

/// Where the sweep cursor goes after a sweep that read the journal up to
/// `end_seq`: to the page of the first candidate that was not posted (left
/// for later by the limit, or refused), else to `end_seq`.
pub fn next_cursor(candidates: &[Pending], posted: impl Fn(usize) -> bool, end_seq: u64) -> u64 {
    candidates
        .iter()
        .enumerate()
        .find(|(index, _)| !posted(*index))
        .map_or(end_seq, |(_, pending)| pending.page_first_seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{AMOUNT_MAX, Transfer};

    #[test]
    fn user_ids_are_sha1_of_salt_and_nickname() {
        // Computed independently, with Python's hashlib.sha1(b"salt" + nickname).
        assert_eq!(
            UserId::of_nickname("").to_hex(),
            "b295d117135a9763da282e7dae73a5ca7d3e5b11"
        );
        assert_eq!(
            UserId::of_nickname("elon_musk").to_hex(),
            "6ca595a7875dca8fc5b193aa7eaa566a6b0afdff"
        );
        let id = UserId::of_nickname("lovelace");
        assert_eq!(id, UserId::of_nickname("lovelace"));
        assert_ne!(id, UserId::of_nickname("Lovelace"));
        assert_eq!(
            id.account_id() >> 96,
            u128::from(u32::from_be_bytes([id.0[0], id.0[1], id.0[2], id.0[3]]))
        );
        assert_eq!(UserId::from_hex(&id.to_hex().to_uppercase()), Some(id));
        assert_eq!(UserId::from_hex("abc"), None);
    }

    #[test]
    fn the_kinds_of_transfer_id_never_collide() {
        let transaction = transaction_id(1, 1).expect("in range");
        assert!(is_transaction_id(transaction));
        assert!(!is_transaction_id(post_id(transaction)));
        assert!(!is_transaction_id(opening_transfer_id(u128::MAX)));
        assert!(!is_transaction_id(opening_transfer_id(0)));
        assert_eq!(opening_transfer_id(u128::MAX) >> 126, 0b01);
        assert_eq!(post_id(transaction) >> 127, 1);
        let last = transaction_id(TRANSACTION_BLOCK_MAX, u64::MAX).expect("in range");
        assert!(is_transaction_id(last));
        assert_eq!(transaction_id(0, 1), None);
        assert_eq!(transaction_id(TRANSACTION_BLOCK_MAX + 1, 1), None);
        assert_eq!(transaction_id(1, 0), None);
    }

    fn page(first_seq: u64, transfers: &[Transfer]) -> JournalPage {
        JournalPage {
            first_seq,
            events: transfers.iter().map(|t| JournalEvent::TransferCreated(*t)).collect(),
        }
    }

    fn pending(id: u128) -> Transfer {
        Transfer::new(id, 10, 11, 5, USERS_LEDGER, USER_TRANSFER_CODE).with_flags(TransferFlags::PENDING)
    }

    #[test]
    fn a_scan_keeps_unresolved_user_transactions_in_creation_order() {
        let a = transaction_id(1, 1).expect("id");
        let b = transaction_id(1, 2).expect("id");
        let c = transaction_id(2, 1).expect("id");
        let mut other_code = pending(transaction_id(1, 3).expect("id"));
        other_code.code = OPENING_TRANSFER_CODE;
        let mut scan = SweepScan::new(10);
        scan.page(&page(
            10,
            &[pending(a), pending(b), Transfer::post(post_id(a), a, AMOUNT_MAX)],
        ));
        scan.page(&page(13, &[other_code, pending(c)]));
        assert_eq!(scan.candidates(), 2);
        assert_eq!(scan.end_seq(), 15);
        let candidates = scan.into_candidates();
        assert_eq!(
            candidates,
            [
                Pending {
                    id: b,
                    seq: 11,
                    page_first_seq: 10
                },
                Pending {
                    id: c,
                    seq: 14,
                    page_first_seq: 13
                },
            ]
        );
        assert_eq!(next_cursor(&candidates, |_| true, 15), 15);
        assert_eq!(next_cursor(&candidates, |index| index == 0, 15), 13);
        assert_eq!(next_cursor(&candidates, |_| false, 15), 10);
    }
}
