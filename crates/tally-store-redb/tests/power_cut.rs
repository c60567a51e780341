//! Durability across a power cut, not only a killed process.
//!
//! A committing workload runs over `SimulatedDisk`, a backend that keeps
//! every write volatile until `sync_data`. The power fails in the middle of
//! the k-th write, resize or sync, for seeded k, and the store is reopened
//! from what the disk holds afterwards: only what was synced
//! (`PowerCut::LoseUnsynced`), or that plus some 512-byte sectors of the last
//! write (`TearLastWrite`) or of every unsynced write (`ReorderUnsynced`).
//! At every second crash point the power fails once more, while the store
//! recovers from the first cut (redb's repair writes and syncs too). After
//! every cut:
//!
//! - every commit acknowledged under `Durability::Immediate` is there;
//! - no batch is there in part (each batch writes, rewrites and deletes a
//!   set of keys whose exact expected content follows from how many batches
//!   survived);
//! - under `Durability::Buffered`, what survived is a whole prefix of the
//!   batches that reaches at least the last acknowledged `flush`;
//! - the store opens (or, only if the power failed while the store was
//!   first being created, fails with `StoreError::Corrupt`); it never returns
//!   damaged data.
//!
//! A separate test tears redb's header finer than a sector, which the disk
//! model never does, to show that even then a commit slot is not misread.
//!
//! 300 crash points in all (50 for each durability and kind of cut). The
//! same harness on a disk whose fsync is skipped must find acknowledged
//! commits lost: that is what shows it tests durability at all.
//!
//! Deterministic: the workload is single-threaded and redb's I/O order is
//! too, so a crash point (seed, k) replays exactly. Set
//! `TALLY_POWER_CUT_SEED` to explore other seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use tally_store::{Batch, Store, StoreError, scan_all};
use tally_store_redb::testkit::{PowerCut, SimulatedDisk};
use tally_store_redb::{Durability, Options, RedbStore, StorageBackend};

/// Batches per run. Enough that the file grows, pages are freed and reused,
/// and buffered runs flush several times (each batch costs a few
/// milliseconds in an unoptimized build, at every crash point).
const BATCHES: u64 = 12;
const KEYS_PER_BATCH: u64 = 5;
/// Keys every batch rewrites with its own number.
const HOT_KEYS: u64 = 3;
/// Batch `i` deletes the keys of batch `i - RETAINED_BATCHES`.
const RETAINED_BATCHES: u64 = 4;
/// The batch whose blob is large enough to grow the file.
const BIG_BLOB_BATCH: u64 = 6;
const BIG_BLOB_BYTES: usize = 600_000;
/// Buffered runs flush after every this many batches.
const FLUSH_EVERY: u64 = 3;
/// Crash points per (durability, power cut) pair: six pairs, 300 in all.
const CRASH_POINTS: u64 = 50;
/// Crash points per pair on the disk that skips fsync (three pairs).
const SKIPPED_FSYNC_CRASH_POINTS: u64 = 20;
const DEFAULT_SEED: u64 = 0x7A11_9C0F_FEE5_0005;

const NEXT_KEY: &[u8] = b"next";

const LOST_ACKNOWLEDGED: &str = "lost acknowledged commits";
const DOES_NOT_OPEN: &str = "the store does not open after the power cut";

