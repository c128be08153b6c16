//! Spend reports: organization, customer and tag activity, spend logs, global reports, and the
//! gateway-wide budget.

use chrono::Utc;
use serde_json::json;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::both;
use crate::common::{Gateway, MASTER};
use crate::inference::{config, GPT4O_IN, GPT4O_OUT};

async fn reports_by_every_entity(db: &TestDb) {
    let up = FakeOpenAi::start().await;
    up.set_usage(4, 6);
    let gw = Gateway::with_config(db, &config(&up.url())).await;
    gw.post(
        "/organization/new",
        json!({"organization_id": "o", "organization_alias": "Org O"}),
    )
    .await;
    gw.post("/team/new", json!({"team_id": "t", "organization_id": "o"}))
        .await;
    let key = gw.key(json!({"team_id": "t", "key_alias": "rep"})).await;
    for _ in 0..2 {
        let body = json!({"model": "gpt-4o", "user": "cust-1", "metadata": {"tags": ["prod"]}, "messages": [{"role": "user", "content": "x"}]});
        let (s, v) = gw.post_as(&key, "/v1/chat/completions", body).await;
        assert_eq!(s, 200, "{v}");
    }
    gw.flush().await;
    let per = 4.0 * GPT4O_IN + 6.0 * GPT4O_OUT;
    let today = Utc::now().date_naive().to_string();
    for path in [
        format!(
            "/organization/daily/activity?start_date={today}&end_date={today}&organization_ids=o"
        ),
        format!("/customer/daily/activity/aggregated?start_date={today}&end_date={today}"),
        format!("/end_user/daily/activity?start_date={today}&end_date={today}&end_user_ids=cust-1"),
        format!("/tag/daily/activity/aggregated?start_date={today}&end_date={today}&tags=prod"),
    ] {
        let v = gw.get(&path).await;
        let total = v["metadata"]["total_spend"].as_f64().unwrap();
        assert!((total - 2.0 * per).abs() < 1e-12, "{path}: {v}");
        assert_eq!(v["metadata"]["total_api_requests"], 2, "{path}");
    }
    let org = gw
        .get(&format!(
            "/organization/daily/activity?start_date={today}&end_date={today}"
        ))
        .await;
    assert_eq!(
        org["results"][0]["breakdown"]["entities"]["o"]["metadata"]["organization_alias"],
        "Org O"
    );
    // The customer was created by its first spend.
    let c = gw.get("/customer/info?end_user_id=cust-1").await;
    assert!(
        (c["spend"].as_f64().unwrap() - 2.0 * per).abs() < 1e-12,
        "{c}"
    );
    // Spend logs, filtered and summarized.
    let logs = gw.get(&format!("/spend/logs?api_key={key}")).await;
    assert_eq!(logs.as_array().unwrap().len(), 2);
    assert_eq!(logs[0]["end_user"], "cust-1");
    let summary = gw
        .get(&format!("/spend/logs?start_date={today}&end_date={today}"))
        .await;
    assert!(
        (summary[0]["spend"].as_f64().unwrap() - 2.0 * per).abs() < 1e-12,
        "{summary}"
    );
    // Global reports.
    let g = gw.get("/global/spend").await;
    assert!((g["spend"].as_f64().unwrap() - 2.0 * per).abs() < 1e-12);
    let keys = gw.get("/global/spend/keys?limit=5").await;
    assert_eq!(keys[0]["key_alias"], "rep");
    let models = gw.get("/global/spend/models").await;
    assert_eq!(models[0]["model"], "gpt-4o");
    let tags = gw.get("/global/spend/tags").await;
    assert_eq!(tags[0]["individual_request_tag"], "prod");
    let teams = gw.get("/global/spend/teams").await;
    assert_eq!(teams["total_spend_per_team"][0]["team_id"], "t");
    let (s, _) = gw
        .call("POST", "/global/spend/reset", Some(MASTER), Some(json!({})))
        .await;
    assert_eq!(s, 200);
    let info = gw.get(&format!("/key/info?key={key}")).await;
    assert_eq!(info["info"]["spend"], 0.0);
    gw.stop().await;
}

