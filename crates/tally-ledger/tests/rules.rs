//! One test per rule of the state machine, through `Ledger<MemStore>`.

mod support;

use support::{Book, linked, pending, single};
use tally_ledger::{
    AMOUNT_MAX, Account, AccountFilter, AccountFlags, CreateAccountStatus as A, CreateTransferStatus as S, Ledger,
    LedgerError, PendingStatus, Transfer, TransferFlags,
};
use tally_store::MemStore;

// ----------------------------------------------------------------------------------------------
// create_accounts

#[test]
fn accounts_are_created_once_and_retries_say_exists() {
    let book = Book::new();
    assert_eq!(book.accounts(&[Account::new(1, 1, 1)]), [A::Created]);
    assert_eq!(book.accounts(&[Account::new(1, 1, 1)]), [A::Exists]);
    let account = book.account(1);
    assert!(account.timestamp > 0);
    let results = book
        .ledger
        .create_accounts(&[Account::new(1, 1, 1)], book.now_ns)
        .expect("create");
    assert_eq!(
        results[0].timestamp, account.timestamp,
        "exists carries the original timestamp"
    );
}

#[test]
fn account_exists_with_different_fields_reports_the_first_difference_in_tigerbeetles_order() {
    let book = Book::new();
    let mut original = Account::new(1, 1, 1);
    original.user_data_128 = 1;
    original.user_data_64 = 1;
    original.user_data_32 = 1;
    book.accounts(&[original]);
    let mut all_differ = Account::new(1, 2, 2).with_flags(AccountFlags::HISTORY);
    all_differ.user_data_128 = 2;
    all_differ.user_data_64 = 2;
    all_differ.user_data_32 = 2;
    let expected = [
        A::ExistsWithDifferentFlags,
        A::ExistsWithDifferentUserData128,
        A::ExistsWithDifferentUserData64,
        A::ExistsWithDifferentUserData32,
        A::ExistsWithDifferentLedger,
        A::ExistsWithDifferentCode,
        A::Exists,
    ];
    let mut probe = all_differ;
    for status in expected {
        assert_eq!(book.accounts(&[probe]), [status]);
        // Fix the field just reported, in the same order.
        match status {
            A::ExistsWithDifferentFlags => probe.flags = original.flags,
            A::ExistsWithDifferentUserData128 => probe.user_data_128 = 1,
            A::ExistsWithDifferentUserData64 => probe.user_data_64 = 1,
            A::ExistsWithDifferentUserData32 => probe.user_data_32 = 1,
            A::ExistsWithDifferentLedger => probe.ledger = 1,
            A::ExistsWithDifferentCode => probe.code = 1,
            _ => {}
        }
    }
}

#[test]
fn account_fields_are_validated_in_order() {
    let book = Book::new();
    let mut stamped = Account::new(1, 1, 1);
    stamped.timestamp = 5;
    let reserved = Account::new(1, 1, 1).with_flags(AccountFlags(1 << 4)); // TigerBeetle's `imported`
    let both_limits = Account::new(1, 1, 1)
        .with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
    let mut balances = [Account::new(1, 1, 1); 4];
    balances[0].debits_pending = 1;
    balances[1].debits_posted = 1;
    balances[2].credits_pending = 1;
    balances[3].credits_posted = 1;
    let statuses = book.accounts(&[
        stamped,
        reserved,
        Account::new(0, 1, 1),
        Account::new(u128::MAX, 1, 1),
        both_limits,
        balances[0],
        balances[1],
        balances[2],
        balances[3],
        Account::new(1, 0, 1),
        Account::new(1, 1, 0),
    ]);
    assert_eq!(
        statuses,
        [
            A::TimestampMustBeZero,
            A::ReservedFlag,
            A::IdMustNotBeZero,
            A::IdMustNotBeIntMax,
            A::FlagsAreMutuallyExclusive,
            A::DebitsPendingMustBeZero,
            A::DebitsPostedMustBeZero,
            A::CreditsPendingMustBeZero,
            A::CreditsPostedMustBeZero,
            A::LedgerMustNotBeZero,
            A::CodeMustNotBeZero,
        ]
    );
    assert!(book.ledger.lookup_accounts(&[1]).expect("lookup").is_empty());
}

#[test]
fn accounts_may_be_created_closed() {
    let book = Book::new();
    book.accounts(&[
        Account::new(1, 1, 1),
        Account::new(2, 1, 1).with_flags(AccountFlags::CLOSED),
    ]);
    assert_eq!(book.transfer(single(10, 1, 2, 1)), S::CreditAccountAlreadyClosed);
}

#[test]
fn linked_accounts_are_created_all_or_nothing() {
    let book = Book::new();
    let linked = |id| Account::new(id, 1, 1).with_flags(AccountFlags::LINKED);
    let statuses = book.accounts(&[linked(1), linked(2), Account::new(3, 0, 1), Account::new(4, 1, 1)]);
    assert_eq!(
        statuses,
        [
            A::LinkedEventFailed,
            A::LinkedEventFailed,
            A::LedgerMustNotBeZero,
            A::Created
        ]
    );
    assert!(book.ledger.lookup_accounts(&[1, 2, 3]).expect("lookup").is_empty());
    assert_eq!(book.accounts(&[linked(5)]), [A::LinkedEventChainOpen]);
}

// ----------------------------------------------------------------------------------------------
// single-phase transfers and limits

#[test]
fn a_transfer_moves_posted_amounts() {
    let book = Book::standard();
    assert_eq!(book.transfer(single(10, 1, 4, 30)), S::Created);
    assert_eq!(book.balances(1), (0, 30, 0, 0));
    assert_eq!(book.balances(4), (0, 0, 0, 30));
    let stored = book.ledger.lookup_transfers(&[10]).expect("lookup")[0];
    assert!(stored.timestamp > book.account(4).timestamp);
    book.assert_audit();
}

#[test]
fn zero_amounts_are_allowed() {
    let book = Book::standard();
    assert_eq!(book.transfer(single(10, 1, 4, 0)), S::Created);
    assert_eq!(book.balances(1), (0, 0, 0, 0));
}

