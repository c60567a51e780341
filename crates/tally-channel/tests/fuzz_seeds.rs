//! Replays the committed fuzz seeds (fuzz/seeds/channel_json,
//! fuzz/seeds/channel_ops) and some hostile inputs through the fuzz entry
//! points: nothing may panic, and the invariants channel_ops checks hold.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_channel::fuzzing::{channel_json, channel_ops};

#[test]
fn committed_seeds_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/channel_json");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        channel_json(&data);
        // Every truncation too: the cheapest way to reach the error paths.
        for end in (0..data.len()).step_by(7) {
            channel_json(&data[..end]);
        }
        count += 1;
    }
    assert!(count >= 8, "only {count} seeds in {}", dir.display());
}

#[test]
fn hostile_inputs_do_not_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_amount = format!(r#"{{"amount":"{}"}}"#, "9".repeat(100_000));
    for selector in 0u8..4 {
        for input in [
            "".to_owned(),
            "null".to_owned(),
            deep.clone(),
            huge_amount.clone(),
            r#"{"chain_id":-1,"amount":"1"}"#.to_owned(),
            r#"{"chain_id":1e400}"#.to_owned(),
            "\u{0}\u{ffff}".to_owned(),
        ] {
            let mut data = vec![selector];
            data.extend_from_slice(input.as_bytes());
            channel_json(&data);
        }
    }
}

#[test]
fn committed_operation_seeds_keep_the_channel_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/channel_ops");
    let (mut count, mut stored, mut refused) = (0, 0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let (seed_stored, seed_refused) = channel_ops(&data);
        assert!(
            seed_stored + seed_refused > 0,
            "{} reaches no state update",
            path.display()
        );
        stored += seed_stored;
        refused += seed_refused;
        for end in (0..data.len()).step_by(5) {
            channel_ops(&data[..end]);
        }
        count += 1;
    }
    assert!(count >= 8, "only {count} seeds in {}", dir.display());
    assert!(stored > 0 && refused > 0, "stored {stored}, refused {refused}");
}

#[test]
fn arbitrary_operation_bytes_keep_the_channel_invariants() {
    for seed in 0u8..=255 {
        let data: Vec<u8> = (0..120u16)
            .map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add(seed.rotate_left(3)))
            .collect();
        channel_ops(&data);
    }
}
