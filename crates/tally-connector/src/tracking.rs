//! Request tracking, both sides of one bilateral link. Pure: time is an
//! argument, ids come from counters and a seed the host supplies.
//!
//! # Sending ([`Tracker`])
//!
//! For each request we send, the tracker
//!
//! 1. chooses **Message or Prepare** from the transfer
//!    ([`Transfer::kind`]): a condition makes it a Prepare, an amount
//!    alone an unconditional Transfer, nothing a Message;
//! 2. picks a **request id** (a counter that skips ids still pending) and,
//!    for a Prepare, a **transfer id** (a UUID derived from the host's seed
//!    and a counter), and remembers both;
//! 3. sets the **deadline**: `now + timeout`, and never later than a
//!    Prepare's `expires_at`;
//! 4. matches what comes back: Ack/Response/Error by request id,
//!    Fulfill/Reject by transfer id, and **classifies** the result
//!    ([`Outcome`]): an error occurred here (sending failed, nothing came back
//!    before the deadline, the reply was malformed, the fulfillment does not
//!    hash to the condition), an error came back, just an Ack or a Fulfill,
//!    or a real Response.
//!
//! Every request resolves **exactly once**. A reply for a request that has
//! already resolved (a duplicate, or one that arrives after its deadline) is
//! reported as [`Handled::Ignored`] and carries no balance change, so a host
//! that applies [`Resolution::balance_change`] applies each change once.
//!
//! # Listening ([`listen`])
//!
//! For each request a peer sends us, the replies the seed lists: a
//! conditional transfer is Acked at once and later Fulfilled (handler
//! succeeded) or Rejected (handler failed, or it succeeded after the
//! transfer expired); an unconditional one gets an Ack (or a Response when
//! the handler returned data) or an Error.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::balance::BalanceChange;
use crate::error::ConnectorError;

/// The most requests one [`Tracker`] keeps pending at once.
pub const MAX_PENDING_REQUESTS: usize = 65_536;

/// How many resolved requests a [`Tracker`] remembers, to tell a late or
/// duplicate reply from an unknown one.
pub const MAX_REMEMBERED_RESOLUTIONS: usize = 65_536;

/// What a request moves, as the seed writes transfers: `{}`, `{ amount }`,
/// `{ amount, expiresAt }` or `{ amount, executionCondition, expiresAt }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Amount in ledger base units.
    pub amount: Option<u64>,
    /// SHA-256 of the fulfillment; makes the transfer conditional.
    pub execution_condition: Option<[u8; 32]>,
    /// When the transfer lapses, ms since the Unix epoch.
    pub expires_at_ms: Option<u64>,
}

/// The kind of request a [`Transfer`] is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestKind {
    /// No value: a Message (CLP type 7, BTP 2.0 type 6).
    Message,
    /// Value without a condition: an unconditional Transfer (BTP 2.0 type 7).
    Unconditional {
        /// The amount.
        amount: u64,
    },
    /// Value on a condition: a Prepare (CLP type 4; in BTP 2.0 an ILPv4
    /// Prepare inside a Message).
    Prepare {
        /// The amount.
        amount: u64,
        /// SHA-256 of the fulfillment.
        execution_condition: [u8; 32],
        /// When it lapses, ms since the Unix epoch.
        expires_at_ms: u64,
    },
}

/// Why a [`Transfer`] cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TransferError {
    /// A condition needs an amount and an expiry.
    #[error("a conditional transfer needs an amount and expiresAt")]
    IncompleteCondition,
    /// The transfer expires before it is sent.
    #[error("the transfer expired at {expires_at_ms}, now is {now_ms}")]
    AlreadyExpired {
        /// Its expiry.
        expires_at_ms: u64,
        /// The time it was sent.
        now_ms: u64,
    },
    /// An expiry without an amount means nothing.
    #[error("expiresAt without an amount")]
    ExpiryWithoutAmount,
}