#[test]
fn debits_must_not_exceed_credits_counts_pending_debits() {
    let book = Book::standard();
    assert_eq!(book.transfer(single(10, 1, 2, 100)), S::Created); // fund 2
    assert_eq!(book.transfer(pending(11, 2, 4, 60)), S::Created);
    assert_eq!(book.transfer(single(12, 2, 4, 41)), S::ExceedsCredits);
    assert_eq!(book.transfer(single(13, 2, 4, 40)), S::Created);
    assert_eq!(book.balances(2), (60, 40, 0, 100));
}

#[test]
fn credits_must_not_exceed_debits_counts_pending_credits() {
    let book = Book::standard();
    assert_eq!(book.transfer(single(10, 3, 1, 100)), S::Created); // 3 has debits 100
    assert_eq!(book.transfer(pending(11, 1, 3, 60)), S::Created);
    assert_eq!(book.transfer(single(12, 1, 3, 41)), S::ExceedsDebits);
    assert_eq!(book.transfer(single(13, 1, 3, 40)), S::Created);
}

#[test]
fn transfer_fields_are_validated_in_tigerbeetles_order() {
    let book = Book::standard();
    let mut stamped = single(10, 1, 4, 1);
    stamped.timestamp = 1;
    let mut with_pending_id = single(10, 1, 4, 1);
    with_pending_id.pending_id = 5;
    let cases = [
        (stamped, S::TimestampMustBeZero),
        (single(10, 1, 4, 1).with_flags(TransferFlags(1 << 8)), S::ReservedFlag),
        (single(0, 1, 4, 1), S::IdMustNotBeZero),
        (single(u128::MAX, 1, 4, 1), S::IdMustNotBeIntMax),
        (single(10, 0, 4, 1), S::DebitAccountIdMustNotBeZero),
        (single(10, u128::MAX, 4, 1), S::DebitAccountIdMustNotBeIntMax),
        (single(10, 1, 0, 1), S::CreditAccountIdMustNotBeZero),
        (single(10, 1, u128::MAX, 1), S::CreditAccountIdMustNotBeIntMax),
        (single(10, 1, 1, 1), S::AccountsMustBeDifferent),
        (with_pending_id, S::PendingIdMustBeZero),
        (
            single(10, 1, 4, 1).with_timeout(1),
            S::TimeoutReservedForPendingTransfer,
        ),
        (
            single(10, 1, 4, 1).with_flags(TransferFlags::CLOSING_DEBIT),
            S::ClosingTransferMustBePending,
        ),
        (Transfer::new(10, 1, 4, 1, 0, 1), S::LedgerMustNotBeZero),
        (Transfer::new(10, 1, 4, 1, 1, 0), S::CodeMustNotBeZero),
        (single(10, 7, 4, 1), S::DebitAccountNotFound),
        (single(11, 1, 7, 1), S::CreditAccountNotFound),
        (single(12, 1, 9, 1), S::AccountsMustHaveTheSameLedger),
        (
            Transfer::new(13, 1, 4, 1, 2, 1),
            S::TransferMustHaveTheSameLedgerAsAccounts,
        ),
    ];
    for (transfer, expected) in cases {
        assert_eq!(book.transfer(transfer), expected, "{transfer:?}");
    }
}

#[test]
fn timestamps_strictly_increase_across_batches_even_when_the_clock_steps_back() {
    let mut book = Book::standard();
    let first = book
        .ledger
        .create_transfers(&[single(10, 1, 4, 1), single(11, 1, 4, 1)], book.now_ns)
        .expect("ok");
    book.now_ns -= 1_000_000_000;
    let second = book
        .ledger
        .create_transfers(&[single(12, 1, 4, 1), single(0, 1, 4, 1)], book.now_ns)
        .expect("ok");
    let stamps: Vec<u64> = first.iter().chain(&second).map(|r| r.timestamp).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
}

// ----------------------------------------------------------------------------------------------
// two-phase transfers

#[test]
fn pending_transfers_reserve_without_posting() {
    let book = Book::standard();
    assert_eq!(book.transfer(pending(10, 1, 4, 50)), S::Created);
    assert_eq!(book.balances(1), (50, 0, 0, 0));
    assert_eq!(book.balances(4), (0, 0, 50, 0));
    assert_eq!(
        book.ledger.pending_status(10).expect("status"),
        Some(PendingStatus::Pending)
    );
    assert_eq!(book.ledger.head().expect("head").pending, 1);
}

#[test]
fn posting_amount_max_posts_the_full_pending_amount() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    assert_eq!(book.transfer(Transfer::post(11, 10, AMOUNT_MAX)), S::Created);
    assert_eq!(book.balances(1), (0, 50, 0, 0));
    assert_eq!(book.balances(4), (0, 0, 0, 50));
    let post = book.ledger.lookup_transfers(&[11]).expect("lookup")[0];
    assert_eq!(post.amount, 50, "the recorded amount is what was posted");
    assert_eq!(
        book.ledger.pending_status(10).expect("status"),
        Some(PendingStatus::Posted)
    );
    assert_eq!(book.ledger.head().expect("head").pending, 0);
    book.assert_audit();
}

#[test]
fn a_partial_post_posts_that_much_and_releases_the_rest() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    assert_eq!(book.transfer(Transfer::post(11, 10, 20)), S::Created);
    assert_eq!(book.balances(1), (0, 20, 0, 0));
    assert_eq!(book.balances(4), (0, 0, 0, 20));
    assert_eq!(
        book.transfer(Transfer::post(12, 10, 20)),
        S::PendingTransferAlreadyPosted
    );
    book.assert_audit();
}

#[test]
fn posting_zero_posts_nothing_and_resolves_the_transfer() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    assert_eq!(book.transfer(Transfer::post(11, 10, 0)), S::Created);
    assert_eq!(book.balances(1), (0, 0, 0, 0));
}

#[test]
fn posting_more_than_pending_fails() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    assert_eq!(
        book.transfer(Transfer::post(11, 10, 51)),
        S::ExceedsPendingTransferAmount
    );
    assert_eq!(book.balances(1), (50, 0, 0, 0));
}

