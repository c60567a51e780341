//! Power-loss testing: a redb [`StorageBackend`] that keeps what a real
//! disk would lose when the power fails.
//!
//! Killing a process does not test durability: the operating system's page
//! cache outlives the process, so every write reaches the file whether or not
//! it was ever synced. [`SimulatedDisk`] models the disk instead. Writes land
//! in a volatile cache (reads see them at once); only `sync_data` makes them
//! durable. A power cut, scheduled at the n-th write, resize or sync, turns
//! the power off in the middle of that operation: from then on every call
//! fails, and [`SimulatedDisk::after_power_cut`] gives the disk as it is
//! found when the power comes back: what was synced, plus whatever of the
//! unsynced writes the chosen [`PowerCut`] lets through, at the granularity
//! of 512-byte sectors ([`SECTOR_BYTES`]).
//!
//! A switch, [`SimulatedDisk::skip_fsync`], makes `sync_data` report
//! success without making anything durable: a store that relies on it for
//! its durability promise must then be caught losing acknowledged commits,
//! which is how a power-loss test shows that it tests anything.
//!
//! ```
//! use tally_store::{Batch, Store};
//! use tally_store_redb::testkit::{PowerCut, SimulatedDisk};
//! use tally_store_redb::{Options, RedbStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let disk = SimulatedDisk::new();
//! let store = RedbStore::open_with_backend(disk.clone(), Options::default())?;
//! let mut batch = Batch::new();
//! batch.put(b"k", b"v".to_vec());
//! store.commit(batch)?; // durable: redb synced the disk
//!
//! disk.cut_power(PowerCut::TearLastWrite, 7);
//! drop(store); // every call fails from here: the machine is off
//!
//! let rebooted = disk.after_power_cut().expect("the power was cut");
//! let store = RedbStore::open_with_backend(rebooted, Options::default())?;
//! assert_eq!(&store.get(b"k")?.expect("acknowledged").value[..], b"v");
//! # Ok(())
//! # }
//! ```
//!
//! Everything is deterministic: the same operations, power-cut point and
//! seed give the same surviving bytes, so a failure found at one seed can be
//! replayed.
//!
//! This module is compiled with the `testkit` feature; it is meant for
//! tests (of this crate, and of hosts and domain crates that want to check
//! their own workloads against power loss on [`RedbStore`](crate::RedbStore)).

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::StorageBackend;

/// The unit a disk writes atomically: a sector either reaches the platter
/// (or flash) whole or not at all.
pub const SECTOR_BYTES: u64 = 512;

/// The largest simulated disk, and the most unsynced data it holds; a write
/// or resize past it fails with [`io::ErrorKind::StorageFull`].
pub const MAX_DISK_BYTES: u64 = 1 << 30;

/// What of the unsynced writes survives a power cut. What was synced always
/// survives (unless [`SimulatedDisk::skip_fsync`] is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PowerCut {
    /// Nothing that was not synced: the disk holds exactly what the last
    /// successful `sync_data` made durable.
    LoseUnsynced,
    /// As [`PowerCut::LoseUnsynced`], but the last write before the cut is
    /// torn: each of its sectors reached the disk or did not, independently
    /// (chosen by the seed).
    TearLastWrite,
    /// A disk cache that writes back in any order: every sector of every
    /// write since the last sync reached the disk or did not, independently,
    /// and so did every unsynced resize. Data written past the surviving end
    /// of the disk is lost with the resize that made room for it.
    ReorderUnsynced,
}

/// A redb storage backend that simulates a disk losing power (see the
/// [module docs](self)).
///
/// Clones are handles to one disk: give one to
/// [`RedbStore::open_with_backend`](crate::RedbStore::open_with_backend) and
/// keep another to schedule the power cut and read what survived.
#[derive(Clone, Default)]
pub struct SimulatedDisk {
    shared: Arc<Mutex<Disk>>,
}

