//! Two OS processes run `u2u run` (transfers, then sweeps) against one
//! PostgreSQL database at once, after one `seed`: money is conserved and
//! nothing is lost or applied twice.
//!
//! Needs `TALLY_PG_URL` (skipped without it, a failure under
//! `TALLY_REQUIRE_SERVICES=1`). The test re-runs its own binary as the two
//! children (`child_process_runs_u2u`, which does nothing unless the parent
//! started it).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::{Command, Stdio};

use tally_ledger::u2u::{self, RunOptions, SEED_BALANCE};
use tally_ledger::users::{UserId, Users};
use tally_store::testkit;
use tally_store_postgres::{PgOptions, PgStore};

const CHILD_ENV: &str = "TALLY_U2U_PG_CHILD";
const TABLE_ENV: &str = "TALLY_U2U_PG_TABLE";
const TRANSFERS: u64 = 300;

fn connect(url: &str, table: &str) -> Users<PgStore> {
    let options = PgOptions {
        table: table.to_owned(),
        ..PgOptions::default()
    };
    Users::new(PgStore::connect_with(url, options).expect("connect"))
}

fn now_ns() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since_epoch.as_nanos()).expect("ns fit in u64")
}

#[test]
fn child_process_runs_u2u() {
    let Ok(child) = std::env::var(CHILD_ENV) else { return };
    let url = std::env::var("TALLY_PG_URL").expect("the parent passes TALLY_PG_URL");
    let table = std::env::var(TABLE_ENV).expect("the parent passes the table");
    let users = connect(&url, &table);
    let options = RunOptions {
        transfers: TRANSFERS,
        threads: 16,
        ..RunOptions::default()
    };
    let ran = u2u::run(&users, &options, &now_ns, &|_| {}).expect("run");
    // A few more sweeps, to overlap with the other child's.
    for _ in 0..3 {
        u2u::process_all(&users, now_ns()).expect("sweep");
    }
    println!("\nchild {child} MOVED {}", ran.moved);
}

#[test]
fn two_processes_running_u2u_on_one_postgres_conserve_money_and_lose_nothing() {
    let test = "two_processes_running_u2u_on_one_postgres_conserve_money_and_lose_nothing";
    let Some(url) = testkit::service_env("TALLY_PG_URL", test) else {
        return;
    };
    let table = format!("tally_u2u_processes_{}", std::process::id());
    let users = connect(&url, &table);
    u2u::seed(&users, now_ns()).expect("seed");

    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (1..=2)
        .map(|child| {
            Command::new(&exe)
                .args(["--exact", "child_process_runs_u2u", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, child.to_string())
                .env(TABLE_ENV, &table)
                .env("TALLY_PG_URL", &url)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    let mut moved_total = 0u128;
    for child in children {
        let output = child.wait_with_output().expect("child ran");
        assert!(output.status.success(), "a child failed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let moved: u128 = stdout
            .lines()
            .find_map(|line| line.split_once("MOVED ").map(|(_, rest)| rest))
            .expect("child reports what it moved")
            .trim()
            .parse()
            .expect("a number");
        moved_total += moved;
    }

    let each = u128::from(TRANSFERS) * u128::from(TRANSFERS + 1) / 2;
    assert_eq!(moved_total, 2 * each, "every transfer of both children was accepted");
    let report = users.report().expect("report");
    assert_eq!(report.audit_summary(), "ok");
    assert_eq!(report.pending, 0, "the sweeps posted everything");
    assert_eq!(report.total, 4 * SEED_BALANCE, "money is conserved");
    let balance = |nickname: &str| {
        let id = UserId::of_nickname(nickname);
        report.users.iter().find(|u| u.id == id).expect("seeded").balance
    };
    assert_eq!(balance("elon_musk"), SEED_BALANCE - 2 * each);
    assert_eq!(balance("nikola_tesla"), SEED_BALANCE + 2 * each);
    let audit = users.ledger().audit().expect("audit");
    let transfers = 2 * TRANSFERS;
    assert_eq!(
        audit.transfers,
        4 + transfers + transfers,
        "four openings, each transaction and one post each"
    );
    users.into_store().drop_table().expect("drop the test table");
}
