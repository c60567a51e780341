//! The per-event results of `create_accounts` and `create_transfers`, with
//! TigerBeetle 0.17's names and wire codes.
//!
//! The variants are declared in TigerBeetle's order. The order in which the
//! rules in [`core`](crate::core) check them is TigerBeetle's *behaviour*
//! (its `state_machine.zig`), which is also the order of its docs; the first
//! rule that applies decides an event's status.

use serde::{Deserialize, Serialize};

macro_rules! status_type {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $code:expr, $label:literal;)+ }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $label)] $variant,)+
        }

        impl $name {
            /// Every status, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// TigerBeetle's wire code (`created` is `u32::MAX`).
            pub const fn code(self) -> u32 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// TigerBeetle's snake_case name, e.g. `"exceeds_credits"`.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }

            /// The status called `name`, if any.
            pub fn from_name(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|status| status.name() == name)
            }

            /// The status with wire code `code`, if any.
            pub fn from_code(code: u32) -> Option<$name> {
                Self::ALL.iter().copied().find(|status| status.code() == code)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

status_type! {
    /// The result of one `create_accounts` event (TigerBeetle's
    /// `CreateAccountStatus`).
    ///
    /// The `imported_*` statuses and `reserved_field` exist for parity with
    /// TigerBeetle's codes; this crate never returns them (it has no
    /// `imported` flag and no `reserved` field).
    CreateAccountStatus {
        /// The account was created.
        Created = u32::MAX, "created";
        /// Another event of the linked chain failed; nothing of it applied.
        LinkedEventFailed = 1, "linked_event_failed";
        /// The batch's last event has `linked` set.
        LinkedEventChainOpen = 2, "linked_event_chain_open";
        /// Not returned (no imported events).
        ImportedEventExpected = 22, "imported_event_expected";
        /// Not returned (no imported events).
        ImportedEventNotExpected = 23, "imported_event_not_expected";
        /// `timestamp` was not 0.
        TimestampMustBeZero = 3, "timestamp_must_be_zero";
        /// Not returned (no imported events).
        ImportedEventTimestampOutOfRange = 24, "imported_event_timestamp_out_of_range";
        /// Not returned (no imported events).
        ImportedEventTimestampMustNotAdvance = 25, "imported_event_timestamp_must_not_advance";
        /// Not returned (there is no reserved field).
        ReservedField = 4, "reserved_field";
        /// A reserved flag bit was set.
        ReservedFlag = 5, "reserved_flag";
        /// `id` was 0.
        IdMustNotBeZero = 6, "id_must_not_be_zero";
        /// `id` was `u128::MAX`.
        IdMustNotBeIntMax = 7, "id_must_not_be_int_max";
        /// An account with this id exists with other flags.
        ExistsWithDifferentFlags = 15, "exists_with_different_flags";
        /// An account with this id exists with another `user_data_128`.
        ExistsWithDifferentUserData128 = 16, "exists_with_different_user_data_128";
        /// An account with this id exists with another `user_data_64`.
        ExistsWithDifferentUserData64 = 17, "exists_with_different_user_data_64";
        /// An account with this id exists with another `user_data_32`.
        ExistsWithDifferentUserData32 = 18, "exists_with_different_user_data_32";
        /// An account with this id exists with another `ledger`.
        ExistsWithDifferentLedger = 19, "exists_with_different_ledger";
        /// An account with this id exists with another `code`.
        ExistsWithDifferentCode = 20, "exists_with_different_code";
        /// This exact account exists already: treat as created.
        Exists = 21, "exists";
        /// Both balance-limit flags were set.
        FlagsAreMutuallyExclusive = 8, "flags_are_mutually_exclusive";
        /// `debits_pending` was not 0.
        DebitsPendingMustBeZero = 9, "debits_pending_must_be_zero";
        /// `debits_posted` was not 0.
        DebitsPostedMustBeZero = 10, "debits_posted_must_be_zero";
        /// `credits_pending` was not 0.
        CreditsPendingMustBeZero = 11, "credits_pending_must_be_zero";
        /// `credits_posted` was not 0.
        CreditsPostedMustBeZero = 12, "credits_posted_must_be_zero";
        /// `ledger` was 0.
        LedgerMustNotBeZero = 13, "ledger_must_not_be_zero";
        /// `code` was 0.
        CodeMustNotBeZero = 14, "code_must_not_be_zero";
        /// Not returned (no imported events).
        ImportedEventTimestampMustNotRegress = 26, "imported_event_timestamp_must_not_regress";
    }
}

status_type! {
    /// The result of one `create_transfers` event (TigerBeetle's
    /// `CreateTransferStatus`).
    ///
    /// The `imported_*` statuses exist for parity with TigerBeetle's codes;
    /// this crate never returns them. `deprecated_18` (formerly
    /// `amount_must_not_be_zero`) is not a variant: zero amounts are valid.
    CreateTransferStatus {
        /// The transfer was applied.
        Created = u32::MAX, "created";
        /// Another event of the linked chain failed; nothing of it applied.
        LinkedEventFailed = 1, "linked_event_failed";
        /// The batch's last event has `linked` set.
        LinkedEventChainOpen = 2, "linked_event_chain_open";
        /// Not returned (no imported events).
        ImportedEventExpected = 56, "imported_event_expected";
        /// Not returned (no imported events).
        ImportedEventNotExpected = 57, "imported_event_not_expected";
        /// `timestamp` was not 0.
        TimestampMustBeZero = 3, "timestamp_must_be_zero";
        /// Not returned (no imported events).
        ImportedEventTimestampOutOfRange = 58, "imported_event_timestamp_out_of_range";
        /// Not returned (no imported events).
        ImportedEventTimestampMustNotAdvance = 59, "imported_event_timestamp_must_not_advance";
        /// A reserved flag bit was set.
        ReservedFlag = 4, "reserved_flag";
        /// `id` was 0.
        IdMustNotBeZero = 5, "id_must_not_be_zero";
        /// `id` was `u128::MAX`.
        IdMustNotBeIntMax = 6, "id_must_not_be_int_max";
        /// A transfer with this id exists with other flags.
        ExistsWithDifferentFlags = 36, "exists_with_different_flags";
        /// ... with another `pending_id`.
        ExistsWithDifferentPendingId = 40, "exists_with_different_pending_id";
        /// ... with another `timeout`.
        ExistsWithDifferentTimeout = 44, "exists_with_different_timeout";
        /// ... with another `debit_account_id`.
        ExistsWithDifferentDebitAccountId = 37, "exists_with_different_debit_account_id";
        /// ... with another `credit_account_id`.
        ExistsWithDifferentCreditAccountId = 38, "exists_with_different_credit_account_id";
        /// ... with another `amount` (for balancing transfers: a smaller maximum).
        ExistsWithDifferentAmount = 39, "exists_with_different_amount";
        /// ... with another `user_data_128`.
        ExistsWithDifferentUserData128 = 41, "exists_with_different_user_data_128";
        /// ... with another `user_data_64`.
        ExistsWithDifferentUserData64 = 42, "exists_with_different_user_data_64";
        /// ... with another `user_data_32`.
        ExistsWithDifferentUserData32 = 43, "exists_with_different_user_data_32";
        /// ... with another `ledger`.
        ExistsWithDifferentLedger = 67, "exists_with_different_ledger";
        /// ... with another `code`.
        ExistsWithDifferentCode = 45, "exists_with_different_code";
        /// This exact transfer exists already: treat as created.
        Exists = 46, "exists";
        /// This id failed before with a transient status; use a new id.
        IdAlreadyFailed = 68, "id_already_failed";
        /// The flags combine post/void with pending, each other, balancing or closing.
        FlagsAreMutuallyExclusive = 7, "flags_are_mutually_exclusive";
        /// `debit_account_id` was 0.
        DebitAccountIdMustNotBeZero = 8, "debit_account_id_must_not_be_zero";
        /// `debit_account_id` was `u128::MAX`.
        DebitAccountIdMustNotBeIntMax = 9, "debit_account_id_must_not_be_int_max";
        /// `credit_account_id` was 0.
        CreditAccountIdMustNotBeZero = 10, "credit_account_id_must_not_be_zero";
        /// `credit_account_id` was `u128::MAX`.
        CreditAccountIdMustNotBeIntMax = 11, "credit_account_id_must_not_be_int_max";
        /// Debit and credit account were the same.
        AccountsMustBeDifferent = 12, "accounts_must_be_different";
        /// `pending_id` was set on a transfer that is not a post or void.
        PendingIdMustBeZero = 13, "pending_id_must_be_zero";
        /// A post or void had `pending_id` 0.
        PendingIdMustNotBeZero = 14, "pending_id_must_not_be_zero";
        /// A post or void had `pending_id` `u128::MAX`.
        PendingIdMustNotBeIntMax = 15, "pending_id_must_not_be_int_max";
        /// A post or void named itself as its pending transfer.
        PendingIdMustBeDifferent = 16, "pending_id_must_be_different";
        /// `timeout` was set on a transfer that is not pending.
        TimeoutReservedForPendingTransfer = 17, "timeout_reserved_for_pending_transfer";
        /// A closing transfer was not pending.
        ClosingTransferMustBePending = 64, "closing_transfer_must_be_pending";
        /// `ledger` was 0.
        LedgerMustNotBeZero = 19, "ledger_must_not_be_zero";
        /// `code` was 0.
        CodeMustNotBeZero = 20, "code_must_not_be_zero";
        /// No account `debit_account_id`.
        DebitAccountNotFound = 21, "debit_account_not_found";
        /// No account `credit_account_id`.
        CreditAccountNotFound = 22, "credit_account_not_found";
        /// The two accounts are on different ledgers.
        AccountsMustHaveTheSameLedger = 23, "accounts_must_have_the_same_ledger";
        /// The transfer's ledger is not the accounts' ledger.
        TransferMustHaveTheSameLedgerAsAccounts = 24, "transfer_must_have_the_same_ledger_as_accounts";
        /// No transfer `pending_id`.
        PendingTransferNotFound = 25, "pending_transfer_not_found";
        /// Transfer `pending_id` is not pending.
        PendingTransferNotPending = 26, "pending_transfer_not_pending";
        /// A non-zero `debit_account_id` differs from the pending transfer's.
        PendingTransferHasDifferentDebitAccountId = 27, "pending_transfer_has_different_debit_account_id";
        /// A non-zero `credit_account_id` differs from the pending transfer's.
        PendingTransferHasDifferentCreditAccountId = 28, "pending_transfer_has_different_credit_account_id";
        /// A non-zero `ledger` differs from the pending transfer's.
        PendingTransferHasDifferentLedger = 29, "pending_transfer_has_different_ledger";
        /// A non-zero `code` differs from the pending transfer's.
        PendingTransferHasDifferentCode = 30, "pending_transfer_has_different_code";
        /// The post's amount is above the pending amount.
        ExceedsPendingTransferAmount = 31, "exceeds_pending_transfer_amount";
        /// A void's non-zero amount differs from the pending amount.
        PendingTransferHasDifferentAmount = 32, "pending_transfer_has_different_amount";
        /// The pending transfer was posted already.
        PendingTransferAlreadyPosted = 33, "pending_transfer_already_posted";
        /// The pending transfer was voided already.
        PendingTransferAlreadyVoided = 34, "pending_transfer_already_voided";
        /// The pending transfer has expired.
        PendingTransferExpired = 35, "pending_transfer_expired";
        /// Not returned (no imported events).
        ImportedEventTimestampMustNotRegress = 60, "imported_event_timestamp_must_not_regress";
        /// Not returned (no imported events).
        ImportedEventTimestampMustPostdateDebitAccount = 61, "imported_event_timestamp_must_postdate_debit_account";
        /// Not returned (no imported events).
        ImportedEventTimestampMustPostdateCreditAccount = 62, "imported_event_timestamp_must_postdate_credit_account";
        /// Not returned (no imported events).
        ImportedEventTimeoutMustBeZero = 63, "imported_event_timeout_must_be_zero";
        /// The debit account is closed.
        DebitAccountAlreadyClosed = 65, "debit_account_already_closed";
        /// The credit account is closed.
        CreditAccountAlreadyClosed = 66, "credit_account_already_closed";
        /// `debits_pending` would overflow a u128.
        OverflowsDebitsPending = 47, "overflows_debits_pending";
        /// `credits_pending` would overflow a u128.
        OverflowsCreditsPending = 48, "overflows_credits_pending";
        /// `debits_posted` would overflow a u128.
        OverflowsDebitsPosted = 49, "overflows_debits_posted";
        /// `credits_posted` would overflow a u128.
        OverflowsCreditsPosted = 50, "overflows_credits_posted";
        /// `debits_pending + debits_posted` would overflow a u128.
        OverflowsDebits = 51, "overflows_debits";
        /// `credits_pending + credits_posted` would overflow a u128.
        OverflowsCredits = 52, "overflows_credits";
        /// `timestamp + timeout` would pass the largest timestamp.
        OverflowsTimeout = 53, "overflows_timeout";
        /// The debit account's `debits_must_not_exceed_credits` would break.
        ExceedsCredits = 54, "exceeds_credits";
        /// The credit account's `credits_must_not_exceed_debits` would break.
        ExceedsDebits = 55, "exceeds_debits";
    }
}

impl CreateTransferStatus {
    /// True for the statuses that depend on the ledger's state at the time
    /// (TigerBeetle's `transient()`): an id that failed with one is burned,
    /// and every later event with it gets [`IdAlreadyFailed`](Self::IdAlreadyFailed).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            CreateTransferStatus::DebitAccountNotFound
                | CreateTransferStatus::CreditAccountNotFound
                | CreateTransferStatus::PendingTransferNotFound
                | CreateTransferStatus::ExceedsCredits
                | CreateTransferStatus::ExceedsDebits
                | CreateTransferStatus::DebitAccountAlreadyClosed
                | CreateTransferStatus::CreditAccountAlreadyClosed
        )
    }

    /// True for [`Created`](Self::Created) and [`Exists`](Self::Exists):
    /// the transfer is in the ledger.
    pub const fn is_ok(self) -> bool {
        matches!(self, CreateTransferStatus::Created | CreateTransferStatus::Exists)
    }
}

