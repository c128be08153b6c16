//! Rate-limit counters: requests and tokens per fixed window (starting at the first request, as
//! LiteLLM's limiter does) and requests in flight. The [`RateLimiter`] trait is the seam: this
//! file holds the in-process implementation.

use foldhash::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// The window of rpm/tpm limits.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The limits of one descriptor (`key:<id>`, `team:<id>`, `key:<id>:model:<m>`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub key: String,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub parallel: Option<u64>,
}

/// What kind of limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitType {
    Requests,
    Tokens,
    Parallel,
}

impl LimitType {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitType::Requests => "requests",
            LimitType::Tokens => "tokens",
            LimitType::Parallel => "max_parallel_requests",
        }
    }
}

/// A refusal: which descriptor, which limit, and when its window ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub key: String,
    pub kind: LimitType,
    pub limit: u64,
    pub retry_after: Duration,
}

/// Remaining capacity after admission, for `x-ratelimit-*` headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remaining {
    pub rpm: Option<(u64, u64)>,
    pub tpm: Option<(u64, u64)>,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request against every limit, or refuses without counting any.
    async fn admit(&self, limits: &[Limit]) -> Result<Vec<Remaining>, Refusal>;
    /// Adds a finished request's tokens.
    async fn add_tokens(&self, keys: &[String], tokens: u64);
    /// Ends a request that counted against parallel limits.
    async fn release(&self, keys: &[String]);
    /// Ends such a request without waiting, where the limiter can: `false` means it did not,
    /// and [`RateLimiter::release`] must.
    fn release_now(&self, _keys: &[String]) -> bool {
        false
    }
    /// [`RateLimiter::admit`] without waiting, where the limiter can (its counters are in
    /// memory): `None` means it cannot, and `admit` must. Saves boxing a future per call.
    fn admit_now(&self, _limits: &[Limit]) -> Option<Result<Vec<Remaining>, Refusal>> {
        None
    }
    /// [`RateLimiter::add_tokens`] without waiting, where the limiter can: `false` means it did
    /// not, and `add_tokens` must.
    fn add_tokens_now(&self, _keys: &[String], _tokens: u64) -> bool {
        false
    }
}

#[derive(Debug)]
struct Slot {
    start: Instant,
    requests: u64,
    tokens: u64,
    in_flight: u64,
}

impl Slot {
    fn fresh(now: Instant) -> Self {
        Slot {
            start: now,
            requests: 0,
            tokens: 0,
            in_flight: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.start) >= WINDOW {
            self.start = now;
            self.requests = 0;
            self.tokens = 0;
        }
    }

    fn retry_after(&self, now: Instant) -> Duration {
        WINDOW
            .saturating_sub(now.duration_since(self.start))
            .max(Duration::from_secs(1))
    }
}

/// Counters in this process.
#[derive(Debug, Default)]
pub struct LocalRateLimiter {
    slots: Mutex<HashMap<String, Slot>>,
}

impl LocalRateLimiter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Slot>) -> T) -> T {
        let mut m = match self.slots.lock() {
            Ok(m) => m,
            Err(p) => p.into_inner(),
        };
        f(&mut m)
    }
}

/// Runs `f` on the slot of `key`, made fresh when it has none; the key is copied only then (an
/// entry would take an owned key on every call).
fn with_slot<T>(
    slots: &mut HashMap<String, Slot>,
    key: &str,
    now: Instant,
    f: impl FnOnce(&mut Slot) -> T,
) -> T {
    match slots.get_mut(key) {
        Some(slot) => f(slot),
        None => f(slots
            .entry(key.to_owned())
            .or_insert_with(|| Slot::fresh(now))),
    }
}

fn check(slot: &Slot, l: &Limit, now: Instant) -> Result<(), Refusal> {
    let refuse = |kind, limit, retry_after| Refusal {
        key: l.key.clone(),
        kind,
        limit,
        retry_after,
    };
    if let Some(rpm) = l.rpm.filter(|r| slot.requests >= *r) {
        return Err(refuse(LimitType::Requests, rpm, slot.retry_after(now)));
    }
    if let Some(tpm) = l.tpm.filter(|t| slot.tokens >= *t) {
        return Err(refuse(LimitType::Tokens, tpm, slot.retry_after(now)));
    }
    if let Some(p) = l.parallel.filter(|p| slot.in_flight >= *p) {
        return Err(refuse(LimitType::Parallel, p, Duration::from_secs(1)));
    }
    Ok(())
}

