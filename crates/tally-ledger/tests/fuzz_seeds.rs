//! Replays the committed fuzz seeds (fuzz/seeds/ledger_ops, ledger_jsonl)
//! through the fuzz entry points: nothing may panic, every invariant the
//! entry points check holds.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_ledger::fuzzing::{jsonl_line, ledger_ops};

fn replay(target: &str, entry: fn(&[u8]), at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut count = 0;
    for file in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(file.unwrap().path()).unwrap();
        entry(&data);
        // Some truncations too: the cheapest way to reach other paths.
        for end in (0..data.len()).step_by(97) {
            entry(&data[..end]);
        }
        count += 1;
    }
    assert!(count >= at_least, "only {count} seeds in {}", dir.display());
}

#[test]
fn committed_ledger_ops_seeds_keep_every_invariant() {
    replay("ledger_ops", ledger_ops, 10);
}

#[test]
fn committed_ledger_jsonl_seeds_do_not_panic() {
    replay("ledger_jsonl", jsonl_line, 10);
}
