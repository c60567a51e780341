//! Entry points for the fuzz targets (`fuzz/fuzz_targets/channel_json.rs`),
//! compiled with the crate so they never drift from it.
//!
//! Only built with the `fuzzing` cargo feature, which the fuzz workspace
//! turns on; hosts have no use for it and its functions may change in any
//! release.

use tally_store::MemStore;

use crate::book::ChannelBook;

/// Feeds `data` through the JSON entry points: the first byte picks the
/// path, the rest is the input. Must never panic.
pub fn channel_json(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 4 {
        0 => {
            let _ = crate::json::parse_state_update(text, 0);
        }
        1 => {
            let _ = crate::json::parse_channel_event(text);
        }
        2 => {
            let _ = crate::verify::verify_line(text).to_json();
        }
        _ => {
            // Lines alternate between events and state updates on one book.
            let book = ChannelBook::new(MemStore::new());
            for line in text.lines().take(64) {
                if line.contains("event_type") {
                    let _ = book.insert_channel_event_json(line);
                } else {
                    let _ = book.insert_state_update_json(line, 0);
                }
            }
        }
    }
}
