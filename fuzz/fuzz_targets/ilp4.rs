//! Decodes arbitrary bytes as a ilp4 packet in both modes: no panic, and
//! whatever strict mode accepts re-encodes to the same bytes
//! (`tally_ilp::fuzzing::ilp4`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ilp::fuzzing::ilp4(data));
