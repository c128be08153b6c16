//! Spend-log retention (`general_settings.maximum_spend_logs_retention_period`): rows older than
//! the period are deleted in small batches, so that the job never holds long locks. Daily
//! aggregates are kept: reports over old days still work.

use std::time::Duration;

use chrono::{DateTime, Months, Utc};

use crate::limits::period::{self, Period};
use crate::state::AppState;

/// Rows per delete statement.
const BATCH: u32 = 1_000;

/// The moment before which spend logs go, for a retention period.
pub fn cutoff(period: Period, now: DateTime<Utc>) -> DateTime<Utc> {
    match (period, period.fixed_seconds()) {
        (_, Some(secs)) => now - chrono::Duration::seconds(secs),
        (Period::Months(n), None) => now.checked_sub_months(Months::new(n)).unwrap_or(now),
        (_, None) => now,
    }
}

/// Runs forever when a retention period is set.
pub async fn run(state: AppState) {
    let general = &state.settings.config.general_settings;
    let Some(period) = general
        .maximum_spend_logs_retention_period
        .as_deref()
        .and_then(|p| period::parse(p).ok())
    else {
        return;
    };
    let every = general
        .maximum_spend_logs_cleanup_interval
        .filter(|s| *s > 0.0 && s.is_finite())
        .unwrap_or(3600.0);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state
            .store
            .delete_spend_logs_before(cutoff(period, Utc::now()), BATCH)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "old spend logs deleted"),
            Err(e) => tracing::warn!("spend-log retention failed, will retry: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cutoffs() {
        let now = Utc.with_ymd_and_hms(2026, 3, 31, 12, 0, 0).unwrap();
        assert_eq!(
            cutoff(period::parse("30d").unwrap(), now),
            Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
        );
        assert_eq!(
            cutoff(period::parse("1mo").unwrap(), now),
            Utc.with_ymd_and_hms(2026, 2, 28, 12, 0, 0).unwrap()
        );
    }
}
