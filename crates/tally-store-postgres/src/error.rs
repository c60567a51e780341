//! The errors of opening a store: [`ConnectError`], and the
//! [`ConfigError`] it wraps for requests refused before anything is sent.
//!
//! Once a store is open, every call returns a
//! [`StoreError`](tally_store::StoreError) as the [`Store`](tally_store::Store)
//! trait says.

use std::path::PathBuf;

use tally_store::{Operation, StoreError};

use crate::{BACKEND, MAX_TABLE_NAME_BYTES, MAX_TIMEOUT};

/// A request [`PgStore::connect_with`](crate::PgStore::connect_with) refuses
/// before it sends anything to a server. Retrying the same request fails the
/// same way: fix the options or the connection string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The connection string is neither a `postgres://` URL nor a
    /// `key=value` list, or one of its parameters has a bad value.
    #[error("invalid PostgreSQL connection string: {reason}")]
    ConnectionString {
        /// What is wrong with it.
        reason: String,
    },
    /// The connection string asks for something this crate does not do:
    /// client certificates (`sslcert`, `sslkey`, `sslpassword`), revocation
    /// lists (`sslcrl`, `sslcrldir`) or `sslmode=allow`.
    #[error("unsupported connection parameter {option}: {reason}")]
    Unsupported {
        /// The parameter (with its value, for `sslmode`).
        option: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
    /// The table name is empty, too long, or has characters other than
    /// lowercase ASCII letters, digits and `_` (or starts with a digit).
    #[error(
        "invalid table name {name:?}: use 1 to {MAX_TABLE_NAME_BYTES} lowercase ASCII letters, digits or '_', not starting with a digit"
    )]
    TableName {
        /// The name that was refused.
        name: String,
    },
    /// `pool_size` is 0 or above [`MAX_POOL_SIZE`](crate::MAX_POOL_SIZE).
    #[error("pool size {requested} is out of range: use 1 to {max} connections")]
    PoolSize {
        /// The size that was asked for.
        requested: usize,
        /// The largest size allowed ([`MAX_POOL_SIZE`](crate::MAX_POOL_SIZE)).
        max: usize,
    },
    /// A timeout is zero (where zero would mean "fail at once" or, to the
    /// server, "no limit") or longer than [`MAX_TIMEOUT`](crate::MAX_TIMEOUT).
    #[error("{option} must be more than zero and at most {max_secs} s", max_secs = MAX_TIMEOUT.as_secs())]
    Timeout {
        /// The option: `"connect_timeout"`, `"statement_timeout"` or
        /// `"io_timeout"` (the [`PgOptions`](crate::PgOptions) field names),
        /// or `"checkout_timeout"` / `"ping_after_idle"` when too long.
        option: &'static str,
    },
    /// `sslmode` asks for TLS but this build of the crate has no TLS (its
    /// `tls` feature is off).
    #[error("sslmode={sslmode} needs TLS, but tally-store-postgres was built without its `tls` feature")]
    TlsNotBuilt {
        /// The requested mode.
        sslmode: String,
    },
    /// The CA certificate file cannot be read, is not PEM, or holds no
    /// usable certificate.
    #[error("CA certificate file {path:?}: {reason}")]
    CaFile {
        /// The file ([`PgOptions::tls_ca_file`](crate::PgOptions::tls_ca_file)
        /// or the URL's `sslrootcert`).
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Certificates must be verified against the system's roots (no CA
    /// file was given, or `sslrootcert=system`), but the system has none
    /// that can be loaded. Install the CA certificates package, or give a
    /// CA file.
    #[error("no system root certificates could be loaded: {reason}")]
    NoSystemRoots {
        /// What the loader reported.
        reason: String,
    },
    /// The TLS library refused the client configuration.
    #[error("TLS configuration refused: {reason}")]
    Tls {
        /// The TLS library's explanation.
        reason: String,
    },
}

/// Why [`PgStore::connect`](crate::PgStore::connect) or
/// [`PgStore::connect_with`](crate::PgStore::connect_with) returned no
/// store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The options or the connection string are wrong; nothing was sent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The TLS handshake failed: the server's certificate is not signed by a
    /// trusted CA, does not name the host (`sslmode=verify-full`), or has
    /// expired, or the two sides share no protocol. Check the CA file and the
    /// host name; retrying will not help.
    #[error("TLS handshake with the PostgreSQL server failed: {}", describe(source))]
    Tls {
        /// The driver's error; its source chain holds the TLS library's.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The server could not be reached, or refused the connection or the
    /// login (the driver's error says which; a refusal carries the server's
    /// SQLSTATE in [`tokio_postgres::Error::code`]). A server that only accepts
    /// TLS refuses `sslmode=disable` here.
    #[error("could not connect to PostgreSQL: {}", describe(source))]
    Connect {
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Connecting and logging in took longer than
    /// [`PgOptions::connect_timeout`](crate::PgOptions::connect_timeout)
    /// (per host in the connection string).
    #[error("connecting to PostgreSQL took longer than {timeout:?}")]
    Timeout {
        /// The limit that passed.
        timeout: std::time::Duration,
    },
    /// The connection's I/O runtime could not be created on this machine
    /// (out of file descriptors, say).
    #[error("could not create an I/O runtime for the connection: {source}")]
    Io {
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Connected, but the server refused to create or read the store's
    /// table (for example: no `CREATE` privilege).
    #[error("PostgreSQL refused to set up table {table:?}: {}", describe(source))]
    Schema {
        /// The store's table.
        table: String,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The table was created by a schema version this build does not read.
    #[error("table {table:?} has schema version {found}; this build reads version {supported}")]
    IncompatibleSchema {
        /// The store's table.
        table: String,
        /// The version recorded for it.
        found: i32,
        /// The version this build reads ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
        supported: i32,
    },
}

/// The driver's error with its causes: its own message is terse ("db
/// error"), and the server's explanation is in its source.
fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut next = std::error::Error::source(error);
    // Driver chains are two or three deep; the bound guards against a cycle.
    for _ in 0..8 {
        let Some(cause) = next else { break };
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// For hosts that report every storage failure as a [`StoreError`]: an
/// incompatible schema is [`StoreError::Corrupt`], anything else
/// [`StoreError::Backend`] with [`Operation::Open`] and this error as its
/// source.
impl From<ConnectError> for StoreError {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::IncompatibleSchema { .. } => StoreError::Corrupt {
                backend: BACKEND,
                detail: error.to_string(),
            },
            other => StoreError::backend(BACKEND, Operation::Open, other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_POOL_SIZE;

    #[test]
    fn config_errors_say_what_to_fix() {
        let error = ConfigError::PoolSize {
            requested: 0,
            max: MAX_POOL_SIZE,
        };
        assert_eq!(
            error.to_string(),
            format!("pool size 0 is out of range: use 1 to {MAX_POOL_SIZE} connections")
        );
        let error = ConfigError::Timeout {
            option: "statement_timeout",
        };
        assert!(
            error
                .to_string()
                .starts_with("statement_timeout must be more than zero")
        );
    }

    #[test]
    fn an_incompatible_schema_is_corrupt_as_a_store_error() {
        let error = ConnectError::IncompatibleSchema {
            table: "t".into(),
            found: 9,
            supported: 1,
        };
        assert!(matches!(StoreError::from(error), StoreError::Corrupt { .. }));
        let error = ConnectError::Config(ConfigError::TableName { name: "T".into() });
        assert!(matches!(
            StoreError::from(error),
            StoreError::Backend {
                operation: Operation::Open,
                ..
            }
        ));
    }
}
