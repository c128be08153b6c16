//! Timings, not assertions: run by hand with
//! `cargo nextest run -p tollgate-store --run-ignored only perf` (add `--no-capture` to see them).
//! They load the shape the analytics must serve (30 days x 1,000 keys x 10 models) and time the
//! writes and the daily query.

use std::time::Instant;

use tollgate_store::*;

use crate::common::*;

/// `days x keys x models` events, one per (day, key, model), each of one user of 100.
fn events(days: i64, keys: i64, models: i64) -> Vec<SpendEvent> {
    let mut out = Vec::new();
    for d in 0..days {
        for k in 0..keys {
            for m in 0..models {
                let n = out.len();
                let mut e = spend_event(&format!("r{n}"), 1e-4, d * DAY);
                e.api_key = format!("key{k:04}");
                e.model = format!("model{m}").into();
                e.user_id = Some(format!("u{}", k % 100));
                e.team_id = None;
                e.organization_id = None;
                e.end_user = None;
                e.tags = vec![];
                out.push(e);
            }
        }
    }
    out
}

async fn load_and_query(ctx: &Ctx, days: i64) {
    let events = events(days, 1000, 10);
    let started = Instant::now();
    for batch in events.chunks(10_000) {
        record(ctx, batch).await;
    }
    let load = started.elapsed();
    let q = DailyQuery {
        start_date: "2025-01-01".into(),
        end_date: "2025-01-31".into(),
        ..daily(EntityType::User)
    };
    let time = |q: DailyQuery| async move {
        let started = Instant::now();
        let n = ctx.store.daily_spend(&q).await.unwrap().len();
        (n, started.elapsed())
    };
    let all_users = [time(q.clone()).await, time(q.clone()).await];
    let per_user = time(DailyQuery {
        group_by_entity: true,
        ..q.clone()
    })
    .await;
    let one_user = time(DailyQuery {
        entity_ids: vec!["u7".into()],
        ..q.clone()
    })
    .await;
    let one_day = time(DailyQuery {
        start_date: "2025-01-30".into(),
        ..q
    })
    .await;
    // What fetching the rows costs without summing them: the floor for any grouping.
    let raw = SqlStore::connect(&ConnectOptions::new(ctx.db.url()))
        .await
        .unwrap();
    let started = Instant::now();
    let rows = sqlx::query("SELECT * FROM daily_spend WHERE entity_type = 'user'")
        .fetch_all(raw.pool())
        .await
        .unwrap();
    let fetch = (rows.len(), started.elapsed());
    println!(
        "{:?}: {} events recorded in {load:?}\n  (rows, time): all users {all_users:?}\n  \
         kept per user {per_user:?}\n  one user {one_user:?}\n  one day {one_day:?}\n  \
         plain fetch of every user row {fetch:?}",
        ctx.store.backend(),
        events.len(),
    );
}

pub async fn daily_query_on_300k_rows(ctx: &Ctx) {
    load_and_query(ctx, 30).await;
}

pub async fn record_10k_events(ctx: &Ctx) {
    let events = events(1, 1000, 10);
    let started = Instant::now();
    record(ctx, &events).await;
    println!(
        "{:?}: 10,000 events in one batch: {:?}",
        ctx.store.backend(),
        started.elapsed()
    );
}
