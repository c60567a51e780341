//! Connection health: connections the server dropped are replaced before a
//! call uses them, and a blocked statement ends at the statement timeout.
//!
//! Runs against `TALLY_PG_URL` (skips, or fails under
//! `TALLY_REQUIRE_SERVICES=1`, when it is unset).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::sync::mpsc;
use std::time::Duration;

use postgres::error::SqlState;
use tally_store::{Batch, Operation, Store, StoreError, scan_all};
use tally_store_postgres::PgOptions;

/// Terminates every backend whose `application_name` is `name`, waiting
/// (up to 10 s each) until each has exited, so its goodbye is on the wire
/// before the test goes on. Returns how many there were.
fn terminate_all(url: &str, name: &str) -> usize {
    let mut admin = support::admin(url);
    let rows = admin
        .query(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .unwrap();
    assert!(
        rows.iter().all(|row| row.get::<_, bool>(0)),
        "every backend should have exited within the wait"
    );
    rows.len()
}

/// Opens connections on `store` by running `threads` reads at once, so the
/// pool holds several idle connections.
fn warm_up(store: &support::TempPg, threads: usize) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..20 {
                    store.get(b"k").unwrap();
                }
            });
        }
    });
}

fn put(store: &support::TempPg, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    store.commit(batch)
}

#[test]
fn calls_after_the_server_dropped_every_pooled_connection_succeed() {
    let Some(url) = support::url("calls_after_the_server_dropped_every_pooled_connection_succeed") else {
        return;
    };
    let name = support::unique_table("health_app");
    let temp = support::TempPg::with_options(
        &support::with_param(&url, "application_name", &name),
        "health",
        PgOptions {
            pool_size: 4,
            ..PgOptions::default()
        },
    );
    put(&temp, b"k", b"v").unwrap();
    warm_up(&temp, 4);
    assert!(
        terminate_all(&url, &name) >= 1,
        "the store's connections should have been found"
    );

    // The first call after the kill is a one-statement commit: it must not
    // be sent on a dead connection (and must not be retried blindly).
    put(&temp, b"k", b"w").unwrap();
    assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], b"w");

    // Again, with a read first.
    warm_up(&temp, 4);
    assert!(terminate_all(&url, &name) >= 1);
    assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], b"w");

    // Again, with a compare-and-set, then a multi-key checked commit, then a scan.
    warm_up(&temp, 4);
    assert!(terminate_all(&url, &name) >= 1);
    let version = {
        let found = temp.get(b"k").unwrap().unwrap();
        found.version
    };
    terminate_all(&url, &name);
    let mut cas = Batch::new();
    cas.expect_version(b"k", version).put(b"k", b"x".to_vec());
    temp.commit(cas).unwrap();
    terminate_all(&url, &name);
    let mut checked = Batch::new();
    checked.expect_absent(b"other").put(b"a", b"1".to_vec()).delete(b"k");
    temp.commit(checked).unwrap();
    terminate_all(&url, &name);
    let keys: Vec<Vec<u8>> = scan_all(&temp, b"", 10).map(|entry| entry.unwrap().key).collect();
    assert_eq!(keys, vec![b"a".to_vec()]);
}

#[test]
fn pinging_before_every_call_works() {
    let Some(url) = support::url("pinging_before_every_call_works") else {
        return;
    };
    let temp = support::TempPg::with_options(
        &url,
        "ping",
        PgOptions {
            ping_after_idle: Duration::ZERO,
            ..PgOptions::default()
        },
    );
    for round in 0..10u8 {
        put(&temp, b"k", &[round]).unwrap();
        assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], &[round]);
    }
}