#[test]
fn voids_release_the_reservation_with_amount_zero_or_equal() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    book.transfer(pending(20, 1, 4, 50));
    let mut wrong = Transfer::void(11, 10);
    wrong.amount = 49;
    assert_eq!(book.transfer(wrong), S::PendingTransferHasDifferentAmount);
    wrong.amount = 51;
    assert_eq!(book.transfer(wrong), S::ExceedsPendingTransferAmount);
    assert_eq!(book.transfer(Transfer::void(12, 10)), S::Created);
    let mut equal = Transfer::void(21, 20);
    equal.amount = 50;
    assert_eq!(book.transfer(equal), S::Created);
    assert_eq!(book.balances(1), (0, 0, 0, 0));
    assert_eq!(book.transfer(Transfer::void(13, 10)), S::PendingTransferAlreadyVoided);
    assert_eq!(
        book.transfer(Transfer::post(14, 10, AMOUNT_MAX)),
        S::PendingTransferAlreadyVoided
    );
    book.assert_audit();
}

#[test]
fn post_and_void_check_the_pending_transfer_in_order() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    book.transfer(single(20, 1, 4, 5));
    let post = |id| Transfer::post(id, 10, AMOUNT_MAX);
    let with = |f: fn(&mut Transfer)| {
        let mut transfer = post(30);
        f(&mut transfer);
        transfer
    };
    let cases = [
        (
            post(30).with_flags(TransferFlags::POST_PENDING_TRANSFER | TransferFlags::VOID_PENDING_TRANSFER),
            S::FlagsAreMutuallyExclusive,
        ),
        (
            post(30).with_flags(TransferFlags::POST_PENDING_TRANSFER | TransferFlags::PENDING),
            S::FlagsAreMutuallyExclusive,
        ),
        (
            post(30).with_flags(TransferFlags::POST_PENDING_TRANSFER | TransferFlags::BALANCING_DEBIT),
            S::FlagsAreMutuallyExclusive,
        ),
        (
            post(30).with_flags(TransferFlags::VOID_PENDING_TRANSFER | TransferFlags::CLOSING_CREDIT),
            S::FlagsAreMutuallyExclusive,
        ),
        (with(|t| t.pending_id = 0), S::PendingIdMustNotBeZero),
        (with(|t| t.pending_id = u128::MAX), S::PendingIdMustNotBeIntMax),
        (with(|t| t.pending_id = 30), S::PendingIdMustBeDifferent),
        (with(|t| t.timeout = 1), S::TimeoutReservedForPendingTransfer),
        (with(|t| t.pending_id = 99), S::PendingTransferNotFound),
        (with(|t| t.pending_id = 20), S::PendingTransferNotPending),
        (
            with(|t| t.debit_account_id = 4),
            S::PendingTransferHasDifferentDebitAccountId,
        ),
        (
            with(|t| t.credit_account_id = 1),
            S::PendingTransferHasDifferentCreditAccountId,
        ),
        (with(|t| t.ledger = 2), S::PendingTransferHasDifferentLedger),
        (with(|t| t.code = 2), S::PendingTransferHasDifferentCode),
    ];
    for (index, (transfer, expected)) in cases.into_iter().enumerate() {
        // A fresh id per case: pending_transfer_not_found is transient and burns its id.
        let transfer = Transfer {
            id: if transfer.pending_id == 30 {
                30
            } else {
                100 + index as u128
            },
            ..transfer
        };
        assert_eq!(book.transfer(transfer), expected, "{transfer:?}");
    }
    // Matching non-zero fields are fine.
    let mut exact = post(40);
    exact.debit_account_id = 1;
    exact.credit_account_id = 4;
    exact.ledger = 1;
    exact.code = 1;
    assert_eq!(book.transfer(exact), S::Created);
}

#[test]
fn post_and_void_inherit_zero_fields_from_the_pending_transfer() {
    let book = Book::standard();
    let mut p = pending(10, 1, 4, 50);
    p.user_data_128 = 7;
    p.user_data_64 = 8;
    p.user_data_32 = 9;
    book.transfer(p);
    let mut post = Transfer::post(11, 10, AMOUNT_MAX);
    post.user_data_64 = 80;
    assert_eq!(book.transfer(post), S::Created);
    let stored = book.ledger.lookup_transfers(&[11]).expect("lookup")[0];
    assert_eq!(
        (
            stored.debit_account_id,
            stored.credit_account_id,
            stored.ledger,
            stored.code
        ),
        (1, 4, 1, 1)
    );
    assert_eq!(
        (stored.user_data_128, stored.user_data_64, stored.user_data_32),
        (7, 80, 9)
    );
    // A retry leaving the fields 0 is the same transfer.
    assert_eq!(book.transfer(post), S::Exists);
    let mut explicit = post;
    explicit.user_data_128 = 7;
    explicit.amount = 50;
    explicit.debit_account_id = 1;
    assert_eq!(book.transfer(explicit), S::Exists);
    explicit.user_data_32 = 1;
    assert_eq!(book.transfer(explicit), S::ExistsWithDifferentUserData32);
}

#[test]
fn a_pending_transfer_expires_exactly_at_its_timeout() {
    let mut book = Book::standard();
    book.transfer(pending(10, 1, 4, 50).with_timeout(10));
    assert_eq!(book.advance(9), 0, "not before its time");
    assert_eq!(book.balances(1), (50, 0, 0, 0));
    assert!(book.ledger.next_expiry_ns().expect("next").is_some());
    assert_eq!(book.advance(1), 1);
    assert_eq!(book.balances(1), (0, 0, 0, 0));
    assert_eq!(
        book.ledger.pending_status(10).expect("status"),
        Some(PendingStatus::Expired)
    );
    assert_eq!(
        book.transfer(Transfer::post(11, 10, AMOUNT_MAX)),
        S::PendingTransferExpired
    );
    assert_eq!(book.transfer(Transfer::void(12, 10)), S::PendingTransferExpired);
    assert_eq!(book.ledger.next_expiry_ns().expect("next"), None);
    book.assert_audit();
}

