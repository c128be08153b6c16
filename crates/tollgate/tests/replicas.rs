//! Several replicas on one database and one Redis behave as one gateway: rate limits and budget
//! spend are exact across them, and a Redis that is down only makes limits per replica. Each
//! test uses its own Redis key prefix and removes its keys at the end. Without a reachable
//! Redis the tests are skipped, except under `CI=true`, where they fail.

use std::time::Duration;

use serde_json::{json, Value};
use tollgate::limits::rate::Limit;
use tollgate::limits::redis::RedisLimits;
use tollgate_testkit::{FakeOpenAi, TestDb};

use crate::common::{Gateway, MASTER};
use crate::inference::{config, GPT4O_IN, GPT4O_OUT};

pub(crate) fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A connection to the test Redis, or `None` (skip) when it is unreachable outside CI.
pub(crate) async fn redis() -> Option<redis::aio::MultiplexedConnection> {
    let attempt = async {
        let client = redis::Client::open(redis_url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    };
    match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(conn)) => Some(conn),
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer within 2 s".to_owned(),
            };
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "Redis is required in CI: {why}"
            );
            None
        }
    }
}

pub(crate) fn prefix() -> String {
    format!("tollgate-test:{}:", uuid::Uuid::new_v4())
}

/// Deletes every key under `prefix`.
async fn flush(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<i64>(conn)
            .await
            .unwrap();
    }
}

/// The test Redis, a fresh key prefix, and two replicas' Redis limits on it; `None`: skip.
async fn replicas_limits() -> Option<(
    redis::aio::MultiplexedConnection,
    String,
    RedisLimits,
    RedisLimits,
)> {
    let conn = redis().await?;
    let prefix = prefix();
    let a = RedisLimits::open(&redis_url(), &prefix).unwrap();
    let b = RedisLimits::open(&redis_url(), &prefix).unwrap();
    Some((conn, prefix, a, b))
}

/// A rate-limit descriptor.
fn limit(key: &str, rpm: Option<u64>, tpm: Option<u64>, parallel: Option<u64>) -> Limit {
    Limit {
        key: key.into(),
        rpm,
        tpm,
        parallel,
    }
}

async fn database() -> TestDb {
    match TestDb::postgres().await {
        Some(db) => db,
        None => TestDb::sqlite(),
    }
}

/// `n` gateways on one database, with `redis_url` and the key prefix.
async fn replicas(
    db: &TestDb,
    yaml: &str,
    n: usize,
    redis_url: &str,
    prefix: &str,
) -> Vec<Gateway> {
    let env = [
        ("LITELLM_MASTER_KEY", MASTER),
        ("REDIS_URL", redis_url),
        ("TOLLGATE_REDIS_PREFIX", prefix),
    ];
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Gateway::start_config(db, Some(yaml), &env).await);
    }
    out
}

async fn chat(gw: &Gateway, key: &str) -> u16 {
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]});
    let resp = gw
        .request("/v1/chat/completions")
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let _ = resp.json::<Value>().await;
    status
}

/// A fake upstream whose answers report 12 prompt and 8 completion tokens, and what such a call
/// costs on `gpt-4o`.
async fn priced_upstream() -> (FakeOpenAi, f64) {
    let up = FakeOpenAi::start().await;
    up.set_usage(12, 8);
    (up, 12.0 * GPT4O_IN + 8.0 * GPT4O_OUT)
}

async fn stop(gws: Vec<Gateway>) {
    for gw in gws {
        gw.stop().await;
    }
}

#[tokio::test]
async fn rpm_is_exact_across_three_replicas() {
    let Some(mut conn) = redis().await else {
        return;
    };
    let prefix = prefix();
    let up = FakeOpenAi::start().await;
    let db = database().await;
    let gws = replicas(&db, &config(&up.url()), 3, &redis_url(), &prefix).await;
    let key = gws[0].key(json!({"rpm_limit": 30})).await;
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..45 {
        match chat(&gws[i % 3], &key).await {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, limited), (30, 15));
    stop(gws).await;
    flush(&mut conn, &prefix).await;
}

