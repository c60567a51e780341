//! Interoperability with the JavaScript reference stack: `ilp-plugin-btp`
//! and `ilp-packet` (pinned in `tests/js/package-lock.json`, installed with
//! `npm ci`) connect to our BTP 2.0 WebSocket shell on loopback as two
//! peers; `tests/js/interop.js` sends a Prepare that we forward to the other
//! peer, which fulfills it, and one that we reject with T04.
//!
//! Skipped (with a note) when node or npm is missing, a failure under
//! `TALLY_REQUIRE_SERVICES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tally_connector::routing::LiquidityCurve;
use tally_connector::websocket::{PeerAuth, serve};
use tally_connector::{AccountConfig, AccountId, Connector, ConnectorConfig, WorkerId};
use tally_store::MemStore;
use tally_store::testkit::skip;

const TEST: &str = "the_javascript_reference_stack_pays_through_our_connector_over_btp";

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Installs the pinned packages unless they are already there.
fn npm_ci() -> bool {
    let dir = js_dir();
    if dir.join("node_modules/.package-lock.json").is_file()
        && dir.join("node_modules/ilp-plugin-btp").is_dir()
        && dir.join("node_modules/ilp-packet").is_dir()
    {
        return true;
    }
    match Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "npm ci failed in {}", dir.display());
            true
        }
        Err(error) => {
            skip(TEST, &format!("npm is not available: {error}"));
            false
        }
    }
}

fn id(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

#[test]
fn the_javascript_reference_stack_pays_through_our_connector_over_btp() {
    if Command::new("node").arg("--version").output().is_err() {
        skip(TEST, "node is not installed");
        return;
    }
    if !npm_ci() {
        return;
    }
    let connector =
        Arc::new(Connector::new(MemStore::new(), WorkerId(0), ConnectorConfig::new(b"test.hub".to_vec())).unwrap());
    connector.open_account(&id("alice"), AccountConfig::default()).unwrap();
    connector.open_account(&id("bob"), AccountConfig::default()).unwrap();
    connector.credit(&id("bob"), [1; 16], 1_000).unwrap();
    connector
        .announce_route(b"test.bob", &id("bob"), LiquidityCurve::identity())
        .unwrap();
    let peers = vec![
        PeerAuth {
            username: "alice".into(),
            token: "alice-token".into(),
            account: id("alice"),
        },
        PeerAuth {
            username: "bob".into(),
            token: "bob-token".into(),
            account: id("bob"),
        },
    ];
    let server = serve(connector.clone(), "127.0.0.1:0".parse().unwrap(), peers).unwrap();
    let port = server.local_addr().port();

    let mut child = Command::new("node")
        .arg("interop.js")
        .arg(port.to_string())
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    server.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "interop.js failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(r#""failures":[]"#), "{stdout}");
    assert!(stdout.contains(r#""got":"ilp_fulfill""#), "{stdout}");
    assert!(stdout.contains(r#""code":"T04""#), "{stdout}");
    // Our side of the same story.
    assert_eq!(connector.balances(&id("bob")).unwrap().balance(), 900);
    assert_eq!(connector.balances(&id("alice")).unwrap().balance(), 100);
}
