//! Bytes in and out, through tally-ilp: one [`Link`] per peer connection.
//! Pure: the host moves the bytes, the link turns them into
//! [`LinkEvent`]s for the [`Connector`](crate::Connector) and its answers
//! back into bytes.
//!
//! Two families:
//!
//! - [`Family::Btp2`] (today's peers): BTP 2.0 with an ILPv4 packet in the
//!   `ilp` protocol-data entry. A Prepare travels in a Message; its Fulfill
//!   or Reject comes back in the Response to that Message.
//! - [`Family::Clp`] (the seed's peers): CLP with a legacy ILP packet in the
//!   `ilp` entry. A Prepare carries the transfer (id, amount, condition,
//!   expiry) and an IlpPayment (destination, data); it is Acked at once and
//!   answered later by a Fulfill or Reject request of its own, which is
//!   Acked in turn. A Reject carries an IlpError. ILQP quote requests come
//!   in Messages ([`Link::answer_quote`]).
//!
//! ILPv4 has no end-to-end amount; a legacy IlpPayment does. When a
//! payment enters by BTP 2.0 and leaves by CLP, the IlpPayment carries the
//! outgoing hop's amount.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tally_ilp::{
    CONTENT_TYPE_OCTET_STREAM, Encode, ErrorCode, Mode, ProtocolData, ProtocolDataEntry, Timestamp, VarOctetsList,
    btp2, clp, ilp4, legacy,
};

use crate::account::AccountId;
use crate::connector::OutgoingPrepare;
use crate::error::ConnectorError;
use crate::forward::{IncomingPrepare, RejectReason, Upstream};
use crate::routing::RouteTable;
use crate::routing::quote::{self, QuoteAnswer, QuotePolicy};
use crate::tracking::{Handled, IgnoredReason, Reply, Tracker, Transfer, uuid_v4};

/// The protocol-data name that carries ILP packets.
pub const ILP_PROTOCOL: &[u8] = b"ilp";

/// The most incoming requests a link remembers awaiting our reply.
pub const MAX_AWAITING_REPLY: usize = 65_536;

/// Which wire format a link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// BTP 2.0 (RFC 23) with ILPv4 inside.
    Btp2,
    /// CLP (ilp-node's protocol) with legacy ILP inside.
    Clp,
}

/// A protocol-data entry, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The side protocol's name.
    pub protocol_name: Vec<u8>,
    /// The content type byte.
    pub content_type: u8,
    /// The payload.
    pub data: Vec<u8>,
}

impl Entry {
    /// An entry.
    pub fn new(protocol_name: &[u8], content_type: u8, data: impl Into<Vec<u8>>) -> Self {
        Entry {
            protocol_name: protocol_name.to_vec(),
            content_type,
            data: data.into(),
        }
    }
}

fn entries_of<B: AsRef<[u8]>>(data: &ProtocolData<B>) -> Vec<Entry> {
    data.iter()
        .map(|e| Entry::new(e.protocol_name, e.content_type, e.data))
        .collect()
}

fn protocol_data(entries: &[Entry]) -> ProtocolData {
    ProtocolData::from_entries(entries.iter().map(|e| ProtocolDataEntry {
        protocol_name: &e.protocol_name,
        content_type: e.content_type,
        data: &e.data,
    }))
}

fn ilp_data(packet: &[u8]) -> ProtocolData {
    ProtocolData::from_entries([ProtocolDataEntry {
        protocol_name: ILP_PROTOCOL,
        content_type: CONTENT_TYPE_OCTET_STREAM,
        data: packet,
    }])
}

