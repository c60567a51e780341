//! Replays the committed fuzz seed corpus (`fuzz/seeds/<target>/`) through
//! the same checks the fuzz targets run, so a plain `cargo test` on stable
//! exercises them. Add a crashing input found by `cargo fuzz` to the seeds
//! directory of its target to keep it fixed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::PathBuf;

use tally_ilp::fuzzing;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(outcome.is_ok(), "seed {} fails the {target} check", path.display());
        count += 1;
    }
    assert!(count >= 10, "only {count} seeds for {target}");
}

#[test]
fn ilp4_seeds_pass_the_fuzz_check() {
    replay("ilp4", fuzzing::ilp4);
}

#[test]
fn legacy_seeds_pass_the_fuzz_check() {
    replay("legacy", fuzzing::legacy);
}

#[test]
fn clp_seeds_pass_the_fuzz_check() {
    replay("clp", fuzzing::clp);
}

#[test]
fn btp2_seeds_pass_the_fuzz_check() {
    replay("btp2", fuzzing::btp2);
}

#[cfg(feature = "json")]
#[test]
fn ilp_codec_seeds_pass_the_fuzz_check() {
    replay("ilp_codec", fuzzing::ilp_codec_lines);
    // Every command over every seed's lines, and their truncations.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/ilp_codec");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let mut input = std::fs::read(entry.unwrap().path()).unwrap();
        for command in 0..3 {
            input[0] = command;
            fuzzing::ilp_codec_lines(&input);
            for end in (1..input.len()).step_by(61) {
                fuzzing::ilp_codec_lines(&input[..end]);
            }
        }
    }
}
