//! The report: a table per target and connection count, ratios to the floor, the issue-4 deltas.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scale::ScaleReport;
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
    /// Streamed requests (the SSE case) rather than JSON ones.
    pub streaming: bool,
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

/// A server's resident set right after it started, before any load.
#[derive(Debug, Clone, Serialize)]
pub struct Idle {
    pub id: String,
    pub label: String,
    pub rss_kb: u64,
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
    /// Idle RSS of each server.
    pub idle: Vec<Idle>,
    /// The `--scale` cases, when run.
    pub scale: Option<ScaleReport>,
    /// Each round's rows, when there was more than one (`rows` holds their medians).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<Vec<Row>>,
}

/// Fills `added_*` from the `direct` rows.
pub fn fill_added(rows: &mut [Row]) {
    let direct: Vec<(usize, bool, Summary)> = rows
        .iter()
        .filter(|r| r.id == "direct")
        .map(|r| (r.connections, r.streaming, r.summary))
        .collect();
    for r in rows.iter_mut() {
        if let Some((_, _, d)) = direct
            .iter()
            .find(|(c, st, _)| *c == r.connections && *st == r.streaming)
        {
            r.added_p50_us = Some(diff(r.summary.p50_us, d.p50_us));
            r.added_p99_us = Some(diff(r.summary.p99_us, d.p99_us));
        }
    }
}