#[test]
fn posting_after_the_timeout_fails_even_before_expire_runs() {
    let mut book = Book::standard();
    book.transfer(pending(10, 1, 4, 50).with_timeout(1));
    book.now_ns += 2_000_000_000; // no expire()
    assert_eq!(
        book.transfer(Transfer::post(11, 10, AMOUNT_MAX)),
        S::PendingTransferExpired
    );
    assert_eq!(
        book.balances(1),
        (50, 0, 0, 0),
        "the balance is released late, by expire"
    );
    assert_eq!(book.advance(0), 1);
    assert_eq!(book.balances(1), (0, 0, 0, 0));
}

#[test]
fn posting_before_the_timeout_removes_the_expiry() {
    let mut book = Book::standard();
    book.transfer(pending(10, 1, 4, 50).with_timeout(5));
    assert_eq!(book.transfer(Transfer::post(11, 10, AMOUNT_MAX)), S::Created);
    assert_eq!(book.advance(10), 0);
    assert_eq!(book.balances(1), (0, 50, 0, 0));
    book.assert_audit();
}

#[test]
fn expiries_run_in_expiry_order_then_creation_order() {
    let mut book = Book::standard();
    book.transfers(&[
        pending(10, 1, 4, 1).with_timeout(3),
        pending(11, 1, 4, 1).with_timeout(2),
        pending(12, 1, 4, 1).with_timeout(2),
    ]);
    assert_eq!(book.advance(3), 3);
    let journal = book.ledger.journal(0, 100).expect("journal");
    let expired: Vec<u128> = journal
        .iter()
        .filter_map(|r| match r.event {
            tally_ledger::core::JournalEvent::TransferExpired { pending_id, .. } => Some(pending_id),
            _ => None,
        })
        .collect();
    assert_eq!(expired, [11, 12, 10]);
}

#[test]
fn overflowing_the_timeout_fails() {
    let mut book = Book::standard();
    book.now_ns = tally_ledger::TIMESTAMP_MAX_NS - 10 * tally_ledger::NS_PER_S;
    assert_eq!(
        book.transfer(pending(10, 1, 4, 1).with_timeout(u32::MAX)),
        S::OverflowsTimeout
    );
    assert_eq!(book.transfer(pending(11, 1, 4, 1).with_timeout(5)), S::Created);
}

// ----------------------------------------------------------------------------------------------
// idempotency

#[test]
fn transfer_exists_with_different_fields_reports_the_first_difference_in_tigerbeetles_order() {
    let book = Book::standard();
    let mut original = pending(10, 1, 4, 5).with_timeout(100);
    original.user_data_128 = 1;
    original.user_data_64 = 1;
    original.user_data_32 = 1;
    assert_eq!(book.transfer(original), S::Created);
    let mut probe = Transfer {
        id: 10,
        debit_account_id: 2,
        credit_account_id: 3,
        amount: 6,
        pending_id: 0,
        user_data_128: 2,
        user_data_64: 2,
        user_data_32: 2,
        timeout: 7,
        ledger: 2,
        code: 2,
        flags: TransferFlags::PENDING | TransferFlags::BALANCING_CREDIT,
        timestamp: 0,
    };
    let order = [
        S::ExistsWithDifferentFlags,
        S::ExistsWithDifferentPendingId,
        S::ExistsWithDifferentTimeout,
        S::ExistsWithDifferentDebitAccountId,
        S::ExistsWithDifferentCreditAccountId,
        S::ExistsWithDifferentAmount,
        S::ExistsWithDifferentUserData128,
        S::ExistsWithDifferentUserData64,
        S::ExistsWithDifferentUserData32,
        S::ExistsWithDifferentLedger,
        S::ExistsWithDifferentCode,
        S::Exists,
    ];
    for expected in order {
        if expected == S::ExistsWithDifferentPendingId {
            probe.pending_id = 3;
        }
        assert_eq!(book.transfer(probe), expected);
        match expected {
            S::ExistsWithDifferentFlags => probe.flags = original.flags,
            S::ExistsWithDifferentPendingId => probe.pending_id = 0,
            S::ExistsWithDifferentTimeout => probe.timeout = original.timeout,
            S::ExistsWithDifferentDebitAccountId => probe.debit_account_id = 1,
            S::ExistsWithDifferentCreditAccountId => probe.credit_account_id = 4,
            S::ExistsWithDifferentAmount => probe.amount = 5,
            S::ExistsWithDifferentUserData128 => probe.user_data_128 = 1,
            S::ExistsWithDifferentUserData64 => probe.user_data_64 = 1,
            S::ExistsWithDifferentUserData32 => probe.user_data_32 = 1,
            S::ExistsWithDifferentLedger => probe.ledger = 1,
            S::ExistsWithDifferentCode => probe.code = 1,
            _ => {}
        }
    }
}

#[test]
fn transient_failures_burn_the_id_and_others_do_not() {
    let book = Book::standard();
    book.transfer(single(5, 1, 2, 10)); // fund 2 with 10
    assert_eq!(book.transfer(single(10, 2, 4, 11)), S::ExceedsCredits);
    assert_eq!(book.transfer(single(10, 2, 4, 1)), S::IdAlreadyFailed);
    assert_eq!(book.transfer(single(11, 1, 77, 1)), S::CreditAccountNotFound);
    assert_eq!(book.transfer(single(11, 1, 4, 1)), S::IdAlreadyFailed);
    assert_eq!(book.transfer(Transfer::post(12, 99, 1)), S::PendingTransferNotFound);
    assert_eq!(book.transfer(Transfer::post(12, 99, 1)), S::IdAlreadyFailed);
    // Not transient: the id stays free.
    assert_eq!(book.transfer(Transfer::new(13, 1, 4, 1, 0, 1)), S::LedgerMustNotBeZero);
    assert_eq!(book.transfer(single(13, 1, 4, 1)), S::Created);
    assert!(book.ledger.lookup_transfers(&[10, 11, 12]).expect("lookup").is_empty());
}

#[test]
fn a_transient_failure_inside_a_chain_still_burns_its_id() {
    let book = Book::standard();
    let statuses = book.transfers(&[linked(single(10, 1, 4, 1)), single(11, 1, 77, 1)]);
    assert_eq!(statuses, [S::LinkedEventFailed, S::CreditAccountNotFound]);
    assert_eq!(
        book.transfer(single(10, 1, 4, 1)),
        S::Created,
        "rolled back, not burned"
    );
    assert_eq!(book.transfer(single(11, 1, 4, 1)), S::IdAlreadyFailed);
}

