//! Lost connections: a call after `CLIENT KILL` succeeds on a fresh
//! connection or fails with a typed error, a commit whose reply is lost is
//! reported as a backend failure and was applied entirely, and a commit
//! whose request is lost was applied not at all. Nothing is ever half
//! applied: the commit is one script.
//!
//! Runs against `TALLY_REDIS_URL` (skips, or fails under
//! `TALLY_REQUIRE_SERVICES=1`, when it is unset).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{Cut, Proxy, TempRedis, put};
use tally_store::{Batch, Operation, Store, StoreError};
use tally_store_redis::{RedisOptions, RedisStore};

/// The keys every multi-key commit of these tests writes together.
const KEYS: [&[u8]; 3] = [b"pair/a", b"pair/b", b"pair/c"];

/// A batch that writes all of `KEYS` to `value`, each expected at its current version.
fn batch_of(store: &impl Store, value: &[u8]) -> Batch {
    let mut batch = Batch::new();
    for key in KEYS {
        let version = store.get(key).unwrap().map_or(0, |found| found.version);
        batch.expect_version(key, version).put(key, value.to_vec());
    }
    batch
}

/// Commits [`batch_of`].
fn write_all(store: &impl Store, value: &[u8]) -> Result<(), StoreError> {
    store.commit(batch_of(store, value))
}

/// The value every key of `KEYS` holds; panics if they differ (a half-applied commit).
fn common_value(store: &impl Store) -> Vec<u8> {
    let values: Vec<Vec<u8>> = KEYS
        .iter()
        .map(|key| store.get(key).unwrap().unwrap().value.to_vec())
        .collect();
    assert!(
        values.windows(2).all(|pair| pair[0] == pair[1]),
        "a commit was half applied: {values:?}"
    );
    values[0].clone()
}

/// Kills every connection the server lists under `name`; returns how many.
fn kill_connections(url: &str, name: &str) -> usize {
    let mut admin = support::admin(url);
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut admin).unwrap();
    let ids: Vec<String> = list
        .lines()
        .filter(|line| line.split(' ').any(|field| field == format!("name={name}")))
        .filter_map(|line| {
            line.split(' ')
                .find_map(|field| field.strip_prefix("id="))
                .map(str::to_owned)
        })
        .collect();
    for id in &ids {
        let _: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query(&mut admin)
            .unwrap();
    }
    ids.len()
}

fn assert_backend(error: &StoreError, operation: Operation) {
    assert!(
        matches!(error, StoreError::Backend { backend: "redis", operation: found, .. } if *found == operation),
        "expected a redis backend failure during {operation}, got {error:?}"
    );
}

/// Opens connections on `store` by running `threads` reads at once, so the
/// pool holds several idle connections.
fn warm_up(store: &TempRedis, threads: usize) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..20 {
                    store.get(KEYS[0]).unwrap();
                }
            });
        }
    });
}

#[test]
fn reads_after_client_kill_succeed_on_fresh_connections() {
    let Some(url) = support::url("reads_after_client_kill_succeed_on_fresh_connections") else {
        return;
    };
    let temp = TempRedis::with_options(
        &url,
        "kill_read",
        RedisOptions {
            pool_size: 4,
            ..RedisOptions::default()
        },
    );
    write_all(&temp, b"one").unwrap();
    warm_up(&temp, 4);
    assert!(kill_connections(&url, &temp.store().client_name()) >= 1);

    // A read on a dead connection is sent again on a fresh one.
    assert_eq!(common_value(&temp), b"one");
    let page = temp.scan(b"pair/", None, 10).unwrap();
    assert_eq!(page.entries.len(), KEYS.len());
    // The lost connection made the pool ping the others before use, so the
    // commit is not sent on a dead one.
    write_all(&temp, b"two").unwrap();
    assert_eq!(common_value(&temp), b"two");
}

#[test]
fn a_commit_after_client_kill_is_applied_entirely_or_reported() {
    let Some(url) = support::url("a_commit_after_client_kill_is_applied_entirely_or_reported") else {
        return;
    };
    let temp = TempRedis::with_options(
        &url,
        "kill_commit",
        RedisOptions {
            pool_size: 1,
            ..RedisOptions::default()
        },
    );
    write_all(&temp, b"before").unwrap();
    assert_eq!(kill_connections(&url, &temp.store().client_name()), 1);

    // The commit is the first call on the killed connection: nothing can
    // tell that it is dead before the request goes out, so the store may
    // only report the lost reply.
    match write_all(&temp, b"after") {
        Ok(()) => assert_eq!(common_value(&temp), b"after"),
        Err(error) => {
            assert_backend(&error, Operation::Commit);
            let now = common_value(&temp);
            assert!(now == b"before" || now == b"after", "{now:?}");
        }
    }
    // And the store works again.
    write_all(&temp, b"again").unwrap();
    assert_eq!(common_value(&temp), b"again");
}

