//! Read-only work never queues behind a writer: a batch of preconditions
//! only, a `get` and a `scan` all complete while another thread is inside a
//! commit, holding redb's one write transaction.
//!
//! The writer is held inside its commit deterministically: the store runs
//! over a backend whose next `sync_data` (the fsync at the end of every
//! durable commit) waits until the test lets it go.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tally_store::{Batch, Conflict, Store, StoreError};
use tally_store_redb::redb::backends::InMemoryBackend;
use tally_store_redb::{Options, RedbStore, StorageBackend};

/// Where the gate is: open (syncs pass), armed (the next sync stops),
/// holding (a sync is stopped in it), released.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Gate {
    #[default]
    Open,
    Armed,
    Holding,
    Released,
}

#[derive(Debug, Default)]
struct GateState {
    gate: Mutex<Gate>,
    changed: Condvar,
}

impl GateState {
    fn set(&self, gate: Gate) {
        *self.gate.lock().unwrap() = gate;
        self.changed.notify_all();
    }

    fn wait_for(&self, wanted: Gate) {
        let mut gate = self.gate.lock().unwrap();
        while *gate != wanted {
            gate = self.changed.wait(gate).unwrap();
        }
    }
}

/// redb's in-memory backend with a gate on `sync_data`.
#[derive(Debug)]
struct GatedBackend {
    inner: InMemoryBackend,
    state: Arc<GateState>,
}

impl StorageBackend for GatedBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.inner.set_len(len)
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.inner.write(offset, data)
    }
    fn sync_data(&self) -> Result<(), io::Error> {
        let mut gate = self.state.gate.lock().unwrap();
        if *gate == Gate::Armed {
            *gate = Gate::Holding;
            self.state.changed.notify_all();
            while *gate == Gate::Holding {
                gate = self.state.changed.wait(gate).unwrap();
            }
        }
        drop(gate);
        self.inner.sync_data()
    }
}

fn put(store: &RedbStore, key: &[u8], value: &[u8]) {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    store.commit(batch).unwrap();
}

/// What the read-only thread saw while the writer was held.
#[derive(Debug)]
struct ReadOnlyResults {
    holding: Result<(), StoreError>,
    stale: Result<(), StoreError>,
    value: Vec<u8>,
    scanned: usize,
}

#[test]
fn preconditions_only_commits_and_reads_complete_while_a_writer_holds_the_write_transaction() {
    let state = Arc::new(GateState::default());
    let backend = GatedBackend {
        inner: InMemoryBackend::new(),
        state: Arc::clone(&state),
    };
    let store = Arc::new(RedbStore::open_with_backend(backend, Options::default()).unwrap());
    put(&store, b"guard", b"one");
    put(&store, b"other", b"x");
    let guard_version = store.get(b"guard").unwrap().unwrap().version;
    let other_version = store.get(b"other").unwrap().unwrap().version;

    // The writer rewrites `guard` and stops in the fsync of its commit.
    state.set(Gate::Armed);
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || put(&store, b"guard", b"two"))
    };
    state.wait_for(Gate::Holding);

    // From here until the gate is released, the writer is inside
    // `WriteTransaction::commit`: redb admits no other write transaction.
    let (sender, receiver) = mpsc::channel();
    let reader = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            let mut holding = Batch::new();
            holding.expect_version(b"guard", guard_version);
            holding.expect_version(b"other", other_version);
            let holding = store.commit(holding);
            let mut stale = Batch::new();
            stale.expect_version(b"other", other_version + 1);
            let stale = store.commit(stale);
            let value = store.get(b"guard").unwrap().unwrap().value.to_vec();
            let scanned = store.scan(b"", None, 10).unwrap().entries.len();
            let _ = sender.send(ReadOnlyResults {
                holding,
                stale,
                value,
                scanned,
            });
        })
    };

    // Not a timing assertion: the bound only turns a deadlock (the failure
    // this test exists for) into a failed test instead of a hung one.
    let seen = receiver.recv_timeout(Duration::from_secs(30));
    let still_holding = *state.gate.lock().unwrap() == Gate::Holding;
    state.set(Gate::Released);
    writer.join().unwrap();
    reader.join().unwrap();

    let seen = seen.expect("the read-only work waited for the writer's commit to finish");
    assert!(
        still_holding,
        "the writer left its commit before the read-only work finished"
    );
    assert!(seen.holding.is_ok(), "preconditions that hold pass: {:?}", seen.holding);
    assert!(
        matches!(
            seen.stale,
            Err(StoreError::Conflict(Conflict::Precondition { ref key, actual_version, .. }))
                if key == b"other" && actual_version == other_version
        ),
        "a precondition that does not hold is a conflict: {:?}",
        seen.stale
    );
    assert_eq!(seen.value, b"one", "reads see the last finished commit");
    assert_eq!(seen.scanned, 2);

    // The writer's commit went through afterwards, and nothing was written
    // by the read-only batches.
    let guard = store.get(b"guard").unwrap().unwrap();
    assert_eq!(&guard.value[..], b"two");
    assert_eq!(store.get(b"other").unwrap().unwrap().version, other_version);
}
