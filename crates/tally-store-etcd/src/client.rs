//! The HTTP side: one blocking keep-alive client for every member, the
//! member currently in use, and failover to the next one.
//!
//! Every call is a `POST` of JSON to a member's gateway with the
//! `hasleader` requirement (gRPC metadata, sent as a
//! `Grpc-Metadata-hasleader: true` header): a member that has lost its
//! leader refuses at once with "no leader" instead of queueing the request,
//! so the store moves on to a member that can serve it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::options::EtcdOptions;
use crate::wire::ErrorBody;

/// Tries of one store call, at most (each member is tried in turn, with a
/// pause after every round), whatever the failover window.
const MAX_TRIES: u32 = 64;

/// The first pause after a round of tries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The most bytes of an unexpected answer quoted in an error.
const MAX_QUOTED_BYTES: usize = 300;

/// gRPC's `InvalidArgument`.
const CODE_INVALID_ARGUMENT: i32 = 3;
/// gRPC's `Unavailable`.
const CODE_UNAVAILABLE: i32 = 14;

/// Why one request to etcd failed: the source of the
/// [`StoreError::Backend`](tally_store::StoreError::Backend) errors of this
/// crate (downcast the source to read it), and of
/// [`ConnectError::Unavailable`](crate::ConnectError::Unavailable).
///
/// [`outcome_unknown`](RequestError::outcome_unknown) says whether a failed
/// commit may have been applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The member could not be reached: it refused the connection, or
    /// connecting timed out. Nothing was sent.
    #[error("etcd member {endpoint} is unreachable: {reason}")]
    Unreachable {
        /// The member's base URL.
        endpoint: String,
        /// What the operating system or HTTP client said.
        reason: String,
    },
    /// The member refused the request without doing anything: it has no
    /// leader ("etcdserver: no leader"), its proposal was dropped during an
    /// election, or the cluster is overloaded ("too many requests") or out of
    /// space. Another member, or a later try, may succeed.
    #[error("etcd member {endpoint} did not take the request: {message}")]
    NotTaken {
        /// The member's base URL.
        endpoint: String,
        /// etcd's message.
        message: String,
    },
    /// The request was sent but no full answer came back (the connection
    /// broke, [`EtcdOptions::request_timeout`](crate::EtcdOptions::request_timeout)
    /// passed, etcd's own request timeout passed): **a commit may or may not
    /// have been applied**.
    #[error("no answer from etcd member {endpoint} (a commit may or may not have been applied): {reason}")]
    NoAnswer {
        /// The member's base URL.
        endpoint: String,
        /// What went wrong.
        reason: String,
    },
    /// The cluster refused the request itself: an argument etcd does not
    /// take, or a request larger than its `--max-request-bytes` or with more
    /// operations than its `--max-txn-ops` (then the declared
    /// [`EtcdLimits`](crate::EtcdLimits) are above the cluster's). Nothing
    /// was done, and the same request fails the same way everywhere.
    #[error("etcd member {endpoint} refused the request (gRPC code {code}): {message}")]
    Refused {
        /// The member's base URL.
        endpoint: String,
        /// The gRPC status code.
        code: i32,
        /// etcd's message.
        message: String,
    },
    /// The member answered with another error; a commit may or may not
    /// have been applied.
    #[error("etcd member {endpoint} answered HTTP {status} (gRPC code {code}): {message}")]
    Server {
        /// The member's base URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The gRPC status code (0 when the answer had none).
        code: i32,
        /// etcd's message, or the start of the answer.
        message: String,
    },
    /// The answer was longer than
    /// [`EtcdOptions::max_response_bytes`](crate::EtcdOptions::max_response_bytes).
    #[error("the answer of etcd member {endpoint} exceeds max_response_bytes ({max_bytes} bytes)")]
    ResponseTooLarge {
        /// The member's base URL.
        endpoint: String,
        /// The limit.
        max_bytes: u64,
    },
    /// The answer is not the JSON etcd's gateway writes.
    #[error("etcd member {endpoint} sent an answer this crate cannot read: {reason}")]
    Malformed {
        /// The member's base URL.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Every try within
    /// [`EtcdOptions::failover_window`](crate::EtcdOptions::failover_window)
    /// failed; `last` is the last failure. For a commit, every failure
    /// proved that nothing was done (else the store would have stopped at
    /// it).
    #[error("gave up after {tries} tries on the etcd members; last: {last}")]
    GaveUp {
        /// Requests sent (or attempted).
        tries: u32,
        /// The last failure.
        last: Box<RequestError>,
    },
}

impl RequestError {
    /// True when a commit that failed with this error may have been
    /// applied (the acknowledgement was lost): read before retrying it.
    /// False when the error proves that nothing was done.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            RequestError::Unreachable { .. } | RequestError::NotTaken { .. } | RequestError::Refused { .. } => false,
            RequestError::NoAnswer { .. }
            | RequestError::Server { .. }
            | RequestError::ResponseTooLarge { .. }
            | RequestError::Malformed { .. } => true,
            RequestError::GaveUp { last, .. } => last.outcome_unknown(),
        }
    }
}

