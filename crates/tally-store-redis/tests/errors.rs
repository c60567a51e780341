//! Failures are typed errors that say what failed, refused requests and
//! refused commits write nothing, and stores under different prefixes never
//! see each other. Nothing panics.
//!
//! Tests that change server-wide state (the script cache, memory limits,
//! the eviction policy, a restart) start a redis-server of their own; the
//! others use `TALLY_REDIS_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{OwnServer, TempRedis, put};
use tally_store::{Batch, Conflict, InvalidRequest, MAX_KEY_BYTES, Operation, Store, StoreError};
use tally_store_redis::{ConfigError, ConnectError, RedisOptions, RedisStore};

fn options(prefix: &str) -> RedisOptions {
    RedisOptions {
        prefix: prefix.to_owned(),
        ..RedisOptions::default()
    }
}

fn assert_corrupt(result: Result<impl std::fmt::Debug, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Corrupt { backend: "redis", .. })),
        "expected StoreError::Corrupt, got {result:?}"
    );
}

#[test]
fn bad_options_are_refused_before_connecting() {
    // Nothing listens on port 1: a request that got that far would fail to connect instead.
    let nowhere = "redis://127.0.0.1:1/";
    for prefix in ["", "a:b", "{tag}", "a*", &"p".repeat(65)] {
        let error = RedisStore::connect_with(nowhere, options(prefix)).unwrap_err();
        assert!(
            matches!(error, ConnectError::Config(ConfigError::Prefix { .. })),
            "{prefix:?}: {error:?}"
        );
    }
    let error = RedisStore::connect_with(
        nowhere,
        RedisOptions {
            pool_size: 0,
            ..RedisOptions::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        error,
        ConnectError::Config(ConfigError::PoolSize { requested: 0, .. })
    ));
    for url in ["http://127.0.0.1/", "redis://127.0.0.1:notaport/", "not a url"] {
        let error = RedisStore::connect(url).unwrap_err();
        assert!(
            matches!(error, ConnectError::Config(ConfigError::Url { .. })),
            "{url}: {error:?}"
        );
    }
    let error = RedisStore::connect("rediss://127.0.0.1:1/").unwrap_err();
    assert!(matches!(error, ConnectError::Config(ConfigError::TlsNotSupported)));
}

#[test]
fn an_unreachable_server_is_a_connect_error() {
    let options = RedisOptions {
        connect_timeout: Duration::from_secs(2),
        ..RedisOptions::default()
    };
    let error = RedisStore::connect_with(&format!("redis://127.0.0.1:{}/", support::free_port()), options).unwrap_err();
    assert!(matches!(error, ConnectError::Connect { .. }), "{error:?}");
    let as_store_error = StoreError::from(error);
    assert!(matches!(
        as_store_error,
        StoreError::Backend {
            backend: "redis",
            operation: Operation::Open,
            ..
        }
    ));
}

#[test]
fn a_refused_login_is_an_auth_error() {
    let Some(binary) = support::redis_server("a_refused_login_is_an_auth_error") else {
        return;
    };
    let server = OwnServer::start(&binary, &["--requirepass", "secret"]);
    let port = server.port();
    for url in [
        format!("redis://127.0.0.1:{port}/"),
        format!("redis://:wrong@127.0.0.1:{port}/"),
        format!("redis://someone:wrong@127.0.0.1:{port}/"),
    ] {
        let error = RedisStore::connect(&url).unwrap_err();
        assert!(matches!(error, ConnectError::Auth { .. }), "{url}: {error:?}");
    }
    let store = RedisStore::connect(&format!("redis://:secret@127.0.0.1:{port}/")).unwrap();
    put(&store, b"k", b"v").unwrap();
}

#[test]
fn a_server_that_evicts_keys_is_refused() {
    let Some(binary) = support::redis_server("a_server_that_evicts_keys_is_refused") else {
        return;
    };
    let server = OwnServer::start(&binary, &["--maxmemory-policy", "allkeys-lru"]);
    let error = RedisStore::connect(&server.url()).unwrap_err();
    assert!(
        matches!(&error, ConnectError::EvictionPolicy { policy } if policy == "allkeys-lru"),
        "{error:?}"
    );
    // Keys without an expiry are never picked by a volatile-* policy.
    let mut admin = support::admin(&server.url());
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("volatile-lru")
        .query(&mut admin)
        .unwrap();
    RedisStore::connect(&server.url()).unwrap();
}

