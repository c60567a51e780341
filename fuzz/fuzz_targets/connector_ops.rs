//! Random operations on a connector's core (credits, pay-outs, moves,
//! Prepares, Fulfills, Rejects, timeouts, route changes) by two workers on
//! one store, balances checked against a model after each (see
//! `tally_connector::fuzzing::connector_ops`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_connector::fuzzing::connector_ops(data);
});
