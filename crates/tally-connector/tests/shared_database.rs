//! Connectors sharing one database, as the seed's workers shared Redis:
//! each worker has its own connection pool (as a separate process would),
//! and they race on the same accounts. The same scenario runs on PostgreSQL
//! (`TALLY_PG_URL`) and on Redis (`TALLY_REDIS_URL`); each is skipped
//! without its variable, a failure under `TALLY_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{connector, fulfillment, id, prepare, set_up};
use tally_connector::{PrepareOutcome, Resolved, Upstream, WorkerId};
use tally_store::Store;
use tally_store_postgres::{PgOptions, PgStore};
use tally_store_redis::{RedisOptions, RedisStore};

/// A name no other test or run uses (a table, a key prefix).
fn unique(tag: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("tally_test_connector_{tag}_{}_{nanos}", std::process::id())
}

#[test]
fn connectors_sharing_postgres_forward_race_and_recover_correctly() {
    let Some(url) = tally_store::testkit::service_env(
        "TALLY_PG_URL",
        "connectors_sharing_postgres_forward_race_and_recover_correctly",
    ) else {
        return;
    };
    let table = unique("share");
    let open = {
        let (url, table) = (url.clone(), table.clone());
        move || {
            let options = PgOptions {
                table: table.clone(),
                ..PgOptions::default()
            };
            PgStore::connect_with(&url, options)
                .unwrap_or_else(|e| panic!("TALLY_PG_URL is set but PostgreSQL fails: {e}"))
        }
    };
    forward_race_and_recover(open.clone());
    open().drop_table().unwrap();
}

#[test]
fn connectors_sharing_redis_forward_race_and_recover_correctly() {
    let Some(url) = tally_store::testkit::service_env(
        "TALLY_REDIS_URL",
        "connectors_sharing_redis_forward_race_and_recover_correctly",
    ) else {
        return;
    };
    let prefix = unique("share");
    let open = {
        let (url, prefix) = (url.clone(), prefix.clone());
        move || {
            let options = RedisOptions {
                prefix: prefix.clone(),
                ..RedisOptions::default()
            };
            RedisStore::connect_with(&url, options)
                .unwrap_or_else(|e| panic!("TALLY_REDIS_URL is set but Redis fails: {e}"))
        }
    };
    forward_race_and_recover(open.clone());
    open().remove_all().unwrap();
}

/// Two workers race prepares for one account through their own
/// connections, hand fulfillments to the owner, and a restarted process
/// releases what expired: nothing lost or counted twice.
fn forward_race_and_recover<S, F>(open: F)
where
    S: Store + 'static,
    F: Fn() -> S + Clone + Send + 'static,
{
    let setup = connector(open(), 0);
    set_up(&setup, 2, 600);

    // Two workers, each on its own pool, race prepares for bob.
    let workers: Vec<_> = (0..2u16)
        .map(|worker| {
            let open = open.clone();
            std::thread::spawn(move || {
                let hub = connector(open(), worker);
                let mut forwarded = Vec::new();
                for n in 0..12u64 {
                    let payment = prepare(u64::from(worker) * 100 + n, 40, 60_000);
                    if let PrepareOutcome::Forward(out) = hub.handle_prepare(&payment, 0).unwrap() {
                        forwarded.push((u64::from(worker) * 100 + n, out));
                    }
                }
                forwarded
            })
        })
        .collect();
    let forwarded: Vec<Vec<_>> = workers.into_iter().map(|t| t.join().unwrap()).collect();
    // Each worker's share is 600/2 = 300: 7 packets of 40.
    assert_eq!(forwarded.iter().map(Vec::len).collect::<Vec<_>>(), vec![7, 7]);
    let bob = setup.balances(&id("bob")).unwrap();
    assert_eq!((bob.balance(), bob.total.outgoing_prepared), (600 - 14 * 40, 14 * 40));

    // Worker 1 sees worker 0's fulfillments and hands them over; worker 0
    // applies them.
    let one = connector(open(), 1);
    for (n, out) in &forwarded[0][..3] {
        assert_eq!(
            one.handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(*n), 10)
                .unwrap(),
            Resolved::ToOwner(WorkerId(0))
        );
        assert!(matches!(
            setup
                .handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(*n), 10)
                .unwrap(),
            Resolved::Upstream {
                reply: Upstream::Fulfill { .. },
                ..
            }
        ));
    }
    // Worker 1 fulfills two of its own and rejects one.
    for (n, out) in &forwarded[1][..2] {
        one.handle_fulfill(&id("bob"), &out.transfer_id, fulfillment(*n), 10)
            .unwrap();
    }
    let reason = tally_connector::RejectReason {
        code: *b"F99",
        triggered_by: b"test.bob".to_vec(),
        message: "no".into(),
        data: vec![],
    };
    one.handle_reject(&id("bob"), &forwarded[1][2].1.transfer_id, reason, 10)
        .unwrap();

    // Both workers stop; a new process recovers after every expiry.
    drop(one);
    let expiry = forwarded[0][0].1.expires_at_ms;
    let restarted = connector(open(), 7);
    let released = restarted.recover(expiry).unwrap();
    assert_eq!(released.len(), 14 - 6);
    let bob = restarted.balances(&id("bob")).unwrap();
    assert_eq!(bob.total.outgoing_prepared, 0);
    assert_eq!(bob.total.outgoing_fulfilled, 5 * 40);
    assert_eq!(bob.balance(), 600 - 5 * 40);
    assert_eq!(restarted.balances(&id("alice")).unwrap().balance(), 5 * 40);
    drop(restarted);
    drop(setup);
}