#[test]
fn a_batch_retried_after_a_lost_acknowledgement_returns_exists_and_applies_nothing_twice() {
    use tally_store::{Fault, FaultyStore};
    let store = FaultyStore::new(MemStore::new());
    let book = Book::on(store);
    book.accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)]);
    let batch = [
        pending(10, 1, 2, 50),
        Transfer::post(11, 10, 20),
        single(12, 1, 2, 5),
        pending(13, 1, 2, 7).with_timeout(60),
    ];
    book.ledger.store().inject(Fault::on_commit().nth(1).after_write());
    let error = book
        .ledger
        .create_transfers(&batch, book.now_ns)
        .expect_err("acknowledgement lost");
    assert!(matches!(&error, LedgerError::Store(e) if e.is_injected()), "{error}");
    assert_eq!(book.transfers(&batch), [S::Exists; 4]);
    assert_eq!(book.balances(1), (7, 25, 0, 0));
    let head = book.ledger.head().expect("head");
    assert_eq!((head.transfers, head.pending), (4, 1));
    book.assert_audit();
}

#[test]
fn a_retried_linked_chain_stops_at_its_first_exists_as_in_tigerbeetle() {
    // `exists` is not `created`, so it breaks the chain: the events after it
    // report linked_event_failed (TigerBeetle 0.17 does the same). Nothing
    // applies twice either way.
    let book = Book::standard();
    let chain = [linked(pending(10, 1, 4, 50)), Transfer::post(11, 10, 20)];
    assert_eq!(book.transfers(&chain), [S::Created, S::Created]);
    assert_eq!(book.transfers(&chain), [S::Exists, S::LinkedEventFailed]);
    assert_eq!(book.transfers(&chain[1..]), [S::Exists]);
    assert_eq!(book.balances(1), (0, 20, 0, 0));
}

#[test]
fn a_batch_that_failed_before_writing_applies_in_full_on_retry() {
    use tally_store::{Fault, FaultyStore};
    let book = Book::on(FaultyStore::new(MemStore::new()));
    book.accounts(&[Account::new(1, 1, 1), Account::new(2, 1, 1)]);
    book.ledger.store().inject(Fault::on_commit().nth(1).before_write());
    assert!(
        book.ledger
            .create_transfers(&[single(10, 1, 2, 5)], book.now_ns)
            .is_err()
    );
    assert_eq!(book.balances(1), (0, 0, 0, 0));
    assert_eq!(book.transfers(&[single(10, 1, 2, 5)]), [S::Created]);
    book.assert_audit();
}

// ----------------------------------------------------------------------------------------------
// linked chains

#[test]
fn a_chain_applies_in_order_and_later_events_see_earlier_effects() {
    let book = Book::standard();
    let statuses = book.transfers(&[
        linked(single(10, 1, 2, 100)),  // fund 2
        linked(pending(11, 2, 4, 100)), // needs the funding
        Transfer::post(12, 11, 60),     // needs the pending transfer
    ]);
    assert_eq!(statuses, [S::Created; 3]);
    assert_eq!(book.balances(2), (0, 60, 0, 100));
}

#[test]
fn a_failure_rolls_back_the_whole_chain_and_only_the_chain() {
    let book = Book::standard();
    let statuses = book.transfers(&[
        single(9, 1, 4, 1),
        linked(single(10, 1, 4, 1)),
        linked(single(11, 1, 4, 1)),
        single(12, 1, 1, 1), // fails: same account
        single(13, 1, 4, 1),
        linked(single(14, 1, 4, 1)),
        single(15, 1, 4, 1),
    ]);
    assert_eq!(
        statuses,
        [
            S::Created,
            S::LinkedEventFailed,
            S::LinkedEventFailed,
            S::AccountsMustBeDifferent,
            S::Created,
            S::Created,
            S::Created
        ]
    );
    assert_eq!(book.balances(1), (0, 4, 0, 0));
    book.assert_audit();
}

#[test]
fn events_after_the_failure_in_a_chain_fail_unchecked() {
    let book = Book::standard();
    let statuses = book.transfers(&[
        linked(single(10, 1, 1, 1)),
        linked(single(0, 1, 4, 1)),
        single(12, 1, 4, 1),
    ]);
    assert_eq!(
        statuses,
        [S::AccountsMustBeDifferent, S::LinkedEventFailed, S::LinkedEventFailed]
    );
}

#[test]
fn a_chain_left_open_at_the_end_of_the_batch_fails() {
    let book = Book::standard();
    let statuses = book.transfers(&[
        single(9, 1, 4, 1),
        linked(single(10, 1, 4, 1)),
        linked(single(11, 1, 4, 1)),
    ]);
    assert_eq!(statuses, [S::Created, S::LinkedEventFailed, S::LinkedEventChainOpen]);
    assert_eq!(book.balances(1), (0, 1, 0, 0));
    // An open chain's events are not burned: linked_event_* are not transient.
    assert_eq!(book.transfer(single(11, 1, 4, 1)), S::Created);
}

#[test]
fn a_chain_rolls_back_a_pending_transfer_and_its_post_together() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 50));
    let statuses = book.transfers(&[linked(Transfer::post(11, 10, 50)), single(12, 4, 4, 1)]);
    assert_eq!(statuses, [S::LinkedEventFailed, S::AccountsMustBeDifferent]);
    assert_eq!(
        book.ledger.pending_status(10).expect("status"),
        Some(PendingStatus::Pending)
    );
    assert_eq!(book.transfer(Transfer::post(11, 10, 50)), S::Created);
}

// ----------------------------------------------------------------------------------------------
// balancing and closing

