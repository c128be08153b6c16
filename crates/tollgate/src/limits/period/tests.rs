use chrono::{DateTime, Datelike, NaiveTime, TimeDelta, Timelike, Utc, Weekday};
use proptest::prelude::*;

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn reset(period: &str, now: &str) -> DateTime<Utc> {
    parse(period).unwrap().next_reset(at(now))
}

#[test]
fn parses_every_litellm_unit() {
    assert_eq!(parse("30s"), Ok(Period::Seconds(30)));
    assert_eq!(parse("30m"), Ok(Period::Minutes(30)));
    assert_eq!(parse("30h"), Ok(Period::Hours(30)));
    assert_eq!(parse("30d"), Ok(Period::Days(30)));
    assert_eq!(parse("2w"), Ok(Period::Weeks(2)));
    assert_eq!(parse("1mo"), Ok(Period::Months(1)));
    assert_eq!(parse("4294967295s"), Ok(Period::Seconds(u32::MAX)));
    assert_eq!("12h".parse::<Period>(), Ok(Period::Hours(12)));
}

#[test]
fn refuses_malformed_durations() {
    for bad in [
        "",
        "0d",
        "-5d",
        "abc",
        "30",
        "3x",
        " 30d",
        "30d ",
        "4294967296d",
        "1month",
        "30dx",
        "d",
        "1.5h",
        "+3d",
        "30D",
        "３０d",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} was accepted");
    }
}

#[test]
fn error_names_the_value_the_reason_and_the_accepted_forms() {
    let msg = parse("3x").unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid duration \"3x\": unknown unit \"x\"; use a number followed by s, m, h, d, w or \
         mo, like \"30d\" or \"1mo\""
    );
    assert!(parse("0d").unwrap_err().to_string().contains("at least 1"));
    assert!(parse("").unwrap_err().to_string().contains("empty"));
    assert!(parse("99999999999s")
        .unwrap_err()
        .to_string()
        .contains("too large"));
    assert!(parse("-1d").unwrap_err().to_string().contains("negative"));
    assert!(parse("30")
        .unwrap_err()
        .to_string()
        .contains("unit is missing"));
    let long = "9".repeat(500);
    assert!(parse(&long).unwrap_err().to_string().len() < 200);
}

#[test]
fn add_to_is_exact_for_fixed_units() {
    let t = at("2024-03-15T10:30:00Z");
    assert_eq!(parse("30d").unwrap().add_to(t), t + TimeDelta::days(30));
    assert_eq!(parse("2w").unwrap().add_to(t), t + TimeDelta::days(14));
    assert_eq!(parse("90s").unwrap().add_to(t), t + TimeDelta::seconds(90));
    assert_eq!(parse("30h").unwrap().add_to(t), t + TimeDelta::hours(30));
}

#[test]
fn add_to_uses_calendar_months_clamped_to_month_end() {
    let p = Period::Months(1);
    assert_eq!(
        p.add_to(at("2024-01-31T08:00:00Z")),
        at("2024-02-29T08:00:00Z")
    );
    assert_eq!(
        p.add_to(at("2023-01-31T08:00:00Z")),
        at("2023-02-28T08:00:00Z")
    );
    assert_eq!(
        Period::Months(13).add_to(at("2024-03-15T00:00:00Z")),
        at("2025-04-15T00:00:00Z")
    );
}

#[test]
fn add_to_saturates_instead_of_overflowing() {
    let t = at("2024-03-15T10:30:00Z");
    assert_eq!(Period::Weeks(u32::MAX).add_to(t), DateTime::<Utc>::MAX_UTC);
    assert_eq!(Period::Months(u32::MAX).add_to(t), DateTime::<Utc>::MAX_UTC);
}

#[test]
fn days_reset_at_midnight() {
    assert_eq!(
        reset("1d", "2024-03-15T10:30:00Z"),
        at("2024-03-16T00:00:00Z")
    );
    assert_eq!(
        reset("1d", "2024-03-15T00:00:00Z"),
        at("2024-03-16T00:00:00Z")
    );
    assert_eq!(
        reset("3d", "2024-03-15T23:59:59Z"),
        at("2024-03-18T00:00:00Z")
    );
    assert_eq!(
        reset("2w", "2024-03-15T10:30:00Z"),
        at("2024-03-29T00:00:00Z")
    );
}

