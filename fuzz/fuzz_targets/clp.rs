//! Decodes arbitrary bytes as a clp packet in both modes: no panic, and
//! whatever strict mode accepts re-encodes to the same bytes
//! (`tally_ilp::fuzzing::clp`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ilp::fuzzing::clp(data));
