//! Decodes arbitrary bytes as batches of transfers (with expiries between
//! them) against a small ledger: no panic, the audit passes, no limit is
//! broken (`tally_ledger::fuzzing::ledger_ops`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ledger::fuzzing::ledger_ops(data));
