//! The sums behind the daily-activity answers: per day, metrics and their breakdown by model,
//! model group, provider, endpoint, API key and entity, each item with its own per-key split.
//!
//! A month of a large deployment is hundreds of thousands of rows and as many breakdown entries,
//! so every text of the rows is ranked once ([`Ranks`]) and the sums are keyed by rank: adding a
//! row hashes numbers instead of comparing names, and writing an object in name order sorts
//! numbers. [`super::write`] turns the days into JSON.

use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};
use tollgate_store::DailyRow;

/// Summed counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub api_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
}

impl Metrics {
    pub fn add(&mut self, r: &DailyRow) {
        self.spend += r.spend;
        self.prompt_tokens += r.prompt_tokens;
        self.completion_tokens += r.completion_tokens;
        self.cache_read_input_tokens += r.cache_read_input_tokens;
        self.cache_creation_input_tokens += r.cache_creation_input_tokens;
        self.api_requests += r.api_requests;
        self.successful_requests += r.successful_requests;
        self.failed_requests += r.failed_requests;
    }
}

/// The rank of a text: its place among the distinct texts of the rows, in sorted order.
pub type Rank = u32;

/// Every text of an answer's rows, ranked. Texts are told apart by address (the store hands out
/// one allocation per distinct text) and equal texts at different addresses share a rank.
pub struct Ranks {
    of: FxHashMap<usize, Rank>,
    names: Vec<Arc<str>>,
}

/// Where a text's one allocation is: how texts handed out by the store are told apart cheaply.
pub fn address(t: &Arc<str>) -> usize {
    Arc::as_ptr(t).cast::<u8>() as usize
}

impl Ranks {
    fn new<'a>(texts: impl Iterator<Item = &'a Arc<str>>) -> Self {
        let mut seen = FxHashSet::default();
        let mut all: Vec<&Arc<str>> = texts.filter(|t| seen.insert(address(t))).collect();
        all.sort_unstable();
        let mut names: Vec<Arc<str>> = Vec::new();
        let mut of = FxHashMap::with_capacity_and_hasher(all.len(), Default::default());
        for t in all {
            if names.last().is_none_or(|last| last != t) {
                names.push(Arc::clone(t));
            }
            of.insert(address(t), (names.len() - 1) as Rank);
        }
        Self { of, names }
    }

    /// The rank of a text the ranks were made from.
    fn rank(&self, t: &Arc<str>) -> Rank {
        self.of[&address(t)]
    }

    pub fn name(&self, rank: Rank) -> &str {
        &self.names[rank as usize]
    }

    /// The text of a rank, as the rows hold it.
    pub fn text(&self, rank: Rank) -> &Arc<str> {
        &self.names[rank as usize]
    }
}

/// Metrics of one breakdown item, with its own per-key split.
#[derive(Debug, Default)]
pub struct Item {
    pub metrics: Metrics,
    pub keys: FxHashMap<Rank, Metrics>,
}

/// One breakdown (models, providers, ...): its items by rank.
pub type Breakdown = FxHashMap<Rank, Item>;

/// One day of the answer, summed.
#[derive(Debug, Default)]
pub struct Day {
    pub date: Rank,
    pub metrics: Metrics,
    pub models: Breakdown,
    pub model_groups: Breakdown,
    pub providers: Breakdown,
    pub endpoints: Breakdown,
    pub api_keys: FxHashMap<Rank, Metrics>,
    pub entities: Breakdown,
}

fn bump(breakdown: &mut Breakdown, name: Rank, key: Rank, r: &DailyRow) {
    let item = breakdown.entry(name).or_default();
    item.metrics.add(r);
    item.keys.entry(key).or_default().add(r);
}

/// The days of an answer, newest first, and the names of their ranks.
pub struct Days {
    pub days: Vec<Day>,
    pub ranks: Ranks,
}

/// A row's provider; rows without one are reported under "unknown", as LiteLLM does.
fn provider<'a>(r: &'a DailyRow, unknown: &'a Arc<str>) -> &'a Arc<str> {
    if r.provider.is_empty() {
        unknown
    } else {
        &r.provider
    }
}

