//! [`PgOptions`], their limits, and how a connection string and options
//! become the driver's settings. Everything here is checked before anything
//! is sent to a server; a bad option is a [`ConfigError`].

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;
use crate::pool::{Limits, Opener};
use crate::tls::{self, Connector, Roots, SslMode};

/// The table name [`PgStore::connect`](crate::PgStore::connect) uses.
pub const DEFAULT_TABLE: &str = "tally_kv";

/// The longest table name PostgreSQL keeps without truncating it.
pub const MAX_TABLE_NAME_BYTES: usize = 63;

/// The largest [`PgOptions::pool_size`]. A PostgreSQL server allows 100
/// connections by default, for every client together.
pub const MAX_POOL_SIZE: usize = 1_000;

/// The longest timeout any [`PgOptions`] field accepts (one day).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Options for [`PgStore::connect_with`](crate::PgStore::connect_with).
///
/// Start from the defaults and change what you need:
/// `PgOptions { table: "payments".into(), ..PgOptions::default() }`.
///
/// TLS is chosen in the connection string, as with libpq: `sslmode` is
/// `disable`, `prefer` (the default: TLS if the server offers it, without
/// checking its certificate), `require` (always TLS, certificate not
/// checked), `verify-ca` (the certificate must chain to a trusted root) or
/// `verify-full` (and name the host). `sslrootcert=PATH` or
/// [`tls_ca_file`](PgOptions::tls_ca_file) names the trusted roots; without
/// either, `verify-ca` and `verify-full` trust the operating system's roots
/// (also asked for by `sslrootcert=system`). Client certificates are not
/// supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The table that holds this store's keys: 1 to 63 bytes of lowercase
    /// ASCII letters, digits and `_`, not starting with a digit.
    pub table: String,
    /// The most connections the store opens: 1 to [`MAX_POOL_SIZE`]
    /// (default 8). Each thread that is inside a store call holds one.
    pub pool_size: usize,
    /// How long a call waits for a free connection before it fails with
    /// [`StoreError::Backend`](tally_store::StoreError::Backend) (default
    /// 30 s; zero fails at once when every connection is busy).
    pub checkout_timeout: Duration,
    /// Timeout for opening one connection, and for the ping of a
    /// connection that sat idle (default 10 s; more than zero).
    pub connect_timeout: Duration,
    /// The server cancels any statement of this store that runs longer
    /// (PostgreSQL's `statement_timeout`, set on every connection; default
    /// 30 s). A commit blocked behind another session's lock then fails
    /// with [`StoreError::Backend`](tally_store::StoreError::Backend)
    /// (SQLSTATE `57014`) instead of waiting forever; nothing of it was
    /// written. `None` leaves the server's setting (by default: no limit).
    pub statement_timeout: Option<Duration>,
    /// How long the network may leave the store without an answer before
    /// the connection is closed (default 30 s): TCP keepalive probes start
    /// after half of it, and data the server does not acknowledge for this
    /// long fails the call (Linux `TCP_USER_TIMEOUT`). This is what ends a
    /// call on a half-open connection, where the server is gone without a
    /// word and no statement timeout can fire. `None` leaves the driver's
    /// (and connection string's) keepalive settings: probes after 2 hours.
    pub io_timeout: Option<Duration>,
    /// A pooled connection idle for longer than this is pinged (an empty
    /// query, bounded by [`connect_timeout`](PgOptions::connect_timeout))
    /// before a call uses it, and replaced if it does not answer (default
    /// 30 s; zero pings before every call). A connection the server closed
    /// is noticed and replaced without a ping, however short its idleness.
    pub ping_after_idle: Duration,
    /// A PEM file of the CA certificates to trust for TLS, instead of the
    /// connection string's `sslrootcert` (this field wins when both are
    /// set). Giving one makes every TLS mode verify the certificate chain.
    pub tls_ca_file: Option<PathBuf>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            table: DEFAULT_TABLE.to_owned(),
            pool_size: 8,
            checkout_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_secs(30)),
            io_timeout: Some(Duration::from_secs(30)),
            ping_after_idle: Duration::from_secs(30),
            tls_ca_file: None,
        }
    }
}

pub(crate) fn is_valid_table_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=MAX_TABLE_NAME_BYTES).contains(&bytes.len())
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `timeout` is at most [`MAX_TIMEOUT`], and more than zero unless
/// `zero_allowed`.
fn check_timeout(option: &'static str, timeout: Duration, zero_allowed: bool) -> Result<(), ConfigError> {
    if (timeout.is_zero() && !zero_allowed) || timeout > MAX_TIMEOUT {
        return Err(ConfigError::Timeout { option });
    }
    Ok(())
}

/// A duration in whole milliseconds, rounded up so that a positive
/// duration never becomes 0 (which PostgreSQL reads as "no limit").
fn millis_rounded_up(duration: Duration) -> u128 {
    duration.as_nanos().div_ceil(1_000_000)
}

/// TCP keepalive timing takes whole seconds; at least one.
fn whole_seconds_at_least_one(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs().max(1))
}

