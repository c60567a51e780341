//! `ilp-codec`: a line-oriented tool to check tally-ilp against the
//! JavaScript reference implementation.
//!
//! ```text
//! cargo run --example ilp-codec --features ilp-json -- decode [--lenient] < lines   # FAMILY HEX  -> JSON
//! cargo run --example ilp-codec --features ilp-json -- encode < lines               # FAMILY JSON -> hex
//! cargo run --example ilp-codec --features ilp-json -- --help
//! ```
//!
//! FAMILY is `ilp4`, `legacy`, `clp` or `btp2`. Each input line gives one
//! output line: a JSON object `{"type": NAME, ...fields}` or lowercase hex,
//! or `{"error": "..."}`; then the tool goes on with the next line. The
//! JSON shape is `tally::ilp::json`'s (feature `ilp-json`); this file only
//! splits lines and prints answers.

use std::io::{BufRead, Write};

use tally::ilp::json::{self, Family};
use tally::ilp::{self, Mode};

const HELP: &str = r#"ilp-codec: decodes and encodes Interledger packets line by line (ILPv4, legacy ILP, CLP, BTP 2.0).

usage: cargo run --features ilp-json --example ilp-codec -- decode [--lenient] < lines
       cargo run --features ilp-json --example ilp-codec -- encode < lines
       ilp-codec --help

commands:
  decode      each stdin line is FAMILY HEX; prints the packet as JSON {"type": NAME, ...fields}
  --lenient   (after decode) accept what the JavaScript reference decoders accept,
              such as trailing bytes
  encode      each stdin line is FAMILY JSON; prints the packet as lowercase hex
  -h, --help  print this text

FAMILY is ilp4, legacy, clp or btp2. A line that cannot be read answers
{"error": "..."} and the tool goes on with the next. For example, decode reads
  ilp4 0d21000000000000000000000000000000000000000000000000000000000000000000
and answers
  {"data":"","fulfillment":"0000000000000000000000000000000000000000000000000000000000000000","type":"fulfill"}
and encode reads
  btp2 {"type":"transfer","requestId":7,"amount":"10","protocolData":[]}
and answers
  07000000070a000000000000000a0100
"#;

/// What the tool was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    /// `decode [--lenient]`: lines of `FAMILY HEX`.
    Decode(Mode),
    /// `encode`: lines of `FAMILY JSON`.
    Encode,
}

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parsed {
    /// `--help` or `-h` anywhere: print [`HELP`].
    Help,
    /// Answer the stdin lines.
    Run(Command),
}

/// The command the arguments (after the program name) name, or what is
/// wrong with them.
fn parse(args: &[String]) -> Result<Parsed, String> {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        return Ok(Parsed::Help);
    }
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["decode"] => Ok(Parsed::Run(Command::Decode(ilp::Mode::Strict))),
        ["decode", "--lenient"] => Ok(Parsed::Run(Command::Decode(ilp::Mode::Lenient))),
        ["encode"] => Ok(Parsed::Run(Command::Encode)),
        [] => Err("expected a command, decode or encode".to_string()),
        _ => Err(format!("unexpected arguments {args:?}")),
    }
}

