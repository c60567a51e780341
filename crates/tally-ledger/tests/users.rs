//! TiMPE's scenarios on `Users`: register, transfer (phase one), process
//! (phase two), transfer immediately, insufficient balance, a sweep
//! interrupted and resumed, sweeps racing, retries after lost
//! acknowledgements.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use tally_ledger::users::{ISSUANCE_ACCOUNT_ID, UserId, Users, post_id};
use tally_ledger::{Account, LedgerError, NS_PER_S, PendingStatus, Transfer};
use tally_store::{Fault, FaultyStore, MemStore, Store};

const NOW_NS: u64 = 1_700_000_000 * NS_PER_S;

fn seeded<S: Store>(store: S) -> (Users<S>, UserId, UserId, UserId) {
    let users = Users::new(store);
    let elon = users.register("elon_musk", 10_000_000, NOW_NS).expect("register").id;
    let nikola = users.register("nikola_tesla", 10_000_000, NOW_NS).expect("register").id;
    let ada = users.register("lovelace", 0, NOW_NS).expect("register").id;
    (users, elon, nikola, ada)
}

fn balance<S: Store>(users: &Users<S>, id: &UserId) -> (u128, u128) {
    let user = users
        .users()
        .unwrap()
        .into_iter()
        .find(|u| u.id == *id)
        .expect("registered");
    (user.balance, user.reserved)
}

fn assert_books_balance<S: Store>(users: &Users<S>, expected_total: u128) {
    let report = users.report().expect("report");
    assert!(report.audit.is_empty(), "{:?}", report.audit);
    assert_eq!(report.total, expected_total);
    assert_eq!(report.issued, expected_total);
}

#[test]
fn a_user_is_registered_by_nickname_with_a_sha1_id_and_an_opening_balance_from_issuance() {
    let users = Users::new(MemStore::new());
    let user = users.register("elon_musk", 10_000_000, NOW_NS).unwrap();
    // TiMPE: sha1("salt" + nickname).hexdigest(); this value from Python's hashlib.
    assert_eq!(user.id.to_hex(), "6ca595a7875dca8fc5b193aa7eaa566a6b0afdff");
    assert_eq!(user.account_id, user.id.account_id());
    assert_eq!(users.user("elon_musk").unwrap(), Some(user.clone()));
    assert_eq!(users.user("nobody").unwrap(), None);
    let issuance = users.ledger().lookup_accounts(&[ISSUANCE_ACCOUNT_ID]).unwrap()[0];
    assert_eq!(issuance.debits_posted, 10_000_000, "the issuance account paid it");
    assert_books_balance(&users, 10_000_000);

    // Again with the same balance: a retry, nothing changes.
    assert_eq!(users.register("elon_musk", 10_000_000, NOW_NS).unwrap(), user);
    assert_books_balance(&users, 10_000_000);
    assert!(matches!(
        users.register("elon_musk", 5, NOW_NS),
        Err(LedgerError::AlreadyRegistered { .. })
    ));
    for bad in ["", "tab\there", &"x".repeat(129)] {
        assert!(matches!(
            users.register(bad, 1, NOW_NS),
            Err(LedgerError::InvalidNickname { .. })
        ));
    }
}

#[test]
fn an_interrupted_registration_is_finished_by_registering_again() {
    let store = FaultyStore::new(MemStore::new());
    // The registry record commits; the accounts' commit fails before writing.
    store.inject(Fault::on_commit().nth(2).times(1));
    let users = Users::new(store);
    assert!(users.register("lovelace", 500, NOW_NS).is_err());
    let report = users.report().unwrap();
    assert_eq!(report.users.len(), 1, "listed, with nothing yet");
    assert_eq!(report.total, 0);
    assert!(report.audit_summary().contains("unfinished"), "{report:?}");
    users.register("lovelace", 500, NOW_NS).unwrap();
    assert_books_balance(&users, 500);
}

