//! Decodes arbitrary bytes as a legacy packet in both modes: no panic, and
//! whatever strict mode accepts re-encodes to the same bytes
//! (`tally_ilp::fuzzing::legacy`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ilp::fuzzing::legacy(data));
