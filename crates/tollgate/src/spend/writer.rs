//! The spend writer: calls hand their spend events to a channel (never waiting), and one task
//! writes them to the store in batches every `proxy_batch_write_at` seconds, or sooner when a
//! batch fills. A failed write keeps the batch for the next attempt. Shutdown drains the channel
//! and flushes before the process exits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tollgate_store::{SpendEvent, Store};

/// Rows per write.
const MAX_BATCH: usize = 1_000;
/// How long shutdown keeps retrying a failing flush.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(15);

enum Cmd {
    Event(Box<SpendEvent>),
    Flush(oneshot::Sender<bool>),
}

/// Hands spend events to the writer task.
#[derive(Debug, Clone)]
pub struct SpendWriter {
    tx: mpsc::UnboundedSender<Cmd>,
    failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cmd::Event(_) => "Event",
            Cmd::Flush(_) => "Flush",
        })
    }
}

impl SpendWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Arc<dyn Store>, interval: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let failures = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            store,
            failures: failures.clone(),
        };
        tokio::spawn(run(writer, rx, interval.max(Duration::from_millis(10))));
        Self { tx, failures }
    }

    /// Queues an event; never blocks.
    pub fn record(&self, event: SpendEvent) {
        if self.tx.send(Cmd::Event(Box::new(event))).is_err() {
            tracing::error!("spend writer is gone; an event was not recorded");
        }
    }

    /// How many batch writes have failed (and been retried) since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Writes everything queued so far; `true` when it all reached the store.
    pub async fn flush(&self) -> bool {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Cmd::Flush(ack)).is_err() {
            return false;
        }
        done.await.unwrap_or(false)
    }
}

/// The writing side: the store, and a count of failed attempts.
struct Writer {
    store: Arc<dyn Store>,
    failures: Arc<AtomicU64>,
}

async fn run(w: Writer, mut rx: mpsc::UnboundedReceiver<Cmd>, interval: Duration) {
    let mut buffer: Vec<SpendEvent> = Vec::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Event(e)) => {
                    buffer.push(*e);
                    if buffer.len() >= MAX_BATCH {
                        write(&w, &mut buffer).await;
                    }
                }
                Some(Cmd::Flush(ack)) => {
                    let ok = flush_hard(&w, &mut buffer).await;
                    let _ = ack.send(ok);
                }
                None => {
                    flush_hard(&w, &mut buffer).await;
                    return;
                }
            },
            _ = tick.tick() => {
                if !buffer.is_empty() {
                    write(&w, &mut buffer).await;
                }
            }
        }
    }
}

/// One attempt; keeps the batch on failure.
async fn write(w: &Writer, buffer: &mut Vec<SpendEvent>) -> bool {
    let n = buffer.len().min(MAX_BATCH);
    match w.store.record_spend(&buffer[..n]).await {
        Ok(_) => {
            buffer.drain(..n);
            true
        }
        Err(e) => {
            w.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                pending = buffer.len(),
                "spend write failed, will retry: {e}"
            );
            false
        }
    }
}

/// Writes everything, retrying for a while.
async fn flush_hard(w: &Writer, buffer: &mut Vec<SpendEvent>) -> bool {
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
    while !buffer.is_empty() {
        if !write(w, buffer).await {
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