impl Transfer {
    /// Message or Prepare (or an unconditional Transfer), as the seed chooses.
    pub fn kind(&self) -> Result<RequestKind, TransferError> {
        match (self.amount, self.execution_condition, self.expires_at_ms) {
            (None, None, None) => Ok(RequestKind::Message),
            (Some(amount), None, _) => Ok(RequestKind::Unconditional { amount }),
            (Some(amount), Some(execution_condition), Some(expires_at_ms)) => Ok(RequestKind::Prepare {
                amount,
                execution_condition,
                expires_at_ms,
            }),
            (None, None, Some(_)) => Err(TransferError::ExpiryWithoutAmount),
            (_, Some(_), _) => Err(TransferError::IncompleteCondition),
        }
    }
}

/// A request the tracker has sent and not resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The request id on the wire.
    pub request_id: u32,
    /// The transfer id, for a Prepare.
    pub transfer_id: Option<[u8; 16]>,
    /// What was sent.
    pub kind: RequestKind,
    /// When the request times out, ms since the Unix epoch.
    pub deadline_ms: Option<u64>,
    /// Whether the peer has acknowledged a Prepare (it stays pending until
    /// the Fulfill or Reject).
    pub acknowledged: bool,
}

/// What [`Tracker::send`] picked for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The request id to put on the wire.
    pub request_id: u32,
    /// The transfer id, for a Prepare.
    pub transfer_id: Option<[u8; 16]>,
    /// Message, unconditional Transfer or Prepare.
    pub kind: RequestKind,
    /// When it times out, if ever.
    pub deadline_ms: Option<u64>,
}

/// Something that came back from the peer, reduced to what matching needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// An Ack (CLP type 1) for `request_id`.
    Ack {
        /// The request it answers.
        request_id: u32,
    },
    /// A Response (CLP 2, BTP 2.0 1) for `request_id`.
    Response {
        /// The request it answers.
        request_id: u32,
    },
    /// An Error (CLP 3, BTP 2.0 2) for `request_id`.
    Error {
        /// The request it answers.
        request_id: u32,
    },
    /// A Fulfill for `transfer_id` (CLP type 5).
    Fulfill {
        /// The transfer it claims.
        transfer_id: [u8; 16],
        /// The preimage offered.
        fulfillment: [u8; 32],
    },
    /// A Reject for `transfer_id` (CLP type 6).
    Reject {
        /// The transfer it refuses.
        transfer_id: [u8; 16],
    },
    /// A Fulfill answering `request_id` directly (BTP 2.0: an ILPv4 Fulfill
    /// in the Response to the Message that carried the Prepare).
    FulfillFor {
        /// The request it answers.
        request_id: u32,
        /// The preimage offered.
        fulfillment: [u8; 32],
    },
    /// A Reject answering `request_id` directly (BTP 2.0).
    RejectFor {
        /// The request it answers.
        request_id: u32,
    },
    /// Something came back for `request_id` that does not decode or does
    /// not fit the request.
    Malformed {
        /// The request it answers.
        request_id: u32,
    },
}

/// A failure on our side of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LocalFailure {
    /// The host could not send it.
    SendFailed,
    /// Nothing final came back before the deadline.
    TimedOut,
    /// What came back does not decode or does not fit the request.
    Malformed,
    /// The fulfillment does not hash (SHA-256) to the condition.
    WrongFulfillment,
}

/// How a request ended, in the seed's four classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// An error occurred on our side.
    ErrorOccurred(LocalFailure),
    /// The peer answered with an Error or a Reject.
    ErrorCameBack,
    /// Just an Ack (a Message or Transfer), or a Fulfill (a Prepare; the
    /// fulfillment has been checked against the condition).
    AckOrFulfill {
        /// The fulfillment, for a Prepare.
        fulfillment: Option<[u8; 32]>,
    },
    /// A real Response with protocol data.
    Response,
}

/// A request that has ended, with how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// The request id.
    pub request_id: u32,
    /// The transfer id, for a Prepare.
    pub transfer_id: Option<[u8; 16]>,
    /// What was sent.
    pub kind: RequestKind,
    /// How it ended.
    pub outcome: Outcome,
}