#[tokio::test]
async fn budget_is_shared_across_replicas() {
    let Some(mut conn) = redis().await else {
        return;
    };
    let prefix = prefix();
    let (up, cost) = priced_upstream().await;
    // Spend reaches the database late, so only Redis tells a replica what the other spent.
    let yaml = config(&up.url()).replace("proxy_batch_write_at: 0.05", "proxy_batch_write_at: 30");
    let db = database().await;
    let gws = replicas(&db, &yaml, 2, &redis_url(), &prefix).await;
    let allowed = 4;
    let key = gws[0]
        .key(json!({"max_budget": (f64::from(allowed) - 0.5) * cost}))
        .await;
    let mut ok = 0;
    for i in 0..12 {
        match chat(&gws[i % 2], &key).await {
            200 => ok += 1,
            400 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    // At most one in-flight request per replica beyond the budget; sequential calls have none.
    assert!(ok >= allowed && ok <= allowed + 2, "{ok} calls succeeded");
    assert_eq!(ok, allowed);
    stop(gws).await;
    flush(&mut conn, &prefix).await;
}

#[tokio::test]
async fn redis_down_falls_back_to_per_replica_limits() {
    let up = FakeOpenAi::start().await;
    let db = database().await;
    let gws = replicas(&db, &config(&up.url()), 2, "redis://127.0.0.1:1", &prefix()).await;
    let key = gws[0].key(json!({"rpm_limit": 2})).await;
    for gw in &gws {
        assert_eq!(chat(gw, &key).await, 200);
        assert_eq!(chat(gw, &key).await, 200);
        assert_eq!(chat(gw, &key).await, 429);
    }
    stop(gws).await;
}

/// A parallel slot is shared by the replicas: a call in flight holds it on every replica, and a
/// client that calls one replica after the other never finds its own finished call still
/// counted.
#[tokio::test]
async fn a_parallel_slot_is_free_for_the_next_call_on_any_replica() {
    let Some(mut conn) = redis().await else {
        return;
    };
    let prefix = prefix();
    let up = FakeOpenAi::start().await;
    let db = database().await;
    let gws = replicas(&db, &config(&up.url()), 2, &redis_url(), &prefix).await;
    let key = gws[0].key(json!({"max_parallel_requests": 1})).await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(chat(&gws[i % 2], &key).await);
    }
    assert_eq!(statuses, [200; 30]);
    up.set_latency(Duration::from_millis(300));
    let (first, second) = tokio::join!(chat(&gws[0], &key), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        chat(&gws[1], &key).await
    });
    assert_eq!((first, second), (200, 429));
    stop(gws).await;
    flush(&mut conn, &prefix).await;
}

#[tokio::test]
async fn parallel_and_token_limits_are_shared() {
    use tollgate::limits::rate::LimitType;
    let Some((mut conn, prefix, a, b)) = replicas_limits().await else {
        return;
    };
    let limits = [limit("api_key:k", None, Some(100), Some(1))];
    let keys = ["api_key:k".to_owned()];
    a.admit(&limits).await.unwrap().unwrap();
    let refused = b.admit(&limits).await.unwrap().unwrap_err();
    assert_eq!(refused.kind, LimitType::Parallel);
    a.release(&keys).await.unwrap();
    b.add_tokens(&keys, 100).await.unwrap();
    let refused = a.admit(&limits).await.unwrap().unwrap_err();
    assert_eq!(refused.kind, LimitType::Tokens);
    assert!(refused.retry_after <= Duration::from_secs(60));
    flush(&mut conn, &prefix).await;
}

/// Only descriptors with a parallel limit send an in-flight key: each counts on its own, with
/// its safety expiry, and a refusal names the right descriptor.
#[tokio::test]
async fn in_flight_counters_belong_to_the_descriptors_with_a_parallel_limit() {
    use redis::AsyncCommands;
    use tollgate::limits::rate::LimitType;
    let Some((mut conn, prefix, limits, _)) = replicas_limits().await else {
        return;
    };
    let set = [
        limit("api_key:a", Some(100), None, None),
        limit("team:b", Some(100), None, Some(1)),
        limit("user:c", Some(100), None, Some(2)),
    ];
    let ok = limits.admit(&set).await.unwrap().unwrap();
    assert_eq!(ok.len(), 3);
    assert!(ok.iter().all(|r| r.rpm == Some((100, 99))), "{ok:?}");
    let inflight = |d: &str| format!("{prefix}rl:{d}:inflight");
    let count = |n: Option<i64>| n.unwrap_or(0);
    assert_eq!(count(conn.get(inflight("api_key:a")).await.unwrap()), 0);
    assert_eq!(count(conn.get(inflight("team:b")).await.unwrap()), 1);
    assert_eq!(count(conn.get(inflight("user:c")).await.unwrap()), 1);
    let ttl: i64 = conn.pttl(inflight("user:c")).await.unwrap();
    assert!(ttl > 0 && ttl <= 15 * 60 * 1000, "{ttl}");
    let refused = limits.admit(&set).await.unwrap().unwrap_err();
    assert_eq!(
        (refused.kind, refused.key.as_str()),
        (LimitType::Parallel, "team:b")
    );
    // The refusal counted nothing anywhere.
    assert_eq!(count(conn.get(inflight("user:c")).await.unwrap()), 1);
    let r: Option<i64> = conn
        .hget(format!("{prefix}rl:api_key:a"), "r")
        .await
        .unwrap();
    assert_eq!(r, Some(1));
    flush(&mut conn, &prefix).await;
}

