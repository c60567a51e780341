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
    eprintln!("garbage file: {error:?}");
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

/// Damage a real store file at many places: opening and reading it must
/// give data that was written or a typed error, never a panic or garbage.
#[test]
fn a_damaged_file_gives_typed_errors_or_intact_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        for round in 0..20u64 {
            let mut batch = Batch::new();
            for i in 0..50u64 {
                batch.put(format!("key/{round:03}/{i:03}").into_bytes(), vec![round as u8; 200]);
            }
            store.commit(batch).unwrap();
        }
    }
    let pristine = std::fs::read(&path).unwrap();
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for offset in (0..pristine.len()).step_by(pristine.len() / 64 + 1) {
        let mut damaged = pristine.clone();
        for byte in &mut damaged[offset..(offset + 64).min(pristine.len())] {
            *byte ^= 0xA5;
        }
        std::fs::write(&path, &damaged).unwrap();
        let outcome = std::panic::catch_unwind(|| match RedbStore::open(&path) {
            Err(StoreError::Corrupt { .. }) => "corrupt on open",
            Err(StoreError::Backend { .. }) => "backend error on open",
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(store) => match tally_store::scan_all(&store, b"key/", 1_000).collect::<Result<Vec<_>, _>>() {
                Err(StoreError::Corrupt { .. } | StoreError::Backend { .. }) => "typed error on read",
                Err(other) => panic!("unexpected error {other:?}"),
                Ok(entries) => {
                    for entry in &entries {
                        let round: u8 = std::str::from_utf8(&entry.key[4..7]).unwrap().parse().unwrap();
                        assert_eq!(
                            entry.value[..],
                            vec![round; 200][..],
                            "a damaged value was returned as data"
                        );
                    }
                    "read intact data"
                }
            },
        });
        let outcome = outcome.unwrap_or_else(|_| panic!("damage at offset {offset} made the store panic"));
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!("outcomes of damaging the file at 64+ places: {outcomes:?}");
    assert!(
        outcomes.keys().any(|k| k.contains("corrupt") || k.contains("error")),
        "damage went unnoticed everywhere"
    );
}
