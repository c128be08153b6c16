//! The spend journal: a local, append-only log of spend events, so that spend a replica accepted
//! survives `kill -9` before the batching writer reached the database.
//!
//! Each record is one [`SpendEvent`], framed as [`record`] describes. An append writes its
//! record to the active segment file (`segment-<n>.tgj`) of one of the journal's lanes, from the
//! calling task, under that lane's lock: once `append` returns, the record is in the operating
//! system's hands and survives the process being killed. There is a lane per processor, each
//! with its own segments, and an append takes the first lane that is free, so that two threads
//! appending at once write two files instead of one waiting (asleep) for the other's write.
//!
//! A sync thread makes the files durable against power loss with `fdatasync`: with
//! [`Durability::EachCall`] every append waits for the sync that covers it (group commit: one
//! sync acknowledges every record written before it); with [`Durability::Every`] the thread
//! syncs at that interval and appends do not wait, so at most one interval of records can be
//! lost if the machine (not the process) goes down.
//!
//! The writer confirms events once they are in the store; a segment is deleted when it is no
//! longer its lane's active one and every event in it is confirmed. When a lane's active segment
//! is fully confirmed and has grown past [`ROTATE_CONFIRMED_BYTES`], a new one is started and the
//! old one deleted (rotating after every batch cost a file creation and a directory sync each
//! time).
//!
//! On start, [`super::replay`] reads the segments left by a previous run and records them
//! (idempotently, by request id) before serving. One directory belongs to one replica: it is
//! locked while the journal is open.

mod record;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tollgate_store::SpendEvent;

/// The active segment is sealed once it grows past this.
const MAX_SEGMENT_BYTES: u64 = 64 << 20;
/// A fully confirmed active segment is replaced once it has grown past this (in tests, at once).
#[cfg(not(test))]
const ROTATE_CONFIRMED_BYTES: u64 = 8 << 20;
#[cfg(test)]
const ROTATE_CONFIRMED_BYTES: u64 = 1;
const LOCK_FILE: &str = "LOCK";
/// Lanes at most, however many processors there are.
const MAX_LANES: usize = 8;
/// How often an idle sync thread checks that its journal still exists.
const IDLE_CHECK: Duration = Duration::from_millis(200);

/// When journal records are made durable against power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each append waits for the `fdatasync` that covers it.
    EachCall,
    /// A sync at most this often; appends do not wait for it.
    Every(Duration),
}

/// Appends spend events to the journal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    lanes: Vec<Mutex<Segments>>,
    /// Records written since open, counted once each is in its file.
    seq: AtomicU64,
    /// Raised by appends for the sync thread; the condition variable wakes it.
    dirty: AtomicBool,
    wake: (Mutex<()>, Condvar),
    /// The highest record number known to be on disk.
    synced: watch::Sender<u64>,
    durability: Durability,
    _lock: File,
}

/// Segments a previous run left behind, and the events they hold.
#[derive(Debug, Default)]
pub struct Backlog {
    pub events: Vec<SpendEvent>,
    pub files: Vec<PathBuf>,
    /// Records that could not be read (a torn last record after a crash).
    pub skipped: usize,
}

impl Backlog {
    /// Deletes the old segments; call only once every event is in the store.
    pub fn clear(self) -> io::Result<()> {
        for f in &self.files {
            std::fs::remove_file(f)?;
        }
        Ok(())
    }
}

