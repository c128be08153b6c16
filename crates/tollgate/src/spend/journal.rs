//! The spend journal: a local, append-only log of spend events, so that spend a replica accepted
//! survives `kill -9` before the batching writer reached the database.
//!
//! Each record is one line of JSON holding a [`SpendEvent`]. One thread owns the files: it takes
//! every append that is queued, writes them, calls `sync_data` once, and only then acknowledges
//! each waiter of that group (group commit). Records go to numbered segment files
//! (`segment-<n>.jsonl`). The writer confirms events once they are in the store; a segment is
//! deleted when it is no longer the active one and every event in it is confirmed. When the
//! active segment becomes fully confirmed, a new one is started and the old one deleted.
//!
//! On start, [`super::replay`] reads the segments left by a previous run and records them
//! (idempotently, by request id) before serving. One directory belongs to one replica: it is
//! locked while the journal runs.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};
use tollgate_store::SpendEvent;

/// The active segment is sealed once it grows past this.
const MAX_SEGMENT_BYTES: u64 = 64 << 20;
/// Appends written in one group at most.
const MAX_GROUP: usize = 4_096;
const LOCK_FILE: &str = "LOCK";

enum Msg {
    Append {
        line: Vec<u8>,
        ack: oneshot::Sender<Option<u64>>,
    },
    Confirm {
        segment: u64,
        count: u64,
    },
}

/// Appends spend events to the journal; cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Msg::Append { .. } => "Append",
            Msg::Confirm { .. } => "Confirm",
        })
    }
}

/// Segments a previous run left behind, and the events they hold.
#[derive(Debug, Default)]
pub struct Backlog {
    pub events: Vec<SpendEvent>,
    pub files: Vec<PathBuf>,
    /// Lines that could not be read (a torn last line after a crash).
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
    /// Locks `dir` (creating it), reads what an earlier run left, and starts a new segment and
    /// the journal thread. The backlog's files are left in place for the caller to replay.
    pub fn open(dir: &Path) -> io::Result<(Self, Backlog)> {
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
        let next = old.last().map_or(0, |(n, _)| n + 1);
        let mut backlog = Backlog::default();
        for (_, path) in old {
            read_segment(&path, &mut backlog)?;
            backlog.files.push(path);
        }
        let mut files = Segments::new(dir.to_path_buf(), next)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("spend-journal".into())
            .spawn(move || {
                let _lock = lock;
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match rx.try_recv() {
                            Ok(m) => group.push(m),
                            Err(_) => break,
                        }
                    }
                    files.handle(group);
                }
            })?;
        Ok((Self { tx }, backlog))
    }

    /// Writes `event` durably; resolves once it is on disk. Returns the segment that holds it,
    /// or `None` when the journal could not write it (logged; the event still goes to the store).
    pub async fn append(&self, event: &SpendEvent) -> Option<u64> {
        let mut line = match serde_json::to_vec(event) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("cannot encode a spend event for the journal: {e}");
                return None;
            }
        };
        line.push(b'\n');
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Append { line, ack }).is_err() {
            tracing::error!("the spend journal is gone; an event was not journaled");
            return None;
        }
        done.await.ok().flatten()
    }

    /// Says that `count` events of `segment` are in the store.
    pub fn confirm(&self, segment: u64, count: u64) {
        let _ = self.tx.send(Msg::Confirm { segment, count });
    }
}

/// The numbered segments in `dir`, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("segment-"))
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            found.push((n, path));
        }
    }
    found.sort();
    Ok(found)
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("segment-{n:016}.jsonl"))
}

/// Reads one segment's records; unreadable lines (a torn tail) are counted and skipped.
fn read_segment(path: &Path, backlog: &mut Backlog) -> io::Result<()> {
    let reader = BufReader::new(File::open(path)?);
    for line in reader.split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<SpendEvent>(&line) {
            Ok(e) => backlog.events.push(e),
            Err(e) => {
                tracing::warn!(file = %path.display(), "skipping an unreadable journal line: {e}");
                backlog.skipped += 1;
            }
        }
    }
    Ok(())
}

/// Counts of one segment's events.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    appended: u64,
    confirmed: u64,
}

/// The journal thread's files.
struct Segments {
    dir: PathBuf,
    active: u64,
    file: File,
    bytes: u64,
    counts: BTreeMap<u64, Counts>,
}

impl Segments {
    fn new(dir: PathBuf, active: u64) -> io::Result<Self> {
        let file = create(&dir, active)?;
        Ok(Self {
            dir,
            active,
            file,
            bytes: 0,
            counts: BTreeMap::from([(active, Counts::default())]),
        })
    }

    fn handle(&mut self, group: Vec<Msg>) {
        let mut acks = Vec::new();
        let mut buf = Vec::new();
        for m in group {
            match m {
                Msg::Append { line, ack } => {
                    buf.extend_from_slice(&line);
                    acks.push(ack);
                }
                Msg::Confirm { segment, count } => {
                    self.counts.entry(segment).or_default().confirmed += count;
                }
            }
        }
        if !acks.is_empty() {
            let at = self.write(&buf, acks.len() as u64);
            for ack in acks {
                let _ = ack.send(at);
            }
        }
        self.collect();
    }

    /// Writes a group and syncs it; the segment it went to, or `None` on failure.
    fn write(&mut self, buf: &[u8], n: u64) -> Option<u64> {
        if self.bytes >= MAX_SEGMENT_BYTES {
            self.rotate();
        }
        let written = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.bytes += buf.len() as u64;
                self.counts.entry(self.active).or_default().appended += n;
                Some(self.active)
            }
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), "spend journal write failed: {e}");
                // The segment may now end in a partial line; later records go to a new one.
                self.rotate();
                None
            }
        }
    }

    /// Starts a new active segment; the old one is sealed.
    fn rotate(&mut self) {
        match create(&self.dir, self.active + 1) {
            Ok(f) => {
                self.active += 1;
                self.file = f;
                self.bytes = 0;
                self.counts.entry(self.active).or_default();
            }
            Err(e) => tracing::error!("cannot start a new spend journal segment: {e}"),
        }
    }

    /// Deletes segments whose events are all in the store.
    fn collect(&mut self) {
        let done = |c: &Counts| c.confirmed >= c.appended;
        if self
            .counts
            .get(&self.active)
            .is_some_and(|c| c.appended > 0 && done(c))
        {
            self.rotate();
        }
        let confirmed: Vec<u64> = self
            .counts
            .iter()
            .filter(|(n, c)| **n != self.active && done(c))
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
#[path = "journal_tests.rs"]
mod tests;
