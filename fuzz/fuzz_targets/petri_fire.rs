//! A random net from the first bytes, then random firings checked against a
//! dense model of the firing rule (see `tally_petri::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_petri::fuzzing::fire_sequence(data);
});
