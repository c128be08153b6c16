//! Closed days of the daily aggregates kept as one value each ("packs"), so that a report over a
//! month reads thirty values instead of walking a row per (day, entity, key, model): for a large
//! deployment that walk, and turning each row's fifteen columns into values, was most of a
//! month's answer (and on PostgreSQL, the server sending 300,000 rows).
//!
//! A day is packed by the first unfiltered report that reads it after it closed, from the rows
//! that report read, and the pack is stored with the day's version. The spend writer bumps a
//! day's version (`daily_versions`) in the transaction that writes to it late
//! ([`DaysBefore::written_late`]: a journal replayed, spend imported), so a pack whose version
//! is not the day's current one is never served: the day is read from its rows again and
//! packed anew. Days are packed only once the writer would mark a write to them
//! ([`DaysBefore::packable`], a day's margin for replicas whose clocks disagree), so that normal
//! writes, all of today, never touch the versions.
//!
//! A pack is a table of the day's distinct texts followed by its rows in the order they were
//! read, each row's texts as indices into the table:
//!
//! ```text
//! format (u8 = 1) · text count · (length · UTF-8 bytes)* · row count ·
//! (entity · key · model · model group · provider · endpoint   as text indices,
//!  spend as f64 little-endian,
//!  prompt, completion, cache read, cache creation, requests, successes, failures   as zigzag)*
//! ```
//!
//! Counts, lengths and indices are LEB128 varints. A pack that does not decode is treated as
//! missing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Days, NaiveDate};

use super::analytics::Names;
use crate::spend::{DailyQuery, DailyRow};
use crate::{Result, StoreError};

const FORMAT: u8 = 1;

/// The statement reading the packs of a range whose version is the day's current one, newest
/// first (`$1` entity type, `$2` first day, `$3` last day).
pub(super) const VALID_PACKS: &str = "SELECT p.date, p.body FROM daily_packs p \
     LEFT JOIN daily_versions v ON v.date = p.date \
     WHERE p.entity_type = $1 AND p.date >= $2 AND p.date <= $3 \
     AND p.version = COALESCE(v.version, 0) ORDER BY p.date DESC";

/// The versions of the days of a range that have one (`$1` first day, `$2` last day); a day
/// without one is at version 0.
pub(super) const VERSIONS: &str =
    "SELECT date, version FROM daily_versions WHERE date >= $1 AND date <= $2";

/// Stores a pack unless one of a later version is there already.
pub(super) const STORE_PACK: &str = "INSERT INTO daily_packs (entity_type, date, version, body) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (entity_type, date) DO UPDATE \
     SET version = excluded.version, body = excluded.body \
     WHERE excluded.version >= daily_packs.version";

/// Marks a day changed by a late write, in the writer's transaction.
pub(super) const BUMP_VERSION: &str = "INSERT INTO daily_versions (date, version) VALUES ($1, 1) \
     ON CONFLICT (date) DO UPDATE SET version = daily_versions.version + 1";

/// The days (UTC, `YYYY-MM-DD`) before a bound, which is worked out once and compared as text.
pub(super) struct DaysBefore(Option<String>);

impl DaysBefore {
    /// The days a write to is late: two days or more before `today`.
    pub fn written_late(today: NaiveDate) -> Self {
        Self::of(today, 1)
    }

    /// The days a report may pack: three days or more before `today`.
    pub fn packable(today: NaiveDate) -> Self {
        Self::of(today, 2)
    }

    /// `date < today - days`.
    fn of(today: NaiveDate, days: u64) -> Self {
        Self(
            today
                .checked_sub_days(Days::new(days))
                .map(|d| d.to_string()),
        )
    }

    pub fn contains(&self, date: &str) -> bool {
        self.0.as_deref().is_some_and(|bound| date < bound)
    }
}

/// Whether a query reads whole days: packs hold every row of a day, unfiltered.
pub(super) fn whole_days(q: &DailyQuery) -> bool {
    q.entity_ids.is_empty()
        && q.exclude_entity_ids.is_empty()
        && q.model.is_none()
        && q.api_key.is_none()
}

