//! Random operation sequences through a channel book (events, intents,
//! signed and spoiled state updates, reorgs, repeats), every invariant
//! checked after each (see `tally_channel::fuzzing::channel_ops`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tally_channel::fuzzing::channel_ops(data);
});