fn base_seed() -> u64 {
    match std::env::var("TALLY_POWER_CUT_SEED") {
        Ok(text) if !text.is_empty() => text.parse().expect("TALLY_POWER_CUT_SEED is a u64"),
        _ => DEFAULT_SEED,
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn batch_key(batch: u64, index: u64) -> Vec<u8> {
    format!("b/{batch:06}/{index}").into_bytes()
}

/// Recognisable and of varied length (100..2100 bytes), so batches span
/// pages and split them differently.
fn batch_value(batch: u64, index: u64) -> Vec<u8> {
    let mut value = format!("batch {batch} key {index};").into_bytes();
    let len = 100 + (mix(batch * 1_000 + index) % 2_000) as usize;
    let fill = b'a' + (batch % 26) as u8;
    value.resize(len, fill);
    value
}

/// Each batch's blob: 0..16 KiB, so values overflow onto runs of pages
/// (one write of many sectors), and one of `BIG_BLOB_BYTES` in batch
/// `BIG_BLOB_BATCH`, so the file grows past redb's initial 1 MiB (and may
/// shrink once that batch is deleted).
fn blob_key(batch: u64) -> Vec<u8> {
    format!("b/{batch:06}/blob").into_bytes()
}

fn blob_value(batch: u64) -> Vec<u8> {
    let len = if batch == BIG_BLOB_BATCH {
        BIG_BLOB_BYTES
    } else {
        (mix(batch ^ 0xB10B) % 16_384) as usize
    };
    let mut value = vec![0; len];
    // A different byte in every run of 64, so a sector from elsewhere shows.
    for (run, bytes) in value.chunks_mut(64).enumerate() {
        bytes.fill((batch as usize * 7 + run) as u8);
    }
    let label = format!("blob of batch {batch};");
    let label_len = label.len().min(len);
    value[..label_len].copy_from_slice(&label.as_bytes()[..label_len]);
    value
}

fn hot_key(index: u64) -> Vec<u8> {
    format!("hot/{index}").into_bytes()
}

fn hot_value(batch: u64, index: u64) -> Vec<u8> {
    let mut value = format!("hot {index} from batch {batch};").into_bytes();
    value.resize(300, b'#');
    value
}

/// Batch `i`: its own keys, every hot key, the deletion of an old batch,
/// and `next = i + 1`, conditional on `next` being where it was read.
fn batch(number: u64, next_version: u64) -> Batch {
    let mut batch = Batch::new();
    batch.expect_version(NEXT_KEY, next_version);
    for index in 0..KEYS_PER_BATCH {
        batch.put(batch_key(number, index), batch_value(number, index));
    }
    batch.put(blob_key(number), blob_value(number));
    for index in 0..HOT_KEYS {
        batch.put(hot_key(index), hot_value(number, index));
    }
    if let Some(old) = number.checked_sub(RETAINED_BATCHES) {
        for index in 0..KEYS_PER_BATCH {
            batch.delete(batch_key(old, index));
        }
        batch.delete(blob_key(old));
    }
    batch.put(NEXT_KEY, (number + 1).to_be_bytes().to_vec());
    batch
}

/// Exactly what the store holds once `survived` batches are in it.
fn expected_content(survived: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut expected = BTreeMap::new();
    if survived == 0 {
        return expected;
    }
    for number in survived.saturating_sub(RETAINED_BATCHES)..survived {
        for index in 0..KEYS_PER_BATCH {
            expected.insert(batch_key(number, index), batch_value(number, index));
        }
        expected.insert(blob_key(number), blob_value(number));
    }
    for index in 0..HOT_KEYS {
        expected.insert(hot_key(index), hot_value(survived - 1, index));
    }
    expected.insert(NEXT_KEY.to_vec(), survived.to_be_bytes().to_vec());
    expected
}

/// What the workload saw acknowledged before the power failed.
#[derive(Debug, Default, Clone, Copy)]
struct Acknowledged {
    /// The store's open returned.
    opened: bool,
    /// Batches whose `commit` was called (the last may have been cut off).
    attempted: u64,
    /// Batches whose `commit` returned `Ok` while the power was on.
    committed: u64,
    /// Batches made durable by an acknowledged `flush` (buffered runs).
    flushed: u64,
}

fn options(durability: Durability) -> Options {
    Options {
        durability,
        ..Options::default()
    }
}

/// Runs the workload on `disk` until it finishes or the power fails.
fn run_workload(disk: &SimulatedDisk, durability: Durability) -> Acknowledged {
    let mut seen = Acknowledged::default();
    let Ok(store) = RedbStore::open_with_backend(disk.clone(), options(durability)) else {
        return seen;
    };
    // An acknowledgement the power failed before is one nobody received.
    seen.opened = disk.is_powered();
    for number in 0..BATCHES {
        if !disk.is_powered() {
            break;
        }
        let next_version = match store.get(NEXT_KEY) {
            Ok(found) => found.map_or(0, |found| found.version),
            Err(_) => break,
        };
        seen.attempted = number + 1;
        if store.commit(batch(number, next_version)).is_err() || !disk.is_powered() {
            break;
        }
        seen.committed = number + 1;
        if durability == Durability::Buffered && (number + 1) % FLUSH_EVERY == 0 {
            if store.flush().is_err() || !disk.is_powered() {
                break;
            }
            seen.flushed = number + 1;
        }
    }
    if durability == Durability::Immediate {
        seen.flushed = seen.committed;
    }
    seen
}

/// How one crash point ended.
#[derive(Debug)]
enum Outcome {
    /// Reopened with `survived` whole batches; `rolled_back` if redb
    /// discarded a torn commit on the way.
    Recovered { survived: u64, rolled_back: bool },
    /// The power failed while the store was first being created, and the
    /// half-made file is refused as corrupt (nothing was acknowledged).
    CreationInterrupted,
    /// A broken promise, described.
    Violation(String),
}

fn check_recovered(store: &RedbStore, seen: Acknowledged) -> Result<u64, String> {
    let survived = match store
        .get(NEXT_KEY)
        .map_err(|error| format!("reading `next`: {error}"))?
    {
        None => 0,
        Some(found) => {
            let bytes: [u8; 8] = found.value[..]
                .try_into()
                .map_err(|_| format!("`next` is not a u64: {:?}", found.value))?;
            u64::from_be_bytes(bytes)
        }
    };
    if survived < seen.flushed {
        return Err(format!(
            "{LOST_ACKNOWLEDGED}: {} batches were durable when acknowledged, {survived} survived",
            seen.flushed
        ));
    }
    if survived > seen.attempted {
        return Err(format!(
            "{survived} batches survived but only {} were attempted",
            seen.attempted
        ));
    }
    let mut found = BTreeMap::new();
    for entry in scan_all(store, b"", 100) {
        let entry = entry.map_err(|error| format!("scanning: {error}"))?;
        found.insert(entry.key, entry.value.to_vec());
    }
    let expected = expected_content(survived);
    if found != expected {
        let wrong: Vec<String> = expected
            .keys()
            .chain(found.keys())
            .filter(|key| expected.get(*key) != found.get(*key))
            .take(5)
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .collect();
        return Err(format!(
            "a batch is there in part: `next` says {survived} batches, but these keys differ: {wrong:?}"
        ));
    }
    Ok(survived)
}

fn reopen(rebooted: SimulatedDisk, seen: Acknowledged) -> Outcome {
    match RedbStore::open_with_backend(rebooted, Options::default()) {
        Ok(store) => match check_recovered(&store, seen) {
            Ok(survived) => Outcome::Recovered {
                survived,
                rolled_back: store.rolled_back_on_open(),
            },
            Err(violation) => Outcome::Violation(violation),
        },
        // redb writes its magic number last when it creates a file, so a
        // file whose creation the power cut short is refused, never misread.
        Err(StoreError::Corrupt { detail, .. }) if !seen.opened && detail.contains("magic number") => {
            Outcome::CreationInterrupted
        }
        Err(error) => Outcome::Violation(format!("{DOES_NOT_OPEN}: {error}")),
    }
}

/// The power fails again while the store recovers from the first cut: the
/// recovery's own writes (redb's repair commits) must be as safe as any
/// commit. Returns the disk as found after the second cut.
fn cut_again_during_recovery(disk: &SimulatedDisk, cut: PowerCut, seed: u64) -> Result<SimulatedDisk, String> {
    // Count the recovery's operations on a copy of the disk.
    let copy = disk.after_power_cut().expect("the power was cut");
    let recovery_operations = {
        let opened = RedbStore::open_with_backend(copy.clone(), Options::default());
        let operations = copy.operations();
        drop(opened);
        operations
    };
    let rebooted = disk.after_power_cut().expect("the power was cut");
    if recovery_operations == 0 {
        return Ok(rebooted);
    }
    rebooted.schedule_power_cut(1 + mix(seed) % recovery_operations, cut, mix(seed ^ 0x5EC0));
    if RedbStore::open_with_backend(rebooted.clone(), Options::default()).is_ok() {
        return Err("the recovery finished although the power failed in it".to_owned());
    }
    rebooted
        .after_power_cut()
        .ok_or_else(|| "the second power cut never happened".to_owned())
}

/// One crash point: run until the power fails at operation `at`, reopen
/// from what survived (if `twice`, with the power failing again during the
/// recovery), check.
fn crash_point(durability: Durability, cut: PowerCut, skip_fsync: bool, at: u64, seed: u64, twice: bool) -> Outcome {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let disk = SimulatedDisk::new();
        disk.skip_fsync(skip_fsync);
        disk.schedule_power_cut(at, cut, seed);
        let seen = run_workload(&disk, durability);
        if disk.is_powered() {
            // The operation count is deterministic: a cut inside the
            // measured run always happens.
            return Outcome::Violation(format!("the power cut at operation {at} never happened"));
        }
        let rebooted = if twice {
            match cut_again_during_recovery(&disk, cut, seed) {
                Ok(rebooted) => rebooted,
                Err(violation) => return Outcome::Violation(violation),
            }
        } else {
            disk.after_power_cut().expect("the power was cut")
        };
        reopen(rebooted, seen)
    }));
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_default();
        Outcome::Violation(format!("panicked: {message}"))
    })
}