/// A pack read from the database.
pub(super) struct StoredPack {
    pub date: String,
    pub body: Vec<u8>,
}

/// A pack made from a day's rows, to be stored once the report is answered.
pub(super) struct NewPack {
    pub date: Arc<str>,
    pub version: i64,
    pub body: Vec<u8>,
}

/// What a report over a range reads, newest first.
#[derive(Debug, PartialEq)]
pub(super) enum Segment {
    /// The pack at this index of the packs (newest first).
    Pack(usize),
    /// The rows of the days `from..=to`, which have no pack.
    Rows { from: String, to: String },
}

/// The segments of `start..=end` around the days `packed` (newest first, each inside the
/// range); `None` when a date does not parse.
pub(super) fn segments(start: &str, end: &str, packed: &[&str]) -> Option<Vec<Segment>> {
    let parse = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let mut out = Vec::with_capacity(2 * packed.len() + 1);
    // The newest day not yet covered.
    let mut top = Some(parse(end)?);
    let start = parse(start)?;
    for (i, date) in packed.iter().enumerate() {
        let day = parse(date)?;
        if let Some(t) = top.filter(|t| *t > day) {
            let from = day.succ_opt()?;
            out.push(Segment::Rows {
                from: from.to_string(),
                to: t.to_string(),
            });
        }
        out.push(Segment::Pack(i));
        top = day.pred_opt();
    }
    if let Some(t) = top.filter(|t| *t >= start) {
        out.push(Segment::Rows {
            from: start.to_string(),
            to: t.to_string(),
        });
    }
    Some(out)
}

/// Packs the closed days a report reads from rows.
pub(super) struct Packer {
    /// The versions of the report's days that have one.
    versions: HashMap<String, i64>,
    packable: DaysBefore,
    /// Whether the report's rows carry their entity.
    with_entity: bool,
    /// The packs made.
    pub new: Vec<NewPack>,
}

impl Packer {
    pub fn new(versions: HashMap<String, i64>, with_entity: bool) -> Self {
        Self {
            versions,
            packable: DaysBefore::packable(chrono::Utc::now().date_naive()),
            with_entity,
            new: Vec::new(),
        }
    }

    /// Packs `day` (read with its entities) if it is closed, and gives it back as the report
    /// wants it.
    pub fn take(&mut self, mut day: Vec<DailyRow>) -> Vec<DailyRow> {
        if let Some(date) = day.first().map(|r| Arc::clone(&r.date)) {
            if self.packable.contains(&date) {
                self.new.push(NewPack {
                    version: self.versions.get(&*date).copied().unwrap_or(0),
                    body: encode(&day),
                    date,
                });
            }
        }
        if !self.with_entity {
            for row in &mut day {
                row.entity_id = None;
            }
        }
        day
    }
}

/// Encodes a day's rows, each of which carries its entity.
pub(super) fn encode(rows: &[DailyRow]) -> Vec<u8> {
    let mut texts: HashMap<&str, u64> = HashMap::new();
    let mut table = Vec::new();
    let mut body = Vec::with_capacity(rows.len() * 48);
    for r in rows {
        for s in [
            r.entity_id.as_deref().unwrap_or(""),
            &r.api_key,
            &r.model,
            &r.model_group,
            &r.provider,
            &r.endpoint,
        ] {
            let n = texts.len() as u64;
            let i = *texts.entry(s).or_insert_with(|| {
                varint(&mut table, s.len() as u64);
                table.extend_from_slice(s.as_bytes());
                n
            });
            varint(&mut body, i);
        }
        body.extend_from_slice(&r.spend.to_le_bytes());
        for n in counters(r) {
            varint(&mut body, zigzag(n));
        }
    }
    let mut out = Vec::with_capacity(table.len() + body.len() + 16);
    out.push(FORMAT);
    varint(&mut out, texts.len() as u64);
    out.extend_from_slice(&table);
    varint(&mut out, rows.len() as u64);
    out.extend_from_slice(&body);
    out
}

