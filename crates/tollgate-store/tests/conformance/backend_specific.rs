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

/// Daily rows written before SQLite's daily table was rebuilt in date order (migration 5) are
/// all there afterwards, and new spend adds to them rather than beside them.
#[tokio::test]
async fn sqlite_daily_rows_survive_the_rebuild_in_date_order() {
    let db = TestDb::sqlite();
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.url().trim_start_matches("sqlite://"))
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    let mut before = sqlx::migrate!("./migrations/sqlite");
    let kept: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version < 5)
        .cloned()
        .collect();
    before.migrations = kept.into();
    before.run(&pool).await.unwrap();
    for (date, spend) in [("2025-03-01", 1.0), ("2025-02-01", 4.0)] {
        sqlx::query(
            "INSERT INTO daily_spend (entity_type, entity_id, date, api_key, model, model_group, \
             provider, endpoint, spend, api_requests, successful_requests) \
             VALUES ('user', 'u1', ?1, 'tok-k1', 'gpt-4o-2024-08-06', 'gpt-4o', 'openai', \
             '/v1/chat/completions', ?2, 1, 1)",
        )
        .bind(date)
        .bind(spend)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = open(&ConnectOptions::new(db.url())).await.unwrap();
    // 2025-03-01T12:00:00Z (59.5 days after 2025-01-01)
    let event = spend_event("r1", 2.0, 5_140_800_000);
    store.record_spend(&[event]).await.unwrap();
    let rows = store.daily_spend(&daily(EntityType::User)).await.unwrap();
    let mut got: Vec<(String, f64, i64)> = rows
        .iter()
        .map(|r| (r.date.to_string(), r.spend, r.api_requests))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        [
            ("2025-02-01".to_owned(), 4.0, 1),
            ("2025-03-01".to_owned(), 3.0, 2)
        ]
    );
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
