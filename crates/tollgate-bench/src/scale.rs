//! The scale cases (`--scale`): auth with 100,000 keys against 10, the 30-day aggregated
//! analytics query on SQLite and PostgreSQL, and RSS over a million requests.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tollgate_store::{ConnectOptions, SpendEvent};

use crate::load::{self, Target};
use crate::procs;
use crate::stats::percentile;
use crate::tollgate::{self as tg, Env, Variant, MASTER_KEY};

/// Keys in the large auth case.
const MANY_KEYS: usize = 100_000;
/// Requests per auth measurement.
const AUTH_SAMPLES: usize = 2_000;
/// Keys each auth gateway uses for its cached samples (all of the small gateway's).
const WARM_KEYS: usize = 10;
/// Analytics seed: days × keys × models.
const DAYS: u64 = 30;
const SEED_KEYS: usize = 1_000;
const MODELS: usize = 10;

/// Auth latency with a number of keys in the database, µs.
#[derive(Debug, Clone, Serialize)]
pub struct AuthCase {
    pub keys_in_db: usize,
    /// Valid keys already in the cache: p50, p99.
    pub cached_p50_us: u64,
    pub cached_p99_us: u64,
    /// First use of a valid key (cache miss, database lookup): p50, p99.
    pub first_use_p50_us: u64,
    pub first_use_p99_us: u64,
    /// Unknown keys (always a database lookup, answered 401): p50, p99.
    pub unknown_p50_us: u64,
    pub unknown_p99_us: u64,
}

/// The 30-day aggregated query on one backend.
#[derive(Debug, Clone, Serialize)]
pub struct AnalyticsCase {
    pub backend: String,
    pub daily_rows: u64,
    pub p50_ms: f64,
    pub max_ms: f64,
    /// The first answer: the one that reads the closed days from their rows and packs them.
    pub first_ms: f64,
    /// Every answer's time, in the order they were asked for.
    pub times_ms: Vec<f64>,
    pub response_bytes: usize,
}

/// RSS along a long run.
#[derive(Debug, Clone, Serialize)]
pub struct RssGrowth {
    pub idle_kb: u64,
    /// (requests so far, VmRSS kB) after each one-second slice of the run.
    pub samples: Vec<(u64, u64)>,
    /// Median RSS of the first samples after the warm-up (the first tenth of the requests).
    pub warm_kb: u64,
    /// Median RSS of the last samples.
    pub end_kb: u64,
    /// Lowest and highest sample after the warm-up.
    pub min_kb: u64,
    pub max_kb: u64,
    /// Growth from `warm_kb` to `end_kb`, percent.
    pub growth_pct: f64,
}

/// Samples compared at each end of the run: single samples move by ±15 % with the allocator's
/// and SQLite's caches, so each end is the median of a few seconds.
const RSS_WINDOW: usize = 10;

impl RssGrowth {
    /// Judges `samples` of a run of `total` requests: the first tenth is warm-up; the median of
    /// the first [`RSS_WINDOW`] samples after it against the median of the last ones.
    fn of(idle_kb: u64, samples: Vec<(u64, u64)>, total: u64) -> Option<Self> {
        let after: Vec<u64> = samples
            .iter()
            .filter(|s| s.0 >= total / 10)
            .map(|s| s.1)
            .collect();
        let w = (after.len() / 3).clamp(1, RSS_WINDOW);
        let median = |xs: &[u64]| {
            let mut xs = xs.to_vec();
            xs.sort_unstable();
            xs.get(xs.len() / 2).copied()
        };
        let warm_kb = median(after.get(..w)?)?.max(1);
        let end_kb = median(&after[after.len() - w..])?;
        Some(Self {
            idle_kb,
            warm_kb,
            end_kb,
            min_kb: after.iter().copied().min()?,
            max_kb: after.iter().copied().max()?,
            growth_pct: (end_kb as f64 - warm_kb as f64) / warm_kb as f64 * 100.0,
            samples,
        })
    }
}

/// Everything `--scale` measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ScaleReport {
    pub auth: Vec<AuthCase>,
    pub analytics: Vec<AnalyticsCase>,
    pub rss: Option<RssGrowth>,
    /// Cases that could not run, and why.
    pub skipped: Vec<String>,
}

fn say(msg: &str) {
    crate::say(msg);
}

