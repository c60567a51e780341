//! PNML documents through `tally_petri::pnml::read`; whatever is accepted
//! must round-trip through both dialects (see `tally_petri::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_petri::fuzzing::pnml(data);
});