impl Resolution {
    /// The change to the sender's balance with this peer that the outcome
    /// makes: a fulfilled Prepare is settled, any other end of a Prepare
    /// releases it, an acknowledged unconditional transfer is counted.
    /// (Sending the Prepare counted it as prepared: see
    /// [`RequestKind::prepared_change`].)
    pub fn balance_change(&self) -> Option<BalanceChange> {
        match (self.kind, self.outcome) {
            (RequestKind::Prepare { amount, .. }, Outcome::AckOrFulfill { fulfillment: Some(_) }) => {
                Some(BalanceChange::OutgoingFulfilled(amount))
            }
            (RequestKind::Prepare { amount, .. }, _) => Some(BalanceChange::OutgoingReleased(amount)),
            (RequestKind::Unconditional { amount }, Outcome::AckOrFulfill { .. } | Outcome::Response) => {
                Some(BalanceChange::OutgoingUnconditional(amount))
            }
            _ => None,
        }
    }
}

impl RequestKind {
    /// The change sending this request makes at once: a Prepare is prepared.
    pub fn prepared_change(&self) -> Option<BalanceChange> {
        match *self {
            RequestKind::Prepare { amount, .. } => Some(BalanceChange::OutgoingPrepared(amount)),
            _ => None,
        }
    }
}

/// Why a reply changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IgnoredReason {
    /// No request with this id was ever sent (or it is long forgotten).
    Unknown,
    /// The request had already resolved: a duplicate reply.
    AlreadyResolved,
    /// The request had timed out before this reply came.
    AfterTimeout,
    /// The reply does not fit the request (a Fulfill for a Message, an Ack
    /// by transfer id, ...).
    DoesNotFit,
}

/// What [`Tracker::handle_reply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Handled {
    /// The request ended.
    Resolved(Resolution),
    /// The peer acknowledged a Prepare; it stays pending.
    Acknowledged {
        /// The request id.
        request_id: u32,
    },
    /// Nothing changed.
    Ignored(IgnoredReason),
}

/// The sending side of one link: which requests are out, and how each ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    seed: [u8; 32],
    next_request_id: u32,
    transfers_issued: u64,
    pending: BTreeMap<u32, Pending>,
    by_transfer: BTreeMap<[u8; 16], u32>,
    deadlines: BTreeSet<(u64, u32)>,
    /// Recently resolved requests: id → whether by timeout.
    resolved: BTreeMap<u32, bool>,
    resolved_order: VecDeque<u32>,
    resolved_transfers: BTreeMap<[u8; 16], u32>,
}

impl Tracker {
    /// A tracker whose transfer ids derive from `seed` (pass fresh
    /// randomness per link and process) and whose request ids start at
    /// `first_request_id`.
    pub fn new(seed: [u8; 32], first_request_id: u32) -> Self {
        Tracker {
            seed,
            next_request_id: first_request_id,
            transfers_issued: 0,
            pending: BTreeMap::new(),
            by_transfer: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            resolved: BTreeMap::new(),
            resolved_order: VecDeque::new(),
            resolved_transfers: BTreeMap::new(),
        }
    }

    /// Requests sent and not resolved.
    pub fn pending(&self) -> impl Iterator<Item = &Pending> {
        self.pending.values()
    }

    /// The earliest deadline among pending requests: call
    /// [`Tracker::handle_timeout`] then.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    /// Starts a request: chooses its kind, picks its ids, remembers it.
    ///
    /// # Errors
    /// [`ConnectorError::Protocol`] for a transfer that cannot be sent
    /// ([`TransferError`]), [`ConnectorError::Limit`] with
    /// [`MAX_PENDING_REQUESTS`] pending.
    pub fn send(&mut self, transfer: Transfer, timeout_ms: Option<u64>, now_ms: u64) -> Result<Sent, ConnectorError> {
        self.send_as(transfer, None, timeout_ms, now_ms)
    }

