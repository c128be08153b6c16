//! The increments a batch of newly recorded spend events makes, summed in memory. Every map is
//! ordered by primary key, so that writers apply them in one global order (table, then key) and
//! concurrent batches on PostgreSQL lock rows in the same order: they may wait, never deadlock.

use std::collections::{BTreeMap, BTreeSet};

use crate::spend::{EntityType, SpendEvent};
use crate::table::Kind;

/// The unique key of a `daily_spend` row. Field order is column order, so sorting by it sorts by
/// the table's primary key. Its text borrows from the batch's events.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct DailyKey<'a> {
    pub entity_type: EntityType,
    pub entity_id: &'a str,
    pub date: Day,
    pub api_key: &'a str,
    pub model: &'a str,
    pub model_group: &'a str,
    pub provider: &'a str,
    pub endpoint: &'a str,
}

/// A UTC day as `YYYY-MM-DD`, kept inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Day([u8; 10]);

impl Day {
    fn of(t: chrono::DateTime<chrono::Utc>) -> Self {
        let mut out = [b'0'; 10];
        let text = t.format("%Y-%m-%d").to_string();
        if text.len() == 10 {
            out.copy_from_slice(text.as_bytes());
        }
        Self(out)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("1970-01-01")
    }
}

impl std::fmt::Debug for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The counters of a `daily_spend` row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Counters {
    pub spend: f64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cache_read_input_tokens: i64,
    pub cache_creation_input_tokens: i64,
    pub api_requests: i64,
    pub successful_requests: i64,
    pub failed_requests: i64,
}

impl Counters {
    fn of(e: &SpendEvent) -> Self {
        Self {
            spend: e.spend,
            prompt_tokens: e.prompt_tokens,
            completion_tokens: e.completion_tokens,
            cache_read_input_tokens: e.cache_read_input_tokens,
            cache_creation_input_tokens: e.cache_creation_input_tokens,
            api_requests: 1,
            successful_requests: i64::from(e.success),
            failed_requests: i64::from(!e.success),
        }
    }

    fn add(&mut self, o: &Self) {
        self.spend += o.spend;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cache_read_input_tokens += o.cache_read_input_tokens;
        self.cache_creation_input_tokens += o.cache_creation_input_tokens;
        self.api_requests += o.api_requests;
        self.successful_requests += o.successful_requests;
        self.failed_requests += o.failed_requests;
    }
}

/// The entity tables whose spend a batch adds to in place, in the order every writer applies
/// them.
pub(super) const UPDATED: [Kind; 5] = [
    Kind::Key,
    Kind::User,
    Kind::Team,
    Kind::TeamMember,
    Kind::Org,
];

/// Spend deltas by primary key (one or two columns).
pub(super) type Deltas<'a> = BTreeMap<Vec<&'a str>, f64>;

/// The sums of a batch, borrowing every id from its events: summing allocates only for a key
/// seen for the first time in the batch.
#[derive(Debug, Default)]
pub(super) struct Increments<'a> {
    pub keys: Deltas<'a>,
    pub users: Deltas<'a>,
    pub teams: Deltas<'a>,
    pub team_members: Deltas<'a>,
    pub organizations: Deltas<'a>,
    /// Customers are upserted: the first request of an end user creates its row.
    pub customers: BTreeMap<&'a str, f64>,
    /// `spend_counters` by (scope, id).
    pub counters: BTreeMap<(&'static str, &'a str), f64>,
    pub daily: BTreeMap<DailyKey<'a>, Counters>,
}

/// An id that is set and not empty.
pub(super) fn id<S: AsRef<str>>(v: &Option<S>) -> Option<&str> {
    v.as_ref().map(AsRef::as_ref).filter(|s| !s.is_empty())
}

fn bump<'a>(map: &mut Deltas<'a>, pk: &[&'a str], spend: f64) {
    match map.get_mut(pk) {
        Some(v) => *v += spend,
        None => {
            map.insert(pk.to_vec(), spend);
        }
    }
}

impl<'a> Increments<'a> {
    /// The days, in order, that this batch writes to late
    /// ([`super::daily_pack::DaysBefore::written_late`]): their packs are then out of date.
    pub fn late_days(&self, today: chrono::NaiveDate) -> BTreeSet<Day> {
        let late = super::daily_pack::DaysBefore::written_late(today);
        self.daily
            .keys()
            .map(|k| k.date)
            .filter(|d| late.contains(d.as_str()))
            .collect()
    }

    pub fn of(events: impl IntoIterator<Item = &'a SpendEvent>) -> Self {
        let mut inc = Self::default();
        // Most events of a batch start on the same day: format it once per run of them.
        let mut day: Option<(i64, Day)> = None;
        for e in events {
            let n = e.start_time.timestamp().div_euclid(86_400);
            let date = match day {
                Some((d, date)) if d == n => date,
                _ => {
                    let date = Day::of(e.start_time);
                    day = Some((n, date));
                    date
                }
            };
            inc.add(e, date);
        }
        inc
    }

