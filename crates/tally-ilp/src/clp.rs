//! CLP, the Common Ledger Protocol ilp-node spoke between peers (BTP alpha).
//!
//! The wire format is btp-packet 1.2.1's `BTP_VERSION_ALPHA` (the
//! `mj-testnet-1` branch ilp-node used): `type` u8 · `requestId` u32 · a
//! var-octet-string holding the content. Every content ends with the
//! `protocolData` list.
//!
//! | type | packet | content |
//! |---|---|---|
//! | 1 | [`Ack`] | protocolData |
//! | 2 | [`Response`] | protocolData |
//! | 3 | [`Error`] | rejectionReason (a legacy IlpError packet) · protocolData |
//! | 4 | [`Prepare`] | transferId (UUID) · amount u64 · executionCondition · expiresAt · protocolData |
//! | 5 | [`Fulfill`] | transferId · fulfillment · protocolData |
//! | 6 | [`Reject`] | transferId · rejectionReason · protocolData |
//! | 7 | [`Message`] | protocolData |
//!
//! The rejection reason is kept as the raw IlpError packet; decode it with
//! [`Error::rejection_reason`] or [`Reject::rejection_reason`].

use crate::DecodeError;
use crate::Mode;
use crate::legacy::IlpError;

/// Type id of [`Ack`].
pub const TYPE_ACK: u8 = 1;
/// Type id of [`Response`].
pub const TYPE_RESPONSE: u8 = 2;
/// Type id of [`Error`].
pub const TYPE_ERROR: u8 = 3;
/// Type id of [`Prepare`].
pub const TYPE_PREPARE: u8 = 4;
/// Type id of [`Fulfill`].
pub const TYPE_FULFILL: u8 = 5;
/// Type id of [`Reject`].
pub const TYPE_REJECT: u8 = 6;
/// Type id of [`Message`].
pub const TYPE_MESSAGE: u8 = 7;

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_ACK;
    /// Acknowledges a request (type 1).
    Ack {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// Side-protocol payloads (ilp-node sent none).
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_RESPONSE;
    /// Answers a Message (type 2).
    Response {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_ERROR;
    /// Reports a failed request (type 3).
    Error {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// The complete legacy IlpError packet, as sent.
        rejection_reason: B => reason,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_PREPARE;
    /// Offers a conditional transfer (type 4).
    Prepare {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// The transfer's UUID.
        transfer_id: [u8; 16] => uuid,
        /// Amount in ledger base units.
        amount: u64 => u64,
        /// SHA-256 hash of the fulfillment.
        execution_condition: [u8; 32] => hash,
        /// When the offer lapses.
        expires_at: crate::Timestamp => time,
        /// Side-protocol payloads (an `ilp` entry carries the ILP packet).
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_FULFILL;
    /// Claims a transfer (type 5).
    Fulfill {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// The transfer's UUID.
        transfer_id: [u8; 16] => uuid,
        /// The preimage of the execution condition.
        fulfillment: [u8; 32] => hash,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_REJECT;
    /// Refuses a transfer (type 6).
    Reject {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// The transfer's UUID.
        transfer_id: [u8; 16] => uuid,
        /// The complete legacy IlpError packet, as sent.
        rejection_reason: B => reason,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_MESSAGE;
    /// An unconditional request (type 7).
    Message {
        /// Correlates with the response.
        request_id: u32 => reqid,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_family! {
    envelope = request;
    /// Any CLP packet.
    pub enum Packet {
        /// Type 1.
        Ack(Ack<B>) = TYPE_ACK,
        /// Type 2.
        Response(Response<B>) = TYPE_RESPONSE,
        /// Type 3.
        Error(Error<B>) = TYPE_ERROR,
        /// Type 4.
        Prepare(Prepare<B>) = TYPE_PREPARE,
        /// Type 5.
        Fulfill(Fulfill<B>) = TYPE_FULFILL,
        /// Type 6.
        Reject(Reject<B>) = TYPE_REJECT,
        /// Type 7.
        Message(Message<B>) = TYPE_MESSAGE,
    }
}

impl<B: AsRef<[u8]>> Error<B> {
    /// Decodes the rejection reason as a strict legacy IlpError.
    pub fn rejection_reason(&self) -> Result<IlpError<&[u8]>, DecodeError> {
        IlpError::decode(self.rejection_reason.as_ref(), Mode::Strict)
    }
}

impl<B: AsRef<[u8]>> Reject<B> {
    /// Decodes the rejection reason as a strict legacy IlpError.
    pub fn rejection_reason(&self) -> Result<IlpError<&[u8]>, DecodeError> {
        IlpError::decode(self.rejection_reason.as_ref(), Mode::Strict)
    }
}
