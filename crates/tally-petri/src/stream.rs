//! The event store's core: a stream's head, its events, and the pure rules
//! for appending to and verifying a hash-chained stream.
//!
//! A **stream** is one instance of a net (bitwrap's "oid" within a
//! "schema"). Its [`StreamHead`] holds the current state vector, the
//! revision (the number of events) and the hash of the latest event. Each
//! [`Event`] records one valid transaction: the action fired, the caller's
//! payload, the time, the state after it, and a keccak-256 hash that covers
//! the previous event's hash ([`crate::chain`] gives the exact bytes). The
//! first event's previous hash is the stream's *genesis hash*, which covers
//! the schema, the oid, the net's fingerprint, the creation time and the
//! initial state.
//!
//! [`append`] is the transition function: `(head, command, now) -> (head',
//! event)` or an error, with no I/O. [`ChainVerifier`] replays a stream's
//! events and checks every hash, every link and every state.
//! [`Machines`](crate::Machines) is the shell that stores both.

use serde::{Deserialize, Serialize};

use crate::chain::{EventFields, event_hash, genesis_hash};
use crate::error::{ChainFault, PetriError};
use crate::net::{MAX_LABEL_BYTES, MAX_MULTIPLE, Net, check_name};

/// The most bytes in a schema name.
pub const MAX_SCHEMA_BYTES: usize = 64;
/// The most bytes in a stream id (oid).
pub const MAX_OID_BYTES: usize = 255;
/// The most bytes in an event's payload (64 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// The most events one stream may hold (2^32).
pub const MAX_STREAM_EVENTS: u64 = 1 << 32;

/// The latest state of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHead {
    /// The schema (net) the stream runs.
    pub schema: String,
    /// The stream's id within the schema.
    pub oid: String,
    /// The [fingerprint](Net::fingerprint) of the net it was created with.
    pub net_fingerprint: [u8; 32],
    /// The number of events so far; the latest event's `seq`.
    pub rev: u64,
    /// The current state vector.
    pub state: Vec<u32>,
    /// The latest event's hash, or the genesis hash when there is none.
    pub head_hash: [u8; 32],
    /// When the stream was created.
    pub created_ms: u64,
    /// When the latest event was dispatched (`created_ms` when none was).
    pub modified_ms: u64,
    /// The latest event's action, if any.
    pub last_action: Option<String>,
}

/// One recorded, valid transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the stream: 1 for the first event, gapless.
    pub seq: u64,
    /// The transition fired (bitwrap's action).
    pub action: String,
    /// How many times it fired, as one step.
    pub multiple: u32,
    /// The role it was fired as.
    pub role: Option<String>,
    /// The caller's payload, as given.
    pub payload: Vec<u8>,
    /// When it was dispatched.
    pub timestamp_ms: u64,
    /// The state vector after it.
    pub state: Vec<u32>,
    /// The previous event's hash (the genesis hash for `seq` 1).
    pub prev_hash: [u8; 32],
    /// This event's hash, covering `prev_hash` and every field above.
    pub hash: [u8; 32],
}

impl Event {
    /// The hash this event's fields give (equal to `hash` unless tampered).
    pub fn computed_hash(&self) -> [u8; 32] {
        event_hash(&EventFields {
            prev_hash: &self.prev_hash,
            seq: self.seq,
            action: &self.action,
            multiple: self.multiple,
            role: self.role.as_deref(),
            payload: &self.payload,
            timestamp_ms: self.timestamp_ms,
            state: &self.state,
        })
    }
}

/// What a caller asks a stream to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The transition to fire.
    pub action: String,
    /// How many times, as one step (1 for bitwrap's behaviour).
    pub multiple: u32,
    /// The caller's role (`None` = no role: transitions with a role refuse).
    pub role: Option<String>,
    /// Bytes stored with the event (bitwrap stored JSON; any bytes do).
    pub payload: Vec<u8>,
    /// When set, the command applies only as event `after_seq + 1`: see
    /// [`Machines::dispatch_command`](crate::Machines::dispatch_command).
    pub after_seq: Option<u64>,
}

impl Command {
    /// Fires `action` once, with `payload`, as no role, at the head.
    pub fn new(action: &str, payload: &[u8]) -> Self {
        Command {
            action: action.to_owned(),
            multiple: 1,
            role: None,
            payload: payload.to_vec(),
            after_seq: None,
        }
    }

    /// The same command fired as `role`.
    pub fn as_role(mut self, role: &str) -> Self {
        self.role = Some(role.to_owned());
        self
    }

    /// The same command fired `multiple` times as one step.
    pub fn times(mut self, multiple: u32) -> Self {
        self.multiple = multiple;
        self
    }

