//! Spend logs and what is computed from them: filters, top-N totals, global spend, retention.

use serde_json::json;
use tollgate_store::*;

use crate::common::*;

pub async fn spend_log_filters(ctx: &Ctx) {
    let mut r2 = spend_event("r2", 2.0, 1000);
    (r2.api_key, r2.user_id, r2.team_id, r2.end_user) = (
        "tok-k2".into(),
        Some("u2".into()),
        Some("t2".into()),
        Some("c2".into()),
    );
    let mut r3 = spend_event("r3", 0.0, 2000);
    r3.success = false;
    r3.completion_start_time = None;
    r3.metadata = map(json!({"error": "upstream timed out", "status_code": 504}));
    record(ctx, &[spend_event("r1", 1.0, 0), r2, r3]).await;

    let ids = |q: SpendLogQuery| async move {
        let rows = ctx.store.spend_logs(&q).await.unwrap();
        rows.into_iter().map(|r| r.request_id).collect::<Vec<_>>()
    };
    let all = SpendLogQuery::default();
    assert_eq!(ids(all.clone()).await, ["r3", "r2", "r1"]);
    assert_eq!(
        ids(SpendLogQuery {
            request_id: Some("r2".into()),
            ..all.clone()
        })
        .await,
        ["r2"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            api_key: Some("tok-k2".into()),
            ..all.clone()
        })
        .await,
        ["r2"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            user_id: Some("u1".into()),
            ..all.clone()
        })
        .await,
        ["r3", "r1"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            team_id: Some("t2".into()),
            ..all.clone()
        })
        .await,
        ["r2"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            end_user: Some("c1".into()),
            ..all.clone()
        })
        .await,
        ["r3", "r1"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            start: Some(at(1000)),
            ..all.clone()
        })
        .await,
        ["r3", "r2"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            end: Some(at(1000)),
            ..all.clone()
        })
        .await,
        ["r1"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            limit: Some(1),
            ..all.clone()
        })
        .await,
        ["r3"]
    );
    assert_eq!(
        ids(SpendLogQuery {
            limit: Some(u32::MAX),
            ..all.clone()
        })
        .await
        .len(),
        3
    );

    let rows = ctx.store.spend_logs(&all).await.unwrap();
    let failed = &rows[0];
    assert_eq!(
        (failed.status.as_str(), failed.completion_start_time),
        ("failure", None)
    );
    assert_eq!(failed.metadata["status_code"], 504);
    let r1 = rows[2].clone();
    let e = spend_event("r1", 1.0, 0);
    assert_eq!(
        (r1.status.as_str(), r1.total_tokens, r1.request_duration_ms),
        ("success", 15, 1500)
    );
    assert_eq!(
        (r1.start_time, r1.end_time, r1.completion_start_time),
        (e.start_time, e.end_time, e.completion_start_time)
    );
    assert_eq!((r1.tags, r1.metadata), (e.tags, e.metadata));
    assert_eq!((r1.key_id, r1.key_alias), (e.key_id, e.key_alias));
    let v = serde_json::to_value(&rows[2]).unwrap();
    assert_eq!(v["custom_llm_provider"], "openai");
    assert_eq!(v["user"], "u1");
    assert_eq!(v["request_tags"], json!(["prod", "blue"]));
    assert_eq!(v["model_id"], "dep-1");
    assert!(
        v["startTime"].is_string()
            && v["endTime"].is_string()
            && v["completionStartTime"].is_string()
    );
}