/// What a link makes of bytes from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A Prepare for the connector ([`Connector::handle_prepare`](crate::Connector::handle_prepare)).
    Prepare(IncomingPrepare),
    /// The peer fulfilled our outgoing transfer `transfer_id`.
    Fulfilled {
        /// Our outgoing transfer id.
        transfer_id: [u8; 16],
        /// The preimage offered (the connector checks it).
        fulfillment: [u8; 32],
    },
    /// The peer rejected our outgoing transfer `transfer_id`.
    Rejected {
        /// Our outgoing transfer id.
        transfer_id: [u8; 16],
        /// Why.
        reason: RejectReason,
    },
    /// The peer paid us `amount` unconditionally (already acknowledged).
    Unconditional {
        /// The amount.
        amount: u64,
    },
    /// A Message for a side protocol (auth, quotes, reconcile, ...): the host answers it.
    Message {
        /// Its request id.
        request_id: u32,
        /// Its protocol data.
        entries: Vec<Entry>,
    },
    /// The answer to a Message we sent.
    Response {
        /// The request it answers.
        request_id: u32,
        /// Its protocol data.
        entries: Vec<Entry>,
    },
    /// An Error answering a Message we sent.
    Error {
        /// The request it answers.
        request_id: u32,
        /// The error code.
        code: ErrorCode,
    },
    /// A reply that changed nothing (duplicate, late, unknown).
    Ignored(IgnoredReason),
}

/// Bytes to send back at once, and the events for the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// Packets to send to the peer now (CLP Acks, a BTP Response to a Transfer, ...).
    pub replies: Vec<Bytes>,
    /// What happened.
    pub events: Vec<LinkEvent>,
}

/// One peer connection. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Link {
    account: AccountId,
    family: Family,
    our_address: Vec<u8>,
    tracker: Tracker,
    session: [u8; 32],
    /// Incoming transfer id → the request id to answer (BTP 2.0).
    awaiting_reply: BTreeMap<[u8; 16], u32>,
    /// Our request id → our outgoing transfer id (BTP 2.0 Prepares).
    outgoing: BTreeMap<u32, [u8; 16]>,
    mode: Mode,
}

fn expires_ms(timestamp: Timestamp) -> u64 {
    u64::try_from(timestamp.unix_ms()).unwrap_or(0)
}

fn timestamp(ms: u64) -> Timestamp {
    i64::try_from(ms)
        .ok()
        .and_then(Timestamp::from_unix_ms)
        .unwrap_or(Timestamp::MAX)
}

impl Link {
    /// A link to the peer behind `account`, speaking `family`. `seed`
    /// (fresh randomness from the host) makes this session's ids unique;
    /// `our_address` goes into the legacy errors we send.
    pub fn new(account: AccountId, family: Family, our_address: &[u8], seed: [u8; 32]) -> Self {
        Link {
            account,
            family,
            our_address: our_address.to_vec(),
            tracker: Tracker::new(seed, 1),
            session: seed,
            awaiting_reply: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            mode: Mode::Strict,
        }
    }

    /// Decodes the peer's packets leniently (as the JavaScript decoders do).
    pub fn lenient(mut self) -> Self {
        self.mode = Mode::Lenient;
        self
    }

    /// The account behind the link.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The family spoken.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The request tracker (pending requests, next deadline).
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// The transfer id of an incoming BTP 2.0 Prepare: derived from this
    /// session and the request id, so a resent Message maps to the same
    /// payment.
    fn incoming_transfer_id(&self, request_id: u32) -> [u8; 16] {
        let mut hasher = Sha256::new();
        hasher.update(b"tally-connector/btp-incoming");
        hasher.update(self.session);
        hasher.update(request_id.to_be_bytes());
        uuid_v4(hasher.finalize().into())
    }

    /// Encodes the connector's outgoing Prepare for this peer.
    ///
    /// # Errors
    /// [`ConnectorError::Encode`] for a field the codec refuses;
    /// [`ConnectorError::Protocol`] / [`ConnectorError::Limit`] from the tracker.
    pub fn send_prepare(&mut self, out: &OutgoingPrepare, now_ms: u64) -> Result<Bytes, ConnectorError> {
        let transfer = Transfer {
            amount: Some(out.amount),
            execution_condition: Some(out.execution_condition),
            expires_at_ms: Some(out.expires_at_ms),
        };
        let sent = self.tracker.send_as(transfer, Some(out.transfer_id), None, now_ms)?;
        let encoded = self.encode_prepare(out, sent.request_id);
        if encoded.is_err() {
            self.tracker.send_failed(sent.request_id);
            self.outgoing.remove(&sent.request_id);
        }
        encoded
    }