#[test]
fn a_prefix_of_another_layout_version_is_refused() {
    let Some(url) = support::url("a_prefix_of_another_layout_version_is_refused") else {
        return;
    };
    let temp = TempRedis::new(&url, "layout");
    let prefix = temp.store().prefix().to_owned();
    let mut admin = support::admin(&url);
    let _: () = redis::cmd("SET")
        .arg(format!("{{{prefix}}}:layout"))
        .arg("9")
        .query(&mut admin)
        .unwrap();
    let error = RedisStore::connect_with(&url, options(&prefix)).unwrap_err();
    assert!(
        matches!(&error, ConnectError::IncompatibleLayout { found, supported: 1, .. } if found == "9"),
        "{error:?}"
    );
    assert!(matches!(StoreError::from(error), StoreError::Corrupt { .. }));
}

#[test]
fn stores_under_different_prefixes_do_not_see_each_other() {
    let Some(url) = support::url("stores_under_different_prefixes_do_not_see_each_other") else {
        return;
    };
    let first = TempRedis::new(&url, "iso");
    let second = TempRedis::new(&url, "iso");
    put(&first, b"k", b"first").unwrap();
    put(&first, b"", b"empty").unwrap();
    assert_eq!(second.get(b"k").unwrap(), None);
    assert!(second.scan(b"", None, 10).unwrap().entries.is_empty());
    // Versions are per store too: the second store's first write starts over.
    put(&second, b"k", b"second").unwrap();
    assert_eq!(second.get(b"k").unwrap().unwrap().version, 1);
    assert_eq!(&first.get(b"k").unwrap().unwrap().value[..], b"first");
}

#[test]
fn prefixes_that_extend_each_other_share_no_key() {
    let Some(url) = support::url("prefixes_that_extend_each_other_share_no_key") else {
        return;
    };
    let base = support::unique_prefix("nest");
    let outer = RedisStore::connect_with(&url, options(&base)).unwrap();
    let inner = RedisStore::connect_with(&url, options(&format!("{base}.k"))).unwrap();
    // Under a naive `PREFIX:key` layout, key "k:x" of `base` would be a key of `base.k`.
    put(&outer, b"k:x", b"outer").unwrap();
    put(&inner, b"x", b"inner").unwrap();
    assert_eq!(&outer.get(b"k:x").unwrap().unwrap().value[..], b"outer");
    assert_eq!(&inner.get(b"x").unwrap().unwrap().value[..], b"inner");
    assert_eq!(outer.scan(b"", None, 10).unwrap().entries.len(), 1);
    assert_eq!(inner.scan(b"", None, 10).unwrap().entries.len(), 1);
    assert_eq!(outer.remove_all().unwrap(), 4, "value, index, counter, layout");
    assert_eq!(&inner.get(b"x").unwrap().unwrap().value[..], b"inner");
    inner.remove_all().unwrap();
}

#[test]
fn reopening_a_prefix_keeps_its_data_and_versions() {
    let Some(url) = support::url("reopening_a_prefix_keeps_its_data_and_versions") else {
        return;
    };
    let temp = TempRedis::new(&url, "reopen");
    put(&temp, b"k", b"v").unwrap();
    let version = temp.get(b"k").unwrap().unwrap().version;
    let again = RedisStore::connect_with(&url, options(temp.store().prefix())).unwrap();
    let found = again.get(b"k").unwrap().unwrap();
    assert_eq!((&found.value[..], found.version), (&b"v"[..], version));
    put(&again, b"k", b"w").unwrap();
    assert!(temp.get(b"k").unwrap().unwrap().version > version);
}

#[test]
fn remove_all_leaves_no_key_of_the_prefix() {
    let Some(url) = support::url("remove_all_leaves_no_key_of_the_prefix") else {
        return;
    };
    let prefix = support::unique_prefix("remove");
    let store = RedisStore::connect_with(&url, options(&prefix)).unwrap();
    let mut batch = Batch::new();
    for i in 0u32..2_500 {
        batch.put(i.to_be_bytes().to_vec(), b"v".to_vec());
    }
    store.commit(batch).unwrap();
    assert_eq!(support::keys_of(&url, &prefix), 2_503);
    assert_eq!(store.remove_all().unwrap(), 2_503);
    assert_eq!(support::keys_of(&url, &prefix), 0);
}

