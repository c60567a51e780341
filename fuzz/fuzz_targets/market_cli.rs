//! Lines of the tally-market JSON tool: nothing may panic and the
//! accounting invariants must hold after every line (see
//! `tally_market::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_market::fuzzing::market_cli(data);
});