    /// [`Tracker::send`] with the transfer id chosen by the caller (a
    /// connector derives its outgoing ids, so a retry after a crash sends
    /// the same one). `None` picks one.
    ///
    /// # Errors
    /// As [`Tracker::send`], and [`ConnectorError::Protocol`] when the
    /// transfer id is already pending.
    pub fn send_as(
        &mut self,
        transfer: Transfer,
        transfer_id: Option<[u8; 16]>,
        timeout_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<Sent, ConnectorError> {
        if let Some(id) = transfer_id
            && self.by_transfer.contains_key(&id)
        {
            return Err(ConnectorError::protocol("transfer id already pending"));
        }
        let kind = transfer
            .kind()
            .map_err(|error| ConnectorError::protocol(error.to_string()))?;
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            return Err(ConnectorError::Limit {
                what: "pending requests per link",
                max: MAX_PENDING_REQUESTS as u64,
            });
        }
        let by_timeout = timeout_ms.map(|timeout| now_ms.saturating_add(timeout));
        let deadline_ms = match kind {
            RequestKind::Prepare { expires_at_ms, .. } => {
                if expires_at_ms <= now_ms {
                    return Err(ConnectorError::protocol(
                        TransferError::AlreadyExpired { expires_at_ms, now_ms }.to_string(),
                    ));
                }
                Some(by_timeout.map_or(expires_at_ms, |t| t.min(expires_at_ms)))
            }
            RequestKind::Unconditional { .. } => match (by_timeout, transfer.expires_at_ms) {
                (Some(t), Some(e)) => Some(t.min(e)),
                (t, e) => t.or(e),
            },
            RequestKind::Message => by_timeout,
        };
        let request_id = self.pick_request_id();
        let transfer_id = match kind {
            RequestKind::Prepare { .. } => Some(match transfer_id {
                Some(id) => id,
                None => self.pick_transfer_id(),
            }),
            _ => None,
        };
        let pending = Pending {
            request_id,
            transfer_id,
            kind,
            deadline_ms,
            acknowledged: false,
        };
        if let Some(id) = transfer_id {
            self.by_transfer.insert(id, request_id);
        }
        if let Some(deadline) = deadline_ms {
            self.deadlines.insert((deadline, request_id));
        }
        self.pending.insert(request_id, pending);
        debug_assert!(self.by_transfer.len() <= self.pending.len());
        Ok(Sent {
            request_id,
            transfer_id,
            kind,
            deadline_ms,
        })
    }

    /// The host could not send `request_id`: it resolves as
    /// [`LocalFailure::SendFailed`].
    pub fn send_failed(&mut self, request_id: u32) -> Handled {
        self.resolve(request_id, Outcome::ErrorOccurred(LocalFailure::SendFailed), false)
    }