/// Every column of a spend-log row reads back as it was written: each text and each number of
/// the event is distinct, so two columns swapped on the way in cannot go unnoticed. A batch of
/// 1,500 rows (the first repeated) is recorded at once, with empty optional fields.
pub async fn every_spend_log_column_reads_back(ctx: &Ctx) {
    let mut e = spend_event("every-column", 0.125, 7_000);
    e.call_type = "embedding".into();
    e.api_key = "tok-every".into();
    e.model = "provider-model".into();
    e.model_group = "public-model".into();
    e.endpoint = "/v1/embeddings".into();
    (e.prompt_tokens, e.completion_tokens) = (11, 7);
    (e.cache_read_input_tokens, e.cache_creation_input_tokens) = (5, 3);
    let mut batch = vec![e.clone()];
    for i in 0..1_500 {
        let mut other = spend_event(&format!("bulk-{i:04}"), 0.5, i);
        (other.key_id, other.api_base, other.completion_start_time) = (None, None, None);
        other.tags.clear();
        batch.push(other);
    }
    batch.push(e.clone());
    assert_eq!(
        record(ctx, &batch).await,
        RecordOutcome {
            inserted: 1_501,
            duplicates: 1
        }
    );

    let rows = ctx
        .store
        .spend_logs(&SpendLogQuery {
            request_id: Some(e.request_id.clone()),
            ..SpendLogQuery::default()
        })
        .await
        .unwrap();
    let [r] = rows.as_slice() else {
        panic!("one row expected, got {rows:?}")
    };
    assert_eq!(
        (
            &r.request_id,
            &r.call_type,
            &r.api_key,
            &r.key_id,
            &r.key_alias
        ),
        (
            &e.request_id,
            &e.call_type.to_string(),
            &e.api_key,
            &e.key_id,
            &e.key_alias
        )
    );
    assert_eq!(
        (&r.user_id, &r.team_id, &r.organization_id, &r.end_user),
        (&e.user_id, &e.team_id, &e.organization_id, &e.end_user)
    );
    assert_eq!(
        (
            &r.model,
            &r.model_id,
            &r.model_group,
            &r.provider,
            &r.api_base,
            &r.endpoint
        ),
        (
            &e.model.to_string(),
            &e.model_id.as_deref().map(str::to_owned),
            &e.model_group,
            &e.provider.to_string(),
            &e.api_base.as_deref().map(str::to_owned),
            &e.endpoint.to_string()
        )
    );
    assert_eq!(
        (
            r.spend,
            r.prompt_tokens,
            r.completion_tokens,
            r.total_tokens
        ),
        (0.125, 11, 7, 18)
    );
    assert_eq!(
        (r.cache_read_input_tokens, r.cache_creation_input_tokens),
        (5, 3)
    );
    assert_eq!(
        (
            r.start_time,
            r.end_time,
            r.completion_start_time,
            r.request_duration_ms
        ),
        (e.start_time, e.end_time, e.completion_start_time, 1500)
    );
    assert_eq!(
        (&r.tags, &r.metadata, r.status.as_str()),
        (&e.tags, &e.metadata, "success")
    );

    let bulk = ctx
        .store
        .spend_logs(&SpendLogQuery {
            request_id: Some("bulk-1499".into()),
            ..SpendLogQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(bulk.len(), 1);
    assert_eq!(
        (
            &bulk[0].key_id,
            &bulk[0].api_base,
            bulk[0].completion_start_time
        ),
        (&None, &None, None)
    );
    assert!(bulk[0].tags.is_empty());
}

pub async fn totals_by_group(ctx: &Ctx) {
    let mut r2 = ev("r2", 2.0, 0, "u2", "claude", "tok-k2");
    r2.tags = vec!["prod".into()];
    let unattributed = ev("r4", 5.0, 2, "u1", "gpt", "");
    record(
        ctx,
        &[
            ev("r1", 1.0, 0, "u1", "gpt", "tok-k1"),
            r2,
            ev("r3", 0.5, 1, "u1", "gpt", "tok-k1"),
            unattributed,
        ],
    )
    .await;
    let totals = |group_by, start, limit| async move {
        let q = TotalsQuery {
            group_by,
            start,
            end: None,
            limit,
        };
        ctx.store.spend_totals(&q).await.unwrap()
    };
    let pairs = |v: &[(&str, f64)]| {
        v.iter()
            .map(|(k, s)| ((*k).to_owned(), *s))
            .collect::<Vec<_>>()
    };
    // A request without a key counts in no key's total.
    assert_eq!(
        totals(TotalsGroup::ApiKey, None, None).await,
        pairs(&[("tok-k2", 2.0), ("tok-k1", 1.5)])
    );
    assert_eq!(
        totals(TotalsGroup::ApiKey, None, Some(1)).await,
        pairs(&[("tok-k2", 2.0)])
    );
    assert_eq!(
        totals(TotalsGroup::ApiKey, Some(at(DAY)), None).await,
        pairs(&[("tok-k1", 0.5)])
    );
    assert_eq!(
        totals(TotalsGroup::User, None, None).await,
        pairs(&[("u1", 6.5), ("u2", 2.0)])
    );
    assert_eq!(
        totals(TotalsGroup::Model, None, None).await,
        pairs(&[("gpt", 6.5), ("claude", 2.0)])
    );
    assert_eq!(
        totals(TotalsGroup::ModelGroup, None, None).await,
        pairs(&[("gpt-4o", 8.5)])
    );
    assert_eq!(
        totals(TotalsGroup::Team, None, None).await,
        pairs(&[("t1", 8.5)])
    );
    assert_eq!(
        totals(TotalsGroup::Organization, None, None).await,
        pairs(&[("o1", 8.5)])
    );
    assert_eq!(
        totals(TotalsGroup::EndUser, None, None).await,
        pairs(&[("c1", 8.5)])
    );
    assert_eq!(
        totals(TotalsGroup::Tag, None, None).await,
        pairs(&[("prod", 8.5), ("blue", 6.5)])
    );
    let q = TotalsQuery {
        group_by: TotalsGroup::Tag,
        start: None,
        end: Some(at(DAY)),
        limit: Some(5),
    };
    assert_eq!(
        ctx.store.spend_totals(&q).await.unwrap(),
        pairs(&[("prod", 3.0), ("blue", 1.0)])
    );

    assert_close(ctx.store.global_spend(at(0)).await.unwrap(), 8.5);
    assert_close(ctx.store.global_spend(at(DAY)).await.unwrap(), 5.5);
    assert_eq!(ctx.store.global_spend(at(10 * DAY)).await.unwrap(), 0.0);
}

pub async fn retention_deletes_old_logs_in_batches(ctx: &Ctx) {
    let events: Vec<_> = (0..25)
        .map(|i| spend_event(&format!("r{i:02}"), 0.1, i * 1000))
        .collect();
    record(ctx, &events).await;
    assert_eq!(
        ctx.store
            .delete_spend_logs_before(at(10_000), 3)
            .await
            .unwrap(),
        10
    );
    let left = ctx
        .store
        .spend_logs(&SpendLogQuery::default())
        .await
        .unwrap();
    assert_eq!(left.len(), 15);
    assert_eq!(left.last().unwrap().request_id, "r10");
    assert_eq!(
        ctx.store
            .delete_spend_logs_before(at(10_000), 3)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        ctx.store
            .delete_spend_logs_before(at(12_000), 0)
            .await
            .unwrap(),
        2
    );
    // Aggregates outlive the logs.
    assert_eq!(
        daily_rows(ctx, daily(EntityType::User)).await[0].api_requests,
        25
    );
    // A replay of a deleted request would count again: retention must outlast replays.
    assert_eq!(
        ctx.store
            .spend_logs(&SpendLogQuery::default())
            .await
            .unwrap()
            .len(),
        13
    );
}