#[test]
fn a_key_of_the_wrong_type_refuses_the_whole_commit() {
    let Some(url) = support::url("a_key_of_the_wrong_type_refuses_the_whole_commit") else {
        return;
    };
    let temp = TempRedis::new(&url, "wrongtype");
    put(&temp, b"a", b"old").unwrap();
    let prefix = temp.store().prefix().to_owned();
    let mut admin = support::admin(&url);
    // Something else wrote a list where tally keeps key "m".
    let _: () = redis::cmd("RPUSH")
        .arg(format!("{{{prefix}}}:k:m"))
        .arg("x")
        .query(&mut admin)
        .unwrap();
    // "a" sorts before "m", so a script that wrote as it went would have written it.
    let mut batch = Batch::new();
    batch
        .put(b"a", b"new".to_vec())
        .put(b"m", b"new".to_vec())
        .put(b"z", b"new".to_vec());
    assert_corrupt(temp.commit(batch));
    assert_eq!(&temp.get(b"a").unwrap().unwrap().value[..], b"old");
    assert_eq!(temp.get(b"z").unwrap(), None);
    assert_corrupt(temp.get(b"m"));

    // A garbage version is corruption too, found before anything is written.
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{prefix}}}:k:g"))
        .arg("n")
        .arg("seven")
        .arg("v")
        .arg("x")
        .query(&mut admin)
        .unwrap();
    let mut batch = Batch::new();
    batch.put(b"a", b"new".to_vec()).put(b"g", b"new".to_vec());
    assert_corrupt(temp.commit(batch));
    assert_eq!(&temp.get(b"a").unwrap().unwrap().value[..], b"old");
    assert_corrupt(temp.get(b"g"));

    // An index that is not a sorted set.
    let _: () = redis::cmd("DEL")
        .arg(format!("{{{prefix}}}:k:m"))
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{{{prefix}}}:k:g"))
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(format!("{{{prefix}}}:index"))
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{{{prefix}}}:index"))
        .arg("oops")
        .query(&mut admin)
        .unwrap();
    let mut batch = Batch::new();
    batch.put(b"a", b"new".to_vec());
    assert_corrupt(temp.commit(batch));
    assert_eq!(&temp.get(b"a").unwrap().unwrap().value[..], b"old");
    assert_corrupt(temp.scan(b"", None, 10));
}

#[test]
fn an_index_entry_without_its_value_is_corruption() {
    let Some(url) = support::url("an_index_entry_without_its_value_is_corruption") else {
        return;
    };
    let temp = TempRedis::new(&url, "orphan");
    put(&temp, b"k", b"v").unwrap();
    let prefix = temp.store().prefix().to_owned();
    let mut admin = support::admin(&url);
    let _: () = redis::cmd("DEL")
        .arg(format!("{{{prefix}}}:k:k"))
        .query(&mut admin)
        .unwrap();
    assert_corrupt(temp.scan(b"", None, 10));
}

#[test]
fn a_lost_version_counter_does_not_lower_a_written_keys_version() {
    let Some(url) = support::url("a_lost_version_counter_does_not_lower_a_written_keys_version") else {
        return;
    };
    let temp = TempRedis::new(&url, "counter");
    for _ in 0..5 {
        put(&temp, b"k", b"v").unwrap();
    }
    let before = temp.get(b"k").unwrap().unwrap().version;
    let mut admin = support::admin(&url);
    let _: () = redis::cmd("DEL")
        .arg(format!("{{{}}}:version", temp.store().prefix()))
        .query(&mut admin)
        .unwrap();
    put(&temp, b"k", b"w").unwrap();
    assert!(temp.get(b"k").unwrap().unwrap().version > before);
}