#[tokio::test]
async fn a_window_expires_from_its_first_request_and_reports_its_tokens() {
    let Some((mut conn, prefix, a, b)) = replicas_limits().await else {
        return;
    };
    let limits = [limit("api_key:w", Some(10), Some(100), None)];
    let window = format!("{prefix}rl:api_key:w");
    async fn pttl(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
        redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
    }
    let first = a.admit(&limits).await.unwrap().unwrap();
    assert_eq!(first[0].rpm, Some((10, 9)));
    assert_eq!(first[0].tpm, Some((100, 100)));
    let opened = pttl(&mut conn, &window).await;
    assert!(opened > 0 && opened <= 60_000, "{opened}");
    b.add_tokens(&["api_key:w".to_owned()], 30).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = b.admit(&limits).await.unwrap().unwrap();
    assert_eq!(second[0].rpm, Some((10, 8)));
    assert_eq!(second[0].tpm, Some((100, 70)));
    // Later requests do not push the window's end back.
    assert!(pttl(&mut conn, &window).await < opened);
    // A window found without an expiry (written by hand, say) gets one when it refuses.
    redis::cmd("PERSIST")
        .arg(&window)
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    redis::cmd("HSET")
        .arg(&window)
        .arg("r")
        .arg(10)
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    let refused = a.admit(&limits).await.unwrap().unwrap_err();
    assert!(refused.retry_after <= Duration::from_secs(60));
    let healed = pttl(&mut conn, &window).await;
    assert!(healed > 0 && healed <= 60_000, "{healed}");
    // Tokens of a call whose window ended meanwhile open the next window, with its expiry, and
    // tokens added to it later leave that expiry as it is.
    redis::cmd("DEL")
        .arg(&window)
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
    b.add_tokens(&["api_key:w".to_owned()], 40).await.unwrap();
    let reopened = pttl(&mut conn, &window).await;
    assert!(reopened > 0 && reopened <= 60_000, "{reopened}");
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.add_tokens(&["api_key:w".to_owned()], 5).await.unwrap();
    assert!(pttl(&mut conn, &window).await < reopened);
    let third = a.admit(&limits).await.unwrap().unwrap();
    assert_eq!(third[0].tpm, Some((100, 55)));
    flush(&mut conn, &prefix).await;
}

/// A settlement is sent without waiting for its reply, and another replica's next admission
/// must see it even when Redis has just forgotten every script: no one would be there to send
/// it again in time, so it goes in full.
#[tokio::test]
async fn settlements_sent_without_waiting_count_also_after_redis_forgets_its_scripts() {
    let Some((mut conn, prefix, a, b)) = replicas_limits().await else {
        return;
    };
    let limits = [limit("api_key:s", None, Some(100), None)];
    let keys = ["api_key:s".to_owned()];
    a.admit(&limits).await.unwrap().unwrap();
    b.admit(&limits).await.unwrap().unwrap();
    for (tokens, left) in [(10, 90), (20, 70)] {
        // The second time, Redis has forgotten every script.
        if left == 70 {
            redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async::<()>(&mut conn)
                .await
                .unwrap();
        }
        assert!(a.settle_unawaited(&[], 0.0, &keys, tokens));
        // The client's next call, on the other replica, after the response.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let remaining = b.admit(&limits).await.unwrap().unwrap();
        assert_eq!(remaining[0].tpm, Some((100, left)));
    }
    flush(&mut conn, &prefix).await;
}

