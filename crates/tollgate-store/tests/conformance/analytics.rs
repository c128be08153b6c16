//! Daily aggregates: rows per entity kind, grouping and filters, normalised key columns, and a
//! bulk load of the daily table.

use tollgate_store::*;

use crate::common::*;

/// r1, r2, r5 on 2025-01-01; r3 (failed) and r4 on 2025-01-02.
async fn activity(ctx: &Ctx) {
    let mut failed = ev("r3", 0.0, 1, "u1", "gpt", "tok-k1");
    failed.success = false;
    record(
        ctx,
        &[
            ev("r1", 1.0, 0, "u1", "gpt", "tok-k1"),
            ev("r2", 2.0, 0, "u2", "claude", "tok-k1"),
            failed,
            ev("r4", 0.5, 1, "u1", "gpt", "tok-k2"),
            ev("r5", 0.25, 0, "u2", "gpt", "tok-k1"),
        ],
    )
    .await;
}

fn summary(rows: &[DailyRow]) -> Vec<(String, Option<String>, String, String, f64, i64)> {
    rows.iter()
        .map(|r| {
            (
                r.date.to_string(),
                r.entity_id.as_deref().map(str::to_owned),
                r.api_key.to_string(),
                r.model.to_string(),
                r.spend,
                r.api_requests,
            )
        })
        .collect()
}

fn row(
    d: &str,
    id: Option<&str>,
    k: &str,
    m: &str,
    s: f64,
    n: i64,
) -> (String, Option<String>, String, String, f64, i64) {
    (d.into(), id.map(Into::into), k.into(), m.into(), s, n)
}

pub async fn daily_rows_per_entity_kind(ctx: &Ctx) {
    activity(ctx).await;
    // As stored: one row per user, without its id; the reader sums them.
    let stored = ctx
        .store
        .daily_spend(&daily(EntityType::User))
        .await
        .unwrap();
    assert_eq!(stored.len(), 5);
    assert!(stored.iter().all(|r| r.entity_id.is_none()));
    let collapsed = daily_rows(ctx, daily(EntityType::User)).await;
    assert_eq!(
        summary(&collapsed),
        vec![
            row("2025-01-02", None, "tok-k1", "gpt", 0.0, 1),
            row("2025-01-02", None, "tok-k2", "gpt", 0.5, 1),
            row("2025-01-01", None, "tok-k1", "claude", 2.0, 1),
            row("2025-01-01", None, "tok-k1", "gpt", 1.25, 2),
        ]
    );
    let failed = &collapsed[0];
    assert_eq!((failed.successful_requests, failed.failed_requests), (0, 1));
    let ok = &collapsed[3];
    assert_eq!((ok.successful_requests, ok.failed_requests), (2, 0));
    assert_eq!((ok.prompt_tokens, ok.completion_tokens), (20, 10));
    assert_eq!(
        (ok.cache_read_input_tokens, ok.cache_creation_input_tokens),
        (4, 2)
    );
    assert_eq!((&*ok.model_group, &*ok.provider), ("gpt-4o", "openai"));
    assert_eq!(&*ok.endpoint, "/v1/chat/completions");

    let by_user = DailyQuery {
        group_by_entity: true,
        ..daily(EntityType::User)
    };
    let grouped = daily_rows(ctx, by_user.clone()).await;
    assert_eq!(grouped.len(), 5);
    assert_eq!(
        summary(&grouped[2..]),
        vec![
            row("2025-01-01", Some("u1"), "tok-k1", "gpt", 1.0, 1),
            row("2025-01-01", Some("u2"), "tok-k1", "claude", 2.0, 1),
            row("2025-01-01", Some("u2"), "tok-k1", "gpt", 0.25, 1),
        ]
    );
    // Every other kind sees every request, under its own ids.
    for (kind, ids) in [
        (EntityType::Team, vec!["t1"]),
        (EntityType::Organization, vec!["o1"]),
        (EntityType::Customer, vec!["c1"]),
        (EntityType::Tag, vec!["blue", "prod"]),
    ] {
        let rows = daily_rows(
            ctx,
            DailyQuery {
                group_by_entity: true,
                ..daily(kind)
            },
        )
        .await;
        let mut seen: Vec<_> = rows.iter().filter_map(|r| r.entity_id.as_deref()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ids, "{kind:?}");
        // Each request has one of each, but two tags: collapsed tags count it twice.
        if kind != EntityType::Tag {
            let collapsed = daily_rows(ctx, daily(kind)).await;
            assert_eq!(
                summary(&collapsed),
                summary(&daily_rows(ctx, daily(EntityType::User)).await)
            );
        }
    }
    daily_filters(ctx, by_user).await;
}

