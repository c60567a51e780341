//! [`Machines`]: the event store shell. Loads a stream from a [`Store`],
//! calls the core ([`stream::append`]), commits the result atomically.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tally_store::{RetryPolicy, Store, StoreError, codec, transact};

use crate::error::{ChainFault, PetriError};
use crate::keys::{self, EventRef, SchemaRecord};
use crate::net::{Net, check_name};
use crate::stream::{self, ChainVerifier, Command, Event, MAX_SCHEMA_BYTES, StreamHead};

/// The most events [`Machines::events`] returns (use
/// [`Machines::events_page`] beyond).
pub const MAX_EVENTS_READ: usize = 100_000;
/// The most events one [`Machines::events_page`] call returns.
pub const MAX_EVENTS_PAGE: usize = 1_000;

/// The answer to a successful dispatch (bitwrap's `{id, oid, rev}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The stream.
    pub oid: String,
    /// The event's sequence number: the stream's new revision.
    pub seq: u64,
    /// The event's hash (its id).
    pub hash: [u8; 32],
    /// The state vector after the event.
    pub state: Vec<u32>,
    /// True when the command had already been recorded (a retry after a
    /// lost acknowledgement; see [`Machines::dispatch_command`]): nothing
    /// was written this time.
    pub duplicate: bool,
}

/// What [`Machines::verify`] checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedChain {
    /// Events checked (the stream's revision when the check began).
    pub events: u64,
    /// The head hash the chain ends in.
    pub head_hash: [u8; 32],
}

/// bitwrap's event store on any [`Store`]: machines (nets registered under
/// a schema name), streams of each, and a hash-chained log of every valid
/// transaction.
///
/// ```
/// use tally_petri::{Machines, Net, NetSpec, ErrorClass};
/// use tally_store::MemStore;
///
/// let counter = Net::new(NetSpec::new().place("p0", 0).transition("INC_0").transition("DEC_0")
///     .arc("INC_0", "p0", 1).arc("p0", "DEC_0", 1))?;
/// let machines = Machines::new(MemStore::new());
/// machines.register("counter", &counter)?;
/// machines.create_stream("counter", "foo", 1_000)?;
///
/// let receipt = machines.dispatch("counter", "foo", "INC_0", br#"{"testing":"foo"}"#, 2_000)?;
/// assert_eq!((receipt.seq, receipt.state.as_slice()), (1, &[1][..]));
///
/// machines.dispatch("counter", "foo", "DEC_0", b"{}", 3_000)?; // 1 -> 0
/// let refused = machines.dispatch("counter", "foo", "DEC_0", b"{}", 4_000).unwrap_err();
/// assert_eq!(refused.class(), Some(ErrorClass::InvalidOutput));
///
/// assert_eq!(machines.verify("counter", "foo")?.events, 2);
/// # Ok::<(), tally_petri::PetriError>(())
/// ```
///
/// Every method is one atomic commit (or a read), retried on conflict, so
/// any number of threads, or processes sharing a store, may use one stream:
/// concurrent dispatches are serialised and the sequence stays gapless.
/// A refused transaction stores nothing.
#[derive(Debug)]
pub struct Machines<S> {
    store: S,
    retry: RetryPolicy,
    nets: RwLock<HashMap<String, Arc<Net>>>,
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, PetriError> {
    codec::decode(bytes).map_err(|error| PetriError::Store(StoreError::codec(key, error)))
}

impl<S: Store> Machines<S> {
    /// An event store on `store`, retrying conflicts with the default
    /// [`RetryPolicy`].
    pub fn new(store: S) -> Self {
        Machines::with_retry(store, RetryPolicy::default())
    }

