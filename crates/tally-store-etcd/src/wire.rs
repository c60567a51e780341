//! The few messages of etcd's v3 API this store sends and reads, in the
//! JSON shape of etcd's gRPC gateway (`/v3/kv/range`, `/v3/kv/txn`,
//! `/v3/kv/deleterange`, `/v3/maintenance/status`), and the exact size of
//! each request as etcd encodes it (protobuf), which is what
//! `--max-request-bytes` limits.
//!
//! The gateway writes protobuf JSON with the proto field names: bytes as
//! base64, 64-bit integers as decimal strings, fields at their default
//! value (zero, false, empty) left out.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// The least [`EtcdLimits::max_request_bytes`](crate::EtcdLimits::max_request_bytes)
/// accepted: below it not even a one-key commit of a long key fits.
pub(crate) const MIN_REQUEST_BYTES: usize = 4 * 1024;

/// What etcd adds around a transaction before it checks
/// `--max-request-bytes` (the raft request's header and framing, about 20
/// bytes), with room to spare.
pub(crate) const RAFT_OVERHEAD_BYTES: usize = 64;

/// Bytes that serialize as base64, without a copy.
#[derive(Clone, Copy)]
pub(crate) struct B64<'a>(pub(crate) &'a [u8]);

impl Serialize for B64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&base64::display::Base64Display::new(self.0, &STANDARD))
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// `RangeRequest`: the keys from `key` up to `range_end` (exclusive;
/// absent: `key` alone; `[0]`: every key from `key` on), ascending.
#[derive(Serialize)]
pub(crate) struct RangeRequest<'a> {
    pub(crate) key: B64<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) range_end: Option<B64<'a>>,
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) limit: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub(crate) keys_only: bool,
}

/// `DeleteRangeRequest`.
#[derive(Serialize)]
pub(crate) struct DeleteRangeRequest<'a> {
    pub(crate) key: B64<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) range_end: Option<B64<'a>>,
}

/// `PutRequest`.
#[derive(Serialize)]
pub(crate) struct PutRequest<'a> {
    pub(crate) key: B64<'a>,
    pub(crate) value: B64<'a>,
}

/// `Compare` with target `MOD` and result `EQUAL`: holds iff `key`'s
/// `mod_revision` is `mod_revision` (an absent key's is 0).
#[derive(Serialize)]
pub(crate) struct ModRevisionIs<'a> {
    pub(crate) key: B64<'a>,
    pub(crate) target: &'static str,
    pub(crate) mod_revision: i64,
}

impl<'a> ModRevisionIs<'a> {
    pub(crate) fn new(key: &'a [u8], mod_revision: i64) -> Self {
        ModRevisionIs {
            key: B64(key),
            target: "MOD",
            mod_revision,
        }
    }
}

/// `RequestOp`: one operation of a transaction branch.
#[derive(Serialize)]
pub(crate) enum RequestOp<'a> {
    #[serde(rename = "request_range")]
    Range(RangeRequest<'a>),
    #[serde(rename = "request_put")]
    Put(PutRequest<'a>),
    #[serde(rename = "request_delete_range")]
    Delete(DeleteRangeRequest<'a>),
}

/// `TxnRequest`: if every compare holds, `success` runs, else `failure`.
#[derive(Serialize)]
pub(crate) struct TxnRequest<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) compare: Vec<ModRevisionIs<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) success: Vec<RequestOp<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) failure: Vec<RequestOp<'a>>,
}

/// A 64-bit integer written as a decimal string (or, leniently, a number).
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a 64-bit integer, as a decimal string")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<i64, E> {
            text.parse().map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value).map_err(E::custom)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// A `uint64` written as a decimal string (cluster and member ids).
fn uint64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an unsigned 64-bit integer, as a decimal string")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            text.parse().map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
            Ok(value)
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// Base64 text decoded to bytes.
fn bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text: Cow<'de, str> = Deserialize::deserialize(deserializer)?;
    STANDARD.decode(text.as_bytes()).map_err(de::Error::custom)
}

/// `ResponseHeader`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ResponseHeader {
    #[serde(default, deserialize_with = "uint64")]
    pub(crate) cluster_id: u64,
}

/// `mvccpb.KeyValue`.
#[derive(Debug, Deserialize)]
pub(crate) struct KeyValue {
    #[serde(default, deserialize_with = "bytes")]
    pub(crate) key: Vec<u8>,
    #[serde(default, deserialize_with = "bytes")]
    pub(crate) value: Vec<u8>,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) mod_revision: i64,
}

/// `RangeResponse`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RangeResponse {
    #[serde(default)]
    pub(crate) kvs: Vec<KeyValue>,
    #[serde(default)]
    pub(crate) more: bool,
}

/// `ResponseOp`; only ranges are read.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseOp {
    #[serde(default)]
    pub(crate) response_range: Option<RangeResponse>,
}

/// `TxnResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct TxnResponse {
    #[serde(default)]
    pub(crate) succeeded: bool,
    #[serde(default)]
    pub(crate) responses: Vec<ResponseOp>,
}

/// `DeleteRangeResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteRangeResponse {
    #[serde(default, deserialize_with = "int64")]
    pub(crate) deleted: i64,
}

