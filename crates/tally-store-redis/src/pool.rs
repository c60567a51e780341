//! A small blocking connection pool: at most `max_size` connections, none
//! handed out that is known to be dead.
//!
//! Health: a connection whose last call failed on the socket is closed, not
//! returned. A connection that sat idle for longer than `ping_after_idle`,
//! or that was last seen working before *any* connection of the pool was
//! lost (a server restart or a `CLIENT KILL` usually takes all of them), is
//! pinged before it is handed out, and replaced if it does not answer. Both
//! checks happen before the caller's request is sent.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::ConnectionLike as _;

/// One pooled connection and what the pool knows about its health.
pub(crate) struct Connection {
    redis: redis::Connection,
    /// When the connection last went back to the pool (or was opened).
    idle_since: Instant,
    /// When the connection last answered: opened, a call, or a ping.
    verified_at: Instant,
}

/// How to open a connection.
pub(crate) struct Opener {
    pub(crate) client: redis::Client,
    pub(crate) connect_timeout: Duration,
    pub(crate) io_timeout: Option<Duration>,
    /// Given to every connection with `CLIENT SETNAME`, so an operator (or a
    /// test) can find the store's connections in `CLIENT LIST`.
    pub(crate) client_name: String,
}

impl Opener {
    /// A connected, named connection with the I/O timeouts set.
    pub(crate) fn open(&self) -> Result<redis::Connection, redis::RedisError> {
        let mut connection = self.client.get_connection_with_timeout(self.connect_timeout)?;
        connection.set_read_timeout(self.io_timeout)?;
        connection.set_write_timeout(self.io_timeout)?;
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(&self.client_name)
            .query::<()>(&mut connection)?;
        Ok(connection)
    }
}

/// Why a connection could not be handed out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckoutError {
    /// Opening a new connection failed.
    #[error("could not open a connection to Redis: {0}")]
    Connect(#[source] redis::RedisError),
    /// Every connection stayed busy for the whole checkout timeout.
    #[error("all {max_size} pooled connections stayed busy for {waited:?}")]
    Exhausted { max_size: usize, waited: Duration },
}

struct State {
    idle: Vec<Connection>,
    /// Connections that exist: idle, checked out, or being opened.
    open: usize,
    /// When a call last lost its connection.
    last_loss: Option<Instant>,
}

/// The pool's limits and health-check settings.
pub(crate) struct Limits {
    pub(crate) max_size: usize,
    pub(crate) checkout_timeout: Duration,
    pub(crate) ping_after_idle: Duration,
}

pub(crate) struct Pool {
    opener: Opener,
    limits: Limits,
    state: Mutex<State>,
    returned: Condvar,
}

impl Pool {
    pub(crate) fn new(opener: Opener, limits: Limits) -> Self {
        debug_assert!(limits.max_size >= 1);
        Pool {
            opener,
            state: Mutex::new(State {
                idle: Vec::with_capacity(limits.max_size),
                open: 0,
                last_loss: None,
            }),
            limits,
            returned: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain fields that every critical section leaves
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
                let suspect = state.last_loss.is_some_and(|lost| lost >= connection.verified_at);
                drop(state);
                if self.is_usable(&mut connection, suspect) {
                    return Ok(Pooled {
                        pool: self,
                        connection: Some(connection),
                    });
                }
                // Dead before anything of the caller's was sent on it; the
                // server may have dropped the others too.
                self.lose(connection);
                state = self.lock();
                continue;
            }
            if state.open < self.limits.max_size {
                state.open += 1;
                drop(state);
                return match self.opener.open() {
                    Ok(redis) => Ok(Pooled {
                        pool: self,
                        connection: Some(Connection::new(redis)),
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

    /// False when the connection is known dead, or when a ping (after long
    /// idleness, or because another connection was lost since this one last
    /// answered) gets no answer.
    fn is_usable(&self, connection: &mut Connection, suspect: bool) -> bool {
        if !connection.redis.is_open() {
            return false;
        }
        if suspect || connection.idle_since.elapsed() >= self.limits.ping_after_idle {
            if !connection.redis.check_connection() {
                return false;
            }
            connection.verified_at = Instant::now();
        }
        true
    }

    /// Adds an opened connection to the idle list (the store's first, whose
    /// setup commands proved the server works).
    pub(crate) fn adopt(&self, redis: redis::Connection) {
        let mut state = self.lock();
        if state.open >= self.limits.max_size {
            return;
        }
        state.open += 1;
        state.idle.push(Connection::new(redis));
        drop(state);
        self.returned.notify_one();
    }

    fn forget_one(&self) {
        let mut state = self.lock();
        debug_assert!(state.open >= 1);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    fn give_back(&self, mut connection: Connection) {
        if !connection.redis.is_open() {
            // The driver saw the socket fail; the next checkout opens a fresh one.
            self.lose(connection);
            return;
        }
        let now = Instant::now();
        connection.idle_since = now;
        connection.verified_at = now;
        let mut state = self.lock();
        debug_assert!(state.idle.len() < state.open);
        state.idle.push(connection);
        drop(state);
        self.returned.notify_one();
    }

    /// Closes a connection that failed on its socket, and makes every other
    /// idle connection prove itself with a ping before its next use.
    fn lose(&self, connection: Connection) {
        drop(connection);
        let mut state = self.lock();
        state.last_loss = Some(Instant::now());
        debug_assert!(state.open >= 1);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }
}

impl Connection {
    fn new(redis: redis::Connection) -> Self {
        let now = Instant::now();
        Connection {
            redis,
            idle_since: now,
            verified_at: now,
        }
    }
}

/// A checked-out connection; returns to the pool when dropped.
pub(crate) struct Pooled<'pool> {
    pool: &'pool Pool,
    connection: Option<Connection>,
}

impl Pooled<'_> {
    pub(crate) fn connection(&mut self) -> &mut redis::Connection {
        match self.connection.as_mut() {
            Some(connection) => &mut connection.redis,
            // `connection` is only taken in `drop` and `discard`.
            None => unreachable!("a pooled connection is present until it is dropped"),
        }
    }

    /// Closes the connection instead of returning it to the pool: it failed
    /// on its socket, or it may still owe a reply (a timed-out call), so
    /// nobody should inherit it.
    pub(crate) fn discard(mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.lose(connection);
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
