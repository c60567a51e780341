//! Shared test helpers: the bitwrap fixture nets.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers"
)]

use std::path::PathBuf;

/// The fixture nets' directory (the checkout's sibling `shared/`).
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/pnml");

/// Every fixture file, with its (places, transitions, arcs) as listed in
/// its SOURCES.md.
pub const FIXTURE_COUNTS: &[(&str, usize, usize, usize)] = &[
    ("auction.xml", 5, 7, 10),
    ("battleship.xml", 7, 29, 77),
    ("counter.xml", 2, 4, 4),
    ("factom.xml", 23, 31, 48),
    ("finite.xml", 16, 20, 33),
    ("nim.xml", 21, 24, 50),
    ("octoe.xml", 15, 28, 69),
    ("octoe2step.xml", 4, 12, 27),
    ("option.xml", 5, 9, 13),
    ("registry.xml", 3, 3, 5),
    ("spend.xml", 2, 2, 2),
    ("tip.xml", 5, 7, 9),
    ("untitled.xml", 0, 0, 0),
];

/// Reads fixture `name`, or skips the calling test (a failure under
/// `TALLY_REQUIRE_SERVICES=1`) when the fixtures are not there.
pub fn fixture(test: &str, name: &str) -> Option<String> {
    let path = PathBuf::from(FIXTURES).join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(error) => {
            tally_store::testkit::skip(
                test,
                &format!(
                    "fixture {} is not readable ({error}); check out shared/ beside the repo",
                    path.display()
                ),
            );
            None
        }
    }
}

/// Every fixture as (file name, text), or `None` (skipped) when absent.
pub fn all_fixtures(test: &str) -> Option<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    for (name, ..) in FIXTURE_COUNTS {
        out.push((*name, fixture(test, name)?));
    }
    Some(out)
}
