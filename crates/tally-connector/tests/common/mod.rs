//! Shared set-up for the shell tests: a connector `test.hub` between
//! `alice` (the sender's side) and `bob` (towards `test.bob`).

#![allow(
    unreachable_pub,
    dead_code,
    reason = "shared by several test binaries, each using a part"
)]

use tally_connector::routing::LiquidityCurve;
use tally_connector::{AccountConfig, AccountId, Connector, ConnectorConfig, IncomingPrepare, WorkerId};
use tally_ilp::ilp4::fulfillment_to_condition;
use tally_store::Store;

pub const ADDRESS: &[u8] = b"test.hub";

pub fn id(name: &str) -> AccountId {
    AccountId::new(name).unwrap()
}

pub fn connector<S: Store>(store: S, worker: u16) -> Connector<S> {
    Connector::new(store, WorkerId(worker), ConnectorConfig::new(ADDRESS.to_vec())).unwrap()
}

/// Opens alice and bob (bob with `parallelism`), gives the hub `bob_funds`
/// with bob, routes `test.bob` to bob.
pub fn set_up<S: Store>(hub: &Connector<S>, parallelism: u32, bob_funds: u64) {
    hub.open_account(&id("alice"), AccountConfig::default()).unwrap();
    hub.open_account(
        &id("bob"),
        AccountConfig {
            parallelism,
            ..AccountConfig::default()
        },
    )
    .unwrap();
    hub.credit(&id("bob"), [0xb0; 16], bob_funds).unwrap();
    hub.announce_route(b"test.bob", &id("bob"), LiquidityCurve::identity())
        .unwrap();
}

/// The fulfillment of payment number `n`.
pub fn fulfillment(n: u64) -> [u8; 32] {
    let mut f = [0x5a; 32];
    f[..8].copy_from_slice(&n.to_be_bytes());
    f
}

/// Payment number `n` from alice: `amount` to test.bob.carl, expiring at `expires_at_ms`.
pub fn prepare(n: u64, amount: u64, expires_at_ms: u64) -> IncomingPrepare {
    let mut transfer_id = [0u8; 16];
    transfer_id[..8].copy_from_slice(&n.to_be_bytes());
    IncomingPrepare {
        from: id("alice"),
        transfer_id,
        amount,
        expires_at_ms,
        execution_condition: fulfillment_to_condition(&fulfillment(n)),
        destination: b"test.bob.carl".to_vec(),
        data: b"hello".to_vec(),
    }
}
