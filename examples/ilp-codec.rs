//! `ilp-codec`: a line-oriented tool to check tally-ilp against the
//! JavaScript reference implementation.
//!
//! ```text
//! cargo run --example ilp-codec --features ilp -- decode [--lenient] < lines   # FAMILY HEX  -> JSON
//! cargo run --example ilp-codec --features ilp -- encode < lines               # FAMILY JSON -> hex
//! ```
//!
//! FAMILY is `ilp4`, `legacy`, `clp` or `btp2`. Each input line gives one
//! output line: a JSON object `{"type": NAME, ...fields}` or lowercase hex,
//! or `{"error": "..."}`; then the tool goes on with the next line. The
//! JSON shape is described in `examples/ilp_codec/mapping.rs`.

use std::io::{BufRead, Write};

use tally::ilp;

#[path = "ilp_codec/mapping.rs"]
mod mapping;

use mapping::{Command, run_line};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["decode"] => Command::Decode(ilp::Mode::Strict),
        ["decode", "--lenient"] => Command::Decode(ilp::Mode::Lenient),
        ["encode"] => Command::Encode,
        _ => {
            eprintln!("usage: ilp-codec decode [--lenient] | ilp-codec encode   (lines on stdin)");
            std::process::exit(2);
        }
    };
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) => {
                eprintln!("ilp-codec: reading stdin: {error}");
                std::process::exit(1);
            }
        }
        // A line that is not UTF-8 gets an error answer like any other bad line.
        let answer = match std::str::from_utf8(&line) {
            Ok(text) => run_line(command, text.trim_end_matches(['\n', '\r'])),
            Err(_) => r#"{"error":"line is not UTF-8"}"#.to_string(),
        };
        if writeln!(stdout, "{answer}").and_then(|()| stdout.flush()).is_err() {
            // The reader went away (e.g. a closed pipe): stop quietly.
            return;
        }
    }
}