async fn daily_filters(ctx: &Ctx, by_user: DailyQuery) {
    let only_u2 = DailyQuery {
        entity_ids: vec!["u2".into()],
        ..by_user.clone()
    };
    let not_u1 = DailyQuery {
        exclude_entity_ids: vec!["u1".into()],
        ..by_user.clone()
    };
    let u2 = summary(&daily_rows(ctx, only_u2).await);
    assert_eq!(u2.len(), 2);
    assert!(u2.iter().all(|r| r.1.as_deref() == Some("u2")));
    assert_eq!(summary(&daily_rows(ctx, not_u1).await), u2);
    let claude = DailyQuery {
        model: Some("claude".into()),
        ..by_user.clone()
    };
    assert_eq!(
        summary(&daily_rows(ctx, claude).await),
        vec![row("2025-01-01", Some("u2"), "tok-k1", "claude", 2.0, 1)]
    );
    let k2 = DailyQuery {
        api_key: Some("tok-k2".into()),
        ..by_user.clone()
    };
    assert_eq!(
        summary(&daily_rows(ctx, k2).await),
        vec![row("2025-01-02", Some("u1"), "tok-k2", "gpt", 0.5, 1)]
    );
    // Both ends of the range are inclusive.
    let one_day = DailyQuery {
        start_date: "2025-01-02".into(),
        end_date: "2025-01-02".into(),
        ..by_user.clone()
    };
    assert_eq!(daily_rows(ctx, one_day).await.len(), 2);
    let first_day = DailyQuery {
        start_date: "2024-12-01".into(),
        end_date: "2025-01-01".into(),
        ..by_user
    };
    assert_eq!(daily_rows(ctx, first_day).await.len(), 3);
}

/// Filters take any text: quotes, backslashes and what looks like a placeholder or a comment
/// select exactly the rows that hold them (PostgreSQL reads the daily rows with a `COPY`, whose
/// statement has its values written in).
pub async fn daily_filters_take_any_text(ctx: &Ctx) {
    let (user, model, key) = (
        "o'brien\\",
        "it's a \\' model $1 --",
        "tok-'; DROP TABLE x; --",
    );
    record(
        ctx,
        &[
            ev("q1", 1.5, 0, user, model, key),
            ev("q2", 2.0, 0, "u9", "gpt", "tok-k9"),
        ],
    )
    .await;
    let by_user = DailyQuery {
        group_by_entity: true,
        ..daily(EntityType::User)
    };
    let expected = vec![row("2025-01-01", Some(user), key, model, 1.5, 1)];
    for q in [
        DailyQuery {
            entity_ids: vec![user.into(), "nobody'".into()],
            ..by_user.clone()
        },
        DailyQuery {
            exclude_entity_ids: vec!["u9".into(), "\\".into()],
            ..by_user.clone()
        },
        DailyQuery {
            model: Some(model.into()),
            ..by_user.clone()
        },
        DailyQuery {
            api_key: Some(key.into()),
            ..by_user.clone()
        },
    ] {
        assert_eq!(
            summary(&daily_rows(ctx, q.clone()).await),
            expected,
            "{q:?}"
        );
    }
    let none = DailyQuery {
        model: Some("it's".into()),
        ..by_user
    };
    assert!(daily_rows(ctx, none).await.is_empty());
}