    /// The same command, only as the event after `seq` (idempotent retries).
    pub fn after(mut self, seq: u64) -> Self {
        self.after_seq = Some(seq);
        self
    }

    /// Whether `event` records this command dispatched at `now_ms` (a retry
    /// of it after a lost acknowledgement).
    pub fn is_recorded_by(&self, event: &Event, now_ms: u64) -> bool {
        event.action == self.action
            && event.multiple == self.multiple
            && event.role == self.role
            && event.payload == self.payload
            && event.timestamp_ms == now_ms
    }
}

/// Checks a schema name and a stream id against the limits.
///
/// # Errors
/// [`PetriError::InvalidName`].
pub fn check_stream_id(schema: &str, oid: &str) -> Result<(), PetriError> {
    check_name("schema", schema, MAX_SCHEMA_BYTES)?;
    check_name("oid", oid, MAX_OID_BYTES)
}

/// A new stream of `net` under `schema`/`oid`: the initial state, revision
/// 0, the genesis hash.
///
/// # Errors
/// [`PetriError::InvalidName`] for a bad schema name or oid.
pub fn genesis(net: &Net, schema: &str, oid: &str, created_ms: u64) -> Result<StreamHead, PetriError> {
    check_stream_id(schema, oid)?;
    let net_fingerprint = net.fingerprint();
    Ok(StreamHead {
        schema: schema.to_owned(),
        oid: oid.to_owned(),
        head_hash: genesis_hash(schema, oid, &net_fingerprint, created_ms, net.initial()),
        net_fingerprint,
        rev: 0,
        state: net.initial().to_vec(),
        created_ms,
        modified_ms: created_ms,
        last_action: None,
    })
}

/// Applies `command` to the stream at `head`: fires the action on the
/// current state and returns the new head and the event to record. Pure:
/// nothing is stored, `head` is not changed.
///
/// `command.after_seq` is not looked at here (the shell handles it).
///
/// # Errors
/// In this order: [`PetriError::LimitExceeded`] for a payload over
/// [`MAX_PAYLOAD_BYTES`] or a stream already holding
/// [`MAX_STREAM_EVENTS`]; [`PetriError::UnknownTransition`] for an unknown
/// action; then everything [`Net::fire_as`] refuses (a bad multiple, the
/// wrong role, an inhibited firing, a place going negative, over capacity,
/// overflowing). [`PetriError::class`] sorts them into bitwrap's
/// `INVALID_INPUT` and `INVALID_OUTPUT`.
pub fn append(net: &Net, head: &StreamHead, command: &Command, now_ms: u64) -> Result<(StreamHead, Event), PetriError> {
    debug_assert_eq!(head.state.len(), net.place_count());
    if command.payload.len() > MAX_PAYLOAD_BYTES {
        return Err(PetriError::LimitExceeded {
            what: "payload size in bytes",
            value: command.payload.len() as u64,
            max: MAX_PAYLOAD_BYTES as u64,
        });
    }
    if head.rev >= MAX_STREAM_EVENTS {
        return Err(PetriError::LimitExceeded {
            what: "events in the stream",
            value: head.rev + 1,
            max: MAX_STREAM_EVENTS,
        });
    }
    if command.action.len() > MAX_LABEL_BYTES {
        return Err(PetriError::UnknownTransition {
            transition: command.action.chars().take(64).collect(),
        });
    }
    let transition = net
        .transition_index(&command.action)
        .ok_or_else(|| PetriError::UnknownTransition {
            transition: command.action.clone(),
        })?;
    let state = net.fire_as(&head.state, transition, command.multiple, command.role.as_deref())?;
    let seq = head.rev + 1;
    let mut event = Event {
        seq,
        action: command.action.clone(),
        multiple: command.multiple,
        role: command.role.clone(),
        payload: command.payload.clone(),
        timestamp_ms: now_ms,
        state,
        prev_hash: head.head_hash,
        hash: [0; 32],
    };
    event.hash = event.computed_hash();
    let next = StreamHead {
        rev: seq,
        state: event.state.clone(),
        head_hash: event.hash,
        modified_ms: now_ms,
        last_action: Some(command.action.clone()),
        ..head.clone()
    };
    debug_assert_eq!(next.rev, head.rev + 1);
    debug_assert!(command.multiple >= 1 && command.multiple <= MAX_MULTIPLE);
    Ok((next, event))
}

