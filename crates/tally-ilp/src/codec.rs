//! What every packet family shares: the [`Encode`] trait, envelopes, error
//! codes, text checks and the lazily-iterated lists (protocol data entries,
//! `forwardedBy` addresses) that keep decoding allocation-free.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Mode;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::oer::{self, Reader};

/// Encoding of a packet into its exact bytes.
///
/// `encode` succeeds exactly when strict decoding of the output succeeds and
/// yields the same packet; otherwise it reports the offending field.
pub trait Encode {
    /// The exact size of the encoding, in bytes.
    fn encoded_len(&self) -> usize;

    /// Checks every field against the rules strict decoding enforces.
    fn validate(&self) -> Result<(), EncodeError>;

    /// Appends the encoding to `buf` without validating (internal).
    #[doc(hidden)]
    fn write_unchecked(&self, buf: &mut BytesMut);

    /// Validates, then appends the encoding to `buf`.
    fn encode_into(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.validate()?;
        let before = buf.len();
        buf.reserve(self.encoded_len());
        self.write_unchecked(buf);
        debug_assert_eq!(
            buf.len() - before,
            self.encoded_len(),
            "encoded_len disagrees with the writer"
        );
        Ok(())
    }

    /// Validates and encodes into a buffer allocated once, at the exact size.
    fn encode(&self) -> Result<Bytes, EncodeError> {
        self.validate()?;
        let len = self.encoded_len();
        let mut buf = BytesMut::with_capacity(len);
        self.write_unchecked(&mut buf);
        debug_assert_eq!(buf.len(), len, "encoded_len disagrees with the writer");
        Ok(buf.freeze())
    }
}

/// Size of an ILP envelope (`type`, length-prefixed content).
pub(crate) fn envelope_len(content_len: usize) -> usize {
    1 + oer::var_octets_len(content_len)
}

/// Writes an ILP envelope header; the caller writes `content_len` bytes after it.
pub(crate) fn write_envelope_header(buf: &mut BytesMut, type_id: u8, content_len: usize) {
    buf.put_u8(type_id);
    oer::write_length(buf, content_len);
}

/// Reads an ILP envelope, `type` then a length-prefixed content, checking
/// the type with `known` before anything else. Strict mode rejects bytes
/// after the envelope.
pub(crate) fn read_envelope<'a>(
    input: &'a [u8],
    mode: Mode,
    known: impl Fn(u8) -> bool,
) -> Result<(u8, Reader<'a>), DecodeError> {
    let mut reader = Reader::new(input);
    let type_id = reader.read_u8()?;
    if !known(type_id) {
        return Err(DecodeError::new(0, DecodeErrorKind::UnknownType(type_id)));
    }
    let content = reader.read_var_octets_reader()?;
    reader.finish(mode)?;
    Ok((type_id, content))
}

/// Size of a CLP/BTP envelope (`type`, `requestId`, length-prefixed content).
pub(crate) fn request_envelope_len(content_len: usize) -> usize {
    1 + 4 + oer::var_octets_len(content_len)
}

/// Writes a CLP/BTP envelope header.
pub(crate) fn write_request_envelope_header(buf: &mut BytesMut, type_id: u8, request_id: u32, content_len: usize) {
    buf.put_u8(type_id);
    buf.put_u32(request_id);
    oer::write_length(buf, content_len);
}

/// Reads a CLP/BTP envelope: `type`, `requestId` (u32), length-prefixed content.
pub(crate) fn read_request_envelope<'a>(
    input: &'a [u8],
    mode: Mode,
    known: impl Fn(u8) -> bool,
) -> Result<(u8, u32, Reader<'a>), DecodeError> {
    let mut reader = Reader::new(input);
    let type_id = reader.read_u8()?;
    if !known(type_id) {
        return Err(DecodeError::new(0, DecodeErrorKind::UnknownType(type_id)));
    }
    let request_id = reader.read_u32()?;
    let content = reader.read_var_octets_reader()?;
    reader.finish(mode)?;
    Ok((type_id, request_id, content))
}