impl CreateAccountStatus {
    /// True for [`Created`](Self::Created) and [`Exists`](Self::Exists).
    pub const fn is_ok(self) -> bool {
        matches!(self, CreateAccountStatus::Created | CreateAccountStatus::Exists)
    }
}

/// The result of one `create_accounts` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreateAccountResult {
    /// The new account's timestamp on `created`, the existing one's on
    /// `exists`, otherwise the time the event was checked.
    pub timestamp: u64,
    /// What happened.
    pub status: CreateAccountStatus,
}

/// The result of one `create_transfers` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CreateTransferResult {
    /// The new transfer's timestamp on `created`, the existing one's on
    /// `exists`, otherwise the time the event was checked.
    pub timestamp: u64,
    /// What happened.
    pub status: CreateTransferStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_and_unique_like_tigerbeetles() {
        let mut codes: Vec<u32> = CreateTransferStatus::ALL
            .iter()
            .map(|s| s.code())
            .filter(|&c| c != u32::MAX)
            .collect();
        codes.push(18); // deprecated_18
        codes.sort_unstable();
        assert_eq!(codes, (1..=68).collect::<Vec<u32>>());
        let mut codes: Vec<u32> = CreateAccountStatus::ALL
            .iter()
            .map(|s| s.code())
            .filter(|&c| c != u32::MAX)
            .collect();
        codes.sort_unstable();
        assert_eq!(codes, (1..=26).collect::<Vec<u32>>());
    }

    #[test]
    fn names_round_trip_and_match_serde() {
        for status in CreateTransferStatus::ALL {
            assert_eq!(CreateTransferStatus::from_name(status.name()), Some(*status));
            assert_eq!(CreateTransferStatus::from_code(status.code()), Some(*status));
            let json = serde_json::to_string(status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.name()));
        }
        for status in CreateAccountStatus::ALL {
            assert_eq!(CreateAccountStatus::from_name(status.name()), Some(*status));
            let json = serde_json::to_string(status).expect("serialize");
            assert_eq!(json, format!("\"{}\"", status.name()));
        }
    }
}
