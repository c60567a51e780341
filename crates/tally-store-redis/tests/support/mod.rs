//! A RedisStore under its own unique key prefix, whose keys are deleted
//! when the test ends.

#![allow(
    unreachable_pub,
    dead_code,
    reason = "shared by several test binaries, each using a part"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tally_store::{Batch, Page, Store, StoreError, Versioned};
use tally_store_redis::{RedisOptions, RedisStore};

/// The variable that points the Redis tests at a server.
pub const URL_ENV: &str = "TALLY_REDIS_URL";

/// The server URL, or `None` when it is not set: the test then skips, or
/// fails under `TALLY_REQUIRE_SERVICES=1` (see `tally_store::testkit::skip`).
pub fn url(test: &str) -> Option<String> {
    tally_store::testkit::service_env(URL_ENV, test)
}

/// A plain connection for a test's own commands.
pub fn admin(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// A key prefix no other test or run uses.
pub fn unique_prefix(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!(
        "tally-test/{tag}/{}.{}.{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// How many Redis keys start with the store's `{prefix}:`.
pub fn keys_of(url: &str, prefix: &str) -> usize {
    let mut admin = admin(url);
    let pattern = format!("{{{prefix}}}:*");
    let mut cursor: u64 = 0;
    let mut count = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1_000)
            .query(&mut admin)
            .unwrap();
        count += keys.len();
        if next == 0 {
            return count;
        }
        cursor = next;
    }
}

/// A store under a fresh prefix; its keys are deleted on drop.
pub struct TempRedis {
    store: Option<RedisStore>,
}

impl TempRedis {
    pub fn new(url: &str, tag: &str) -> Self {
        Self::with_options(url, tag, RedisOptions::default())
    }

    /// A store with `options`, under a fresh prefix (`options.prefix` is replaced).
    pub fn with_options(url: &str, tag: &str, options: RedisOptions) -> Self {
        let options = RedisOptions {
            prefix: unique_prefix(tag),
            ..options
        };
        let store = RedisStore::connect_with(url, options)
            .unwrap_or_else(|error| panic!("cannot open a RedisStore at {url}: {error}"));
        TempRedis { store: Some(store) }
    }

    pub fn store(&self) -> &RedisStore {
        self.store.as_ref().unwrap()
    }
}

impl Drop for TempRedis {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let prefix = store.prefix().to_owned();
            if let Err(error) = store.remove_all() {
                eprintln!("could not remove the keys of test prefix {prefix}: {error}");
            }
        }
    }
}

impl Store for TempRedis {
    fn get(&self, key: &[u8]) -> Result<Option<Versioned>, StoreError> {
        self.store().get(key)
    }
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Result<Page, StoreError> {
        self.store().scan(prefix, after, limit)
    }
    fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        self.store().commit(batch)
    }
    fn get_many(&self, keys: &[&[u8]]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.store().get_many(keys)
    }
}

/// A one-key put.
pub fn put(store: &impl Store, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    let mut batch = Batch::new();
    batch.put(key, value.to_vec());
    store.commit(batch)
}

/// A redis-server of the test's own, on a free loopback port, keeping
/// nothing on disk; killed on drop. For tests that change server-wide
/// state (the script cache, memory limits, eviction, restarts), which must
/// not touch the shared server of `TALLY_REDIS_URL`.
pub struct OwnServer {
    child: Option<std::process::Child>,
    port: u16,
    dir: std::path::PathBuf,
}

/// The redis-server binary (`TALLY_REDIS_SERVER`, else `redis-server` on
/// the PATH), or `None` when there is none: the test then skips, or fails
/// under `TALLY_REQUIRE_SERVICES=1`.
pub fn redis_server(test: &str) -> Option<std::path::PathBuf> {
    let binary = std::env::var_os("TALLY_REDIS_SERVER").unwrap_or_else(|| "redis-server".into());
    let found = std::process::Command::new(&binary)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        Some(binary.into())
    } else {
        tally_store::testkit::skip(
            test,
            "no redis-server binary (set TALLY_REDIS_SERVER or put it on the PATH)",
        );
        None
    }
}

impl OwnServer {
    /// Starts a server with `extra` arguments (`["--maxmemory", "1mb"]`).
    pub fn start(binary: &std::path::Path, extra: &[&str]) -> Self {
        let port = free_port();
        Self::start_on(binary, port, extra)
    }

    /// Starts a server on `port` (a restart on the port of one that stopped).
    pub fn start_on(binary: &std::path::Path, port: u16, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(unique_prefix("server").replace('/', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new(binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let server = OwnServer {
            child: Some(child),
            port,
            dir,
        };
        // Bounded wait for the port to answer PING (about 10 s). A server
        // with a password answers NOAUTH: it is up too.
        for _ in 0..200 {
            let answered = redis::Client::open(server.url())
                .and_then(|client| client.get_connection_with_timeout(std::time::Duration::from_millis(200)))
                .is_ok_and(
                    |mut connection| match redis::cmd("PING").query::<String>(&mut connection) {
                        Ok(_) => true,
                        Err(error) => error.code() == Some("NOAUTH"),
                    },
                );
            if answered {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server on port {port} did not answer");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL: nothing is saved, nothing said).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// What the [`Proxy`] does to the next chunk it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cut {
    /// Forward everything.
    Nothing = 0,
    /// Forward the next request to the server, swallow the server's reply
    /// to it, and close the connection: a lost acknowledgement.
    NextReply = 1,
    /// Swallow the next request and close the connection: the server never
    /// sees it.
    NextRequest = 2,
}

/// A TCP proxy on a loopback port in front of a Redis server, which can cut
/// a connection at a chosen point. Its threads stop on drop.
pub struct Proxy {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicU8>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Forwards connections on a fresh loopback port to `upstream` (host:port).
    pub fn start(upstream: &str) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU8};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicU8::new(Cut::Nothing as u8));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let acceptor = {
            let (cut, stop) = (cut.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut pipes = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let server = std::net::TcpStream::connect(&upstream).unwrap();
                            pipes.push(pipe(
                                client.try_clone().unwrap(),
                                server.try_clone().unwrap(),
                                2,
                                &cut,
                                &stop,
                            ));
                            pipes.push(pipe(server, client, 1, &cut, &stop));
                        }
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        Err(error) => panic!("proxy accept failed: {error}"),
                    }
                }
                for handle in pipes {
                    let _ = handle.join();
                }
            })
        };
        Proxy {
            port,
            cut,
            stop,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Arms a cut for the next chunk in its direction.
    pub fn cut(&self, cut: Cut) {
        self.cut.store(cut as u8, Ordering::SeqCst);
    }

    /// True once an armed cut has happened.
    pub fn cut_done(&self) -> bool {
        self.cut.load(Ordering::SeqCst) == Cut::Nothing as u8
    }
}

/// Copies `from` to `to` until either closes or the proxy stops; when the
/// armed cut is `armed_by` (1: replies, 2: requests), swallows one chunk
/// and closes both sockets instead.
fn pipe(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    armed_by: u8,
    cut: &std::sync::Arc<std::sync::atomic::AtomicU8>,
    stop: &std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    let (cut, stop) = (cut.clone(), stop.clone());
    std::thread::spawn(move || {
        from.set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .unwrap();
        let mut buffer = vec![0u8; 64 * 1024];
        while !stop.load(Ordering::Relaxed) {
            match from.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    if cut
                        .compare_exchange(armed_by, Cut::Nothing as u8, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        // The chunk lands nowhere; both sides are hung up on.
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        let _ = from.shutdown(std::net::Shutdown::Both);
        let _ = to.shutdown(std::net::Shutdown::Both);
    })
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
