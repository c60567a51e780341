//! The field-by-field machinery behind the legacy, CLP and BTP packet
//! structs. Each field has a wire kind:
//!
//! | kind | Rust type | wire |
//! |---|---|---|
//! | `u32`, `u64` | `u32`, `u64` | big-endian |
//! | `octets` | `B` | var-octet-string |
//! | `time` | [`crate::Timestamp`] | var-octet-string `YYYYMMDDHHmmSS.fffZ` |
//! | `code` | [`crate::ErrorCode`] | 3 bytes |
//! | `uuid` | `[u8; 16]` | 16 bytes |
//! | `hash` | `[u8; 32]` | 32 bytes |
//! | `list` | [`crate::VarOctetsList`] | var-uint count, var-octet-strings |
//! | `curve` | [`crate::legacy::LiquidityCurve`] | var-uint count, 16-byte points |
//! | `pdata` | [`crate::ProtocolData`] | var-uint count, entries |
//! | `reason` | `B` | a complete legacy IlpError packet |
//! | `reqid` | `u32` | none: the CLP/BTP `requestId`, which lives in the envelope |

macro_rules! field_read {
    (reqid, $r:ident, $mode:ident, $rid:ident) => {
        $rid
    };
    (u32, $r:ident, $mode:ident, $rid:ident) => {
        $r.read_u32()?
    };
    (u64, $r:ident, $mode:ident, $rid:ident) => {
        $r.read_u64()?
    };
    (octets, $r:ident, $mode:ident, $rid:ident) => {
        $r.read_var_octets()?
    };
    (time, $r:ident, $mode:ident, $rid:ident) => {
        $crate::codec::read_generalized_time($r, $mode)?
    };
    (code, $r:ident, $mode:ident, $rid:ident) => {
        $crate::ErrorCode::read($r, $mode)?
    };
    (uuid, $r:ident, $mode:ident, $rid:ident) => {
        $r.read_array::<16>()?
    };
    (hash, $r:ident, $mode:ident, $rid:ident) => {
        $r.read_array::<32>()?
    };
    (list, $r:ident, $mode:ident, $rid:ident) => {
        $crate::VarOctetsList::read($r, $mode)?
    };
    (curve, $r:ident, $mode:ident, $rid:ident) => {
        $crate::legacy::LiquidityCurve::read($r, $mode)?
    };
    (pdata, $r:ident, $mode:ident, $rid:ident) => {
        $crate::ProtocolData::read($r, $mode)?
    };
    (reason, $r:ident, $mode:ident, $rid:ident) => {
        $crate::codec::read_rejection_reason($r, $mode)?
    };
}

macro_rules! field_len {
    (reqid, $v:expr) => {
        0
    };
    (u32, $v:expr) => {
        4
    };
    (u64, $v:expr) => {
        8
    };
    (octets, $v:expr) => {
        $crate::oer::var_octets_len($v.as_ref().len())
    };
    (time, $v:expr) => {
        20
    };
    (code, $v:expr) => {
        3
    };
    (uuid, $v:expr) => {
        16
    };
    (hash, $v:expr) => {
        32
    };
    (list, $v:expr) => {
        $v.encoded_len()
    };
    (curve, $v:expr) => {
        $v.encoded_len()
    };
    (pdata, $v:expr) => {
        $v.encoded_len()
    };
    (reason, $v:expr) => {
        $v.as_ref().len()
    };
}

