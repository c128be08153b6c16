//! `tollgate-bench`: measures Tollgate against the physical floor, in one run on one machine.
//!
//! It starts a fake OpenAI upstream (in process), the floor (a bare hyper pass-through proxy, run
//! as a child process: `tollgate-bench floor`), and Tollgate variants (the release binary, each a
//! child process with its own database and a virtual key with a budget and rate limits). A load
//! generator drives each target with N keep-alive connections and reports requests/s, p50/p99
//! latency, latency added over the direct call, CPU µs per request of the server process (from
//! `/proc/<pid>/stat`) and peak RSS (`VmHWM`). With `--rounds N` every target is measured N times,
//! the targets taking turns, and each figure is the median ([`rounds`]). Reports go to
//! `<out>/report.{json,md}`; `scripts/bench`
//! runs it with `--out target/bench` (the repository's `target/`, not `CARGO_TARGET_DIR`).

mod count;
mod litellm;
mod load;
mod procs;
mod report;
mod rounds;
mod scale;
mod servers;
mod stats;
mod tollgate;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::load::Target;
use crate::report::{Idle, Report, Row, Skipped};
use crate::tollgate::Variant;

#[derive(Parser)]
#[command(about = "Benchmark Tollgate against a bare hyper proxy and a fake upstream")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Sub>,
    /// Connection counts to run, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32,256")]
    connections: Vec<usize>,
    /// Concurrent streams of the streaming case (0 leaves it out).
    #[arg(long, default_value_t = 512)]
    streams: usize,
    /// Content chunks per upstream stream.
    #[arg(long, default_value_t = 10)]
    stream_chunks: usize,
    /// The upstream's pause between two chunks of a stream.
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    chunk_gap: Duration,
    /// Also run the scale cases: 100,000 keys, 30 days of analytics, RSS over many requests.
    #[arg(long)]
    scale: bool,
    /// Which scale cases `--scale` runs (`auth`, `analytics`, `rss`), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "auth,analytics,rss")]
    scale_cases: Vec<String>,
    /// Requests sent through one process for the RSS-growth scale case.
    #[arg(long, default_value_t = 1_000_000)]
    rss_requests: u64,
    /// A `litellm` executable (LiteLLM's proxy CLI) to measure side by side; `scripts/bench
    /// --with-litellm` installs one and passes it.
    #[arg(long)]
    litellm: Option<PathBuf>,
    /// Only these targets (ids or prefixes, comma separated: `floor,tollgate-a`); all by default.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// How many times each target is measured, the targets taking turns (every server runs
    /// for the whole run); each figure is then the median over the rounds.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    rounds: u16,
    /// Measured time per case (`5s`, `500ms`).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    duration: Duration,
    /// 0.5 s per case and a short warm-up: for CI, asserts no timing.
    #[arg(long)]
    smoke: bool,
    /// Split the machine: the generator and the fake upstream on CPU 0, each server under test
    /// on the other CPUs (so that a server's figures are not its load generator's stalls).
    #[arg(long)]
    pin: bool,
    /// Fixed latency of the fake upstream (`0ms`, `20ms`).
    #[arg(long, default_value = "0ms", value_parser = parse_duration)]
    upstream_latency: Duration,
    /// The release `tollgate` binary (default: next to this binary).
    #[arg(long)]
    tollgate: Option<PathBuf>,
    /// Where report.json, report.md and the per-run databases go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// PostgreSQL server, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
}

#[derive(Subcommand)]
enum Sub {
    /// Run the floor proxy (used by the bench itself as a child process).
    Floor {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        upstream: SocketAddr,
    },
    /// Count the instructions the floor and Tollgate execute per request and per stream, under
    /// valgrind's callgrind (repeatable where timings are not); honours `--only`, `--tollgate`,
    /// `--out` and `--stream-chunks`, and writes `count.json` and `count.md`.
    Count {
        /// Requests, then streams, counted per target (one after another on one connection).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
        requests: u64,
        /// Requests, then streams, sent before counting starts.
        #[arg(long, default_value_t = 200)]
        warmup: u64,
        /// How long counting goes on after the last answer: longer than Tollgate's spend-batch
        /// interval (`proxy_batch_write_at`, 10 s by default), so that the counted requests'
        /// spend is written, and counted, and the warm-up's is written before counting starts.
        #[arg(long, default_value = "11s", value_parser = parse_duration)]
        settle: Duration,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(v * mult))
}

fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Some(Sub::Floor { listen, upstream }) => floor(listen, upstream).await,
        Some(Sub::Count {
            requests,
            warmup,
            settle,
        }) => {
            let opts = count::Options {
                requests,
                warmup,
                settle,
                chunks: cli.stream_chunks,
            };
            count(&cli, &opts).await
        }
        None => bench(cli).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("tollgate-bench: {e:#}"));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn floor(listen: SocketAddr, upstream: SocketAddr) -> anyhow::Result<()> {
    let listener = servers::listen(listen)?;
    say(&format!(
        "floor listening on http://{}",
        listener.local_addr()?
    ));
    servers::run_floor(listener, upstream).await
}

/// The load cases of a run: JSON requests at each connection count, then the streaming case.
fn cases(cli: &Cli) -> Vec<(usize, bool)> {
    let mut out: Vec<(usize, bool)> = cli.connections.iter().map(|&c| (c, false)).collect();
    if cli.streams > 0 {
        out.push((cli.streams, true));
    }
    out
}

/// Whether `id` is selected by `--only`.
fn selected(cli: &Cli, id: &str) -> bool {
    cli.only.is_empty() || cli.only.iter().any(|o| id.starts_with(o.as_str()))
}

/// A server to measure: its address, the bearer key to send, and its process.
struct Subject<'a> {
    id: &'a str,
    label: &'a str,
    addr: SocketAddr,
    key: Option<String>,
    pid: Option<u32>,
}

/// Runs every case against one target.
async fn measure(cli: &Cli, sub: &Subject<'_>, ticks: u64) -> anyhow::Result<Vec<Row>> {
    let (duration, warmup) = if cli.smoke {
        (Duration::from_millis(500), Duration::from_millis(100))
    } else {
        (cli.duration, (cli.duration / 5).min(Duration::from_secs(1)))
    };
    let mut rows = Vec::new();
    for (conns, stream) in cases(cli) {
        let target = Target {
            addr: sub.addr,
            key: sub.key.clone(),
            stream,
        };
        // Warm up separately so that the CPU window covers the measured requests only.
        load::run(&target, conns, Duration::ZERO, warmup).await?;
        let before = sub.pid.and_then(|p| procs::cpu_us(p, ticks));
        let summary = load::run(&target, conns, Duration::ZERO, duration).await?;
        let after = sub.pid.and_then(|p| procs::cpu_us(p, ticks));
        let cpu = before
            .zip(after)
            .filter(|_| summary.requests > 0)
            .map(|(b, a)| a.saturating_sub(b) as f64 / summary.requests as f64);
        let kind = if stream { "streams" } else { "conns" };
        say(&format!(
            "{} @ {conns} {kind}: {:.0} req/s, p50 {} µs, p99 {} µs, errors {}",
            sub.label, summary.rps, summary.p50_us, summary.p99_us, summary.errors
        ));
        rows.push(Row {
            id: sub.id.to_owned(),
            label: sub.label.to_owned(),
            connections: conns,
            streaming: stream,
            summary,
            added_p50_us: None,
            added_p99_us: None,
            cpu_us_per_req: cpu,
            peak_rss_kb: sub.pid.and_then(procs::peak_rss_kb),
        });
    }
    Ok(rows)
}

fn machine() -> serde_json::Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default();
    serde_json::json!({ "cpus": cpus, "cpu_model": model })
}

/// What a run collects as it goes.
#[derive(Default)]
struct Collected {
    rows: Vec<Row>,
    skipped: Vec<Skipped>,
    idle: Vec<Idle>,
}