    /// Matches a reply from the peer and classifies the result.
    pub fn handle_reply(&mut self, reply: Reply) -> Handled {
        let (request_id, by_transfer) = match reply {
            Reply::Ack { request_id }
            | Reply::Response { request_id }
            | Reply::Error { request_id }
            | Reply::FulfillFor { request_id, .. }
            | Reply::RejectFor { request_id }
            | Reply::Malformed { request_id } => (request_id, false),
            Reply::Fulfill { transfer_id, .. } | Reply::Reject { transfer_id } => {
                match self.by_transfer.get(&transfer_id) {
                    Some(&request_id) => (request_id, true),
                    None => {
                        return Handled::Ignored(match self.resolved_transfers.get(&transfer_id) {
                            Some(request_id) => self.ignored_reason(*request_id),
                            None => IgnoredReason::Unknown,
                        });
                    }
                }
            }
        };
        let Some(pending) = self.pending.get_mut(&request_id) else {
            return Handled::Ignored(self.ignored_reason(request_id));
        };
        debug_assert!(!by_transfer || pending.transfer_id.is_some());
        let outcome = match (pending.kind, reply) {
            (RequestKind::Prepare { .. }, Reply::Ack { .. }) => {
                pending.acknowledged = true;
                return Handled::Acknowledged { request_id };
            }
            (
                RequestKind::Prepare {
                    execution_condition, ..
                },
                Reply::Fulfill { fulfillment, .. },
            )
            | (
                RequestKind::Prepare {
                    execution_condition, ..
                },
                Reply::FulfillFor { fulfillment, .. },
            ) => {
                if tally_ilp::ilp4::fulfillment_matches_condition(&fulfillment, &execution_condition) {
                    Outcome::AckOrFulfill {
                        fulfillment: Some(fulfillment),
                    }
                } else {
                    Outcome::ErrorOccurred(LocalFailure::WrongFulfillment)
                }
            }
            (RequestKind::Prepare { .. }, Reply::Reject { .. } | Reply::RejectFor { .. } | Reply::Error { .. }) => {
                Outcome::ErrorCameBack
            }
            (RequestKind::Prepare { .. }, Reply::Response { .. }) => Outcome::ErrorOccurred(LocalFailure::Malformed),
            (_, Reply::Malformed { .. }) => Outcome::ErrorOccurred(LocalFailure::Malformed),
            (_, Reply::Ack { .. }) => Outcome::AckOrFulfill { fulfillment: None },
            (_, Reply::Response { .. }) => Outcome::Response,
            (_, Reply::Error { .. }) => Outcome::ErrorCameBack,
            (_, Reply::Fulfill { .. } | Reply::FulfillFor { .. } | Reply::Reject { .. } | Reply::RejectFor { .. }) => {
                return Handled::Ignored(IgnoredReason::DoesNotFit);
            }
        };
        self.resolve(request_id, outcome, false)
    }