/// Runs the scale cases named in `cases` (`auth`, `analytics`, `rss`).
pub async fn run(
    env: &Env,
    upstream: SocketAddr,
    rss_requests: u64,
    cases: &[String],
) -> anyhow::Result<ScaleReport> {
    let wanted = |c: &str| cases.iter().any(|x| x == c);
    let mut report = ScaleReport::default();
    if wanted("auth") {
        match auth(env, upstream).await {
            Ok(cases) => report.auth = cases,
            Err(e) => report.skipped.push(format!("auth: {e:#}")),
        }
    }
    if wanted("analytics") {
        for backend in ["sqlite", "postgres"] {
            match analytics(env, upstream, backend).await {
                Ok(case) => report.analytics.push(case),
                Err(e) => report
                    .skipped
                    .push(format!("analytics on {backend}: {e:#}")),
            }
        }
    }
    if wanted("rss") {
        match rss(env, upstream, rss_requests).await {
            Ok(r) => report.rss = Some(r),
            Err(e) => report.skipped.push(format!("RSS growth: {e:#}")),
        }
    }
    Ok(report)
}

/// Latencies (µs) of one request per key, in order, on one connection.
/// A keep-alive connection to one gateway, for timing single calls.
struct Probe {
    addr: SocketAddr,
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
}

impl Probe {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            sender: crate::servers::connect(addr).await?,
        })
    }

    /// One chat call with `key`, timed from sending to the whole answer; 200 or 401 expected.
    async fn time(&mut self, key: &str) -> anyhow::Result<u64> {
        use http_body_util::BodyExt as _;
        if self.sender.is_closed() {
            self.sender = crate::servers::connect(self.addr).await?;
        }
        self.sender.ready().await?;
        let req = hyper::Request::post("/v1/chat/completions")
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"))
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                load::CHAT_BODY.as_bytes(),
            )))?;
        let start = Instant::now();
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        let took = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        anyhow::ensure!(
            status.is_success() || status.as_u16() == 401,
            "auth case: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(took)
    }
}

fn unknown_keys(n: usize) -> Vec<String> {
    (0..n)
        .map(|_| format!("sk-unknown-{}", uuid::Uuid::new_v4().simple()))
        .collect()
}

