//! Durations written the LiteLLM way (`"30s"`, `"30m"`, `"30h"`, `"30d"`, `"2w"`, `"1mo"`): parsing
//! them, exact expiry times (`duration` on keys), and the calendar-aligned boundaries at which
//! budgets reset (`budget_duration`). Everything is in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MINUTE: i64 = 60;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
const WEEK: i64 = 7 * DAY;

/// A length of time as LiteLLM writes it: a positive count and a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Seconds(u32),
    Minutes(u32),
    Hours(u32),
    Days(u32),
    Weeks(u32),
    /// Calendar months: their length in seconds depends on the date they start from.
    Months(u32),
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {value:?}: {reason}; use a number followed by s, m, h, d, w or mo, \
     like \"30d\" or \"1mo\""
)]
pub struct PeriodError {
    value: String,
    reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Reason {
    Empty,
    Negative,
    NoNumber,
    Zero,
    TooLarge,
    NoUnit,
    UnknownUnit(String),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => f.write_str("it is empty"),
            Reason::Negative => f.write_str("it is negative"),
            Reason::NoNumber => f.write_str("it does not start with a number"),
            Reason::Zero => f.write_str("the number must be at least 1"),
            Reason::TooLarge => f.write_str("the number is too large"),
            Reason::NoUnit => f.write_str("the unit is missing"),
            Reason::UnknownUnit(unit) => write!(f, "unknown unit {unit:?}"),
        }
    }
}

impl PeriodError {
    fn new(value: &str, reason: Reason) -> Self {
        const SHOWN: usize = 40;
        let value = match value.char_indices().nth(SHOWN) {
            Some((cut, _)) => format!("{}...", &value[..cut]),
            None => value.to_owned(),
        };
        Self { value, reason }
    }
}

/// Parses LiteLLM's duration syntax: digits then one of `s`, `m`, `h`, `d`, `w`, `mo`.
///
/// Stricter than LiteLLM, whose regular expression matches a prefix (it reads `"30dx"` as 30
/// days and `"1month"` as one month): here the whole string must be the number and the unit, and
/// zero is refused (LiteLLM reads `"0d"` as "already expired").
pub fn parse(s: &str) -> Result<Period, PeriodError> {
    let fail = |reason| Err(PeriodError::new(s, reason));
    if s.is_empty() {
        return fail(Reason::Empty);
    }
    if s.starts_with('-') {
        return fail(Reason::Negative);
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        return fail(Reason::NoNumber);
    }
    // Only ASCII digits remain, so the one possible failure is overflow.
    let Ok(n) = digits.parse::<u32>() else {
        return fail(Reason::TooLarge);
    };
    if n == 0 {
        return fail(Reason::Zero);
    }
    match unit {
        "s" => Ok(Period::Seconds(n)),
        "m" => Ok(Period::Minutes(n)),
        "h" => Ok(Period::Hours(n)),
        "d" => Ok(Period::Days(n)),
        "w" => Ok(Period::Weeks(n)),
        "mo" => Ok(Period::Months(n)),
        "" => fail(Reason::NoUnit),
        other => fail(Reason::UnknownUnit(other.to_owned())),
    }
}

impl Period {
    /// The count, whatever the unit.
    pub fn count(&self) -> u32 {
        match *self {
            Period::Seconds(n)
            | Period::Minutes(n)
            | Period::Hours(n)
            | Period::Days(n)
            | Period::Weeks(n)
            | Period::Months(n) => n,
        }
    }

    /// The length in seconds, or `None` for months (whose length depends on the start date).
    pub fn fixed_seconds(&self) -> Option<i64> {
        let unit = match self {
            Period::Seconds(_) => 1,
            Period::Minutes(_) => MINUTE,
            Period::Hours(_) => HOUR,
            Period::Days(_) => DAY,
            Period::Weeks(_) => WEEK,
            Period::Months(_) => return None,
        };
        Some(i64::from(self.count()) * unit)
    }