#[tokio::test]
async fn one_round_trip_reads_budgets_and_counts_only_requests_with_room() {
    use tollgate::limits::redis::BudgetProbe;
    use tollgate::limits::Entity;
    let Some((mut conn, prefix, a, b)) = replicas_limits().await else {
        return;
    };
    let team = |known: f64| BudgetProbe {
        entity: Entity::Team("t".into()),
        known,
        max: 1.0,
    };
    let limits = [limit("team:t", Some(10), None, None)];
    // The counter starts from what the first replica knows; the request is counted.
    let gate = a.gate(&[team(0.25)], &limits).await.unwrap();
    assert_eq!(gate.spend, [0.25]);
    let remaining = gate.admission.unwrap().unwrap();
    assert_eq!(remaining[0].rpm, Some((10, 9)));
    // Another replica's cost reaches the counter, and the next gate sees it.
    b.settle(&[Entity::Team("t".into())], 0.5, &[], 0)
        .await
        .unwrap();
    let gate = b.gate(&[team(0.0)], &limits).await.unwrap();
    assert_eq!(gate.spend, [0.75]);
    assert_eq!(gate.admission.unwrap().unwrap()[0].rpm, Some((10, 8)));
    // Spent (by the counter, or by what a replica knows): nothing is counted.
    b.settle(&[Entity::Team("t".into())], 0.25, &[], 0)
        .await
        .unwrap();
    let gate = a.gate(&[team(0.0)], &limits).await.unwrap();
    assert_eq!(gate.spend, [1.0]);
    assert!(gate.admission.is_none());
    let mut fresh = team(1.5);
    fresh.entity = Entity::Team("u".into());
    assert!(a.gate(&[fresh], &limits).await.unwrap().admission.is_none());
    let remaining = a.admit(&limits).await.unwrap().unwrap();
    assert_eq!(remaining[0].rpm, Some((10, 7)));
    // Costs small enough to be written with an exponent (`2.5e-8`) add up like any other.
    let mut tiny = team(1e-7);
    tiny.entity = Entity::Team("v".into());
    assert_eq!(a.gate(&[tiny.clone()], &[]).await.unwrap().spend, [1e-7]);
    for _ in 0..2 {
        b.settle(&[Entity::Team("v".into())], 2.5e-8, &[], 0)
            .await
            .unwrap();
    }
    let spend = b.gate(&[tiny], &[]).await.unwrap().spend[0];
    assert!((spend - 1.5e-7).abs() < 1e-15, "{spend}");
    flush(&mut conn, &prefix).await;
}

#[tokio::test]
async fn requests_refused_for_budget_do_not_use_the_rate_limit() {
    let Some(mut conn) = redis().await else {
        return;
    };
    let prefix = prefix();
    let (up, cost) = priced_upstream().await;
    let db = database().await;
    // One replica: its own ledger has every cost before the next call (no race with the
    // settle round trip), so the refusals are exact.
    let gws = replicas(&db, &config(&up.url()), 1, &redis_url(), &prefix).await;
    let key = gws[0]
        .key(json!({"max_budget": 1.5 * cost, "rpm_limit": 100}))
        .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(chat(&gws[0], &key).await);
    }
    assert_eq!(statuses, [200, 200, 400, 400, 400, 400]);
    let windows: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}rl:api_key:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let counted: i64 = redis::cmd("HGET")
        .arg(&windows[0])
        .arg("r")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(counted, 2);
    stop(gws).await;
    flush(&mut conn, &prefix).await;
}

/// A Redis URL with a user, a password and a database number is honoured, a wrong password is
/// an error (which the gateway turns into per-replica limits), and scripts Redis has forgotten
/// are sent again.
#[tokio::test]
async fn scripts_reach_redis_with_a_user_a_database_and_after_a_script_flush() {
    let Some(mut conn) = redis().await else {
        return;
    };
    let prefix = prefix();
    let user = format!("tollgate-test-{}", uuid::Uuid::new_v4());
    redis::cmd("ACL")
        .arg(&["SETUSER", &user, "on", ">sesame", "~*", "+@all"])
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let host = redis::Client::open(redis_url())
        .unwrap()
        .get_connection_info()
        .addr()
        .to_string();
    let base = format!("redis://{host}");
    let limits = [limit("api_key:k", Some(5), None, None)];

    let wrong = RedisLimits::open(&format!("redis://{user}:nope@{host}/3"), &prefix).unwrap();
    let e = wrong.admit(&limits).await.unwrap_err();
    assert!(
        e.to_string()
            .to_lowercase()
            .contains("authentication failed"),
        "{e}"
    );

    let limited = RedisLimits::open(&format!("redis://{user}:sesame@{host}/3"), &prefix).unwrap();
    let remaining = limited.admit(&limits).await.unwrap().unwrap();
    assert_eq!(remaining[0].rpm, Some((5, 4)));
    // Redis forgets its scripts (a restart, SCRIPT FLUSH): they are sent again.
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let remaining = limited.admit(&limits).await.unwrap().unwrap();
    assert_eq!(remaining[0].rpm, Some((5, 3)));

    // The counter lives in database 3, not in the default one.
    let window = format!("{prefix}rl:api_key:k");
    async fn exists(url: String, key: &str) -> i64 {
        let client = redis::Client::open(url).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<i64>(&mut c)
            .await
            .unwrap()
    }
    let in_db = |db: u8| exists(format!("{base}/{db}"), &window);
    assert_eq!((in_db(3).await, in_db(0).await), (1, 0));

    let client = redis::Client::open(format!("{base}/3")).unwrap();
    let mut db3 = client.get_multiplexed_async_connection().await.unwrap();
    flush(&mut db3, &prefix).await;
    redis::cmd("ACL")
        .arg(&["DELUSER", &user])
        .query_async::<i64>(&mut conn)
        .await
        .unwrap();
}