    fn encode_prepare(&mut self, out: &OutgoingPrepare, request_id: u32) -> Result<Bytes, ConnectorError> {
        Ok(match self.family {
            Family::Btp2 => {
                let prepare = ilp4::Prepare {
                    amount: out.amount,
                    expires_at: timestamp(out.expires_at_ms),
                    execution_condition: out.execution_condition,
                    destination: &out.destination[..],
                    data: &out.data[..],
                }
                .encode()?;
                self.outgoing.insert(request_id, out.transfer_id);
                btp2::Message {
                    request_id,
                    protocol_data: ilp_data(&prepare),
                }
                .encode()?
            }
            Family::Clp => {
                let payment = legacy::IlpPayment {
                    amount: out.amount,
                    account: &out.destination[..],
                    data: &out.data[..],
                }
                .encode()?;
                clp::Prepare {
                    request_id,
                    transfer_id: out.transfer_id,
                    amount: out.amount,
                    execution_condition: out.execution_condition,
                    expires_at: timestamp(out.expires_at_ms),
                    protocol_data: ilp_data(&payment),
                }
                .encode()?
            }
        })
    }

    /// Encodes the reply to the peer's Prepare `incoming_transfer_id`.
    /// `None` when nothing is awaiting it (already answered, or another
    /// session's).
    ///
    /// # Errors
    /// [`ConnectorError::Encode`] for a field the codec refuses.
    pub fn send_reply(
        &mut self,
        incoming_transfer_id: &[u8; 16],
        reply: &Upstream,
        now_ms: u64,
    ) -> Result<Option<Bytes>, ConnectorError> {
        match self.family {
            Family::Btp2 => {
                let Some(request_id) = self.awaiting_reply.remove(incoming_transfer_id) else {
                    return Ok(None);
                };
                let packet = match reply {
                    Upstream::Fulfill { fulfillment } => ilp4::Fulfill {
                        fulfillment: *fulfillment,
                        data: &b""[..],
                    }
                    .encode()?,
                    Upstream::Reject(reason) => ilp4::Reject {
                        code: reason.code(),
                        triggered_by: &reason.triggered_by[..],
                        message: reason.message.as_bytes(),
                        data: &reason.data[..],
                    }
                    .encode()?,
                };
                Ok(Some(
                    btp2::Response {
                        request_id,
                        protocol_data: ilp_data(&packet),
                    }
                    .encode()?,
                ))
            }
            Family::Clp => {
                if self.awaiting_reply.remove(incoming_transfer_id).is_none() {
                    return Ok(None);
                }
                // A CLP Fulfill or Reject is a request of its own; the peer Acks it.
                let sent = self.tracker.send(Transfer::default(), None, now_ms)?;
                let bytes = match reply {
                    Upstream::Fulfill { fulfillment } => clp::Fulfill {
                        request_id: sent.request_id,
                        transfer_id: *incoming_transfer_id,
                        fulfillment: *fulfillment,
                        protocol_data: ProtocolData::empty(),
                    }
                    .encode()?,
                    Upstream::Reject(reason) => clp::Reject {
                        request_id: sent.request_id,
                        transfer_id: *incoming_transfer_id,
                        rejection_reason: self.ilp_error(reason, now_ms)?,
                        protocol_data: ProtocolData::empty(),
                    }
                    .encode()?,
                };
                Ok(Some(bytes))
            }
        }
    }

