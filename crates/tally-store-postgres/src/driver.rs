//! One server connection, driven on the calling thread.
//!
//! The async driver (`tokio-postgres`) splits a connection in two: a
//! `Client` that sends requests, and a `Connection` that moves bytes and must
//! be polled. Like the `postgres` crate, each pooled connection here owns a
//! single-threaded runtime and polls its `Connection` only while a call
//! waits, so no background thread is needed. Unlike it, this module can also
//! look at an idle connection without waiting ([`Driver::is_alive`]): one
//! turn of the runtime's I/O driver brings in whatever the server sent while
//! nobody was polling, such as the error a terminated session sends before
//! the server closes the socket.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Runtime;
use tokio_postgres::{AsyncMessage, Error};

/// The half of a driver connection that must be polled; object-safe, so
/// plaintext and TLS connections look alike.
pub(crate) trait PollMessage: Send {
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<AsyncMessage, Error>>>;
}

impl<S, T> PollMessage for tokio_postgres::Connection<S, T>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
    T: AsyncRead + AsyncWrite + Unpin + Send,
{
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<AsyncMessage, Error>>> {
        tokio_postgres::Connection::poll_message(self, cx)
    }
}

/// How many notices or notifications one poll handles before it lets the
/// call's own future run (the server can send any number).
const MAX_MESSAGES_PER_POLL: usize = 1_024;

/// The runtime and the polled half of one connection.
pub(crate) struct Driver {
    runtime: Runtime,
    /// `None` once the connection has ended (an error, or the server closed
    /// it). Dropping it fails every request still waiting for an answer.
    connection: Option<Box<dyn PollMessage>>,
}

impl Driver {
    pub(crate) fn new(runtime: Runtime, connection: Box<dyn PollMessage>) -> Self {
        Driver {
            runtime,
            connection: Some(connection),
        }
    }

    /// Polls the connection until it has nothing more to do now. Returns the
    /// error that ended it, if it ended with one.
    fn drive(connection: &mut Option<Box<dyn PollMessage>>, cx: &mut Context<'_>) -> Option<Error> {
        let active = connection.as_mut()?;
        for _ in 0..MAX_MESSAGES_PER_POLL {
            match active.poll_message(cx) {
                // Notices (for example "table already exists, skipping") and
                // notifications carry nothing the store needs.
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(error))) => {
                    *connection = None;
                    return Some(error);
                }
                Poll::Ready(None) => {
                    *connection = None;
                    return None;
                }
                Poll::Pending => return None,
            }
        }
        // More messages are waiting: come back to them on the next poll.
        cx.waker().wake_by_ref();
        None
    }

    /// Runs `future` (a request of this connection's client) to its end,
    /// polling the connection meanwhile. If the connection ends with an
    /// error first, that error is the result.
    pub(crate) fn run<T>(&mut self, future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let mut future = pin!(future);
        let connection = &mut self.connection;
        self.runtime.block_on(poll_fn(|cx| {
            if let Some(error) = Self::drive(connection, cx) {
                return Poll::Ready(Err(error));
            }
            future.as_mut().poll(cx)
        }))
    }

    /// Runs any future on this connection's runtime (for timeouts around
    /// requests), polling the connection meanwhile.
    pub(crate) fn block_on<T>(&mut self, future: impl Future<Output = T>) -> Result<T, Error> {
        let mut future = pin!(future);
        let connection = &mut self.connection;
        self.runtime.block_on(poll_fn(|cx| {
            if let Some(error) = Self::drive(connection, cx) {
                return Poll::Ready(Err(error));
            }
            future.as_mut().poll(cx).map(Ok)
        }))
    }

    /// False when the connection has ended. Never waits: it yields once to
    /// the runtime, whose I/O driver then reads what has arrived (an idle
    /// connection is polled by nobody, so without this turn data the server
    /// sent meanwhile would go unseen), and polls the connection.
    pub(crate) fn is_alive(&mut self) -> bool {
        let connection = &mut self.connection;
        let mut yielded = false;
        self.runtime.block_on(poll_fn(|cx| {
            // An error here ends the connection, which is all we ask.
            let _ = Self::drive(connection, cx);
            if connection.is_none() || yielded {
                return Poll::Ready(());
            }
            yielded = true;
            // Woken at once: the runtime turns its I/O driver without
            // blocking, then polls again.
            cx.waker().wake_by_ref();
            Poll::Pending
        }));
        self.connection.is_some()
    }
}
