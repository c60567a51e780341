//! BTP 2.0 (RFC 23, btp-packet 2.x): Response, Error, Message, Transfer.
//!
//! The envelope is `type` u8 · `requestId` u32 · a var-octet-string holding
//! the content, which ends with the `protocolData` list.
//!
//! | type | packet | content |
//! |---|---|---|
//! | 1 | [`Response`] | protocolData |
//! | 2 | [`Error`] | code · name · triggeredAt · data · protocolData |
//! | 6 | [`Message`] | protocolData |
//! | 7 | [`Transfer`] | amount u64 · protocolData |

/// Type id of [`Response`].
pub const TYPE_RESPONSE: u8 = 1;
/// Type id of [`Error`].
pub const TYPE_ERROR: u8 = 2;
/// Type id of [`Message`].
pub const TYPE_MESSAGE: u8 = 6;
/// Type id of [`Transfer`].
pub const TYPE_TRANSFER: u8 = 7;

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_RESPONSE;
    /// Answers a Message or Transfer (type 1).
    Response {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_ERROR;
    /// Reports a failed request (type 2).
    Error {
        /// Correlates with the request.
        request_id: u32 => reqid,
        /// The error code.
        code: crate::ErrorCode => code,
        /// The code's name, ASCII.
        name: B => octets,
        /// When the error was raised.
        triggered_at: crate::Timestamp => time,
        /// Details (UTF-8 in btp-packet).
        data: B => octets,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_MESSAGE;
    /// A request (type 6); an `ilp` entry usually carries an ILPv4 packet.
    Message {
        /// Correlates with the response.
        request_id: u32 => reqid,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_struct! {
    envelope = request, trailer = none, type_id = TYPE_TRANSFER;
    /// Settles value unconditionally (type 7).
    Transfer {
        /// Correlates with the response.
        request_id: u32 => reqid,
        /// Amount in ledger base units.
        amount: u64 => u64,
        /// Side-protocol payloads.
        protocol_data: crate::ProtocolData<B> => pdata,
    }
}

packet_family! {
    envelope = request;
    /// Any BTP 2.0 packet.
    pub enum Packet {
        /// Type 1.
        Response(Response<B>) = TYPE_RESPONSE,
        /// Type 2.
        Error(Error<B>) = TYPE_ERROR,
        /// Type 6.
        Message(Message<B>) = TYPE_MESSAGE,
        /// Type 7.
        Transfer(Transfer<B>) = TYPE_TRANSFER,
    }
}
