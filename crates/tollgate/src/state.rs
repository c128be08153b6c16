//! The application state: one cheaply cloned handle to the shared parts, handed to every
//! handler (a clone is one reference count, not one per part).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use tokio_util::task::TaskTracker;
use tollgate_store::Store;

use crate::auth::KeyCache;
use crate::config::Settings;
use crate::limits::ledger::Ledger;
use crate::limits::rate::{LocalRateLimiter, RateLimiter};
use crate::limits::redis::RedisLimits;
use crate::limits::shared::SharedLimits;
use crate::proxy::CustomerCache;
use crate::router::cooldown::Cooldowns;
use crate::router::{Balancer, Deployment, DeploymentError, Router, Strategy};
use crate::spend::journal::Journal;
use crate::spend::pricing::PriceTable;
use crate::spend::writer::SpendWriter;

/// How long cached keys and customers live without an invalidation.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// Shared state of one gateway process; fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Shared {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyCache>,
    pub customers: Arc<CustomerCache>,
    router: Arc<RwLock<Arc<Router>>>,
    pub prices: Arc<PriceTable>,
    pub ledger: Arc<Ledger>,
    pub limiter: Arc<dyn RateLimiter>,
    /// Rate limits and budget spend shared by every replica through Redis (`None` without
    /// Redis); the same object as `limiter` then.
    pub shared_limits: Option<Arc<SharedLimits>>,
    pub upstream: tollgate_llm::openai::Client,
    pub spend: SpendWriter,
    /// Work that must finish before shutdown completes (stream relays).
    pub tasks: TaskTracker,
    /// When the database last failed to answer; lookups skip it for a moment after that.
    pub db_down: Arc<DbBreaker>,
    /// This process's id in change messages between replicas.
    pub replica_id: String,
    /// Failing deployments cooling down (shared through Redis when configured).
    pub cooldowns: Arc<Cooldowns>,
    /// The `routing_strategy` and the load figures of this replica's deployments.
    pub balancer: Arc<Balancer>,
}

/// Remembers a database failure for a few seconds, so that requests during an outage serve
/// cached keys at once instead of each waiting for a connection first.
#[derive(Debug, Default)]
pub struct DbBreaker {
    until_ms: std::sync::atomic::AtomicI64,
}

impl DbBreaker {
    const HOLD_MS: i64 = 2_000;

