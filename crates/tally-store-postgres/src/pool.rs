//! A small blocking connection pool: at most `max_size` connections, each
//! with the store's statements prepared once.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls, Statement};

use crate::sql::Sql;

/// One connection and the store's statements prepared on it.
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) statements: Statements,
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
}

impl Connection {
    fn open(config: &postgres::Config, sql: &Sql) -> Result<Self, postgres::Error> {
        let mut client = config.connect(NoTls)?;
        let statements = Statements {
            get: client.prepare(&sql.get)?,
            scan_from_prefix_bounded: client.prepare(&sql.scan_from_prefix_bounded)?,
            scan_from_prefix_unbounded: client.prepare(&sql.scan_from_prefix_unbounded)?,
            scan_after_bounded: client.prepare(&sql.scan_after_bounded)?,
            scan_after_unbounded: client.prepare(&sql.scan_after_unbounded)?,
            lock: client.prepare(&sql.lock)?,
            read_locked: client.prepare(&sql.read_locked)?,
            check: client.prepare(&sql.check)?,
            write: client.prepare(&sql.write)?,
            upsert: client.prepare(&sql.upsert)?,
            put_if_version: client.prepare(&sql.put_if_version)?,
            delete_if_version: client.prepare(&sql.delete_if_version)?,
            put_if_absent: client.prepare(&sql.put_if_absent)?,
        };
        Ok(Connection { client, statements })
    }
}

/// Why a connection could not be handed out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckoutError {
    /// Connecting (or preparing the statements) failed.
    #[error(transparent)]
    Connect(#[from] postgres::Error),
    /// Every connection stayed busy for the whole checkout timeout.
    #[error("all {max_size} pooled connections stayed busy for {waited:?}")]
    Exhausted { max_size: usize, waited: Duration },
}

struct State {
    idle: Vec<Connection>,
    /// Connections that exist: idle, checked out, or being opened.
    open: usize,
}

pub(crate) struct Pool {
    config: postgres::Config,
    sql: Sql,
    max_size: usize,
    checkout_timeout: Duration,
    state: Mutex<State>,
    returned: Condvar,
}

impl Pool {
    pub(crate) fn new(config: postgres::Config, sql: Sql, max_size: usize, checkout_timeout: Duration) -> Self {
        debug_assert!(max_size >= 1);
        Pool {
            config,
            sql,
            max_size,
            checkout_timeout,
            state: Mutex::new(State {
                idle: Vec::with_capacity(max_size),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields that every critical section leaves
        // consistent, so a panic elsewhere cannot have broken it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands out an idle connection, opens a new one if the pool is below
    /// its size, or waits for one to come back.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, CheckoutError> {
        let started = Instant::now();
        let mut state = self.lock();
        loop {
            if let Some(connection) = state.idle.pop() {
                return Ok(Pooled {
                    pool: self,
                    connection: Some(connection),
                });
            }
            if state.open < self.max_size {
                state.open += 1;
                drop(state);
                return match Connection::open(&self.config, &self.sql) {
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
            let Some(remaining) = self.checkout_timeout.checked_sub(waited) else {
                return Err(CheckoutError::Exhausted {
                    max_size: self.max_size,
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

    fn forget_one(&self) {
        let mut state = self.lock();
        debug_assert!(state.open >= 1);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    fn give_back(&self, connection: Connection) {
        if connection.client.is_closed() {
            // A broken connection is dropped; the next checkout opens a fresh one.
            self.forget_one();
            return;
        }
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

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.give_back(connection);
        }
    }
}
