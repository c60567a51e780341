//! Look at a PNML net: its counts, states and boundedness, or a picture.
//!
//! ```sh
//! cargo run --release --example petri --features petri -- inspect ../shared/fixtures/pnml/octoe.xml
//! # {"places":15,"transitions":28,"arcs":69,"initial":[...],"reachable_states":2049,"deadlocks":512,"bounded":true}
//! cargo run --release --example petri --features petri -- inspect net.xml --max-states 5000
//! cargo run --release --example petri --features petri -- dot net.xml | dot -Tsvg > net.svg
//! cargo run --example petri --features petri -- --help
//! ```
//!
//! `inspect FILE [--max-states N]` prints one JSON object:
//! `{"places", "transitions", "arcs", "initial": [..], "reachable_states": n | null,
//! "deadlocks": n | null, "bounded": bool}`, with the element counts of the
//! file, the initial state in document order of the places, and `null`
//! states and deadlocks when exploration stops at the limit (default
//! 1,000,000). `bounded` does not depend on the limit; it is `null` only
//! when the coverability construction could not decide (never for a net
//! without inhibitor arcs whose state space fits in memory).
//!
//! `dot FILE` prints the net as a Graphviz digraph. Errors go to stderr,
//! with exit status 2 for bad usage and 1 for a bad file.

use std::process::ExitCode;

use tally::petri::{analysis, dot, pnml};

const HELP: &str = r#"petri: looks at a PNML Petri net: its counts, states and boundedness, or a Graphviz picture.

usage: cargo run --features petri --example petri -- inspect FILE [--max-states N]
       cargo run --features petri --example petri -- dot FILE | dot -Tsvg > net.svg
       petri --help

commands:
  inspect FILE      print one JSON object: {"places", "transitions", "arcs",
                    "initial": [tokens per place], "reachable_states": n | null,
                    "deadlocks": n | null, "bounded": bool | null}
  --max-states N    (after inspect FILE) stop exploring after N states, 1 to 100000000
                    (default 1000000); the counts are then null
  dot FILE          print the net as a Graphviz digraph
  -h, --help        print this text

For example, inspect ../shared/fixtures/pnml/octoe.xml prints
  {"places":15,"transitions":28,"arcs":69,"initial":[0,0,0,1,1,1,1,1,1,1,1,1,1,0,0],"reachable_states":2049,"deadlocks":512,"bounded":true}
Errors go to stderr, with exit status 2 for bad usage and 1 for a bad file.
"#;

/// What went wrong, and the exit status for it.
#[derive(Debug, PartialEq)]
enum Failure {
    Usage(String),
    Input(String),
}

#[derive(Debug, PartialEq)]
enum Request {
    Inspect {
        file: String,
        max_states: usize,
    },
    Dot {
        file: String,
    },
    /// `--help` or `-h` anywhere: print [`HELP`].
    Help,
}

fn parse(args: &[String]) -> Result<Request, Failure> {
    let usage = |message: &str| Failure::Usage(format!("petri: {message}\n\n{HELP}"));
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        return Ok(Request::Help);
    }
    match args {
        [command, file] if command == "dot" => Ok(Request::Dot { file: file.clone() }),
        [command, file, rest @ ..] if command == "inspect" => {
            let max_states = match rest {
                [] => analysis::DEFAULT_STATE_LIMIT,
                [flag, value] if flag == "--max-states" => match value.parse::<usize>() {
                    Ok(limit) if (1..=analysis::MAX_STATE_LIMIT).contains(&limit) => limit,
                    _ => {
                        return Err(usage(&format!(
                            "--max-states takes a number from 1 to {}, not {value:?}",
                            analysis::MAX_STATE_LIMIT
                        )));
                    }
                },
                _ => return Err(usage("unexpected arguments after FILE")),
            };
            Ok(Request::Inspect {
                file: file.clone(),
                max_states,
            })
        }
        _ => Err(usage("expected a command")),
    }
}