fn counters(r: &DailyRow) -> [i64; 7] {
    [
        r.prompt_tokens,
        r.completion_tokens,
        r.cache_read_input_tokens,
        r.cache_creation_input_tokens,
        r.api_requests,
        r.successful_requests,
        r.failed_requests,
    ]
}

/// The rows of the pack of `date`; each row's entity only `with_entity`.
pub(super) fn decode(
    body: &[u8],
    date: &Arc<str>,
    with_entity: bool,
    names: &mut Names,
) -> Result<Vec<DailyRow>> {
    let mut r = Bytes(body);
    if r.byte()? != FORMAT {
        return Err(bad("unknown format"));
    }
    let n = r.count()?;
    // Each text takes at least a byte: no more texts than that can be there.
    let mut texts = Vec::with_capacity(n.min(body.len()));
    for _ in 0..n {
        let len = r.count()?;
        texts.push(names.intern(r.take(len)?)?);
    }
    let rows = r.count()?;
    // Each row takes at least 21 bytes: no more rows than that can be there.
    let mut out = Vec::with_capacity(rows.min(body.len() / 21));
    for _ in 0..rows {
        let mut text = || -> Result<Arc<str>> {
            let i = r.count()?;
            texts.get(i).cloned().ok_or_else(|| bad("text index"))
        };
        let entity = text()?;
        let (api_key, model, model_group, provider, endpoint) =
            (text()?, text()?, text()?, text()?, text()?);
        let spend = f64::from_le_bytes(r.take(8)?.try_into().map_err(|_| bad("spend"))?);
        let mut n = [0i64; 7];
        for v in &mut n {
            *v = unzigzag(r.varint()?);
        }
        out.push(DailyRow {
            date: Arc::clone(date),
            entity_id: with_entity.then_some(entity),
            api_key,
            model,
            model_group,
            provider,
            endpoint,
            spend,
            prompt_tokens: n[0],
            completion_tokens: n[1],
            cache_read_input_tokens: n[2],
            cache_creation_input_tokens: n[3],
            api_requests: n[4],
            successful_requests: n[5],
            failed_requests: n[6],
        });
    }
    if !r.0.is_empty() {
        return Err(bad("bytes after the last row"));
    }
    if out.is_empty() {
        return Err(bad("no rows"));
    }
    Ok(out)
}