/// Sums `rows` (in any order; several rows may share a group) into days.
pub fn build(rows: &[DailyRow]) -> Days {
    let unknown: Arc<str> = Arc::from("unknown");
    let provider = |r| provider(r, &unknown);
    let ranks = Ranks::new(rows.iter().flat_map(|r| {
        [
            &r.date,
            &r.api_key,
            &r.model,
            &r.model_group,
            provider(r),
            &r.endpoint,
        ]
        .into_iter()
        .chain(&r.entity_id)
    }));
    let mut days: FxHashMap<Rank, Day> = FxHashMap::default();
    for r in rows {
        let key = ranks.rank(&r.api_key);
        let date = ranks.rank(&r.date);
        let day = days.entry(date).or_insert_with(|| Day {
            date,
            ..Day::default()
        });
        day.metrics.add(r);
        bump(&mut day.models, ranks.rank(&r.model), key, r);
        bump(&mut day.model_groups, ranks.rank(&r.model_group), key, r);
        bump(&mut day.providers, ranks.rank(provider(r)), key, r);
        bump(&mut day.endpoints, ranks.rank(&r.endpoint), key, r);
        day.api_keys.entry(key).or_default().add(r);
        if let Some(e) = &r.entity_id {
            bump(&mut day.entities, ranks.rank(e), key, r);
        }
    }
    let mut days: Vec<Day> = days.into_values().collect();
    days.sort_unstable_by_key(|d| std::cmp::Reverse(d.date));
    Days { days, ranks }
}

/// A map keyed by rank as pairs in name order.
pub fn sorted<V>(map: &FxHashMap<Rank, V>) -> Vec<(Rank, &V)> {
    let mut out: Vec<(Rank, &V)> = map.iter().map(|(k, v)| (*k, v)).collect();
    out.sort_unstable_by_key(|(k, _)| *k);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: &str, key: &str, model: &str, provider: &str, spend: f64) -> DailyRow {
        DailyRow {
            date: date.into(),
            api_key: key.into(),
            model: model.into(),
            model_group: model.into(),
            provider: provider.into(),
            spend,
            api_requests: 1,
            ..DailyRow::default()
        }
    }

    #[test]
    fn equal_texts_at_different_addresses_share_a_rank_in_sorted_order() {
        let (b1, b2, a): (Arc<str>, Arc<str>, Arc<str>) = ("b".into(), "b".into(), "a".into());
        let ranks = Ranks::new([&b1, &a, &b2].into_iter());
        assert_eq!(ranks.names.len(), 2);
        assert_eq!(
            (ranks.rank(&a), ranks.rank(&b1), ranks.rank(&b2)),
            (0, 1, 1)
        );
        assert_eq!(ranks.name(1), "b");
    }

    #[test]
    fn rows_sum_per_day_item_and_key_newest_day_first() {
        let rows = [
            row("2026-01-01", "k2", "m", "openai", 1.0),
            row("2026-01-02", "k1", "m", "", 2.0),
            row("2026-01-01", "k1", "n", "openai", 4.0),
            row("2026-01-01", "k2", "m", "openai", 8.0),
        ];
        let out = build(&rows);
        assert_eq!(out.days.iter().map(|d| d.metrics.spend).sum::<f64>(), 15.0);
        let names = |d: &Day| -> Vec<String> {
            sorted(&d.models)
                .into_iter()
                .map(|(r, _)| out.ranks.name(r).to_owned())
                .collect()
        };
        let (newest, oldest) = (&out.days[0], &out.days[1]);
        assert_eq!(out.ranks.name(newest.date), "2026-01-02");
        assert_eq!(
            out.ranks
                .name(newest.providers.keys().copied().next().unwrap()),
            "unknown"
        );
        assert_eq!(
            (oldest.metrics.spend, oldest.metrics.api_requests),
            (13.0, 3)
        );
        assert_eq!(names(oldest), ["m", "n"]);
        let m = sorted(&oldest.models)[0].1;
        assert_eq!(m.metrics.spend, 9.0);
        let keys: Vec<(&str, f64)> = sorted(&m.keys)
            .into_iter()
            .map(|(r, m)| (out.ranks.name(r), m.spend))
            .collect();
        assert_eq!(keys, [("k2", 9.0)]);
        assert_eq!(oldest.api_keys.len(), 2);
    }
}
