//! Tests of the spend journal: round trip, torn tails, group commit, rotation, and its cost.

use std::time::{Duration, Instant};

use chrono::Utc;

use super::*;

pub(super) fn event(id: &str) -> SpendEvent {
    SpendEvent {
        request_id: id.to_owned(),
        call_type: "chat_completion".into(),
        api_key: "abc".into(),
        key_id: None,
        key_alias: None,
        user_id: None,
        team_id: Some("t".into()),
        organization_id: None,
        end_user: None,
        tags: vec![],
        model: "m".into(),
        model_id: None,
        model_group: "m".into(),
        provider: "mock".into(),
        api_base: None,
        endpoint: "/v1/chat/completions".into(),
        success: true,
        spend: 0.125,
        prompt_tokens: 3,
        completion_tokens: 4,
        cache_read_input_tokens: 0,
        cache_creation_input_tokens: 0,
        start_time: Utc::now(),
        end_time: Utc::now(),
        completion_start_time: None,
        metadata: Default::default(),
    }
}

/// Opens `dir`, waiting for an earlier journal's thread to let go of the lock.
fn reopen(dir: &Path) -> (Journal, Backlog) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match Journal::open(dir, Durability::EachCall) {
            Ok(j) => return j,
            Err(e) if Instant::now() > deadline => panic!("reopen: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The request ids of a backlog's events, in order.
fn ids(backlog: &Backlog) -> Vec<&str> {
    backlog
        .events
        .iter()
        .map(|e| e.request_id.as_str())
        .collect()
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test]
async fn appended_events_are_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (j, backlog) = Journal::open(dir.path(), Durability::EachCall).unwrap();
    assert!(backlog.events.is_empty());
    for id in ["a", "b", "c"] {
        assert_eq!(j.append(&event(id)).await, Some(0));
    }
    drop(j);
    let (_j, backlog) = reopen(dir.path());
    let ids = ids(&backlog);
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(backlog.events[0], {
        let mut e = event("a");
        e.start_time = backlog.events[0].start_time;
        e.end_time = backlog.events[0].end_time;
        e
    });
    assert_eq!(backlog.skipped, 0);
    let files = backlog.files.clone();
    backlog.clear().unwrap();
    assert!(files.iter().all(|f| !f.exists()));
}

/// The records in a segment file.
fn records(dir: &Path, n: u64) -> Vec<SpendEvent> {
    let mut backlog = Backlog::default();
    record::read(&segment_path(dir, n), &mut backlog).unwrap();
    backlog.events
}

#[tokio::test]
async fn a_torn_last_record_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    record::encode(&event("whole"), &mut bytes).unwrap();
    let mut torn = Vec::new();
    record::encode(&event("torn"), &mut torn).unwrap();
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(segment_path(dir.path(), 7), bytes).unwrap();
    let (j, backlog) = Journal::open(dir.path(), Durability::EachCall).unwrap();
    assert_eq!(backlog.events.len(), 1);
    assert_eq!(backlog.events[0].request_id, "whole");
    assert_eq!(backlog.skipped, 1);
    // New records go to a later segment than the old ones.
    assert_eq!(j.append(&event("new")).await, Some(8));
}

#[tokio::test]
async fn segments_of_an_earlier_version_are_replayed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = serde_json::to_string(&event("json")).unwrap();
    text.push_str("\n{\"torn");
    std::fs::write(dir.path().join("segment-0000000000000003.jsonl"), text).unwrap();
    let mut bytes = Vec::new();
    record::encode(&event("binary"), &mut bytes).unwrap();
    std::fs::write(segment_path(dir.path(), 4), bytes).unwrap();
    let (j, backlog) = Journal::open(dir.path(), Durability::EachCall).unwrap();
    let ids = ids(&backlog);
    assert_eq!(ids, ["json", "binary"]);
    assert_eq!(backlog.skipped, 1);
    assert_eq!(j.append(&event("new")).await, Some(5));
}

#[tokio::test]
async fn group_commit_acknowledges_every_waiter() {
    let dir = tempfile::tempdir().unwrap();
    // One lane: with several, an append finding the first lane held (by the sync thread taking
    // its active file) goes to the next lane's own segment, and the records are not all in one.
    let (j, _) = Journal::open_with_lanes(dir.path(), Durability::EachCall, 1).unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let j = j.clone();
            tokio::spawn(async move { j.append(&event(&format!("e{i}"))).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Some(0));
    }
    assert_eq!(records(dir.path(), 0).len(), 64);
}

#[tokio::test]
async fn a_segment_is_deleted_only_when_all_its_events_are_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open(dir.path(), Durability::EachCall).unwrap();
    let first = segment_path(dir.path(), 0);
    assert_eq!(j.append(&event("a")).await, Some(0));
    assert_eq!(j.append(&event("b")).await, Some(0));
    j.confirm(0, 1);
    assert_eq!(j.append(&event("c")).await, Some(0));
    assert!(first.exists(), "deleted with two events unconfirmed");
    j.confirm(0, 2);
    wait_until("the confirmed segment is deleted", || !first.exists());
    assert!(segment_path(dir.path(), 1).exists());
    assert_eq!(j.append(&event("d")).await, Some(1));
    drop(j);
    let (_j, backlog) = reopen(dir.path());
    let ids = ids(&backlog);
    assert_eq!(ids, ["d"]);
}