fn bad(what: &str) -> StoreError {
    StoreError::Database(format!("daily pack: {what}"))
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The unread rest of a pack.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn byte(&mut self) -> Result<u8> {
        let (b, rest) = self.0.split_first().ok_or_else(|| bad("truncated"))?;
        self.0 = rest;
        Ok(*b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.0.len() {
            return Err(bad("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64> {
        // Most values (text indices, small counts) fit in one byte.
        if let Some((&b, rest)) = self.0.split_first() {
            if b < 0x80 {
                self.0 = rest;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    /// A count or index, no larger than the platform takes.
    fn count(&mut self) -> Result<usize> {
        usize::try_from(self.varint()?).map_err(|_| bad("count"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()
    }

    #[test]
    fn late_writes_are_marked_a_day_before_reports_pack() {
        let (late, packable) = (
            DaysBefore::written_late(today()),
            DaysBefore::packable(today()),
        );
        assert!(!late.contains("2026-03-10"));
        assert!(!late.contains("2026-03-09"));
        assert!(late.contains("2026-03-08"));
        assert!(!packable.contains("2026-03-08"));
        assert!(packable.contains("2026-03-07"));
        assert!(packable.contains("2025-12-31"));
    }

    #[test]
    fn segments_cover_the_range_around_the_packed_days() {
        let rows = |from: &str, to: &str| Segment::Rows {
            from: from.into(),
            to: to.into(),
        };
        let s = |packed: &[&str]| segments("2026-02-26", "2026-03-03", packed).unwrap();
        assert_eq!(s(&[]), vec![rows("2026-02-26", "2026-03-03")]);
        assert_eq!(
            s(&["2026-03-03", "2026-03-01", "2026-02-28"]),
            vec![
                Segment::Pack(0),
                rows("2026-03-02", "2026-03-02"),
                Segment::Pack(1),
                Segment::Pack(2),
                rows("2026-02-26", "2026-02-27"),
            ]
        );
        assert_eq!(
            s(&["2026-03-01", "2026-02-26"]),
            vec![
                rows("2026-03-02", "2026-03-03"),
                Segment::Pack(0),
                rows("2026-02-27", "2026-02-28"),
                Segment::Pack(1),
            ]
        );
        assert_eq!(segments("2026-02-26", "bad", &[]), None);
    }

    fn row(i: usize) -> DailyRow {
        DailyRow {
            date: Arc::from("2026-03-01"),
            entity_id: Some(Arc::from(format!("user-{}", i % 3))),
            api_key: Arc::from(format!("key-{}", i % 5)),
            model: Arc::from("gpt-4o"),
            model_group: Arc::from("gpt-4o"),
            provider: Arc::from("openai"),
            endpoint: Arc::from(""),
            spend: 0.1 * i as f64,
            prompt_tokens: i as i64,
            completion_tokens: -(i as i64),
            failed_requests: i64::MAX - i as i64,
            ..DailyRow::default()
        }
    }

    #[test]
    fn a_pack_gives_back_its_rows_in_order_with_or_without_entities() {
        let rows: Vec<DailyRow> = (0..20).map(row).collect();
        let body = encode(&rows);
        let date = Arc::from("2026-03-01");
        let mut names = Names::default();
        assert_eq!(decode(&body, &date, true, &mut names).unwrap(), rows);
        let without = decode(&body, &date, false, &mut names).unwrap();
        assert!(without.iter().all(|r| r.entity_id.is_none()));
        assert_eq!(without[7].api_key, rows[7].api_key);
        // Cut anywhere, or with a byte more, it does not decode.
        for cut in 0..body.len() {
            assert!(decode(&body[..cut], &date, true, &mut names).is_err());
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(decode(&longer, &date, true, &mut names).is_err());
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut with_format = vec![FORMAT];
            with_format.extend_from_slice(&bytes);
            let date = Arc::from("2026-03-01");
            let _ = decode(&bytes, &date, true, &mut Names::default());
            let _ = decode(&with_format, &date, true, &mut Names::default());
        }

        #[test]
        fn rows_round_trip(
            rows in proptest::collection::vec(
                ("[a-z]{0,3}", "[a-z0-9-]{0,4}", any::<f64>(), any::<[i64; 7]>()),
                1..40,
            )
        ) {
            let date: Arc<str> = Arc::from("2026-03-01");
            let rows: Vec<DailyRow> = rows
                .into_iter()
                .map(|(entity, key, spend, n)| DailyRow {
                    date: Arc::clone(&date),
                    entity_id: Some(Arc::from(entity)),
                    api_key: Arc::from(key.as_str()),
                    model: Arc::from(key),
                    spend,
                    prompt_tokens: n[0],
                    completion_tokens: n[1],
                    cache_read_input_tokens: n[2],
                    cache_creation_input_tokens: n[3],
                    api_requests: n[4],
                    successful_requests: n[5],
                    failed_requests: n[6],
                    ..DailyRow::default()
                })
                .collect();
            let back = decode(&encode(&rows), &date, true, &mut Names::default()).unwrap();
            prop_assert_eq!(back.len(), rows.len());
            for (a, b) in back.iter().zip(&rows) {
                prop_assert_eq!(a.spend.to_bits(), b.spend.to_bits());
                prop_assert_eq!(counters(a), counters(b));
                prop_assert_eq!((&a.entity_id, &a.api_key, &a.model, &a.endpoint), (&b.entity_id, &b.api_key, &b.model, &b.endpoint));
            }
        }
    }
}
