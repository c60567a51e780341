//! A BTP 2.0 over WebSocket shell around a [`Connector`] (feature
//! `websocket`), on tungstenite's blocking API. Thin on purpose: it reads
//! the clock, moves bytes between sockets and [`Link`]s, and hands every
//! decision to the connector.
//!
//! - Peers connect as WebSocket clients (`ilp-plugin-btp` with
//!   `server: "btp+ws://USER:TOKEN@HOST:PORT"`) and authenticate with the
//!   BTP auth Message (`auth`, `auth_username`, `auth_token`); we answer
//!   with an empty Response, or an Error and close.
//! - One thread per connection; each reads with a short timeout and, in
//!   between, writes what other connections queued for it (a Prepare to
//!   forward, a Fulfill or Reject to pass back).
//! - One timer thread runs [`Connector::handle_timeouts`].
//! - A Prepare routed to a peer that is not connected is rejected at once
//!   with `T01` Peer Unreachable.
//!
//! Loopback is the only thing tested; there is no TLS (put a TLS
//! terminator in front of it).

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tally_ilp::{ErrorCode, Mode, btp2};
use tally_store::Store;
use tungstenite::{Message, WebSocket};

use crate::account::AccountId;
use crate::connector::{Connector, OutgoingPrepare, PrepareOutcome, Resolved};
use crate::forward::{RejectReason, Upstream};
use crate::wire::{Family, Link, LinkEvent};

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;

/// A peer allowed to connect: its BTP credentials and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuth {
    /// The `auth_username` it sends (may be empty).
    pub username: String,
    /// The `auth_token` it must send.
    pub token: String,
    /// The account it is.
    pub account: AccountId,
}

enum Command {
    Prepare(OutgoingPrepare),
    Reply([u8; 16], Upstream),
}

struct Shared<S> {
    connector: Arc<Connector<S>>,
    peers: Vec<PeerAuth>,
    outboxes: Mutex<BTreeMap<AccountId, Sender<Command>>>,
    stop: AtomicBool,
    poll: Duration,
}

/// A running server; [`ServerHandle::stop`] ends it.
#[derive(Debug)]
pub struct ServerHandle {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, closes every connection and waits for the threads.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.address);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    for chunk in seed.chunks_exact_mut(8) {
        chunk.copy_from_slice(&RandomState::new().build_hasher().finish().to_be_bytes());
    }
    seed
}

/// Serves `connector` over BTP 2.0 on WebSocket at `listen` (use port 0 for
/// any free port) for `peers`, in background threads.
///
/// # Errors
/// The listener's I/O errors.
pub fn serve<S: Store + 'static>(
    connector: Arc<Connector<S>>,
    listen: SocketAddr,
    peers: Vec<PeerAuth>,
) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(listen)?;
    let address = listener.local_addr()?;
    let shared = Arc::new(Shared {
        connector,
        peers,
        outboxes: Mutex::new(BTreeMap::new()),
        stop: AtomicBool::new(false),
        poll: Duration::from_millis(10),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let timer = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match shared.connector.handle_timeouts(now_ms()) {
                    Ok(resolved) => {
                        for resolved in resolved {
                            send_upstream(&shared, resolved);
                        }
                    }
                    Err(error) => eprintln!("btp: timeouts: {error}"),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            shared.stop.store(true, Ordering::SeqCst);
        })
    };
    let acceptor = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut connections: Vec<JoinHandle<()>> = Vec::new();
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                connections.retain(|c| !c.is_finished());
                let Ok(stream) = stream else { continue };
                if connections.len() >= MAX_CONNECTIONS {
                    continue;
                }
                let shared = shared.clone();
                connections.push(std::thread::spawn(move || {
                    if let Err(error) = connection(&shared, stream) {
                        eprintln!("btp: connection ended: {error}");
                    }
                }));
            }
            shared.stop.store(true, Ordering::SeqCst);
            for connection in connections {
                let _ = connection.join();
            }
        })
    };
    Ok(ServerHandle {
        address,
        stop,
        threads: vec![acceptor, timer],
    })
}

