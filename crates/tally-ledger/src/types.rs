//! The ledger's records: accounts, transfers, their flags, query filters and
//! the limits, laid out field for field as TigerBeetle 0.17 lays them out.

use serde::{Deserialize, Serialize};

/// The most events one `create_accounts` / `create_transfers` batch may
/// carry, and the most ids one lookup may ask for (TigerBeetle's default
/// `batch_max` for a 1 MiB message).
pub const BATCH_EVENTS_MAX: usize = 8_189;

/// The most results one [`AccountFilter`] query returns; a larger
/// [`AccountFilter::limit`] is capped to this, as TigerBeetle caps it.
pub const QUERY_LIMIT_MAX: u32 = 8_189;

/// The most pending transfers one [`expire`](crate::Ledger::expire) commit
/// expires (TigerBeetle's pulse expires at most a batch at a time).
pub const EXPIRE_BATCH_MAX: usize = 8_189;

/// `amount` on a `post_pending_transfer` that means "post the full pending
/// amount".
pub const AMOUNT_MAX: u128 = u128::MAX;

/// The smallest valid timestamp, in nanoseconds.
pub const TIMESTAMP_MIN_NS: u64 = 1;

/// The largest valid timestamp, in nanoseconds (`2^63 - 1`, as TigerBeetle).
pub const TIMESTAMP_MAX_NS: u64 = (1 << 63) - 1;

/// Nanoseconds per second, for `timeout` (seconds) against timestamps (ns).
pub const NS_PER_S: u64 = 1_000_000_000;

macro_rules! flags_type {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$flag_meta:meta])* $flag:ident = $bit:expr, $label:literal;)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u16);

        impl $name {
            $($(#[$flag_meta])* pub const $flag: $name = $name(1 << $bit);)+

            /// No flag set.
            pub const NONE: $name = $name(0);

            /// Every flag this crate knows; other bits are reserved.
            pub const KNOWN: $name = $name(0 $(| (1 << $bit))+);

            /// Every flag with its name, in bit order.
            pub const NAMES: &'static [($name, &'static str)] = &[$(($name::$flag, $label)),+];

            /// True when every bit of `other` is set in `self`.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            /// `self` with the bits of `other` added.
            pub const fn with(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }

            /// `self` with the bits of `other` cleared.
            pub const fn without(self, other: $name) -> $name {
                $name(self.0 & !other.0)
            }

            /// True when a bit outside [`KNOWN`](Self::KNOWN) is set.
            pub const fn has_reserved_bits(self) -> bool {
                self.0 & !Self::KNOWN.0 != 0
            }

            /// The flag called `name` (TigerBeetle's snake_case name), if any.
            pub fn from_name(name: &str) -> Option<$name> {
                Self::NAMES.iter().find(|(_, label)| *label == name).map(|(flag, _)| *flag)
            }

            /// The names of the known flags that are set, in bit order.
            pub fn names(self) -> Vec<&'static str> {
                Self::NAMES.iter().filter(|(flag, _)| self.contains(*flag)).map(|(_, label)| *label).collect()
            }
        }

        impl std::ops::BitOr for $name {
            type Output = $name;
            fn bitor(self, other: $name) -> $name {
                self.with(other)
            }
        }
    };
}

flags_type! {
    /// [`Account`] flags, with TigerBeetle's bit positions.
    ///
    /// Bit 4 (`imported` in TigerBeetle) is treated as reserved here: this
    /// crate assigns every timestamp itself (see the crate docs).
    AccountFlags {
        /// Links this event to the next one in the batch (all or nothing).
        LINKED = 0, "linked";
        /// `debits_pending + debits_posted` may never exceed `credits_posted`.
        DEBITS_MUST_NOT_EXCEED_CREDITS = 1, "debits_must_not_exceed_credits";
        /// `credits_pending + credits_posted` may never exceed `debits_posted`.
        CREDITS_MUST_NOT_EXCEED_DEBITS = 2, "credits_must_not_exceed_debits";
        /// Keep the balance after every transfer, for `get_account_balances`.
        HISTORY = 3, "history";
        /// The account rejects transfers except voids of its pending ones.
        CLOSED = 5, "closed";
    }
}