#[test]
fn with_ping_before_every_call_a_commit_after_client_kill_succeeds() {
    let Some(url) = support::url("with_ping_before_every_call_a_commit_after_client_kill_succeeds") else {
        return;
    };
    let temp = TempRedis::with_options(
        &url,
        "kill_ping",
        RedisOptions {
            pool_size: 2,
            ping_after_idle: Duration::ZERO,
            ..RedisOptions::default()
        },
    );
    write_all(&temp, b"before").unwrap();
    warm_up(&temp, 2);
    assert!(kill_connections(&url, &temp.store().client_name()) >= 1);
    write_all(&temp, b"after").unwrap();
    assert_eq!(common_value(&temp), b"after");
}

/// A store reached through a proxy (one connection, so the proxy's cut hits
/// the call the test makes next), and a direct store on the same prefix to
/// look behind the proxy's back.
fn behind_proxy(url: &str, tag: &str) -> Option<(Proxy, RedisStore, TempRedis)> {
    let direct = TempRedis::new(url, tag);
    let upstream = redis::Client::open(url).unwrap();
    let upstream = match upstream.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
        other => {
            eprintln!("SKIPPED {tag}: the proxy needs a TCP server URL, not {other:?}");
            return None;
        }
    };
    let proxy = Proxy::start(&upstream);
    let through = RedisStore::connect_with(
        &proxy.url(),
        RedisOptions {
            prefix: direct.store().prefix().to_owned(),
            pool_size: 1,
            ..RedisOptions::default()
        },
    )
    .unwrap();
    Some((proxy, through, direct))
}

#[test]
fn a_commit_whose_reply_is_lost_is_reported_and_was_applied_entirely() {
    let Some(url) = support::url("a_commit_whose_reply_is_lost_is_reported_and_was_applied_entirely") else {
        return;
    };
    let Some((proxy, through, direct)) = behind_proxy(&url, "lost_reply") else {
        return;
    };
    // The first commit also makes sure the server has the script cached, so
    // the cut reply is the script's (not a NOSCRIPT answer).
    write_all(&through, b"before").unwrap();

    let batch = batch_of(&direct, b"after");
    proxy.cut(Cut::NextReply);
    let error = through.commit(batch).unwrap_err();
    assert!(proxy.cut_done(), "the proxy should have cut the reply");
    assert_backend(&error, Operation::Commit);
    // The lost acknowledgement: the script ran, entirely.
    assert_eq!(common_value(&direct), b"after");

    // The store replaced its connection.
    write_all(&through, b"again").unwrap();
    assert_eq!(common_value(&direct), b"again");
}

#[test]
fn a_commit_whose_request_is_lost_is_reported_and_wrote_nothing() {
    let Some(url) = support::url("a_commit_whose_request_is_lost_is_reported_and_wrote_nothing") else {
        return;
    };
    let Some((proxy, through, direct)) = behind_proxy(&url, "lost_request") else {
        return;
    };
    write_all(&through, b"before").unwrap();
    let batch = batch_of(&direct, b"after");
    proxy.cut(Cut::NextRequest);
    let error = through.commit(batch).unwrap_err();
    assert!(proxy.cut_done(), "the proxy should have cut the request");
    assert_backend(&error, Operation::Commit);
    assert_eq!(common_value(&direct), b"before");
    write_all(&through, b"again").unwrap();
    assert_eq!(common_value(&direct), b"again");
}

#[test]
fn a_read_whose_reply_is_lost_is_read_again() {
    let Some(url) = support::url("a_read_whose_reply_is_lost_is_read_again") else {
        return;
    };
    let Some((proxy, through, _direct)) = behind_proxy(&url, "lost_read") else {
        return;
    };
    put(&through, b"k", b"v").unwrap();
    for cut in [Cut::NextReply, Cut::NextRequest] {
        proxy.cut(cut);
        let found = through.get(b"k").unwrap().unwrap();
        assert!(proxy.cut_done(), "the proxy should have cut the {cut:?}");
        assert_eq!(&found.value[..], b"v");
    }
    proxy.cut(Cut::NextReply);
    let page = through.scan(b"", None, 10).unwrap();
    assert!(proxy.cut_done());
    assert_eq!(page.entries.len(), 1);
    // A commit of preconditions only writes nothing, so it is read again too.
    let version = through.get(b"k").unwrap().unwrap().version;
    let mut check = Batch::new();
    check.expect_version(b"k", version);
    proxy.cut(Cut::NextReply);
    through.commit(check).unwrap();
    assert!(proxy.cut_done());
}

#[test]
fn remove_all_after_client_kill_still_removes_every_key() {
    let Some(url) = support::url("remove_all_after_client_kill_still_removes_every_key") else {
        return;
    };
    let prefix = support::unique_prefix("kill_remove");
    let store = RedisStore::connect_with(
        &url,
        RedisOptions {
            prefix: prefix.clone(),
            pool_size: 1,
            ..RedisOptions::default()
        },
    )
    .unwrap();
    write_all(&store, b"v").unwrap();
    assert_eq!(kill_connections(&url, &store.client_name()), 1);
    assert_eq!(store.remove_all().unwrap(), KEYS.len() as u64 + 3);
    assert_eq!(support::keys_of(&url, &prefix), 0);
}
