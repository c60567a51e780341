//! A connector speaking BTP 2.0 over WebSocket: the thin shell
//! `tally::connector::websocket` around the connector core, on a MemStore.
//!
//! ```sh
//! cargo run --example connector-btp --features connector-websocket -- \
//!     --listen 127.0.0.1:7768 --address test.hub \
//!     --peer alice:alice-token --peer bob:bob-token:1000 --route test.bob=bob
//! ```
//!
//! `--peer NAME:TOKEN[:FUNDS]` admits a peer (`ilp-plugin-btp` with
//! `server: "btp+ws://NAME:TOKEN@127.0.0.1:7768"`) and credits FUNDS we hold
//! with it; `--route PREFIX=NAME` sends payments for PREFIX to NAME;
//! `--seconds N` stops after N seconds (default: run until killed);
//! `--help` prints the options.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tally::connector::routing::LiquidityCurve;
use tally::connector::websocket::{PeerAuth, serve};
use tally::connector::{AccountConfig, AccountId, Connector, ConnectorConfig, WorkerId};
use tally::store::MemStore;

const HELP: &str = "\
connector-btp: an Interledger connector speaking BTP 2.0 over WebSocket, on a store in memory.

usage: cargo run --features connector-websocket --example connector-btp -- [OPTIONS]
       connector-btp [--listen ADDR] [--address ILP-ADDRESS] [--peer NAME:TOKEN[:FUNDS]]...
                     [--route PREFIX=NAME]... [--seconds N]

options:
  --listen ADDR             the socket address to listen on (default 127.0.0.1:7768)
  --address ILP-ADDRESS     this connector's ILP address (default test.hub)
  --peer NAME:TOKEN[:FUNDS] admit a peer that logs in as NAME with TOKEN
                            (ilp-plugin-btp with server \"btp+ws://NAME:TOKEN@127.0.0.1:7768\")
                            and credit FUNDS we hold with it (default 0); repeatable
  --route PREFIX=NAME       send payments for addresses under PREFIX to peer NAME; repeatable
  --seconds N               stop after N seconds (default: run until killed)
  -h, --help                print this text

For example:
  cargo run --features connector-websocket --example connector-btp -- \\
      --peer alice:alice-token --peer bob:bob-token:1000 --route test.bob=bob
prints \"listening on ws://127.0.0.1:7768 as test.hub\" and serves until killed.
";

/// What the command line asks for.
enum Parsed {
    /// `--help`: print [`HELP`].
    Help,
    /// Serve with these options.
    Run(Options),
}

struct Options {
    listen: String,
    address: String,
    peers: Vec<(String, String, u64)>,
    routes: Vec<(String, String)>,
    seconds: Option<u64>,
}

fn parse() -> Result<Parsed, String> {
    let mut options = Options {
        listen: "127.0.0.1:7768".into(),
        address: "test.hub".into(),
        peers: Vec::new(),
        routes: Vec::new(),
        seconds: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--help" | "-h" => return Ok(Parsed::Help),
            "--listen" => options.listen = value()?,
            "--address" => options.address = value()?,
            "--seconds" => options.seconds = Some(value()?.parse().map_err(|e| format!("--seconds: {e}"))?),
            "--peer" => {
                let text = value()?;
                let mut parts = text.splitn(3, ':');
                let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
                    return Err(format!("--peer {text}: expected NAME:TOKEN[:FUNDS]"));
                };
                let funds = parts
                    .next()
                    .map_or(Ok(0), str::parse)
                    .map_err(|e| format!("--peer {text}: {e}"))?;
                options.peers.push((name.into(), token.into(), funds));
            }
            "--route" => {
                let text = value()?;
                let (prefix, name) = text
                    .split_once('=')
                    .ok_or(format!("--route {text}: expected PREFIX=NAME"))?;
                options.routes.push((prefix.into(), name.into()));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Parsed::Run(options))
}

fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let config = ConnectorConfig::new(options.address.as_bytes().to_vec());
    let connector = Arc::new(Connector::new(MemStore::new(), WorkerId(0), config)?);
    let mut peers = Vec::new();
    for (n, (name, token, funds)) in options.peers.iter().enumerate() {
        let account = AccountId::new(name.as_str())?;
        connector.open_account(&account, AccountConfig::default())?;
        if *funds > 0 {
            connector.credit(&account, [n as u8; 16], *funds)?;
        }
        peers.push(PeerAuth {
            username: name.clone(),
            token: token.clone(),
            account,
        });
    }
    for (prefix, name) in &options.routes {
        connector.announce_route(
            prefix.as_bytes(),
            &AccountId::new(name.as_str())?,
            LiquidityCurve::identity(),
        )?;
    }
    let server = serve(connector, options.listen.parse()?, peers)?;
    println!("listening on ws://{} as {}", server.local_addr(), options.address);
    match options.seconds {
        Some(seconds) => {
            std::thread::sleep(Duration::from_secs(seconds));
            server.stop();
        }
        None => loop {
            std::thread::park();
        },
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(Parsed::Run(options)) => options,
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("connector-btp: {problem}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("connector-btp: {error}");
            ExitCode::FAILURE
        }
    }
}