async fn non_admins_see_only_their_own_activity(db: &TestDb) {
    let gw = Gateway::with_config(db, &config("http://127.0.0.1:9")).await;
    let alice = gw.user("alice", "internal_user").await;
    let today = Utc::now().date_naive().to_string();
    let (s, _) = gw
        .get_as(
            &alice,
            &format!("/user/daily/activity?start_date={today}&end_date={today}"),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = gw
        .get_as(
            &alice,
            &format!("/user/daily/activity?start_date={today}&end_date={today}&user_id=bob"),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, _) = gw
        .get_as(
            &alice,
            &format!("/team/daily/activity?start_date={today}&end_date={today}&team_ids=other"),
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = gw.get_as(MASTER, "/user/daily/activity").await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = gw.get_as(&alice, "/global/spend").await;
    assert_eq!(s, 403);
    gw.stop().await;
}

async fn the_gateway_budget_stops_everyone(db: &TestDb) {
    let yaml = format!(
        "{}litellm_settings:\n  max_budget: 0.01\n",
        config("http://127.0.0.1:9")
    );
    let gw = Gateway::with_config(db, &yaml).await;
    let body = json!({"model": "mock-model", "messages": [{"role": "user", "content": "a long enough prompt"}]});
    let (s, _) = gw
        .post_as(MASTER, "/v1/chat/completions", body.clone())
        .await;
    assert_eq!(s, 200);
    let (s, v) = gw.post_as(MASTER, "/v1/chat/completions", body).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exceeded its budget"));
    gw.stop().await;
}

/// An answer of many megabytes, sent in many chunks as it is written, is one whole JSON
/// document whose every sum is right: 3 days × 300 keys × 3 models, seeded in the store.
async fn large_activity_answers_arrive_whole(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let (days, keys, models): (i64, i64, i64) = (3, 300, 3);
    let today = Utc::now().date_naive();
    let mut events = Vec::new();
    for d in 0..days {
        let at = (today - chrono::Days::new(d.unsigned_abs()))
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc();
        for k in 0..keys {
            for m in 0..models {
                let event = json!({
                    "request_id": format!("r-{d}-{k}-{m}"), "call_type": "chat_completion",
                    "api_key": format!("{k:064x}"), "user_id": format!("u{}", k % 7),
                    "model": format!("m{m}"), "model_group": format!("m{m}"), "provider": "openai",
                    "endpoint": "/v1/chat/completions", "success": k % 10 != 0,
                    "spend": 0.5, "prompt_tokens": k, "completion_tokens": 1,
                    "start_time": at.timestamp_micros(), "end_time": at.timestamp_micros(),
                });
                events.push(serde_json::from_value(event).unwrap());
            }
        }
    }
    gw.state.store.record_spend(&events).await.unwrap();
    let first = today - chrono::Days::new((days - 1).unsigned_abs());
    let v = gw
        .get(&format!(
            "/user/daily/activity/aggregated?start_date={first}&end_date={today}"
        ))
        .await;
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), days as usize);
    assert_eq!(results[0]["date"], today.to_string());
    assert_eq!(results[2]["date"], first.to_string());
    let prompt_per_model: i64 = (0..keys).sum();
    for day in results {
        let b = &day["breakdown"];
        assert_eq!(day["metrics"]["api_requests"], keys * models);
        assert_eq!(day["metrics"]["failed_requests"], keys / 10 * models);
        assert_eq!(b["api_keys"].as_object().unwrap().len(), keys as usize);
        assert_eq!(b["models"].as_object().unwrap().len(), models as usize);
        let m1 = &b["models"]["m1"];
        assert_eq!(m1["metrics"]["prompt_tokens"], prompt_per_model);
        assert_eq!(
            m1["api_key_breakdown"].as_object().unwrap().len(),
            keys as usize
        );
        let k7 = &b["providers"]["openai"]["api_key_breakdown"][format!("{:064x}", 7)];
        assert_eq!(k7["metrics"]["prompt_tokens"], 7 * models);
        assert_eq!(k7["metrics"]["total_tokens"], 8 * models);
        assert_eq!(k7["metadata"], json!({"key_alias": null, "team_id": null}));
    }
    assert_eq!(v["metadata"]["total_api_requests"], days * keys * models);
    assert_eq!(
        v["metadata"]["total_spend"],
        0.5 * (days * keys * models) as f64
    );
    // The paginated form answers the page it is asked for, with the page count.
    let page = gw
        .get(&format!(
            "/user/daily/activity?start_date={first}&end_date={today}&page_size=2&page=2"
        ))
        .await;
    assert_eq!(page["results"].as_array().unwrap().len(), 1);
    assert_eq!(page["results"][0]["date"], first.to_string());
    assert_eq!(
        page["results"][0]["breakdown"]["entities"]
            .as_object()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        (
            page["metadata"]["page"].clone(),
            page["metadata"]["total_pages"].clone()
        ),
        (json!(2), json!(2))
    );
    gw.stop().await;
}