    /// The exact moment this period after `t` ends, as used for key expiry (`duration`).
    ///
    /// `"30d"` is 30 × 86 400 seconds after `t`. Months are calendar months with the time of day
    /// kept; a day that does not exist in the target month becomes its last day (31 January plus
    /// `"1mo"` is 28 or 29 February). Saturates at the latest representable instant.
    pub fn add_to(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let later = match self.fixed_seconds() {
            Some(secs) => TimeDelta::try_seconds(secs).and_then(|d| t.checked_add_signed(d)),
            None => t.checked_add_months(Months::new(self.count())),
        };
        later.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The next budget reset strictly after `now`, on LiteLLM's standardised boundaries (its
    /// `get_next_standardized_reset_time`, in UTC):
    ///
    /// - `"1d"`: the next midnight. `"7d"` and `"1w"`: the next Monday 00:00 (a week from today
    ///   when today is Monday). `"30d"`: the 1st of next month 00:00. Any other `"Nd"` (and
    ///   `"Nw"` as N × 7 days): midnight today plus N days.
    /// - `"Nmo"`: the 1st of the month N months on, 00:00 (LiteLLM only accepts `"1mo"`).
    /// - `"Nh"`, `"Nm"`, `"Ns"` with N under a day, an hour, a minute respectively: the next
    ///   multiple of N counted from the start of the current day, hour or minute. When N does not
    ///   divide that unit the last slot runs over into the next one (`"5h"` resets at 00, 05, 10,
    ///   15, 20 and then 01:00 the next day), exactly as LiteLLM does.
    /// - The same units with N at least a day, an hour, a minute (`"48h"`, `"90m"`): the next
    ///   multiple of the period since the Unix epoch. Here LiteLLM wraps the hour round the clock
    ///   and resets sooner than the period (`"48h"` daily, `"90m"` hourly); Tollgate keeps the
    ///   period's length, which gives the same result whenever N is exactly one day, hour or
    ///   minute.
    ///
    /// Saturates at the latest representable instant.
    pub fn next_reset(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let next = match *self {
            Period::Seconds(n) => clock_aligned(now, i64::from(n), MINUTE),
            Period::Minutes(n) => clock_aligned(now, i64::from(n) * MINUTE, HOUR),
            Period::Hours(n) => clock_aligned(now, i64::from(n) * HOUR, DAY),
            Period::Days(n) => day_reset(now, u64::from(n)),
            Period::Weeks(n) => day_reset(now, u64::from(n) * 7),
            Period::Months(n) => first_of_month(now, n),
        };
        next.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// The next multiple of `step` seconds after `now`, counted from the start of the enclosing unit
/// (`unit` seconds long) when the step is shorter than it, else from the epoch.
fn clock_aligned(now: DateTime<Utc>, step: i64, unit: i64) -> Option<DateTime<Utc>> {
    let secs = now.timestamp();
    let next = if step < unit {
        let start = secs.div_euclid(unit) * unit;
        start + ((secs - start) / step + 1) * step
    } else {
        (secs.div_euclid(step) + 1).checked_mul(step)?
    };
    DateTime::from_timestamp(next, 0)
}

fn day_reset(now: DateTime<Utc>, days: u64) -> Option<DateTime<Utc>> {
    let today = now.date_naive();
    let date = match days {
        7 => {
            let to_monday = 7 - u64::from(today.weekday().num_days_from_monday());
            today.checked_add_days(chrono::Days::new(to_monday))?
        }
        30 => return first_of_month(now, 1),
        n => today.checked_add_days(chrono::Days::new(n))?,
    };
    Some(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

fn first_of_month(now: DateTime<Utc>, months: u32) -> Option<DateTime<Utc>> {
    let first = NaiveDate::from_ymd_opt(now.year(), now.month(), 1)?;
    let target = first.checked_add_months(Months::new(months))?;
    Some(target.and_time(chrono::NaiveTime::MIN).and_utc())
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self {
            Period::Seconds(_) => "s",
            Period::Minutes(_) => "m",
            Period::Hours(_) => "h",
            Period::Days(_) => "d",
            Period::Weeks(_) => "w",
            Period::Months(_) => "mo",
        };
        write!(f, "{}{unit}", self.count())
    }
}

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
