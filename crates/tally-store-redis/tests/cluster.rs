//! What the crate claims about Redis Cluster: a store's keys all hash to
//! one slot (the prefix is their hash tag), so its scripts are legal in a
//! cluster. A one-node cluster, which owns every slot and so never
//! redirects, runs the whole conformance kit; Redis refuses a script whose
//! keys span slots (`CROSSSLOT`), so a layout without the hash tag fails
//! here. Clusters of several nodes are not supported (no `MOVED`/`ASK`
//! handling) and not tested.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod support;

use std::time::Duration;

use support::{OwnServer, TempRedis};
use tally_store::testkit::{Config, run_all};

fn one_node_cluster(binary: &std::path::Path) -> OwnServer {
    let server = OwnServer::start(binary, &["--cluster-enabled", "yes"]);
    let mut admin = support::admin(&server.url());
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16_383)
        .query(&mut admin)
        .unwrap();
    // Bounded wait (about 10 s) for the node to call its cluster healthy.
    for _ in 0..200 {
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut admin).unwrap();
        if info.lines().any(|line| line.trim() == "cluster_state:ok") {
            return server;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the one-node cluster never reached cluster_state:ok");
}

#[test]
fn a_one_node_cluster_keeps_the_contract() {
    let Some(binary) = support::redis_server("a_one_node_cluster_keeps_the_contract") else {
        return;
    };
    let server = one_node_cluster(&binary);
    let mut admin = support::admin(&server.url());
    // The check is real: keys of different slots in one script are refused.
    let refused = redis::cmd("EVAL")
        .arg("return 1")
        .arg(2)
        .arg("{a}:x")
        .arg("{b}:x")
        .query::<i64>(&mut admin)
        .unwrap_err();
    assert_eq!(refused.code(), Some("CROSSSLOT"), "{refused:?}");

    let config = Config {
        cas_threads: 4,
        cas_increments_per_thread: 100,
        disjoint_writes_per_thread: 100,
        multi_key_rounds_per_thread: 50,
        write_skew_rounds: 50,
    };
    run_all(|| TempRedis::new(&server.url(), "cluster"), &config);
}