    /// A legacy IlpError for `reason`: `forwardedBy` names us when we pass
    /// on someone else's error.
    fn ilp_error(&self, reason: &RejectReason, now_ms: u64) -> Result<Bytes, ConnectorError> {
        let code = reason.code();
        let forwarded_by = if reason.triggered_by == self.our_address {
            VarOctetsList::from_items(Vec::<&[u8]>::new())
        } else {
            VarOctetsList::from_items([&self.our_address[..]])
        };
        let data: &[u8] = if reason.message.is_ascii() {
            reason.message.as_bytes()
        } else {
            b""
        };
        Ok(legacy::IlpError {
            code,
            name: Bytes::from_static(code.name().unwrap_or("Unknown Error").as_bytes()),
            triggered_by: Bytes::copy_from_slice(&reason.triggered_by),
            forwarded_by,
            triggered_at: timestamp(now_ms),
            data: Bytes::copy_from_slice(data),
        }
        .encode()?)
    }

    /// Sends a Message with `entries` (authentication, a side protocol).
    ///
    /// # Errors
    /// As [`Link::send_prepare`].
    pub fn send_message(
        &mut self,
        entries: &[Entry],
        timeout_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<(u32, Bytes), ConnectorError> {
        let sent = self.tracker.send(Transfer::default(), timeout_ms, now_ms)?;
        let protocol_data = protocol_data(entries);
        let bytes = match self.family {
            Family::Btp2 => btp2::Message {
                request_id: sent.request_id,
                protocol_data,
            }
            .encode()?,
            Family::Clp => clp::Message {
                request_id: sent.request_id,
                protocol_data,
            }
            .encode()?,
        };
        Ok((sent.request_id, bytes))
    }

    /// The Response to the peer's Message `request_id`.
    ///
    /// # Errors
    /// [`ConnectorError::Encode`].
    pub fn respond(&self, request_id: u32, entries: &[Entry]) -> Result<Bytes, ConnectorError> {
        let protocol_data = protocol_data(entries);
        Ok(match self.family {
            Family::Btp2 => btp2::Response {
                request_id,
                protocol_data,
            }
            .encode()?,
            Family::Clp => clp::Response {
                request_id,
                protocol_data,
            }
            .encode()?,
        })
    }

    /// The Error answering the peer's Message `request_id`.
    ///
    /// # Errors
    /// [`ConnectorError::Encode`].
    pub fn respond_error(&self, request_id: u32, reason: &RejectReason, now_ms: u64) -> Result<Bytes, ConnectorError> {
        Ok(match self.family {
            Family::Btp2 => btp2::Error {
                request_id,
                code: reason.code(),
                name: Bytes::from_static(reason.code().name().unwrap_or("Unknown Error").as_bytes()),
                triggered_at: timestamp(now_ms),
                data: Bytes::copy_from_slice(reason.message.as_bytes()),
                protocol_data: ProtocolData::empty(),
            }
            .encode()?,
            Family::Clp => clp::Error {
                request_id,
                rejection_reason: self.ilp_error(reason, now_ms)?,
                protocol_data: ProtocolData::empty(),
            }
            .encode()?,
        })
    }

    /// Answers an ILQP quote request carried in a Message's `ilp` entry
    /// from `table`: the Response with the quote, or an Error with the
    /// legacy error (`F02` no route, `T04` beyond the curve).
    ///
    /// # Errors
    /// [`ConnectorError::Encode`].
    pub fn answer_quote(
        &self,
        request_id: u32,
        request: &[u8],
        table: &RouteTable,
        policy: &QuotePolicy,
        now_ms: u64,
        balance_of: &mut dyn FnMut(&AccountId) -> Option<i128>,
    ) -> Result<Bytes, ConnectorError> {
        let refusal = |code: ErrorCode, message: &str| RejectReason {
            code: code.0,
            triggered_by: self.our_address.clone(),
            message: message.to_owned(),
            data: Vec::new(),
        };
        let answer = match legacy::Packet::decode(request, self.mode) {
            Ok(packet) => {
                quote::answer(table, &packet, policy, now_ms, balance_of).map_err(|r| refusal(r.code, r.message))
            }
            Err(_) => Err(refusal(ErrorCode::F01_INVALID_PACKET, "not a legacy ILP packet")),
        };
        match answer {
            Ok(answer) => {
                let packet = match answer {
                    QuoteAnswer::Liquidity(response) => response.encode()?,
                    QuoteAnswer::BySource(response) => response.encode()?,
                    QuoteAnswer::ByDestination(response) => response.encode()?,
                };
                self.respond(
                    request_id,
                    &[Entry::new(ILP_PROTOCOL, CONTENT_TYPE_OCTET_STREAM, packet.to_vec())],
                )
            }
            Err(reason) => self.respond_error(request_id, &reason, now_ms),
        }
    }

    /// Resolves this link's requests whose deadline passed (the payment
    /// itself times out through [`Connector::handle_timeouts`](crate::Connector::handle_timeouts)).
    pub fn handle_timeout(&mut self, now_ms: u64) -> usize {
        let resolved = self.tracker.handle_timeout(now_ms);
        for resolution in &resolved {
            self.outgoing.remove(&resolution.request_id);
        }
        resolved.len()
    }

    /// Decodes one packet from the peer.
    ///
    /// # Errors
    /// [`ConnectorError::Decode`] for bytes that are not a packet of this
    /// family; [`ConnectorError::Encode`] building an immediate reply.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64) -> Result<Received, ConnectorError> {
        match self.family {
            Family::Btp2 => self.receive_btp2(bytes),
            Family::Clp => self.receive_clp(bytes, now_ms),
        }
    }