impl PgOptions {
    /// Every rule of the fields' docs.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !is_valid_table_name(&self.table) {
            return Err(ConfigError::TableName {
                name: self.table.clone(),
            });
        }
        if !(1..=MAX_POOL_SIZE).contains(&self.pool_size) {
            return Err(ConfigError::PoolSize {
                requested: self.pool_size,
                max: MAX_POOL_SIZE,
            });
        }
        check_timeout("checkout_timeout", self.checkout_timeout, true)?;
        check_timeout("connect_timeout", self.connect_timeout, false)?;
        check_timeout("ping_after_idle", self.ping_after_idle, true)?;
        if let Some(timeout) = self.statement_timeout {
            check_timeout("statement_timeout", timeout, false)?;
        }
        if let Some(timeout) = self.io_timeout {
            check_timeout("io_timeout", timeout, false)?;
        }
        Ok(())
    }
}

/// What [`setup`] makes of a connection string and options.
pub(crate) struct Setup {
    pub(crate) ssl_mode: SslMode,
    pub(crate) opener: Opener,
    pub(crate) limits: Limits,
}

/// Checks the options and the connection string and turns them into the
/// driver's settings, the TLS connector and the pool's limits. Sends
/// nothing.
pub(crate) fn setup(url: &str, options: &PgOptions) -> Result<Setup, ConfigError> {
    options.validate()?;
    let (driver_url, tls_params) = tls::split_tls_params(url)?;
    let mut config: tokio_postgres::Config =
        driver_url
            .parse()
            .map_err(|error: tokio_postgres::Error| ConfigError::ConnectionString {
                reason: error.to_string(),
            })?;
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        return Err(ConfigError::ConnectionString {
            reason: "no host: give one in the URL (postgres://HOST/…) or as host=…".to_owned(),
        });
    }
    config.connect_timeout(options.connect_timeout);
    if let Some(timeout) = options.io_timeout {
        config
            .tcp_user_timeout(timeout)
            .keepalives(true)
            .keepalives_idle(whole_seconds_at_least_one(timeout / 2))
            .keepalives_interval(whole_seconds_at_least_one(timeout / 6))
            .keepalives_retries(3);
    }
    if config.get_application_name().is_none() {
        config.application_name("tally");
    }
    let mode = tls_params.mode();
    config.ssl_mode(mode.driver_mode());
    let roots = options.tls_ca_file.clone().map(Roots::File).or(tls_params.roots);
    let has_host_name = config
        .get_hosts()
        .iter()
        .any(|host| matches!(host, tokio_postgres::config::Host::Tcp(_)));
    let connector = Connector::new(mode, roots.as_ref(), has_host_name)?;
    let session_sql = match options.statement_timeout {
        Some(timeout) => format!("SET statement_timeout = {}", millis_rounded_up(timeout)),
        None => String::new(),
    };
    Ok(Setup {
        ssl_mode: mode,
        opener: Opener {
            config,
            connector,
            connect_timeout: options.connect_timeout,
            session_sql,
        },
        limits: Limits {
            max_size: options.pool_size,
            checkout_timeout: options.checkout_timeout,
            ping_after_idle: options.ping_after_idle,
            ping_timeout: options.connect_timeout,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        assert!(is_valid_table_name("tally_kv"));
        assert!(is_valid_table_name("_t1"));
        assert!(!is_valid_table_name(""));
        assert!(!is_valid_table_name("1t"));
        assert!(!is_valid_table_name("Tally"));
        assert!(!is_valid_table_name("t; DROP TABLE x"));
        assert!(!is_valid_table_name("t\"x"));
        assert!(!is_valid_table_name(&"t".repeat(64)));
        assert!(is_valid_table_name(&"t".repeat(63)));
    }

    #[test]
    fn the_defaults_are_valid() {
        PgOptions::default().validate().unwrap();
    }

    #[test]
    fn timeouts_become_driver_and_session_settings() {
        let options = PgOptions {
            statement_timeout: Some(Duration::from_micros(1_500)),
            io_timeout: Some(Duration::from_secs(12)),
            ..PgOptions::default()
        };
        let planned = setup("postgres://postgres@127.0.0.1/test?sslmode=disable", &options).unwrap();
        let config = &planned.opener.config;
        assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(12)));
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(6));
        assert_eq!(config.get_keepalives_interval(), Some(Duration::from_secs(2)));
        assert_eq!(config.get_connect_timeout(), Some(&options.connect_timeout));
        assert_eq!(config.get_application_name(), Some("tally"));
        // 1.5 ms rounds up, never down to PostgreSQL's "no limit".
        assert_eq!(planned.opener.session_sql, "SET statement_timeout = 2");
        assert!(!planned.opener.connector.uses_tls());

        let tiny = PgOptions {
            io_timeout: Some(Duration::from_millis(300)),
            statement_timeout: None,
            ..PgOptions::default()
        };
        let planned = setup("host=h sslmode=disable application_name=mine", &tiny).unwrap();
        assert_eq!(planned.opener.config.get_keepalives_idle(), Duration::from_secs(1));
        assert_eq!(planned.opener.config.get_application_name(), Some("mine"));
        assert_eq!(planned.opener.session_sql, "");
    }

    #[test]
    fn a_connection_string_without_a_host_is_refused() {
        assert!(matches!(
            setup("user=postgres dbname=test", &PgOptions::default()),
            Err(ConfigError::ConnectionString { .. })
        ));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn tls_modes_pick_a_tls_connector() {
        for mode in ["prefer", "require"] {
            let planned = setup(&format!("postgres://h/db?sslmode={mode}"), &PgOptions::default()).unwrap();
            assert!(planned.opener.connector.uses_tls(), "{mode}");
        }
        // The default is libpq's `prefer`.
        assert!(
            setup("postgres://h/db", &PgOptions::default())
                .unwrap()
                .opener
                .connector
                .uses_tls()
        );
    }
}