// A lane is held across an append on purpose; with an hour's sync interval the append does not
// wait for anything.
#[expect(clippy::await_holding_lock, reason = "the held lane is what is tested")]
#[tokio::test]
async fn an_append_takes_a_free_lane_and_every_lane_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    // Appends here do not wait for a sync: the sync thread takes each lane's lock in turn.
    let hour = Durability::Every(Duration::from_secs(3600));
    let (j, _) = Journal::open_with_lanes(dir.path(), hour, 2).unwrap();
    assert_eq!(
        j.append(&event("a")).await,
        Some(0),
        "the first lane, when free"
    );
    let second = {
        let _held = j.inner.lanes[0].lock().unwrap();
        j.append(&event("b")).await
    };
    assert_eq!(
        second,
        Some(1),
        "the first lane is held: the second one starts a segment"
    );
    j.inner.sync();
    assert_eq!(*j.inner.synced.borrow(), 2, "a sync covers both lanes");
    assert_eq!(j.append(&event("c")).await, Some(0));
    j.confirm(1, 1);
    wait_until("the second lane's confirmed segment is deleted", || {
        !segment_path(dir.path(), 1).exists()
    });
    // A lane's active segment, once confirmed, makes way for a new one (numbered after all
    // the lanes' segments) and is deleted.
    j.confirm(0, 2);
    wait_until("the first lane's confirmed segment is deleted", || {
        !segment_path(dir.path(), 0).exists()
    });
    let held = j.inner.lanes[0].lock().unwrap();
    assert_eq!(
        j.append(&event("d")).await,
        Some(2),
        "the second lane's new segment"
    );
    drop(held);
    drop(j);
    let (_j, backlog) = reopen(dir.path());
    let ids = ids(&backlog);
    assert_eq!(ids, ["d"]);
}

#[tokio::test]
async fn with_an_interval_a_record_is_in_the_file_when_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open(dir.path(), Durability::Every(Duration::from_secs(3600))).unwrap();
    for id in ["a", "b"] {
        assert_eq!(j.append(&event(id)).await, Some(0));
    }
    // No sync has run (the interval is an hour), yet the records are written: a killed process
    // leaves them to the next start.
    let ids: Vec<String> = records(dir.path(), 0)
        .into_iter()
        .map(|e| e.request_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

#[tokio::test]
async fn each_call_durability_waits_for_a_sync_that_covers_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open(dir.path(), Durability::EachCall).unwrap();
    assert_eq!(j.append(&event("a")).await, Some(0));
    assert!(*j.inner.synced.borrow() >= 1);
    assert_eq!(j.append(&event("b")).await, Some(0));
    assert!(*j.inner.synced.borrow() >= 2);
}

#[tokio::test]
async fn a_clean_close_leaves_nothing_to_replay_but_unconfirmed_events() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open(dir.path(), Durability::EachCall).unwrap();
    assert_eq!(j.append(&event("a")).await, Some(0));
    j.confirm(0, 1);
    let active = j.append(&event("b")).await.unwrap();
    drop(j);
    let (j, backlog) = reopen(dir.path());
    let ids = ids(&backlog);
    assert_eq!(
        ids,
        ["b"],
        "the unconfirmed event stays, the confirmed ones go"
    );
    backlog.clear().unwrap();
    let next = j.append(&event("c")).await.unwrap();
    j.confirm(next, 1);
    drop(j);
    let (_j, backlog) = reopen(dir.path());
    assert!(
        backlog.events.is_empty() && backlog.files.is_empty(),
        "{active} {backlog:?}"
    );
}

#[test]
fn a_second_process_cannot_share_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let _j = Journal::open(dir.path(), Durability::EachCall).unwrap();
    let err = Journal::open(dir.path(), Durability::EachCall).unwrap_err();
    assert!(err.to_string().contains("TOLLGATE_JOURNAL_DIR"), "{err}");
}

/// Appends per second and median acknowledgement latency; run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn journal_cost() {
    for (appenders, durability) in [
        (1usize, Durability::EachCall),
        (32, Durability::EachCall),
        (1, Durability::Every(Duration::from_millis(50))),
        (32, Durability::Every(Duration::from_millis(50))),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(dir.path(), durability).unwrap();
        let per_task = 4_000 / appenders;
        let started = Instant::now();
        let tasks: Vec<_> = (0..appenders)
            .map(|t| {
                let j = j.clone();
                tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per_task);
                    for i in 0..per_task {
                        let e = event(&format!("{t}-{i}"));
                        let at = Instant::now();
                        assert!(j.append(&e).await.is_some());
                        lat.push(at.elapsed());
                    }
                    lat
                })
            })
            .collect();
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let total = started.elapsed();
        lat.sort();
        eprintln!(
            "journal {durability:?}: {appenders} appenders: {:.0} appends/s, p50 ack {:?}, p99 ack {:?}",
            lat.len() as f64 / total.as_secs_f64(),
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100],
        );
    }
}
