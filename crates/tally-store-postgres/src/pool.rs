//! A small blocking connection pool: at most `max_size` connections, each
//! with the store's statements prepared once, and none handed out that the
//! server has already dropped.
//!
//! Health: a connection is checked every time it leaves the pool. First,
//! without waiting, the pool reads whatever the server sent while the
//! connection sat idle: a server that terminated the session (an
//! administrator's `pg_terminate_backend`, a restart, an idle timeout) has
//! sent an error and closed the socket, so the connection is dropped and the
//! next one tried. Second, a connection idle for longer than
//! `ping_after_idle` is pinged (an empty query, bounded by the ping timeout)
//! to catch a peer that vanished without a word. Both checks happen before
//! the caller's statement is sent, so a connection that fails them is
//! replaced and the call goes on; a failure after a statement was sent is
//! the caller's to report.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, Statement};

use crate::driver::Driver;
use crate::sql::Sql;
use crate::tls::Connector;

/// A client and the driver of its connection.
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) driver: Driver,
}

/// One pooled session and the store's statements prepared on it.
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) driver: Driver,
    pub(crate) statements: Statements,
    /// When the connection last went back to the pool (or was opened).
    idle_since: Instant,
}

/// Every statement the store runs, prepared once per connection so each
/// query is one round trip.
pub(crate) struct Statements {
    pub(crate) get: Statement,
    pub(crate) scan_from_prefix_bounded: Statement,
    pub(crate) scan_from_prefix_unbounded: Statement,
    pub(crate) scan_after_bounded: Statement,
    pub(crate) scan_after_unbounded: Statement,
    pub(crate) lock: Statement,
    pub(crate) read_locked: Statement,
    pub(crate) check: Statement,
    pub(crate) write: Statement,
    pub(crate) upsert: Statement,
    pub(crate) put_if_version: Statement,
    pub(crate) delete_if_version: Statement,
    pub(crate) put_if_absent: Statement,
    pub(crate) get_many: Statement,
    pub(crate) guarded_write: Statement,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// The driver failed: unreachable, refused, TLS, or a failed statement.
    #[error(transparent)]
    Driver(#[from] tokio_postgres::Error),
    /// Connecting and logging in took longer than the connect timeout.
    #[error("connecting took longer than {timeout:?}")]
    TimedOut { timeout: Duration },
    /// The connection's runtime could not be created (out of file
    /// descriptors, say).
    #[error("could not create the connection's I/O runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// How to open a connection: the driver's settings, the TLS connector, and
/// the session settings to apply before the statements are prepared.
pub(crate) struct Opener {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) connector: Connector,
    /// Bounds connecting and logging in, per host of the connection string.
    pub(crate) connect_timeout: Duration,
    /// `SET …` statements run once on every new connection (the statement
    /// timeout), or empty.
    pub(crate) session_sql: String,
}

impl Opener {
    /// A connected session with the session settings applied.
    pub(crate) fn session(&self) -> Result<Session, OpenError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(OpenError::Runtime)?;
        let hosts = self
            .config
            .get_hosts()
            .len()
            .max(self.config.get_hostaddrs().len())
            .max(1);
        let timeout = self
            .connect_timeout
            .saturating_mul(u32::try_from(hosts).unwrap_or(u32::MAX));
        // Built inside the runtime: a timer needs its runtime's context.
        let connected =
            runtime.block_on(async { tokio::time::timeout(timeout, self.connector.connect(&self.config)).await });
        let (client, connection) = connected.map_err(|_| OpenError::TimedOut { timeout })??;
        let mut driver = Driver::new(runtime, connection);
        if !self.session_sql.is_empty() {
            driver.run(client.batch_execute(&self.session_sql))?;
        }
        Ok(Session { client, driver })
    }

    fn connection(&self, sql: &Sql) -> Result<Connection, OpenError> {
        let Session { client, mut driver } = self.session()?;
        let mut prepare = |text: &str| driver.run(client.prepare(text));
        let statements = Statements {
            get: prepare(&sql.get)?,
            scan_from_prefix_bounded: prepare(&sql.scan_from_prefix_bounded)?,
            scan_from_prefix_unbounded: prepare(&sql.scan_from_prefix_unbounded)?,
            scan_after_bounded: prepare(&sql.scan_after_bounded)?,
            scan_after_unbounded: prepare(&sql.scan_after_unbounded)?,
            lock: prepare(&sql.lock)?,
            read_locked: prepare(&sql.read_locked)?,
            check: prepare(&sql.check)?,
            write: prepare(&sql.write)?,
            upsert: prepare(&sql.upsert)?,
            put_if_version: prepare(&sql.put_if_version)?,
            delete_if_version: prepare(&sql.delete_if_version)?,
            put_if_absent: prepare(&sql.put_if_absent)?,
            get_many: prepare(&sql.get_many)?,
            guarded_write: prepare(&sql.guarded_write)?,
        };
        Ok(Connection {
            client,
            driver,
            statements,
            idle_since: Instant::now(),
        })
    }
}