/// Missing values are '' in the daily key columns, so that requests without them still add up
/// in one row; empty ids are no ids.
pub async fn empty_key_columns_are_normalised(ctx: &Ctx) {
    let blank = |id: &str| {
        let mut e = spend_event(id, 0.5, 0);
        e.api_key = String::new();
        (e.model, e.model_group, e.provider, e.endpoint) = Default::default();
        (
            e.key_id,
            e.key_alias,
            e.team_id,
            e.organization_id,
            e.model_id,
            e.api_base,
        ) = Default::default();
        e.user_id = Some(String::new());
        e.tags = vec![String::new()];
        e
    };
    record(ctx, &[blank("r1")]).await;
    record(ctx, &[blank("r2")]).await;
    let rows = daily_rows(
        ctx,
        DailyQuery {
            group_by_entity: true,
            ..daily(EntityType::Customer)
        },
    )
    .await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.entity_id.as_deref(), Some("c1"));
    for col in [
        &r.api_key,
        &r.model,
        &r.model_group,
        &r.provider,
        &r.endpoint,
    ] {
        assert_eq!(&**col, "");
    }
    assert_eq!(r.api_requests, 2);
    assert_close(r.spend, 1.0);
    for kind in [EntityType::Team, EntityType::Organization, EntityType::Tag] {
        assert!(daily_rows(ctx, daily(kind)).await.is_empty(), "{kind:?}");
    }
    // Requests without a user still count in the user report, under the empty user.
    let users = daily_rows(ctx, daily(EntityType::User)).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].api_requests, 2);
    let logs = ctx
        .store
        .spend_logs(&SpendLogQuery::default())
        .await
        .unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(
        (logs[0].user_id.clone(), logs[0].api_base.clone()),
        (None, None)
    );
    assert_eq!(logs[0].api_key, "");
    assert!(ctx.store.spend_counters("tag").await.unwrap().is_empty());
}

/// 10,000 requests in one batch make 50,000 daily rows (user, team, organization, customer, tag
/// for each); the reads add up.
pub async fn bulk_daily_rows_add_up(ctx: &Ctx) {
    let events: Vec<_> = (0..10_000)
        .map(|i: i64| {
            let mut e = spend_event(&format!("r{i}"), (i % 97) as f64 * 1e-4, (i % 30) * DAY);
            e.api_key = format!("key{i}");
            e.model = format!("m{}", i % 10).into();
            e.user_id = Some(format!("u{}", i % 100));
            e.team_id = Some(format!("t{}", i % 10));
            e.end_user = Some(format!("c{}", i % 50));
            e.tags = vec![format!("tag{}", i % 5)];
            e
        })
        .collect();
    let outcome = record(ctx, &events).await;
    assert_eq!(outcome.inserted, 10_000);
    let total: f64 = events.iter().map(|e| e.spend).sum();
    for kind in [
        EntityType::User,
        EntityType::Team,
        EntityType::Organization,
        EntityType::Customer,
        EntityType::Tag,
    ] {
        let rows = daily_rows(
            ctx,
            DailyQuery {
                group_by_entity: true,
                ..daily(kind)
            },
        )
        .await;
        assert_eq!(rows.len(), 10_000, "{kind:?}");
        assert_close(rows.iter().map(|r| r.spend).sum(), total);
        assert_eq!(rows.iter().map(|r| r.api_requests).sum::<i64>(), 10_000);
        assert!(rows.windows(2).all(|w| w[0].date >= w[1].date));
        assert_eq!(&*rows[0].date, "2025-01-30");
    }
    let u7 = DailyQuery {
        entity_ids: vec!["u7".into()],
        ..daily(EntityType::User)
    };
    let rows = daily_rows(ctx, u7).await;
    assert_eq!(rows.len(), 100);
    assert!(rows.iter().all(|r| &*r.model == "m7"));
    let week = DailyQuery {
        start_date: "2025-01-01".into(),
        end_date: "2025-01-07".into(),
        ..daily(EntityType::Team)
    };
    let in_week = events.iter().filter(|e| e.start_time < at(7 * DAY)).count();
    assert_eq!(daily_rows(ctx, week).await.len(), in_week);
    let users = ctx
        .store
        .spend_totals(&TotalsQuery {
            group_by: TotalsGroup::User,
            start: None,
            end: None,
            limit: Some(3),
        })
        .await
        .unwrap();
    assert_eq!(users.len(), 3);
    assert!(users[0].1 >= users[1].1 && users[1].1 >= users[2].1);
}

/// Days come newest first, one date each; a read whose days are not taken (a slow client of a
/// report) holds up no other read.
pub async fn days_come_one_at_a_time_and_a_stalled_read_holds_up_none(ctx: &Ctx) {
    let events: Vec<_> = (0..10)
        .map(|d| ev(&format!("r{d}"), 1.0, d, "u1", "gpt", "tok-k1"))
        .collect();
    record(ctx, &events).await;
    let mut stalled = ctx
        .store
        .daily_spend_days(&daily(EntityType::User))
        .await
        .unwrap();
    let newest = stalled.next().await.unwrap().unwrap();
    assert_eq!(&*newest[0].date, "2025-01-10");
    let dates = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut days = ctx
            .store
            .daily_spend_days(&daily(EntityType::User))
            .await
            .unwrap();
        let mut dates = Vec::new();
        while let Some(day) = days.next().await {
            let day = day.unwrap();
            assert!(day.iter().all(|r| r.date == day[0].date));
            dates.push(day[0].date.to_string());
        }
        dates
    })
    .await
    .expect("a stalled read held up another");
    let mut newest_first = dates.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    newest_first.dedup();
    assert_eq!(dates, newest_first);
    assert_eq!(dates.len(), 10);
    drop(stalled);
}