/// Runs one request on the file's text, giving what to print.
fn answer(request: &Request, read: impl Fn(&str) -> std::io::Result<String>) -> Result<String, Failure> {
    let net = |file: &str| {
        let text = read(file).map_err(|error| Failure::Input(format!("{file}: {error}")))?;
        pnml::read(&text).map_err(|error| Failure::Input(format!("{file}: {error}")))
    };
    match request {
        Request::Inspect { file, max_states } => {
            let inspection = analysis::inspect(&net(file)?, *max_states)
                .map_err(|error| Failure::Input(format!("{file}: {error}")))?;
            serde_json::to_string(&inspection).map_err(|error| Failure::Input(error.to_string()))
        }
        Request::Dot { file } => dot::write(&net(file)?, None)
            .map(|text| text.trim_end().to_owned())
            .map_err(|error| Failure::Input(error.to_string())),
        Request::Help => Ok(HELP.trim_end().to_owned()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(|request| answer(&request, |file| std::fs::read_to_string(file))) {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
        Err(Failure::Input(message)) => {
            eprintln!("petri: {message}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/pnml");

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    fn fixture(test: &str, name: &str) -> Option<String> {
        let path = format!("{FIXTURES}/{name}");
        match std::fs::read_to_string(&path) {
            Ok(_) => Some(path),
            Err(error) => {
                tally::store::testkit::skip(test, &format!("{path}: {error}"));
                None
            }
        }
    }

    #[test]
    fn arguments_parse_with_the_default_limit() {
        assert_eq!(
            parse(&args("inspect a.xml")),
            Ok(Request::Inspect {
                file: "a.xml".into(),
                max_states: 1_000_000
            })
        );
        assert_eq!(
            parse(&args("inspect a.xml --max-states 7")),
            Ok(Request::Inspect {
                file: "a.xml".into(),
                max_states: 7
            })
        );
        assert_eq!(parse(&args("dot a.xml")), Ok(Request::Dot { file: "a.xml".into() }));
        for bad in [
            "",
            "inspect",
            "inspect a.xml --max-states",
            "inspect a.xml --max-states 0",
            "dot",
            "frob a.xml",
        ] {
            assert!(matches!(parse(&args(bad)), Err(Failure::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn help_is_asked_for_anywhere_and_read_from_no_file() {
        for line in ["--help", "-h", "inspect a.xml --help", "dot -h", "frob --help"] {
            assert_eq!(parse(&args(line)), Ok(Request::Help), "{line:?}");
        }
        let help = answer(&Request::Help, |_| Err(std::io::Error::other("no file is read"))).unwrap();
        assert!(help.starts_with("petri: "), "{help}");
        assert!(help.contains("cargo run --features petri --example petri -- inspect FILE"));
        assert!(help.contains(&format!("1 to {}", analysis::MAX_STATE_LIMIT)), "{help}");
        assert!(
            help.contains(&format!("(default {})", analysis::DEFAULT_STATE_LIMIT)),
            "{help}"
        );
        let Err(Failure::Usage(usage)) = parse(&args("frob")) else {
            panic!("frob is not a command");
        };
        assert!(usage.ends_with(HELP), "{usage}");
    }

    #[test]
    fn inspect_prints_the_exact_json_object() {
        let Some(path) = fixture("inspect_prints_the_exact_json_object", "octoe.xml") else {
            return;
        };
        let output = answer(&parse(&args(&format!("inspect {path}"))).unwrap(), |file| {
            std::fs::read_to_string(file)
        })
        .unwrap();
        assert_eq!(
            output,
            r#"{"places":15,"transitions":28,"arcs":69,"initial":[0,0,0,1,1,1,1,1,1,1,1,1,1,0,0],"reachable_states":2049,"deadlocks":512,"bounded":true}"#
        );
        let limited = answer(
            &parse(&args(&format!("inspect {path} --max-states 100"))).unwrap(),
            |file| std::fs::read_to_string(file),
        )
        .unwrap();
        assert!(
            limited.contains(r#""reachable_states":null,"deadlocks":null,"bounded":true"#),
            "{limited}"
        );
    }

    #[test]
    fn dot_prints_a_digraph_and_bad_files_are_input_errors() {
        let Some(path) = fixture("dot_prints_a_digraph_and_bad_files_are_input_errors", "counter.xml") else {
            return;
        };
        let output = answer(&parse(&args(&format!("dot {path}"))).unwrap(), |file| {
            std::fs::read_to_string(file)
        })
        .unwrap();
        assert!(
            output.starts_with("digraph \"net\" {") && output.ends_with('}'),
            "{output}"
        );
        assert!(output.contains(r#""INC_0" -> "p0";"#));
        let missing = answer(
            &Request::Dot {
                file: "/no/such.xml".into(),
            },
            |file| std::fs::read_to_string(file),
        );
        assert!(matches!(missing, Err(Failure::Input(_))));
        let broken = answer(&Request::Dot { file: "x".into() }, |_| Ok("<pnml><net>".into()));
        assert!(matches!(broken, Err(Failure::Input(message)) if message.contains("malformed XML")));
    }
}
