//! Shared by the test binaries: a store under its own prefix on the
//! cluster `TALLY_ETCD_ENDPOINTS` names (emptied when the test ends), and
//! clusters a test starts itself from the `etcd` binary, to kill and
//! restart their members.

#![allow(
    unreachable_pub,
    dead_code,
    reason = "shared by several test binaries, each using a part"
)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tally_store::{Batch, Page, Store, StoreError, Versioned};
use tally_store_etcd::{EtcdLimits, EtcdOptions, EtcdStore};

/// The variable that points the tests at a cluster: `host:port,...`.
pub const ENDPOINTS_ENV: &str = "TALLY_ETCD_ENDPOINTS";

/// The cluster's endpoints, or `None` when the variable is not set: the
/// test then skips, or fails under `TALLY_REQUIRE_SERVICES=1`.
pub fn endpoints(test: &str) -> Option<String> {
    tally_store::testkit::service_env(ENDPOINTS_ENV, test)
}

/// A key prefix no other test or run uses.
pub fn unique_prefix(tag: &str) -> Vec<u8> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!(
        "tally-test/{tag}/{}-{}-{nanos}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
    .into_bytes()
}

/// The options the tests use on the shared cluster, which
/// `tests/etcd-cluster.sh` starts with raised limits.
pub fn options(prefix: Vec<u8>) -> EtcdOptions {
    EtcdOptions {
        prefix,
        server_limits: EtcdLimits::RAISED,
        ..EtcdOptions::default()
    }
}

/// A store under a fresh prefix; its keys are deleted on drop.
pub struct TempEtcd {
    store: EtcdStore,
}

impl TempEtcd {
    pub fn new(endpoints: &str, tag: &str) -> Self {
        Self::with_options(endpoints, options(unique_prefix(tag)))
    }

    pub fn with_options(endpoints: &str, options: EtcdOptions) -> Self {
        let store = EtcdStore::connect_with(endpoints, options)
            .unwrap_or_else(|error| panic!("cannot open an EtcdStore at {endpoints}: {error}"));
        TempEtcd { store }
    }

    pub fn store(&self) -> &EtcdStore {
        &self.store
    }
}

impl Drop for TempEtcd {
    fn drop(&mut self) {
        if let Err(error) = self.store.delete_all() {
            eprintln!("could not delete the test keys: {error}");
        }
    }
}

impl Store for TempEtcd {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.store.get(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.store.scan(prefix, after, limit)
    }
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.store.commit(batch)
    }
}

// ---------------------------------------------------------------------------
// Clusters a test starts itself.
// ---------------------------------------------------------------------------

/// The etcd binary: `ETCD_BIN`, else `etcd` on the PATH.
pub fn etcd_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ETCD_BIN") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One member of a [`Cluster`].
pub struct Member {
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    child: Option<Child>,
}

impl Member {
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// Members started from the etcd binary on loopback ports, with data
/// directories under a temporary directory; killed and removed on drop.
pub struct Cluster {
    binary: PathBuf,
    dir: tempfile::TempDir,
    initial_cluster: String,
    extra_flags: Vec<String>,
    pub members: Vec<Member>,
}

impl Cluster {
    /// Starts `size` members with `extra_flags` and waits (up to 30 s)
    /// until every one answers with a leader. `None` when there is no etcd
    /// binary: the test is then skipped, or fails under
    /// `TALLY_REQUIRE_SERVICES=1`.
    pub fn start(test: &str, size: usize, extra_flags: &[&str]) -> Option<Cluster> {
        let Some(binary) = etcd_binary() else {
            tally_store::testkit::skip(
                test,
                "no etcd binary on the PATH (apt-get install etcd-server, or set ETCD_BIN)",
            );
            return None;
        };
        let dir = tempfile::Builder::new().prefix("tally-etcd-test.").tempdir().unwrap();
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            binary,
            dir,
            initial_cluster,
            extra_flags: extra_flags.iter().map(|flag| (*flag).to_owned()).collect(),
            members,
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster.wait_healthy(&(0..size).collect::<Vec<_>>(), Duration::from_secs(30));
        Some(cluster)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every member's endpoint, `host:port,...`.
    pub fn endpoints(&self) -> String {
        self.members.iter().map(Member::endpoint).collect::<Vec<_>>().join(",")
    }

    fn spawn(&mut self, i: usize) {
        let member = &self.members[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{}.log", member.name)))
            .unwrap();
        let client = format!("http://127.0.0.1:{}", member.client_port);
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let data_dir = self.dir.path().join(&member.name);
        let child = Command::new(&self.binary)
            .arg("--name")
            .arg(&member.name)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args([
                "--initial-cluster",
                &self.initial_cluster,
                "--initial-cluster-state",
                "new",
            ])
            .args(["--initial-cluster-token", "tally-test"])
            .args(&self.extra_flags)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", self.binary.display()));
        self.members[i].child = Some(child);
    }

    /// SIGKILLs member `i` and waits until it is gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            // std's kill is SIGKILL on Unix: no shutdown, no last fsync.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory and waits until it
    /// answers with a leader.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i);
        self.wait_healthy(&[i], Duration::from_secs(30));
    }

    /// Member `i`'s status: (its member id, the leader's id as it sees it).
    pub fn status(&self, i: usize) -> Option<(u64, u64)> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .proxy(None)
            .build()
            .into();
        let url = format!("http://{}/v3/maintenance/status", self.members[i].endpoint());
        let mut response = agent.post(&url).send("{}").ok()?;
        let body: serde_json::Value = serde_json::from_slice(&response.body_mut().read_to_vec().ok()?).ok()?;
        let id = |value: &serde_json::Value| value.as_str().and_then(|text| text.parse::<u64>().ok());
        Some((id(&body["header"]["member_id"])?, id(&body["leader"])?))
    }

    /// The index of the member that leads, as the running members agree.
    pub fn leader(&self) -> Option<usize> {
        let statuses: Vec<(usize, u64, u64)> = (0..self.members.len())
            .filter(|&i| self.members[i].is_running())
            .filter_map(|i| self.status(i).map(|(id, leader)| (i, id, leader)))
            .collect();
        let (_, _, leader) = *statuses.iter().find(|(_, _, leader)| *leader != 0)?;
        statuses.iter().find(|(_, id, _)| *id == leader).map(|(i, _, _)| *i)
    }

    /// Waits until each of `members` reports a leader.
    pub fn wait_healthy(&self, members: &[usize], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        for &i in members {
            while self.status(i).is_none_or(|(_, leader)| leader == 0) {
                if Instant::now() > deadline {
                    let log = std::fs::read_to_string(self.dir.path().join(format!("m{i}.log"))).unwrap_or_default();
                    let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                    panic!("etcd member {i} did not become healthy within {timeout:?}; its log ends:\n{tail}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