#[test]
fn a_version_no_store_can_reach_is_a_conflict_not_an_error() {
    let Some(url) = support::url("a_version_no_store_can_reach_is_a_conflict_not_an_error") else {
        return;
    };
    let temp = TempRedis::new(&url, "bigv");
    put(&temp, b"k", b"v").unwrap();
    let version = temp.get(b"k").unwrap().unwrap().version;
    for expected in [u64::MAX, 1 << 53, version + 1] {
        let mut batch = Batch::new();
        batch.expect_version(b"k", expected).put(b"k", b"w".to_vec());
        match temp.commit(batch) {
            Err(StoreError::Conflict(Conflict::Precondition {
                expected_version,
                actual_version,
                ..
            })) => assert_eq!((expected_version, actual_version), (expected, version)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], b"v");
}

#[test]
fn an_exhausted_version_space_refuses_the_commit_and_writes_nothing() {
    let Some(url) = support::url("an_exhausted_version_space_refuses_the_commit_and_writes_nothing") else {
        return;
    };
    let temp = TempRedis::new(&url, "exhaust");
    let mut admin = support::admin(&url);
    let _: () = redis::cmd("SET")
        .arg(format!("{{{}}}:version", temp.store().prefix()))
        .arg((1u64 << 53) - 2)
        .query(&mut admin)
        .unwrap();
    put(&temp, b"a", b"v").unwrap();
    assert_eq!(temp.get(b"a").unwrap().unwrap().version, (1 << 53) - 1);
    let mut batch = Batch::new();
    batch.put(b"b", b"v".to_vec());
    assert_corrupt(temp.commit(batch));
    assert_eq!(temp.get(b"b").unwrap(), None);
}

#[test]
fn requests_beyond_the_limits_are_refused_without_touching_the_server() {
    let Some(binary) = support::redis_server("requests_beyond_the_limits_are_refused_without_touching_the_server")
    else {
        return;
    };
    let mut server = OwnServer::start(&binary, &[]);
    let store = RedisStore::connect_with(
        &server.url(),
        RedisOptions {
            connect_timeout: Duration::from_secs(1),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    server.kill();
    // With the server gone, anything that reached for it would be a backend failure.
    let too_long = vec![0u8; MAX_KEY_BYTES + 1];
    let invalid = |result: Result<(), StoreError>| {
        assert!(matches!(result, Err(StoreError::Invalid(_))), "{result:?}");
    };
    invalid(store.get(&too_long).map(drop));
    invalid(store.scan(&too_long, None, 1).map(drop));
    invalid(store.scan(b"", None, 0).map(drop));
    let mut batch = Batch::new();
    batch.put(too_long, b"v".to_vec());
    match store.commit(batch) {
        Err(StoreError::Invalid(InvalidRequest::KeyTooLong { .. })) => {}
        other => panic!("{other:?}"),
    }
    store.commit(Batch::new()).unwrap();
    assert!(matches!(
        store.get(b"k"),
        Err(StoreError::Backend {
            backend: "redis",
            operation: Operation::Get,
            ..
        })
    ));
}

#[test]
fn a_flushed_script_cache_is_refilled_without_an_error() {
    let Some(binary) = support::redis_server("a_flushed_script_cache_is_refilled_without_an_error") else {
        return;
    };
    let server = OwnServer::start(&binary, &[]);
    let store = RedisStore::connect(&server.url()).unwrap();
    put(&store, b"k", b"v").unwrap();
    let mut admin = support::admin(&server.url());
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut admin).unwrap();
    let mut batch = Batch::new();
    batch
        .expect_version(b"k", store.get(b"k").unwrap().unwrap().version)
        .put(b"k", b"w".to_vec());
    store.commit(batch).unwrap();
    assert_eq!(&store.get(b"k").unwrap().unwrap().value[..], b"w");
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut admin).unwrap();
    assert_eq!(store.scan(b"", None, 10).unwrap().entries.len(), 1);
}

#[test]
fn a_server_out_of_memory_refuses_the_commit_and_writes_nothing() {
    let Some(binary) = support::redis_server("a_server_out_of_memory_refuses_the_commit_and_writes_nothing") else {
        return;
    };
    let server = OwnServer::start(&binary, &["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"]);
    let store = RedisStore::connect(&server.url()).unwrap();
    put(&store, b"small", b"v").unwrap();
    // Fill memory past the limit, one value at a time, until Redis says no.
    let mut refused = None;
    for i in 0u32..64 {
        let mut batch = Batch::new();
        batch
            .put(format!("fill/{i:03}/a").into_bytes(), vec![1u8; 512 * 1024])
            .put(format!("fill/{i:03}/b").into_bytes(), vec![2u8; 512 * 1024]);
        if let Err(error) = store.commit(batch) {
            refused = Some((i, error));
            break;
        }
    }
    let (i, error) = refused.expect("a 4 MiB server must refuse 64 MiB");
    assert!(
        matches!(
            error,
            StoreError::Backend {
                backend: "redis",
                operation: Operation::Commit,
                ..
            }
        ),
        "{error:?}"
    );
    // Neither key of the refused batch was written.
    for half in ["a", "b"] {
        assert_eq!(store.get(format!("fill/{i:03}/{half}").as_bytes()).unwrap(), None);
    }
    assert_eq!(&store.get(b"small").unwrap().unwrap().value[..], b"v");
}

#[test]
fn after_a_server_restart_reads_work_and_commits_work_or_report() {
    let Some(binary) = support::redis_server("after_a_server_restart_reads_work_and_commits_work_or_report") else {
        return;
    };
    let mut server = OwnServer::start(&binary, &[]);
    let port = server.port();
    let store = RedisStore::connect_with(
        &server.url(),
        RedisOptions {
            pool_size: 2,
            connect_timeout: Duration::from_secs(2),
            ..RedisOptions::default()
        },
    )
    .unwrap();
    put(&store, b"k", b"v").unwrap();
    server.kill();
    let _restarted = OwnServer::start_on(&binary, port, &[]);
    // The restarted server kept nothing (no persistence) and lost its script cache.
    assert_eq!(store.get(b"k").unwrap(), None);
    put(&store, b"k", b"w").unwrap();
    assert_eq!(&store.get(b"k").unwrap().unwrap().value[..], b"w");
}