#[derive(Default)]
struct Disk {
    /// What reads see: every write so far.
    current: Vec<u8>,
    /// What survives a power cut for sure: the content at the last sync.
    durable: Vec<u8>,
    /// Changes since the last sync, oldest first.
    unsynced: Vec<Change>,
    unsynced_bytes: u64,
    /// Writes, resizes and syncs so far (including one that failed).
    operations: u64,
    /// Syncs that made something durable.
    syncs: u64,
    /// The largest `current` has been.
    peak_len: u64,
    skip_fsync: bool,
    scheduled: Option<Scheduled>,
    /// `Some` once the power is off: the disk as found afterwards.
    after_cut: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
struct Scheduled {
    at_operation: u64,
    cut: PowerCut,
    seed: u64,
}

enum Change {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

/// What operation is under way when the power may fail.
enum Operation<'a> {
    Write { offset: u64, data: &'a [u8] },
    SetLen(u64),
    Sync,
}

impl fmt::Debug for SimulatedDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let disk = self.lock();
        f.debug_struct("SimulatedDisk")
            .field("len", &disk.current.len())
            .field("durable_len", &disk.durable.len())
            .field("unsynced_changes", &disk.unsynced.len())
            .field("operations", &disk.operations)
            .field("syncs", &disk.syncs)
            .field("skip_fsync", &disk.skip_fsync)
            .field("powered", &disk.after_cut.is_none())
            .finish()
    }
}

impl SimulatedDisk {
    /// An empty disk with the power on.
    pub fn new() -> Self {
        Self::default()
    }

    /// A disk that holds `image`, all of it durable, with the power on.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::StorageFull`] if `image` is larger than
    /// [`MAX_DISK_BYTES`].
    pub fn with_image(image: Vec<u8>) -> Result<Self, io::Error> {
        check_size(image.len() as u64)?;
        Ok(Disk::holding(image))
    }

    /// Makes the power fail during the `at_operation`-th write, resize or
    /// sync of this disk, counted from 1 since it was created (see
    /// [`SimulatedDisk::operations`]); `cut` and `seed` decide what of the
    /// unsynced writes survives. That operation and every later call fail.
    /// A later call replaces an earlier schedule; scheduling an operation
    /// already done has no effect.
    pub fn schedule_power_cut(&self, at_operation: u64, cut: PowerCut, seed: u64) {
        self.lock().scheduled = Some(Scheduled {
            at_operation,
            cut,
            seed,
        });
    }

    /// Cuts the power now, between operations. Does nothing if it is
    /// already off.
    pub fn cut_power(&self, cut: PowerCut, seed: u64) {
        let mut disk = self.lock();
        if disk.after_cut.is_none() {
            disk.power_off(cut, seed, None);
        }
    }

    /// The switch that makes this a disk whose fsync lies: `sync_data`
    /// reports success but makes nothing durable (writes stay as volatile
    /// as before it). Off by default.
    pub fn skip_fsync(&self, skip: bool) {
        self.lock().skip_fsync = skip;
    }

    /// Whether the power is still on.
    pub fn is_powered(&self) -> bool {
        self.lock().after_cut.is_none()
    }

    /// How many writes, resizes and syncs have been asked of this disk,
    /// including one the power failed in: the numbering of
    /// [`SimulatedDisk::schedule_power_cut`].
    pub fn operations(&self) -> u64 {
        self.lock().operations
    }

    /// How many syncs made something durable (none with
    /// [`SimulatedDisk::skip_fsync`] on).
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// The largest this disk has been, in bytes (what reads saw, synced or
    /// not): tells a test whether its workload grew the file.
    pub fn peak_len(&self) -> u64 {
        self.lock().peak_len
    }