/// The number of packs stored, once it has reached `want` (a report stores its packs after its
/// last day): fails after five seconds.
async fn packs_reach(raw: &SqlStore, sql: &str, want: i64) {
    for _ in 0..500 {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(raw.pool()).await.unwrap();
        if n == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{sql} never reached {want}");
}

/// Closed days are answered from the packs the first report of whole days made of them, the
/// same rows in the same order: rows changed behind the writer's back do not show (the packs
/// are read), until a late write to the day marks it changed. Filtered reports read rows. A
/// pack that does not decode is read from rows again and replaced. Today is never packed.
pub async fn closed_days_come_from_packs_until_written_late(ctx: &Ctx) {
    activity(ctx).await;
    let now = chrono::Utc::now();
    let mut today = ev("r-today", 7.0, 0, "u1", "gpt", "tok-k1");
    today.start_time = now;
    record(ctx, &[today]).await;
    let all = DailyQuery {
        end_date: now.date_naive().to_string(),
        ..daily(EntityType::User)
    };
    let by_user = DailyQuery {
        group_by_entity: true,
        ..all.clone()
    };
    let raw = SqlStore::connect(&ConnectOptions::new(ctx.db.url()))
        .await
        .unwrap();
    let count = "SELECT COUNT(*) FROM daily_packs WHERE entity_type = 'user'";
    let from_rows = ctx.store.daily_spend(&all).await.unwrap();
    packs_reach(&raw, count, 2).await;
    assert_eq!(ctx.store.daily_spend(&all).await.unwrap(), from_rows);
    let grouped = daily_rows(ctx, by_user.clone()).await;
    assert_eq!(grouped.len(), 6);

    sqlx::query("UPDATE daily_spend SET spend = spend + 100 WHERE date = '2025-01-01'")
        .execute(raw.pool())
        .await
        .unwrap();
    assert_eq!(daily_rows(ctx, by_user.clone()).await, grouped);
    let u2 = DailyQuery {
        entity_ids: vec!["u2".into()],
        ..by_user.clone()
    };
    assert_eq!(
        summary(&daily_rows(ctx, u2).await),
        [
            row("2025-01-01", Some("u2"), "tok-k1", "claude", 102.0, 1),
            row("2025-01-01", Some("u2"), "tok-k1", "gpt", 100.25, 1),
        ]
    );

    record(ctx, &[ev("r6", 3.0, 0, "u1", "gpt", "tok-k1")]).await;
    let late = summary(&daily_rows(ctx, all.clone()).await);
    assert_eq!(
        late,
        vec![
            row(&now.date_naive().to_string(), None, "tok-k1", "gpt", 7.0, 1),
            row("2025-01-02", None, "tok-k1", "gpt", 0.0, 1),
            row("2025-01-02", None, "tok-k2", "gpt", 0.5, 1),
            row("2025-01-01", None, "tok-k1", "claude", 102.0, 1),
            row("2025-01-01", None, "tok-k1", "gpt", 204.25, 3),
        ]
    );
    let versions = "SELECT COUNT(*) FROM daily_packs p JOIN daily_versions v \
                    ON v.date = p.date AND v.version = p.version WHERE p.entity_type = 'user'";
    packs_reach(&raw, versions, 2).await;

    let garbage = match ctx.store.backend() {
        Backend::Sqlite => "UPDATE daily_packs SET body = X'01ff'",
        Backend::Postgres => "UPDATE daily_packs SET body = '\\x01ff'::bytea",
    };
    sqlx::query(garbage).execute(raw.pool()).await.unwrap();
    assert_eq!(summary(&daily_rows(ctx, all.clone()).await), late);
    packs_reach(
        &raw,
        "SELECT COUNT(*) FROM daily_packs WHERE entity_type = 'user' AND length(body) > 2",
        2,
    )
    .await;
    assert_eq!(summary(&daily_rows(ctx, all).await), late);
}