impl Collected {
    fn skip(&mut self, label: &str, e: &anyhow::Error) {
        say(&format!("{label}: skipped: {e:#}"));
        self.skipped.push(Skipped {
            label: label.to_owned(),
            reason: format!("{e:#}"),
        });
    }

    /// Records the idle RSS of a server that just started.
    fn idle(&mut self, sub: &Subject<'_>) {
        if let Some(kb) = sub.pid.and_then(procs::rss_kb) {
            self.idle.push(Idle {
                id: sub.id.to_owned(),
                label: sub.label.to_owned(),
                rss_kb: kb,
            });
        }
    }
}

/// Measures every subject once per round, in turn; a subject that fails is skipped from then on.
async fn run_rounds(
    cli: &Cli,
    subjects: &[Subject<'_>],
    ticks: u64,
    got: &mut Collected,
) -> Vec<Vec<Row>> {
    let mut failed = vec![false; subjects.len()];
    let mut out = Vec::new();
    for round in 1..=cli.rounds {
        if cli.rounds > 1 {
            say(&format!("round {round} of {}", cli.rounds));
        }
        let mut rows = Vec::new();
        for (sub, failed) in subjects.iter().zip(failed.iter_mut()) {
            if *failed {
                continue;
            }
            match measure(cli, sub, ticks).await {
                Ok(r) => rows.extend(r),
                Err(e) => {
                    *failed = true;
                    got.skip(sub.label, &e);
                }
            }
        }
        report::fill_added(&mut rows);
        out.push(rows);
    }
    out
}

/// The `tollgate` binary to measure: `--tollgate`, else the one next to this binary.
fn tollgate_binary(cli: &Cli, self_exe: &std::path::Path) -> PathBuf {
    match &cli.tollgate {
        Some(p) => p.clone(),
        None => self_exe.with_file_name("tollgate"),
    }
}

/// `tollgate-bench count`: instructions per request and per stream ([`count`]).
async fn count(cli: &Cli, opts: &count::Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cli.out)?;
    let out = std::fs::canonicalize(&cli.out)?;
    let self_exe = std::env::current_exe()?;
    let run_dir = tempfile::Builder::new().prefix("count-").tempdir_in(&out)?;
    let env = tollgate::Env {
        binary: tollgate_binary(cli, &self_exe),
        disk_dir: run_dir.path().to_owned(),
        postgres: cli.postgres.clone(),
        redis: cli.redis.clone(),
        wrap: Vec::new(),
    };
    let report = count::run(&env, &self_exe, &out, |id| selected(cli, id), opts).await?;
    write_reports(&out, "count", &report, &count::markdown(&report))?;
    anyhow::ensure!(!report.counted.is_empty(), "no target was counted");
    Ok(())
}