    /// After a power cut, the disk as found when the power comes back: a new
    /// disk (its own, not a handle to this one) holding what survived, all
    /// of it durable. `None` while the power is on.
    pub fn after_power_cut(&self) -> Option<SimulatedDisk> {
        let image = self.lock().after_cut.clone()?;
        Some(Disk::holding(image))
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // The disk's state is consistent between statements that hold the
        // lock, so a panic elsewhere leaves nothing half-done.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn check_size(len: u64) -> Result<(), io::Error> {
    if len > MAX_DISK_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("the simulated disk holds at most {MAX_DISK_BYTES} bytes; {len} asked for"),
        ));
    }
    Ok(())
}

/// Resizes `bytes` to `len`, new bytes zero. Growing allocates zeroed memory
/// and copies, which stays fast in unoptimized test builds (where
/// `Vec::resize` writes byte by byte).
fn resize_zeroed(bytes: &mut Vec<u8>, len: usize) {
    if len <= bytes.len() {
        bytes.truncate(len);
        return;
    }
    let mut grown = vec![0; len];
    grown[..bytes.len()].copy_from_slice(bytes);
    *bytes = grown;
}

fn power_is_off() -> io::Error {
    io::Error::other("the simulated disk has no power")
}

fn to_index(value: u64) -> Result<usize, io::Error> {
    usize::try_from(value).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))
}

impl Disk {
    /// A powered disk whose content, all durable, is `image`.
    fn holding(image: Vec<u8>) -> SimulatedDisk {
        let disk = Disk {
            current: image.clone(),
            peak_len: image.len() as u64,
            durable: image,
            ..Disk::default()
        };
        SimulatedDisk {
            shared: Arc::new(Mutex::new(disk)),
        }
    }

    /// Counts the operation and fails it if the power is off or fails now.
    fn begin(&mut self, operation: Operation<'_>) -> Result<(), io::Error> {
        if self.after_cut.is_some() {
            return Err(power_is_off());
        }
        self.operations += 1;
        if let Some(scheduled) = self.scheduled
            && scheduled.at_operation == self.operations
        {
            self.power_off(scheduled.cut, scheduled.seed, Some(operation));
            return Err(power_is_off());
        }
        Ok(())
    }

    /// Computes what survives and turns the power off. `in_flight` is the
    /// operation the power failed in: a write in it may be torn like any
    /// unsynced write; a sync in it did not finish.
    fn power_off(&mut self, cut: PowerCut, seed: u64, in_flight: Option<Operation<'_>>) {
        let mut sectors = Sectors::new(seed);
        let mut image = self.durable.clone();
        let in_flight = match in_flight {
            Some(Operation::Write { offset, data }) => Some(ChangeRef::Write { offset, data }),
            Some(Operation::SetLen(len)) => Some(ChangeRef::SetLen(len)),
            Some(Operation::Sync) | None => None,
        };
        let mut changes = self.unsynced.iter().map(Change::as_ref).chain(in_flight);
        match cut {
            PowerCut::LoseUnsynced => {}
            PowerCut::TearLastWrite => {
                let last_write = changes.rfind(|change| matches!(change, ChangeRef::Write { .. }));
                if let Some(ChangeRef::Write { offset, data }) = last_write {
                    sectors.tear(&mut image, offset, data);
                }
            }
            PowerCut::ReorderUnsynced => {
                for change in changes {
                    match change {
                        ChangeRef::Write { offset, data } => sectors.tear(&mut image, offset, data),
                        ChangeRef::SetLen(len) => {
                            // Bounded by `check_size` when it was asked for.
                            if sectors.lands()
                                && let Ok(len) = usize::try_from(len)
                            {
                                resize_zeroed(&mut image, len);
                            }
                        }
                    }
                }
            }
        }
        self.after_cut = Some(image);
    }

    fn record(&mut self, change: Change) -> Result<(), io::Error> {
        let bytes = match &change {
            Change::Write { data, .. } => data.len() as u64,
            Change::SetLen(_) => 0,
        };
        let unsynced_bytes = self.unsynced_bytes.saturating_add(bytes);
        check_size(unsynced_bytes)?;
        self.unsynced_bytes = unsynced_bytes;
        self.unsynced.push(change);
        Ok(())
    }
}

