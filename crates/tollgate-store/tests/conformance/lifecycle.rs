//! Opening, migrating, pinging.

use std::time::Duration;

use tollgate_store::*;

use crate::assert_err;
use crate::common::*;

pub async fn ping_works(ctx: &Ctx) {
    ctx.store.ping().await.unwrap();
    let expected = if ctx.db.is_postgres() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    assert_eq!(ctx.store.backend(), expected);
}

pub async fn migrations_are_idempotent(ctx: &Ctx) {
    ctx.ok(vec![ins(&key("k1"))]).await;
    // Opening again finds every migration applied, and the data still there.
    let again = open_url(ctx.db.url()).await;
    assert_eq!(
        again.get::<KeyRecord>(&["k1"]).await.unwrap(),
        Some(key("k1"))
    );
    let third = SqlStore::connect(&ConnectOptions::new(ctx.db.url()))
        .await
        .unwrap();
    third.migrate().await.unwrap();
    third.migrate().await.unwrap();
    // Both handles write to the same tables.
    again.apply(vec![ins(&team("t1"))]).await.unwrap();
    assert_eq!(ctx.get::<TeamRecord>(&["t1"]).await, Some(team("t1")));
}

pub async fn exhausted_pool_is_unavailable(ctx: &Ctx) {
    let options = ConnectOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(300),
        ..ConnectOptions::new(ctx.db.url())
    };
    let store = SqlStore::connect(&options).await.unwrap();
    let held = store.pool().acquire().await.unwrap();
    assert_err!(store.ping().await.unwrap_err(), Unavailable);
    assert_err!(store.apply(vec![]).await.unwrap_err(), Unavailable);
    drop(held);
    store.ping().await.unwrap();
}
