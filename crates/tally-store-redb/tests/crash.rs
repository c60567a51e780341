//! Crash safety: a writer process is killed with SIGKILL at random moments;
//! every batch it saw acknowledged must be fully on disk, and no batch may be
//! there in part.
//!
//! The writer is this same test binary, re-executed to run the ignored test
//! `crash_writer_child` (so no extra binary is needed).
//!
//! A killed process loses nothing the operating system already accepted, so
//! this does not test fsync; `power_cut.rs` does, on a simulated disk.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tally_store::{Batch, Store, scan_all};
use tally_store_redb::{Durability, Options, RedbStore};

const CHILD_PATH_ENV: &str = "TALLY_REDB_CRASH_CHILD_PATH";
const CHILD_BUFFERED_ENV: &str = "TALLY_REDB_CRASH_CHILD_BUFFERED";
const KEYS_PER_BATCH: u64 = 8;
const NEXT_KEY: &[u8] = b"next";
const ROUNDS: u64 = 6;
/// In buffered mode the writer calls `flush` after every this many batches.
const FLUSH_EVERY: u64 = 25;

fn batch_key(batch: u64, index: u64) -> Vec<u8> {
    format!("b/{batch:010}/{index}").into_bytes()
}

fn batch_value(batch: u64, index: u64) -> Vec<u8> {
    // Large enough that one batch spans several pages' worth of writes.
    let mut value = format!("batch {batch} key {index} ").into_bytes();
    value.resize(512, b'.');
    value
}

fn read_next(store: &RedbStore) -> (u64, u64) {
    match store.get(NEXT_KEY).unwrap() {
        None => (0, 0),
        Some(found) => {
            let bytes: [u8; 8] = found.value[..].try_into().expect("`next` holds a u64");
            (u64::from_be_bytes(bytes), found.version)
        }
    }
}

/// The writer: commits numbered batches as fast as it can, printing
/// `ack N` after each commit returns. It never stops by itself.
#[test]
#[ignore = "the writer half of `acknowledged_batches_survive_sigkill`, which runs it in a child process"]
fn crash_writer_child() {
    let path = std::env::var(CHILD_PATH_ENV).expect("run by acknowledged_batches_survive_sigkill only");
    let durability = if std::env::var(CHILD_BUFFERED_ENV).is_ok_and(|value| value == "1") {
        Durability::Buffered
    } else {
        Durability::Immediate
    };
    let store = RedbStore::open_with(
        path,
        Options {
            durability,
            ..Options::default()
        },
    )
    .unwrap();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready").unwrap();
    stdout.flush().unwrap();
    loop {
        let (next, version) = read_next(&store);
        let mut batch = Batch::new();
        batch.expect_version(NEXT_KEY, version);
        for index in 0..KEYS_PER_BATCH {
            batch.put(batch_key(next, index), batch_value(next, index));
        }
        batch.put(NEXT_KEY, (next + 1).to_be_bytes().to_vec());
        store.commit(batch).unwrap();
        if durability == Durability::Buffered && (next + 1) % FLUSH_EVERY == 0 {
            store.flush().unwrap();
        }
        writeln!(stdout, "ack {next}").unwrap();
        stdout.flush().unwrap();
    }
}

/// Checks the file after a crash: batches `0..next` complete, nothing else.
/// With `durable_acks`, every acknowledged batch must be among them.
fn verify(store: &RedbStore, acknowledged_max: Option<u64>, durable_acks: bool) -> u64 {
    let (next, _) = read_next(store);
    if let Some(max) = acknowledged_max {
        assert!(
            !durable_acks || next > max,
            "batch {max} was acknowledged but the file only holds batches below {next}"
        );
        let flushed = (max + 1) / FLUSH_EVERY * FLUSH_EVERY;
        assert!(
            next >= flushed,
            "batches up to {flushed} were flushed (or durable) but the file only holds batches below {next}"
        );
        assert!(
            next <= max + 2,
            "the file holds batch {} though only batches up to {max} were acknowledged and one can be in flight",
            next - 1
        );
    }
    let mut seen: BTreeMap<u64, u64> = BTreeMap::new();
    for entry in scan_all(store, b"b/", 1_000) {
        let entry = entry.unwrap();
        let text = String::from_utf8(entry.key.clone()).unwrap();
        let mut parts = text.split('/').skip(1);
        let batch: u64 = parts.next().unwrap().parse().unwrap();
        let index: u64 = parts.next().unwrap().parse().unwrap();
        assert!(batch < next, "batch {batch} is partly present but `next` says {next}");
        assert_eq!(entry.value[..], batch_value(batch, index)[..], "wrong value at {text}");
        *seen.entry(batch).or_default() += 1;
    }
    for batch in 0..next {
        assert_eq!(
            seen.get(&batch).copied().unwrap_or(0),
            KEYS_PER_BATCH,
            "batch {batch} is not complete"
        );
    }
    next
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    kill_writer_repeatedly(Durability::Immediate);
}

/// Buffered commits may be lost in a crash, but only whole ones, and none
/// before the last `flush`: what is on disk is a complete prefix of the
/// batches that reaches at least the last flush.
#[test]
fn buffered_batches_are_lost_whole_or_kept_whole() {
    kill_writer_repeatedly(Durability::Buffered);
}

fn kill_writer_repeatedly(durability: Durability) {
    let durable_acks = durability == Durability::Immediate;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let exe = std::env::current_exe().unwrap();
    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut committed_before = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_PATH_ENV, &path)
            .env(CHILD_BUFFERED_ENV, if durable_acks { "" } else { "1" })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(number) = line.strip_prefix("ack ") {
                    let _ = sender.send(number.parse().unwrap());
                }
            }
        });

        // Kill after a random number of acknowledgements (at least 5) plus a
        // random delay of up to 20 ms, so the kill lands anywhere in a commit.
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let acks_before_kill = 5 + (seed >> 33) % 200;
        let delay = Duration::from_micros((seed >> 17) % 20_000);
        let mut acked = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while (acked.len() as u64) < acks_before_kill {
            match receiver.recv_timeout(Duration::from_secs(60)) {
                Ok(number) => acked.push(number),
                Err(error) => panic!("round {round}: the writer stopped acknowledging: {error}"),
            }
            assert!(Instant::now() < deadline, "round {round}: the writer is too slow");
        }
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        assert!(!status.success(), "the writer must die by the signal");
        reader.join().unwrap();
        acked.extend(receiver.try_iter());

        let acknowledged_max = acked.iter().copied().max();
        assert!(acked.windows(2).all(|pair| pair[1] == pair[0] + 1));
        assert_eq!(
            acked.first().copied(),
            Some(committed_before),
            "round {round} resumed at the wrong batch"
        );

        let store = RedbStore::open(&path).unwrap();
        let next = verify(&store, acknowledged_max, durable_acks);
        eprintln!(
            "round {round}: killed after {} acknowledgements (+{delay:?}); batches on disk: {next}",
            acked.len()
        );
        committed_before = next;
    }
}