/// Strict mode: `text` must be UTF-8.
pub(crate) fn check_utf8(start: usize, text: &[u8], mode: Mode) -> Result<(), DecodeError> {
    if mode == Mode::Strict && std::str::from_utf8(text).is_err() {
        return Err(DecodeError::new(start, DecodeErrorKind::InvalidUtf8));
    }
    Ok(())
}

/// Strict mode: `text` must be ASCII.
pub(crate) fn check_ascii(start: usize, text: &[u8], mode: Mode) -> Result<(), DecodeError> {
    if mode == Mode::Strict && !text.is_ascii() {
        return Err(DecodeError::new(start, DecodeErrorKind::NotAscii));
    }
    Ok(())
}

/// A three-character ILP error code such as `F02` (Unreachable).
///
/// Any three bytes are representable; strict decoding and encoding require
/// printable ASCII, which admits the standard codes and non-standard ones
/// such as the `L01` ledger codes ilp-node sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub [u8; 3]);

/// Who is to blame for an error, from the code's first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// `F`: final; retrying the same packet will not help.
    Final,
    /// `T`: temporary; the same packet may succeed later.
    Temporary,
    /// `R`: relative; the sender's parameters (amount, timeout) were wrong.
    Relative,
}

const fn const_code(code: &str) -> [u8; 3] {
    let b = code.as_bytes();
    [b[0], b[1], b[2]]
}