#[test]
fn a_week_resets_on_monday() {
    // 2024-03-13 is a Wednesday, 2024-03-18 a Monday.
    assert_eq!(
        reset("7d", "2024-03-13T10:00:00Z"),
        at("2024-03-18T00:00:00Z")
    );
    assert_eq!(
        reset("1w", "2024-03-13T10:00:00Z"),
        at("2024-03-18T00:00:00Z")
    );
    assert_eq!(
        reset("7d", "2024-03-18T00:00:00Z"),
        at("2024-03-25T00:00:00Z")
    );
    assert_eq!(
        reset("1w", "2024-03-17T23:59:59Z"),
        at("2024-03-18T00:00:00Z")
    );
}

#[test]
fn thirty_days_and_months_reset_on_the_first() {
    assert_eq!(
        reset("30d", "2024-12-15T10:00:00Z"),
        at("2025-01-01T00:00:00Z")
    );
    assert_eq!(
        reset("1mo", "2024-01-31T23:00:00Z"),
        at("2024-02-01T00:00:00Z")
    );
    assert_eq!(
        reset("1mo", "2024-02-01T00:00:00Z"),
        at("2024-03-01T00:00:00Z")
    );
    assert_eq!(
        reset("3mo", "2024-11-05T00:00:00Z"),
        at("2025-02-01T00:00:00Z")
    );
}

#[test]
fn hours_align_to_multiples_within_the_day() {
    assert_eq!(
        reset("6h", "2024-03-15T10:30:00Z"),
        at("2024-03-15T12:00:00Z")
    );
    assert_eq!(
        reset("6h", "2024-03-15T12:00:00Z"),
        at("2024-03-15T18:00:00Z")
    );
    assert_eq!(
        reset("6h", "2024-03-15T20:00:00Z"),
        at("2024-03-16T00:00:00Z")
    );
    assert_eq!(
        reset("1h", "2024-03-15T10:00:00.5Z"),
        at("2024-03-15T11:00:00Z")
    );
    // 5 does not divide 24: the last slot of the day runs over into the next, as in LiteLLM.
    assert_eq!(
        reset("5h", "2024-03-15T22:00:00Z"),
        at("2024-03-16T01:00:00Z")
    );
    assert_eq!(
        reset("5h", "2024-03-16T01:00:00Z"),
        at("2024-03-16T05:00:00Z")
    );
    assert_eq!(
        reset("24h", "2024-03-15T10:30:00Z"),
        at("2024-03-16T00:00:00Z")
    );
}

#[test]
fn minutes_and_seconds_align_to_the_clock() {
    assert_eq!(
        reset("15m", "2024-03-15T10:07:00Z"),
        at("2024-03-15T10:15:00Z")
    );
    assert_eq!(
        reset("15m", "2024-03-15T23:50:00Z"),
        at("2024-03-16T00:00:00Z")
    );
    assert_eq!(
        reset("7m", "2024-03-15T10:58:00Z"),
        at("2024-03-15T11:03:00Z")
    );
    assert_eq!(
        reset("60m", "2024-03-15T10:00:00Z"),
        at("2024-03-15T11:00:00Z")
    );
    assert_eq!(
        reset("30s", "2024-03-15T10:00:29.999Z"),
        at("2024-03-15T10:00:30Z")
    );
    assert_eq!(
        reset("30s", "2024-03-15T23:59:45Z"),
        at("2024-03-16T00:00:00Z")
    );
}

#[test]
fn periods_longer_than_their_clock_unit_keep_their_length() {
    // 90 minutes divides a day, so the slots are 00:00, 01:30, 03:00, ... 10:30, 12:00.
    assert_eq!(
        reset("90m", "2024-03-15T10:29:00Z"),
        at("2024-03-15T10:30:00Z")
    );
    assert_eq!(
        reset("90m", "2024-03-15T10:30:00Z"),
        at("2024-03-15T12:00:00Z")
    );
    let next = reset("48h", "2024-03-15T10:30:00Z");
    assert_eq!(next.timestamp() % (2 * 86_400), 0);
    assert!(next - at("2024-03-15T10:30:00Z") <= TimeDelta::hours(48));
}

#[test]
fn serde_uses_the_text_form() {
    assert_eq!(
        serde_json::to_string(&Period::Months(1)).unwrap(),
        "\"1mo\""
    );
    let p: Period = serde_json::from_str("\"30d\"").unwrap();
    assert_eq!(p, Period::Days(30));
    let err = serde_json::from_str::<Period>("\"30x\"").unwrap_err();
    assert!(err.to_string().contains("invalid duration \"30x\""));
}

fn any_period() -> impl Strategy<Value = Period> {
    (1..=u32::MAX, 0..6u8).prop_map(|(n, unit)| make(n, unit))
}