/// Answers one input line (without its newline) with one output line.
fn run_line(command: Command, line: &str) -> String {
    let answer = (|| {
        let line = line.trim();
        let (family, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let family: Family = family.parse().map_err(|e: json::JsonError| e.to_string())?;
        match command {
            Command::Decode(mode) => {
                let bytes = hex::decode(rest.trim()).map_err(|e| match e {
                    hex::FromHexError::InvalidHexCharacter { index, .. } => format!("invalid hex at {index}"),
                    _ => "hex has an odd number of digits".to_string(),
                })?;
                let value = json::decode_to_json(family, &bytes, mode).map_err(|e| e.to_string())?;
                Ok(value.to_string())
            }
            Command::Encode => {
                let value: json::serde_json::Value =
                    json::serde_json::from_str(rest).map_err(|e| format!("invalid JSON: {e}"))?;
                let bytes = json::encode_from_json(family, &value).map_err(|e| e.to_string())?;
                Ok(hex::encode(bytes))
            }
        }
    })();
    answer.unwrap_or_else(|error: String| json::serde_json::json!({ "error": error }).to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse(&args) {
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return;
        }
        Ok(Parsed::Run(command)) => command,
        Err(problem) => {
            eprintln!("ilp-codec: {problem}\n\n{HELP}");
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

// Run by `cargo test` (the example has `test = true`): the line protocol.
#[cfg(test)]
mod tests {
    use super::{Command, HELP, Mode, Parsed, parse, run_line};

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_arguments_name_a_command_or_ask_for_help() {
        assert_eq!(parse(&args("decode")), Ok(Parsed::Run(Command::Decode(Mode::Strict))));
        assert_eq!(
            parse(&args("decode --lenient")),
            Ok(Parsed::Run(Command::Decode(Mode::Lenient)))
        );
        assert_eq!(parse(&args("encode")), Ok(Parsed::Run(Command::Encode)));
        for help in ["--help", "-h", "decode --help", "encode -h"] {
            assert_eq!(parse(&args(help)), Ok(Parsed::Help), "{help:?}");
        }
        for bad in ["", "frob", "encode --lenient", "decode --lenient extra", "--lenient"] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        assert!(HELP.contains("cargo run --features ilp-json --example ilp-codec -- decode"));
        // The help's examples are what the tool answers.
        for (command, line) in [
            (
                Command::Decode(Mode::Strict),
                "ilp4 0d21000000000000000000000000000000000000000000000000000000000000000000",
            ),
            (
                Command::Encode,
                r#"btp2 {"type":"transfer","requestId":7,"amount":"10","protocolData":[]}"#,
            ),
        ] {
            let answer = run_line(command, line);
            assert!(
                HELP.contains(&format!("  {line}\nand answers\n  {answer}\n")),
                "{answer}"
            );
        }
    }

    #[test]
    fn the_codec_tool_answers_each_line_in_order() {
        let decode = Command::Decode(Mode::Strict);
        assert_eq!(
            run_line(
                decode,
                "ilp4 0d21000000000000000000000000000000000000000000000000000000000000000000"
            ),
            r#"{"data":"","fulfillment":"0000000000000000000000000000000000000000000000000000000000000000","type":"fulfill"}"#
        );
        assert!(run_line(decode, "ilp4 0d80").starts_with(r#"{"error":"long-form length prefix 0x80"#));
        assert_eq!(run_line(decode, "nope 00"), r#"{"error":"unknown family \"nope\""}"#);
        assert_eq!(
            run_line(decode, "ilp4 0"),
            r#"{"error":"hex has an odd number of digits"}"#
        );
        assert_eq!(run_line(decode, "ilp4 0g"), r#"{"error":"invalid hex at 1"}"#);
        assert!(run_line(decode, "").contains("error"));
        // Trailing byte: strict refuses, lenient accepts.
        let trailing = "btp2 01000000010201000";
        assert!(run_line(decode, &format!("{trailing}0")).contains("trailing"));
        assert_eq!(
            run_line(Command::Decode(Mode::Lenient), &format!("{trailing}0")),
            r#"{"protocolData":[],"requestId":1,"type":"response"}"#
        );
        assert_eq!(
            run_line(
                Command::Encode,
                r#"btp2 {"type":"transfer","requestId":7,"amount":"18446744073709551615","protocolData":[]}"#
            ),
            "07000000070affffffffffffffff0100"
        );
        assert!(run_line(Command::Encode, "btp2 {").starts_with(r#"{"error":"invalid JSON: "#));
        assert_eq!(
            run_line(Command::Encode, r#"ilp4 {"type":"prepare"}"#),
            r#"{"error":"missing field amount"}"#
        );
        assert!(
            run_line(
                Command::Encode,
                r#"ilp4 {"type":"reject","code":"F02","triggeredBy":"nope","message":"","data":""}"#
            )
            .contains("invalid ILP address")
        );
    }
}