/// The tally of one harness run.
#[derive(Debug, Default)]
struct Report {
    crash_points: u64,
    /// Crash points where the power failed a second time, in the recovery.
    cut_twice: u64,
    recovered: u64,
    /// Recovered crash points where redb discarded a torn commit.
    rolled_back: u64,
    creation_interrupted: u64,
    /// Batches that survived, summed over the recovered crash points.
    survived_total: u64,
    /// Violations that are acknowledged commits lost from a store that opens.
    lost_acknowledged: u64,
    /// Violations that are a store that no longer opens (a typed
    /// `StoreError`, never damaged data) after commits were acknowledged.
    does_not_open: u64,
    violations: Vec<String>,
}

/// Measures how many disk operations one full run takes, then cuts the
/// power at `crash_points` seeded points in that range; at every second
/// one, the power fails again while the store recovers.
fn harness(durability: Durability, cut: PowerCut, skip_fsync: bool, crash_points: u64) -> Report {
    let measure = SimulatedDisk::new();
    measure.skip_fsync(skip_fsync);
    let full = run_workload(&measure, durability);
    assert_eq!(
        full.committed, BATCHES,
        "the workload runs to the end with the power on"
    );
    let operations = measure.operations();
    let grown_to = measure.peak_len();
    assert!(
        grown_to >= 2 << 20,
        "the workload grows the file past redb's initial 1 MiB (to {grown_to} bytes), so cuts land in resizes too"
    );
    let seed = base_seed() ^ mix(u64::from(skip_fsync)) ^ mix(cut_code(cut) + 10 * durability_code(durability));
    let label = format!(
        "{durability:?}/{cut:?}{}",
        if skip_fsync { "/fsync skipped" } else { "" }
    );
    let mut report = Report::default();
    for point in 0..crash_points {
        let at = 1 + mix(mix(seed) ^ mix(point)) % operations;
        let cut_seed = mix(mix(seed ^ 0xC07) ^ mix(point));
        let twice = point % 2 == 1;
        report.crash_points += 1;
        report.cut_twice += u64::from(twice);
        match crash_point(durability, cut, skip_fsync, at, cut_seed, twice) {
            Outcome::Recovered { survived, rolled_back } => {
                report.recovered += 1;
                report.rolled_back += u64::from(rolled_back);
                report.survived_total += survived;
            }
            Outcome::CreationInterrupted => report.creation_interrupted += 1,
            Outcome::Violation(violation) => {
                report.lost_acknowledged += u64::from(violation.starts_with(LOST_ACKNOWLEDGED));
                report.does_not_open += u64::from(violation.starts_with(DOES_NOT_OPEN));
                report.violations.push(format!(
                    "{label}: power cut at operation {at} of {operations} (seed {seed:#x}, point {point}{}): {violation}",
                    if twice { ", and again in the recovery" } else { "" }
                ));
            }
        }
    }
    eprintln!(
        "{label}: {} crash points over {operations} operations ({} also cut in the recovery): {} recovered \
         ({} after redb rolled back a torn commit, {} batches survived in all), {} interrupted creations, \
         {} violations ({} losing acknowledged commits, {} not opening)",
        report.crash_points,
        report.cut_twice,
        report.recovered,
        report.rolled_back,
        report.survived_total,
        report.creation_interrupted,
        report.violations.len(),
        report.lost_acknowledged,
        report.does_not_open,
    );
    report
}