async fn make_keys(addr: SocketAddr, n: usize) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let batch = (n - keys.len()).min(16);
        let tasks: Vec<_> = (0..batch)
            .map(|_| tokio::spawn(async move { tg::make_key(addr, None).await }))
            .collect();
        for t in tasks {
            keys.push(t.await??);
        }
        if keys.len() % 10_000 == 0 {
            say(&format!("scale: {} keys made", keys.len()));
        }
    }
    say(&format!(
        "scale: {n} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(keys)
}

/// One gateway of the auth case: its keys and the samples taken from it.
struct AuthSide {
    keys_in_db: usize,
    probe: Probe,
    /// Keys already used (cached).
    warm: Vec<String>,
    /// Keys not used yet (their first use loads them from the database).
    fresh: Vec<String>,
    cached: Vec<u64>,
    first_use: Vec<u64>,
    unknown: Vec<u64>,
}

impl AuthSide {
    async fn new(addr: SocketAddr, keys: Vec<String>) -> anyhow::Result<Self> {
        let mut probe = Probe::open(addr).await?;
        let (warm, fresh) = keys.split_at(WARM_KEYS.min(keys.len()));
        // Warming a key is its first use.
        let mut first_use = Vec::with_capacity(warm.len());
        for key in warm {
            first_use.push(probe.time(key).await?);
        }
        Ok(Self {
            keys_in_db: keys.len(),
            probe,
            warm: warm.to_vec(),
            fresh: fresh.to_vec(),
            cached: Vec::new(),
            first_use,
            unknown: Vec::new(),
        })
    }

    /// A cached key's call and an unknown key's.
    async fn round(&mut self, i: usize) -> anyhow::Result<()> {
        let key = &self.warm[i % self.warm.len()];
        self.cached.push(self.probe.time(key).await?);
        self.unknown
            .push(self.probe.time(&unknown_keys(1)[0]).await?);
        Ok(())
    }

    /// First uses of keys not used before, while there are any.
    async fn first_uses(&mut self, n: usize) -> anyhow::Result<()> {
        for _ in 0..n {
            let Some(key) = self.fresh.pop() else { break };
            self.first_use.push(self.probe.time(&key).await?);
        }
        Ok(())
    }

    fn case(mut self) -> AuthCase {
        for v in [&mut self.cached, &mut self.first_use, &mut self.unknown] {
            v.sort_unstable();
        }
        AuthCase {
            keys_in_db: self.keys_in_db,
            cached_p50_us: percentile(&self.cached, 50.0),
            cached_p99_us: percentile(&self.cached, 99.0),
            first_use_p50_us: percentile(&self.first_use, 50.0),
            first_use_p99_us: percentile(&self.first_use, 99.0),
            unknown_p50_us: percentile(&self.unknown, 50.0),
            unknown_p99_us: percentile(&self.unknown, 99.0),
        }
    }
}

/// Two gateways side by side, one with 10 keys in its database and one with 100,000, each on
/// a keep-alive connection. First the cached and unknown keys' samples, the two gateways taking
/// turns and doing the same calls: the same ten keys' worth of spend to write, so that the
/// only difference between them is the size of the database. Then the large gateway's first
/// uses (each a key that starts spending, which its writer then has to record); the small one's
/// are its ten keys' warm-up.
async fn auth(env: &Env, upstream: SocketAddr) -> anyhow::Result<Vec<AuthCase>> {
    let small = tg::start(Variant::SqliteJournalTmpfs, env, upstream).await?;
    let large = match tg::start(Variant::SqliteJournalTmpfs, env, upstream).await {
        Ok(l) => l,
        Err(e) => {
            small.stop();
            return Err(e);
        }
    };
    let result = async {
        let mut few = make_keys(small.server.addr, 9).await?;
        few.push(small.key.clone());
        let mut many = make_keys(large.server.addr, MANY_KEYS - 1).await?;
        many.push(large.key.clone());
        let mut a = AuthSide::new(small.server.addr, few).await?;
        let mut b = AuthSide::new(large.server.addr, many).await?;
        for i in 0..AUTH_SAMPLES {
            a.round(i).await?;
            b.round(i).await?;
        }
        b.first_uses(AUTH_SAMPLES).await?;
        anyhow::Ok(vec![a.case(), b.case()])
    }
    .await;
    small.stop();
    large.stop();
    result
}

fn seed_events(day: u64, first_day: NaiveDate) -> anyhow::Result<Vec<SpendEvent>> {
    let date = first_day
        .checked_add_days(Days::new(day))
        .ok_or_else(|| anyhow::anyhow!("date out of range"))?;
    let noon = date
        .and_hms_opt(12, 0, 0)
        .ok_or_else(|| anyhow::anyhow!("bad time"))?;
    let at = Utc.from_utc_datetime(&noon);
    let mut out = Vec::with_capacity(SEED_KEYS * MODELS);
    for k in 0..SEED_KEYS {
        for m in 0..MODELS {
            out.push(SpendEvent {
                request_id: format!("seed-{day}-{k}-{m}"),
                call_type: "chat_completion".into(),
                api_key: format!("{k:064x}"),
                key_id: Some(format!("key-{k}")),
                key_alias: Some(format!("alias-{k}")),
                user_id: Some(format!("user-{}", k % 100)),
                team_id: Some(format!("team-{}", k % 20)),
                organization_id: None,
                end_user: None,
                tags: Vec::new(),
                model: format!("model-{m}").into(),
                model_id: None,
                model_group: format!("model-{m}"),
                provider: "openai".into(),
                api_base: None,
                endpoint: "/v1/chat/completions".into(),
                success: true,
                spend: 0.001,
                prompt_tokens: 10,
                completion_tokens: 20,
                cache_read_input_tokens: 0,
                cache_creation_input_tokens: 0,
                start_time: at,
                end_time: at,
                completion_start_time: None,
                metadata: Default::default(),
            });
        }
    }
    Ok(out)
}

/// Seeds 30 days × 1,000 keys × 10 models into a fresh database, then times the query.
async fn analytics(
    env: &Env,
    upstream: SocketAddr,
    backend: &str,
) -> anyhow::Result<AnalyticsCase> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (url, drop_db) = match backend {
        "sqlite" => (
            format!(
                "sqlite://{}",
                env.disk_dir.join(format!("analytics-{id}.db")).display()
            ),
            None,
        ),
        _ => {
            let db = format!("tollgate_bench_analytics_{id}");
            tg::psql(&env.postgres, &format!("CREATE DATABASE {db}"))?;
            (format!("{}/{db}", env.postgres), Some(db))
        }
    };
    let result = seed_and_query(env, upstream, backend, &url).await;
    if let Some(db) = drop_db {
        let _ = tg::psql(
            &env.postgres,
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        );
    }
    result
}