#[test]
fn a_transfer_reserves_the_funds_and_process_posts_it() {
    let (users, elon, nikola, _) = seeded(MemStore::new());
    let id = users.transfer(&elon, &nikola, 1_000, NOW_NS).unwrap();
    assert_eq!(balance(&users, &elon), (10_000_000, 1_000), "reserved, not yet moved");
    assert_eq!(balance(&users, &nikola), (10_000_000, 0));
    assert_eq!(users.pending().unwrap(), 1);
    assert_eq!(users.ledger().pending_status(id).unwrap(), Some(PendingStatus::Pending));

    let swept = users.process(NOW_NS, 100).unwrap();
    assert_eq!((swept.posted, swept.already_posted, swept.more), (1, 0, false));
    assert!(swept.failed.is_empty());
    assert_eq!(users.ledger().pending_status(id).unwrap(), Some(PendingStatus::Posted));
    assert_eq!(balance(&users, &elon), (9_999_000, 0));
    assert_eq!(balance(&users, &nikola), (10_001_000, 0));
    assert_eq!(users.pending().unwrap(), 0);
    assert_books_balance(&users, 20_000_000);

    // Nothing left: a second sweep posts nothing.
    let again = users.process(NOW_NS, 100).unwrap();
    assert_eq!((again.posted, again.already_posted), (0, 0));
}

#[test]
fn transfer_immediately_runs_both_phases_in_one_commit() {
    let (users, elon, nikola, _) = seeded(MemStore::new());
    let commits = users.client().stats().commits;
    let id = users.transfer_immediately(&elon, &nikola, 250, NOW_NS).unwrap();
    assert_eq!(users.client().stats().commits, commits + 1);
    assert_eq!(users.ledger().pending_status(id).unwrap(), Some(PendingStatus::Posted));
    assert_eq!(users.pending().unwrap(), 0);
    assert_eq!(balance(&users, &elon), (9_999_750, 0));
    assert_eq!(balance(&users, &nikola), (10_000_250, 0));
    let swept = users.process(NOW_NS, 100).unwrap();
    assert_eq!((swept.posted, swept.already_posted), (0, 0), "the sweep saw it posted");
}

#[test]
fn insufficient_balance_is_refused_and_funds_reserved_in_phase_one_count() {
    let (users, elon, _, ada) = seeded(MemStore::new());
    // Ada has nothing.
    assert!(matches!(
        users.transfer(&ada, &elon, 1, NOW_NS),
        Err(LedgerError::InsufficientBalance { user, amount: 1 }) if user == ada
    ));
    // TiMPE's race: two phase-one transfers that each fit but together do
    // not. The second is refused: the first reserved its funds.
    users.transfer(&elon, &ada, 6_000_000, NOW_NS).unwrap();
    assert!(matches!(
        users.transfer(&elon, &ada, 6_000_000, NOW_NS),
        Err(LedgerError::InsufficientBalance { .. })
    ));
    assert!(matches!(
        users.transfer_immediately(&elon, &ada, 4_000_001, NOW_NS),
        Err(LedgerError::InsufficientBalance { .. })
    ));
    users.transfer_immediately(&elon, &ada, 4_000_000, NOW_NS).unwrap();
    users.process(NOW_NS, 100).unwrap();
    assert_eq!(balance(&users, &elon), (0, 0));
    assert_eq!(balance(&users, &ada), (10_000_000, 0));
    assert_books_balance(&users, 20_000_000);
}

#[test]
fn unknown_users_zero_amounts_and_self_transfers_are_refused() {
    let (users, elon, _, _) = seeded(MemStore::new());
    let nobody = UserId::of_nickname("nobody");
    assert!(matches!(
        users.transfer(&elon, &nobody, 1, NOW_NS),
        Err(LedgerError::UnknownUser { user }) if user == nobody
    ));
    assert!(matches!(
        users.transfer(&nobody, &elon, 1, NOW_NS),
        Err(LedgerError::UnknownUser { user }) if user == nobody
    ));
    assert!(matches!(
        users.transfer(&elon, &elon, 1, NOW_NS),
        Err(LedgerError::InvalidTransfer { .. })
    ));
    assert!(matches!(
        users.transfer(&elon, &nobody, 0, NOW_NS),
        Err(LedgerError::InvalidTransfer { .. })
    ));
    assert!(matches!(
        users.transfer_with_id(7, &elon, &nobody, 1, NOW_NS),
        Err(LedgerError::InvalidTransfer { .. })
    ));
}