macro_rules! field_write {
    (reqid, $buf:ident, $v:expr) => {
        ()
    };
    (u32, $buf:ident, $v:expr) => {
        ::bytes::BufMut::put_u32($buf, $v)
    };
    (u64, $buf:ident, $v:expr) => {
        ::bytes::BufMut::put_u64($buf, $v)
    };
    (octets, $buf:ident, $v:expr) => {
        $crate::oer::write_var_octets($buf, $v.as_ref())
    };
    (time, $buf:ident, $v:expr) => {
        $crate::oer::write_var_octets($buf, &$v.to_generalized_time())
    };
    (code, $buf:ident, $v:expr) => {
        ::bytes::BufMut::put_slice($buf, &$v.0)
    };
    (uuid, $buf:ident, $v:expr) => {
        ::bytes::BufMut::put_slice($buf, &$v)
    };
    (hash, $buf:ident, $v:expr) => {
        ::bytes::BufMut::put_slice($buf, &$v)
    };
    (list, $buf:ident, $v:expr) => {
        $v.write($buf)
    };
    (curve, $buf:ident, $v:expr) => {
        $v.write($buf)
    };
    (pdata, $buf:ident, $v:expr) => {
        $v.write($buf)
    };
    (reason, $buf:ident, $v:expr) => {
        ::bytes::BufMut::put_slice($buf, $v.as_ref())
    };
}

macro_rules! field_map {
    (octets, $v:expr, $f:ident) => {
        $f($v)
    };
    (reason, $v:expr, $f:ident) => {
        $f($v)
    };
    (list, $v:expr, $f:ident) => {
        $v.map_bytes($f)
    };
    (curve, $v:expr, $f:ident) => {
        $v.map_bytes($f)
    };
    (pdata, $v:expr, $f:ident) => {
        $v.map_bytes($f)
    };
    ($kind:ident, $v:expr, $f:ident) => {
        $v
    };
}

macro_rules! field_validate {
    (code, $v:expr) => {
        $v.validate()?
    };
    (pdata, $v:expr) => {
        $v.validate()?
    };
    (reason, $v:expr) => {
        $crate::codec::validate_rejection_reason($v.as_ref())?
    };
    ($kind:ident, $v:expr) => {
        ()
    };
}

/// How a family ends each packet's content: legacy packets with the `0x00`
/// extensibility byte, the others with nothing.
macro_rules! trailer_len {
    (ext) => {
        1
    };
    (none) => {
        0
    };
}

macro_rules! trailer_write {
    (ext, $buf:ident) => {
        ::bytes::BufMut::put_u8($buf, 0)
    };
    (none, $buf:ident) => {
        ()
    };
}

macro_rules! trailer_read {
    (ext, $r:ident, $mode:ident) => {
        $crate::codec::read_extensibility_byte($r, $mode)?
    };
    (none, $r:ident, $mode:ident) => {
        ()
    };
}

macro_rules! envelope_len {
    (ilp, $content_len:expr) => {
        $crate::codec::envelope_len($content_len)
    };
    (request, $content_len:expr) => {
        $crate::codec::request_envelope_len($content_len)
    };
}

macro_rules! envelope_write {
    (ilp, $buf:ident, $type_id:expr, $self:ident, $content_len:expr) => {
        $crate::codec::write_envelope_header($buf, $type_id, $content_len)
    };
    (request, $buf:ident, $type_id:expr, $self:ident, $content_len:expr) => {
        $crate::codec::write_request_envelope_header($buf, $type_id, $self.request_id, $content_len)
    };
}

/// Defines one packet struct, generic over its byte fields, with its
/// content reader, size, writer, validation, `map_bytes` and [`crate::Encode`].
macro_rules! packet_struct {
    (
        envelope = $envelope:ident, trailer = $trailer:ident, type_id = $type_id:expr;
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $kind:ident ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name<B = ::bytes::Bytes> {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl<'a> $crate::codec::ReadContent<'a> for $name<&'a [u8]> {
            #[allow(unused_variables, reason = "not every packet uses every input")]
            fn read_content(
                reader: &mut $crate::oer::Reader<'a>,
                mode: $crate::Mode,
                request_id: u32,
            ) -> Result<Self, $crate::DecodeError> {
                let packet = $name { $( $field: field_read!($kind, reader, mode, request_id), )* };
                trailer_read!($trailer, reader, mode);
                Ok(packet)
            }
        }

        impl<B: AsRef<[u8]>> $name<B> {
            /// The packet type id on the wire.
            pub const TYPE_ID: u8 = $type_id;

            /// The same packet over another byte container.
            #[allow(unused_variables, reason = "not every packet has variable fields")]
            pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> $name<C> {
                $name { $( $field: field_map!($kind, self.$field, f), )* }
            }

            fn content_len(&self) -> usize {
                0 $( + field_len!($kind, self.$field) )* + trailer_len!($trailer)
            }
        }

        impl<B: AsRef<[u8]>> $crate::Encode for $name<B> {
            fn encoded_len(&self) -> usize {
                envelope_len!($envelope, self.content_len())
            }

            fn validate(&self) -> Result<(), $crate::EncodeError> {
                $( field_validate!($kind, self.$field); )*
                Ok(())
            }

            fn write_unchecked(&self, buf: &mut ::bytes::BytesMut) {
                envelope_write!($envelope, buf, $type_id, self, self.content_len());
                $( field_write!($kind, buf, self.$field); )*
                trailer_write!($trailer, buf);
            }
        }
    };
}