async fn seed_and_query(
    env: &Env,
    upstream: SocketAddr,
    backend: &str,
    url: &str,
) -> anyhow::Result<AnalyticsCase> {
    let first_day = Utc::now()
        .date_naive()
        .checked_sub_days(Days::new(DAYS))
        .ok_or_else(|| anyhow::anyhow!("date out of range"))?;
    let started = Instant::now();
    {
        let store = tollgate_store::open(&ConnectOptions::new(url)).await?;
        for day in 0..DAYS {
            for chunk in seed_events(day, first_day)?.chunks(2_000) {
                store.record_spend(chunk).await?;
            }
        }
    }
    say(&format!(
        "scale: seeded {} daily rows on {backend} in {:.1} s",
        DAYS * (SEED_KEYS * MODELS) as u64,
        started.elapsed().as_secs_f64()
    ));
    let running = tg::start_on(env, upstream, &format!("tollgate on {backend}"), url)?;
    let addr = running.server.addr;
    let last_day = first_day
        .checked_add_days(Days::new(DAYS - 1))
        .ok_or_else(|| anyhow::anyhow!("date out of range"))?;
    let path =
        format!("/user/daily/activity/aggregated?start_date={first_day}&end_date={last_day}");
    let result = async {
        let mut times = Vec::new();
        let mut bytes = 0;
        let began = Instant::now();
        // Five runs, or fewer when each takes seconds.
        while times.len() < 5 && (times.is_empty() || began.elapsed() < Duration::from_secs(10)) {
            let start = Instant::now();
            let got = load::fetch(addr, &path, MASTER_KEY).await?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(
                got.status.is_success(),
                "{path}: {} {}",
                got.status,
                &got.head[..got.head.len().min(300)]
            );
            // A whole answer: the days, then the totals of every seeded request at its end.
            let total = format!(
                "\"total_api_requests\":{}",
                DAYS * (SEED_KEYS * MODELS) as u64
            );
            anyhow::ensure!(
                got.head.starts_with("{\"results\":[{\"date\":")
                    && got.tail.contains(&total)
                    && got.tail.ends_with('}'),
                "{path}: not a full answer: {} ... {}",
                got.head,
                got.tail
            );
            bytes = got.bytes;
        }
        let times_ms = times.clone();
        times.sort_by(f64::total_cmp);
        Ok(AnalyticsCase {
            backend: backend.to_owned(),
            daily_rows: DAYS * (SEED_KEYS * MODELS) as u64,
            p50_ms: times[times.len() / 2],
            max_ms: times.last().copied().unwrap_or(0.0),
            first_ms: times_ms[0],
            times_ms,
            response_bytes: bytes,
        })
    }
    .await;
    running.stop();
    result
}

/// RSS of one process from start through `total` requests at 32 connections.
async fn rss(env: &Env, upstream: SocketAddr, total: u64) -> anyhow::Result<RssGrowth> {
    let running = tg::start(Variant::SqliteJournalTmpfs, env, upstream).await?;
    let pid = running.server.pid();
    let idle_kb = procs::rss_kb(pid).unwrap_or(0);
    let target = Target {
        addr: running.server.addr,
        key: Some(running.key.clone()),
        stream: false,
    };
    let result = async {
        let (mut done, mut samples) = (0u64, Vec::new());
        while done < total {
            let s = load::run(&target, 32, Duration::ZERO, Duration::from_secs(1)).await?;
            anyhow::ensure!(s.requests > 0, "no request succeeded");
            done += s.requests + s.errors;
            samples.push((done, procs::rss_kb(pid).unwrap_or(0)));
        }
        anyhow::Ok(samples)
    }
    .await;
    running.stop();
    let growth = RssGrowth::of(idle_kb, result?, total)
        .ok_or_else(|| anyhow::anyhow!("the run gave no RSS samples"))?;
    say(&format!(
        "scale: RSS {idle_kb} kB idle, {} kB warm, {} kB after {total} requests",
        growth.warm_kb, growth.end_kb
    ));
    Ok(growth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_growth_compares_medians_after_the_warm_up() {
        // 100 requests; the first tenth is warm-up (low RSS, left out); one spike at each end.
        let mut samples: Vec<(u64, u64)> = (1..=4).map(|i| (i * 2, 10)).collect();
        samples.extend((10..=100).step_by(3).map(|n| (n, 100)));
        samples[4].1 = 500;
        let last = samples.len() - 1;
        samples[last].1 = 1;
        let g = RssGrowth::of(7, samples, 100).unwrap();
        assert_eq!((g.idle_kb, g.warm_kb, g.end_kb), (7, 100, 100));
        assert_eq!((g.min_kb, g.max_kb), (1, 500));
        assert_eq!(g.growth_pct, 0.0);
    }

    #[test]
    fn rss_growth_sees_a_steady_climb() {
        let samples: Vec<(u64, u64)> = (0..=40).map(|i| (i * 10, 100 + i * 5)).collect();
        let g = RssGrowth::of(50, samples, 400).unwrap();
        assert!(g.growth_pct > 50.0, "{}", g.growth_pct);
        assert!(RssGrowth::of(50, Vec::new(), 400).is_none());
    }
}