#[test]
fn a_commit_blocked_by_another_sessions_lock_fails_at_the_statement_timeout() {
    let Some(url) = support::url("a_commit_blocked_by_another_sessions_lock_fails_at_the_statement_timeout") else {
        return;
    };
    let temp = support::TempPg::with_options(
        &url,
        "stmt_timeout",
        PgOptions {
            pool_size: 1,
            statement_timeout: Some(Duration::from_millis(500)),
            ..PgOptions::default()
        },
    );
    put(&temp, b"k", b"v").unwrap();
    let version = temp.get(b"k").unwrap().unwrap().version;

    // Another session holds the row's lock and does not let go.
    let mut admin = support::admin(&url);
    let mut holder = admin.transaction().unwrap();
    holder
        .execute(
            &format!("SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE", temp.store().table()),
            &[&&b"k"[..]],
        )
        .unwrap();

    let (done, outcome) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut cas = Batch::new();
            cas.expect_version(b"k", version).put(b"k", b"blocked".to_vec());
            done.send(temp.commit(cas)).unwrap();
        });
        // Without a statement timeout the commit waits for the lock forever;
        // the bound here only keeps a broken build from hanging the suite.
        let result = outcome.recv_timeout(Duration::from_secs(120));
        let result = match result {
            Ok(result) => result,
            Err(_) => {
                holder.rollback().unwrap();
                panic!("the commit was still blocked long after its statement timeout");
            }
        };
        let error = result.unwrap_err();
        let StoreError::Backend { operation, source, .. } = &error else {
            panic!("expected a backend error, got {error:?}");
        };
        assert_eq!(*operation, Operation::Commit);
        let code = source.downcast_ref::<postgres::Error>().and_then(postgres::Error::code);
        assert_eq!(code, Some(&SqlState::QUERY_CANCELED), "{error}");
        holder.rollback().unwrap();
    });

    // Nothing was written, and the store's connection is still good.
    let found = temp.get(b"k").unwrap().unwrap();
    assert_eq!((&found.value[..], found.version), (&b"v"[..], version));
    put(&temp, b"k", b"after").unwrap();
}

/// The pid of the backend of application `name` (other than `not`) that
/// waits for a lock, once there is one (polled for up to a minute: a bound
/// for a broken build, not a timing). Fails at once if `ended()` says the
/// commit under test returned instead.
fn backend_waiting_for_a_lock(
    admin: &mut postgres::Client,
    name: &str,
    not: Option<i32>,
    ended: impl Fn() -> bool,
) -> i32 {
    for _ in 0..1_200 {
        assert!(!ended(), "the commit returned instead of waiting for the lock");
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity
                 WHERE application_name = $1 AND wait_event_type = 'Lock' AND pid <> $2",
                &[&name, &not.unwrap_or(0)],
            )
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no backend of {name} came to wait for the lock");
}

/// A store whose connections carry a unique application name, the name,
/// and `key` written once, with its version.
fn store_with_key(url: &str, tag: &str, key: &[u8]) -> (support::TempPg, String, u64) {
    let name = support::unique_table(tag);
    let temp = support::TempPg::with_options(
        &support::with_param(url, "application_name", &name),
        tag,
        PgOptions {
            pool_size: 2,
            ..PgOptions::default()
        },
    );
    put(&temp, key, b"before").unwrap();
    let version = temp.get(key).unwrap().unwrap().version;
    (temp, name, version)
}

#[test]
fn a_checked_commit_that_lost_its_connection_before_commit_runs_again_once() {
    let Some(url) = support::url("a_checked_commit_that_lost_its_connection_before_commit_runs_again_once") else {
        return;
    };
    let (temp, name, version) = store_with_key(&url, "lost_checked", b"a");
    let mut admin = support::admin(&url);
    let mut killer = support::admin(&url);
    let mut holder = admin.transaction().unwrap();
    holder
        .execute(
            &format!("SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE", temp.store().table()),
            &[&&b"a"[..]],
        )
        .unwrap();
    std::thread::scope(|scope| {
        // Two keys and two preconditions: the multi-statement path. It
        // blocks in its first statement, on the row lock `holder` has.
        let committer = scope.spawn(|| {
            let mut batch = Batch::new();
            batch
                .expect_version(b"a", version)
                .expect_absent(b"b")
                .put(b"a", b"after".to_vec())
                .put(b"b", b"also".to_vec());
            temp.commit(batch)
        });
        let first = backend_waiting_for_a_lock(&mut killer, &name, None, || committer.is_finished());
        killer
            .execute("SELECT pg_terminate_backend($1, 10000)", &[&first])
            .unwrap();
        // Nothing was applied (COMMIT was never sent), so the store runs the
        // transaction again on a fresh connection, which waits in turn.
        backend_waiting_for_a_lock(&mut killer, &name, Some(first), || committer.is_finished());
        holder.rollback().unwrap();
        committer.join().unwrap().unwrap();
    });
    let found = temp.get(b"a").unwrap().unwrap();
    assert_eq!((&found.value[..], found.version), (&b"after"[..], version + 1));
    assert_eq!(&temp.get(b"b").unwrap().unwrap().value[..], b"also");
}