#[test]
fn process_posts_in_creation_order_up_to_its_limit() {
    let (users, elon, nikola, ada) = seeded(MemStore::new());
    let mut ids = Vec::new();
    for amount in 1..=5u128 {
        let (from, to) = if amount % 2 == 0 {
            (&nikola, &ada)
        } else {
            (&elon, &ada)
        };
        ids.push(users.transfer(from, to, amount, NOW_NS).unwrap());
    }
    let first = users.process(NOW_NS, 2).unwrap();
    assert_eq!((first.posted, first.more), (2, true));
    let statuses: Vec<_> = ids
        .iter()
        .map(|id| users.ledger().pending_status(*id).unwrap().unwrap())
        .collect();
    use PendingStatus::{Pending, Posted};
    assert_eq!(statuses, [Posted, Posted, Pending, Pending, Pending], "oldest first");
    // The posts themselves were made in creation order.
    let posts = users
        .ledger()
        .lookup_transfers(&[post_id(ids[0]), post_id(ids[1])])
        .unwrap();
    assert!(posts[0].timestamp < posts[1].timestamp);
    let rest = users.process(NOW_NS, 10).unwrap();
    assert_eq!((rest.posted, rest.more), (3, false));
    assert_eq!(balance(&users, &ada), (15, 0));
    assert_books_balance(&users, 20_000_000);
}

#[test]
fn a_sweep_interrupted_before_its_posts_commit_is_resumed_by_the_next() {
    let store = FaultyStore::new(MemStore::new());
    let (users, elon, nikola, _) = seeded(store);
    for amount in 1..=10u128 {
        users.transfer(&elon, &nikola, amount, NOW_NS).unwrap();
    }
    // The sweep's commit of the posts fails, nothing applied.
    users.ledger().store().inject(Fault::on_commit().nth(1).times(1));
    assert!(users.process(NOW_NS, 100).is_err());
    assert_eq!(users.pending().unwrap(), 10);
    let resumed = users.process(NOW_NS, 100).unwrap();
    assert_eq!((resumed.posted, resumed.already_posted), (10, 0));
    assert_eq!(balance(&users, &nikola), (10_000_055, 0));
    assert_books_balance(&users, 20_000_000);
}

#[test]
fn a_sweep_interrupted_after_its_posts_commit_is_finished_without_posting_twice() {
    // TiMPE's recovery cases ("in progress", "committed"): a sweep that
    // died after some of its work was durable. Here: the posts of the
    // first batch commit but the acknowledgement is lost, so the cursor
    // did not move.
    let store = FaultyStore::new(MemStore::new());
    let (users, elon, nikola, _) = seeded(store);
    for amount in 1..=10u128 {
        users.transfer(&elon, &nikola, amount, NOW_NS).unwrap();
    }
    users
        .ledger()
        .store()
        .inject(Fault::on_commit().nth(1).after_write().times(1));
    let error = users.process(NOW_NS, 4).expect_err("lost acknowledgement");
    assert!(
        error.store_error().is_some_and(tally_store::StoreError::is_injected),
        "{error}"
    );
    assert_eq!(users.pending().unwrap(), 6, "four were posted");
    let resumed = users.process(NOW_NS, 100).unwrap();
    assert_eq!(
        (resumed.posted, resumed.already_posted),
        (6, 0),
        "it read the four posts in the journal"
    );
    assert_eq!(users.pending().unwrap(), 0);
    assert_eq!(balance(&users, &nikola), (10_000_055, 0));
    assert_books_balance(&users, 20_000_000);
}

