//! Verifies Machinomy payment signatures, one JSON object per stdin line.
//!
//! ```sh
//! cargo run --features channel --example channel-verify -- < payments.jsonl
//! cargo run --features channel --example channel-verify -- --help
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
use std::process::ExitCode;

const HELP: &str = r#"channel-verify: checks Machinomy payment signatures, one JSON object per stdin line.

usage: cargo run --features channel --example channel-verify -- < payments.jsonl
       channel-verify [--help]

It takes no options. Each stdin line is one payment:
  {"scheme", "chain_id", "contract_address", "token_contract" (optional),
   "channel_id", "amount", "signature", "channel_sender"}
and gets one stdout line: {"valid": bool, "signer": "0x..." | null, "reason": null | CODE},
CODE one of wrong_signer, bad_signature_length, bad_v, invalid_signature,
invalid_amount, invalid_input. Blank lines are skipped. For example:
  {"scheme":"unidirectional","chain_id":1,"contract_address":"0x08e4f70109ccc5135F50cC359d24Cb7686247df4","channel_id":"0xb854ff47c9c7e332d50ce8b3c3fe43b400000000000000000000000000000000","amount":"0","signature":"0x00","channel_sender":"0x0ff3f9790763e581766B707BFE83A9B7CDF1CCDA"}
answers
  {"valid":false,"signer":null,"reason":"bad_signature_length"}
"#;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--help" | "-h") => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("channel-verify: unknown argument {other:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    }
    match verify_lines() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("channel-verify: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Answers each stdin line with one stdout line.
fn verify_lines() -> std::io::Result<()> {
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