/// Days are answered as they are read, newest first: a key or a team that appears only on an
/// older day still gets its alias and team, and its label.
async fn keys_and_teams_first_seen_on_older_days_keep_their_names(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let today = Utc::now().date_naive();
    let mut events = Vec::new();
    for (n, days_ago) in [(1, 0u64), (2, 2)] {
        gw.post(
            "/team/new",
            json!({"team_id": format!("t{n}"), "team_alias": format!("Team {n}")}),
        )
        .await;
        let v = gw
            .post(
                "/key/generate",
                json!({"key_alias": format!("k{n}"), "team_id": format!("t{n}")}),
            )
            .await;
        let at = (today - chrono::Days::new(days_ago))
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc();
        let event = json!({
            "request_id": format!("r{n}"), "call_type": "chat_completion",
            "api_key": v["token"], "team_id": format!("t{n}"), "model": "m",
            "model_group": "m", "provider": "openai", "endpoint": "/v1/chat/completions",
            "success": true, "spend": 1.0, "prompt_tokens": 1, "completion_tokens": 1,
            "start_time": at.timestamp_micros(), "end_time": at.timestamp_micros(),
        });
        events.push((v["token"].as_str().unwrap().to_owned(), event));
    }
    let (hashes, events): (Vec<String>, Vec<_>) = events
        .into_iter()
        .map(|(h, e)| (h, serde_json::from_value(e).unwrap()))
        .unzip();
    gw.state.store.record_spend(&events).await.unwrap();
    let first = today - chrono::Days::new(2);
    let v = gw
        .get(&format!(
            "/team/daily/activity?start_date={first}&end_date={today}"
        ))
        .await;
    let results = v["results"].as_array().unwrap();
    let dates: Vec<&str> = results
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(dates, [today.to_string(), first.to_string()], "{v}");
    for (day, (n, hash)) in results.iter().zip([(1, &hashes[0]), (2, &hashes[1])]) {
        let b = &day["breakdown"];
        assert_eq!(
            b["api_keys"][hash]["metadata"],
            json!({"key_alias": format!("k{n}"), "team_id": format!("t{n}")}),
            "{day}"
        );
        assert_eq!(
            b["entities"][format!("t{n}")]["metadata"],
            json!({"team_alias": format!("Team {n}")}),
            "{day}"
        );
    }
    assert_eq!(v["metadata"]["total_api_requests"], 2);
    gw.stop().await;
}

/// A split repeated under another name (a provider serving every call, a group served by
/// one model) reads the same as the first, and a split of the same size and totals but other
/// entries is its own: model `a` bills key 1 one dollar and key 2 two, model `b` the reverse.
async fn repeated_splits_read_as_their_own_entries(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let today = Utc::now().date_naive();
    let at = today.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let key = |k: u32| format!("{k:064x}");
    let rows = [("a", 1, 1.0), ("a", 2, 2.0), ("b", 1, 2.0), ("b", 2, 1.0)];
    let events: Vec<_> = rows
        .iter()
        .enumerate()
        .map(|(i, (model, k, spend))| {
            serde_json::from_value(json!({
                "request_id": format!("r{i}"), "call_type": "chat_completion",
                "api_key": key(*k), "user_id": "u", "model": model, "model_group": model,
                "provider": "openai", "endpoint": "/v1/chat/completions", "success": true,
                "spend": spend, "prompt_tokens": 1, "completion_tokens": 1,
                "start_time": at.timestamp_micros(), "end_time": at.timestamp_micros(),
            }))
            .unwrap()
        })
        .collect();
    gw.state.store.record_spend(&events).await.unwrap();
    let v = gw
        .get(&format!(
            "/user/daily/activity/aggregated?start_date={today}&end_date={today}"
        ))
        .await;
    let b = &v["results"][0]["breakdown"];
    let spend = |split: &serde_json::Value, k| split[key(k)]["metrics"]["spend"].clone();
    for (model, one, two) in [("a", 1.0, 2.0), ("b", 2.0, 1.0)] {
        for kind in ["models", "model_groups"] {
            let split = &b[kind][model]["api_key_breakdown"];
            assert_eq!(
                (spend(split, 1), spend(split, 2)),
                (json!(one), json!(two)),
                "{kind} {model}: {b}"
            );
        }
    }
    for split in [
        &b["providers"]["openai"]["api_key_breakdown"],
        &b["endpoints"]["/v1/chat/completions"]["api_key_breakdown"],
        &b["api_keys"],
    ] {
        assert_eq!(
            (spend(split, 1), spend(split, 2)),
            (json!(3.0), json!(3.0)),
            "{b}"
        );
        assert_eq!(
            split[key(1)]["metadata"],
            json!({"key_alias": null, "team_id": null})
        );
    }
    gw.stop().await;
}