    /// The entity tables updated in place ([`UPDATED`]), with their deltas.
    pub fn updates(&self) -> [(Kind, &Deltas<'a>); 5] {
        let [k, u, t, m, o] = UPDATED;
        [
            (k, &self.keys),
            (u, &self.users),
            (t, &self.teams),
            (m, &self.team_members),
            (o, &self.organizations),
        ]
    }

    fn add(&mut self, e: &'a SpendEvent, date: Day) {
        let spend = e.spend;
        let (user, team, org) = (id(&e.user_id), id(&e.team_id), id(&e.organization_id));
        let customer = id(&e.end_user);
        if let Some(k) = id(&e.key_id) {
            bump(&mut self.keys, &[k], spend);
        }
        if let Some(u) = user {
            bump(&mut self.users, &[u], spend);
        }
        if let Some(t) = team {
            bump(&mut self.teams, &[t], spend);
        }
        if let (Some(t), Some(u)) = (team, user) {
            bump(&mut self.team_members, &[t, u], spend);
        }
        if let Some(o) = org {
            bump(&mut self.organizations, &[o], spend);
        }
        if let Some(c) = customer {
            *self.customers.entry(c).or_default() += spend;
        }
        // A tag repeated on one request counts once.
        let tags: BTreeSet<&str> = e
            .tags
            .iter()
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        for tag in &tags {
            *self.counters.entry(("tag", *tag)).or_default() += spend;
        }
        *self.counters.entry(("global", "global")).or_default() += spend;

        // Every request has a user row, "" when it has no user, so that the gateway-wide user
        // report (LiteLLM's DailyUserSpend) covers all traffic.
        let entities = [
            (EntityType::User, Some(user.unwrap_or(""))),
            (EntityType::Team, team),
            (EntityType::Organization, org),
            (EntityType::Customer, customer),
        ]
        .into_iter()
        .filter_map(|(kind, id)| id.map(|id| (kind, id)))
        .chain(tags.iter().map(|t| (EntityType::Tag, *t)));
        let counters = Counters::of(e);
        for (entity_type, entity_id) in entities {
            let key = DailyKey {
                entity_type,
                entity_id,
                date,
                api_key: &e.api_key,
                model: &e.model,
                model_group: &e.model_group,
                provider: &e.provider,
                endpoint: &e.endpoint,
            };
            self.daily.entry(key).or_default().add(&counters);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn event(id: &str, spend: f64) -> SpendEvent {
        SpendEvent {
            request_id: id.into(),
            call_type: "chat_completion".into(),
            api_key: "hash".into(),
            key_id: Some("k1".into()),
            key_alias: None,
            user_id: Some("u1".into()),
            team_id: Some("t1".into()),
            organization_id: Some(String::new()),
            end_user: None,
            tags: vec!["a".into(), "a".into(), String::new()],
            model: "gpt-4o".into(),
            model_id: None,
            model_group: "gpt-4o".into(),
            provider: "openai".into(),
            api_base: None,
            endpoint: "/v1/chat/completions".into(),
            success: spend > 0.0,
            spend,
            prompt_tokens: 10,
            completion_tokens: 5,
            cache_read_input_tokens: 0,
            cache_creation_input_tokens: 0,
            start_time: Utc.with_ymd_and_hms(2025, 3, 1, 23, 59, 59).unwrap(),
            end_time: Utc.with_ymd_and_hms(2025, 3, 2, 0, 0, 1).unwrap(),
            completion_start_time: None,
            metadata: Default::default(),
        }
    }

    #[test]
    fn the_json_columns_are_serdes_text_with_or_without_values() {
        let mut e = event("r1", 1.0);
        for _ in 0..2 {
            assert_eq!(
                e.tags_json().unwrap(),
                serde_json::to_string(&e.tags).unwrap()
            );
            assert_eq!(
                e.metadata_json().unwrap(),
                serde_json::to_string(&e.metadata).unwrap()
            );
            e.tags.clear();
            e.metadata.insert("error_status".into(), 502.into());
        }
    }

    #[test]
    fn sums_by_entity_and_day() {
        let events = [event("r1", 0.5), event("r2", 0.0)];
        let inc = Increments::of(&events);
        assert_eq!(inc.keys[&vec!["k1"]], 0.5);
        assert_eq!(inc.team_members[&vec!["t1", "u1"]], 0.5);
        // An empty organization id is no organization; a repeated tag counts once.
        assert!(inc.organizations.is_empty());
        assert_eq!(inc.counters[&("tag", "a")], 0.5);
        assert_eq!(inc.counters.len(), 2);
        // user, team, tag "a"; the day is the start's, in UTC.
        assert_eq!(inc.daily.len(), 3);
        let (key, c) = inc.daily.iter().next().unwrap();
        assert_eq!(key.date.as_str(), "2025-03-01");
        assert_eq!(
            (c.api_requests, c.successful_requests, c.failed_requests),
            (2, 1, 1)
        );
        assert_eq!(c.prompt_tokens, 20);
    }
}
