//! Feeds arbitrary bytes to the ledger-cli JSON-lines session: every line
//! gets a JSON answer, nothing panics (`tally_ledger::fuzzing::jsonl_line`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ledger::fuzzing::jsonl_line(data));