#[test]
fn a_one_statement_commit_that_lost_its_connection_is_reported_not_retried() {
    let Some(url) = support::url("a_one_statement_commit_that_lost_its_connection_is_reported_not_retried") else {
        return;
    };
    let (temp, name, version) = store_with_key(&url, "lost_cas", b"a");
    let mut admin = support::admin(&url);
    let mut killer = support::admin(&url);
    let mut holder = admin.transaction().unwrap();
    holder
        .execute(
            &format!("SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE", temp.store().table()),
            &[&&b"a"[..]],
        )
        .unwrap();
    let outcome = std::thread::scope(|scope| {
        // One precondition and one write of one key: a single autocommit
        // statement, which blocks on the row lock.
        let committer = scope.spawn(|| {
            let mut cas = Batch::new();
            cas.expect_version(b"a", version).put(b"a", b"after".to_vec());
            temp.commit(cas)
        });
        let pid = backend_waiting_for_a_lock(&mut killer, &name, None, || committer.is_finished());
        killer
            .execute("SELECT pg_terminate_backend($1, 10000)", &[&pid])
            .unwrap();
        // The statement was sent: whether it took effect is unknown to the
        // store, so it must report the failure rather than run it again.
        let outcome = committer.join().unwrap();
        holder.rollback().unwrap();
        outcome
    });
    let error = outcome.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Backend {
                operation: Operation::Commit,
                ..
            }
        ),
        "{error:?}"
    );
    // Here it was not applied (the server aborted it), and nothing retried it.
    let found = temp.get(b"a").unwrap().unwrap();
    assert_eq!((&found.value[..], found.version), (&b"before"[..], version));
}

#[test]
fn a_guarded_commit_that_lost_its_connection_is_reported_not_retried() {
    let Some(url) = support::url("a_guarded_commit_that_lost_its_connection_is_reported_not_retried") else {
        return;
    };
    let (temp, name, version) = store_with_key(&url, "lost_guarded", b"a");
    let mut admin = support::admin(&url);
    let mut killer = support::admin(&url);
    let mut holder = admin.transaction().unwrap();
    holder
        .execute(
            &format!("SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE", temp.store().table()),
            &[&&b"a"[..]],
        )
        .unwrap();
    let outcome = std::thread::scope(|scope| {
        // One precondition on a key it writes, and another write: the
        // guarded single statement, which blocks on the guard's row lock.
        let committer = scope.spawn(|| {
            let mut batch = Batch::new();
            batch
                .expect_version(b"a", version)
                .put(b"a", b"after".to_vec())
                .put(b"b", b"also".to_vec());
            temp.commit(batch)
        });
        let pid = backend_waiting_for_a_lock(&mut killer, &name, None, || committer.is_finished());
        killer
            .execute("SELECT pg_terminate_backend($1, 10000)", &[&pid])
            .unwrap();
        let outcome = committer.join().unwrap();
        holder.rollback().unwrap();
        outcome
    });
    let error = outcome.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Backend {
                operation: Operation::Commit,
                ..
            }
        ),
        "{error:?}"
    );
    let found = temp.get(b"a").unwrap().unwrap();
    assert_eq!((&found.value[..], found.version), (&b"before"[..], version));
    assert_eq!(temp.get(b"b").unwrap(), None, "all of it or nothing");
}