#[test]
fn balancing_debit_moves_at_most_what_the_limit_allows() {
    let book = Book::standard();
    book.transfer(single(10, 1, 2, 30)); // 2 has 30 credits
    let sweep = single(11, 2, 4, 100).with_flags(TransferFlags::BALANCING_DEBIT);
    assert_eq!(book.transfer(sweep), S::Created);
    assert_eq!(book.ledger.lookup_transfers(&[11]).expect("lookup")[0].amount, 30);
    assert_eq!(book.balances(2), (0, 30, 0, 30));
    // Retrying with a maximum at least what moved is the same transfer.
    assert_eq!(book.transfer(sweep), S::Exists);
    assert_eq!(
        book.transfer(single(11, 2, 4, 30).with_flags(TransferFlags::BALANCING_DEBIT)),
        S::Exists
    );
    assert_eq!(
        book.transfer(single(11, 2, 4, 29).with_flags(TransferFlags::BALANCING_DEBIT)),
        S::ExistsWithDifferentAmount
    );
    // Nothing left: moves 0.
    assert_eq!(
        book.transfer(single(12, 2, 4, 100).with_flags(TransferFlags::BALANCING_DEBIT)),
        S::Created
    );
    assert_eq!(book.ledger.lookup_transfers(&[12]).expect("lookup")[0].amount, 0);
}

#[test]
fn balancing_credit_moves_at_most_what_the_limit_allows_and_may_be_pending() {
    let book = Book::standard();
    book.transfer(single(10, 3, 1, 40)); // 3 has 40 debits
    let fill = pending(11, 1, 3, 100).with_flags(TransferFlags::PENDING | TransferFlags::BALANCING_CREDIT);
    assert_eq!(book.transfer(fill), S::Created);
    assert_eq!(book.balances(3), (0, 40, 40, 0));
    let again = single(12, 1, 3, 100).with_flags(TransferFlags::BALANCING_CREDIT);
    assert_eq!(book.transfer(again), S::Created);
    assert_eq!(
        book.ledger.lookup_transfers(&[12]).expect("lookup")[0].amount,
        0,
        "the pending credit counts"
    );
}

#[test]
fn balancing_on_an_unlimited_account_uses_its_balance_too() {
    // TigerBeetle clamps by the balance whether or not the account has a limit flag.
    let book = Book::standard();
    book.transfer(single(10, 4, 1, 25)); // 1 has credits 25, debits 0
    assert_eq!(
        book.transfer(single(11, 1, 4, 100).with_flags(TransferFlags::BALANCING_DEBIT)),
        S::Created
    );
    assert_eq!(book.ledger.lookup_transfers(&[11]).expect("lookup")[0].amount, 25);
}

#[test]
fn closing_transfers_close_accounts_and_voiding_reopens_them() {
    let book = Book::standard();
    let close = pending(10, 1, 4, 0).with_flags(TransferFlags::PENDING | TransferFlags::CLOSING_DEBIT);
    assert_eq!(book.transfer(close), S::Created);
    assert!(book.account(1).flags.contains(AccountFlags::CLOSED));
    assert_eq!(book.transfer(single(11, 1, 4, 1)), S::DebitAccountAlreadyClosed);
    assert_eq!(book.transfer(single(12, 4, 1, 1)), S::CreditAccountAlreadyClosed);
    assert_eq!(
        book.transfer(Transfer::post(13, 10, AMOUNT_MAX)),
        S::DebitAccountAlreadyClosed
    );
    assert_eq!(book.transfer(Transfer::void(14, 10)), S::Created);
    assert!(!book.account(1).flags.contains(AccountFlags::CLOSED));
    assert_eq!(book.transfer(single(15, 1, 4, 1)), S::Created);
    book.assert_audit();
}

#[test]
fn pending_transfers_of_a_closed_account_may_still_be_voided() {
    let book = Book::standard();
    book.transfer(pending(10, 1, 4, 5));
    book.transfer(pending(11, 4, 1, 0).with_flags(TransferFlags::PENDING | TransferFlags::CLOSING_CREDIT));
    assert_eq!(
        book.transfer(Transfer::post(12, 10, AMOUNT_MAX)),
        S::DebitAccountAlreadyClosed
    );
    assert_eq!(book.transfer(Transfer::void(13, 10)), S::Created);
}

#[test]
fn an_expired_closing_transfer_reopens_its_account() {
    let mut book = Book::standard();
    book.transfer(
        pending(10, 1, 4, 0)
            .with_flags(TransferFlags::PENDING | TransferFlags::CLOSING_CREDIT)
            .with_timeout(1),
    );
    assert!(book.account(4).flags.contains(AccountFlags::CLOSED));
    assert_eq!(book.advance(1), 1);
    assert!(!book.account(4).flags.contains(AccountFlags::CLOSED));
    book.assert_audit();
}

// ----------------------------------------------------------------------------------------------
// overflow

#[test]
fn overflows_are_statuses_checked_in_order() {
    let book = Book::new();
    book.accounts(&[
        Account::new(1, 1, 1),
        Account::new(2, 1, 1),
        Account::new(3, 1, 1),
        Account::new(4, 1, 1),
    ]);
    let max = u128::MAX;
    assert_eq!(book.transfer(pending(10, 1, 2, max)), S::Created);
    assert_eq!(book.transfer(pending(11, 1, 3, 1)), S::OverflowsDebitsPending);
    assert_eq!(book.transfer(pending(12, 3, 2, 1)), S::OverflowsCreditsPending);
    assert_eq!(book.transfer(single(13, 1, 3, 1)), S::OverflowsDebits);
    assert_eq!(book.transfer(single(14, 3, 2, 1)), S::OverflowsCredits);
    assert_eq!(book.transfer(single(15, 3, 4, max)), S::Created);
    assert_eq!(book.transfer(single(16, 3, 1, 1)), S::OverflowsDebitsPosted);
    assert_eq!(book.transfer(single(17, 1, 4, 1)), S::OverflowsCreditsPosted);
    book.assert_audit();
}

// ----------------------------------------------------------------------------------------------
// queries

#[test]
fn lookups_skip_missing_ids_and_keep_the_order_asked() {
    let book = Book::standard();
    let found = book.ledger.lookup_accounts(&[4, 77, 1]).expect("lookup");
    assert_eq!(found.iter().map(|a| a.id).collect::<Vec<_>>(), [4, 1]);
    book.transfers(&[single(10, 1, 4, 1), single(11, 1, 77, 1)]);
    let found = book.ledger.lookup_transfers(&[11, 10]).expect("lookup");
    assert_eq!(
        found.iter().map(|t| t.id).collect::<Vec<_>>(),
        [10],
        "a burned id is not a transfer"
    );
}

