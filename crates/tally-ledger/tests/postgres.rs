//! Two OS processes share one PostgreSQL ledger and race to spend one
//! limited account: nothing is overdrawn, lost or applied twice.
//!
//! Needs `TALLY_PG_URL` (skipped without it, a failure under
//! `TALLY_REQUIRE_SERVICES=1`). The test re-runs its own binary as the two
//! child processes (`child_process_spends_from_the_shared_account`, which
//! does nothing unless the parent started it).

#![allow(clippy::expect_used)]

use std::process::{Command, Stdio};

use tally_ledger::{
    AMOUNT_MAX, Account, AccountFlags, CreateTransferStatus as S, Ledger, LedgerError, Transfer, TransferFlags,
};
use tally_store::testkit;
use tally_store_postgres::{PgOptions, PgStore};

const CHILD_ENV: &str = "TALLY_LEDGER_PG_CHILD";
const TABLE_ENV: &str = "TALLY_LEDGER_PG_TABLE";
/// What account 2 holds; each child tries to spend 60% of it.
const FUNDS: u128 = 1_000;
const ROUNDS: u128 = 30;
const AMOUNT: u128 = 10;

fn connect(url: &str, table: &str) -> PgStore {
    PgStore::connect_with(
        url,
        PgOptions {
            table: table.to_owned(),
            ..PgOptions::default()
        },
    )
    .expect("connect")
}

fn now_ns() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    u64::try_from(since_epoch.as_nanos()).expect("ns fit in u64")
}

/// Per round: a pending transfer of AMOUNT and its post, linked, plus a
/// single-phase transfer of AMOUNT. Ids are unique per child.
fn round(child: u128, round: u128) -> Vec<Transfer> {
    let base = (child << 64) | (round * 3 + 1);
    vec![
        Transfer::new(base, 2, 3, AMOUNT, 1, 1).with_flags(TransferFlags::PENDING | TransferFlags::LINKED),
        Transfer::post(base + 1, base, AMOUNT_MAX),
        Transfer::new(base + 2, 2, 3, AMOUNT, 1, 1),
    ]
}

#[test]
fn child_process_spends_from_the_shared_account() {
    let Ok(child) = std::env::var(CHILD_ENV) else { return };
    let url = std::env::var("TALLY_PG_URL").expect("the parent passes TALLY_PG_URL");
    let table = std::env::var(TABLE_ENV).expect("the parent passes the table");
    let child: u128 = child.parse().expect("child number");
    let ledger = Ledger::new(connect(&url, &table));
    let mut moved: u128 = 0;
    for number in 0..ROUNDS {
        let batch = round(child, number);
        // A failed commit may have applied: retry the same batch until answered.
        let results = loop {
            match ledger.create_transfers(&batch, now_ns()) {
                Ok(results) => break results,
                Err(LedgerError::Store(error)) if !error.is_conflict() => continue,
                Err(error) => panic!("child {child}: {error}"),
            }
        };
        let statuses: Vec<S> = results.iter().map(|r| r.status).collect();
        for (transfer, status) in batch.iter().zip(&statuses) {
            match status {
                // `exists`: a retry after a lost acknowledgement; it did move.
                S::Created | S::Exists if !transfer.flags.contains(TransferFlags::PENDING) => moved += AMOUNT,
                S::Created | S::Exists | S::ExceedsCredits | S::LinkedEventFailed => {}
                other => panic!("child {child}: unexpected {other} for {transfer:?}"),
            }
        }
    }
    println!("\nMOVED {moved}");
}

#[test]
fn two_processes_on_one_postgres_never_overdraw_lose_or_double_apply() {
    let test = "two_processes_on_one_postgres_never_overdraw_lose_or_double_apply";
    let Some(url) = testkit::service_env("TALLY_PG_URL", test) else {
        return;
    };
    let table = format!("tally_ledger_two_processes_{}", std::process::id());
    let ledger = Ledger::new(connect(&url, &table));
    let accounts = [
        Account::new(1, 1, 1),
        Account::new(2, 1, 1).with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        Account::new(3, 1, 1),
    ];
    ledger.create_accounts(&accounts, now_ns()).expect("accounts");
    let funding = ledger
        .create_transfers(&[Transfer::new(9, 1, 2, FUNDS, 1, 1)], now_ns())
        .expect("funding");
    assert_eq!(funding[0].status, S::Created);

    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (1..=2)
        .map(|child| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "child_process_spends_from_the_shared_account",
                    "--nocapture",
                    "--test-threads=1",
                ])
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
            // libtest may print "test <name> ... " on the same line first.
            .find_map(|line| line.split_once("MOVED ").map(|(_, rest)| rest))
            .expect("child reports what it moved")
            .trim()
            .parse()
            .expect("a number");
        moved_total += moved;
    }

    let spender = ledger.lookup_accounts(&[2]).expect("lookup")[0];
    let payee = ledger.lookup_accounts(&[3]).expect("lookup")[0];
    assert!(!spender.debits_exceed_credits(0), "overdrawn: {spender:?}");
    assert_eq!(
        spender.debits_pending, 0,
        "every pending transfer was posted in its chain"
    );
    assert_eq!(payee.credits_posted, spender.debits_posted, "money is conserved");
    assert_eq!(
        spender.debits_posted, moved_total,
        "what the children were told moved is what moved"
    );
    // The children together asked for 120% of the funds: the limit bit.
    assert_eq!(spender.debits_posted, FUNDS, "every unit that could be spent was spent");
    let report = ledger.audit().expect("audit");
    assert!(report.is_ok(), "{report:?}");
    let head = ledger.head().expect("head");
    assert_eq!(head.next_seq, report.events);
    ledger.into_store().drop_table().expect("drop the test table");
}
