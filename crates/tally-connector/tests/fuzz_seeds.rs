//! Replays the committed fuzz seeds (`fuzz/seeds/connector_link/`) and
//! every truncation of them through the fuzz entry point: nothing may panic
//! and the invariants it checks must hold.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_connector::fuzzing::connector_link;

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
        let expected = if name.ends_with("t04") { (0, 0) } else { (1, 1) };
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