enum ChangeRef<'a> {
    Write { offset: u64, data: &'a [u8] },
    SetLen(u64),
}

impl Change {
    fn as_ref(&self) -> ChangeRef<'_> {
        match self {
            Change::Write { offset, data } => ChangeRef::Write { offset: *offset, data },
            Change::SetLen(len) => ChangeRef::SetLen(*len),
        }
    }
}

/// Seeded choice of which sectors land (SplitMix64: small, fast, and the
/// same on every platform).
struct Sectors {
    state: u64,
}

impl Sectors {
    fn new(seed: u64) -> Self {
        Sectors { state: seed }
    }

    fn lands(&mut self) -> bool {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) & 1 == 1
    }

    /// Lets each sector of the write land or not. A sector the write covers
    /// only in part lands as that part. Bytes past the end of `image` are
    /// lost: the disk space they were written to did not survive.
    fn tear(&mut self, image: &mut [u8], offset: u64, data: &[u8]) {
        let end = offset.saturating_add(data.len() as u64);
        let mut start = offset;
        while start < end {
            let sector_end = (start / SECTOR_BYTES + 1).saturating_mul(SECTOR_BYTES).min(end);
            if self.lands() {
                let image_len = image.len() as u64;
                let (from, to) = (start.min(image_len), sector_end.min(image_len));
                if from < to
                    && let (Ok(from), Ok(to), Ok(source)) = (to_index(from), to_index(to), to_index(from - offset))
                {
                    image[from..to].copy_from_slice(&data[source..source + (to - from)]);
                }
            }
            start = sector_end;
        }
    }
}

impl StorageBackend for SimulatedDisk {
    fn len(&self) -> Result<u64, io::Error> {
        let disk = self.lock();
        if disk.after_cut.is_some() {
            return Err(power_is_off());
        }
        Ok(disk.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let disk = self.lock();
        if disk.after_cut.is_some() {
            return Err(power_is_off());
        }
        let start = to_index(offset)?;
        let end = start
            .checked_add(out.len())
            .filter(|end| *end <= disk.current.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the simulated disk"))?;
        out.copy_from_slice(&disk.current[start..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut disk = self.lock();
        check_size(len)?;
        disk.begin(Operation::SetLen(len))?;
        disk.record(Change::SetLen(len))?;
        resize_zeroed(&mut disk.current, to_index(len)?);
        disk.peak_len = disk.peak_len.max(len);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut disk = self.lock();
        disk.begin(Operation::Sync)?;
        if disk.skip_fsync {
            return Ok(());
        }
        let unsynced = std::mem::take(&mut disk.unsynced);
        disk.unsynced_bytes = 0;
        for change in unsynced {
            match change {
                Change::SetLen(len) => {
                    let len = to_index(len)?;
                    resize_zeroed(&mut disk.durable, len);
                }
                Change::Write { offset, data } => {
                    let start = to_index(offset)?;
                    let end = start + data.len();
                    if disk.durable.len() < end {
                        resize_zeroed(&mut disk.durable, end);
                    }
                    disk.durable[start..end].copy_from_slice(&data);
                }
            }
        }
        disk.syncs += 1;
        debug_assert_eq!(
            disk.durable.len(),
            disk.current.len(),
            "a sync makes the disk's content durable"
        );
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut disk = self.lock();
        let end = offset.saturating_add(data.len() as u64);
        check_size(end)?;
        disk.begin(Operation::Write { offset, data })?;
        disk.record(Change::Write {
            offset,
            data: data.to_vec(),
        })?;
        let (start, end) = (to_index(offset)?, to_index(end)?);
        if disk.current.len() < end {
            resize_zeroed(&mut disk.current, end);
            disk.peak_len = disk.peak_len.max(end as u64);
        }
        disk.current[start..end].copy_from_slice(data);
        Ok(())
    }
}