    fn remember_awaiting(&mut self, transfer_id: [u8; 16], request_id: u32) -> Result<(), ConnectorError> {
        if self.awaiting_reply.len() >= MAX_AWAITING_REPLY && !self.awaiting_reply.contains_key(&transfer_id) {
            return Err(ConnectorError::Limit {
                what: "prepares awaiting a reply per link",
                max: MAX_AWAITING_REPLY as u64,
            });
        }
        self.awaiting_reply.insert(transfer_id, request_id);
        Ok(())
    }

    fn receive_btp2(&mut self, bytes: &[u8]) -> Result<Received, ConnectorError> {
        let mut received = Received::default();
        match btp2::Packet::decode(bytes, self.mode)? {
            btp2::Packet::Message(message) => {
                let ilp = message.protocol_data.get(ILP_PROTOCOL).map(|e| e.data);
                match ilp.map(|packet| ilp4::Packet::decode(packet, self.mode)) {
                    Some(Ok(ilp4::Packet::Prepare(prepare))) => {
                        let transfer_id = self.incoming_transfer_id(message.request_id);
                        self.remember_awaiting(transfer_id, message.request_id)?;
                        received.events.push(LinkEvent::Prepare(IncomingPrepare {
                            from: self.account.clone(),
                            transfer_id,
                            amount: prepare.amount,
                            expires_at_ms: expires_ms(prepare.expires_at),
                            execution_condition: prepare.execution_condition,
                            destination: prepare.destination.to_vec(),
                            data: prepare.data.to_vec(),
                        }));
                    }
                    Some(Ok(_)) => return Err(ConnectorError::protocol("a Message's ilp entry holds no Prepare")),
                    Some(Err(error)) => return Err(error.into()),
                    None => received.events.push(LinkEvent::Message {
                        request_id: message.request_id,
                        entries: entries_of(&message.protocol_data),
                    }),
                }
            }
            btp2::Packet::Response(response) => {
                let request_id = response.request_id;
                let ilp = response.protocol_data.get(ILP_PROTOCOL).map(|e| e.data);
                let transfer_id = self.outgoing.get(&request_id).copied();
                match (transfer_id, ilp.map(|packet| ilp4::Packet::decode(packet, self.mode))) {
                    (Some(transfer_id), Some(Ok(ilp4::Packet::Fulfill(fulfill)))) => {
                        self.outgoing.remove(&request_id);
                        self.tracker.handle_reply(Reply::FulfillFor {
                            request_id,
                            fulfillment: fulfill.fulfillment,
                        });
                        received.events.push(LinkEvent::Fulfilled {
                            transfer_id,
                            fulfillment: fulfill.fulfillment,
                        });
                    }
                    (Some(transfer_id), Some(Ok(ilp4::Packet::Reject(reject)))) => {
                        self.outgoing.remove(&request_id);
                        self.tracker.handle_reply(Reply::RejectFor { request_id });
                        received.events.push(LinkEvent::Rejected {
                            transfer_id,
                            reason: RejectReason {
                                code: reject.code.0,
                                triggered_by: reject.triggered_by.to_vec(),
                                message: String::from_utf8_lossy(reject.message).into_owned(),
                                data: reject.data.to_vec(),
                            },
                        });
                    }
                    (Some(_), _) => {
                        if let Handled::Ignored(reason) = self.tracker.handle_reply(Reply::Malformed { request_id }) {
                            received.events.push(LinkEvent::Ignored(reason));
                        }
                    }
                    (None, _) => match self.tracker.handle_reply(Reply::Response { request_id }) {
                        Handled::Ignored(reason) => received.events.push(LinkEvent::Ignored(reason)),
                        _ => received.events.push(LinkEvent::Response {
                            request_id,
                            entries: entries_of(&response.protocol_data),
                        }),
                    },
                }
            }
            btp2::Packet::Error(error) => {
                let request_id = error.request_id;
                let handled = self.tracker.handle_reply(Reply::Error { request_id });
                match self.outgoing.remove(&request_id) {
                    Some(transfer_id) => received.events.push(LinkEvent::Rejected {
                        transfer_id,
                        reason: RejectReason {
                            code: error.code.0,
                            triggered_by: Vec::new(),
                            message: String::from_utf8_lossy(error.name).into_owned(),
                            data: error.data.to_vec(),
                        },
                    }),
                    None => match handled {
                        Handled::Ignored(reason) => received.events.push(LinkEvent::Ignored(reason)),
                        _ => received.events.push(LinkEvent::Error {
                            request_id,
                            code: error.code,
                        }),
                    },
                }
            }
            btp2::Packet::Transfer(transfer) => {
                received.replies.push(
                    btp2::Response {
                        request_id: transfer.request_id,
                        protocol_data: ProtocolData::empty(),
                    }
                    .encode()?,
                );
                received.events.push(LinkEvent::Unconditional {
                    amount: transfer.amount,
                });
            }
        }
        Ok(received)
    }