    /// An event store on `store` with `retry`.
    pub fn with_retry(store: S, retry: RetryPolicy) -> Self {
        Machines {
            store,
            retry,
            nets: RwLock::new(HashMap::new()),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    fn cached(&self, schema: &str) -> Option<Arc<Net>> {
        // A poisoned cache holds only complete entries: recover it.
        let nets = self.nets.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        nets.get(schema).cloned()
    }

    fn cache(&self, schema: &str, net: Arc<Net>) {
        let mut nets = self.nets.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        nets.insert(schema.to_owned(), net);
    }

    /// Registers `net` as the machine `schema` (bitwrap's `schema_create`).
    /// Returns `true` when it was registered now, `false` when the same net
    /// already was (so calling again after an error is safe).
    ///
    /// # Errors
    /// [`PetriError::InvalidName`] for a bad schema name,
    /// [`PetriError::SchemaConflict`] when another net has the name,
    /// [`PetriError::Store`].
    pub fn register(&self, schema: &str, net: &Net) -> Result<bool, PetriError> {
        check_name("schema", schema, MAX_SCHEMA_BYTES)?;
        let key = keys::schema(schema);
        let record = SchemaRecord {
            spec: net.spec().clone(),
            fingerprint: net.fingerprint(),
        };
        let created = transact(&self.store, &self.retry, |txn| {
            match txn.get_as::<SchemaRecord>(&key)? {
                Some(existing) if existing.fingerprint == record.fingerprint => Ok(false),
                Some(_) => Err(PetriError::SchemaConflict {
                    schema: schema.to_owned(),
                }),
                None => {
                    txn.put_as(key.clone(), &record)?;
                    Ok(true)
                }
            }
        })?;
        self.cache(schema, Arc::new(net.clone()));
        Ok(created)
    }

    /// The net registered as `schema` (from this instance's cache, or read
    /// from the store once).
    ///
    /// # Errors
    /// [`PetriError::SchemaNotFound`], [`PetriError::Inconsistent`] for a
    /// stored net that does not validate or match its fingerprint,
    /// [`PetriError::Store`].
    pub fn net(&self, schema: &str) -> Result<Arc<Net>, PetriError> {
        if let Some(net) = self.cached(schema) {
            return Ok(net);
        }
        let net = Arc::new(self.load_net(schema)?);
        self.cache(schema, net.clone());
        Ok(net)
    }

    /// Reads and checks the stored net of `schema`, bypassing the cache.
    fn load_net(&self, schema: &str) -> Result<Net, PetriError> {
        check_name("schema", schema, MAX_SCHEMA_BYTES)?;
        let key = keys::schema(schema);
        let Some(stored) = self.store.get(&key)? else {
            return Err(PetriError::SchemaNotFound {
                schema: schema.to_owned(),
            });
        };
        let record: SchemaRecord = decode(&key, &stored.value)?;
        let net = Net::new(record.spec).map_err(|error| PetriError::Inconsistent {
            reason: format!("stored net of schema {schema:?} does not validate: {error}"),
        })?;
        if net.fingerprint() != record.fingerprint {
            return Err(PetriError::Inconsistent {
                reason: format!("stored net of schema {schema:?} does not match its fingerprint"),
            });
        }
        Ok(net)
    }

    /// Creates stream `oid` of `schema` in the net's initial state
    /// (bitwrap's `stream_create`). Returns `true` when created now, `false`
    /// when it already existed (so calling again after an error is safe).
    ///
    /// # Errors
    /// [`PetriError::InvalidName`], [`PetriError::SchemaNotFound`],
    /// [`PetriError::SchemaConflict`] when the stream exists under another
    /// net, [`PetriError::Store`].
    pub fn create_stream(&self, schema: &str, oid: &str, now_ms: u64) -> Result<bool, PetriError> {
        stream::check_stream_id(schema, oid)?;
        let net = self.net(schema)?;
        let head = stream::genesis(&net, schema, oid, now_ms)?;
        let key = keys::head(schema, oid);
        transact(&self.store, &self.retry, |txn| {
            match txn.get_as::<StreamHead>(&key)? {
                Some(existing) if existing.net_fingerprint == head.net_fingerprint => Ok(false),
                Some(_) => Err(PetriError::SchemaConflict {
                    schema: schema.to_owned(),
                }),
                None => {
                    txn.put_as(key.clone(), &head)?;
                    Ok(true)
                }
            }
        })
    }

    /// Whether stream `oid` of `schema` exists (bitwrap's `stream_exists`).
    ///
    /// # Errors
    /// [`PetriError::InvalidName`], [`PetriError::Store`].
    pub fn stream_exists(&self, schema: &str, oid: &str) -> Result<bool, PetriError> {
        stream::check_stream_id(schema, oid)?;
        Ok(self.store.get(&keys::head(schema, oid))?.is_some())
    }

    /// Fires `action` once on stream `oid` of `schema`, as no role, and
    /// records it with `payload` at `now_ms` (bitwrap's
    /// `POST /dispatch/<schema>/<oid>/<action>`).
    ///
    /// A concurrent dispatch to the same stream makes this one retry on the
    /// new state, so events stay gapless and each sees the state the one
    /// before left. **Not idempotent**: after a [`PetriError::Store`] error
    /// from the commit the event may or may not be recorded; to retry
    /// safely, use [`dispatch_command`](Self::dispatch_command) with
    /// [`Command::after`].
    ///
    /// # Errors
    /// As [`dispatch_command`](Self::dispatch_command).
    pub fn dispatch(
        &self,
        schema: &str,
        oid: &str,
        action: &str,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Receipt, PetriError> {
        self.dispatch_command(schema, oid, &Command::new(action, payload), now_ms)
    }

    /// Applies `command` to stream `oid` of `schema` at `now_ms`: appends
    /// the event and updates the stream's head in one atomic commit, or
    /// stores nothing.
    ///
    /// With `command.after_seq = Some(n)` the command is applied only as
    /// event `n + 1`: when the stream is at revision `n` it is appended;
    /// when event `n + 1` already records this very command at this
    /// `now_ms`, that event is returned with `duplicate: true` and nothing
    /// is written. So a caller that lost the acknowledgement of a commit
    /// can send the same command with the same `now_ms` again, and it
    /// applies exactly once.
    ///
    /// # Errors
    /// bitwrap's `INVALID_INPUT` ([`ErrorClass::InvalidInput`](crate::ErrorClass)):
    /// [`PetriError::SchemaNotFound`], [`PetriError::StreamNotFound`],
    /// [`PetriError::UnknownTransition`], [`PetriError::RoleMismatch`],
    /// [`PetriError::InvalidMultiple`], [`PetriError::StaleRevision`],
    /// [`PetriError::LimitExceeded`] (payload size);
    /// its `INVALID_OUTPUT` ([`ErrorClass::InvalidOutput`](crate::ErrorClass)):
    /// [`PetriError::WouldGoNegative`], [`PetriError::ExceedsCapacity`],
    /// [`PetriError::Overflow`], [`PetriError::Inhibited`]; and
    /// [`PetriError::Store`] (see above), [`PetriError::SchemaConflict`] /
    /// [`PetriError::Inconsistent`] for stored records that contradict.
    pub fn dispatch_command(
        &self,
        schema: &str,
        oid: &str,
        command: &Command,
        now_ms: u64,
    ) -> Result<Receipt, PetriError> {
        stream::check_stream_id(schema, oid)?;
        let net = self.net(schema)?;
        let head_key = keys::head(schema, oid);
        transact(&self.store, &self.retry, |txn| {
            let Some(head) = txn.get_as::<StreamHead>(&head_key)? else {
                return Err(PetriError::StreamNotFound {
                    schema: schema.to_owned(),
                    oid: oid.to_owned(),
                });
            };
            if head.net_fingerprint != net.fingerprint() {
                return Err(PetriError::SchemaConflict {
                    schema: schema.to_owned(),
                });
            }
            if head.state.len() != net.place_count() {
                return Err(PetriError::Inconsistent {
                    reason: format!("stream {oid:?} has a state of the wrong length"),
                });
            }
            if let Some(after) = command.after_seq
                && head.rev != after
            {
                // Was this very command recorded as the event after `after`?
                let next_key = keys::event(schema, oid, after.saturating_add(1));
                if head.rev > after
                    && let Some(event) = txn.get_as::<Event>(&next_key)?
                    && command.is_recorded_by(&event, now_ms)
                {
                    return Ok(Receipt {
                        oid: oid.to_owned(),
                        seq: event.seq,
                        hash: event.hash,
                        state: event.state,
                        duplicate: true,
                    });
                }
                return Err(PetriError::StaleRevision {
                    schema: schema.to_owned(),
                    oid: oid.to_owned(),
                    expected: after,
                    current: head.rev,
                });
            }
            let (next, event) = stream::append(&net, &head, command, now_ms)?;
            let event_key = keys::event(schema, oid, event.seq);
            let hash_key = keys::hash(schema, &event.hash);
            // Both are new keys: a clash would mean a bug or a forged record.
            txn.expect_version(event_key.clone(), 0);
            txn.expect_version(hash_key.clone(), 0);
            txn.put_as(event_key, &event)?;
            txn.put_as(
                hash_key,
                &EventRef {
                    oid: oid.to_owned(),
                    seq: event.seq,
                },
            )?;
            txn.put_as(head_key.clone(), &next)?;
            Ok(Receipt {
                oid: oid.to_owned(),
                seq: event.seq,
                hash: event.hash,
                state: event.state,
                duplicate: false,
            })
        })
    }

    /// The stream's current head: state vector, revision, latest hash and
    /// action, times (bitwrap's `GET /state/<schema>/<oid>`).
    ///
    /// # Errors
    /// [`PetriError::InvalidName`], [`PetriError::StreamNotFound`],
    /// [`PetriError::Store`].
    pub fn state(&self, schema: &str, oid: &str) -> Result<StreamHead, PetriError> {
        stream::check_stream_id(schema, oid)?;
        let key = keys::head(schema, oid);
        match self.store.get(&key)? {
            Some(stored) => decode(&key, &stored.value),
            None => Err(PetriError::StreamNotFound {
                schema: schema.to_owned(),
                oid: oid.to_owned(),
            }),
        }
    }

    /// The event of `schema` whose hash is `hash`, if any (bitwrap's
    /// `GET /event/<schema>/<eventid>`).
    ///
    /// # Errors
    /// [`PetriError::InvalidName`], [`PetriError::Inconsistent`] when the
    /// hash index points at a missing or different event,
    /// [`PetriError::Store`].
    pub fn event(&self, schema: &str, hash: &[u8; 32]) -> Result<Option<Event>, PetriError> {
        check_name("schema", schema, MAX_SCHEMA_BYTES)?;
        let key = keys::hash(schema, hash);
        let Some(stored) = self.store.get(&key)? else {
            return Ok(None);
        };
        let reference: EventRef = decode(&key, &stored.value)?;
        let event_key = keys::event(schema, &reference.oid, reference.seq);
        let event: Option<Event> = match self.store.get(&event_key)? {
            Some(stored) => Some(decode(&event_key, &stored.value)?),
            None => None,
        };
        match event {
            Some(event) if &event.hash == hash => Ok(Some(event)),
            _ => Err(PetriError::Inconsistent {
                reason: format!(
                    "the hash index of schema {schema:?} points at event {} of stream {:?}, which does not have that hash",
                    reference.seq, reference.oid
                ),
            }),
        }
    }

    /// Up to `limit` (at most [`MAX_EVENTS_PAGE`]) events of the stream
    /// with `seq > after_seq`, in order.
    ///
    /// # Errors
    /// [`PetriError::InvalidName`], [`PetriError::LimitExceeded`],
    /// [`PetriError::Store`].
    pub fn events_page(&self, schema: &str, oid: &str, after_seq: u64, limit: usize) -> Result<Vec<Event>, PetriError> {
        stream::check_stream_id(schema, oid)?;
        if limit > MAX_EVENTS_PAGE {
            return Err(PetriError::LimitExceeded {
                what: "events per page",
                value: limit as u64,
                max: MAX_EVENTS_PAGE as u64,
            });
        }
        let prefix = keys::events(schema, oid);
        let after = (after_seq > 0).then(|| keys::event(schema, oid, after_seq));
        let page = self.store.scan(&prefix, after.as_deref(), limit)?;
        page.entries
            .iter()
            .map(|entry| decode(&entry.key, &entry.value))
            .collect()
    }

    /// Every event of the stream, in order (bitwrap's
    /// `GET /stream/<schema>/<oid>`, oldest first).
    ///
    /// # Errors
    /// [`PetriError::StreamNotFound`], [`PetriError::LimitExceeded`] for a
    /// stream of more than [`MAX_EVENTS_READ`] events, and as
    /// [`events_page`](Self::events_page).
    pub fn events(&self, schema: &str, oid: &str) -> Result<Vec<Event>, PetriError> {
        let head = self.state(schema, oid)?;
        if head.rev > MAX_EVENTS_READ as u64 {
            return Err(PetriError::LimitExceeded {
                what: "events to read at once",
                value: head.rev,
                max: MAX_EVENTS_READ as u64,
            });
        }
        let mut events = Vec::with_capacity(head.rev as usize);
        while (events.len() as u64) < head.rev {
            let after = events.len() as u64;
            let page = self.events_page(schema, oid, after, MAX_EVENTS_PAGE)?;
            if page.is_empty() {
                break;
            }
            events.extend(page.into_iter().take((head.rev - after) as usize));
        }
        Ok(events)
    }

    /// Checks stream `oid`'s whole chain: the net as stored (not this
    /// instance's cache) against its fingerprint, then every event from the
    /// genesis hash to the head (sequence, links, hashes, replayed states,
    /// the hash index) and the head itself. Events appended while it runs
    /// are not looked at.
    ///
    /// # Errors
    /// [`PetriError::ChainBroken`] naming the first fault,
    /// [`PetriError::StreamNotFound`], [`PetriError::SchemaNotFound`],
    /// [`PetriError::Inconsistent`] (a stored net that does not match its
    /// fingerprint), [`PetriError::Store`].
    pub fn verify(&self, schema: &str, oid: &str) -> Result<VerifiedChain, PetriError> {
        let net = self.load_net(schema)?;
        let head_key = keys::head(schema, oid);
        let broken = |seq: u64, fault: ChainFault| PetriError::ChainBroken {
            schema: schema.to_owned(),
            oid: oid.to_owned(),
            seq,
            fault,
        };
        let undecodable = |seq: u64, error: PetriError| {
            broken(
                seq,
                ChainFault::Undecodable {
                    reason: error.to_string(),
                },
            )
        };
        let head: StreamHead = match self.store.get(&head_key)? {
            Some(stored) => decode(&head_key, &stored.value).map_err(|error| undecodable(0, error))?,
            None => {
                return Err(PetriError::StreamNotFound {
                    schema: schema.to_owned(),
                    oid: oid.to_owned(),
                });
            }
        };
        if head.schema != schema || head.oid != oid {
            return Err(broken(0, ChainFault::HeadMismatch { field: "stream id" }));
        }
        let mut verifier = ChainVerifier::new(&net, &head);
        let prefix = keys::events(schema, oid);
        let mut after: Option<Vec<u8>> = None;
        'pages: while verifier.checked() < head.rev {
            let page = self.store.scan(&prefix, after.as_deref(), MAX_EVENTS_PAGE)?;
            for entry in &page.entries {
                let seq = verifier.checked() + 1;
                if seq > head.rev {
                    break 'pages;
                }
                let event: Event = decode(&entry.key, &entry.value).map_err(|error| undecodable(seq, error))?;
                if entry.key != keys::event(schema, oid, event.seq) {
                    return Err(broken(
                        seq,
                        ChainFault::SequenceGap {
                            expected: seq,
                            found: event.seq,
                        },
                    ));
                }
                verifier.push(&event)?;
                let hash_key = keys::hash(schema, &event.hash);
                let indexed = match self.store.get(&hash_key)? {
                    Some(stored) => decode::<EventRef>(&hash_key, &stored.value).ok(),
                    None => None,
                };
                if indexed
                    != Some(EventRef {
                        oid: oid.to_owned(),
                        seq: event.seq,
                    })
                {
                    return Err(broken(seq, ChainFault::IndexMismatch));
                }
            }
            match page.next_after() {
                Some(last) => after = Some(last.to_vec()),
                None => break,
            }
        }
        let events = verifier.checked();
        verifier.finish()?;
        Ok(VerifiedChain {
            events,
            head_hash: head.head_hash,
        })
    }
}