flags_type! {
    /// [`Transfer`] flags, with TigerBeetle's bit positions.
    ///
    /// Bit 8 (`imported` in TigerBeetle) is treated as reserved here.
    TransferFlags {
        /// Links this event to the next one in the batch (all or nothing).
        LINKED = 0, "linked";
        /// Phase one: reserve `amount` in the pending balances.
        PENDING = 1, "pending";
        /// Phase two: post (all or part of) the pending transfer `pending_id`.
        POST_PENDING_TRANSFER = 2, "post_pending_transfer";
        /// Phase two: void the pending transfer `pending_id`.
        VOID_PENDING_TRANSFER = 3, "void_pending_transfer";
        /// Move at most `amount`, as much as the debit account's limit allows.
        BALANCING_DEBIT = 4, "balancing_debit";
        /// Move at most `amount`, as much as the credit account's limit allows.
        BALANCING_CREDIT = 5, "balancing_credit";
        /// Close the debit account (the transfer must be pending).
        CLOSING_DEBIT = 6, "closing_debit";
        /// Close the credit account (the transfer must be pending).
        CLOSING_CREDIT = 7, "closing_credit";
    }
}

/// An account: balances of one party on one ledger.
///
/// To create one, fill `id`, `ledger`, `code` and optionally the flags and
/// user data; the balances and `timestamp` must be zero (the ledger assigns
/// the timestamp).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    /// The client-chosen id; neither 0 nor `u128::MAX`.
    pub id: u128,
    /// Amounts reserved by pending transfers that debit this account.
    pub debits_pending: u128,
    /// Amounts posted to the debit side.
    pub debits_posted: u128,
    /// Amounts reserved by pending transfers that credit this account.
    pub credits_pending: u128,
    /// Amounts posted to the credit side.
    pub credits_posted: u128,
    /// Opaque data for the host (a foreign key, say).
    pub user_data_128: u128,
    /// Opaque data for the host.
    pub user_data_64: u64,
    /// Opaque data for the host.
    pub user_data_32: u32,
    /// The ledger (currency, asset class) the account is in; not 0.
    pub ledger: u32,
    /// The host's kind of account; not 0.
    pub code: u16,
    /// See [`AccountFlags`].
    pub flags: AccountFlags,
    /// When it was created, in nanoseconds; 0 on input.
    pub timestamp: u64,
}

impl Account {
    /// An account to create, with no flags and no user data.
    pub const fn new(id: u128, ledger: u32, code: u16) -> Self {
        Account {
            id,
            debits_pending: 0,
            debits_posted: 0,
            credits_pending: 0,
            credits_posted: 0,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            ledger,
            code,
            flags: AccountFlags::NONE,
            timestamp: 0,
        }
    }

    /// The same account with `flags`.
    pub const fn with_flags(mut self, flags: AccountFlags) -> Self {
        self.flags = flags;
        self
    }

    /// True when debiting `amount` more would break
    /// `debits_must_not_exceed_credits` (pending debits count).
    pub fn debits_exceed_credits(&self, amount: u128) -> bool {
        self.flags.contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && self
                .debits_pending
                .checked_add(self.debits_posted)
                .and_then(|sum| sum.checked_add(amount))
                .is_none_or(|total| total > self.credits_posted)
    }

    /// True when crediting `amount` more would break
    /// `credits_must_not_exceed_debits` (pending credits count).
    pub fn credits_exceed_debits(&self, amount: u128) -> bool {
        self.flags.contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && self
                .credits_pending
                .checked_add(self.credits_posted)
                .and_then(|sum| sum.checked_add(amount))
                .is_none_or(|total| total > self.debits_posted)
    }

    /// The four balances, stamped with `timestamp`.
    pub const fn balance_at(&self, timestamp: u64) -> AccountBalance {
        AccountBalance {
            timestamp,
            debits_pending: self.debits_pending,
            debits_posted: self.debits_posted,
            credits_pending: self.credits_pending,
            credits_posted: self.credits_posted,
        }
    }
}

