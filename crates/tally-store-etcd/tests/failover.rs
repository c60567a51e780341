//! Which failures send a call on to the next member, and which end it.
//!
//! Most of these run against fake members: small HTTP servers on loopback
//! that answer the status and limit check of `connect` as etcd does, and
//! then fail in one chosen way, counting what they were sent. The last one
//! puts a member that refuses connections in front of the real cluster
//! `TALLY_ETCD_ENDPOINTS` names.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tally_store::{Batch, Store, StoreError};
use tally_store_etcd::{ConnectError, EtcdOptions, EtcdStore, RequestError};

/// How a fake member answers a request after `connect`'s.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Answer as a healthy member: every transaction succeeds, every read
    /// finds nothing.
    Healthy,
    /// Read the request, then close the connection without a word.
    HangUp,
    /// Answer with a gRPC error (code, message).
    Error(i32, &'static str),
}

struct FakeMember {
    port: u16,
    /// The paths of the requests after connect's, in order.
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

const STATUS: &str =
    r#"{"header":{"cluster_id":"77","member_id":"1","revision":"1","raft_term":"2"},"version":"3.4.23","leader":"1"}"#;

fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

fn answer(stream: &mut TcpStream, status: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

impl FakeMember {
    fn start(behaviour: Behaviour) -> FakeMember {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (Arc::clone(&requests), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut connected = false;
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let Some((path, body)) = read_request(&mut stream) else {
                    continue;
                };
                // connect: the status, then a read-only transaction of
                // compares (the limit check).
                let probe = path == "/v3/kv/txn" && !connected && !body.windows(9).any(|w| w == b"\"success\"");
                if path == "/v3/maintenance/status" || probe {
                    connected |= probe;
                    let body = if probe {
                        r#"{"header":{},"succeeded":true}"#
                    } else {
                        STATUS
                    };
                    answer(&mut stream, "200 OK", body);
                    continue;
                }
                seen.lock().unwrap().push(path.clone());
                match behaviour {
                    Behaviour::Healthy if path == "/v3/kv/txn" => {
                        answer(&mut stream, "200 OK", r#"{"header":{},"succeeded":true}"#)
                    }
                    Behaviour::Healthy => answer(&mut stream, "200 OK", r#"{"header":{}}"#),
                    Behaviour::HangUp => drop(stream),
                    Behaviour::Error(code, message) => answer(
                        &mut stream,
                        "503 Service Unavailable",
                        &format!(r#"{{"error":"{message}","message":"{message}","code":{code}}}"#),
                    ),
                }
            }
        });
        FakeMember { port, requests, stop }
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeMember {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn options() -> EtcdOptions {
    EtcdOptions {
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(2),
        failover_window: Duration::from_secs(2),
        ..EtcdOptions::default()
    }
}

fn a_write() -> Batch {
    let mut batch = Batch::new();
    batch.put(b"k", b"v".to_vec());
    batch
}

fn request_error(error: &StoreError) -> &RequestError {
    match error {
        StoreError::Backend { source, .. } => source.downcast_ref::<RequestError>().expect("a RequestError"),
        other => panic!("expected StoreError::Backend, got {other:?}"),
    }
}

#[test]
fn a_commit_whose_answer_is_lost_is_not_sent_again() {
    let dropping = FakeMember::start(Behaviour::HangUp);
    let healthy = FakeMember::start(Behaviour::Healthy);
    let store = EtcdStore::connect_with(&format!("{},{}", dropping.endpoint(), healthy.endpoint()), options()).unwrap();
    let error = store.commit(a_write()).unwrap_err();
    let request = request_error(&error);
    assert!(matches!(request, RequestError::NoAnswer { .. }), "{request:?}");
    assert!(request.outcome_unknown(), "the member may have applied it");
    assert_eq!(dropping.requests(), ["/v3/kv/txn"], "sent once");
    assert!(healthy.requests().is_empty(), "and to no other member");
}

#[test]
fn a_commit_refused_for_want_of_a_leader_goes_to_the_next_member() {
    let leaderless = FakeMember::start(Behaviour::Error(14, "etcdserver: no leader"));
    let healthy = FakeMember::start(Behaviour::Healthy);
    let store =
        EtcdStore::connect_with(&format!("{},{}", leaderless.endpoint(), healthy.endpoint()), options()).unwrap();
    store.commit(a_write()).unwrap();
    assert_eq!(leaderless.requests(), ["/v3/kv/txn"]);
    assert_eq!(healthy.requests(), ["/v3/kv/txn"]);
    // The next call starts at the member that worked.
    store.commit(a_write()).unwrap();
    assert_eq!(leaderless.requests().len(), 1);
}

#[test]
fn a_commit_that_timed_out_in_etcd_is_not_sent_again() {
    let slow = FakeMember::start(Behaviour::Error(14, "etcdserver: request timed out"));
    let healthy = FakeMember::start(Behaviour::Healthy);
    let store = EtcdStore::connect_with(&format!("{},{}", slow.endpoint(), healthy.endpoint()), options()).unwrap();
    let error = store.commit(a_write()).unwrap_err();
    assert!(request_error(&error).outcome_unknown());
    assert_eq!(slow.requests().len(), 1);
    assert!(healthy.requests().is_empty());
}

#[test]
fn a_read_whose_answer_is_lost_is_sent_to_the_next_member() {
    let dropping = FakeMember::start(Behaviour::HangUp);
    let healthy = FakeMember::start(Behaviour::Healthy);
    let store = EtcdStore::connect_with(&format!("{},{}", dropping.endpoint(), healthy.endpoint()), options()).unwrap();
    assert_eq!(store.get(b"k").unwrap(), None);
    assert_eq!(dropping.requests(), ["/v3/kv/range"]);
    assert_eq!(healthy.requests(), ["/v3/kv/range"]);
}

#[test]
fn when_every_member_refuses_the_call_gives_up_within_the_failover_window() {
    let one = FakeMember::start(Behaviour::Error(14, "etcdserver: no leader"));
    let two = FakeMember::start(Behaviour::Error(14, "etcdserver: no leader"));
    let store = EtcdStore::connect_with(&format!("{},{}", one.endpoint(), two.endpoint()), options()).unwrap();
    let error = store.commit(a_write()).unwrap_err();
    match request_error(&error) {
        RequestError::GaveUp { tries, last } => {
            assert!(*tries >= 2, "both members were tried ({tries})");
            assert!(matches!(**last, RequestError::NotTaken { .. }), "{last:?}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(!request_error(&error).outcome_unknown(), "no member took it");
    assert!(!one.requests().is_empty() && !two.requests().is_empty());
}

#[test]
fn a_commit_to_a_member_that_went_away_goes_to_the_next_member() {
    let going = FakeMember::start(Behaviour::Healthy);
    let healthy = FakeMember::start(Behaviour::Healthy);
    let store = EtcdStore::connect_with(&format!("{},{}", going.endpoint(), healthy.endpoint()), options()).unwrap();
    // Calls start at the first member; now it stops listening.
    let port = going.port;
    drop(going);
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    store.commit(a_write()).unwrap();
    assert_eq!(healthy.requests(), ["/v3/kv/txn"]);
}

#[test]
fn connecting_when_no_member_answers_lists_every_endpoint() {
    let closed = [support::free_port(), support::free_port()];
    let endpoints = format!("127.0.0.1:{},127.0.0.1:{}", closed[0], closed[1]);
    match EtcdStore::connect_with(&endpoints, options()) {
        Err(ConnectError::Unreachable { failures }) => {
            assert_eq!(failures.len(), 2);
            assert!(failures[0].0.ends_with(&closed[0].to_string()));
        }
        other => panic!("expected ConnectError::Unreachable, got {other:?}"),
    }
}

#[test]
fn a_member_that_refuses_connections_does_not_stop_the_store() {
    let Some(endpoints) = support::endpoints("a_member_that_refuses_connections_does_not_stop_the_store") else {
        return;
    };
    let dead = format!("127.0.0.1:{}", support::free_port());
    let temp = support::TempEtcd::with_options(
        &format!("{dead},{endpoints}"),
        support::options(support::unique_prefix("failover")),
    );
    let store = temp.store();
    for round in 0..3u8 {
        let mut batch = Batch::new();
        batch.put(b"k", vec![round]);
        store.commit(batch).unwrap();
        assert_eq!(store.get(b"k").unwrap().unwrap().value[..], [round]);
    }
}