fn find<'a>(rows: &'a [Row], id: &str, conns: usize) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.id == id && r.connections == conns && !r.streaming)
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
    for r in report.rows.iter().filter(|r| !r.streaming) {
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
    for r in report
        .rows
        .iter()
        .filter(|r| r.id.starts_with("tollgate") && !r.streaming)
    {
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
    if report.rounds.len() > 1 {
        s.push_str(&crate::rounds::markdown(&report.rounds));
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
    bars(&mut s, report);
    streams(&mut s, report);
    litellm(&mut s, report);
    memory(&mut s, report);
    if let Some(scale) = &report.scale {
        scale_tables(&mut s, scale);
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

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

/// One line of the bars table.
fn bar(s: &mut String, name: &str, figure: String, ok: Option<bool>) {
    let _ = writeln!(s, "| {name} | {figure} | {} |", verdict(ok));
}

/// Issue 5's bars, judged for each Tollgate variant from this run's figures.
fn bars(s: &mut String, report: &Report) {
    let rows = &report.rows;
    let variants: Vec<(&str, &str)> = {
        let mut v: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r.id.starts_with("tollgate"))
            .map(|r| (r.id.as_str(), r.label.as_str()))
            .collect();
        v.dedup();
        v
    };
    if variants.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Bars (issue 5), judged from this run\n");
    let _ = writeln!(s, "| bar | figure | verdict |");
    let _ = writeln!(s, "|---|---|---|");
    let floor1 = find(rows, "floor", 1);
    let floor_stream = rows.iter().find(|r| r.id == "floor" && r.streaming);
    let lite32 = find(rows, "litellm", 32);
    for (id, label) in variants {
        let one = find(rows, id, 1);
        let q = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
            _ => None,
        };
        let p50 = one
            .zip(floor1)
            .and_then(|(r, f)| q(r.added_p50_us, f.added_p50_us));
        let p99 = one
            .zip(floor1)
            .and_then(|(r, f)| q(r.added_p99_us, f.added_p99_us));
        bar(
            s,
            &format!("{label}: added p50 at 1 conn ≤ 1.5× floor"),
            opt_f(p50, 2),
            p50.map(|x| x <= 1.5),
        );
        bar(
            s,
            &format!("{label}: added p99 at 1 conn ≤ 2× floor"),
            opt_f(p99, 2),
            p99.map(|x| x <= 2.0),
        );
        for conns in [1, 32] {
            let cpu = find(rows, id, conns)
                .zip(find(rows, "floor", conns))
                .and_then(|(r, f)| r.cpu_us_per_req.zip(f.cpu_us_per_req))
                .and_then(|(a, b)| ratio(a, b));
            bar(
                s,
                &format!("{label}: CPU/request at {conns} conns ≤ 2× floor"),
                opt_f(cpu, 2),
                cpu.map(|x| x <= 2.0),
            );
        }
        let thr = find(rows, id, 32)
            .zip(lite32)
            .and_then(|(r, l)| ratio(r.summary.rps, l.summary.rps));
        bar(
            s,
            &format!("{label}: req/s at 32 conns ≥ 100× LiteLLM"),
            opt_f(thr, 1),
            thr.map(|x| x >= 100.0),
        );
        let st = rows
            .iter()
            .find(|r| r.id == id && r.streaming)
            .and_then(|r| r.summary.stream);
        let stall = st.map(|x| x.added_gap_max_us as f64 / 1000.0);
        bar(
            s,
            &format!("{label}: largest chunk gap ≤ upstream's + 5 ms"),
            stall.map_or_else(|| "–".into(), |x| format!("{x:+.2} ms")),
            stall.map(|x| x <= 5.0),
        );
        let ttfb = st
            .zip(floor_stream.and_then(|f| f.summary.stream))
            .map(|(a, f)| (a.first_byte_p50_us as f64 - f.first_byte_p50_us as f64) / 1000.0);
        bar(
            s,
            &format!("{label}: first byte (p50) ≤ floor's + 0.2 ms"),
            ttfb.map_or_else(|| "–".into(), |x| format!("{x:+.2} ms")),
            ttfb.map(|x| x <= 0.2),
        );
        let idle = report
            .idle
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.rss_kb as f64 / 1024.0);
        bar(
            s,
            &format!("{label}: idle RSS ≤ 50 MB"),
            opt_f(idle, 1),
            idle.map(|x| x <= 50.0),
        );
    }
    if let Some(scale) = &report.scale {
        let growth = scale.rss.as_ref().map(|r| r.growth_pct);
        bar(
            s,
            "RSS growth over the long run ≤ 10 %",
            growth.map_or_else(|| "–".into(), |g| format!("{g:+.1} %")),
            growth.map(|g| g <= 10.0),
        );
        if let [small, large] = scale.auth.as_slice() {
            let r = ratio(large.cached_p50_us as f64, small.cached_p50_us as f64);
            bar(
                s,
                "auth p50 with 100,000 keys ÷ with 10 (cached)",
                opt_f(r, 2),
                r.map(|x| x <= 1.1),
            );
            let r = ratio(large.first_use_p50_us as f64, small.first_use_p50_us as f64);
            bar(
                s,
                "auth p50 with 100,000 keys ÷ with 10 (first use: cache miss, key found)",
                opt_f(r, 2),
                r.map(|x| x <= 1.1),
            );
            let r = ratio(large.unknown_p50_us as f64, small.unknown_p50_us as f64);
            bar(
                s,
                "auth p50 with 100,000 keys ÷ with 10 (unknown key: lookup finds nothing)",
                opt_f(r, 2),
                r.map(|x| x <= 1.1),
            );
        }
        for a in &scale.analytics {
            bar(
                s,
                &format!(
                    "30-day aggregated analytics on {} ≤ 200 ms (p50)",
                    a.backend
                ),
                format!("{:.0} ms", a.p50_ms),
                Some(a.p50_ms <= 200.0),
            );
        }
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// The streaming case: first byte and the largest pause between chunks, against the floor.
fn streams(s: &mut String, report: &Report) {
    let rows: Vec<&Row> = report.rows.iter().filter(|r| r.streaming).collect();
    if rows.is_empty() {
        return;
    }
    let gap_ms = report.meta["chunk_gap_ms"].as_f64().unwrap_or(0.0);
    let _ = writeln!(
        s,
        "\n## Streaming ({} concurrent streams, upstream chunk gap {gap_ms} ms)\n",
        rows[0].connections
    );
    let _ = writeln!(
        s,
        "| target | streams/s | first byte p50 ms | first byte p99 ms | largest gap p50 ms | largest gap p99 ms | largest gap ms | gap added p50 ms | gap added p99 ms | largest gap added ms | CPU µs/stream | errors |"
    );
    let _ = writeln!(
        s,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let Some(st) = r.summary.stream else { continue };
        let _ = writeln!(
            s,
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.summary.rps,
            ms(st.first_byte_p50_us),
            ms(st.first_byte_p99_us),
            ms(st.max_gap_p50_us),
            ms(st.max_gap_p99_us),
            ms(st.max_gap_us),
            ms(st.added_gap_p50_us),
            ms(st.added_gap_p99_us),
            ms(st.added_gap_max_us),
            opt_f(r.cpu_us_per_req, 0),
            r.summary.errors
        );
    }
}

/// Throughput against LiteLLM at each connection count.
fn litellm(s: &mut String, report: &Report) {
    let lite: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.id == "litellm" && !r.streaming)
        .collect();
    if lite.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Against LiteLLM (same connection count)\n");
    let _ = writeln!(
        s,
        "| target | conns | req/s ÷ LiteLLM | p50 latency: LiteLLM ÷ target | CPU/req: LiteLLM ÷ target |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for l in lite {
        for r in report.rows.iter().filter(|r| {
            r.id.starts_with("tollgate") && r.connections == l.connections && !r.streaming
        }) {
            let cpu = l
                .cpu_us_per_req
                .zip(r.cpu_us_per_req)
                .and_then(|(a, b)| ratio(a, b));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                r.label,
                r.connections,
                opt_f(ratio(r.summary.rps, l.summary.rps), 1),
                opt_f(ratio(l.summary.p50_us as f64, r.summary.p50_us as f64), 1),
                opt_f(cpu, 1)
            );
        }
    }
}

/// Idle and peak RSS per server.
fn memory(s: &mut String, report: &Report) {
    if report.idle.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Memory\n");
    let _ = writeln!(s, "| target | idle RSS MB | peak RSS MB (whole run) |");
    let _ = writeln!(s, "|---|---:|---:|");
    for i in &report.idle {
        let peak = report
            .rows
            .iter()
            .filter(|r| r.id == i.id)
            .filter_map(|r| r.peak_rss_kb)
            .max();
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} |",
            i.label,
            i.rss_kb as f64 / 1024.0,
            opt_f(peak.map(|k| k as f64 / 1024.0), 1)
        );
    }
}