/// Whether a request may be sent again after a failure that leaves its
/// outcome unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// It changes nothing: send it again, to any member.
    Read,
    /// It may change the store: send it again only after failures that
    /// prove it did nothing.
    Write,
}

/// What to do after one failed try.
fn may_retry(error: &RequestError, kind: Kind) -> bool {
    match error {
        RequestError::Unreachable { .. } | RequestError::NotTaken { .. } => true,
        RequestError::NoAnswer { .. } => kind == Kind::Read,
        RequestError::Server { code, .. } => kind == Kind::Read && *code == CODE_UNAVAILABLE,
        RequestError::Refused { .. }
        | RequestError::ResponseTooLarge { .. }
        | RequestError::Malformed { .. }
        | RequestError::GaveUp { .. } => false,
    }
}

/// Messages etcd answers when it refused a request before proposing it
/// (so nothing was done).
const NOT_TAKEN_MESSAGES: &[&str] = &[
    "etcdserver: no leader",
    "etcdserver: too many requests",
    "etcdserver: not capable",
    "raft proposal dropped",
    "etcdserver: mvcc: database space exceeded",
];

/// Messages for requests refused as too large, whatever code carries them.
const TOO_LARGE_MESSAGES: &[&str] = &["etcdserver: request is too large", "received message larger than max"];

/// An error answer (HTTP status other than 200) as a [`RequestError`].
fn classify_answer(endpoint: &str, status: u16, body: &[u8], kind: Kind) -> RequestError {
    let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) else {
        return RequestError::Server {
            endpoint: endpoint.to_owned(),
            status,
            code: 0,
            message: quote(body),
        };
    };
    let message = if parsed.message.is_empty() {
        parsed.error
    } else {
        parsed.message
    };
    let endpoint = endpoint.to_owned();
    if NOT_TAKEN_MESSAGES.iter().any(|known| message.contains(known)) {
        return RequestError::NotTaken { endpoint, message };
    }
    let too_large = TOO_LARGE_MESSAGES.iter().any(|known| message.contains(known));
    // A request too large for the server comes back as InvalidArgument
    // (etcd's own check) or ResourceExhausted (gRPC's message limit).
    if parsed.code == CODE_INVALID_ARGUMENT || too_large {
        return RequestError::Refused {
            endpoint,
            code: parsed.code,
            message,
        };
    }
    // A read refused for unavailability ("leader changed", "request timed
    // out") did nothing; a write's fate is unknown, as for any other error.
    if parsed.code == CODE_UNAVAILABLE && kind == Kind::Read {
        return RequestError::NotTaken { endpoint, message };
    }
    RequestError::Server {
        endpoint,
        status,
        code: parsed.code,
        message,
    }
}

/// A transport failure as a [`RequestError`]: failures to connect are
/// [`RequestError::Unreachable`] (nothing was sent); any other leaves the
/// outcome unknown.
fn classify_transport(endpoint: &str, error: ureq::Error) -> RequestError {
    let endpoint = endpoint.to_owned();
    let before_sending = match &error {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable
                | std::io::ErrorKind::NetworkDown
                | std::io::ErrorKind::AddrNotAvailable
        ),
        ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed => true,
        _ => false,
    };
    if before_sending {
        RequestError::Unreachable {
            endpoint,
            reason: error.to_string(),
        }
    } else {
        RequestError::NoAnswer {
            endpoint,
            reason: error.to_string(),
        }
    }
}