async fn bench(cli: Cli) -> anyhow::Result<()> {
    let ticks = procs::clock_ticks();
    let pinned = if cli.pin { Some(procs::pin()?) } else { None };
    std::fs::create_dir_all(&cli.out)?;
    let out = std::fs::canonicalize(&cli.out)?;
    let self_exe = std::env::current_exe()?;
    let binary = tollgate_binary(&cli, &self_exe);
    let shape = servers::StreamShape {
        chunks: cli.stream_chunks.max(1),
        gap: cli.chunk_gap,
    };
    let upstream =
        servers::spawn_upstream("127.0.0.1:0".parse()?, cli.upstream_latency, shape).await?;
    let mut got = Collected::default();

    let direct = Subject {
        id: "direct",
        label: "direct (generator → upstream)",
        addr: upstream,
        key: None,
        pid: None,
    };
    // Every server runs for the whole run, so that the rounds can take turns.
    let floor = if selected(&cli, "floor") {
        let mut cmd = Command::new(&self_exe);
        cmd.args(["floor", "--upstream", &upstream.to_string()]);
        Some(procs::spawn(cmd, "floor")?)
    } else {
        None
    };
    let run_dir = tempfile::Builder::new().prefix("run-").tempdir_in(&out)?;
    let env = tollgate::Env {
        binary,
        disk_dir: run_dir.path().to_owned(),
        postgres: cli.postgres.clone(),
        redis: cli.redis.clone(),
        wrap: Vec::new(),
    };
    let mut running = Vec::new();
    for variant in Variant::ALL.into_iter().filter(|v| selected(&cli, v.id())) {
        match tollgate::start(variant, &env, upstream).await {
            Ok(r) => running.push((variant, r)),
            Err(e) => got.skip(variant.label(), &e),
        }
    }
    let mut subjects = vec![direct];
    subjects.extend(floor.as_ref().map(|f| Subject {
        id: "floor",
        label: "floor (bare hyper proxy)",
        addr: f.addr,
        key: None,
        pid: Some(f.pid()),
    }));
    subjects.extend(running.iter().map(|(v, r)| Subject {
        id: v.id(),
        label: v.label(),
        addr: r.server.addr,
        key: Some(r.key.clone()),
        pid: Some(r.server.pid()),
    }));
    for sub in &subjects {
        got.idle(sub);
    }
    let per_round = run_rounds(&cli, &subjects, ticks, &mut got).await;
    got.rows = rounds::combine(&per_round);
    if let Some(f) = floor {
        f.stop();
    }
    for (_, r) in running {
        r.stop();
    }

    if let Some(path) = &cli.litellm {
        match litellm::start(path, run_dir.path(), upstream).await {
            Ok(server) => {
                let sub = Subject {
                    id: "litellm",
                    label: "LiteLLM 1.81.16 (1 worker, no database)",
                    addr: server.addr,
                    key: Some(litellm::MASTER_KEY.to_owned()),
                    pid: Some(server.pid()),
                };
                got.idle(&sub);
                match measure(&cli, &sub, ticks).await {
                    Ok(r) => got.rows.extend(r),
                    Err(e) => got.skip(sub.label, &e),
                }
                server.stop();
            }
            Err(e) => got.skip("LiteLLM", &e),
        }
    }

    let scale = if cli.scale {
        Some(scale::run(&env, upstream, cli.rss_requests, &cli.scale_cases).await?)
    } else {
        None
    };

    report::fill_added(&mut got.rows);
    let mut meta = machine();
    if let Some(m) = meta.as_object_mut() {
        m.insert(
            "duration_s".into(),
            serde_json::json!(if cli.smoke {
                0.5
            } else {
                cli.duration.as_secs_f64()
            }),
        );
        m.insert("smoke".into(), serde_json::json!(cli.smoke));
        m.insert("rounds".into(), serde_json::json!(cli.rounds));
        m.insert("server_cpus".into(), serde_json::json!(pinned));
        m.insert("connections".into(), serde_json::json!(cli.connections));
        m.insert("streams".into(), serde_json::json!(cli.streams));
        m.insert("stream_chunks".into(), serde_json::json!(shape.chunks));
        m.insert(
            "chunk_gap_ms".into(),
            serde_json::json!(shape.gap.as_secs_f64() * 1000.0),
        );
        m.insert(
            "upstream_latency_ms".into(),
            serde_json::json!(cli.upstream_latency.as_secs_f64() * 1000.0),
        );
        m.insert(
            "command".into(),
            serde_json::json!(std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
        );
    }
    let report = Report {
        meta,
        rows: got.rows,
        skipped: got.skipped,
        idle: got.idle,
        scale,
        rounds: if per_round.len() > 1 {
            per_round
        } else {
            Vec::new()
        },
    };
    write_reports(&out, "report", &report, &report::markdown(&report))
}

/// Writes `<stem>.json` and `<stem>.md` under `out` and prints the markdown.
fn write_reports(
    out: &std::path::Path,
    stem: &str,
    report: &impl serde::Serialize,
    md: &str,
) -> anyhow::Result<()> {
    std::fs::write(
        out.join(format!("{stem}.json")),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(out.join(format!("{stem}.md")), md)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{md}")?;
    writeln!(stdout, "reports written to {}", out.display())?;
    Ok(())
}
