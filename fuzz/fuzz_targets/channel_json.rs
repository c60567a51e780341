//! State-update JSON, event JSON and channel-verify lines through the public
//! API; the first byte picks the path (see `tally_channel::fuzzing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_channel::fuzzing::channel_json(data);
});