fn quote(body: &[u8]) -> String {
    let end = body.len().min(MAX_QUOTED_BYTES);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// Blocking HTTP/1.1 to the members, with failover.
pub(crate) struct Client {
    agent: ureq::Agent,
    endpoints: Vec<String>,
    /// Index (into `endpoints`) of the member calls go to first.
    current: AtomicUsize,
    failover_window: Duration,
    max_response_bytes: u64,
}

impl Client {
    pub(crate) fn new(endpoints: Vec<String>, options: &EtcdOptions) -> Self {
        debug_assert!(!endpoints.is_empty(), "parse_endpoints returns at least one");
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The members are named by the host; an HTTP(S)_PROXY in the
            // environment must not reroute them.
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(options.connect_timeout))
            // Each phase of an exchange is bounded by the request timeout.
            // Not ureq's global (or per-call) timeout: measured here, it
            // adds about half a millisecond to every request, as much as a
            // read of etcd costs on loopback.
            .timeout_send_request(Some(options.request_timeout))
            .timeout_send_body(Some(options.request_timeout))
            .timeout_recv_response(Some(options.request_timeout))
            .timeout_recv_body(Some(options.request_timeout))
            .max_idle_connections(options.max_idle_connections.saturating_mul(endpoints.len()))
            .max_idle_connections_per_host(options.max_idle_connections)
            .user_agent("tally-store-etcd")
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            endpoints,
            current: AtomicUsize::new(0),
            failover_window: options.failover_window,
            max_response_bytes: options.max_response_bytes,
        }
    }

    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// Makes `index` the member calls go to first.
    pub(crate) fn prefer(&self, index: usize) {
        self.current.store(index % self.endpoints.len(), Ordering::Relaxed);
    }

    /// One request to one member, no failover.
    pub(crate) fn call_member<T: DeserializeOwned>(
        &self,
        index: usize,
        path: &str,
        body: &[u8],
        kind: Kind,
    ) -> Result<T, RequestError> {
        let endpoint = &self.endpoints[index % self.endpoints.len()];
        let answer = self.post(endpoint, path, body, kind)?;
        serde_json::from_slice(&answer).map_err(|error| RequestError::Malformed {
            endpoint: endpoint.clone(),
            reason: format!("{error}: {}", quote(&answer)),
        })
    }

    /// A request to the current member, moving on to the next one after
    /// failures that allow it (see [`Kind`]) until the failover window or
    /// [`MAX_TRIES`] runs out.
    pub(crate) fn call<T: DeserializeOwned>(&self, path: &str, body: &[u8], kind: Kind) -> Result<T, RequestError> {
        let started = Instant::now();
        let members = self.endpoints.len();
        let mut tries = 0u32;
        loop {
            let index = self.current.load(Ordering::Relaxed) % members;
            let error = match self.call_member(index, path, body, kind) {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            tries += 1;
            // Whatever happened, the next call starts at the next member
            // (unless another thread moved on already).
            if !matches!(
                error,
                RequestError::Refused { .. } | RequestError::ResponseTooLarge { .. }
            ) {
                let _ =
                    self.current
                        .compare_exchange(index, (index + 1) % members, Ordering::Relaxed, Ordering::Relaxed);
            }
            if !may_retry(&error, kind) {
                return Err(error);
            }
            let elapsed = started.elapsed();
            if tries >= MAX_TRIES || elapsed >= self.failover_window {
                return Err(RequestError::GaveUp {
                    tries,
                    last: Box::new(error),
                });
            }
            if tries.is_multiple_of(members as u32) {
                let round = tries / members as u32;
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1u32 << round.min(8))
                    .min(MAX_BACKOFF)
                    .min(self.failover_window - elapsed);
                std::thread::sleep(backoff);
            }
        }
    }

    fn post(&self, endpoint: &str, path: &str, body: &[u8], kind: Kind) -> Result<Vec<u8>, RequestError> {
        let url = format!("{endpoint}{path}");
        let mut response = self
            .agent
            .post(&url)
            .header("Grpc-Metadata-hasleader", "true")
            .content_type("application/json")
            .send(body)
            .map_err(|error| classify_transport(endpoint, error))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .with_config()
            .limit(self.max_response_bytes)
            .read_to_vec()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(_) => RequestError::ResponseTooLarge {
                    endpoint: endpoint.to_owned(),
                    max_bytes: self.max_response_bytes,
                },
                other => RequestError::NoAnswer {
                    endpoint: endpoint.to_owned(),
                    reason: format!("reading the answer: {other}"),
                },
            })?;
        if status == 200 {
            Ok(answer)
        } else {
            Err(classify_answer(endpoint, status, &answer, kind))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(code: i32, message: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"error": message, "message": message, "code": code})).unwrap()
    }

    #[test]
    fn refusals_before_a_proposal_prove_nothing_was_done() {
        for message in [
            "etcdserver: no leader",
            "etcdserver: too many requests",
            "raft proposal dropped",
        ] {
            let error = classify_answer("http://m", 503, &answer(14, message), Kind::Write);
            assert!(matches!(error, RequestError::NotTaken { .. }), "{message}: {error:?}");
            assert!(!error.outcome_unknown());
            assert!(may_retry(&error, Kind::Write));
        }
    }

    #[test]
    fn a_timed_out_write_has_an_unknown_outcome_and_is_not_resent() {
        let error = classify_answer(
            "http://m",
            503,
            &answer(14, "etcdserver: request timed out"),
            Kind::Write,
        );
        assert!(matches!(error, RequestError::Server { code: 14, .. }), "{error:?}");
        assert!(error.outcome_unknown());
        assert!(!may_retry(&error, Kind::Write));
        // The same answer to a read is retried elsewhere.
        let read = classify_answer(
            "http://m",
            503,
            &answer(14, "etcdserver: request timed out"),
            Kind::Read,
        );
        assert!(may_retry(&read, Kind::Read));
    }

    #[test]
    fn limit_refusals_are_refused_requests() {
        for (code, message) in [
            (3, "etcdserver: too many operations in txn request"),
            (3, "etcdserver: request is too large"),
            (8, "grpc: received message larger than max (2097162 vs. 2097152)"),
        ] {
            let error = classify_answer("http://m", 400, &answer(code, message), Kind::Write);
            assert!(matches!(error, RequestError::Refused { .. }), "{message}: {error:?}");
            assert!(!error.outcome_unknown());
            assert!(!may_retry(&error, Kind::Read));
        }
    }

    #[test]
    fn an_answer_that_is_not_json_is_quoted() {
        let error = classify_answer("http://m", 404, b"404 page not found\n", Kind::Read);
        assert_eq!(
            error.to_string(),
            "etcd member http://m answered HTTP 404 (gRPC code 0): 404 page not found\n"
        );
    }
}