fn cut_code(cut: PowerCut) -> u64 {
    match cut {
        PowerCut::LoseUnsynced => 0,
        PowerCut::TearLastWrite => 1,
        _ => 2,
    }
}

fn durability_code(durability: Durability) -> u64 {
    match durability {
        Durability::Immediate => 0,
        _ => 1,
    }
}

fn assert_survives(durability: Durability, cut: PowerCut) -> Report {
    let report = harness(durability, cut, false, CRASH_POINTS);
    assert!(
        report.violations.is_empty(),
        "{} of {} crash points broke a promise; the first ones:\n{}",
        report.violations.len(),
        report.crash_points,
        report.violations.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(report.crash_points, CRASH_POINTS);
    report
}

#[test]
fn immediate_commits_survive_a_power_cut_that_loses_unsynced_writes() {
    assert_survives(Durability::Immediate, PowerCut::LoseUnsynced);
}

#[test]
fn immediate_commits_survive_a_power_cut_that_tears_the_last_write() {
    assert_survives(Durability::Immediate, PowerCut::TearLastWrite);
}

#[test]
fn immediate_commits_survive_a_power_cut_that_lands_unsynced_sectors_in_any_order() {
    let report = assert_survives(Durability::Immediate, PowerCut::ReorderUnsynced);
    assert!(
        report.rolled_back > 0,
        "some cuts land part of a commit, which redb must roll back: {report:?}"
    );
}

#[test]
fn buffered_commits_are_lost_only_whole_and_only_after_the_last_flush_when_unsynced_writes_are_lost() {
    assert_survives(Durability::Buffered, PowerCut::LoseUnsynced);
}

#[test]
fn buffered_commits_are_lost_only_whole_and_only_after_the_last_flush_when_the_last_write_tears() {
    assert_survives(Durability::Buffered, PowerCut::TearLastWrite);
}

#[test]
fn buffered_commits_are_lost_only_whole_and_only_after_the_last_flush_when_sectors_land_in_any_order() {
    let report = assert_survives(Durability::Buffered, PowerCut::ReorderUnsynced);
    assert!(
        report.rolled_back > 0,
        "some cuts land part of a commit, which redb must roll back: {report:?}"
    );
}

/// The harness has teeth: on a disk whose fsync does nothing, acknowledged
/// commits are lost, and the checks say so.
#[test]
fn the_harness_catches_a_store_that_skips_fsync() {
    for (durability, cut) in [
        (Durability::Immediate, PowerCut::LoseUnsynced),
        (Durability::Immediate, PowerCut::ReorderUnsynced),
        (Durability::Buffered, PowerCut::LoseUnsynced),
    ] {
        let report = harness(durability, cut, true, SKIPPED_FSYNC_CRASH_POINTS);
        // Acknowledged commits are gone either way: missing from a store
        // that opens, or with a store that no longer opens at all.
        assert!(
            report.lost_acknowledged + report.does_not_open > 0,
            "{durability:?}/{cut:?} with fsync skipped: no crash point found an acknowledged commit lost: {report:?}"
        );
    }
}

/// The disk's bytes as found after the power is cut once `batches` batches
/// are committed (with the store still open, as a live writer leaves it).
fn image_after(batches: u64) -> Vec<u8> {
    let disk = SimulatedDisk::new();
    let store = RedbStore::open_with_backend(disk.clone(), Options::default()).unwrap();
    for number in 0..batches {
        let next_version = store.get(NEXT_KEY).unwrap().map_or(0, |found| found.version);
        store.commit(batch(number, next_version)).unwrap();
    }
    disk.cut_power(PowerCut::LoseUnsynced, 0);
    drop(store);
    let rebooted = disk.after_power_cut().unwrap();
    let mut image = vec![0; usize::try_from(StorageBackend::len(&rebooted).unwrap()).unwrap()];
    StorageBackend::read(&rebooted, 0, &mut image).unwrap();
    image
}

/// redb's header (magic number, god byte, two 128-byte commit slots) is
/// its first 320 bytes, inside one sector, so a sector-granular tear cannot
/// split it. A disk that tears finer still must not make redb misread it:
/// mixing the header of the commit being written with the one before, in
/// 16-byte pieces, over the file as it was before or after that commit's
/// pages landed, opens one whole commit (either one) or is refused as
/// corrupt.
#[test]
fn a_header_torn_finer_than_a_sector_opens_one_whole_commit_or_is_refused() {
    const HEADER_BYTES: usize = 320;
    const PIECE_BYTES: usize = 16;
    const PIECES: usize = HEADER_BYTES / PIECE_BYTES;
    let before = image_after(3);
    let after = image_after(4);
    assert_ne!(
        before[..HEADER_BYTES],
        after[..HEADER_BYTES],
        "a commit rewrites the header"
    );

    let mut masks: Vec<u32> = Vec::new();
    for split in 0..=PIECES {
        let prefix = (1u32 << split) - 1;
        masks.push(prefix); // the first `split` pieces are new
        masks.push(!prefix & ((1 << PIECES) - 1)); // the last ones are
    }
    masks.extend((0..16).map(|i| (mix(0x4EAD ^ i) as u32) & ((1 << PIECES) - 1)));

    let mut outcomes = BTreeMap::<String, u64>::new();
    for (body, body_name) in [(&after, "after"), (&before, "before")] {
        for &mask in &masks {
            let mut image = body.clone();
            if image.len() < after.len() {
                image.resize(after.len(), 0);
            }
            for piece in 0..PIECES {
                let range = piece * PIECE_BYTES..(piece + 1) * PIECE_BYTES;
                let source = if mask & (1 << piece) != 0 { &after } else { &before };
                image[range.clone()].copy_from_slice(&source[range]);
            }
            let disk = SimulatedDisk::with_image(image).unwrap();
            let outcome = match RedbStore::open_with_backend(disk, Options::default()) {
                Ok(store) => {
                    let seen = Acknowledged {
                        opened: true,
                        attempted: 4,
                        committed: 3,
                        flushed: 3,
                    };
                    match check_recovered(&store, seen) {
                        Ok(survived) => format!(
                            "{survived} batches{}",
                            if store.rolled_back_on_open() {
                                ", rolled back"
                            } else {
                                ""
                            }
                        ),
                        Err(violation) => panic!("pages {body_name}, header mask {mask:#07x}: {violation}"),
                    }
                }
                Err(StoreError::Corrupt { .. }) => "refused as corrupt".to_owned(),
                Err(error) => panic!("pages {body_name}, header mask {mask:#07x}: not a typed outcome: {error:?}"),
            };
            *outcomes.entry(format!("pages {body_name}: {outcome}")).or_default() += 1;
        }
    }
    eprintln!("torn headers: {outcomes:?}");
}

#[test]
fn a_store_closed_cleanly_reopens_without_a_rollback() {
    let disk = SimulatedDisk::new();
    {
        let store = RedbStore::open_with_backend(disk.clone(), Options::default()).unwrap();
        assert!(!store.rolled_back_on_open(), "a new store has nothing to roll back");
        store.commit(batch(0, 0)).unwrap();
    }
    // Closing synced everything, so even a cut that loses unsynced writes
    // loses nothing.
    disk.cut_power(PowerCut::LoseUnsynced, 0);
    let store = RedbStore::open_with_backend(disk.after_power_cut().unwrap(), Options::default()).unwrap();
    assert!(!store.rolled_back_on_open());
    let seen = Acknowledged {
        opened: true,
        attempted: 1,
        committed: 1,
        flushed: 1,
    };
    assert_eq!(check_recovered(&store, seen), Ok(1));
}

#[test]
fn closing_a_buffered_store_makes_its_commits_durable() {
    let disk = SimulatedDisk::new();
    {
        let store = RedbStore::open_with_backend(disk.clone(), options(Durability::Buffered)).unwrap();
        store.commit(batch(0, 0)).unwrap();
        let next_version = store.get(NEXT_KEY).unwrap().unwrap().version;
        store.commit(batch(1, next_version)).unwrap();
        // No flush: dropping the store closes it cleanly.
    }
    disk.cut_power(PowerCut::LoseUnsynced, 0);
    let store = RedbStore::open_with_backend(disk.after_power_cut().unwrap(), Options::default()).unwrap();
    let seen = Acknowledged {
        opened: true,
        attempted: 2,
        committed: 2,
        flushed: 2,
    };
    assert_eq!(check_recovered(&store, seen), Ok(2));
}