impl Journal {
    /// Locks `dir` (creating it), reads what an earlier run left, and starts the sync thread
    /// (each lane starts its first segment with its first record). The backlog's files are left
    /// in place for the caller to replay.
    pub fn open(dir: &Path, durability: Durability) -> io::Result<(Self, Backlog)> {
        let lanes = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_LANES));
        Self::open_with_lanes(dir, durability, lanes)
    }

    fn open_with_lanes(
        dir: &Path,
        durability: Durability,
        lanes: usize,
    ) -> io::Result<(Self, Backlog)> {
        std::fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        lock.try_lock().map_err(|_| {
            io::Error::other(format!(
                "the spend journal {} is in use by another process; give each replica its own \
                 TOLLGATE_JOURNAL_DIR",
                dir.display()
            ))
        })?;
        let old = segments(dir)?;
        let numbers = Arc::new(AtomicU64::new(old.last().map_or(0, |(n, _)| n + 1)));
        let mut backlog = Backlog::default();
        for (_, path) in old {
            record::read(&path, &mut backlog)?;
            backlog.files.push(path);
        }
        let inner = Arc::new(Inner {
            lanes: (0..lanes.max(1))
                .map(|_| Mutex::new(Segments::new(dir.to_path_buf(), Arc::clone(&numbers))))
                .collect(),
            seq: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            wake: (Mutex::new(()), Condvar::new()),
            synced: watch::Sender::new(0),
            durability,
            _lock: lock,
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("spend-journal-sync".into())
            .spawn(move || sync_loop(&weak))?;
        Ok((Self { inner }, backlog))
    }

    /// Writes `event` to the journal; with [`Durability::EachCall`], resolves once it is on
    /// disk. Returns the segment that holds it, or `None` when the journal could not write it
    /// (logged; the event still goes to the store).
    pub async fn append(&self, event: &SpendEvent) -> Option<u64> {
        let mut bytes = Vec::with_capacity(1024);
        if let Err(e) = record::encode(event, &mut bytes) {
            tracing::error!("cannot encode a spend event for the journal: {e}");
            return None;
        }
        let (segment, seq) = self.inner.lane().write(&bytes, &self.inner.seq)?;
        self.inner.raise();
        if self.inner.durability == Durability::EachCall {
            let mut synced = self.inner.synced.subscribe();
            if synced.wait_for(|s| *s >= seq).await.is_err() {
                return None;
            }
        }
        Some(segment)
    }

    /// Says that `count` events of `segment` are in the store.
    pub fn confirm(&self, segment: u64, count: u64) {
        for lane in &self.inner.lanes {
            let mut files = lock(lane);
            if let Some(c) = files.counts.get_mut(&segment) {
                c.confirmed += count;
                files.collect();
                return;
            }
        }
    }
}

fn lock(lane: &Mutex<Segments>) -> MutexGuard<'_, Segments> {
    lane.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inner {
    /// The first lane nobody holds, or the first lane when all are held.
    fn lane(&self) -> MutexGuard<'_, Segments> {
        for lane in &self.lanes {
            match lane.try_lock() {
                Ok(files) => return files,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        lock(&self.lanes[0])
    }

    /// Raises the flag; only the append that raises it wakes the sync thread (a wake-up is a
    /// system call, too dear for every append).
    fn raise(&self) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            // Notified under the lock, so that the sync thread, which looks at the flag under
            // it, cannot miss the wake-up.
            let _guard = self
                .wake
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.wake.1.notify_one();
        }
    }

    /// Waits until an append raised the flag (or a while passed); `true` when it was raised.
    fn wait_dirty(&self) -> bool {
        let (lock, cv) = &self.wake;
        let guard = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _guard = cv
            .wait_timeout_while(guard, IDLE_CHECK, |()| !self.dirty.load(Ordering::Acquire))
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// Syncs everything written so far and publishes how far that reaches. The count is read
    /// before the files are: a record it counts is in a file synced here, or in a sealed
    /// segment, which its lane synced when it sealed it.
    fn sync(&self) {
        let seq = self.seq.load(Ordering::Acquire);
        let files: Vec<Arc<File>> = self
            .lanes
            .iter()
            .filter_map(|lane| lock(lane).active.as_ref().map(|(_, f)| Arc::clone(f)))
            .collect();
        for file in files {
            if let Err(e) = file.sync_data() {
                // Waiters are released; their records are written, just not known durable.
                tracing::error!("spend journal sync failed: {e}");
            }
        }
        self.synced.send_replace(seq);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        for lane in &self.lanes {
            let mut files = lock(lane);
            if let Some((_, file)) = &files.active {
                if let Err(e) = file.sync_data() {
                    tracing::error!("spend journal sync at close failed: {e}");
                }
            }
            // Everything in the store (a clean shutdown): nothing is left to replay.
            files.delete_confirmed(true);
        }
    }
}

/// The sync thread: runs until the journal is dropped.
fn sync_loop(journal: &Weak<Inner>) {
    loop {
        let Some(inner) = journal.upgrade() else {
            return;
        };
        if inner.wait_dirty() {
            if let Durability::Every(pause) = inner.durability {
                drop(inner);
                std::thread::sleep(pause);
                let Some(inner) = journal.upgrade() else {
                    return;
                };
                inner.sync();
                continue;
            }
            inner.sync();
        }
    }
}

/// The numbered segments in `dir` (either format), oldest first.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("segment-"))
            .and_then(|n| {
                n.strip_suffix(&format!(".{}", record::EXTENSION))
                    .or_else(|| n.strip_suffix(&format!(".{}", record::LEGACY_EXTENSION)))
            })
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            found.push((n, path));
        }
    }
    found.sort();
    Ok(found)
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("segment-{n:016}.{}", record::EXTENSION))
}