/// Defines a family's packet enum with `decode`, `decode_bytes`,
/// `type_id`, `map_bytes` and [`crate::Encode`].
macro_rules! packet_family {
    (
        envelope = $envelope:ident;
        $(#[$meta:meta])*
        pub enum $enum:ident {
            $( $(#[$vmeta:meta])* $variant:ident($($ty:tt)*) = $type_id:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $enum<B = ::bytes::Bytes> {
            $( $(#[$vmeta])* $variant($($ty)*), )*
        }

        impl<'a> $enum<&'a [u8]> {
            /// Decodes a packet of this family as a view over `input`,
            /// without copying or allocating. See [`crate::Mode`] for what
            /// each mode accepts.
            pub fn decode(input: &'a [u8], mode: $crate::Mode) -> Result<Self, $crate::DecodeError> {
                let known = |t: u8| false $( || t == $type_id )*;
                let (type_id, request_id, mut content) = envelope_read!($envelope, input, mode, known);
                $(
                    if type_id == $type_id {
                        let packet = $enum::$variant($crate::codec::ReadContent::read_content(&mut content, mode, request_id)?);
                        content.finish(mode)?;
                        return Ok(packet);
                    }
                )*
                Err($crate::DecodeError::new(0, $crate::DecodeErrorKind::UnknownType(type_id)))
            }
        }

        impl $enum<::bytes::Bytes> {
            /// Decodes a packet of this family with byte fields sharing
            /// `input`'s buffer (no copies). See [`crate::ilp4::Packet::decode_bytes`]
            /// for when this allocates.
            pub fn decode_bytes(input: &::bytes::Bytes, mode: $crate::Mode) -> Result<Self, $crate::DecodeError> {
                Ok($enum::<&[u8]>::decode(input, mode)?.map_bytes(&mut $crate::codec::slicer(input)))
            }
        }

        impl<B: AsRef<[u8]>> $enum<B> {
            /// The packet type id on the wire.
            pub fn type_id(&self) -> u8 {
                match self { $( $enum::$variant(_) => $type_id, )* }
            }

            /// The same packet over another byte container.
            pub fn map_bytes<C>(self, f: &mut impl FnMut(B) -> C) -> $enum<C> {
                match self { $( $enum::$variant(p) => $enum::$variant(p.map_bytes(f)), )* }
            }
        }

        impl<B: AsRef<[u8]>> $crate::Encode for $enum<B> {
            fn encoded_len(&self) -> usize {
                match self { $( $enum::$variant(p) => p.encoded_len(), )* }
            }

            fn validate(&self) -> Result<(), $crate::EncodeError> {
                match self { $( $enum::$variant(p) => p.validate(), )* }
            }

            fn write_unchecked(&self, buf: &mut ::bytes::BytesMut) {
                match self { $( $enum::$variant(p) => p.write_unchecked(buf), )* }
            }
        }
    };
}

macro_rules! envelope_read {
    (ilp, $input:ident, $mode:ident, $known:ident) => {{
        let (type_id, content) = $crate::codec::read_envelope($input, $mode, $known)?;
        (type_id, 0u32, content)
    }};
    (request, $input:ident, $mode:ident, $known:ident) => {
        $crate::codec::read_request_envelope($input, $mode, $known)?
    };
}
