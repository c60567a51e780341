//! Lines of the marketplace-cli JSON tool: nothing may panic, a refused
//! line changes nothing, and the contract's invariants hold after every
//! line (see `tally_market::fuzzing::marketplace_cli`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_market::fuzzing::marketplace_cli(data);
});
