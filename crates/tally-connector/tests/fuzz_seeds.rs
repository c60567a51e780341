//! Replays the committed fuzz seeds (`fuzz/seeds/connector_link/`) and
//! every truncation of them through the fuzz entry point: nothing may panic
//! and the invariants it checks must hold.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_connector::fuzzing::{connector_link, connector_ops};

#[test]
fn committed_seeds_keep_the_connector_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/connector_link");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let (forwarded, ended) = connector_link(&data);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Each seed reaches the path it is named for.
        let expected = if name.ends_with("t04") {
            (0, 0)
        } else if name.ends_with("in_flight") {
            // Found by the fuzzer: one Prepare sent twice, still in flight.
            (1, 0)
        } else {
            (1, 1)
        };
        assert_eq!((forwarded.min(1), ended.min(1)), expected, "seed {name}");
        for end in (0..data.len()).step_by(5) {
            connector_link(&data[..end]);
        }
        count += 1;
    }
    assert!(count >= 4, "only {count} seeds");
}

#[test]
fn hostile_frames_do_not_panic() {
    for selector in [0u8, 1] {
        connector_link(&[selector]);
        connector_link(&[selector, 255]);
        connector_link(&[selector, 3, 6, 0, 0]);
        connector_link(&[selector, 5, 0xff, 0xff, 0xff, 0xff, 0xff]);
    }
}

#[test]
fn committed_operation_seeds_keep_the_balances_right() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/connector_ops");
    let (mut count, mut forwarded, mut ended) = (0, 0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let (seed_forwarded, seed_ended) = connector_ops(&data);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Every seed but the idempotence one forwards a payment.
        if name != "idempotent_operations" {
            assert!(seed_forwarded > 0, "seed {name} forwards nothing");
        }
        forwarded += seed_forwarded;
        ended += seed_ended;
        for end in (0..data.len()).step_by(3) {
            connector_ops(&data[..end]);
        }
        count += 1;
    }
    assert!(count >= 8, "only {count} seeds");
    assert!(ended > 0 && ended <= forwarded, "forwarded {forwarded}, ended {ended}");
}

#[test]
fn arbitrary_operation_bytes_keep_the_balances_right() {
    for seed in 0u8..=255 {
        let data: Vec<u8> = (0..160u16)
            .map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed.rotate_left(5)))
            .collect();
        connector_ops(&data);
    }
}