fn send_upstream<S: Store>(shared: &Shared<S>, resolved: Resolved) {
    if let Resolved::Upstream {
        from,
        incoming_transfer_id,
        reply,
        ..
    } = resolved
    {
        let outboxes = shared.outboxes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(outbox) = outboxes.get(&from) {
            let _ = outbox.send(Command::Reply(incoming_transfer_id, reply));
        }
    }
}

fn is_timeout(error: &tungstenite::Error) -> bool {
    matches!(error, tungstenite::Error::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
}

type Ws = WebSocket<TcpStream>;

fn write(ws: &mut Ws, bytes: bytes::Bytes) -> Result<(), tungstenite::Error> {
    ws.send(Message::Binary(bytes))
}

/// Reads the auth Message and answers it; the authenticated account.
fn authenticate<S: Store>(shared: &Shared<S>, ws: &mut Ws, link_address: &[u8]) -> Result<AccountId, String> {
    let deadline = now_ms() + 10_000;
    let bytes = loop {
        match ws.read() {
            Ok(Message::Binary(bytes)) => break bytes,
            Ok(Message::Close(_)) => return Err("closed before auth".into()),
            Ok(_) => {}
            Err(error) if is_timeout(&error) && now_ms() < deadline => {}
            Err(error) => return Err(error.to_string()),
        }
    };
    let btp2::Packet::Message(message) = btp2::Packet::decode(&bytes, Mode::Lenient).map_err(|e| e.to_string())? else {
        return Err("the first packet must be the auth Message".into());
    };
    let text = |name: &[u8]| {
        message
            .protocol_data
            .get(name)
            .map(|e| String::from_utf8_lossy(e.data).into_owned())
    };
    let (username, token) = (text(b"auth_username").unwrap_or_default(), text(b"auth_token"));
    let peer = shared
        .peers
        .iter()
        .find(|p| Some(&p.token) == token.as_ref() && (username.is_empty() || p.username == username));
    let link = Link::new(
        AccountId::new("auth").map_err(|e| e.to_string())?,
        Family::Btp2,
        link_address,
        [0; 32],
    );
    match peer {
        Some(peer) if message.protocol_data.iter().next().map(|e| e.protocol_name) == Some(&b"auth"[..]) => {
            let response = link.respond(message.request_id, &[]).map_err(|e| e.to_string())?;
            write(ws, response).map_err(|e| e.to_string())?;
            Ok(peer.account.clone())
        }
        _ => {
            let reason = RejectReason {
                code: ErrorCode::F00_BAD_REQUEST.0,
                triggered_by: link_address.to_vec(),
                message: "invalid auth_token".into(),
                data: Vec::new(),
            };
            let error = link
                .respond_error(message.request_id, &reason, now_ms())
                .map_err(|e| e.to_string())?;
            let _ = write(ws, error);
            let _ = ws.close(None);
            Err(format!("refused peer {username:?}"))
        }
    }
}

fn connection<S: Store>(shared: &Shared<S>, stream: TcpStream) -> Result<(), String> {
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(shared.poll)).map_err(|e| e.to_string())?;
    let mut ws = tungstenite::accept(stream).map_err(|e| e.to_string())?;
    let address = shared.connector.config().policy.address.clone();
    let account = authenticate(shared, &mut ws, &address)?;
    let (outbox, inbox): (Sender<Command>, Receiver<Command>) = channel();
    shared
        .outboxes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(account.clone(), outbox);
    let mut link = Link::new(account.clone(), Family::Btp2, &address, random_seed()).lenient();
    let result = serve_connection(shared, &mut ws, &mut link, &inbox);
    shared
        .outboxes
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&account);
    let _ = ws.close(None);
    let _ = ws.flush();
    result
}