#[test]
fn transfers_retried_with_their_id_after_a_lost_acknowledgement_apply_once() {
    let store = FaultyStore::new(MemStore::new());
    let (users, elon, nikola, _) = seeded(store);
    let faults = users.ledger().store();

    let id = users.new_transaction_id().unwrap();
    faults.inject(Fault::on_commit().nth(1).after_write().times(1));
    assert!(users.transfer_with_id(id, &elon, &nikola, 100, NOW_NS).is_err());
    users.transfer_with_id(id, &elon, &nikola, 100, NOW_NS).unwrap();

    let immediate = users.new_transaction_id().unwrap();
    faults.inject(Fault::on_commit().nth(1).after_write().times(1));
    assert!(
        users
            .transfer_immediately_with_id(immediate, &elon, &nikola, 10, NOW_NS)
            .is_err()
    );
    users
        .transfer_immediately_with_id(immediate, &elon, &nikola, 10, NOW_NS)
        .unwrap();
    assert_eq!(
        users.ledger().pending_status(immediate).unwrap(),
        Some(PendingStatus::Posted)
    );

    // The id of a phase-one transfer cannot be reused for an immediate one.
    assert!(matches!(
        users.transfer_immediately_with_id(id, &elon, &nikola, 100, NOW_NS),
        Err(LedgerError::TransferRejected { .. })
    ));

    users.process(NOW_NS, 100).unwrap();
    assert_eq!(balance(&users, &nikola), (10_000_110, 0));
    assert_books_balance(&users, 20_000_000);
}

#[test]
fn sweeps_running_at_once_post_each_transaction_once() {
    let (users, elon, nikola, ada) = seeded(MemStore::new());
    let senders = [elon, nikola];
    std::thread::scope(|scope| {
        for (thread, from) in senders.iter().enumerate() {
            let users = &users;
            scope.spawn(move || {
                for amount in 1..=300u128 {
                    users.transfer(from, &ada, amount, NOW_NS).unwrap();
                    if amount % 50 == thread as u128 {
                        users.process(NOW_NS, 40).unwrap();
                    }
                }
            });
        }
        for _ in 0..3 {
            let users = &users;
            scope.spawn(move || {
                for _ in 0..20 {
                    users.process(NOW_NS, 100).unwrap();
                }
            });
        }
    });
    while users.process(NOW_NS, 1_000).unwrap().more {}
    assert_eq!(users.pending().unwrap(), 0);
    let expected = 2 * 300 * 301 / 2;
    assert_eq!(balance(&users, &ada), (expected, 0));
    let report = users.ledger().audit().unwrap();
    assert!(report.is_ok(), "{report:?}");
    // 3 openings, 600 transactions, 600 posts.
    assert_eq!(report.transfers, 3 + 600 + 600, "no post was applied twice");
    assert_books_balance(&users, 20_000_000);
}

#[test]
fn the_audit_names_accounts_outside_the_registry() {
    let (users, elon, _, _) = seeded(MemStore::new());
    let stranger = 999u128;
    users
        .ledger()
        .create_accounts(&[Account::new(stranger, 1, 1)], NOW_NS)
        .unwrap();
    users
        .ledger()
        .create_transfers(&[Transfer::new(5, stranger, elon.account_id(), 10, 1, 2)], NOW_NS)
        .unwrap();
    let report = users.report().unwrap();
    assert_eq!(report.total, 20_000_010);
    assert!(report.audit_summary().contains("but 20000000 was issued"), "{report:?}");
    assert!(
        report
            .audit_summary()
            .contains("1 accounts belong to no registered user"),
        "{report:?}"
    );
}

#[test]
fn reset_forgets_every_user_and_transfer() {
    let (users, elon, nikola, _) = seeded(MemStore::new());
    users.transfer(&elon, &nikola, 5, NOW_NS).unwrap();
    users.reset().unwrap();
    assert!(users.ledger().store().is_empty());
    let report = users.report().unwrap();
    assert!(report.users.is_empty());
    assert_eq!((report.total, report.pending), (0, 0));
    assert!(report.audit.is_empty(), "{report:?}");
    let again = users.register("elon_musk", 1, NOW_NS).unwrap();
    assert_eq!(again.id, elon);
    assert_books_balance(&users, 1);
}
