//! A [`Batch`] as one etcd transaction: which keys it writes (the last
//! write of each key wins, as the contract orders), what it compares, what
//! it reads when a compare fails, how large it is, and which precondition
//! failed.

use std::collections::HashMap;

use tally_store::bytes::Bytes;
use tally_store::{Batch, Conflict, InvalidRequest, Op, Precondition};

use crate::BACKEND;
use crate::options::EtcdLimits;
use crate::wire::{
    self, B64, DeleteRangeRequest, ModRevisionIs, PutRequest, RangeRequest, RequestOp, TxnRequest, TxnResponse,
};

/// A batch, ready to send.
pub(crate) struct TxnPlan {
    /// Each written key (with the store's prefix) and its final value
    /// (`None`: deleted), in the order of each key's first write.
    writes: Vec<(Vec<u8>, Option<Bytes>)>,
    /// The preconditions, as given (keys without the prefix).
    preconditions: Vec<Precondition>,
    /// The distinct precondition keys (with the prefix), each compared and,
    /// on failure, read once.
    checked: Vec<(Vec<u8>, i64)>,
}

/// An expected version as etcd's `mod_revision`. Revisions are `int64`; a
/// version above `i64::MAX` is never a key's, so it becomes -1, which no
/// key has either (absent keys compare as 0).
fn as_revision(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(-1)
}

impl TxnPlan {
    /// Plans `batch` for a store whose keys start with `prefix`.
    pub(crate) fn new(prefix: &[u8], batch: Batch) -> Self {
        let full = |key: &[u8]| {
            let mut full = Vec::with_capacity(prefix.len() + key.len());
            full.extend_from_slice(prefix);
            full.extend_from_slice(key);
            full
        };
        let (ops, preconditions) = batch.into_parts();
        // etcd refuses two writes of one key in a transaction; the contract
        // says the later one wins, so only it is sent.
        let mut position: HashMap<Vec<u8>, usize> = HashMap::with_capacity(ops.len());
        let mut writes: Vec<(Vec<u8>, Option<Bytes>)> = Vec::with_capacity(ops.len());
        for op in ops {
            let (key, value) = match op {
                Op::Put { key, value } => (key, Some(value)),
                Op::Delete { key } => (key, None),
            };
            match position.get(&key) {
                Some(&at) => writes[at].1 = value,
                None => {
                    position.insert(key.clone(), writes.len());
                    writes.push((full(&key), value));
                }
            }
        }
        let mut checked: Vec<(Vec<u8>, i64)> = Vec::with_capacity(preconditions.len());
        for precondition in &preconditions {
            let entry = (full(&precondition.key), as_revision(precondition.version));
            if !checked.contains(&entry) {
                checked.push(entry);
            }
        }
        TxnPlan {
            writes,
            preconditions,
            checked,
        }
    }

    /// True when the batch only checks (no write): etcd serves it as a
    /// linearizable read, and it may be sent again.
    pub(crate) fn is_read_only(&self) -> bool {
        self.writes.is_empty()
    }

