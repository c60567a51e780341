//! Bad options are configuration errors found before anything is sent;
//! backend failures are typed errors that say what failed; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use tally_store::{Batch, Store, StoreError};
use tally_store_postgres::{ConfigError, ConnectError, MAX_POOL_SIZE, MAX_TIMEOUT, PgOptions, PgStore};

/// Nothing listens on port 1 of loopback: a test that gets a configuration
/// error connecting here proves the error came before anything was sent.
const NOWHERE: &str = "postgres://postgres@127.0.0.1:1/test";

fn config_error(url: &str, options: PgOptions) -> ConfigError {
    match PgStore::connect_with(url, options) {
        Err(ConnectError::Config(error)) => error,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn a_malformed_connection_string_is_refused_before_connecting() {
    for url in [
        "postgres://user@host:notaport/db",
        "host=h port=x",
        "host=h user='unclosed",
        "postgres://h/db?sslmode=sometimes",
        "postgres://h/db?no_such_option=1",
        "user=postgres dbname=test",
    ] {
        assert!(
            matches!(
                config_error(url, PgOptions::default()),
                ConfigError::ConnectionString { .. }
            ),
            "{url}"
        );
    }
}

#[test]
fn unsupported_tls_parameters_are_refused_before_connecting() {
    for url in [
        "postgres://h/db?sslmode=allow",
        "postgres://h/db?sslcert=/client.pem&sslkey=/client.key",
        "host=h sslcrl=/crl.pem",
    ] {
        assert!(
            matches!(config_error(url, PgOptions::default()), ConfigError::Unsupported { .. }),
            "{url}"
        );
    }
}

#[test]
fn unsafe_table_names_are_refused() {
    for table in ["", "Upper", "9lives", "x; DROP TABLE y", "quote\"d", &"t".repeat(64)] {
        let options = PgOptions {
            table: table.to_owned(),
            ..PgOptions::default()
        };
        assert!(
            matches!(config_error(NOWHERE, options), ConfigError::TableName { .. }),
            "{table:?}"
        );
    }
}

#[test]
fn a_pool_of_zero_or_too_many_connections_is_refused() {
    for pool_size in [0, MAX_POOL_SIZE + 1] {
        let options = PgOptions {
            pool_size,
            ..PgOptions::default()
        };
        assert_eq!(
            config_error(NOWHERE, options),
            ConfigError::PoolSize {
                requested: pool_size,
                max: MAX_POOL_SIZE
            }
        );
    }
}

#[test]
fn zero_timeouts_that_make_no_sense_are_refused() {
    let zero = Duration::ZERO;
    let cases: [(&str, PgOptions); 3] = [
        (
            "connect_timeout",
            PgOptions {
                connect_timeout: zero,
                ..PgOptions::default()
            },
        ),
        (
            "statement_timeout",
            PgOptions {
                statement_timeout: Some(zero),
                ..PgOptions::default()
            },
        ),
        (
            "io_timeout",
            PgOptions {
                io_timeout: Some(zero),
                ..PgOptions::default()
            },
        ),
    ];
    for (option, options) in cases {
        assert_eq!(config_error(NOWHERE, options), ConfigError::Timeout { option });
    }
}

#[test]
fn timeouts_longer_than_the_limit_are_refused() {
    let too_long = MAX_TIMEOUT + Duration::from_secs(1);
    let cases: [(&str, PgOptions); 3] = [
        (
            "checkout_timeout",
            PgOptions {
                checkout_timeout: too_long,
                ..PgOptions::default()
            },
        ),
        (
            "ping_after_idle",
            PgOptions {
                ping_after_idle: too_long,
                ..PgOptions::default()
            },
        ),
        (
            "statement_timeout",
            PgOptions {
                statement_timeout: Some(too_long),
                ..PgOptions::default()
            },
        ),
    ];
    for (option, options) in cases {
        assert_eq!(config_error(NOWHERE, options), ConfigError::Timeout { option });
    }
}

#[test]
fn a_missing_ca_file_is_refused_before_connecting() {
    let options = PgOptions {
        tls_ca_file: Some(PathBuf::from("/nonexistent/tally-ca.pem")),
        ..PgOptions::default()
    };
    let error = config_error(&format!("{NOWHERE}?sslmode=verify-full"), options);
    #[cfg(feature = "tls")]
    assert!(matches!(error, ConfigError::CaFile { .. }), "{error:?}");
    #[cfg(not(feature = "tls"))]
    assert!(matches!(error, ConfigError::TlsNotBuilt { .. }), "{error:?}");
    // The URL's sslrootcert is read the same way.
    let error = config_error(
        &format!("{NOWHERE}?sslmode=verify-ca&sslrootcert=/nonexistent/tally-ca.pem"),
        PgOptions::default(),
    );
    #[cfg(feature = "tls")]
    assert!(matches!(error, ConfigError::CaFile { .. }), "{error:?}");
    #[cfg(not(feature = "tls"))]
    assert!(matches!(error, ConfigError::TlsNotBuilt { .. }), "{error:?}");
}

#[test]
fn a_config_error_is_not_a_lost_acknowledgement() {
    // Hosts that report everything as StoreError get an Open failure whose
    // source is the configuration error.
    let error = StoreError::from(
        PgStore::connect_with(
            NOWHERE,
            PgOptions {
                pool_size: 0,
                ..PgOptions::default()
            },
        )
        .unwrap_err(),
    );
    let StoreError::Backend { operation, source, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(*operation, tally_store::Operation::Open);
    assert!(matches!(
        source.downcast_ref::<ConnectError>(),
        Some(ConnectError::Config(ConfigError::PoolSize { .. }))
    ));
}

#[test]
fn an_unreachable_server_is_a_connect_error() {
    let options = PgOptions {
        connect_timeout: Duration::from_secs(2),
        ..PgOptions::default()
    };
    let error = PgStore::connect_with(NOWHERE, options).unwrap_err();
    assert!(matches!(error, ConnectError::Connect { .. }), "{error:?}");
}

#[test]
fn sslmode_disable_connects_in_plaintext() {
    let Some(url) = support::url("sslmode_disable_connects_in_plaintext") else {
        return;
    };
    let temp = support::TempPg::new(&support::with_param(&url, "sslmode", "disable"), "plain");
    assert_eq!(temp.store().ssl_mode(), tally_store_postgres::SslMode::Disable);
    let mut batch = Batch::new();
    batch.put(b"k", b"plain".to_vec());
    temp.commit(batch).unwrap();
    assert_eq!(&temp.get(b"k").unwrap().unwrap().value[..], b"plain");
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

#[test]
fn a_table_of_another_schema_version_is_refused() {
    let Some(url) = support::url("a_table_of_another_schema_version_is_refused") else {
        return;
    };
    let temp = support::TempPg::new(&url, "schema");
    let table = temp.store().table().to_owned();
    let mut admin = support::admin(&url);
    admin
        .execute(
            "UPDATE tally_schema SET schema_version = 99 WHERE table_name = $1",
            &[&table],
        )
        .unwrap();
    let options = PgOptions {
        table: table.clone(),
        ..PgOptions::default()
    };
    match PgStore::connect_with(&url, options) {
        Err(ConnectError::IncompatibleSchema {
            table: refused,
            found: 99,
            supported: tally_store_postgres::SCHEMA_VERSION,
        }) => assert_eq!(refused, table),
        other => panic!("expected an incompatible schema, got {other:?}"),
    }
}