/// `StatusResponse` (its own fields are camelCase in etcd's proto file).
#[derive(Debug, Deserialize)]
pub(crate) struct StatusResponse {
    #[serde(default)]
    pub(crate) header: ResponseHeader,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default, deserialize_with = "uint64")]
    pub(crate) leader: u64,
}

/// An error answer of the gateway: the gRPC status.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) code: i32,
    #[serde(default)]
    pub(crate) message: String,
    #[serde(default)]
    pub(crate) error: String,
}

// ---------------------------------------------------------------------------
// Request sizes, as etcd's protobuf encoding has them.
// ---------------------------------------------------------------------------

/// Bytes of `value` as a protobuf varint.
pub(crate) fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// A length-delimited field (bytes or message) of `len` bytes, field
/// number below 16.
pub(crate) fn len_field(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// An `int64` field (negative numbers take ten bytes), field number below 16.
fn int64_field(value: i64) -> usize {
    1 + varint_len(value as u64)
}

/// One entry of `TxnRequest.compare`: target `MOD` (2 bytes; result
/// `EQUAL` is the default and not sent), the key, and `mod_revision`
/// (sent even when 0: it is a oneof member).
pub(crate) fn compare_bytes(key_len: usize, mod_revision: i64) -> usize {
    len_field(2 + len_field(key_len) + int64_field(mod_revision))
}

/// One `request_put` entry of a branch.
pub(crate) fn put_bytes(key_len: usize, value_len: usize) -> usize {
    let value = if value_len == 0 { 0 } else { len_field(value_len) };
    len_field(len_field(len_field(key_len) + value))
}

/// One `request_delete_range` entry (one key) of a branch.
pub(crate) fn delete_bytes(key_len: usize) -> usize {
    len_field(len_field(len_field(key_len)))
}

/// One `request_range` entry (one key, `keys_only`) of a branch.
pub(crate) fn keys_only_range_bytes(key_len: usize) -> usize {
    len_field(len_field(len_field(key_len) + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_take_seven_bits_a_byte() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16_383), 2);
        assert_eq!(varint_len(16_384), 3);
        assert_eq!(varint_len(u64::MAX), 10);
        assert_eq!(int64_field(-1), 11);
    }

    #[test]
    fn message_sizes_match_protobuf() {
        // Put{key: "k", value: "v"} is 0a 01 6b 12 01 76 (6 bytes); as
        // RequestOp.request_put it is 12 06 + 6; as TxnRequest.success 12 08 + 8.
        assert_eq!(put_bytes(1, 1), 10);
        // An empty value is not sent.
        assert_eq!(put_bytes(1, 0), 7);
        // Compare{target: MOD, key: "k", mod_revision: 5} is 10 02 1a 01 6b 30 05.
        assert_eq!(compare_bytes(1, 5), 9);
        // RangeRequest{key: "k", keys_only: true} is 0a 01 6b 40 01.
        assert_eq!(keys_only_range_bytes(1), 9);
        assert_eq!(delete_bytes(1), 7);
    }

    #[test]
    fn requests_are_gateway_json() {
        let txn = TxnRequest {
            compare: vec![ModRevisionIs::new(b"k", 0)],
            success: vec![
                RequestOp::Put(PutRequest {
                    key: B64(b"k"),
                    value: B64(b"\xff"),
                }),
                RequestOp::Delete(DeleteRangeRequest {
                    key: B64(b"d"),
                    range_end: None,
                }),
            ],
            failure: vec![RequestOp::Range(RangeRequest {
                key: B64(b"k"),
                range_end: None,
                limit: 0,
                keys_only: true,
            })],
        };
        assert_eq!(
            serde_json::to_string(&txn).unwrap(),
            r#"{"compare":[{"key":"aw==","target":"MOD","mod_revision":0}],"success":[{"request_put":{"key":"aw==","value":"/w=="}},{"request_delete_range":{"key":"ZA=="}}],"failure":[{"request_range":{"key":"aw==","keys_only":true}}]}"#
        );
    }

    #[test]
    fn responses_read_strings_as_integers_and_base64_as_bytes() {
        let range: RangeResponse = serde_json::from_str(
            r#"{"header":{"revision":"7"},"kvs":[{"key":"aw==","create_revision":"2","mod_revision":"7","version":"3"}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(range.kvs.len(), 1);
        assert_eq!(range.kvs[0].key, b"k");
        assert_eq!(range.kvs[0].value, b"", "an empty value is left out");
        assert_eq!(range.kvs[0].mod_revision, 7);
        assert!(!range.more);
        let txn: TxnResponse =
            serde_json::from_str(r#"{"header":{},"responses":[{"response_range":{"header":{}}}]}"#).unwrap();
        assert!(!txn.succeeded, "a failed transaction leaves `succeeded` out");
        assert!(txn.responses[0].response_range.as_ref().unwrap().kvs.is_empty());
        let status: StatusResponse = serde_json::from_str(
            r#"{"header":{"cluster_id":"18007212743259848805","member_id":"3"},"version":"3.4.23","dbSize":"20480","leader":"3"}"#,
        )
        .unwrap();
        assert_eq!(status.header.cluster_id, 18_007_212_743_259_848_805);
        assert_eq!(status.leader, 3);
        assert!(serde_json::from_str::<RangeResponse>(r#"{"kvs":[{"key":"!!"}]}"#).is_err());
    }
}