impl Connection {
    /// False when the server has already dropped this connection (it sent
    /// an error or closed the socket while the connection was idle), or, after
    /// `ping_after_idle` of idleness, when it does not answer a ping within
    /// `ping_timeout`. Nothing of the caller's has been sent yet.
    fn is_usable(&mut self, ping_after_idle: Duration, ping_timeout: Duration) -> bool {
        if !self.driver.is_alive() || self.client.is_closed() {
            return false;
        }
        if self.idle_since.elapsed() >= ping_after_idle {
            // An empty query; the timer is built inside the runtime it needs.
            let client = &self.client;
            let ping = async { tokio::time::timeout(ping_timeout, client.simple_query("")).await };
            return matches!(self.driver.block_on(ping), Ok(Ok(Ok(_))));
        }
        true
    }
}

/// Why a connection could not be handed out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckoutError {
    /// Connecting (or preparing the statements) failed.
    #[error(transparent)]
    Connect(#[from] OpenError),
    /// Every connection stayed busy for the whole checkout timeout.
    #[error("all {max_size} pooled connections stayed busy for {waited:?}")]
    Exhausted { max_size: usize, waited: Duration },
}

struct State {
    idle: Vec<Connection>,
    /// Connections that exist: idle, checked out, or being opened.
    open: usize,
}

/// The pool's limits and health-check settings.
pub(crate) struct Limits {
    pub(crate) max_size: usize,
    pub(crate) checkout_timeout: Duration,
    pub(crate) ping_after_idle: Duration,
    pub(crate) ping_timeout: Duration,
}

pub(crate) struct Pool {
    opener: Opener,
    sql: Sql,
    limits: Limits,
    state: Mutex<State>,
    returned: Condvar,
}

impl Pool {
    pub(crate) fn new(opener: Opener, sql: Sql, limits: Limits) -> Self {
        debug_assert!(limits.max_size >= 1);
        Pool {
            opener,
            sql,
            state: Mutex::new(State {
                idle: Vec::with_capacity(limits.max_size),
                open: 0,
            }),
            limits,
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields that every critical section leaves
        // consistent, so a panic elsewhere cannot have broken it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands out a healthy idle connection, opens a new one if the pool is
    /// below its size, or waits for one to come back.
    ///
    /// Each idle connection that fails its health check is dropped, so the
    /// loop ends: after at most `max_size` dropped connections the pool has
    /// room to open a fresh one.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, CheckoutError> {
        let started = Instant::now();
        let mut state = self.lock();
        loop {
            if let Some(mut connection) = state.idle.pop() {
                drop(state);
                if connection.is_usable(self.limits.ping_after_idle, self.limits.ping_timeout) {
                    return Ok(Pooled {
                        pool: self,
                        connection: Some(connection),
                    });
                }
                // Dead before anything was sent on it: replace it.
                drop(connection);
                self.forget_one();
                state = self.lock();
                continue;
            }
            if state.open < self.limits.max_size {
                state.open += 1;
                drop(state);
                return match self.opener.connection(&self.sql) {
                    Ok(connection) => Ok(Pooled {
                        pool: self,
                        connection: Some(connection),
                    }),
                    Err(error) => {
                        self.forget_one();
                        Err(CheckoutError::Connect(error))
                    }
                };
            }
            let waited = started.elapsed();
            let Some(remaining) = self.limits.checkout_timeout.checked_sub(waited) else {
                return Err(CheckoutError::Exhausted {
                    max_size: self.limits.max_size,
                    waited,
                });
            };
            state = self
                .returned
                .wait_timeout(state, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Opens one connection into the idle list (unless the pool is full),
    /// so that a store that opens has proven it can connect.
    pub(crate) fn open_one(&self) -> Result<(), OpenError> {
        let mut state = self.lock();
        if state.open >= self.limits.max_size {
            return Ok(());
        }
        state.open += 1;
        drop(state);
        match self.opener.connection(&self.sql) {
            Ok(connection) => {
                self.give_back(connection);
                Ok(())
            }
            Err(error) => {
                self.forget_one();
                Err(error)
            }
        }
    }

    fn forget_one(&self) {
        let mut state = self.lock();
        debug_assert!(state.open >= 1);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    fn give_back(&self, mut connection: Connection) {
        if connection.client.is_closed() {
            // A broken connection is dropped; the next checkout opens a fresh one.
            self.forget_one();
            return;
        }
        connection.idle_since = Instant::now();
        let mut state = self.lock();
        debug_assert!(state.idle.len() < state.open);
        state.idle.push(connection);
        drop(state);
        self.returned.notify_one();
    }
}

/// A checked-out connection; returns to the pool when dropped.
pub(crate) struct Pooled<'pool> {
    pool: &'pool Pool,
    connection: Option<Connection>,
}

impl Pooled<'_> {
    pub(crate) fn connection(&mut self) -> &mut Connection {
        match self.connection.as_mut() {
            Some(connection) => connection,
            // `connection` is only taken in `drop`.
            None => unreachable!("a pooled connection is present until it is dropped"),
        }
    }
}

impl Pooled<'_> {
    /// Closes the connection instead of returning it to the pool (it was
    /// lost, or is in a state nobody should inherit).
    pub(crate) fn discard(mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection);
            self.pool.forget_one();
        }
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.give_back(connection);
        }
    }
}
