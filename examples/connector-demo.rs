//! A sender, two connectors and a receiver in one process, exchanging real
//! encoded bytes through in-memory links:
//!
//! ```text
//! alice --BTP 2.0 (ILPv4)--> test.c1 --CLP (legacy ILP)--> test.c2 --BTP 2.0 (ILPv4)--> test.bob
//! ```
//!
//! test.c1 holds 1000 with test.c2, test.c2 holds 500 with test.bob. Three
//! payments: 100 (forwarded over both hops and fulfilled), 600 (refused by
//! test.c2 with T04: more than its balance with test.bob), and 50 that the
//! receiver holds until test.c2's timer rejects it with R00. The scenario is
//! `tally::connector::sim::connector_demo`.
//!
//! ```sh
//! cargo run --example connector-demo --features connector          # each hop, then the balances
//! cargo run --example connector-demo --features connector -- --json
//! ```
//!
//! With `--json` it prints one object:
//! `{"payments": [{"fulfilled": bool, "code": null | "T04" | ...}...], "balances": {...}}`
//! where `balances` maps each connector to its balance with each account.

use std::process::ExitCode;

use tally::connector::sim;

const HELP: &str = r#"connector-demo: a sender, two Interledger connectors and a receiver in one process.

usage: cargo run --features connector --example connector-demo -- [--json]
       connector-demo [--json] [--help]

alice --BTP 2.0--> test.c1 --CLP--> test.c2 --BTP 2.0--> test.bob, over in-memory
links. Three payments: 100 (fulfilled), 600 (refused with T04 by test.c2) and 50
(held by the receiver until test.c2 rejects it with R00). It prints each hop,
then each payment's outcome and the connectors' balances.

options:
  --json      print one JSON object instead:
              {"payments": [{"fulfilled": bool, "code": null | "T04" | ...}, ...],
               "balances": {CONNECTOR: {ACCOUNT: BALANCE, ...}, ...}}
  -h, --help  print this text
"#;

fn main() -> ExitCode {
    let mut json = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--json" => json = true,
            "--help" | "-h" => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("connector-demo: unknown argument {other:?}\n\n{HELP}");
                return ExitCode::from(2);
            }
        }
    }
    let report = sim::connector_demo().and_then(|(net, results)| Ok((net.balances()?, net, results)));
    let (balances, net, results) = match report {
        Ok(done) => done,
        Err(error) => {
            eprintln!("connector-demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    if json {
        println!("{}", sim::report_json(&results, &balances));
        return ExitCode::SUCCESS;
    }
    for hop in &net.hops {
        println!("{hop}");
    }
    println!();
    for (n, result) in results.iter().enumerate() {
        match &result.code {
            None if result.fulfilled => println!("payment {}: fulfilled", n + 1),
            code => println!(
                "payment {}: rejected {} by {}",
                n + 1,
                code.as_deref().unwrap_or("(no answer)"),
                result.triggered_by.as_deref().unwrap_or("-")
            ),
        }
    }
    for (connector, accounts) in &balances {
        for (account, balance) in accounts {
            println!("{connector} balance with {account}: {balance}");
        }
    }
    ExitCode::SUCCESS
}
