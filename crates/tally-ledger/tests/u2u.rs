//! The `u2u` commands (what `examples/u2u.rs` runs) on memory, redb and
//! PostgreSQL: seed, run in both modes, process, report.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use tally_ledger::u2u::{self, RunOptions, SEED_BALANCE, SEED_USERS};
use tally_ledger::users::{UserId, Users};
use tally_ledger::{LedgerError, NS_PER_S};
use tally_store::{MemStore, Store, testkit};
use tally_store_postgres::{PgOptions, PgStore};
use tally_store_redb::RedbStore;

fn clock() -> u64 {
    1_700_000_000 * NS_PER_S
}

fn balance_of<S: Store>(users: &Users<S>, nickname: &str) -> u128 {
    let id = UserId::of_nickname(nickname);
    users.users().unwrap().iter().find(|u| u.id == id).unwrap().balance
}

/// TiMPE's session: seed, 200 transfers on 100 threads in two phases, the
/// same immediately, a run that overdraws, then the report.
fn the_u2u_session_conserves_money<S: Store>(users: &Users<S>) {
    let seeded = u2u::seed(users, clock()).unwrap();
    assert_eq!(seeded.lines().count(), 4);
    let total = SEED_BALANCE * SEED_USERS.len() as u128;

    let progress = AtomicU64::new(0);
    let options = RunOptions::default();
    let ran = u2u::run(users, &options, &clock, &|n| {
        progress.fetch_add(n, Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(progress.load(Ordering::Relaxed), 200);
    assert_eq!(
        (ran.expected_total, ran.moved, ran.accepted, ran.refused),
        (20_100, 20_100, 200, 0)
    );
    assert_eq!(
        (ran.sender_change, ran.recipient_change, ran.pending),
        (-20_100, 20_100, 0)
    );
    let printed = ran.to_string();
    assert!(printed.contains("expected total: 20100"), "{printed}");
    assert!(printed.contains("elon_musk: -20100"), "{printed}");
    assert!(printed.contains("transfers/s: "), "{printed}");

    let immediately = RunOptions {
        immediately: true,
        threads: 10,
        ..RunOptions::default()
    };
    let ran = u2u::run(users, &immediately, &clock, &|_| {}).unwrap();
    assert_eq!((ran.moved, ran.pending, ran.sender_change), (20_100, 0, -20_100));

    // lovelace sends 1..=4,500 to albert_einstein: she has 10,000,000, and
    // 1 + ... + 4,471 = 9,997,156 is as far as it goes.
    let overdraw = RunOptions {
        transfers: 4_500,
        threads: 32,
        immediately: false,
        from: "lovelace".into(),
        to: "albert_einstein".into(),
    };
    let ran = u2u::run(users, &overdraw, &clock, &|_| {}).unwrap();
    assert_eq!(ran.accepted + ran.refused, 4_500);
    assert!(ran.moved <= SEED_BALANCE);
    assert!(
        ran.moved > SEED_BALANCE - 4_500,
        "refused only what could not be covered"
    );
    assert_eq!(ran.sender_change, -(ran.moved as i128));
    assert_eq!(balance_of(users, "albert_einstein"), SEED_BALANCE + ran.moved);

    let swept = u2u::process_all(users, clock()).unwrap();
    assert_eq!((swept.posted, swept.pending), (0, 0));

    let report = users.report().unwrap();
    assert_eq!(report.total, total);
    assert_eq!(report.audit_summary(), "ok");
    let json: serde_json::Value = serde_json::from_str(&u2u::report_json(&report)).unwrap();
    assert_eq!(json["total"], total.to_string());
    assert_eq!(json["pending"], 0);
    assert_eq!(json["audit"], "ok");
    assert_eq!(json["users"].as_array().unwrap().len(), 4);
    assert_eq!(json["users"][1]["nickname"], "elon_musk");
    assert_eq!(json["users"][1]["id"], UserId::of_nickname("elon_musk").to_hex());
    assert_eq!(json["users"][1]["balance"], (SEED_BALANCE - 40_200).to_string());
    assert!(u2u::report_text(&report).ends_with("audit: ok"));

    // Seeding again starts over.
    u2u::seed(users, clock()).unwrap();
    assert_eq!(balance_of(users, "elon_musk"), SEED_BALANCE);
    assert_eq!(users.report().unwrap().audit_summary(), "ok");
}

#[test]
fn u2u_on_memory() {
    the_u2u_session_conserves_money(&Users::new(MemStore::new()));
}

#[test]
fn u2u_on_redb() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("u2u.redb")).unwrap();
    the_u2u_session_conserves_money(&Users::new(store));
}

#[test]
fn u2u_on_postgres() {
    let Some(url) = testkit::service_env("TALLY_PG_URL", "u2u_on_postgres") else {
        return;
    };
    let table = format!("tally_u2u_{}", std::process::id());
    let options = PgOptions {
        table,
        ..PgOptions::default()
    };
    let users = Users::new(PgStore::connect_with(&url, options).unwrap());
    the_u2u_session_conserves_money(&users);
    users.into_store().drop_table().unwrap();
}

#[test]
fn run_refuses_users_that_were_never_registered() {
    let users = Users::new(MemStore::new());
    let error = u2u::run(&users, &RunOptions::default(), &clock, &|_| {}).unwrap_err();
    assert!(matches!(error, LedgerError::UnknownUser { .. }), "{error}");
}