macro_rules! error_codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl ErrorCode {
            $(
                #[doc = concat!("`", $code, "` ", $text, ".")]
                pub const $name: ErrorCode = ErrorCode(const_code($code));
            )*

            /// The standard name of the code (`"Unreachable"` for `F02`), if it is a standard one.
            pub fn name(self) -> Option<&'static str> {
                match &self.0 {
                    $(x if x == $code.as_bytes() => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    F00_BAD_REQUEST = "F00", "Bad Request";
    F01_INVALID_PACKET = "F01", "Invalid Packet";
    F02_UNREACHABLE = "F02", "Unreachable";
    F03_INVALID_AMOUNT = "F03", "Invalid Amount";
    F04_INSUFFICIENT_DESTINATION_AMOUNT = "F04", "Insufficient Destination Amount";
    F05_WRONG_CONDITION = "F05", "Wrong Condition";
    F06_UNEXPECTED_PAYMENT = "F06", "Unexpected Payment";
    F07_CANNOT_RECEIVE = "F07", "Cannot Receive";
    F08_AMOUNT_TOO_LARGE = "F08", "Amount Too Large";
    F99_APPLICATION_ERROR = "F99", "Application Error";
    T00_INTERNAL_ERROR = "T00", "Internal Error";
    T01_PEER_UNREACHABLE = "T01", "Peer Unreachable";
    T02_PEER_BUSY = "T02", "Peer Busy";
    T03_CONNECTOR_BUSY = "T03", "Connector Busy";
    T04_INSUFFICIENT_LIQUIDITY = "T04", "Insufficient Liquidity";
    T05_RATE_LIMITED = "T05", "Rate Limited";
    T99_APPLICATION_ERROR = "T99", "Application Error";
    R00_TRANSFER_TIMED_OUT = "R00", "Transfer Timed Out";
    R01_INSUFFICIENT_SOURCE_AMOUNT = "R01", "Insufficient Source Amount";
    R02_INSUFFICIENT_TIMEOUT = "R02", "Insufficient Timeout";
    R99_APPLICATION_ERROR = "R99", "Application Error";
}

impl ErrorCode {
    /// The code as text, if it is printable ASCII.
    pub fn as_str(&self) -> Option<&str> {
        if self.is_printable_ascii() {
            std::str::from_utf8(&self.0).ok()
        } else {
            None
        }
    }

    /// Whether all three bytes are printable ASCII (`0x21..=0x7e`), the rule
    /// strict decoding and encoding apply.
    pub fn is_printable_ascii(&self) -> bool {
        self.0.iter().all(u8::is_ascii_graphic)
    }

    /// The class, from the first letter, for `F`, `T` and `R` codes.
    pub fn class(self) -> Option<ErrorClass> {
        match self.0[0] {
            b'F' => Some(ErrorClass::Final),
            b'T' => Some(ErrorClass::Temporary),
            b'R' => Some(ErrorClass::Relative),
            _ => None,
        }
    }

    pub(crate) fn read(reader: &mut Reader<'_>, mode: Mode) -> Result<Self, DecodeError> {
        let start = reader.offset();
        let code = ErrorCode(reader.read_array()?);
        if mode == Mode::Strict && !code.is_printable_ascii() {
            return Err(DecodeError::new(start, DecodeErrorKind::InvalidErrorCode));
        }
        Ok(code)
    }

    pub(crate) fn validate(self) -> Result<(), EncodeError> {
        if self.is_printable_ascii() {
            Ok(())
        } else {
            Err(EncodeError::InvalidErrorCode)
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.as_str() {
            Some(text) => f.write_str(text),
            None => write!(f, "{:02x}{:02x}{:02x}", self.0[0], self.0[1], self.0[2]),
        }
    }
}

/// A var-uint count followed by that many entries, kept as the entries'
/// encoded bytes so decoding neither copies nor allocates. The one
/// mechanism behind [`VarOctetsList`] and [`ProtocolData`]; they differ only
/// in how one entry is read and written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CountedList<B> {
    count: usize,
    /// The entries as written on the wire, after the count.
    raw: B,
}

impl<B: AsRef<[u8]>> CountedList<B> {
    fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> CountedList<C> {
        CountedList {
            count: self.count,
            raw: f(self.raw),
        }
    }

    fn encoded_len(&self) -> usize {
        oer::var_uint_len(self.count as u64) + self.raw.as_ref().len()
    }

    fn write(&self, buf: &mut BytesMut) {
        oer::write_var_uint(buf, self.count as u64);
        buf.put_slice(self.raw.as_ref());
    }
}

impl CountedList<Bytes> {
    fn build<T>(items: impl IntoIterator<Item = T>, mut write_entry: impl FnMut(&mut BytesMut, T)) -> Self {
        let mut raw = BytesMut::new();
        let mut count = 0;
        for item in items {
            write_entry(&mut raw, item);
            count += 1;
        }
        CountedList {
            count,
            raw: raw.freeze(),
        }
    }
}

impl<'a> CountedList<&'a [u8]> {
    /// Reads the count (refusing one the remaining input cannot hold at
    /// `min_entry_bytes` each) and then every entry with `read_entry`.
    fn read(
        reader: &mut Reader<'a>,
        mode: Mode,
        min_entry_bytes: usize,
        mut read_entry: impl FnMut(&mut Reader<'a>) -> Result<(), DecodeError>,
    ) -> Result<Self, DecodeError> {
        let count = reader.read_count(mode, min_entry_bytes)?;
        let rest = reader.rest();
        let start = reader.remaining();
        for _ in 0..count {
            read_entry(reader)?;
        }
        let used = start - reader.remaining();
        Ok(CountedList {
            count,
            raw: rest.get(..used).unwrap_or_default(),
        })
    }
}

/// A sequence of var-octet-strings (legacy `forwardedBy`), kept as its
/// encoded bytes so decoding neither copies nor allocates. Iterate with
/// [`VarOctetsList::iter`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarOctetsList<B = Bytes>(CountedList<B>);

impl<B: AsRef<[u8]>> VarOctetsList<B> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.count
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.count == 0
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut reader = Reader::new(self.0.raw.as_ref());
        (0..self.0.count).map_while(move |_| reader.read_var_octets().ok())
    }

    /// The entries as written on the wire (without the count).
    pub fn raw(&self) -> &[u8] {
        self.0.raw.as_ref()
    }

    /// The same list over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> VarOctetsList<C> {
        VarOctetsList(self.0.map_bytes(f))
    }

    pub(crate) fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    pub(crate) fn write(&self, buf: &mut BytesMut) {
        self.0.write(buf);
    }
}

impl VarOctetsList<Bytes> {
    /// Builds a list from its entries.
    pub fn from_items<I, T>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        VarOctetsList(CountedList::build(items, |raw, item| {
            oer::write_var_octets(raw, item.as_ref())
        }))
    }
}

