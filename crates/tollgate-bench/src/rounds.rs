//! Several rounds of one run: every target is measured once per round, the targets taking turns,
//! so that a slow minute of a shared machine falls on all of them instead of on one. The
//! figures of a case are the median over its rounds (errors are summed, peak RSS is the
//! highest); the report also lists each round's ratios to the floor, to show the spread.

use std::fmt::Write as _;

use crate::report::Row;
use crate::stats::{ratio, StreamSummary, Summary};

/// The median of `values` (the lower middle one for an even count); `None` when empty.
fn median<T: Copy + PartialOrd>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut v: Vec<T> = values.into_iter().collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    (n > 0).then(|| v[(n - 1) / 2])
}

fn same_case(a: &Row, b: &Row) -> bool {
    a.id == b.id && a.connections == b.connections && a.streaming == b.streaming
}

/// One row per case of the first round, each figure the median of that case over the rounds
/// that measured it. Latency added over the direct call is left for the caller to fill in.
pub fn combine(rounds: &[Vec<Row>]) -> Vec<Row> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|row| {
            let all: Vec<&Row> = rounds
                .iter()
                .filter_map(|r| r.iter().find(|x| same_case(x, row)))
                .collect();
            Row {
                summary: summary(&all.iter().map(|r| r.summary).collect::<Vec<_>>()),
                added_p50_us: None,
                added_p99_us: None,
                cpu_us_per_req: median(all.iter().filter_map(|r| r.cpu_us_per_req)),
                peak_rss_kb: all.iter().filter_map(|r| r.peak_rss_kb).max(),
                ..row.clone()
            }
        })
        .collect()
}

fn summary(all: &[Summary]) -> Summary {
    let m = |f: fn(&Summary) -> u64| median(all.iter().map(f)).unwrap_or(0);
    let streams: Vec<StreamSummary> = all.iter().filter_map(|s| s.stream).collect();
    let ms = |f: fn(&StreamSummary) -> u64| median(streams.iter().map(f)).unwrap_or(0);
    Summary {
        requests: m(|s| s.requests),
        errors: all.iter().map(|s| s.errors).sum(),
        rps: median(all.iter().map(|s| s.rps)).unwrap_or(0.0),
        p50_us: m(|s| s.p50_us),
        p99_us: m(|s| s.p99_us),
        mean_us: median(all.iter().map(|s| s.mean_us)).unwrap_or(0.0),
        max_us: m(|s| s.max_us),
        stream: (!streams.is_empty()).then(|| StreamSummary {
            first_byte_p50_us: ms(|s| s.first_byte_p50_us),
            first_byte_p99_us: ms(|s| s.first_byte_p99_us),
            max_gap_p50_us: ms(|s| s.max_gap_p50_us),
            max_gap_p99_us: ms(|s| s.max_gap_p99_us),
            max_gap_us: ms(|s| s.max_gap_us),
            added_gap_p50_us: ms(|s| s.added_gap_p50_us),
            added_gap_p99_us: ms(|s| s.added_gap_p99_us),
            added_gap_max_us: ms(|s| s.added_gap_max_us),
        }),
    }
}

/// Each round's CPU per request and added p50 of every Tollgate case, as ratios to the floor's
/// in the same round (rows must have their added latency filled in).
pub fn markdown(rounds: &[Vec<Row>]) -> String {
    let mut s = String::new();
    let Some(first) = rounds.first() else {
        return s;
    };
    let _ = writeln!(
        s,
        "\n## Rounds ({} rounds, each figure above is the median)\n",
        rounds.len()
    );
    let _ = writeln!(
        s,
        "Ratios to the floor's figure of the same round, in round order.\n"
    );
    let _ = writeln!(s, "| target | case | CPU/req ÷ floor | added p50 ÷ floor |");
    let _ = writeln!(s, "|---|---|---|---|");
    for row in first.iter().filter(|r| r.id.starts_with("tollgate")) {
        let (mut cpu, mut p50) = (Vec::new(), Vec::new());
        for round in rounds {
            let Some(t) = round.iter().find(|x| same_case(x, row)) else {
                continue;
            };
            let floor = round.iter().find(|x| {
                x.id == "floor" && x.connections == t.connections && x.streaming == t.streaming
            });
            let q = |a: Option<f64>, b: Option<f64>| {
                a.zip(b)
                    .and_then(|(a, b)| ratio(a, b))
                    .map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
            };
            cpu.push(q(t.cpu_us_per_req, floor.and_then(|f| f.cpu_us_per_req)));
            let added = |r: &Row| r.added_p50_us.map(|v| v as f64);
            p50.push(q(added(t), floor.and_then(added)));
        }
        let case = if row.streaming {
            format!("{} streams", row.connections)
        } else {
            format!("{} conns", row.connections)
        };
        let _ = writeln!(
            s,
            "| {} | {case} | {} | {} |",
            row.label,
            cpu.join(", "),
            p50.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, conns: usize, p50: u64, cpu: f64, errors: u64) -> Row {
        Row {
            id: id.to_owned(),
            label: id.to_owned(),
            connections: conns,
            streaming: false,
            summary: Summary {
                requests: 100,
                errors,
                rps: p50 as f64,
                p50_us: p50,
                p99_us: p50 * 2,
                mean_us: p50 as f64,
                max_us: p50 * 3,
                stream: None,
            },
            added_p50_us: Some(1),
            added_p99_us: Some(1),
            cpu_us_per_req: Some(cpu),
            peak_rss_kb: Some(p50),
        }
    }

    #[test]
    fn the_median_is_the_middle_value_and_the_lower_middle_of_an_even_count() {
        assert_eq!(median([5, 1, 3]), Some(3));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(Vec::<u64>::new()), None);
    }

    #[test]
    fn combined_rows_hold_medians_summed_errors_and_the_highest_peak() {
        let rounds = vec![
            vec![
                row("floor", 1, 10, 30.0, 0),
                row("tollgate-a", 1, 50, 90.0, 1),
            ],
            vec![
                row("floor", 1, 30, 20.0, 0),
                row("tollgate-a", 1, 20, 60.0, 2),
            ],
            vec![
                row("tollgate-a", 1, 40, 70.0, 0),
                row("floor", 1, 20, 40.0, 0),
            ],
        ];
        let out = combine(&rounds);
        assert_eq!(out.len(), 2);
        let t = &out[1];
        assert_eq!(t.id, "tollgate-a");
        assert_eq!(t.summary.p50_us, 40);
        assert_eq!(t.cpu_us_per_req, Some(70.0));
        assert_eq!(t.summary.errors, 3);
        assert_eq!(t.peak_rss_kb, Some(50));
        assert_eq!(t.added_p50_us, None);
        assert_eq!(out[0].summary.p50_us, 20);
    }

    #[test]
    fn the_rounds_table_lists_each_rounds_ratio_to_that_rounds_floor() {
        let rounds = vec![
            vec![
                row("floor", 1, 10, 20.0, 0),
                row("tollgate-a", 1, 50, 40.0, 0),
            ],
            vec![
                row("floor", 1, 10, 10.0, 0),
                row("tollgate-a", 1, 50, 30.0, 0),
            ],
        ];
        let md = markdown(&rounds);
        assert!(
            md.contains("| tollgate-a | 1 conns | 2.00, 3.00 | 1.00, 1.00 |"),
            "{md}"
        );
        assert!(!md.contains("| floor |"), "{md}");
    }
}
