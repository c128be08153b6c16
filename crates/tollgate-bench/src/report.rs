//! The report: a table per target and connection count, ratios to the floor, the issue-4 deltas.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::{diff, ratio, Summary};

/// One target at one connection count.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable id (`direct`, `floor`, `tollgate-a-...`).
    pub id: String,
    /// Human label.
    pub label: String,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Throughput and latency.
    pub summary: Summary,
    /// p50 latency minus the direct call's at the same connection count, µs.
    pub added_p50_us: Option<i64>,
    /// p99 latency minus the direct call's at the same connection count, µs.
    pub added_p99_us: Option<i64>,
    /// utime+stime of the server process during the case, per successful request, µs.
    pub cpu_us_per_req: Option<f64>,
    /// VmHWM of the server process after the case, kB.
    pub peak_rss_kb: Option<u64>,
}

/// A target that could not be measured, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// Human label.
    pub label: String,
    /// The error.
    pub reason: String,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Machine and run settings.
    pub meta: serde_json::Value,
    /// Measured rows.
    pub rows: Vec<Row>,
    /// Targets that could not be run.
    pub skipped: Vec<Skipped>,
}

/// Fills `added_*` from the `direct` rows.
pub fn fill_added(rows: &mut [Row]) {
    let direct: Vec<(usize, Summary)> = rows
        .iter()
        .filter(|r| r.id == "direct")
        .map(|r| (r.connections, r.summary))
        .collect();
    for r in rows.iter_mut() {
        if let Some((_, d)) = direct.iter().find(|(c, _)| *c == r.connections) {
            r.added_p50_us = Some(diff(r.summary.p50_us, d.p50_us));
            r.added_p99_us = Some(diff(r.summary.p99_us, d.p99_us));
        }
    }
}

fn find<'a>(rows: &'a [Row], id: &str, conns: usize) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id && r.connections == conns)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

fn opt_f(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

fn signed(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:+.1}"))
}

/// Renders the report as markdown (also what is printed).
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "## Results\n");
    let _ = writeln!(
        s,
        "| target | conns | req/s | p50 µs | p99 µs | added p50 µs | added p99 µs | CPU µs/req | peak RSS MB | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &report.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.connections,
            r.summary.rps,
            r.summary.p50_us,
            r.summary.p99_us,
            opt(r.added_p50_us),
            opt(r.added_p99_us),
            opt_f(r.cpu_us_per_req, 1),
            opt_f(r.peak_rss_kb.map(|k| k as f64 / 1024.0), 1),
            r.summary.errors
        );
    }
    let _ = writeln!(s, "\n## Ratios to the floor (same connection count)\n");
    let _ = writeln!(
        s,
        "| target | conns | added p50 ÷ floor | added p99 ÷ floor | CPU/req ÷ floor | req/s ÷ floor |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for r in report.rows.iter().filter(|r| r.id.starts_with("tollgate")) {
        let Some(f) = find(&report.rows, "floor", r.connections) else {
            continue;
        };
        let q = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => ratio(a as f64, b as f64),
            _ => None,
        };
        let cpu = match (r.cpu_us_per_req, f.cpu_us_per_req) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => None,
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.label,
            r.connections,
            opt_f(q(r.added_p50_us, f.added_p50_us), 2),
            opt_f(q(r.added_p99_us, f.added_p99_us), 2),
            opt_f(cpu, 2),
            opt_f(ratio(r.summary.rps, f.summary.rps), 2)
        );
    }
    let _ = writeln!(
        s,
        "\n## Issue 4: hot-path cost of the journal and of Redis-backed limits\n"
    );
    let _ = writeln!(
        s,
        "| comparison | conns | Δ added p50 µs | Δ added p99 µs | Δ CPU µs/req |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    let pairs = [
        (
            "(b) journal on disk − (a) journal on tmpfs",
            "tollgate-b-sqlite-journal-disk",
        ),
        (
            "(d) Redis-backed limits − (a) local limits",
            "tollgate-d-sqlite-redis",
        ),
    ];
    let mut conns: Vec<usize> = report.rows.iter().map(|r| r.connections).collect();
    conns.dedup();
    conns.sort_unstable();
    conns.dedup();
    for (name, id) in pairs {
        for &c in &conns {
            let (Some(x), Some(a)) = (
                find(&report.rows, id, c),
                find(&report.rows, "tollgate-a-sqlite-journal-tmpfs", c),
            ) else {
                continue;
            };
            let d = |x: Option<i64>, a: Option<i64>| x.zip(a).map(|(x, a)| (x - a) as f64);
            let cpu = x.cpu_us_per_req.zip(a.cpu_us_per_req).map(|(x, a)| x - a);
            let _ = writeln!(
                s,
                "| {name} | {c} | {} | {} | {} |",
                signed(d(x.added_p50_us, a.added_p50_us)),
                signed(d(x.added_p99_us, a.added_p99_us)),
                signed(cpu)
            );
        }
    }
    if !report.skipped.is_empty() {
        let _ = writeln!(s, "\n## Not measured in this run\n");
        for k in &report.skipped {
            let reason = k.reason.lines().next().unwrap_or("");
            let _ = writeln!(s, "- {}: {}", k.label, reason);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::summarize;

    fn row(id: &str, conns: usize, lat: Vec<u64>, cpu: f64) -> Row {
        Row {
            id: id.to_owned(),
            label: id.to_owned(),
            connections: conns,
            summary: summarize(lat, 0, 1.0),
            added_p50_us: None,
            added_p99_us: None,
            cpu_us_per_req: Some(cpu),
            peak_rss_kb: Some(2048),
        }
    }

    #[test]
    fn added_latency_and_deltas() {
        let mut rows = vec![
            row("direct", 1, vec![100; 10], 0.0),
            row("floor", 1, vec![180; 10], 20.0),
            row("tollgate-a-sqlite-journal-tmpfs", 1, vec![300; 10], 40.0),
            row("tollgate-b-sqlite-journal-disk", 1, vec![320; 10], 45.0),
        ];
        fill_added(&mut rows);
        assert_eq!(rows[1].added_p50_us, Some(80));
        assert_eq!(rows[2].added_p99_us, Some(200));
        let md = markdown(&Report {
            meta: serde_json::Value::Null,
            rows,
            skipped: Vec::new(),
        });
        assert!(
            md.contains("| tollgate-a-sqlite-journal-tmpfs | 1 | 2.50 | 2.50 | 2.00 |"),
            "{md}"
        );
        assert!(md.contains("| 1 | +20.0 | +20.0 | +5.0 |"), "{md}");
    }
}