impl LocalRateLimiter {
    fn admit_in_memory(&self, limits: &[Limit]) -> Result<Vec<Remaining>, Refusal> {
        let now = Instant::now();
        self.with(|slots| {
            if slots.len() > 100_000 {
                slots.retain(|_, s| s.in_flight > 0 || now.duration_since(s.start) < WINDOW);
            }
            for l in limits {
                with_slot(slots, &l.key, now, |slot| {
                    slot.roll(now);
                    check(slot, l, now)
                })?;
            }
            let remaining = limits
                .iter()
                .map(|l| {
                    with_slot(slots, &l.key, now, |slot| {
                        slot.requests += 1;
                        if l.parallel.is_some() {
                            slot.in_flight += 1;
                        }
                        Remaining {
                            rpm: l.rpm.map(|r| (r, r.saturating_sub(slot.requests))),
                            tpm: l.tpm.map(|t| (t, t.saturating_sub(slot.tokens))),
                        }
                    })
                })
                .collect();
            Ok(remaining)
        })
    }

    fn add_tokens_in_memory(&self, keys: &[String], tokens: u64) {
        let now = Instant::now();
        self.with(|slots| {
            for k in keys {
                with_slot(slots, k, now, |slot| {
                    slot.roll(now);
                    slot.tokens += tokens;
                });
            }
        });
    }

    fn release_in_memory(&self, keys: &[String]) {
        self.with(|slots| {
            for k in keys {
                if let Some(slot) = slots.get_mut(k) {
                    slot.in_flight = slot.in_flight.saturating_sub(1);
                }
            }
        });
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn admit(&self, limits: &[Limit]) -> Result<Vec<Remaining>, Refusal> {
        self.admit_in_memory(limits)
    }

    async fn add_tokens(&self, keys: &[String], tokens: u64) {
        self.add_tokens_in_memory(keys, tokens);
    }

    async fn release(&self, keys: &[String]) {
        self.release_in_memory(keys);
    }

    fn release_now(&self, keys: &[String]) -> bool {
        self.release_in_memory(keys);
        true
    }

    fn admit_now(&self, limits: &[Limit]) -> Option<Result<Vec<Remaining>, Refusal>> {
        Some(self.admit_in_memory(limits))
    }

    fn add_tokens_now(&self, keys: &[String], tokens: u64) -> bool {
        self.add_tokens_in_memory(keys, tokens);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(rpm: Option<u64>, tpm: Option<u64>, parallel: Option<u64>) -> Limit {
        Limit {
            key: "key:a".into(),
            rpm,
            tpm,
            parallel,
        }
    }

    #[tokio::test]
    async fn rpm_admits_exactly_the_limit() {
        let rl = LocalRateLimiter::new();
        let l = [limit(Some(3), None, None)];
        for _ in 0..3 {
            rl.admit(&l).await.unwrap();
        }
        let r = rl.admit(&l).await.unwrap_err();
        assert_eq!(r.kind, LimitType::Requests);
        assert!(r.retry_after <= WINDOW);
    }

    #[tokio::test]
    async fn a_refusal_counts_nothing_anywhere() {
        let rl = LocalRateLimiter::new();
        let open = Limit {
            key: "team:t".into(),
            rpm: Some(10),
            tpm: None,
            parallel: None,
        };
        let full = limit(Some(0), None, None);
        rl.admit(&[open.clone(), full]).await.unwrap_err();
        let rem = rl.admit(&[open]).await.unwrap();
        assert_eq!(rem[0].rpm, Some((10, 9)));
    }

    #[tokio::test]
    async fn tokens_and_parallel() {
        let rl = LocalRateLimiter::new();
        let l = [limit(None, Some(100), Some(1))];
        rl.admit(&l).await.unwrap();
        assert_eq!(rl.admit(&l).await.unwrap_err().kind, LimitType::Parallel);
        rl.release(&["key:a".into()]).await;
        rl.add_tokens(&["key:a".into()], 100).await;
        assert_eq!(rl.admit(&l).await.unwrap_err().kind, LimitType::Tokens);
    }

    #[tokio::test]
    async fn the_in_memory_limiter_answers_without_waiting_and_counts_the_same() {
        let rl = LocalRateLimiter::new();
        let limiter: &dyn RateLimiter = &*rl;
        let l = [limit(Some(3), Some(100), Some(1))];
        let rem = limiter.admit_now(&l).expect("in memory").unwrap();
        assert_eq!((rem[0].rpm, rem[0].tpm), (Some((3, 2)), Some((100, 100))));
        // The parallel slot is taken until released, whichever way.
        let refused = limiter.admit_now(&l).expect("in memory").unwrap_err();
        assert_eq!(refused.kind, LimitType::Parallel);
        assert!(limiter.release_now(&["key:a".into()]));
        assert!(limiter.add_tokens_now(&["key:a".into()], 40));
        let rem = limiter.admit(&l).await.unwrap();
        assert_eq!((rem[0].rpm, rem[0].tpm), (Some((3, 1)), Some((100, 60))));
        limiter.release(&["key:a".into()]).await;
        assert!(limiter.add_tokens_now(&["key:a".into()], 60));
        let refused = limiter.admit_now(&l).expect("in memory").unwrap_err();
        assert_eq!(refused.kind, LimitType::Tokens);
    }
}