fn scale_tables(s: &mut String, scale: &ScaleReport) {
    let _ = writeln!(s, "\n## Scale\n");
    if !scale.auth.is_empty() {
        let _ = writeln!(
            s,
            "| keys in the database | cached key p50 µs | p99 µs | first use p50 µs | p99 µs | unknown key p50 µs | p99 µs |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for a in &scale.auth {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                a.keys_in_db,
                a.cached_p50_us,
                a.cached_p99_us,
                a.first_use_p50_us,
                a.first_use_p99_us,
                a.unknown_p50_us,
                a.unknown_p99_us
            );
        }
    }
    if !scale.analytics.is_empty() {
        let _ = writeln!(
            s,
            "\n| 30-day `/user/daily/activity/aggregated` | daily rows | p50 ms | max ms (up to 5 runs) | first ms (packs the closed days) | every answer, ms | response KB |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---|---:|");
        for a in &scale.analytics {
            let _ = writeln!(
                s,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |",
                a.backend,
                a.daily_rows,
                a.p50_ms,
                a.max_ms,
                a.first_ms,
                a.times_ms
                    .iter()
                    .map(|t| format!("{t:.0}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                a.response_bytes / 1024
            );
        }
    }
    if let Some(r) = &scale.rss {
        let n = r.samples.last().map_or(0, |x| x.0);
        let mb = |kb: u64| kb as f64 / 1024.0;
        let _ = writeln!(
            s,
            "\nRSS over {n} requests ({} one-second samples): {:.1} MB idle, {:.1} MB warm \
             (median of the first samples after the first tenth), {:.1} MB at the end (median of \
             the last): {:+.1} %; between {:.1} and {:.1} MB after the warm-up.",
            r.samples.len(),
            mb(r.idle_kb),
            mb(r.warm_kb),
            mb(r.end_kb),
            r.growth_pct,
            mb(r.min_kb),
            mb(r.max_kb),
        );
    }
    for k in &scale.skipped {
        let _ = writeln!(s, "\n- not measured: {k}");
    }
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
            streaming: false,
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
            idle: Vec::new(),
            scale: None,
            rounds: Vec::new(),
        });
        assert!(
            md.contains("| tollgate-a-sqlite-journal-tmpfs | 1 | 2.50 | 2.50 | 2.00 |"),
            "{md}"
        );
        assert!(md.contains("| 1 | +20.0 | +20.0 | +5.0 |"), "{md}");
    }
}
