//! Backend failures are typed errors that say what failed; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::error::Error as _;
use std::time::Duration;

use tally_store::{Batch, Operation, Store, StoreError};
use tally_store_postgres::{ConfigError, PgOptions, PgStore};

fn config_error(error: &StoreError) -> Option<&ConfigError> {
    error.source().and_then(|source| source.downcast_ref::<ConfigError>())
}

#[test]
fn a_malformed_connection_string_is_refused_before_connecting() {
    let error = PgStore::connect("postgres://user@host:notaport/db").unwrap_err();
    assert!(matches!(
        error,
        StoreError::Backend {
            backend: "postgres",
            operation: Operation::Open,
            ..
        }
    ));
    assert!(
        matches!(config_error(&error), Some(ConfigError::ConnectionString { .. })),
        "{error:?}"
    );
}

#[test]
fn unsafe_table_names_are_refused() {
    for table in ["", "Upper", "9lives", "x; DROP TABLE y", "quote\"d"] {
        let options = PgOptions {
            table: table.to_owned(),
            ..PgOptions::default()
        };
        let error = PgStore::connect_with("postgres://postgres@127.0.0.1:5432/test", options).unwrap_err();
        assert!(
            matches!(config_error(&error), Some(ConfigError::TableName { .. })),
            "{table:?}: {error:?}"
        );
    }
    let options = PgOptions {
        pool_size: 0,
        ..PgOptions::default()
    };
    let error = PgStore::connect_with("postgres://postgres@127.0.0.1:5432/test", options).unwrap_err();
    assert!(matches!(config_error(&error), Some(ConfigError::PoolSize)));
}

#[test]
fn an_unreachable_server_is_an_open_error() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let options = PgOptions {
        connect_timeout: Duration::from_secs(2),
        ..PgOptions::default()
    };
    let error = PgStore::connect_with("postgres://postgres@127.0.0.1:1/test", options).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Backend {
                backend: "postgres",
                operation: Operation::Open,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_killed_connection_fails_one_call_and_the_pool_recovers() {
    let Some(url) = support::url("a_killed_connection_fails_one_call_and_the_pool_recovers") else {
        return;
    };
    let temp = support::TempPg::new(&url, "kill");
    let mut batch = Batch::new();
    batch.put(b"k", b"v".to_vec());
    temp.commit(batch).unwrap();

    // Terminate every connection of this store's pool from outside.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'tally' AND pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'",
            &[&temp.store().table()],
        )
        .unwrap();
    assert!(!killed.is_empty(), "the pooled connection should have been found");

    // The next call on the dead connection fails with a typed error ...
    let mut saw_error = false;
    for _ in 0..2 {
        match temp.get(b"k") {
            Ok(found) => {
                assert_eq!(&found.unwrap().value[..], b"v");
                break;
            }
            Err(error) => {
                assert!(
                    matches!(
                        error,
                        StoreError::Backend {
                            backend: "postgres",
                            operation: Operation::Get,
                            ..
                        }
                    ),
                    "{error:?}"
                );
                saw_error = true;
            }
        }
    }
    assert!(
        saw_error,
        "the first call after the kill must report the lost connection"
    );
    // ... and the pool replaced the connection: everything works again.
    assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], b"v");
    let mut batch = Batch::new();
    batch.put(b"k", b"w".to_vec());
    temp.commit(batch).unwrap();
    assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], b"w");
}

#[test]
fn two_stores_in_one_database_do_not_see_each_other() {
    let Some(url) = support::url("two_stores_in_one_database_do_not_see_each_other") else {
        return;
    };
    let first = support::TempPg::new(&url, "iso_a");
    let second = support::TempPg::new(&url, "iso_b");
    let mut batch = Batch::new();
    batch.put(b"k", b"first".to_vec());
    first.commit(batch).unwrap();
    assert_eq!(second.get(b"k").unwrap(), None);
}

#[test]
fn reopening_a_table_keeps_its_data_and_versions() {
    let Some(url) = support::url("reopening_a_table_keeps_its_data_and_versions") else {
        return;
    };
    let temp = support::TempPg::new(&url, "reopen");
    let mut batch = Batch::new();
    batch.put(b"k", b"v".to_vec());
    temp.commit(batch).unwrap();
    let version = temp.get(b"k").unwrap().unwrap().version;
    let options = PgOptions {
        table: temp.store().table().to_owned(),
        ..PgOptions::default()
    };
    let again = PgStore::connect_with(&url, options).unwrap();
    let found = again.get(b"k").unwrap().unwrap();
    assert_eq!((&found.value[..], found.version), (&b"v"[..], version));
}

#[test]
fn a_version_beyond_bigint_is_a_conflict_not_an_error() {
    let Some(url) = support::url("a_version_beyond_bigint_is_a_conflict_not_an_error") else {
        return;
    };
    let temp = support::TempPg::new(&url, "bigv");
    let mut batch = Batch::new();
    batch.expect_version(b"k", u64::MAX).put(b"k", b"v".to_vec());
    let error = temp.commit(batch).unwrap_err();
    assert!(
        matches!(
            &error,
            StoreError::Conflict(tally_store::Conflict::Precondition { actual_version: 0, .. })
        ),
        "{error:?}"
    );
    assert_eq!(temp.get(b"k").unwrap(), None);
}