#[test]
fn get_account_transfers_applies_tigerbeetles_filter() {
    let book = Book::standard();
    let mut coded = single(12, 1, 4, 1);
    coded.code = 7;
    coded.user_data_64 = 5;
    book.transfers(&[
        single(10, 1, 4, 1),
        single(11, 4, 1, 1),
        coded,
        single(13, 2, 3, 0),
        single(14, 1, 2, 1),
    ]);
    let ids = |filter: AccountFilter| -> Vec<u128> {
        book.ledger
            .get_account_transfers(&filter)
            .expect("query")
            .iter()
            .map(|t| t.id)
            .collect()
    };
    let all = AccountFilter::all(1);
    assert_eq!(ids(all), [10, 11, 12, 14]);
    let mut debits = all;
    debits.flags.credits = false;
    assert_eq!(ids(debits), [10, 12, 14]);
    let mut credits = all;
    credits.flags.debits = false;
    assert_eq!(ids(credits), [11]);
    let mut reversed = all;
    reversed.flags.reversed = true;
    reversed.limit = 2;
    assert_eq!(ids(reversed), [14, 12]);
    let mut limited = all;
    limited.limit = 2;
    assert_eq!(ids(limited), [10, 11]);
    let mut by_code = all;
    by_code.code = 7;
    assert_eq!(ids(by_code), [12]);
    let mut by_user_data = all;
    by_user_data.user_data_64 = 5;
    assert_eq!(ids(by_user_data), [12]);
    let stamps: Vec<u64> = book
        .ledger
        .get_account_transfers(&all)
        .expect("query")
        .iter()
        .map(|t| t.timestamp)
        .collect();
    let mut window = all;
    window.timestamp_min = stamps[1];
    window.timestamp_max = stamps[2];
    assert_eq!(ids(window), [11, 12]);
    // Invalid filters return nothing.
    let mut no_side = all;
    no_side.flags.debits = false;
    no_side.flags.credits = false;
    assert!(ids(no_side).is_empty());
    let mut zero_limit = all;
    zero_limit.limit = 0;
    assert!(ids(zero_limit).is_empty());
    let mut inverted = all;
    inverted.timestamp_min = stamps[2];
    inverted.timestamp_max = stamps[1];
    assert!(ids(inverted).is_empty());
    assert!(ids(AccountFilter::all(0)).is_empty());
}

#[test]
fn get_account_balances_needs_history_and_skips_expiries() {
    let mut book = Book::standard();
    book.accounts(&[Account::new(5, 1, 1).with_flags(AccountFlags::HISTORY)]);
    book.transfers(&[
        single(10, 1, 5, 10),
        pending(11, 5, 1, 4).with_timeout(1),
        single(12, 1, 4, 1),
    ]);
    book.advance(1);
    book.transfer(Transfer::post(13, 11, AMOUNT_MAX)); // expired
    let balances = book.ledger.get_account_balances(&AccountFilter::all(5)).expect("query");
    let rows: Vec<_> = balances
        .iter()
        .map(|b| (b.debits_pending, b.debits_posted, b.credits_posted))
        .collect();
    assert_eq!(rows, [(0, 0, 10), (4, 0, 10)]);
    assert!(
        book.ledger
            .get_account_balances(&AccountFilter::all(1))
            .expect("query")
            .is_empty(),
        "no history flag"
    );
    assert!(
        book.ledger
            .get_account_balances(&AccountFilter::all(77))
            .expect("query")
            .is_empty()
    );
    assert_eq!(book.balances(5), (0, 0, 0, 10));
}

// ----------------------------------------------------------------------------------------------
// journal, audit, limits

#[test]
fn the_journal_is_gapless_and_the_audit_replays_it() {
    let mut book = Book::standard();
    book.transfers(&[
        single(10, 1, 4, 3),
        pending(11, 1, 4, 2).with_timeout(1),
        single(12, 0, 4, 1),
    ]);
    book.advance(1);
    let journal = book.ledger.journal(0, 1_000).expect("journal");
    let seqs: Vec<u64> = journal.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..8).collect::<Vec<u64>>(), "5 accounts, 2 transfers, 1 expiry");
    assert_eq!(book.ledger.journal(6, 1).expect("journal")[0].seq, 6);
    let report = book.ledger.audit().expect("audit");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.events, report.accounts, report.transfers, report.pending),
        (8, 5, 2, 0)
    );
}

#[test]
fn the_audit_finds_a_balance_changed_behind_the_ledgers_back() {
    let book = Book::standard();
    book.transfer(single(10, 1, 4, 3));
    // Rewrite account 4 with one more credit, outside the ledger: accounts
    // 1..=63 share bucket 0 (see the key layout).
    let mut bucket = book.ledger.lookup_accounts(&[1, 2, 3, 4, 9]).expect("lookup");
    bucket[3].credits_posted += 1;
    let key = tally_store::key::KeyBuilder::new("ledger").u8(b'A').u128(0).build();
    let mut batch = tally_store::Batch::new();
    batch.put(key, tally_store::codec::encode(&bucket).expect("encode"));
    tally_store::Store::commit(book.ledger.store(), batch).expect("commit");
    let report = book.ledger.audit().expect("audit");
    assert!(!report.is_ok());
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            tally_ledger::journal::AuditProblem::AccountDiffers {
                account_id: 4,
                field: "credits_posted",
                ..
            }
        )),
        "{report:?}"
    );
}

#[test]
fn batches_above_the_limit_are_refused_whole() {
    let ledger = Ledger::new(MemStore::new());
    let batch = vec![single(1, 1, 2, 1); tally_ledger::BATCH_EVENTS_MAX + 1];
    assert!(matches!(
        ledger.create_transfers(&batch, 1),
        Err(LedgerError::TooMany { .. })
    ));
    let ids = vec![1u128; tally_ledger::BATCH_EVENTS_MAX + 1];
    assert!(matches!(ledger.lookup_accounts(&ids), Err(LedgerError::TooMany { .. })));
    assert!(ledger.create_transfers(&[], 1).expect("empty").is_empty());
}