/// Days three or more days old are answered from packs once a report has read them: the same
/// bytes as from their rows, in both forms, until spend written to one of them late (a journal
/// replayed) changes its answer.
async fn closed_days_answer_the_same_from_their_packs(db: &TestDb) {
    let gw = Gateway::start(db).await;
    let today = Utc::now().date_naive();
    let first = today - chrono::Days::new(5);
    let event = |id: String, day: chrono::NaiveDate, k: u32, m: u32, spend: f64| {
        let at = day.and_hms_opt(12, 0, 0).unwrap().and_utc();
        serde_json::from_value(json!({
            "request_id": id, "call_type": "chat_completion", "api_key": format!("{k:064x}"),
            "user_id": format!("u{}", k % 3), "model": format!("m{m}"), "model_group": "g",
            "provider": "openai", "endpoint": "/v1/chat/completions", "success": !k.is_multiple_of(4),
            "spend": spend, "prompt_tokens": k, "completion_tokens": m,
            "start_time": at.timestamp_micros(), "end_time": at.timestamp_micros(),
        }))
        .unwrap()
    };
    let mut events = Vec::new();
    for d in 0..6u64 {
        for k in 0..8 {
            for m in 0..2 {
                let spend = 0.1 * f64::from(k) + 0.01 * d as f64;
                events.push(event(
                    format!("r-{d}-{k}-{m}"),
                    first + chrono::Days::new(d),
                    k,
                    m,
                    spend,
                ));
            }
        }
    }
    gw.state.store.record_spend(&events).await.unwrap();
    let text = |path: String| {
        let url = format!("{}{path}", gw.url);
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(MASTER)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let range = format!("start_date={first}&end_date={today}");
    let aggregated = format!("/user/daily/activity/aggregated?{range}");
    let paginated = format!("/user/daily/activity?{range}&page_size=4");
    let (from_rows, page_from_rows) = (
        text(aggregated.clone()).await,
        text(paginated.clone()).await,
    );

    let raw = tollgate_store::SqlStore::connect(&tollgate_store::ConnectOptions::new(db.url()))
        .await
        .unwrap();
    let mut packs = 0;
    for _ in 0..500 {
        packs = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM daily_packs")
            .fetch_one(raw.pool())
            .await
            .unwrap();
        if packs == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        packs, 3,
        "the days five, four and three days ago are packed"
    );
    assert_eq!(text(aggregated.clone()).await, from_rows);
    assert_eq!(text(paginated).await, page_from_rows);

    let late = event("r-late".into(), first + chrono::Days::new(1), 1, 0, 2.5);
    gw.state.store.record_spend(&[late]).await.unwrap();
    let before: serde_json::Value = serde_json::from_str(&from_rows).unwrap();
    let after: serde_json::Value = serde_json::from_str(&text(aggregated).await).unwrap();
    let spend =
        |v: &serde_json::Value, i: usize| v["results"][i]["metrics"]["spend"].as_f64().unwrap();
    assert_eq!(
        after["results"][4]["date"],
        (first + chrono::Days::new(1)).to_string()
    );
    assert!(
        (spend(&after, 4) - spend(&before, 4) - 2.5).abs() < 1e-9,
        "{}",
        after["results"][4]
    );
    assert_eq!(spend(&after, 3), spend(&before, 3));
    assert_eq!(after["results"][4]["metrics"]["api_requests"], 17);
    gw.stop().await;
}

both!(
    closed_days_answer_the_same_from_their_packs,
    repeated_splits_read_as_their_own_entries,
    reports_by_every_entity,
    non_admins_see_only_their_own_activity,
    the_gateway_budget_stops_everyone,
    large_activity_answers_arrive_whole,
    keys_and_teams_first_seen_on_older_days_keep_their_names
);