impl<'a> VarOctetsList<&'a [u8]> {
    /// Reads a var-uint count then that many var-octet-strings.
    pub(crate) fn read(reader: &mut Reader<'a>, mode: Mode) -> Result<Self, DecodeError> {
        CountedList::read(reader, mode, 1, |reader| reader.read_var_octets().map(drop)).map(VarOctetsList)
    }
}

/// `protocolData` content type `0`: application/octet-stream.
pub const CONTENT_TYPE_OCTET_STREAM: u8 = 0;
/// `protocolData` content type `1`: text/plain; charset=utf-8.
pub const CONTENT_TYPE_TEXT_PLAIN_UTF8: u8 = 1;
/// `protocolData` content type `2`: application/json.
pub const CONTENT_TYPE_JSON: u8 = 2;

/// One `protocolData` entry of a CLP or BTP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolDataEntry<'a> {
    /// The side protocol, ASCII (`ilp`, `info`, `balance`, `vouch`, `ccp`, …).
    pub protocol_name: &'a [u8],
    /// [`CONTENT_TYPE_OCTET_STREAM`], [`CONTENT_TYPE_TEXT_PLAIN_UTF8`] or [`CONTENT_TYPE_JSON`] (any byte is carried).
    pub content_type: u8,
    /// The payload.
    pub data: &'a [u8],
}

/// The `protocolData` list of a CLP or BTP message, kept as its encoded
/// bytes so decoding neither copies nor allocates. Iterate with
/// [`ProtocolData::iter`]; build with [`ProtocolData::from_entries`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProtocolData<B = Bytes>(CountedList<B>);

impl<B: AsRef<[u8]>> ProtocolData<B> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.count
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.count == 0
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = ProtocolDataEntry<'_>> + '_ {
        let mut reader = Reader::new(self.0.raw.as_ref());
        (0..self.0.count).map_while(move |_| read_entry(&mut reader, Mode::Lenient).ok())
    }

    /// The first entry for `protocol_name`, if any.
    pub fn get(&self, protocol_name: &[u8]) -> Option<ProtocolDataEntry<'_>> {
        self.iter().find(|entry| entry.protocol_name == protocol_name)
    }

    /// The entries as written on the wire (without the count).
    pub fn raw(&self) -> &[u8] {
        self.0.raw.as_ref()
    }

    /// The same list over another byte container.
    pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> ProtocolData<C> {
        ProtocolData(self.0.map_bytes(f))
    }

    pub(crate) fn encoded_len(&self) -> usize {
        self.0.encoded_len()
    }

    pub(crate) fn write(&self, buf: &mut BytesMut) {
        self.0.write(buf);
    }
}

impl ProtocolData<Bytes> {
    /// An empty list.
    pub fn empty() -> Self {
        ProtocolData(CountedList {
            count: 0,
            raw: Bytes::new(),
        })
    }

    /// Builds a list from its entries. Protocol names must be ASCII for the
    /// packet to encode.
    pub fn from_entries<'e>(entries: impl IntoIterator<Item = ProtocolDataEntry<'e>>) -> Self {
        ProtocolData(CountedList::build(entries, |raw, entry| {
            oer::write_var_octets(raw, entry.protocol_name);
            raw.put_u8(entry.content_type);
            oer::write_var_octets(raw, entry.data);
        }))
    }
}

impl Default for ProtocolData<Bytes> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<B: AsRef<[u8]>> ProtocolData<B> {
    pub(crate) fn validate(&self) -> Result<(), EncodeError> {
        if self.iter().all(|entry| entry.protocol_name.is_ascii()) {
            Ok(())
        } else {
            Err(EncodeError::NotAscii { field: "protocolName" })
        }
    }
}

fn read_entry<'a>(reader: &mut Reader<'a>, mode: Mode) -> Result<ProtocolDataEntry<'a>, DecodeError> {
    let start = reader.offset();
    let protocol_name = reader.read_var_octets()?;
    check_ascii(start, protocol_name, mode)?;
    let content_type = reader.read_u8()?;
    let data = reader.read_var_octets()?;
    Ok(ProtocolDataEntry {
        protocol_name,
        content_type,
        data,
    })
}

