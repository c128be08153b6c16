//! Changes made on one replica hold on the others within a second (PostgreSQL LISTEN/NOTIFY),
//! though their caches still hold the old values.

use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_testkit::TestDb;

use crate::common::{Gateway, MASTER};

/// Polls until `check` is true; returns how long it took.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

#[tokio::test]
async fn blocks_deletes_and_regenerations_reach_other_replicas() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let a = Gateway::start(&db).await;
    let b = Gateway::start(&db).await;
    let key = a.key(json!({"key_alias": "shared"})).await;
    // B caches the key.
    assert_eq!(b.get_as(&key, "/key/info").await.0, 200);
    a.post("/key/block", json!({"key": key})).await;
    let took = within(Duration::from_secs(1), async || {
        b.get_as(&key, "/key/info").await.0 == 401
    })
    .await;
    assert!(took.is_some(), "replica B still accepts a key blocked on A");
    a.post("/key/unblock", json!({"key": key})).await;
    let took = within(Duration::from_secs(1), async || {
        b.get_as(&key, "/key/info").await.0 == 200
    })
    .await;
    assert!(
        took.is_some(),
        "replica B still refuses a key unblocked on A"
    );
    // Regeneration: the old value stops working on B too.
    let new = a.post("/key/regenerate", json!({"key": key})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let took = within(Duration::from_secs(1), async || {
        b.get_as(&key, "/key/info").await.0 == 401
    })
    .await;
    assert!(
        took.is_some(),
        "replica B still accepts a regenerated key's old value"
    );
    assert_eq!(b.get_as(&new, "/key/info").await.0, 200);
    // Deletion.
    a.post("/key/delete", json!({"keys": [new]})).await;
    let took = within(Duration::from_secs(1), async || {
        b.get_as(&new, "/key/info").await.0 == 401
    })
    .await;
    assert!(took.is_some(), "replica B still accepts a key deleted on A");
    // Team changes: blocking a team on B blocks its keys on A.
    a.post("/team/new", json!({"team_id": "pt"})).await;
    let tk = a.key(json!({"team_id": "pt"})).await;
    assert_eq!(a.get_as(&tk, "/key/info").await.0, 200);
    b.post("/team/block", json!({"team_id": "pt"})).await;
    let took = within(Duration::from_secs(1), async || {
        a.get_as(&tk, "/key/info").await.0 == 401
    })
    .await;
    assert!(
        took.is_some(),
        "replica A still accepts a key of a team blocked on B"
    );
    let _ = MASTER;
    a.stop().await;
    b.stop().await;
}
