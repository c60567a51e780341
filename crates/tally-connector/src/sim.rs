//! An in-memory network for tests and demos: senders, connectors and
//! receivers exchanging real encoded bytes through [`Link`]s, with a
//! simulated clock. Deterministic: the same calls give the same run.
//!
//! ```
//! use tally_connector::sim::{Network, Payment};
//! use tally_connector::wire::Family;
//!
//! let mut net = Network::new(0);
//! let sender = net.add_sender("alice");
//! let hub = net.add_connector("test.hub").unwrap();
//! let bob = net.add_receiver("test.bob");
//! net.connect(sender, hub, Family::Btp2, 0).unwrap();
//! net.connect(hub, bob, Family::Btp2, 1_000).unwrap();
//! net.route(hub, b"test.bob", bob).unwrap();
//! let result = net.pay(sender, &Payment::new(100, "test.bob.x", 10_000)).unwrap();
//! assert!(result.fulfilled);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tally_ilp::{Mode, btp2, clp, ilp4, legacy};
use tally_store::MemStore;

use crate::account::{AccountConfig, AccountId, WorkerId};
use crate::connector::{Connector, ConnectorConfig, OutgoingPrepare, PrepareOutcome, Resolved};
use crate::error::ConnectorError;
use crate::forward::{PaymentId, Upstream};
use crate::routing::LiquidityCurve;
use crate::wire::{Family, Link, LinkEvent};

/// A node's index in a [`Network`].
pub type NodeId = usize;

/// The most packets one [`Network::run`] delivers (a loop guard).
pub const MAX_DELIVERIES_PER_RUN: usize = 100_000;

enum Role {
    Sender,
    Connector(Arc<Connector<MemStore>>),
    /// Fulfills Prepares whose destination does not contain `hold`.
    Receiver,
}

struct Node {
    name: String,
    role: Role,
    /// Links by peer node.
    links: BTreeMap<NodeId, Link>,
}

/// A payment for [`Network::pay`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The amount the sender sends.
    pub amount: u64,
    /// The destination address.
    pub destination: String,
    /// How long until it expires, ms.
    pub ttl_ms: u64,
}

impl Payment {
    /// A payment of `amount` to `destination`, expiring in `ttl_ms`.
    pub fn new(amount: u64, destination: &str, ttl_ms: u64) -> Self {
        Payment {
            amount,
            destination: destination.to_owned(),
            ttl_ms,
        }
    }
}

/// How a payment ended at the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentResult {
    /// Whether a correct fulfillment came back.
    pub fulfilled: bool,
    /// The reject code, if rejected.
    pub code: Option<String>,
    /// Who rejected it.
    pub triggered_by: Option<String>,
}

/// An in-memory network. See the [module docs](self).
pub struct Network {
    now_ms: u64,
    nodes: Vec<Node>,
    queue: VecDeque<(NodeId, NodeId, Bytes)>,
    /// One line per delivered packet.
    pub hops: Vec<String>,
    results: BTreeMap<[u8; 16], PaymentResult>,
    /// Condition → fulfillment, known to every receiver (the end-to-end secret).
    secrets: BTreeMap<[u8; 32], [u8; 32]>,
    payments_sent: u64,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("now_ms", &self.now_ms)
            .field("nodes", &self.nodes.iter().map(|n| &n.name).collect::<Vec<_>>())
            .finish()
    }
}

/// Destinations containing this segment are held by receivers (never answered).
pub const HOLD_SEGMENT: &str = ".hold";

fn seed(label: &str, a: NodeId, b: NodeId) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(label.as_bytes());
    hasher.update((a as u64).to_be_bytes());
    hasher.update((b as u64).to_be_bytes());
    hasher.finalize().into()
}