#[test]
fn a_clock_past_the_largest_timestamp_is_refused() {
    let ledger = Ledger::new(MemStore::new());
    let error = ledger
        .create_accounts(&[Account::new(1, 1, 1)], tally_ledger::TIMESTAMP_MAX_NS)
        .expect_err("too late");
    assert!(matches!(error, LedgerError::Clock(_)), "{error}");
}

#[test]
fn ledgers_in_different_namespaces_share_a_store_without_touching_each_other() {
    let store = std::sync::Arc::new(MemStore::new());
    let a = Ledger::with_namespace(store.clone(), "a");
    let b = Ledger::with_namespace(store, "b");
    a.create_accounts(&[Account::new(1, 1, 1)], 1).expect("a");
    assert!(b.lookup_accounts(&[1]).expect("b").is_empty());
    assert!(b.audit().expect("audit").is_ok());
}

#[test]
fn get_account_transfers_pages_across_commits_in_both_directions() {
    let book = Book::standard();
    for round in 0..5u128 {
        let batch: Vec<Transfer> = (0..4).map(|i| single(100 + round * 10 + i, 1, 4, 1)).collect();
        book.transfers(&batch);
        book.transfer(single(500 + round, 4, 2, 1)); // a commit that does not touch account 1
    }
    let all = book
        .ledger
        .get_account_transfers(&AccountFilter::all(1))
        .expect("query");
    assert_eq!(all.len(), 20);
    assert!(all.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    let mut window = AccountFilter::all(1);
    window.timestamp_min = all[3].timestamp;
    window.timestamp_max = all[13].timestamp;
    let got: Vec<u128> = book
        .ledger
        .get_account_transfers(&window)
        .expect("query")
        .iter()
        .map(|t| t.id)
        .collect();
    let expected: Vec<u128> = all[3..=13].iter().map(|t| t.id).collect();
    assert_eq!(got, expected);
    window.flags.reversed = true;
    window.limit = 4;
    let got: Vec<u128> = book
        .ledger
        .get_account_transfers(&window)
        .expect("query")
        .iter()
        .map(|t| t.id)
        .collect();
    let expected: Vec<u128> = all[10..=13].iter().rev().map(|t| t.id).collect();
    assert_eq!(got, expected);
    let mut credits = AccountFilter::all(4);
    credits.flags.debits = false;
    assert_eq!(book.ledger.get_account_transfers(&credits).expect("query").len(), 20);
}

#[test]
fn a_full_batch_is_one_commit_reading_each_bucket_once() {
    use tally_store::interleave::Interleaved;
    let store = Interleaved::new(MemStore::new());
    let ledger = Ledger::new(&store);
    let now_ns = support::START_NS;
    let accounts: Vec<Account> = (1..=200).map(|id| Account::new(id, 1, 1)).collect();
    ledger.create_accounts(&accounts, now_ns).expect("accounts");
    let batch: Vec<Transfer> = (0..tally_ledger::BATCH_EVENTS_MAX as u128)
        .map(|i| single(1_000 + i, 1 + i % 200, 1 + (i + 1) % 200, 1))
        .collect();
    let before = store.reads();
    let results = ledger.create_transfers(&batch, now_ns).expect("batch");
    assert!(results.iter().all(|r| r.status == S::Created));
    let reads = store.reads() - before;
    // The head, each bucket of 64 transfer ids once, each bucket of 64
    // accounts once: not one read per transfer.
    let transfer_buckets = (1_000 + 8_189) / 64 - 1_000 / 64 + 1;
    let account_buckets = 200 / 64 + 1;
    assert!(reads <= 1 + transfer_buckets + account_buckets, "{reads} reads");
    let head = ledger.head().expect("head");
    assert_eq!(head.transfers, tally_ledger::BATCH_EVENTS_MAX as u64);
    assert!(ledger.audit().expect("audit").is_ok());
}

/// Counts the calls a ledger makes, with `get_many` counted as one call.
#[derive(Default)]
struct CallCounter {
    inner: MemStore,
    gets: std::sync::atomic::AtomicU64,
    get_manys: std::sync::atomic::AtomicU64,
}

impl tally_store::Store for CallCounter {
    fn get(&self, key: &[u8]) -> Result<Option<tally_store::Versioned>, tally_store::StoreError> {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get(key)
    }
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<tally_store::Page, tally_store::StoreError> {
        self.inner.scan(prefix, after, limit)
    }
    fn commit(&self, batch: tally_store::Batch) -> Result<(), tally_store::StoreError> {
        self.inner.commit(batch)
    }
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<tally_store::Versioned>>, tally_store::StoreError> {
        self.get_manys.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.get_many(keys)
    }
}

impl CallCounter {
    fn calls(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.gets.load(Relaxed), self.get_manys.load(Relaxed))
    }
}

#[test]
fn a_batch_reads_its_buckets_in_one_get_many_and_its_posts_in_one_more() {
    let store = CallCounter::default();
    let ledger = Ledger::new(&store);
    let now_ns = support::START_NS;
    let accounts: Vec<Account> = (1..=1_000).map(|id| Account::new(id, 1, 1)).collect();
    ledger.create_accounts(&accounts, now_ns).expect("accounts");
    let pending: Vec<Transfer> = (0..4_000u128)
        .map(|i| single(10_000 + i, 1 + i % 1_000, 1 + (i * 7 + 1) % 1_000, 1).with_flags(TransferFlags::PENDING))
        .collect();
    let before = store.calls();
    let results = ledger.create_transfers(&pending, now_ns).expect("batch");
    assert!(results.iter().all(|r| r.status == S::Created));
    let (gets, get_manys) = store.calls();
    // The head, then every transfer and account bucket in one call.
    assert_eq!((gets - before.0, get_manys - before.1), (1, 1));

    let posts: Vec<Transfer> = pending
        .iter()
        .map(|p| Transfer::post(p.id + 100_000, p.id, AMOUNT_MAX))
        .collect();
    let before = store.calls();
    let results = ledger.create_transfers(&posts, now_ns).expect("batch");
    assert!(results.iter().all(|r| r.status == S::Created));
    let (gets, get_manys) = store.calls();
    // The pending transfers' accounts are only known once they are read.
    assert_eq!((gets - before.0, get_manys - before.1), (1, 2));
    assert!(ledger.audit().expect("audit").is_ok());
}