    /// True when there is nothing to send at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.checked.is_empty()
    }

    /// The transaction's size as etcd encodes it.
    pub(crate) fn request_bytes(&self) -> usize {
        let writes: usize = self
            .writes
            .iter()
            .map(|(key, value)| match value {
                Some(value) => wire::put_bytes(key.len(), value.len()),
                None => wire::delete_bytes(key.len()),
            })
            .sum();
        let checks: usize = self
            .checked
            .iter()
            .map(|(key, revision)| wire::compare_bytes(key.len(), *revision) + wire::keys_only_range_bytes(key.len()))
            .sum();
        writes + checks
    }

    /// Refuses a transaction the cluster would refuse, naming the flag.
    pub(crate) fn check_limits(&self, limits: &EtcdLimits) -> Result<(), InvalidRequest> {
        let ops = self.writes.len().max(self.checked.len());
        if ops > limits.max_txn_ops {
            return Err(InvalidRequest::BackendLimit {
                backend: BACKEND,
                limit: "--max-txn-ops",
                needed: ops,
                max: limits.max_txn_ops,
            });
        }
        let bytes = self.request_bytes() + wire::RAFT_OVERHEAD_BYTES;
        if bytes > limits.max_request_bytes {
            return Err(InvalidRequest::BackendLimit {
                backend: BACKEND,
                limit: "--max-request-bytes",
                needed: bytes,
                max: limits.max_request_bytes,
            });
        }
        Ok(())
    }

    /// The transaction as the gateway's JSON: compare every checked key's
    /// `mod_revision`; if all hold, apply every write; if not, read every
    /// checked key's revision (keys only), to say which one failed.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let txn = TxnRequest {
            compare: self
                .checked
                .iter()
                .map(|(key, revision)| ModRevisionIs::new(key, *revision))
                .collect(),
            success: self
                .writes
                .iter()
                .map(|(key, value)| match value {
                    Some(value) => RequestOp::Put(PutRequest {
                        key: B64(key),
                        value: B64(value),
                    }),
                    None => RequestOp::Delete(DeleteRangeRequest {
                        key: B64(key),
                        range_end: None,
                    }),
                })
                .collect(),
            failure: self
                .checked
                .iter()
                .map(|(key, _)| {
                    RequestOp::Range(RangeRequest {
                        key: B64(key),
                        range_end: None,
                        limit: 0,
                        keys_only: true,
                    })
                })
                .collect(),
        };
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec(&txn).unwrap_or_default()
    }

    /// The conflict a failed transaction reports: the first precondition,
    /// in batch order, that the failure branch's reads contradict.
    ///
    /// `None` when the answer does not fit the request (a read missing, a
    /// key that is not the one asked for), or when every precondition holds
    /// in the reads, which etcd's compare rules out.
    pub(crate) fn conflict(&self, prefix: &[u8], response: &TxnResponse) -> Option<Conflict> {
        if response.responses.len() != self.checked.len() {
            return None;
        }
        let mut actual: HashMap<&[u8], u64> = HashMap::with_capacity(self.checked.len());
        for ((key, _), op) in self.checked.iter().zip(&response.responses) {
            let range = op.response_range.as_ref()?;
            let version = match range.kvs.as_slice() {
                [] => 0,
                [kv] if kv.key == *key => u64::try_from(kv.mod_revision).ok().filter(|&v| v >= 1)?,
                _ => return None,
            };
            actual.insert(key.as_slice(), version);
        }
        self.preconditions.iter().find_map(|precondition| {
            let mut full = prefix.to_vec();
            full.extend_from_slice(&precondition.key);
            let actual_version = *actual.get(full.as_slice())?;
            (actual_version != precondition.version).then(|| Conflict::Precondition {
                key: precondition.key.clone(),
                expected_version: precondition.version,
                actual_version,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{KeyValue, RangeResponse, ResponseOp};

    fn plan(batch: &Batch) -> TxnPlan {
        TxnPlan::new(b"p/", batch.clone())
    }

    #[test]
    fn the_last_write_of_a_key_is_the_one_sent() {
        let mut batch = Batch::new();
        batch
            .put(b"a", b"1".to_vec())
            .put(b"a", b"2".to_vec())
            .put(b"b", b"x".to_vec())
            .delete(b"b")
            .delete(b"c")
            .put(b"c", b"back".to_vec());
        let plan = plan(&batch);
        assert_eq!(
            plan.writes,
            vec![
                (b"p/a".to_vec(), Some(Bytes::from_static(b"2"))),
                (b"p/b".to_vec(), None),
                (b"p/c".to_vec(), Some(Bytes::from_static(b"back"))),
            ]
        );
        assert!(!plan.is_read_only());
    }

    #[test]
    fn repeated_preconditions_are_checked_once() {
        let mut batch = Batch::new();
        batch
            .expect_version(b"a", 3)
            .expect_version(b"a", 3)
            .expect_absent(b"b");
        let plan = plan(&batch);
        assert_eq!(plan.checked, vec![(b"p/a".to_vec(), 3), (b"p/b".to_vec(), 0)]);
        assert!(plan.is_read_only());
        let mut huge = Batch::new();
        huge.expect_version(b"a", u64::MAX);
        assert_eq!(TxnPlan::new(b"p/", huge).checked, vec![(b"p/a".to_vec(), -1)]);
    }

    #[test]
    fn limits_name_the_etcd_flag() {
        let mut batch = Batch::new();
        for i in 0u32..5 {
            batch.put(i.to_be_bytes().to_vec(), Vec::new());
        }
        let small = EtcdLimits {
            max_txn_ops: 4,
            max_request_bytes: 1 << 20,
        };
        assert_eq!(
            plan(&batch).check_limits(&small),
            Err(InvalidRequest::BackendLimit {
                backend: "etcd",
                limit: "--max-txn-ops",
                needed: 5,
                max: 4
            })
        );
        let plan = plan(&batch);
        let exact = EtcdLimits {
            max_txn_ops: 5,
            max_request_bytes: plan.request_bytes() + wire::RAFT_OVERHEAD_BYTES,
        };
        assert_eq!(plan.check_limits(&exact), Ok(()));
        let one_less = EtcdLimits {
            max_request_bytes: exact.max_request_bytes - 1,
            ..exact
        };
        assert!(matches!(
            plan.check_limits(&one_less),
            Err(InvalidRequest::BackendLimit {
                limit: "--max-request-bytes",
                ..
            })
        ));
    }

    fn read(key: &[u8], mod_revision: Option<i64>) -> ResponseOp {
        ResponseOp {
            response_range: Some(RangeResponse {
                kvs: mod_revision
                    .map(|mod_revision| KeyValue {
                        key: key.to_vec(),
                        value: Vec::new(),
                        mod_revision,
                    })
                    .into_iter()
                    .collect(),
                more: false,
            }),
        }
    }

    #[test]
    fn the_conflict_names_the_first_failed_precondition() {
        let mut batch = Batch::new();
        batch
            .expect_version(b"a", 5)
            .expect_absent(b"b")
            .expect_version(b"c", 9)
            .put(b"a", b"x".to_vec());
        let plan = plan(&batch);
        let response = TxnResponse {
            succeeded: false,
            responses: vec![read(b"p/a", Some(5)), read(b"p/b", Some(7)), read(b"p/c", None)],
        };
        assert_eq!(
            plan.conflict(b"p/", &response),
            Some(Conflict::Precondition {
                key: b"b".to_vec(),
                expected_version: 0,
                actual_version: 7
            })
        );
        // An answer that does not fit the request names nothing.
        let short = TxnResponse {
            succeeded: false,
            responses: vec![read(b"p/a", Some(5))],
        };
        assert_eq!(plan.conflict(b"p/", &short), None);
        let wrong_key = TxnResponse {
            succeeded: false,
            responses: vec![read(b"p/z", Some(5)), read(b"p/b", Some(7)), read(b"p/c", None)],
        };
        assert_eq!(plan.conflict(b"p/", &wrong_key), None);
    }
}
