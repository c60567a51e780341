//! Replays the committed fuzz seeds (fuzz/seeds/petri_pnml, petri_fire)
//! through the fuzz entry points, with truncations and some generated
//! inputs: nothing may panic. Needs the `fuzzing` feature.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::Path;

use tally_petri::fuzzing::{fire_sequence, pnml};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        out.push(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(out.len() >= 8, "only {} seeds in {}", out.len(), dir.display());
    out
}

#[test]
fn committed_pnml_seeds_do_not_panic() {
    for data in seeds("petri_pnml") {
        pnml(&data);
        for end in (0..data.len()).step_by(5) {
            pnml(&data[..end]);
        }
    }
}

#[test]
fn committed_fire_seeds_do_not_panic() {
    for data in seeds("petri_fire") {
        fire_sequence(&data);
        for end in 0..data.len().min(64) {
            fire_sequence(&data[..end]);
        }
    }
}

#[test]
fn generated_fire_sequences_match_the_model() {
    // SplitMix64: the same inputs on every run.
    let mut seed = 0x5eed_u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for _ in 0..2_000 {
        let length = 8 + (next() % 120) as usize;
        let data: Vec<u8> = (0..length).map(|_| next() as u8).collect();
        fire_sequence(&data);
    }
}

#[test]
fn hostile_pnml_does_not_panic() {
    let nested = format!(
        "<pnml><net>{}</net></pnml>",
        "<page>".repeat(2_000) + &"</page>".repeat(2_000)
    );
    let many = format!(
        "<pnml><net>{}</net></pnml>",
        (0..5_000).map(|i| format!("<place id=\"p{i}\"/>")).collect::<String>()
    );
    for text in [
        String::new(),
        "<".into(),
        "<pnml><net><place id=\"\u{0}\"/></net></pnml>".into(),
        "<pnml><net><place id=\"p\"><initialMarking><value>Default,4294967296</value></initialMarking></place></net></pnml>".into(),
        nested,
        many,
    ] {
        pnml(text.as_bytes());
    }
}
