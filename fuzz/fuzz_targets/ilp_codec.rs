//! Lines of the ilp-codec tool (`FAMILY HEX` / `FAMILY JSON`) through
//! `tally_ilp::json`: no panic, and every accepted packet round-trips
//! between bytes and JSON (see `tally_ilp::fuzzing::ilp_codec_lines`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tally_ilp::fuzzing::ilp_codec_lines(data));