/// Checks a stream's events one by one, in order, against its net and its
/// head: gapless sequence numbers, every `prev_hash` link, every hash, and
/// every state (by replaying each action on the state before it).
///
/// ```
/// use tally_petri::stream::{self, ChainVerifier, Command};
/// use tally_petri::{Net, NetSpec};
///
/// let net = Net::new(NetSpec::new().place("p0", 0).transition("INC_0").arc("INC_0", "p0", 1))?;
/// let head = stream::genesis(&net, "counter", "foo", 1_000)?;
/// let (head, event) = stream::append(&net, &head, &Command::new("INC_0", b"{}"), 2_000)?;
///
/// let mut verifier = ChainVerifier::new(&net, &head);
/// verifier.push(&event)?;
/// verifier.finish()?;
///
/// let mut forged = event.clone();
/// forged.payload = b"{\"forged\":1}".to_vec();
/// let mut verifier = ChainVerifier::new(&net, &head);
/// assert!(verifier.push(&forged).is_err());
/// # Ok::<(), tally_petri::PetriError>(())
/// ```
#[derive(Debug)]
pub struct ChainVerifier<'a> {
    net: &'a Net,
    head: &'a StreamHead,
    state: Vec<u32>,
    hash: [u8; 32],
    seq: u64,
    last: Option<(u64, String)>,
}

impl<'a> ChainVerifier<'a> {
    /// Starts checking the stream whose head is `head`, from its genesis.
    pub fn new(net: &'a Net, head: &'a StreamHead) -> Self {
        ChainVerifier {
            net,
            head,
            state: net.initial().to_vec(),
            hash: genesis_hash(
                &head.schema,
                &head.oid,
                &net.fingerprint(),
                head.created_ms,
                net.initial(),
            ),
            seq: 0,
            last: None,
        }
    }

    fn broken(&self, seq: u64, fault: ChainFault) -> PetriError {
        PetriError::ChainBroken {
            schema: self.head.schema.clone(),
            oid: self.head.oid.clone(),
            seq,
            fault,
        }
    }

    /// The number of events checked so far.
    pub fn checked(&self) -> u64 {
        self.seq
    }

    /// Checks the next event.
    ///
    /// # Errors
    /// [`PetriError::ChainBroken`] with the first [`ChainFault`] found.
    pub fn push(&mut self, event: &Event) -> Result<(), PetriError> {
        let expected = self.seq + 1;
        if event.seq != expected {
            return Err(self.broken(
                expected,
                ChainFault::SequenceGap {
                    expected,
                    found: event.seq,
                },
            ));
        }
        if event.prev_hash != self.hash {
            return Err(self.broken(expected, ChainFault::PreviousHashMismatch));
        }
        if event.computed_hash() != event.hash {
            return Err(self.broken(expected, ChainFault::HashMismatch));
        }
        let replayed = self
            .net
            .transition_index(&event.action)
            .ok_or_else(|| PetriError::UnknownTransition {
                transition: event.action.clone(),
            })
            .and_then(|transition| {
                self.net
                    .fire_as(&self.state, transition, event.multiple, event.role.as_deref())
            });
        match replayed {
            Ok(state) if state == event.state => self.state = state,
            Ok(_) => return Err(self.broken(expected, ChainFault::StateMismatch)),
            Err(refusal) => {
                return Err(self.broken(
                    expected,
                    ChainFault::ReplayRefused {
                        reason: refusal.to_string(),
                    },
                ));
            }
        }
        self.hash = event.hash;
        self.seq = expected;
        self.last = Some((event.timestamp_ms, event.action.clone()));
        Ok(())
    }

    /// Checks that the events pushed are all of the stream and agree with
    /// its head (revision, hash, state, modification time, last action).
    ///
    /// # Errors
    /// [`PetriError::ChainBroken`] (at seq 0, the head) with
    /// [`ChainFault::MissingEvents`] or [`ChainFault::HeadMismatch`].
    pub fn finish(self) -> Result<(), PetriError> {
        let head = self.head;
        if self.seq != head.rev {
            return Err(self.broken(
                0,
                ChainFault::MissingEvents {
                    expected: head.rev,
                    found: self.seq,
                },
            ));
        }
        let (modified_ms, last_action) = match &self.last {
            Some((timestamp_ms, action)) => (*timestamp_ms, Some(action.as_str())),
            None => (head.created_ms, None),
        };
        let field = if self.hash != head.head_hash {
            Some("head_hash")
        } else if self.state != head.state {
            Some("state")
        } else if modified_ms != head.modified_ms {
            Some("modified_ms")
        } else if last_action != head.last_action.as_deref() {
            Some("last_action")
        } else if self.net.fingerprint() != head.net_fingerprint {
            Some("net_fingerprint")
        } else {
            None
        };
        match field {
            Some(field) => Err(self.broken(0, ChainFault::HeadMismatch { field })),
            None => Ok(()),
        }
    }
}
