//! Crash recovery: before a replica serves, the spend its journal holds from an earlier run is
//! recorded in the store (idempotently, by request id), and only then are the old segments
//! deleted.

use std::path::Path;

use anyhow::Context as _;
use tollgate_store::Store;

use super::journal::{Durability, Journal};

/// Events per store write during replay.
const BATCH: usize = 1_000;

/// Opens the journal in `dir`, replays what it holds into `store`, and returns it running.
pub async fn recover(
    dir: &Path,
    durability: Durability,
    store: &dyn Store,
) -> anyhow::Result<Journal> {
    let (journal, backlog) = Journal::open(dir, durability)
        .with_context(|| format!("could not open the spend journal {}", dir.display()))?;
    if backlog.skipped > 0 {
        tracing::warn!(
            skipped = backlog.skipped,
            "the spend journal had unreadable lines (a write cut short by a crash)"
        );
    }
    let (mut inserted, mut duplicates) = (0, 0);
    for chunk in backlog.events.chunks(BATCH) {
        let done = store
            .record_spend(chunk)
            .await
            .context("could not replay the spend journal into the database")?;
        inserted += done.inserted;
        duplicates += done.duplicates;
    }
    if !backlog.files.is_empty() {
        tracing::info!(
            inserted,
            duplicates,
            files = backlog.files.len(),
            "replayed the spend journal"
        );
    }
    backlog
        .clear()
        .context("could not delete replayed spend journal segments")?;
    Ok(journal)
}