/// Counts of one segment's events.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    appended: u64,
    confirmed: u64,
}

/// One lane's files.
#[derive(Debug)]
struct Segments {
    dir: PathBuf,
    /// Numbers for new segments, shared by the lanes.
    numbers: Arc<AtomicU64>,
    /// The active segment's number and file (shared with the sync thread, which syncs it
    /// outside the lock); none until the lane's first record.
    active: Option<(u64, Arc<File>)>,
    bytes: u64,
    counts: BTreeMap<u64, Counts>,
}

impl Segments {
    fn new(dir: PathBuf, numbers: Arc<AtomicU64>) -> Self {
        Self {
            dir,
            numbers,
            active: None,
            bytes: 0,
            counts: BTreeMap::new(),
        }
    }

    fn active_number(&self) -> Option<u64> {
        self.active.as_ref().map(|(n, _)| *n)
    }

    /// Writes one record and counts it in `seq`; the segment it went to and its number, or
    /// `None` on failure.
    fn write(&mut self, record: &[u8], seq: &AtomicU64) -> Option<(u64, u64)> {
        if self.active.is_none() || self.bytes >= MAX_SEGMENT_BYTES {
            self.rotate(true);
        }
        let (n, file) = self.active.as_ref()?;
        let n = *n;
        match (&**file).write_all(record) {
            Ok(()) => {
                self.bytes += record.len() as u64;
                self.counts.entry(n).or_default().appended += 1;
                Some((n, seq.fetch_add(1, Ordering::AcqRel) + 1))
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), "spend journal write failed: {e}");
                // The segment may now end in a partial record; later records go to a new one.
                self.rotate(true);
                None
            }
        }
    }

    /// Starts a new active segment; the old one is sealed, and synced first when it still
    /// holds records the store has not confirmed (the sync thread only syncs active ones).
    fn rotate(&mut self, sync_old: bool) {
        if let (true, Some((_, file))) = (sync_old, &self.active) {
            if let Err(e) = file.sync_data() {
                tracing::error!("spend journal sync of a sealed segment failed: {e}");
            }
        }
        let n = self.numbers.fetch_add(1, Ordering::Relaxed);
        match create(&self.dir, n) {
            Ok(f) => {
                self.active = Some((n, Arc::new(f)));
                self.bytes = 0;
                self.counts.entry(n).or_default();
            }
            Err(e) => tracing::error!("cannot start a new spend journal segment: {e}"),
        }
    }

    /// Deletes segments whose events are all in the store.
    fn collect(&mut self) {
        let done = |c: &Counts| c.confirmed >= c.appended;
        let active_done = self
            .active_number()
            .and_then(|n| self.counts.get(&n))
            .is_some_and(|c| c.appended > 0 && done(c));
        if self.bytes >= ROTATE_CONFIRMED_BYTES && active_done {
            self.rotate(false);
        }
        self.delete_confirmed(false);
    }

    /// Deletes the files of fully confirmed segments; the active one too when `with_active`.
    fn delete_confirmed(&mut self, with_active: bool) {
        let active = self.active_number();
        let confirmed: Vec<u64> = self
            .counts
            .iter()
            .filter(|(n, c)| (with_active || Some(**n) != active) && c.confirmed >= c.appended)
            .map(|(n, _)| *n)
            .collect();
        for n in confirmed {
            match std::fs::remove_file(segment_path(&self.dir, n)) {
                Ok(()) => {
                    self.counts.remove(&n);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.counts.remove(&n);
                }
                Err(e) => tracing::warn!("cannot delete a confirmed journal segment: {e}"),
            }
        }
    }
}

fn create(dir: &Path, n: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(segment_path(dir, n))?;
    // Make the new file's directory entry durable too.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

#[cfg(test)]
mod tests;
