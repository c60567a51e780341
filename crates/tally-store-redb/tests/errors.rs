//! Backend failures are typed errors that say what failed; nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use tally_store::{Batch, Operation, Store, StoreError};
use tally_store_redb::{Durability, Options, RedbStore};

#[test]
fn opening_in_a_missing_directory_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = RedbStore::open(dir.path().join("no/such/dir/tally.redb")).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Backend {
                backend: "redb",
                operation: Operation::Open,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_file_that_is_not_redb_is_rejected_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.redb");
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    let error = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Corrupt { backend: "redb", .. }
                | StoreError::Backend {
                    operation: Operation::Open,
                    ..
                }
        ),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "a rejected file must be left as it was"
    );
}

#[test]
fn a_file_already_open_cannot_be_opened_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("once.redb");
    let _first = RedbStore::open(&path).unwrap();
    let error = RedbStore::open(&path).unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Backend {
                operation: Operation::Open,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("redb"),
        "the message names the backend: {error}"
    );
}

#[test]
fn data_survives_reopening_and_versions_keep_growing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reopen.redb");
    let first_version = {
        let store = RedbStore::open(&path).unwrap();
        let mut batch = Batch::new();
        batch.put(b"k", b"one".to_vec());
        store.commit(batch).unwrap();
        let mut batch = Batch::new();
        batch.delete(b"k");
        store.commit(batch).unwrap();
        let mut batch = Batch::new();
        batch.put(b"k", b"two".to_vec());
        store.commit(batch).unwrap();
        store.get(b"k").unwrap().unwrap().version
    };
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(&store.get(b"k").unwrap().unwrap().value[..], b"two");
    let mut batch = Batch::new();
    batch.put(b"k", b"three".to_vec());
    store.commit(batch).unwrap();
    assert!(store.get(b"k").unwrap().unwrap().version > first_version);
}

#[test]
fn buffered_commits_are_visible_at_once_and_flush_makes_them_durable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffered.redb");
    {
        let options = Options {
            durability: Durability::Buffered,
            ..Options::default()
        };
        let store = RedbStore::open_with(&path, options).unwrap();
        assert_eq!(store.durability(), Durability::Buffered);
        let mut batch = Batch::new();
        batch.put(b"k", b"v".to_vec());
        store.commit(batch).unwrap();
        assert_eq!(&store.get(b"k").unwrap().unwrap().value[..], b"v");
        store.flush().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(&store.get(b"k").unwrap().unwrap().value[..], b"v");
}
