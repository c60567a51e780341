//! etcd's request limits: the store refuses what the declared limits do
//! not allow before sending anything, its count of a request's size is
//! etcd's own, and connecting checks the declared `--max-txn-ops`.
//!
//! The first test uses the cluster `TALLY_ETCD_ENDPOINTS` names (whose
//! limits are raised, so only the store can be what refuses); the others
//! start members of their own with etcd's default limits from the `etcd`
//! binary. Each skips without its service, or fails under
//! `TALLY_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use tally_store::{Batch, InvalidRequest, MAX_SCAN_LIMIT, Store, StoreError, scan_all};
use tally_store_etcd::{ConnectError, EtcdLimits, EtcdOptions, EtcdStore, RequestError};

fn puts(count: usize) -> Batch {
    let mut batch = Batch::new();
    for i in 0..count {
        batch.put(format!("k/{i:05}").into_bytes(), b"v".to_vec());
    }
    batch
}

fn backend_limit(result: Result<(), StoreError>) -> (&'static str, usize, usize) {
    match result {
        Err(StoreError::Invalid(InvalidRequest::BackendLimit {
            backend,
            limit,
            needed,
            max,
        })) => {
            assert_eq!(backend, "etcd");
            (limit, needed, max)
        }
        other => panic!("expected InvalidRequest::BackendLimit, got {other:?}"),
    }
}

fn key_count(store: &EtcdStore) -> usize {
    scan_all(store, b"", MAX_SCAN_LIMIT).count()
}

#[test]
fn batches_beyond_the_declared_limits_are_refused_before_anything_is_sent() {
    let Some(endpoints) = support::endpoints("batches_beyond_the_declared_limits_are_refused_before_anything_is_sent")
    else {
        return;
    };
    let temp = support::TempEtcd::with_options(
        &endpoints,
        EtcdOptions {
            server_limits: EtcdLimits::ETCD_DEFAULTS,
            ..support::options(support::unique_prefix("limits"))
        },
    );
    let store = temp.store();

    assert_eq!(backend_limit(store.commit(puts(129))), ("--max-txn-ops", 129, 128));
    let mut checks = Batch::new();
    for i in 0..129u32 {
        checks.expect_absent(i.to_be_bytes().to_vec());
    }
    checks.put(b"x", b"x".to_vec());
    assert_eq!(backend_limit(store.commit(checks)), ("--max-txn-ops", 129, 128));
    let mut large = Batch::new();
    large.put(b"large", vec![7u8; 2 * 1024 * 1024]);
    let (limit, needed, max) = backend_limit(store.commit(large));
    assert_eq!((limit, max), ("--max-request-bytes", 1_572_864));
    assert!(needed > 2 * 1024 * 1024, "the size counts the whole value ({needed})");
    assert_eq!(key_count(store), 0, "refused batches wrote nothing");

    // Writes of one key count once: only the last is sent.
    let mut rewrites = puts(128);
    rewrites.put(b"k/00000", b"again".to_vec()).delete(b"k/00001");
    store.commit(rewrites).unwrap();
    assert_eq!(key_count(store), 127);
    assert_eq!(&store.get(b"k/00000").unwrap().unwrap().value[..], b"again");
}

/// Commits the largest value the store lets through in a one-put batch
/// under its declared limits, found from the numbers its refusals give,
/// and returns its size.
fn commit_largest_value(store: &EtcdStore, key: &[u8], fill: u8) -> usize {
    let mut size = store.limits().max_request_bytes;
    // Each refusal says by how much the request is over; varint lengths
    // can make one step overshoot, hence the loop (it shrinks every time).
    for _ in 0..16 {
        let mut batch = Batch::new();
        batch.put(key, vec![fill; size]);
        match store.commit(batch) {
            Err(StoreError::Invalid(InvalidRequest::BackendLimit { needed, max, .. })) => size -= needed - max,
            Ok(()) => return size,
            other => panic!("committing a value of {size} bytes: {other:?}"),
        }
    }
    panic!("the size search did not settle");
}

#[test]
fn the_request_size_the_store_counts_is_the_one_etcd_limits() {
    let test = "the_request_size_the_store_counts_is_the_one_etcd_limits";
    let Some(cluster) = support::Cluster::start(test, 1, &[]) else {
        return;
    };
    let store = EtcdStore::connect_with(&cluster.endpoints(), EtcdOptions::default()).unwrap();
    let key = b"largest";
    // The largest batch the store accepts, etcd accepts too: the store's
    // count plus its margin is no less than etcd's.
    let size = commit_largest_value(&store, key, 1);
    assert!(size > 1_500_000, "{size}");
    assert_eq!(store.get(key).unwrap().unwrap().value.len(), size);

    // With the store's check out of the way (declared limits above the
    // server's), a batch its count puts one byte over etcd's limit is
    // refused by etcd: the margin hides no more than etcd's own framing.
    let lenient = EtcdStore::connect_with(
        &cluster.endpoints(),
        EtcdOptions {
            server_limits: EtcdLimits {
                max_request_bytes: 4 * 1024 * 1024,
                ..EtcdLimits::ETCD_DEFAULTS
            },
            ..EtcdOptions::default()
        },
    )
    .unwrap();
    let mut over = Batch::new();
    over.put(key.as_slice(), vec![2u8; size + 65]);
    match lenient.commit(over) {
        Err(StoreError::Backend { source, .. }) => {
            let error = source.downcast_ref::<RequestError>().expect("a RequestError");
            assert!(matches!(error, RequestError::Refused { .. }), "{error:?}");
            assert!(!error.outcome_unknown(), "a refused request did nothing");
        }
        other => panic!("etcd must refuse a request over its --max-request-bytes, got {other:?}"),
    }
    assert_eq!(
        store.get(key).unwrap().unwrap().value[0],
        1,
        "the refused batch wrote nothing"
    );

    // 128 writes is etcd's default, and what the store allows.
    store.commit(puts(128)).unwrap();
}

#[test]
fn connect_refuses_limits_the_cluster_does_not_have() {
    let test = "connect_refuses_limits_the_cluster_does_not_have";
    let Some(cluster) = support::Cluster::start(test, 1, &[]) else {
        return;
    };
    let error = EtcdStore::connect_with(
        &cluster.endpoints(),
        EtcdOptions {
            server_limits: EtcdLimits::RAISED,
            ..EtcdOptions::default()
        },
    )
    .unwrap_err();
    match &error {
        ConnectError::ServerLimit { limit, declared, .. } => {
            assert_eq!((*limit, *declared), ("--max-txn-ops", 1_024));
        }
        other => panic!("expected ConnectError::ServerLimit, got {other:?}"),
    }
    assert!(error.to_string().contains("--max-txn-ops=1024"), "{error}");
}

#[test]
fn endpoints_of_two_clusters_are_refused() {
    let test = "endpoints_of_two_clusters_are_refused";
    let Some(one) = support::Cluster::start(test, 1, &[]) else {
        return;
    };
    let Some(other) = support::Cluster::start(test, 1, &[]) else {
        return;
    };
    let endpoints = format!("{},{}", one.endpoints(), other.endpoints());
    match EtcdStore::connect(&endpoints) {
        Err(ConnectError::MixedClusters { clusters }) => assert_eq!(clusters.len(), 2),
        other => panic!("expected ConnectError::MixedClusters, got {other:?}"),
    }
}
