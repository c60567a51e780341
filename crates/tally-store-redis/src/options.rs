//! [`RedisOptions`], their limits, and how a URL and options become the
//! connection settings. Everything here is checked before anything is sent
//! to a server; a bad option is a [`ConfigError`].

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::ConfigError;

/// The key prefix [`RedisStore::connect`](crate::RedisStore::connect) uses.
pub const DEFAULT_PREFIX: &str = "tally";

/// The longest [`RedisOptions::prefix`], in bytes.
pub const MAX_PREFIX_BYTES: usize = 64;

/// The largest [`RedisOptions::pool_size`]. A Redis server accepts 10,000
/// clients by default (`maxclients`), for every client together.
pub const MAX_POOL_SIZE: usize = 1_000;

/// The longest timeout any [`RedisOptions`] field accepts (one day).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Options for [`RedisStore::connect_with`](crate::RedisStore::connect_with).
///
/// Start from the defaults and change what you need:
/// `RedisOptions { prefix: "payments".into(), ..RedisOptions::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// The namespace of this store's Redis keys: 1 to [`MAX_PREFIX_BYTES`]
    /// bytes of ASCII letters, digits, `_`, `-`, `.` and `/` (default
    /// [`DEFAULT_PREFIX`]). Stores with different prefixes share one Redis
    /// database without seeing each other's keys; every process that opens
    /// the same prefix on the same database shares one store.
    pub prefix: String,
    /// The most connections the store opens: 1 to [`MAX_POOL_SIZE`]
    /// (default 8). Each thread that is inside a store call holds one.
    pub pool_size: usize,
    /// How long a call waits for a free connection before it fails with
    /// [`StoreError::Backend`](tally_store::StoreError::Backend) (default
    /// 30 s; zero fails at once when every connection is busy).
    pub checkout_timeout: Duration,
    /// Timeout for opening one connection (TCP connect, `AUTH`, `SELECT`;
    /// default 10 s; more than zero).
    pub connect_timeout: Duration,
    /// How long one call may wait on the socket, to send its request or for
    /// the reply (default 30 s). A call that times out fails with
    /// [`StoreError::Backend`](tally_store::StoreError::Backend) and its
    /// connection is closed; a commit that timed out waiting for its reply
    /// may have been applied. `None` waits forever.
    pub io_timeout: Option<Duration>,
    /// A pooled connection idle for longer than this is pinged before a
    /// call uses it, and replaced if it does not answer (default 30 s; zero
    /// pings before every call). Whatever this is, after any call of the
    /// store lost its connection, every other pooled connection is pinged
    /// once before it is used again.
    pub ping_after_idle: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: DEFAULT_PREFIX.to_owned(),
            pool_size: 8,
            checkout_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            io_timeout: Some(Duration::from_secs(30)),
            ping_after_idle: Duration::from_secs(30),
        }
    }
}

/// True for a prefix of 1 to [`MAX_PREFIX_BYTES`] bytes of ASCII letters,
/// digits, `_`, `-`, `.` and `/`.
///
/// The set leaves out `{`, `}` (the prefix is the key's hash tag), `:` (it
/// ends the prefix in every key, so no prefix can produce another's keys)
/// and the glob characters `*`, `?`, `[`, `]` and `\` (the prefix is matched
/// by `SCAN … MATCH` when a store is removed).
pub(crate) fn is_valid_prefix(prefix: &str) -> bool {
    (1..=MAX_PREFIX_BYTES).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

/// `timeout` is at most [`MAX_TIMEOUT`], and more than zero unless
/// `zero_allowed`.
fn check_timeout(option: &'static str, timeout: Duration, zero_allowed: bool) -> Result<(), ConfigError> {
    if (timeout.is_zero() && !zero_allowed) || timeout > MAX_TIMEOUT {
        return Err(ConfigError::Timeout { option });
    }
    Ok(())
}

impl RedisOptions {
    /// Every rule of the fields' docs.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !is_valid_prefix(&self.prefix) {
            return Err(ConfigError::Prefix {
                prefix: self.prefix.clone(),
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
        if let Some(timeout) = self.io_timeout {
            check_timeout("io_timeout", timeout, false)?;
        }
        Ok(())
    }
}

/// Checks the options and parses the URL (`redis://`, `redis+unix://` or
/// `unix://`). Sends nothing.
pub(crate) fn setup(url: &str, options: &RedisOptions) -> Result<ConnectionInfo, ConfigError> {
    options.validate()?;
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    if scheme.eq_ignore_ascii_case("rediss") || scheme.eq_ignore_ascii_case("valkeys") {
        return Err(ConfigError::TlsNotSupported);
    }
    let info = url.into_connection_info().map_err(|error| ConfigError::Url {
        reason: error.to_string(),
    })?;
    if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
        return Err(ConfigError::TlsNotSupported);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        assert!(is_valid_prefix("tally"));
        assert!(is_valid_prefix("app-1/payments.v2_x"));
        assert!(is_valid_prefix(&"p".repeat(MAX_PREFIX_BYTES)));
        for bad in ["", "a:b", "{a}", "a}", "a*", "a?", "a[b]", "a\\b", "a b", "ä", "a\n"] {
            assert!(!is_valid_prefix(bad), "{bad:?}");
        }
        assert!(!is_valid_prefix(&"p".repeat(MAX_PREFIX_BYTES + 1)));
    }

    #[test]
    fn the_defaults_are_valid() {
        RedisOptions::default().validate().unwrap();
    }

    #[test]
    fn bad_options_are_refused() {
        let zero_pool = RedisOptions {
            pool_size: 0,
            ..RedisOptions::default()
        };
        assert_eq!(
            zero_pool.validate(),
            Err(ConfigError::PoolSize {
                requested: 0,
                max: MAX_POOL_SIZE
            })
        );
        let zero_connect = RedisOptions {
            connect_timeout: Duration::ZERO,
            ..RedisOptions::default()
        };
        assert_eq!(
            zero_connect.validate(),
            Err(ConfigError::Timeout {
                option: "connect_timeout"
            })
        );
        let long_io = RedisOptions {
            io_timeout: Some(MAX_TIMEOUT + Duration::from_secs(1)),
            ..RedisOptions::default()
        };
        assert_eq!(long_io.validate(), Err(ConfigError::Timeout { option: "io_timeout" }));
        let zero_ping = RedisOptions {
            ping_after_idle: Duration::ZERO,
            checkout_timeout: Duration::ZERO,
            io_timeout: None,
            ..RedisOptions::default()
        };
        zero_ping.validate().unwrap();
    }

    #[test]
    fn urls_are_parsed_before_connecting() {
        let options = RedisOptions::default();
        assert!(setup("redis://127.0.0.1:6379/0", &options).is_ok());
        assert!(setup("redis+unix:///run/redis.sock", &options).is_ok());
        assert!(matches!(
            setup("rediss://cache.example.com/", &options),
            Err(ConfigError::TlsNotSupported)
        ));
        assert!(matches!(
            setup("http://127.0.0.1/", &options),
            Err(ConfigError::Url { .. })
        ));
        assert!(matches!(
            setup("redis://127.0.0.1:notaport/", &options),
            Err(ConfigError::Url { .. })
        ));
    }
}
