//! What only one backend has: SQLite's WAL mode, PostgreSQL's database creation on start, and
//! an unreachable server.

use std::time::Duration;

use tollgate_store::*;
use tollgate_testkit::TestDb;

use crate::assert_err;
use crate::common::*;

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let db = TestDb::sqlite();
    let store = SqlStore::connect(&ConnectOptions::new(db.url()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
}

/// Replicas starting together on a database that does not exist yet: each creates and migrates
/// it, and every one of them must come up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_racing_opens_on_a_fresh_database_all_succeed() {
    for _ in 0..3 {
        let Some(db) = TestDb::postgres_uncreated().await else {
            return;
        };
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = db.url().to_owned();
                tokio::spawn(async move { open(&ConnectOptions::new(url)).await })
            })
            .collect();
        let mut stores = Vec::new();
        for handle in opens {
            stores.push(handle.await.unwrap().unwrap());
        }
        stores[0].apply(vec![ins(&key("k1"))]).await.unwrap();
        for store in &stores {
            store.ping().await.unwrap();
            assert_eq!(
                store.get::<KeyRecord>(&["k1"]).await.unwrap(),
                Some(key("k1"))
            );
        }
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() {
    let options = ConnectOptions {
        acquire_timeout: Duration::from_millis(500),
        ..ConnectOptions::new("postgres://postgres@127.0.0.1:1/x")
    };
    let result = tokio::time::timeout(Duration::from_secs(20), open(&options))
        .await
        .unwrap();
    assert_err!(result.err().unwrap(), Unavailable);
    let result = tokio::time::timeout(Duration::from_secs(20), SqlStore::connect(&options))
        .await
        .unwrap();
    assert_err!(result.unwrap_err(), Unavailable);
}