fn serve_connection<S: Store>(
    shared: &Shared<S>,
    ws: &mut Ws,
    link: &mut Link,
    inbox: &Receiver<Command>,
) -> Result<(), String> {
    while !shared.stop.load(Ordering::SeqCst) {
        match ws.read() {
            Ok(Message::Binary(bytes)) => handle_bytes(shared, ws, link, &bytes)?,
            Ok(Message::Close(_)) => return Ok(()),
            Ok(_) => {}
            Err(error) if is_timeout(&error) => {}
            Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
            Err(error) => return Err(error.to_string()),
        }
        while let Ok(command) = inbox.try_recv() {
            let now = now_ms();
            let bytes = match command {
                Command::Prepare(out) => link.send_prepare(&out, now).map(Some),
                Command::Reply(transfer_id, reply) => link.send_reply(&transfer_id, &reply, now),
            };
            match bytes {
                Ok(Some(bytes)) => write(ws, bytes).map_err(|e| e.to_string())?,
                Ok(None) => {}
                Err(error) => eprintln!("btp: cannot encode for {}: {error}", link.account()),
            }
        }
        link.handle_timeout(now_ms());
        ws.flush()
            .or_else(|e| if is_timeout(&e) { Ok(()) } else { Err(e.to_string()) })?;
    }
    Ok(())
}

fn handle_bytes<S: Store>(shared: &Shared<S>, ws: &mut Ws, link: &mut Link, bytes: &[u8]) -> Result<(), String> {
    let now = now_ms();
    let received = match link.receive(bytes, now) {
        Ok(received) => received,
        Err(error) => {
            eprintln!("btp: bad packet from {}: {error}", link.account());
            return Ok(());
        }
    };
    for reply in received.replies {
        write(ws, reply).map_err(|e| e.to_string())?;
    }
    let connector = &shared.connector;
    for event in received.events {
        let outcome = match event {
            LinkEvent::Prepare(incoming) => match connector.handle_prepare(&incoming, now) {
                Ok(PrepareOutcome::Forward(out)) => {
                    let outboxes = shared.outboxes.lock().unwrap_or_else(PoisonError::into_inner);
                    match outboxes.get(&out.to) {
                        Some(outbox) if outbox.send(Command::Prepare(out.clone())).is_ok() => None,
                        _ => {
                            drop(outboxes);
                            let reason = RejectReason::ours(
                                &connector.config().policy,
                                ErrorCode::T01_PEER_UNREACHABLE,
                                "the next hop is not connected",
                            );
                            connector.handle_reject(&out.to, &out.transfer_id, reason, now).ok()
                        }
                    }
                }
                Ok(PrepareOutcome::Reply(reply)) => Some(Resolved::Upstream {
                    payment: crate::forward::PaymentId::of(&incoming.from, &incoming.transfer_id),
                    from: incoming.from.clone(),
                    incoming_transfer_id: incoming.transfer_id,
                    reply,
                }),
                Ok(PrepareOutcome::TimedOut) => None,
                Err(error) => {
                    eprintln!("btp: prepare from {}: {error}", incoming.from);
                    None
                }
            },
            LinkEvent::Fulfilled {
                transfer_id,
                fulfillment,
            } => connector
                .handle_fulfill(link.account(), &transfer_id, fulfillment, now)
                .ok(),
            LinkEvent::Rejected { transfer_id, reason } => {
                connector.handle_reject(link.account(), &transfer_id, reason, now).ok()
            }
            LinkEvent::Message { request_id, .. } => {
                // No side protocols are served here: an empty Response.
                let response = link.respond(request_id, &[]).map_err(|e| e.to_string())?;
                write(ws, response).map_err(|e| e.to_string())?;
                None
            }
            _ => None,
        };
        if let Some(resolved) = outcome {
            // Replies to this peer go out directly, others through their outbox.
            match &resolved {
                Resolved::Upstream {
                    from,
                    incoming_transfer_id,
                    reply,
                    ..
                } if from == link.account() => {
                    if let Ok(Some(bytes)) = link.send_reply(incoming_transfer_id, reply, now) {
                        write(ws, bytes).map_err(|e| e.to_string())?;
                    }
                }
                _ => send_upstream(shared, resolved),
            }
        }
    }
    Ok(())
}
