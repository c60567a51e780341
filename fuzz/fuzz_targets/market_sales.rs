//! Random inputs and replies for one sales agent: the state machine may
//! not panic (see `tally_market::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_market::fuzzing::sales_machine(data);
});