impl Network {
    /// An empty network whose clock starts at `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Network {
            now_ms,
            nodes: Vec::new(),
            queue: VecDeque::new(),
            hops: Vec::new(),
            results: BTreeMap::new(),
            secrets: BTreeMap::new(),
            payments_sent: 0,
        }
    }

    /// The simulated time.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn add(&mut self, name: &str, role: Role) -> NodeId {
        self.nodes.push(Node {
            name: name.to_owned(),
            role,
            links: BTreeMap::new(),
        });
        self.nodes.len() - 1
    }

    /// Adds a sender named `name` (an account name for its peers).
    pub fn add_sender(&mut self, name: &str) -> NodeId {
        self.add(name, Role::Sender)
    }

    /// Adds a receiver at ILP address `address`.
    pub fn add_receiver(&mut self, address: &str) -> NodeId {
        self.add(address, Role::Receiver)
    }

    /// Adds a connector at ILP address `address`, on its own MemStore.
    ///
    /// # Errors
    /// [`ConnectorError::InvalidConfig`] for a bad address.
    pub fn add_connector(&mut self, address: &str) -> Result<NodeId, ConnectorError> {
        let connector = Connector::new(
            MemStore::new(),
            WorkerId(0),
            ConnectorConfig::new(address.as_bytes().to_vec()),
        )?;
        Ok(self.add(address, Role::Connector(Arc::new(connector))))
    }

    /// The connector at node `id`.
    pub fn connector(&self, id: NodeId) -> Option<&Connector<MemStore>> {
        match &self.nodes.get(id)?.role {
            Role::Connector(connector) => Some(connector),
            _ => None,
        }
    }

    /// The account name node `id` goes by at its peers (its name, with
    /// dots made dashes).
    pub fn account_name(&self, id: NodeId) -> Result<AccountId, ConnectorError> {
        let name = self.nodes.get(id).map(|n| n.name.replace('.', "-")).unwrap_or_default();
        AccountId::new(name)
    }

    /// Links `a` and `b` with `family`. Where a side is a connector it
    /// opens an account for the other, and a connector `a` is credited
    /// `a_funds_with_b` with `b` (what it may send `b`).
    ///
    /// # Errors
    /// Unknown nodes; store errors.
    pub fn connect(&mut self, a: NodeId, b: NodeId, family: Family, a_funds_with_b: u64) -> Result<(), ConnectorError> {
        if a >= self.nodes.len() || b >= self.nodes.len() || a == b {
            return Err(ConnectorError::InvalidConfig {
                reason: "unknown nodes",
            });
        }
        let (name_a, name_b) = (self.account_name(a)?, self.account_name(b)?);
        for (me, peer, peer_name) in [(a, b, name_b.clone()), (b, a, name_a.clone())] {
            let address = self.nodes[me].name.clone();
            let link = Link::new(peer_name.clone(), family, address.as_bytes(), seed("link", me, peer));
            self.nodes[me].links.insert(peer, link);
            if let Role::Connector(connector) = &self.nodes[me].role {
                connector.open_account(&peer_name, AccountConfig::default())?;
                if me == a && a_funds_with_b > 0 {
                    let operation = seed("funds", a, b);
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&operation[..16]);
                    connector.credit(&peer_name, id, a_funds_with_b)?;
                }
            }
        }
        Ok(())
    }

    /// Makes connector `at` route `prefix` to its peer `via`.
    ///
    /// # Errors
    /// `at` not a connector; store errors.
    pub fn route(&mut self, at: NodeId, prefix: &[u8], via: NodeId) -> Result<(), ConnectorError> {
        let via_name = self.account_name(via)?;
        let connector = self.connector(at).ok_or(ConnectorError::InvalidConfig {
            reason: "not a connector",
        })?;
        connector.announce_route(prefix, &via_name, LiquidityCurve::identity())
    }

    /// Sends `payment` from `sender` through its first link and runs the
    /// network until it is quiet; the result, if one came back.
    ///
    /// # Errors
    /// Encoding and store errors.
    pub fn pay(&mut self, sender: NodeId, payment: &Payment) -> Result<PaymentResult, ConnectorError> {
        let transfer_id = self.send(sender, payment)?;
        self.run()?;
        Ok(self.result(&transfer_id).unwrap_or(PaymentResult {
            fulfilled: false,
            code: None,
            triggered_by: None,
        }))
    }

    /// Sends `payment` without running the network; returns its transfer id.
    ///
    /// # Errors
    /// Encoding errors; a sender without links.
    pub fn send(&mut self, sender: NodeId, payment: &Payment) -> Result<[u8; 16], ConnectorError> {
        self.payments_sent += 1;
        let mut fulfillment = [0u8; 32];
        fulfillment.copy_from_slice(&seed("fulfillment", sender, self.payments_sent as usize));
        let condition = ilp4::fulfillment_to_condition(&fulfillment);
        self.secrets.insert(condition, fulfillment);
        let mut transfer_id = [0u8; 16];
        transfer_id.copy_from_slice(&seed("payment", sender, self.payments_sent as usize)[..16]);
        let now_ms = self.now_ms;
        let node = self.nodes.get_mut(sender).ok_or(ConnectorError::InvalidConfig {
            reason: "unknown sender",
        })?;
        let (&peer, link) = node.links.iter_mut().next().ok_or(ConnectorError::InvalidConfig {
            reason: "sender has no link",
        })?;
        let out = OutgoingPrepare {
            payment: PaymentId([0; 32]),
            to: link.account().clone(),
            transfer_id,
            amount: payment.amount,
            expires_at_ms: now_ms.saturating_add(payment.ttl_ms),
            execution_condition: condition,
            destination: payment.destination.as_bytes().to_vec(),
            data: Vec::new(),
        };
        let bytes = link.send_prepare(&out, now_ms)?;
        self.queue.push_back((sender, peer, bytes));
        Ok(transfer_id)
    }

    /// How the payment with `transfer_id` ended at its sender, if it has.
    pub fn result(&self, transfer_id: &[u8; 16]) -> Option<PaymentResult> {
        self.results.get(transfer_id).cloned()
    }

    /// Moves the clock on by `ms`, fires every connector's timers and runs.
    ///
    /// # Errors
    /// Encoding and store errors.
    pub fn advance(&mut self, ms: u64) -> Result<(), ConnectorError> {
        self.now_ms = self.now_ms.saturating_add(ms);
        for id in 0..self.nodes.len() {
            let resolved = match &self.nodes[id].role {
                Role::Connector(connector) => connector.clone().handle_timeouts(self.now_ms)?,
                _ => Vec::new(),
            };
            for resolved in resolved {
                self.reply_upstream(id, resolved)?;
            }
            for link in self.nodes[id].links.values_mut() {
                link.handle_timeout(self.now_ms);
            }
        }
        self.run()
    }

    /// Delivers queued packets until none are left.
    ///
    /// # Errors
    /// Encoding, decoding and store errors.
    pub fn run(&mut self) -> Result<(), ConnectorError> {
        for _ in 0..MAX_DELIVERIES_PER_RUN {
            let Some((from, to, bytes)) = self.queue.pop_front() else {
                return Ok(());
            };
            self.deliver(from, to, &bytes)?;
        }
        Err(ConnectorError::Limit {
            what: "deliveries per run",
            max: MAX_DELIVERIES_PER_RUN as u64,
        })
    }

    fn deliver(&mut self, from: NodeId, to: NodeId, bytes: &[u8]) -> Result<(), ConnectorError> {
        let now_ms = self.now_ms;
        let family = self.nodes[to].links.get(&from).map(Link::family);
        self.hops.push(format!(
            "t={now_ms:>6}ms {} -> {}: {}",
            self.nodes[from].name,
            self.nodes[to].name,
            describe(family, bytes)
        ));
        let link = self.nodes[to]
            .links
            .get_mut(&from)
            .ok_or(ConnectorError::InvalidConfig { reason: "no such link" })?;
        let received = link.receive(bytes, now_ms)?;
        for reply in received.replies {
            self.queue.push_back((to, from, reply));
        }
        for event in received.events {
            self.handle_event(to, from, event)?;
        }
        Ok(())
    }

    fn handle_event(&mut self, at: NodeId, from: NodeId, event: LinkEvent) -> Result<(), ConnectorError> {
        let now_ms = self.now_ms;
        enum Kind {
            Connector(Arc<Connector<MemStore>>),
            Sender,
            Receiver,
        }
        let kind = match &self.nodes[at].role {
            Role::Connector(connector) => Kind::Connector(connector.clone()),
            Role::Sender => Kind::Sender,
            Role::Receiver => Kind::Receiver,
        };
        match (kind, event) {
            (Kind::Connector(connector), LinkEvent::Prepare(incoming)) => {
                match connector.handle_prepare(&incoming, now_ms)? {
                    PrepareOutcome::Forward(out) => {
                        let next = self.node_by_account(at, &out.to)?;
                        let link = self.link(at, next)?;
                        let bytes = link.send_prepare(&out, now_ms)?;
                        self.queue.push_back((at, next, bytes));
                    }
                    PrepareOutcome::Reply(reply) => {
                        let link = self.link(at, from)?;
                        if let Some(bytes) = link.send_reply(&incoming.transfer_id, &reply, now_ms)? {
                            self.queue.push_back((at, from, bytes));
                        }
                    }
                    PrepareOutcome::TimedOut => {}
                }
            }
            (
                Kind::Connector(connector),
                LinkEvent::Fulfilled {
                    transfer_id,
                    fulfillment,
                },
            ) => {
                let account = self.account_name(from)?;
                let resolved = connector.handle_fulfill(&account, &transfer_id, fulfillment, now_ms)?;
                self.reply_upstream(at, resolved)?;
            }
            (Kind::Connector(connector), LinkEvent::Rejected { transfer_id, reason }) => {
                let account = self.account_name(from)?;
                let resolved = connector.handle_reject(&account, &transfer_id, reason, now_ms)?;
                self.reply_upstream(at, resolved)?;
            }
            (Kind::Receiver, LinkEvent::Prepare(incoming)) => {
                let held = String::from_utf8_lossy(&incoming.destination).contains(HOLD_SEGMENT);
                if !held {
                    let reply = match self.secrets.get(&incoming.execution_condition) {
                        Some(fulfillment) => Upstream::Fulfill {
                            fulfillment: *fulfillment,
                        },
                        None => Upstream::Reject(crate::forward::RejectReason {
                            code: tally_ilp::ErrorCode::F06_UNEXPECTED_PAYMENT.0,
                            triggered_by: self.nodes[at].name.as_bytes().to_vec(),
                            message: "unknown condition".into(),
                            data: Vec::new(),
                        }),
                    };
                    let link = self.link(at, from)?;
                    if let Some(bytes) = link.send_reply(&incoming.transfer_id, &reply, now_ms)? {
                        self.queue.push_back((at, from, bytes));
                    }
                }
            }
            (
                Kind::Sender,
                LinkEvent::Fulfilled {
                    transfer_id,
                    fulfillment,
                },
            ) => {
                let known = self
                    .secrets
                    .get(&ilp4::fulfillment_to_condition(&fulfillment))
                    .is_some_and(|f| *f == fulfillment);
                self.results.entry(transfer_id).or_insert(PaymentResult {
                    fulfilled: known,
                    code: None,
                    triggered_by: None,
                });
            }
            (Kind::Sender, LinkEvent::Rejected { transfer_id, reason }) => {
                self.results.entry(transfer_id).or_insert(PaymentResult {
                    fulfilled: false,
                    code: Some(reason.code_str()),
                    triggered_by: Some(String::from_utf8_lossy(&reason.triggered_by).into_owned()),
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn reply_upstream(&mut self, at: NodeId, resolved: Resolved) -> Result<(), ConnectorError> {
        if let Resolved::Upstream {
            from,
            incoming_transfer_id,
            reply,
            ..
        } = resolved
        {
            let previous = self.node_by_account(at, &from)?;
            let now_ms = self.now_ms;
            let link = self.link(at, previous)?;
            if let Some(bytes) = link.send_reply(&incoming_transfer_id, &reply, now_ms)? {
                self.queue.push_back((at, previous, bytes));
            }
        }
        Ok(())
    }

    fn link(&mut self, at: NodeId, peer: NodeId) -> Result<&mut Link, ConnectorError> {
        self.nodes[at]
            .links
            .get_mut(&peer)
            .ok_or(ConnectorError::InvalidConfig { reason: "no such link" })
    }

    fn node_by_account(&self, at: NodeId, account: &AccountId) -> Result<NodeId, ConnectorError> {
        self.nodes[at]
            .links
            .iter()
            .find(|(_, link)| link.account() == account)
            .map(|(&peer, _)| peer)
            .ok_or_else(|| ConnectorError::UnknownAccount {
                account: account.clone(),
            })
    }

    /// Every connector's balance with each of its accounts:
    /// `connector address → account → balance`.
    ///
    /// # Errors
    /// Store errors.
    pub fn balances(&self) -> Result<BTreeMap<String, BTreeMap<String, i128>>, ConnectorError> {
        let mut out = BTreeMap::new();
        for node in &self.nodes {
            if let Role::Connector(connector) = &node.role {
                let mut accounts = BTreeMap::new();
                for &peer in node.links.keys() {
                    let account = self.account_name(peer)?;
                    accounts.insert(account.to_string(), connector.balances(&account)?.balance());
                }
                out.insert(node.name.clone(), accounts);
            }
        }
        Ok(out)
    }
}

/// One line about a packet, for the hop log.
pub fn describe(family: Option<Family>, bytes: &[u8]) -> String {
    let ilp4_text = |data: &[u8]| match ilp4::Packet::decode(data, Mode::Lenient) {
        Ok(ilp4::Packet::Prepare(p)) => format!(
            "ILPv4 Prepare {} to {}",
            p.amount,
            String::from_utf8_lossy(p.destination)
        ),
        Ok(ilp4::Packet::Fulfill(_)) => "ILPv4 Fulfill".to_owned(),
        Ok(ilp4::Packet::Reject(r)) => {
            format!("ILPv4 Reject {} by {}", r.code, String::from_utf8_lossy(r.triggered_by))
        }
        Err(e) => format!("undecodable ILPv4 ({e})"),
    };
    match family {
        Some(Family::Btp2) => match btp2::Packet::decode(bytes, Mode::Lenient) {
            Ok(btp2::Packet::Message(m)) => match m.protocol_data.get(b"ilp") {
                Some(entry) => format!("BTP Message #{} [{}]", m.request_id, ilp4_text(entry.data)),
                None => format!("BTP Message #{}", m.request_id),
            },
            Ok(btp2::Packet::Response(r)) => match r.protocol_data.get(b"ilp") {
                Some(entry) => format!("BTP Response #{} [{}]", r.request_id, ilp4_text(entry.data)),
                None => format!("BTP Response #{}", r.request_id),
            },
            Ok(other) => format!("BTP type {}", other.type_id()),
            Err(e) => format!("undecodable BTP ({e})"),
        },
        Some(Family::Clp) => match clp::Packet::decode(bytes, Mode::Lenient) {
            Ok(clp::Packet::Prepare(p)) => {
                let destination = p
                    .protocol_data
                    .get(b"ilp")
                    .and_then(|e| match legacy::Packet::decode(e.data, Mode::Lenient) {
                        Ok(legacy::Packet::IlpPayment(payment)) => {
                            Some(String::from_utf8_lossy(payment.account).into_owned())
                        }
                        _ => None,
                    })
                    .unwrap_or_default();
                format!("CLP Prepare #{} {} to {destination}", p.request_id, p.amount)
            }
            Ok(clp::Packet::Ack(a)) => format!("CLP Ack #{}", a.request_id),
            Ok(clp::Packet::Fulfill(f)) => format!("CLP Fulfill #{}", f.request_id),
            Ok(clp::Packet::Reject(r)) => {
                let code = r.rejection_reason().map(|e| e.code.to_string()).unwrap_or_default();
                format!("CLP Reject #{} [IlpError {code}]", r.request_id)
            }
            Ok(other) => format!("CLP type {}", other.type_id()),
            Err(e) => format!("undecodable CLP ({e})"),
        },
        None => format!("{} bytes", bytes.len()),
    }
}

/// The scenario of `examples/connector-demo.rs`:
///
/// ```text
/// alice --BTP 2.0 (ILPv4)--> test.c1 --CLP (legacy ILP)--> test.c2 --BTP 2.0 (ILPv4)--> test.bob
/// ```
///
/// test.c1 holds 1000 with test.c2, test.c2 holds 500 with test.bob. Three
/// payments: 100 (fulfilled over both hops), 600 (refused by test.c2 with
/// `T04`), and 50 that the receiver holds until test.c2's timer rejects it
/// with `R00`. Returns the network (hops, balances) and the three results.
///
/// # Errors
/// Encoding and store errors (none in practice: everything is in memory).
pub fn connector_demo() -> Result<(Network, Vec<PaymentResult>), ConnectorError> {
    let mut net = Network::new(1_505_392_496_000);
    let alice = net.add_sender("alice");
    let c1 = net.add_connector("test.c1")?;
    let c2 = net.add_connector("test.c2")?;
    let bob = net.add_receiver("test.bob");
    net.connect(alice, c1, Family::Btp2, 0)?;
    net.connect(c1, c2, Family::Clp, 1_000)?;
    net.connect(c2, bob, Family::Btp2, 500)?;
    net.route(c1, b"test.bob", c2)?;
    net.route(c2, b"test.bob", bob)?;
    let mut results = vec![
        net.pay(alice, &Payment::new(100, "test.bob.receiver", 30_000))?,
        net.pay(alice, &Payment::new(600, "test.bob.receiver", 30_000))?,
    ];
    let held = net.send(alice, &Payment::new(50, "test.bob.hold", 10_000))?;
    net.run()?;
    // test.c2's outgoing leg expires first (two 1 s margins before the sender's).
    net.advance(8_000)?;
    results.push(net.result(&held).unwrap_or(PaymentResult {
        fulfilled: false,
        code: None,
        triggered_by: None,
    }));
    Ok((net, results))
}

/// The demo's `--json` line, keys in the documented order:
/// `{"payments": [{"fulfilled": bool, "code": null | "T04" | ...}...], "balances": {connector: {account: balance}}}`.
pub fn report_json(results: &[PaymentResult], balances: &BTreeMap<String, BTreeMap<String, i128>>) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let payments: Vec<String> = results
        .iter()
        .map(|r| {
            let code = r.code.as_deref().map_or_else(|| "null".to_owned(), text);
            format!("{{\"fulfilled\": {}, \"code\": {code}}}", r.fulfilled)
        })
        .collect();
    let balances: Vec<String> = balances
        .iter()
        .map(|(connector, accounts)| {
            let accounts: Vec<String> = accounts
                .iter()
                .map(|(account, balance)| format!("{}: {balance}", text(account)))
                .collect();
            format!("{}: {{{}}}", text(connector), accounts.join(", "))
        })
        .collect();
    format!(
        "{{\"payments\": [{}], \"balances\": {{{}}}}}",
        payments.join(", "),
        balances.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_prints_exactly_the_documented_json() {
        let (net, results) = connector_demo().unwrap();
        let json = report_json(&results, &net.balances().unwrap());
        assert_eq!(
            json,
            r#"{"payments": [{"fulfilled": true, "code": null}, {"fulfilled": false, "code": "T04"}, {"fulfilled": false, "code": "R00"}], "balances": {"test.c1": {"alice": 100, "test-c2": 900}, "test.c2": {"test-bob": 400, "test-c1": 100}}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["payments"][2]["code"], "R00");
    }
}