impl<'a> ProtocolData<&'a [u8]> {
    /// Reads the count (a var-uint) and the entries, each at least 3 bytes.
    pub(crate) fn read(reader: &mut Reader<'a>, mode: Mode) -> Result<Self, DecodeError> {
        CountedList::read(reader, mode, 3, |reader| read_entry(reader, mode).map(drop)).map(ProtocolData)
    }
}

/// Maps a decoded view's slices onto the [`Bytes`] they were decoded from.
pub(crate) fn slicer(source: &Bytes) -> impl FnMut(&[u8]) -> Bytes + '_ {
    move |sub| {
        if sub.is_empty() {
            Bytes::new()
        } else {
            source.slice_ref(sub)
        }
    }
}

/// Reads a packet's content fields (implemented by `packet_struct!`).
pub(crate) trait ReadContent<'a>: Sized {
    /// Reads the fields; `request_id` comes from a CLP/BTP envelope.
    fn read_content(reader: &mut Reader<'a>, mode: Mode, request_id: u32) -> Result<Self, DecodeError>;
}

/// Reads a var-octet-string GeneralizedTime `YYYYMMDDHHmmSS.fffZ`.
pub(crate) fn read_generalized_time(reader: &mut Reader<'_>, mode: Mode) -> Result<crate::Timestamp, DecodeError> {
    let start = reader.offset();
    let text = reader.read_var_octets()?;
    crate::Timestamp::from_generalized_time(text, mode)
        .ok_or(DecodeError::new(start, DecodeErrorKind::InvalidTimestamp))
}

/// Reads the legacy extensibility byte that ends every legacy content.
/// Strict mode requires it to be there and to be `0x00`; lenient mode, like
/// the JavaScript decoders, ignores it and anything after it.
pub(crate) fn read_extensibility_byte(reader: &mut Reader<'_>, mode: Mode) -> Result<(), DecodeError> {
    if mode == Mode::Lenient {
        return Ok(());
    }
    let start = reader.offset();
    match reader.read_u8() {
        Ok(0) => Ok(()),
        Ok(other) => Err(DecodeError::new(
            start,
            DecodeErrorKind::InvalidExtensibilityByte(other),
        )),
        Err(_) => Err(DecodeError::new(start, DecodeErrorKind::MissingExtensibilityByte)),
    }
}

/// Reads a CLP rejection reason: a complete, self-delimiting legacy
/// IlpError packet (`08`, length prefix, content), returned whole.
///
/// The JavaScript reader rebuilt the header as `[type, length]`, which
/// breaks for contents over 127 bytes; this slices the raw bytes instead.
/// Strict mode also decodes the packet strictly as an IlpError.
pub(crate) fn read_rejection_reason<'a>(reader: &mut Reader<'a>, mode: Mode) -> Result<&'a [u8], DecodeError> {
    let start = reader.offset();
    let rest = reader.rest();
    let available = reader.remaining();
    let type_id = reader.read_u8()?;
    reader.read_var_octets()?;
    let packet = rest.get(..available - reader.remaining()).unwrap_or_default();
    if mode == Mode::Strict {
        if type_id != crate::legacy::TYPE_ILP_ERROR {
            return Err(DecodeError::new(start, DecodeErrorKind::NotAnIlpError(type_id)));
        }
        crate::legacy::Packet::<&[u8]>::decode(packet, Mode::Strict)
            .map_err(|e| DecodeError::new(start + e.offset, e.kind))?;
    }
    Ok(packet)
}

/// Encoding check for a rejection reason: a strictly valid IlpError packet.
pub(crate) fn validate_rejection_reason(packet: &[u8]) -> Result<(), EncodeError> {
    if packet.first() != Some(&crate::legacy::TYPE_ILP_ERROR) {
        let found = packet.first().copied().unwrap_or(0);
        return Err(EncodeError::InvalidRejectionReason(DecodeError::new(
            0,
            DecodeErrorKind::NotAnIlpError(found),
        )));
    }
    crate::legacy::Packet::<&[u8]>::decode(packet, Mode::Strict).map_err(EncodeError::InvalidRejectionReason)?;
    Ok(())
}