    /// Resolves every request whose deadline is at or before `now_ms` as
    /// [`LocalFailure::TimedOut`], earliest first.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<Resolution> {
        let mut out = Vec::new();
        while let Some(&(deadline, request_id)) = self.deadlines.first() {
            if deadline > now_ms {
                break;
            }
            if let Handled::Resolved(resolution) =
                self.resolve(request_id, Outcome::ErrorOccurred(LocalFailure::TimedOut), true)
            {
                out.push(resolution);
            }
        }
        out
    }

    fn resolve(&mut self, request_id: u32, outcome: Outcome, by_timeout: bool) -> Handled {
        let Some(pending) = self.pending.remove(&request_id) else {
            return Handled::Ignored(self.ignored_reason(request_id));
        };
        if let Some(deadline) = pending.deadline_ms {
            self.deadlines.remove(&(deadline, request_id));
        }
        if let Some(transfer_id) = pending.transfer_id {
            self.by_transfer.remove(&transfer_id);
            self.resolved_transfers.insert(transfer_id, request_id);
        }
        self.remember(request_id, by_timeout);
        debug_assert!(!self.pending.contains_key(&request_id));
        Handled::Resolved(Resolution {
            request_id,
            transfer_id: pending.transfer_id,
            kind: pending.kind,
            outcome,
        })
    }

    fn remember(&mut self, request_id: u32, by_timeout: bool) {
        self.resolved.insert(request_id, by_timeout);
        self.resolved_order.push_back(request_id);
        while self.resolved_order.len() > MAX_REMEMBERED_RESOLUTIONS {
            if let Some(old) = self.resolved_order.pop_front() {
                self.resolved.remove(&old);
            }
        }
        if self.resolved_transfers.len() > MAX_REMEMBERED_RESOLUTIONS {
            // Forget the transfer ids of requests no longer remembered.
            let resolved = &self.resolved;
            self.resolved_transfers.retain(|_, id| resolved.contains_key(id));
        }
    }

    fn ignored_reason(&self, request_id: u32) -> IgnoredReason {
        match self.resolved.get(&request_id) {
            Some(true) => IgnoredReason::AfterTimeout,
            Some(false) => IgnoredReason::AlreadyResolved,
            None => IgnoredReason::Unknown,
        }
    }

    fn pick_request_id(&mut self) -> u32 {
        // At most MAX_PENDING_REQUESTS ids are taken, so this ends quickly.
        loop {
            let id = self.next_request_id;
            self.next_request_id = self.next_request_id.wrapping_add(1);
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    fn pick_transfer_id(&mut self) -> [u8; 16] {
        loop {
            let mut hasher = Sha256::new();
            hasher.update(b"tally-connector/transfer-id");
            hasher.update(self.seed);
            hasher.update(self.transfers_issued.to_be_bytes());
            self.transfers_issued = self.transfers_issued.wrapping_add(1);
            let id = uuid_v4(hasher.finalize().into());
            if !self.by_transfer.contains_key(&id) && !self.resolved_transfers.contains_key(&id) {
                return id;
            }
        }
    }
}

/// The first 16 bytes of `digest` with the UUID version 4 and variant bits
/// set, so peers that check the format accept it.
pub fn uuid_v4(digest: [u8; 32]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

/// The listening side: the replies a request from the peer gets.
pub mod listen {
    use serde::{Deserialize, Serialize};

    use crate::balance::BalanceChange;

    /// A request the peer sent us.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum Incoming {
        /// A Message: no value.
        Message,
        /// An unconditional transfer of `amount`.
        Unconditional {
            /// The amount.
            amount: u64,
        },
        /// A conditional transfer.
        Prepare {
            /// The amount.
            amount: u64,
            /// SHA-256 of the fulfillment.
            execution_condition: [u8; 32],
            /// When it lapses, ms since the Unix epoch.
            expires_at_ms: u64,
        },
    }

    /// What the host's request handler concluded.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum HandlerResult {
        /// It succeeded; for a Prepare, with the fulfillment.
        Succeeded {
            /// The fulfillment (conditional transfers only).
            fulfillment: Option<[u8; 32]>,
            /// Whether it returned protocol data (a Response, not a bare Ack).
            has_data: bool,
        },
        /// It failed (the host sends its IlpError / Reject reason).
        Failed,
    }

    /// One reply to send.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    pub enum ListenReply {
        /// Ack the request.
        Ack,
        /// Answer with the handler's protocol data.
        Response,
        /// Answer with an Error carrying the handler's reason.
        Error,
        /// Fulfill the transfer with this fulfillment.
        Fulfill([u8; 32]),
        /// Reject the transfer with the handler's reason.
        Reject,
        /// Reject the transfer: the handler's fulfillment does not match the
        /// condition (RFC 27 `F05`).
        RejectWrongCondition,
        /// Reject the transfer: it expired before the handler finished
        /// (RFC 27 `R00`).
        RejectExpired,
    }

    /// What to send at once, before the handler runs: an Ack for a
    /// conditional transfer, nothing otherwise.
    pub fn on_receive(incoming: Incoming) -> Option<ListenReply> {
        match incoming {
            Incoming::Prepare { .. } => Some(ListenReply::Ack),
            _ => None,
        }
    }

    /// The final reply once the handler has finished at `now_ms`, and the
    /// change to our balance with the peer it makes.
    pub fn on_handled(incoming: Incoming, result: HandlerResult, now_ms: u64) -> (ListenReply, Option<BalanceChange>) {
        match (incoming, result) {
            (
                Incoming::Prepare {
                    amount,
                    execution_condition,
                    expires_at_ms,
                },
                HandlerResult::Succeeded { fulfillment, .. },
            ) => match fulfillment {
                _ if now_ms >= expires_at_ms => (ListenReply::RejectExpired, None),
                Some(f) if tally_ilp::ilp4::fulfillment_matches_condition(&f, &execution_condition) => {
                    (ListenReply::Fulfill(f), Some(BalanceChange::IncomingFulfilled(amount)))
                }
                _ => (ListenReply::RejectWrongCondition, None),
            },
            (Incoming::Prepare { .. }, HandlerResult::Failed) => (ListenReply::Reject, None),
            (Incoming::Unconditional { amount }, HandlerResult::Succeeded { has_data, .. }) => (
                if has_data {
                    ListenReply::Response
                } else {
                    ListenReply::Ack
                },
                Some(BalanceChange::IncomingUnconditional(amount)),
            ),
            (Incoming::Message, HandlerResult::Succeeded { has_data, .. }) => (
                if has_data {
                    ListenReply::Response
                } else {
                    ListenReply::Ack
                },
                None,
            ),
            (_, HandlerResult::Failed) => (ListenReply::Error, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::listen::{HandlerResult, Incoming, ListenReply, on_handled, on_receive};
    use super::*;
    use tally_ilp::ilp4::fulfillment_to_condition;

    fn prepare(expires_at_ms: u64) -> Transfer {
        Transfer {
            amount: Some(10),
            execution_condition: Some(fulfillment_to_condition(&[1; 32])),
            expires_at_ms: Some(expires_at_ms),
        }
    }

    #[test]
    fn the_transfer_chooses_message_or_prepare() {
        assert_eq!(Transfer::default().kind(), Ok(RequestKind::Message));
        assert_eq!(
            Transfer {
                amount: Some(3),
                ..Transfer::default()
            }
            .kind(),
            Ok(RequestKind::Unconditional { amount: 3 })
        );
        assert!(matches!(prepare(5).kind(), Ok(RequestKind::Prepare { amount: 10, .. })));
        assert_eq!(
            Transfer {
                execution_condition: Some([0; 32]),
                ..Transfer::default()
            }
            .kind(),
            Err(TransferError::IncompleteCondition)
        );
    }

    #[test]
    fn a_prepare_stays_pending_after_its_ack_and_resolves_on_the_fulfill() {
        let mut tracker = Tracker::new([9; 32], 1);
        let sent = tracker.send(prepare(1_000), None, 0).unwrap();
        assert_eq!(sent.deadline_ms, Some(1_000));
        let transfer_id = sent.transfer_id.unwrap();
        assert_eq!(transfer_id[6] >> 4, 4, "a version-4 UUID");
        assert_eq!(
            tracker.handle_reply(Reply::Ack {
                request_id: sent.request_id
            }),
            Handled::Acknowledged {
                request_id: sent.request_id
            }
        );
        let Handled::Resolved(resolution) = tracker.handle_reply(Reply::Fulfill {
            transfer_id,
            fulfillment: [1; 32],
        }) else {
            panic!("resolves")
        };
        assert_eq!(
            resolution.outcome,
            Outcome::AckOrFulfill {
                fulfillment: Some([1; 32])
            }
        );
        assert_eq!(resolution.balance_change(), Some(BalanceChange::OutgoingFulfilled(10)));
        // The same Fulfill again changes nothing.
        assert_eq!(
            tracker.handle_reply(Reply::Fulfill {
                transfer_id,
                fulfillment: [1; 32]
            }),
            Handled::Ignored(IgnoredReason::AlreadyResolved)
        );
    }

    #[test]
    fn a_wrong_fulfillment_is_an_error_that_occurred_and_releases_the_prepare() {
        let mut tracker = Tracker::new([9; 32], 1);
        let sent = tracker.send(prepare(1_000), None, 0).unwrap();
        let Handled::Resolved(resolution) = tracker.handle_reply(Reply::FulfillFor {
            request_id: sent.request_id,
            fulfillment: [2; 32],
        }) else {
            panic!("resolves")
        };
        assert_eq!(
            resolution.outcome,
            Outcome::ErrorOccurred(LocalFailure::WrongFulfillment)
        );
        assert_eq!(resolution.balance_change(), Some(BalanceChange::OutgoingReleased(10)));
    }

    #[test]
    fn a_reply_after_the_timeout_is_ignored() {
        let mut tracker = Tracker::new([9; 32], 7);
        let sent = tracker.send(Transfer::default(), Some(50), 100).unwrap();
        assert_eq!(tracker.next_deadline_ms(), Some(150));
        assert!(tracker.handle_timeout(149).is_empty());
        let timed_out = tracker.handle_timeout(150);
        assert_eq!(timed_out.len(), 1);
        assert_eq!(timed_out[0].outcome, Outcome::ErrorOccurred(LocalFailure::TimedOut));
        assert_eq!(
            tracker.handle_reply(Reply::Response {
                request_id: sent.request_id
            }),
            Handled::Ignored(IgnoredReason::AfterTimeout)
        );
        assert_eq!(
            tracker.handle_reply(Reply::Ack { request_id: 999 }),
            Handled::Ignored(IgnoredReason::Unknown)
        );
    }

    #[test]
    fn messages_resolve_on_ack_response_or_error() {
        let mut tracker = Tracker::new([0; 32], 1);
        let ids: Vec<u32> = (0..3)
            .map(|_| tracker.send(Transfer::default(), None, 0).unwrap().request_id)
            .collect();
        let outcome = |handled| match handled {
            Handled::Resolved(r) => r.outcome,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            outcome(tracker.handle_reply(Reply::Ack { request_id: ids[0] })),
            Outcome::AckOrFulfill { fulfillment: None }
        );
        assert_eq!(
            outcome(tracker.handle_reply(Reply::Response { request_id: ids[1] })),
            Outcome::Response
        );
        assert_eq!(
            outcome(tracker.handle_reply(Reply::Error { request_id: ids[2] })),
            Outcome::ErrorCameBack
        );
    }

    #[test]
    fn request_ids_skip_ids_still_pending_when_they_wrap() {
        let mut tracker = Tracker::new([0; 32], u32::MAX);
        let a = tracker.send(Transfer::default(), None, 0).unwrap().request_id;
        let b = tracker.send(Transfer::default(), None, 0).unwrap().request_id;
        assert_eq!((a, b), (u32::MAX, 0));
    }

    #[test]
    fn listener_acks_a_prepare_at_once_then_fulfills_or_rejects() {
        let condition = fulfillment_to_condition(&[3; 32]);
        let incoming = Incoming::Prepare {
            amount: 5,
            execution_condition: condition,
            expires_at_ms: 100,
        };
        assert_eq!(on_receive(incoming), Some(ListenReply::Ack));
        let ok = HandlerResult::Succeeded {
            fulfillment: Some([3; 32]),
            has_data: false,
        };
        assert_eq!(
            on_handled(incoming, ok, 50),
            (ListenReply::Fulfill([3; 32]), Some(BalanceChange::IncomingFulfilled(5)))
        );
        assert_eq!(on_handled(incoming, ok, 100), (ListenReply::RejectExpired, None));
        let wrong = HandlerResult::Succeeded {
            fulfillment: Some([4; 32]),
            has_data: false,
        };
        assert_eq!(
            on_handled(incoming, wrong, 50),
            (ListenReply::RejectWrongCondition, None)
        );
        assert_eq!(
            on_handled(incoming, HandlerResult::Failed, 50),
            (ListenReply::Reject, None)
        );
    }

    #[test]
    fn listener_answers_unconditional_requests_with_ack_response_or_error() {
        assert_eq!(on_receive(Incoming::Message), None);
        let bare = HandlerResult::Succeeded {
            fulfillment: None,
            has_data: false,
        };
        let with_data = HandlerResult::Succeeded {
            fulfillment: None,
            has_data: true,
        };
        assert_eq!(on_handled(Incoming::Message, bare, 0), (ListenReply::Ack, None));
        assert_eq!(
            on_handled(Incoming::Message, with_data, 0),
            (ListenReply::Response, None)
        );
        assert_eq!(
            on_handled(Incoming::Unconditional { amount: 4 }, bare, 0),
            (ListenReply::Ack, Some(BalanceChange::IncomingUnconditional(4)))
        );
        assert_eq!(
            on_handled(Incoming::Message, HandlerResult::Failed, 0),
            (ListenReply::Error, None)
        );
    }
}
