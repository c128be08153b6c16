//! Percentiles and the summary of one load case.

use serde::Serialize;

/// The summary of one load case: throughput and latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Successful requests in the measured window.
    pub requests: u64,
    /// Requests that failed (transport error or a status other than 200).
    pub errors: u64,
    /// Successful requests per second of the measured window.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th percentile latency, µs.
    pub p99_us: u64,
    /// Mean latency, µs.
    pub mean_us: f64,
    /// Largest latency, µs.
    pub max_us: u64,
    /// For streamed requests: first-byte and chunk-gap figures.
    pub stream: Option<StreamSummary>,
}

/// Time to first byte and the largest pause between chunks of each stream, µs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StreamSummary {
    pub first_byte_p50_us: u64,
    pub first_byte_p99_us: u64,
    /// Percentiles over streams of each stream's largest gap between two chunks.
    pub max_gap_p50_us: u64,
    pub max_gap_p99_us: u64,
    /// The largest gap seen in any stream.
    pub max_gap_us: u64,
    /// Percentiles over streams of how much each stream's worst chunk gap grew between the
    /// upstream and the client (the stall the path added).
    pub added_gap_p50_us: u64,
    pub added_gap_p99_us: u64,
    /// The most any chunk's gap grew, in any stream.
    pub added_gap_max_us: u64,
}

impl StreamSummary {
    /// From each stream's first-byte time, largest gap and largest added gap (any order).
    pub fn of(mut first_byte: Vec<u64>, mut gaps: Vec<u64>, mut added: Vec<u64>) -> Self {
        first_byte.sort_unstable();
        gaps.sort_unstable();
        added.sort_unstable();
        Self {
            first_byte_p50_us: percentile(&first_byte, 50.0),
            first_byte_p99_us: percentile(&first_byte, 99.0),
            max_gap_p50_us: percentile(&gaps, 50.0),
            max_gap_p99_us: percentile(&gaps, 99.0),
            max_gap_us: gaps.last().copied().unwrap_or(0),
            added_gap_p50_us: percentile(&added, 50.0),
            added_gap_p99_us: percentile(&added, 99.0),
            added_gap_max_us: added.last().copied().unwrap_or(0),
        }
    }
}

/// The nearest-rank percentile (`q` in 0..=100) of sorted samples; 0 for no samples.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let q = q.clamp(0.0, 100.0);
    // Nearest rank: the smallest value with at least q% of the samples at or below it.
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.saturating_sub(1).min(sorted.len() - 1);
    sorted.get(idx).copied().unwrap_or(0)
}

/// Summarizes latency samples (µs, any order) taken over `secs` seconds.
pub fn summarize(mut samples: Vec<u64>, errors: u64, secs: f64) -> Summary {
    samples.sort_unstable();
    let n = samples.len();
    let mean = if n == 0 {
        0.0
    } else {
        samples.iter().map(|&v| v as f64).sum::<f64>() / n as f64
    };
    Summary {
        requests: n as u64,
        errors,
        rps: if secs > 0.0 { n as f64 / secs } else { 0.0 },
        p50_us: percentile(&samples, 50.0),
        p99_us: percentile(&samples, 99.0),
        mean_us: mean,
        max_us: samples.last().copied().unwrap_or(0),
        stream: None,
    }
}

/// `a - b` as a signed figure (latency added over a baseline can be negative within noise).
pub fn diff(a: u64, b: u64) -> i64 {
    i64::try_from(a).unwrap_or(i64::MAX) - i64::try_from(b).unwrap_or(i64::MAX)
}

/// `a / b`, or `None` when the baseline is not positive.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_of_nothing_is_zero() {
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), 2);
    }

    #[test]
    fn summary_sorts_and_counts() {
        let s = summarize(vec![30, 10, 20, 40], 1, 2.0);
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 1);
        assert!((s.rps - 2.0).abs() < 1e-9);
        assert_eq!(s.p50_us, 20);
        assert_eq!(s.p99_us, 40);
        assert_eq!(s.max_us, 40);
        assert!((s.mean_us - 25.0).abs() < 1e-9);
    }

    #[test]
    fn empty_summary_is_zero() {
        let s = summarize(Vec::new(), 3, 1.0);
        assert_eq!((s.requests, s.p50_us, s.p99_us, s.max_us), (0, 0, 0, 0));
        assert!(s.rps.abs() < 1e-9);
    }

    #[test]
    fn stream_summary_takes_percentiles_and_the_largest_gap() {
        let s = StreamSummary::of(
            vec![300, 100, 200],
            vec![5_000, 25_000, 7_000],
            vec![0, 900, 40],
        );
        assert_eq!((s.first_byte_p50_us, s.first_byte_p99_us), (200, 300));
        assert_eq!((s.max_gap_p50_us, s.max_gap_us), (7_000, 25_000));
        assert_eq!((s.added_gap_p50_us, s.added_gap_max_us), (40, 900));
    }

    #[test]
    fn diffs_and_ratios() {
        assert_eq!(diff(5, 7), -2);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(3.0, 0.0), None);
    }
}
