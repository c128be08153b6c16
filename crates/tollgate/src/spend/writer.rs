//! The spend writer: calls put their spend events in an inbox, and one task writes them to the
//! store in batches every `proxy_batch_write_at` seconds, or sooner when a batch fills. Adding an
//! event wakes nobody (the task is woken only by a full batch, the timer or a flush), so the
//! request path pays a short lock and no task switch. A failed write keeps the batch for the
//! next attempt. Shutdown drains the inbox and flushes before the process exits.
//!
//! With a [`Journal`], [`SpendWriter::record`] first waits until the event is durable in the
//! journal; once a batch is in the store, the writer confirms its events to the journal so that
//! their segments can be deleted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tollgate_store::{SpendEvent, Store};

use super::journal::Journal;

/// Rows per write.
const MAX_BATCH: usize = 1_000;
/// How long shutdown keeps retrying a failing flush.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(15);

/// Asks the writer task to write everything recorded so far.
#[derive(Debug)]
struct Flush(oneshot::Sender<bool>);

/// Events waiting for the writer task, each with the journal segment that holds it.
#[derive(Debug, Default)]
struct Inbox {
    pending: std::sync::Mutex<Vec<(SpendEvent, Option<u64>)>>,
    full: tokio::sync::Notify,
}

impl Inbox {
    fn push(&self, event: SpendEvent, segment: Option<u64>) {
        let len = {
            let mut pending = self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            pending.push((event, segment));
            pending.len()
        };
        if len == MAX_BATCH {
            self.full.notify_one();
        }
    }

    /// Moves every pending event into `batch`.
    fn drain_into(&self, batch: &mut Batch) {
        let taken = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (event, segment) in taken {
            batch.events.push(event);
            batch.segments.push(segment);
        }
    }
}

/// Hands spend events to the writer task.
#[derive(Debug, Clone)]
pub struct SpendWriter {
    inbox: Arc<Inbox>,
    /// Flush requests; the task ends when every writer is dropped.
    tx: mpsc::UnboundedSender<Flush>,
    journal: Option<Journal>,
    failures: Arc<AtomicU64>,
}

impl SpendWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, interval: Duration, journal: Option<Journal>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(Inbox::default());
        let failures = Arc::new(AtomicU64::new(0));
        let batch = Batch {
            events: Vec::new(),
            segments: Vec::new(),
            journal: journal.clone(),
            failures: failures.clone(),
        };
        tokio::spawn(run(
            store,
            inbox.clone(),
            rx,
            batch,
            interval.max(Duration::from_millis(10)),
        ));
        Self {
            inbox,
            tx,
            journal,
            failures,
        }
    }

    /// How many batch writes have failed (and been retried) since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Journals the event (waiting until it is durable), then queues it for the store.
    pub async fn record(&self, event: SpendEvent) {
        let segment = match &self.journal {
            Some(j) => j.append(&event).await,
            None => None,
        };
        if self.tx.is_closed() {
            tracing::error!("spend writer is gone; an event was not recorded");
            return;
        }
        self.inbox.push(event, segment);
    }

    /// Writes everything queued so far; `true` when it all reached the store.
    pub async fn flush(&self) -> bool {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Flush(ack)).is_err() {
            return false;
        }
        done.await.unwrap_or(false)
    }
}

/// Events waiting for the store, with the journal segment of each.
struct Batch {
    events: Vec<SpendEvent>,
    segments: Vec<Option<u64>>,
    journal: Option<Journal>,
    /// Failed write attempts, shared with [`SpendWriter::failures`].
    failures: Arc<AtomicU64>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn len(&self) -> usize {
        self.events.len()
    }

    /// Drops the first `n` events, now in the store, and confirms them to the journal.
    fn written(&mut self, n: usize) {
        self.events.drain(..n);
        let mut per_segment = std::collections::BTreeMap::<u64, u64>::new();
        for s in self.segments.drain(..n).flatten() {
            *per_segment.entry(s).or_default() += 1;
        }
        if let Some(j) = &self.journal {
            for (segment, count) in per_segment {
                j.confirm(segment, count);
            }
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    inbox: Arc<Inbox>,
    mut rx: mpsc::UnboundedReceiver<Flush>,
    mut buffer: Batch,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => {
                inbox.drain_into(&mut buffer);
                let ok = flush_hard(&*store, &mut buffer).await;
                match cmd {
                    Some(Flush(ack)) => {
                        let _ = ack.send(ok);
                    }
                    None => return,
                }
            }
            () = inbox.full.notified() => {
                inbox.drain_into(&mut buffer);
                while buffer.len() >= MAX_BATCH && write(&*store, &mut buffer).await {}
            }
            _ = tick.tick() => {
                inbox.drain_into(&mut buffer);
                while !buffer.is_empty() && write(&*store, &mut buffer).await {}
            }
        }
    }
}

/// One attempt; keeps the batch on failure.
async fn write(store: &dyn Store, buffer: &mut Batch) -> bool {
    let n = buffer.len().min(MAX_BATCH);
    match store.record_spend(&buffer.events[..n]).await {
        Ok(_) => {
            buffer.written(n);
            true
        }
        Err(e) => {
            buffer.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                pending = buffer.len(),
                "spend write failed, will retry: {e}"
            );
            false
        }
    }
}

/// Writes everything, retrying for a while.
async fn flush_hard(store: &dyn Store, buffer: &mut Batch) -> bool {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
    while !buffer.is_empty() {
        if !write(store, buffer).await {
            if tokio::time::Instant::now() >= deadline {
                tracing::error!(
                    lost = buffer.len(),
                    "spend could not be written before the deadline"
                );
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    true
}