/// A transfer: an immutable movement of `amount` from one account's debit
/// side to another's credit side (or a reservation, post or void of one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    /// The client-chosen id, also the idempotency key; neither 0 nor `u128::MAX`.
    pub id: u128,
    /// The account debited.
    pub debit_account_id: u128,
    /// The account credited.
    pub credit_account_id: u128,
    /// How much; on a post [`AMOUNT_MAX`] means the full pending amount, on
    /// a void 0 means the same.
    pub amount: u128,
    /// The pending transfer a post or void resolves; 0 otherwise.
    pub pending_id: u128,
    /// Opaque data for the host.
    pub user_data_128: u128,
    /// Opaque data for the host.
    pub user_data_64: u64,
    /// Opaque data for the host.
    pub user_data_32: u32,
    /// Seconds after which a pending transfer expires (0 = never); pending only.
    pub timeout: u32,
    /// The ledger of both accounts; not 0 (a post or void may leave it 0).
    pub ledger: u32,
    /// The host's reason for the transfer; not 0 (a post or void may leave it 0).
    pub code: u16,
    /// See [`TransferFlags`].
    pub flags: TransferFlags,
    /// When it was applied, in nanoseconds; 0 on input.
    pub timestamp: u64,
}

impl Transfer {
    /// A single-phase transfer to create.
    pub const fn new(
        id: u128,
        debit_account_id: u128,
        credit_account_id: u128,
        amount: u128,
        ledger: u32,
        code: u16,
    ) -> Self {
        Transfer {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            pending_id: 0,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            timeout: 0,
            ledger,
            code,
            flags: TransferFlags::NONE,
            timestamp: 0,
        }
    }

    /// A post of (`amount` of) the pending transfer `pending_id`; accounts,
    /// ledger and code are left 0 to be inherited.
    pub const fn post(id: u128, pending_id: u128, amount: u128) -> Self {
        let mut transfer = Transfer::new(id, 0, 0, amount, 0, 0);
        transfer.pending_id = pending_id;
        transfer.flags = TransferFlags::POST_PENDING_TRANSFER;
        transfer
    }

    /// A void of the pending transfer `pending_id`.
    pub const fn void(id: u128, pending_id: u128) -> Self {
        let mut transfer = Transfer::new(id, 0, 0, 0, 0, 0);
        transfer.pending_id = pending_id;
        transfer.flags = TransferFlags::VOID_PENDING_TRANSFER;
        transfer
    }

    /// The same transfer with `flags`.
    pub const fn with_flags(mut self, flags: TransferFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The same transfer with `timeout` seconds.
    pub const fn with_timeout(mut self, timeout: u32) -> Self {
        self.timeout = timeout;
        self
    }

    /// The timeout in nanoseconds.
    pub const fn timeout_ns(&self) -> u64 {
        self.timeout as u64 * NS_PER_S
    }
}

/// Where a pending transfer stands (TigerBeetle's `TransferPendingStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PendingStatus {
    /// Not a pending transfer.
    None,
    /// Reserved, not yet resolved.
    Pending,
    /// Posted by a later transfer.
    Posted,
    /// Voided by a later transfer.
    Voided,
    /// Expired (its timeout passed and [`expire`](crate::Ledger::expire) ran).
    Expired,
}

/// A stored transfer with the resolution state of a pending one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransferRecord {
    /// The transfer as applied (amount actually moved, inherited fields filled).
    pub transfer: Transfer,
    /// [`PendingStatus::None`] unless `transfer` is pending.
    pub status: PendingStatus,
}

impl TransferRecord {
    /// When a pending transfer with a timeout expires, in nanoseconds.
    pub fn expires_at_ns(&self) -> Option<u64> {
        let transfer = &self.transfer;
        if transfer.flags.contains(TransferFlags::PENDING) && transfer.timeout > 0 {
            transfer.timestamp.checked_add(transfer.timeout_ns())
        } else {
            None
        }
    }
}

