//! What each deployment is doing on this replica: calls in flight, requests and tokens in the
//! current minute, and the latency of its last calls. The routing strategies read these figures;
//! the proxy feeds them. Kept in memory per replica, keyed by deployment id, so that they survive
//! a router rebuilt when models change. The hot path takes a read lock and a hash lookup, then
//! only atomics (and a short lock for a latency sample); an entry is allocated once per id.

use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many recent latencies are averaged (LiteLLM keeps 10 too).
const LATENCY_SAMPLES: usize = 10;

/// The load figures of every deployment seen on this replica.
#[derive(Debug)]
pub struct Loads {
    by_id: RwLock<FxHashMap<String, Arc<Load>>>,
    /// Seconds since the Unix epoch; replaced in tests.
    clock: fn() -> u64,
}

impl Default for Loads {
    fn default() -> Self {
        Loads::with_clock(unix_secs)
    }
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Loads {
    pub fn with_clock(clock: fn() -> u64) -> Self {
        Loads {
            by_id: RwLock::new(FxHashMap::default()),
            clock,
        }
    }

    /// The current minute, as counted by the per-minute figures.
    pub fn minute(&self) -> u64 {
        (self.clock)() / 60
    }

    /// Seconds left in the current minute (at least 1).
    pub fn secs_to_next_minute(&self) -> u64 {
        (60 - (self.clock)() % 60).max(1)
    }

    /// The figures of a deployment, if it was ever used here.
    pub fn get(&self, id: &str) -> Option<Arc<Load>> {
        let map = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        map.get(id).cloned()
    }

    /// The figures of a deployment, created on first use.
    pub fn entry(&self, id: &str) -> Arc<Load> {
        if let Some(l) = self.get(id) {
            return l;
        }
        let mut map = self.by_id.write().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }

    /// A call to `id` starts: one more in flight and one more request this minute. The call is
    /// in flight until the returned guard is dropped.
    pub fn begin(&self, id: &str) -> Busy {
        let load = self.entry(id);
        load.in_flight.fetch_add(1, Ordering::Relaxed);
        load.roll(self.minute());
        load.requests.fetch_add(1, Ordering::Relaxed);
        Busy(load)
    }

    /// Tokens a finished call used, counted against its deployment's minute.
    pub fn add_tokens(&self, id: &str, tokens: u64) {
        let load = self.entry(id);
        load.roll(self.minute());
        load.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// A call to `id` answered after `took`.
    pub fn add_latency(&self, id: &str, took: Duration) {
        self.entry(id).add_latency(took);
    }

    /// Requests and tokens of `id` in the current minute.
    pub fn this_minute(&self, id: &str) -> (u64, u64) {
        self.get(id)
            .map_or((0, 0), |l| l.this_minute(self.minute()))
    }

    /// Calls to `id` in flight now.
    pub fn in_flight(&self, id: &str) -> u64 {
        self.get(id)
            .map_or(0, |l| l.in_flight.load(Ordering::Relaxed))
    }

    /// Average of the recent latencies of `id`, in seconds; `None` before its first answer.
    pub fn latency(&self, id: &str) -> Option<f64> {
        self.get(id).and_then(|l| l.average_latency())
    }
}

/// The figures of one deployment.
#[derive(Debug, Default)]
pub struct Load {
    in_flight: AtomicU64,
    /// The minute `requests` and `tokens` count.
    minute: AtomicU64,
    requests: AtomicU64,
    tokens: AtomicU64,
    latency: Mutex<Samples>,
}

impl Load {
    /// Starts the counters over when a new minute began. Two callers racing at the turn of a
    /// minute may lose an increment: the figures steer routing, they do not bill.
    fn roll(&self, now: u64) {
        let seen = self.minute.load(Ordering::Relaxed);
        if seen != now
            && self
                .minute
                .compare_exchange(seen, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.requests.store(0, Ordering::Relaxed);
            self.tokens.store(0, Ordering::Relaxed);
        }
    }

    fn this_minute(&self, now: u64) -> (u64, u64) {
        if self.minute.load(Ordering::Relaxed) != now {
            return (0, 0);
        }
        (
            self.requests.load(Ordering::Relaxed),
            self.tokens.load(Ordering::Relaxed),
        )
    }

    fn add_latency(&self, took: Duration) {
        let mut s = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let at = s.next;
        s.values[at] = took.as_secs_f64();
        s.next = (at + 1) % LATENCY_SAMPLES;
        s.len = (s.len + 1).min(LATENCY_SAMPLES);
    }

    fn average_latency(&self) -> Option<f64> {
        let s = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        (s.len > 0).then(|| s.values[..s.len].iter().sum::<f64>() / s.len as f64)
    }
}

/// A ring of the last latencies, in seconds.
#[derive(Debug, Default)]
struct Samples {
    values: [f64; LATENCY_SAMPLES],
    len: usize,
    next: usize,
}

/// A call in flight; dropping it ends the call.
#[derive(Debug)]
pub struct Busy(Arc<Load>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    static NOW: AtomicU64 = AtomicU64::new(600);

    fn now() -> u64 {
        NOW.load(Ordering::Relaxed)
    }

    #[test]
    fn in_flight_follows_the_guards_and_counters_roll_each_minute() {
        let loads = Loads::with_clock(now);
        let a = loads.begin("d");
        let b = loads.begin("d");
        assert_eq!(loads.in_flight("d"), 2);
        drop(a);
        assert_eq!(loads.in_flight("d"), 1);
        loads.add_tokens("d", 30);
        assert_eq!(loads.this_minute("d"), (2, 30));
        NOW.store(660, Ordering::Relaxed);
        assert_eq!(loads.this_minute("d"), (0, 0));
        drop(loads.begin("d"));
        assert_eq!(loads.this_minute("d"), (1, 0));
        drop(b);
        assert_eq!(loads.in_flight("d"), 0);
        assert_eq!(loads.in_flight("never"), 0);
    }

    #[test]
    fn latency_is_the_average_of_the_last_samples() {
        let loads = Loads::default();
        assert_eq!(loads.latency("d"), None);
        for ms in [100, 300] {
            loads.add_latency("d", Duration::from_millis(ms));
        }
        assert!((loads.latency("d").unwrap() - 0.2).abs() < 1e-9);
        for _ in 0..LATENCY_SAMPLES {
            loads.add_latency("d", Duration::from_millis(50));
        }
        assert!((loads.latency("d").unwrap() - 0.05).abs() < 1e-9);
    }
}