/// Periods small enough for date arithmetic, with LiteLLM's special day counts made common.
fn date_period() -> impl Strategy<Value = Period> {
    let count = prop_oneof![Just(1u32), Just(7), Just(30), 1..=400u32];
    (count, 0..6u8).prop_map(|(n, unit)| make(if unit == 5 { n % 40 + 1 } else { n }, unit))
}

fn make(n: u32, unit: u8) -> Period {
    match unit {
        0 => Period::Seconds(n),
        1 => Period::Minutes(n),
        2 => Period::Hours(n),
        3 => Period::Days(n),
        4 => Period::Weeks(n),
        _ => Period::Months(n),
    }
}

/// Instants between 1900 and 2200, with sub-second parts.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (-2_208_988_800i64..7_258_118_400, 0..1_000_000_000u32)
        .prop_map(|(secs, nanos)| DateTime::from_timestamp(secs, nanos).unwrap())
}

#[expect(
    clippy::manual_is_multiple_of,
    reason = "u32::is_multiple_of is newer than the crate's minimum Rust version"
)]
fn divides(n: u32, x: u32) -> bool {
    x % n == 0
}

fn is_aligned(p: Period, t: DateTime<Utc>) -> bool {
    let midnight = t.time() == NaiveTime::MIN;
    let whole_second = t.nanosecond() == 0;
    match p {
        Period::Seconds(n) if 60 % n == 0 => whole_second && divides(n, t.second()),
        Period::Minutes(n) if 60 % n == 0 => {
            whole_second && t.second() == 0 && divides(n, t.minute())
        }
        Period::Hours(n) if 24 % n == 0 => {
            whole_second && t.second() == 0 && t.minute() == 0 && divides(n, t.hour())
        }
        Period::Seconds(n) if n < 60 => whole_second,
        Period::Minutes(n) if n < 60 => whole_second && t.second() == 0,
        Period::Hours(n) if n < 24 => whole_second && t.second() == 0 && t.minute() == 0,
        Period::Seconds(_) | Period::Minutes(_) | Period::Hours(_) => {
            let step = p.fixed_seconds().unwrap();
            whole_second && t.timestamp().rem_euclid(step) == 0
        }
        Period::Days(7) | Period::Weeks(1) => midnight && t.weekday() == Weekday::Mon,
        Period::Days(30) | Period::Months(_) => midnight && t.day() == 1,
        Period::Days(_) | Period::Weeks(_) => midnight,
    }
}

/// The longest a reset may be away: the period, or for month-shaped periods 31 days a month.
fn longest_wait(p: Period) -> TimeDelta {
    match p {
        Period::Months(n) => TimeDelta::days(31 * i64::from(n)),
        Period::Days(30) => TimeDelta::days(31),
        _ => TimeDelta::seconds(p.fixed_seconds().unwrap()),
    }
}

proptest! {
    #[test]
    fn display_then_parse_round_trips(p in any_period()) {
        prop_assert_eq!(parse(&p.to_string()), Ok(p));
    }

    #[test]
    fn parse_never_panics(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_near_misses(s in "[-+ 0-9]{0,12}(mo|[smhdwxM ]|month)?[ a-z]{0,2}") {
        if let Ok(p) = parse(&s) {
            let shown = p.to_string();
            prop_assert_eq!(shown.trim_start_matches('0'), s.trim_start_matches('0'));
        }
    }

    #[test]
    fn next_reset_is_later_aligned_and_within_a_period(p in date_period(), now in instant()) {
        let next = p.next_reset(now);
        prop_assert!(next > now, "{p}: {next} is not after {now}");
        prop_assert!(is_aligned(p, next), "{p}: {next} is not aligned");
        prop_assert!(next - now <= longest_wait(p), "{p}: {next} is too far from {now}");
    }

    #[test]
    fn next_reset_is_monotonic(p in date_period(), a in instant(), b in instant()) {
        let (early, late) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(p.next_reset(early) <= p.next_reset(late));
    }

    #[test]
    fn a_reset_at_a_boundary_moves_to_the_following_one(p in date_period(), now in instant()) {
        let boundary = p.next_reset(now);
        let following = p.next_reset(boundary);
        prop_assert!(following > boundary);
        prop_assert!(is_aligned(p, following));
        prop_assert!(following - boundary <= longest_wait(p));
    }

    #[test]
    fn add_to_moves_forward_by_the_period(p in date_period(), t in instant()) {
        let later = p.add_to(t);
        match p.fixed_seconds() {
            Some(secs) => prop_assert_eq!(later - t, TimeDelta::seconds(secs)),
            None => {
                prop_assert!(later > t);
                prop_assert_eq!(later.time(), t.time());
                prop_assert!(later.day() <= t.day());
            }
        }
    }
}