/// An account's balances after one of its transfers (for `history` accounts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountBalance {
    /// The timestamp of the transfer that changed the account.
    pub timestamp: u64,
    /// Pending debits after that transfer.
    pub debits_pending: u128,
    /// Posted debits after that transfer.
    pub debits_posted: u128,
    /// Pending credits after that transfer.
    pub credits_pending: u128,
    /// Posted credits after that transfer.
    pub credits_posted: u128,
}

/// [`AccountFilter`] flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountFilterFlags {
    /// Include transfers that debit the account.
    pub debits: bool,
    /// Include transfers that credit the account.
    pub credits: bool,
    /// Newest first.
    pub reversed: bool,
}

/// The filter of `get_account_transfers` and `get_account_balances`
/// (TigerBeetle's `AccountFilter`).
///
/// A filter is invalid, and the query returns nothing, when `account_id` is
/// 0 or `u128::MAX`, a timestamp bound is above [`TIMESTAMP_MAX_NS`],
/// `timestamp_min > timestamp_max` (with `timestamp_max != 0`), `limit` is
/// 0, or neither `debits` nor `credits` is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountFilter {
    /// The account.
    pub account_id: u128,
    /// Only transfers with this `user_data_128` (0 = any).
    pub user_data_128: u128,
    /// Only transfers with this `user_data_64` (0 = any).
    pub user_data_64: u64,
    /// Only transfers with this `user_data_32` (0 = any).
    pub user_data_32: u32,
    /// Only transfers with this `code` (0 = any).
    pub code: u16,
    /// Only transfers at or after this timestamp (0 = no bound).
    pub timestamp_min: u64,
    /// Only transfers at or before this timestamp (0 = no bound).
    pub timestamp_max: u64,
    /// The most results; capped to [`QUERY_LIMIT_MAX`].
    pub limit: u32,
    /// Sides and order.
    pub flags: AccountFilterFlags,
}

impl AccountFilter {
    /// Every transfer of `account_id` on both sides, oldest first, up to
    /// [`QUERY_LIMIT_MAX`].
    pub const fn all(account_id: u128) -> Self {
        AccountFilter {
            account_id,
            user_data_128: 0,
            user_data_64: 0,
            user_data_32: 0,
            code: 0,
            timestamp_min: 0,
            timestamp_max: 0,
            limit: QUERY_LIMIT_MAX,
            flags: AccountFilterFlags {
                debits: true,
                credits: true,
                reversed: false,
            },
        }
    }

    /// TigerBeetle's validity rule (see the type's docs).
    pub fn is_valid(&self) -> bool {
        self.account_id != 0
            && self.account_id != u128::MAX
            && self.timestamp_min <= TIMESTAMP_MAX_NS
            && self.timestamp_max <= TIMESTAMP_MAX_NS
            && (self.timestamp_max == 0 || self.timestamp_min <= self.timestamp_max)
            && self.limit != 0
            && (self.flags.debits || self.flags.credits)
    }

    /// The inclusive timestamp range the filter selects.
    pub fn timestamp_range(&self) -> (u64, u64) {
        let min = if self.timestamp_min == 0 {
            TIMESTAMP_MIN_NS
        } else {
            self.timestamp_min
        };
        let max = if self.timestamp_max == 0 {
            TIMESTAMP_MAX_NS
        } else {
            self.timestamp_max
        };
        (min, max)
    }

    /// True when `transfer` (one of the account's) passes the field filters
    /// and the side flags (the timestamp range is checked by the caller).
    pub fn matches(&self, transfer: &Transfer) -> bool {
        let side = (self.flags.debits && transfer.debit_account_id == self.account_id)
            || (self.flags.credits && transfer.credit_account_id == self.account_id);
        side && (self.user_data_128 == 0 || transfer.user_data_128 == self.user_data_128)
            && (self.user_data_64 == 0 || transfer.user_data_64 == self.user_data_64)
            && (self.user_data_32 == 0 || transfer.user_data_32 == self.user_data_32)
            && (self.code == 0 || transfer.code == self.code)
    }
}
