//! Verifies Machinomy payment signatures, one JSON object per stdin line.
//!
//! ```sh
//! cargo run --example channel-verify --features channel < payments.jsonl
//! ```
//!
//! Each line: `{"scheme", "chain_id", "contract_address", "token_contract"?,
//! "channel_id", "amount", "signature", "channel_sender"}`; each output line:
//! `{"valid": bool, "signer": "0x…" | null, "reason": null | "wrong_signer" |
//! "bad_signature_length" | "bad_v" | "invalid_signature" | "invalid_amount" |
//! "invalid_input"}`. High-`s` signatures are accepted, as the contracts do.
//! The mapping lives in `tally_channel::verify`, where the vector tests
//! exercise it; a line that does not parse gets its reason from the one
//! table of reason codes in `tally_channel::json`, which the book's JSON
//! entry points share.

use std::io::{BufRead, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(out, "{}", tally::channel::verify::verify_line(&line).to_json())?;
    }
    out.flush()
}
