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
//! `--seconds N` stops after N seconds (default: run until killed).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tally::connector::routing::LiquidityCurve;
use tally::connector::websocket::{PeerAuth, serve};
use tally::connector::{AccountConfig, AccountId, Connector, ConnectorConfig, WorkerId};
use tally::store::MemStore;

struct Options {
    listen: String,
    address: String,
    peers: Vec<(String, String, u64)>,
    routes: Vec<(String, String)>,
    seconds: Option<u64>,
}

fn parse() -> Result<Options, String> {
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
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
    match parse().map_err(Into::into).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("connector-btp: {error}");
            ExitCode::FAILURE
        }
    }
}
