//! TLS against a real server that accepts TLS connections only.
//!
//! `tests/tls-server.sh start` (which `.ci/run` calls) starts one and prints
//! `TALLY_PG_TLS_URL` (the server, without `sslmode`) and `TALLY_PG_TLS_CA`
//! (the CA that signed its certificate for 127.0.0.1 and localhost). Without
//! them these tests skip, or fail under `TALLY_REQUIRE_SERVICES=1`.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::path::{Path, PathBuf};

use postgres::error::SqlState;
use tally_store::{Batch, Store};
use tally_store_postgres::{ConnectError, PgOptions, PgStore, SslMode};

const TLS_URL_ENV: &str = "TALLY_PG_TLS_URL";
const TLS_CA_ENV: &str = "TALLY_PG_TLS_CA";

/// The TLS-only server's URL and its CA file, or `None` (skipped).
fn tls_server(test: &str) -> Option<(String, PathBuf)> {
    let url = tally_store::testkit::service_env(TLS_URL_ENV, test)?;
    let ca = tally_store::testkit::service_env(TLS_CA_ENV, test)?;
    Some((url, PathBuf::from(ca)))
}

/// A CA certificate that signed nothing the server presents.
fn unrelated_ca() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/unrelated-ca.pem")
}

fn with_ca(ca: &Path) -> PgOptions {
    PgOptions {
        tls_ca_file: Some(ca.to_owned()),
        ..PgOptions::default()
    }
}

/// The server as a `key=value` string that names the host `host_name` but
/// connects to the URL's address, to test which name is checked.
fn as_key_value(url: &str, host_name: &str) -> String {
    let config: postgres::Config = url.parse().unwrap();
    let postgres::config::Host::Tcp(address) = &config.get_hosts()[0] else {
        panic!("{TLS_URL_ENV} must name a TCP host");
    };
    format!(
        "host={host_name} hostaddr={address} port={} user={} dbname={}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    )
}

fn commit_and_read_back(store: &impl Store) {
    let mut batch = Batch::new();
    batch.expect_absent(b"k").put(b"k", b"over tls".to_vec());
    store.commit(batch).unwrap();
    assert_eq!(&store.get(b"k").unwrap().unwrap().value[..], b"over tls");
}

/// The TLS library's error in `error`'s source chain.
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        // `io::Error::source` skips the error it wraps.
        if let Some(found) = current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// The connection failed because the server's certificate was refused.
fn expect_certificate_refused(result: Result<PgStore, ConnectError>, what: &str) {
    match result {
        Err(ConnectError::Tls { source }) => {
            let cause = rustls_error(&source);
            assert!(
                matches!(cause, Some(rustls::Error::InvalidCertificate(_))),
                "{what}: expected a refused certificate, got {cause:?} ({source})"
            );
        }
        other => panic!("{what}: expected a TLS handshake failure, got {other:?}"),
    }
}

#[test]
fn verify_full_with_the_servers_ca_commits_and_reads() {
    let Some((url, ca)) = tls_server("verify_full_with_the_servers_ca_commits_and_reads") else {
        return;
    };
    let temp = support::TempPg::with_options(
        &support::with_param(&url, "sslmode", "verify-full"),
        "tls_full",
        with_ca(&ca),
    );
    assert_eq!(temp.store().ssl_mode(), SslMode::VerifyFull);
    commit_and_read_back(&temp);
}

#[test]
fn the_ca_file_can_come_from_the_url() {
    let Some((url, ca)) = tls_server("the_ca_file_can_come_from_the_url") else {
        return;
    };
    let ca = percent_encode_path(&ca);
    let url = support::with_param(&support::with_param(&url, "sslmode", "verify-full"), "sslrootcert", &ca);
    let temp = support::TempPg::with_options(&url, "tls_rootcert", PgOptions::default());
    commit_and_read_back(&temp);
}

#[test]
fn a_tls_only_server_refuses_sslmode_disable() {
    let Some((url, _)) = tls_server("a_tls_only_server_refuses_sslmode_disable") else {
        return;
    };
    let error = PgStore::connect(&support::with_param(&url, "sslmode", "disable")).unwrap_err();
    let ConnectError::Connect { source } = &error else {
        panic!("expected the server to refuse the connection, got {error:?}");
    };
    assert_eq!(
        source.code(),
        Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        "{error}"
    );
    // The message says why: the server's "no pg_hba.conf entry … no encryption".
    assert!(error.to_string().contains("no encryption"), "{error}");
}

#[test]
fn verify_full_with_the_wrong_ca_fails_the_handshake() {
    let Some((url, _)) = tls_server("verify_full_with_the_wrong_ca_fails_the_handshake") else {
        return;
    };
    for mode in ["verify-full", "verify-ca", "require"] {
        // With a CA file, every TLS mode checks the chain (as libpq does).
        expect_certificate_refused(
            PgStore::connect_with(&support::with_param(&url, "sslmode", mode), with_ca(&unrelated_ca())),
            mode,
        );
    }
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some((url, ca)) = tls_server("verify_full_checks_the_host_name_and_verify_ca_does_not") else {
        return;
    };
    // The certificate names 127.0.0.1 and localhost, not this name.
    let misnamed = as_key_value(&url, "tally-test.invalid");
    expect_certificate_refused(
        PgStore::connect_with(&format!("{misnamed} sslmode=verify-full"), with_ca(&ca)),
        "verify-full with a host name the certificate does not carry",
    );
    let temp = support::TempPg::with_options(&format!("{misnamed} sslmode=verify-ca"), "tls_ca_only", with_ca(&ca));
    commit_and_read_back(&temp);
    // The name the certificate does carry passes verify-full.
    let named = as_key_value(&url, "localhost");
    let temp = support::TempPg::with_options(&format!("{named} sslmode=verify-full"), "tls_localhost", with_ca(&ca));
    commit_and_read_back(&temp);
}

#[test]
fn require_and_prefer_without_a_ca_encrypt_without_verifying() {
    let Some((url, _)) = tls_server("require_and_prefer_without_a_ca_encrypt_without_verifying") else {
        return;
    };
    // The server takes TLS connections only, so connecting at all proves TLS.
    let temp = support::TempPg::with_options(
        &support::with_param(&url, "sslmode", "require"),
        "tls_require",
        PgOptions::default(),
    );
    assert_eq!(temp.store().ssl_mode(), SslMode::Require);
    commit_and_read_back(&temp);
    // No sslmode: libpq's default, prefer.
    let temp = support::TempPg::with_options(&url, "tls_prefer", PgOptions::default());
    assert_eq!(temp.store().ssl_mode(), SslMode::Prefer);
    commit_and_read_back(&temp);
}

/// `path` with the characters a URL query cannot carry as is encoded.
fn percent_encode_path(path: &Path) -> String {
    path.to_str()
        .unwrap()
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}