    fn receive_clp(&mut self, bytes: &[u8], now_ms: u64) -> Result<Received, ConnectorError> {
        let mut received = Received::default();
        let ack = |request_id: u32| {
            clp::Ack {
                request_id,
                protocol_data: ProtocolData::empty(),
            }
            .encode()
        };
        match clp::Packet::decode(bytes, self.mode)? {
            clp::Packet::Ack(a) => {
                if let Handled::Ignored(reason) = self.tracker.handle_reply(Reply::Ack {
                    request_id: a.request_id,
                }) {
                    received.events.push(LinkEvent::Ignored(reason));
                }
            }
            clp::Packet::Response(response) => match self.tracker.handle_reply(Reply::Response {
                request_id: response.request_id,
            }) {
                Handled::Ignored(reason) => received.events.push(LinkEvent::Ignored(reason)),
                _ => received.events.push(LinkEvent::Response {
                    request_id: response.request_id,
                    entries: entries_of(&response.protocol_data),
                }),
            },
            clp::Packet::Error(error) => {
                let request_id = error.request_id;
                let code = error
                    .rejection_reason()
                    .map(|r| r.code)
                    .unwrap_or(ErrorCode::F00_BAD_REQUEST);
                match self.tracker.handle_reply(Reply::Error { request_id }) {
                    Handled::Resolved(crate::tracking::Resolution {
                        transfer_id: Some(transfer_id),
                        ..
                    }) => {
                        received.events.push(LinkEvent::Rejected {
                            transfer_id,
                            reason: reason_of(error.rejection_reason),
                        });
                    }
                    Handled::Ignored(reason) => received.events.push(LinkEvent::Ignored(reason)),
                    _ => received.events.push(LinkEvent::Error { request_id, code }),
                }
            }
            clp::Packet::Prepare(prepare) => {
                received.replies.push(ack(prepare.request_id)?);
                let payment = prepare
                    .protocol_data
                    .get(ILP_PROTOCOL)
                    .map(|entry| legacy::Packet::decode(entry.data, self.mode));
                match payment {
                    Some(Ok(legacy::Packet::IlpPayment(payment))) => {
                        self.remember_awaiting(prepare.transfer_id, prepare.request_id)?;
                        received.events.push(LinkEvent::Prepare(IncomingPrepare {
                            from: self.account.clone(),
                            transfer_id: prepare.transfer_id,
                            amount: prepare.amount,
                            expires_at_ms: expires_ms(prepare.expires_at),
                            execution_condition: prepare.execution_condition,
                            destination: payment.account.to_vec(),
                            data: payment.data.to_vec(),
                        }));
                    }
                    _ => {
                        // A conditional transfer must carry an IlpPayment: refuse it.
                        self.awaiting_reply.insert(prepare.transfer_id, prepare.request_id);
                        let reason = RejectReason {
                            code: ErrorCode::F01_INVALID_PACKET.0,
                            triggered_by: self.our_address.clone(),
                            message: "a conditional transfer needs an IlpPayment".into(),
                            data: Vec::new(),
                        };
                        if let Some(reply) = self.send_reply(&prepare.transfer_id, &Upstream::Reject(reason), now_ms)? {
                            received.replies.push(reply);
                        }
                    }
                }
            }
            clp::Packet::Fulfill(fulfill) => {
                received.replies.push(ack(fulfill.request_id)?);
                self.tracker.handle_reply(Reply::Fulfill {
                    transfer_id: fulfill.transfer_id,
                    fulfillment: fulfill.fulfillment,
                });
                // The connector checks the preimage and ignores repeats.
                received.events.push(LinkEvent::Fulfilled {
                    transfer_id: fulfill.transfer_id,
                    fulfillment: fulfill.fulfillment,
                });
            }
            clp::Packet::Reject(reject) => {
                received.replies.push(ack(reject.request_id)?);
                self.tracker.handle_reply(Reply::Reject {
                    transfer_id: reject.transfer_id,
                });
                received.events.push(LinkEvent::Rejected {
                    transfer_id: reject.transfer_id,
                    reason: reason_of(reject.rejection_reason),
                });
            }
            clp::Packet::Message(message) => received.events.push(LinkEvent::Message {
                request_id: message.request_id,
                entries: entries_of(&message.protocol_data),
            }),
        }
        Ok(received)
    }
}

/// A reject reason from a legacy IlpError packet (`T00` if it does not decode).
fn reason_of(ilp_error: &[u8]) -> RejectReason {
    match legacy::IlpError::decode(ilp_error, Mode::Lenient) {
        Ok(error) => RejectReason {
            code: error.code.0,
            triggered_by: error.triggered_by.to_vec(),
            message: String::from_utf8_lossy(error.data).into_owned(),
            data: Vec::new(),
        },
        Err(_) => RejectReason {
            code: ErrorCode::T00_INTERNAL_ERROR.0,
            triggered_by: Vec::new(),
            message: "undecodable IlpError".into(),
            data: Vec::new(),
        },
    }
}
