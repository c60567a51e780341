//! Decodes arbitrary bytes as a btp2 packet in both modes: no panic, and
//! whatever strict mode accepts re-encodes to the same bytes
//! (`tally_ilp::fuzzing::btp2`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ilp::fuzzing::btp2(data));