    pub fn trip(&self) {
        let until = chrono::Utc::now().timestamp_millis() + Self::HOLD_MS;
        self.until_ms
            .store(until, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_open(&self) -> bool {
        chrono::Utc::now().timestamp_millis()
            < self.until_ms.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl AppState {
    /// Builds the state; starts the spend writer (journaling to `journal`, when given) on the
    /// current runtime.
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        prices: PriceTable,
        journal: Option<Journal>,
    ) -> Result<Self, StateError> {
        let interval = settings
            .config
            .general_settings
            .proxy_batch_write_at
            .unwrap_or(10.0);
        let spend = SpendWriter::start(
            store.clone(),
            Duration::from_secs_f64(interval.clamp(0.01, 3600.0)),
            journal,
        );
        let ttl = settings
            .config
            .general_settings
            .user_api_key_cache_ttl
            .filter(|t| *t > 0.0 && t.is_finite())
            .map_or(CACHE_TTL, Duration::from_secs_f64);
        let (limiter, shared_limits, cooldowns) = limits(&settings)?;
        let balancer = Arc::new(balancer(&settings));
        Ok(Self(Arc::new(Shared {
            settings: Arc::new(settings),
            keys: Arc::new(KeyCache::new(100_000, ttl)),
            customers: Arc::new(CustomerCache::new(ttl)),
            router: Arc::new(RwLock::new(Arc::new(Router::default()))),
            prices: Arc::new(prices),
            ledger: Arc::new(Ledger::new()),
            limiter,
            shared_limits,
            upstream: tollgate_llm::openai::Client::new(),
            spend,
            tasks: TaskTracker::new(),
            db_down: Arc::new(DbBreaker::default()),
            replica_id: uuid::Uuid::new_v4().to_string(),
            cooldowns,
            balancer,
            store,
        })))
    }

    /// The current router (replaced when models change).
    pub fn router(&self) -> Arc<Router> {
        match self.router.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Drops every cached key and customer (changes to budgets and organizations).
    pub fn invalidate_all(&self) {
        self.keys.invalidate_all();
        self.customers.invalidate_all();
    }

    /// Installs a new router.
    pub fn set_router(&self, router: Router) {
        let mut slot = match self.router.write() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        *slot = Arc::new(router);
    }
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("redis_url: {0}")]
    Redis(#[from] crate::limits::redis_link::RedisError),
}

/// The rate limiter and, with Redis, the shared limits (the same object).
type Limits = (
    Arc<dyn RateLimiter>,
    Option<Arc<SharedLimits>>,
    Arc<Cooldowns>,
);

/// The rate limiter and shared spend: in Redis when it is configured, else in this process.
fn limits(settings: &Settings) -> Result<Limits, StateError> {
    let router = &settings.config.router_settings;
    let allowed_fails = router.allowed_fails.unwrap_or(3);
    let cooldown = Duration::from_secs_f64(
        router
            .cooldown_time
            .filter(|c| *c >= 0.0 && c.is_finite())
            .unwrap_or(5.0),
    );
    let Some(url) = &settings.redis_url else {
        let cooldowns = Arc::new(Cooldowns::new(allowed_fails, cooldown, None));
        return Ok((LocalRateLimiter::new(), None, cooldowns));
    };
    let redis = Arc::new(RedisLimits::open(url.expose(), &settings.redis_prefix)?);
    let cooldowns = Arc::new(Cooldowns::new(allowed_fails, cooldown, Some(redis.clone())));
    let shared = Arc::new(SharedLimits {
        redis,
        local: LocalRateLimiter::new(),
    });
    Ok((shared.clone(), Some(shared), cooldowns))
}

/// The configured `routing_strategy` (checked when the config was loaded; simple-shuffle when
/// unset), with `routing_strategy_args.lowest_latency_buffer` for latency-based routing.
fn balancer(settings: &Settings) -> Balancer {
    let router = &settings.config.router_settings;
    let strategy = match router.routing_strategy.as_deref().and_then(Strategy::parse) {
        Some(Strategy::LowestLatency { .. }) => Strategy::LowestLatency {
            buffer: router
                .routing_strategy_args
                .get("lowest_latency_buffer")
                .and_then(Value::as_f64)
                .filter(|b| *b >= 0.0 && b.is_finite())
                .unwrap_or(0.0),
        },
        Some(s) => s,
        None => Strategy::SimpleShuffle,
    };
    Balancer::new(strategy)
}

/// The default bound on an upstream call (`litellm_settings.request_timeout`, else 600 s).
pub fn default_timeout(settings: &Settings) -> Duration {
    Duration::from_secs_f64(
        settings
            .config
            .litellm_settings
            .request_timeout
            .filter(|t| *t > 0.0 && t.is_finite())
            .unwrap_or(600.0),
    )
}

/// The deployments of the config's `model_list`.
pub fn config_deployments(settings: &Settings) -> Result<Vec<Deployment>, DeploymentError> {
    let env = |name: &str| std::env::var(name).ok();
    let timeout = default_timeout(settings);
    settings
        .config
        .model_list
        .iter()
        .map(|e| Deployment::from_entry(e, false, timeout, &env))
        .collect()
}

/// `router_settings.model_group_alias`: public name → model group.
pub fn aliases(settings: &Settings) -> BTreeMap<String, String> {
    settings
        .config
        .router_settings
        .model_group_alias
        .iter()
        .filter_map(|(k, v)| {
            let target = v
                .as_str()
                .or_else(|| v.get("model").and_then(Value::as_str))?;
            Some((k.clone(), target.to_owned()))
        })
        .collect()
}
