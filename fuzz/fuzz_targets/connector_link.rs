//! Feeds arbitrary frames through a connector's BTP 2.0 or CLP links and
//! applies every event: no panic, no overdraft, prepared amounts equal to
//! the payments in flight (`tally_connector::fuzzing::connector_link`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_connector::fuzzing::connector_link(data);
});
