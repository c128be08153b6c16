//! `tollgate-bench count`: instructions per request and per stream, counted by callgrind.
//!
//! Timed figures on a shared two-core machine move by a third from run to run; instruction
//! counts do not (the same binary given the same requests executes the same instructions,
//! whatever else the machine is doing). This starts the floor and Tollgate's variants under
//! `valgrind --tool=callgrind` with counting off, warms each up, then counts exactly what each
//! executes in user space to answer N requests sent one after another on one keep-alive
//! connection, and then N streams, including the work it does after answering (spend written
//! in batches: counting stops only `--settle` after the last answer). Kernel time is not counted, so the ratio
//! to the floor is the ratio of the servers' own work. The callgrind files stay under
//! `<out>/callgrind/` for `callgrind_annotate`. Variant (d) gets a Redis server of its own,
//! counted the same way ([`redis`]), so that the shared limits' work on the server shows too.

mod callgrind;
mod redis;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use self::callgrind::{callgrind, control, dumps, new_total, Counter};
use crate::load::{self, Target};
use crate::procs::{self, Server};
use crate::servers::{self, StreamShape};
use crate::tollgate::{self as tg, Env, Variant};

const FLOOR_ID: &str = "floor";
const FLOOR_LABEL: &str = "floor (bare hyper proxy)";

/// What `count` is asked to do.
pub struct Options {
    /// Requests (and streams) counted per target.
    pub requests: u64,
    /// Requests (and streams) sent before counting starts.
    pub warmup: u64,
    /// How long counting goes on after the last answer, for work done in the background.
    pub settle: Duration,
    /// Content chunks per stream.
    pub chunks: usize,
}

/// One target's counts.
#[derive(Serialize)]
pub struct Counted {
    pub id: String,
    pub label: String,
    /// Instructions per JSON request.
    pub per_request: u64,
    /// Instructions per stream.
    pub per_stream: u64,
    /// The Redis server's instructions per request and per stream, for a target that uses
    /// the count's own Redis.
    pub redis: Option<(u64, u64)>,
}

/// A target that could not be counted, and why.
#[derive(Serialize)]
pub struct Missed {
    pub label: String,
    pub reason: String,
}

/// The whole count report (`<out>/count.json`).
#[derive(Serialize)]
pub struct CountReport {
    pub meta: serde_json::Value,
    pub counted: Vec<Counted>,
    pub skipped: Vec<Missed>,
}

/// A server started under callgrind, with counting off.
struct Counting {
    id: String,
    label: String,
    addr: SocketAddr,
    pid: u32,
    key: Option<String>,
    process: Process,
    /// The Redis server it uses, counted alongside it.
    redis: Option<redis::CountedRedis>,
}

/// What stops a counted server: the floor is a bare process, Tollgate has a database to drop.
enum Process {
    Floor(Server),
    Tollgate(tg::Running),
}

impl Counting {
    /// Stops the server, then its Redis.
    fn stop(self) {
        match self.process {
            Process::Floor(s) => s.stop(),
            Process::Tollgate(r) => r.stop(),
        }
        if let Some(r) = self.redis {
            r.stop();
        }
    }
}

/// Counts what `c` (and its Redis) execute for `opts.requests` requests of one kind, per
/// request.
async fn count_one(
    c: &Counting,
    dir: &Path,
    stream: bool,
    opts: &Options,
) -> anyhow::Result<(u64, Option<u64>)> {
    let target = Target {
        addr: c.addr,
        key: c.key.clone(),
        stream,
    };
    let mut counters = vec![Counter::of(&c.id, c.pid)];
    counters.extend(c.redis.as_ref().map(|r| Counter::of(redis::ID, r.pid())));
    let mut before = Vec::new();
    for counter in &counters {
        before.push(dumps(dir, &counter.files)?);
        control(counter.pid, &["--zero"]).await?;
        control(counter.pid, &["--instr=on"]).await?;
    }
    let errors = load::sequential(&target, opts.requests).await?;
    // The spend of these requests is written within the settle time, and counted.
    tokio::time::sleep(opts.settle).await;
    let mut totals = Vec::new();
    for (counter, before) in counters.iter().zip(&before) {
        control(counter.pid, &["--instr=off"]).await?;
        control(counter.pid, &["--dump"]).await?;
        totals.push(new_total(dir, &counter.files, before)? / opts.requests.max(1));
    }
    anyhow::ensure!(
        errors == 0,
        "{} of {} requests failed",
        errors,
        opts.requests
    );
    Ok((totals[0], totals.get(1).copied()))
}

/// Warms `c` up and counts its JSON requests and its streams.
async fn measure(c: &Counting, dir: &Path, opts: &Options) -> anyhow::Result<Counted> {
    for stream in [false, true] {
        let target = Target {
            addr: c.addr,
            key: c.key.clone(),
            stream,
        };
        load::sequential(&target, opts.warmup).await?;
    }
    // The warm-up's spend is written before counting starts, so that none of it is counted.
    tokio::time::sleep(opts.settle).await;
    let (per_request, redis_request) = count_one(c, dir, false, opts).await?;
    // `count_one` settles after its requests, so the streams start from a quiet server too.
    let (per_stream, redis_stream) = count_one(c, dir, true, opts).await?;
    crate::say(&format!(
        "{}: {per_request} instructions per request, {per_stream} per stream",
        c.label
    ));
    let redis = redis_request.zip(redis_stream);
    if let Some((r, s)) = redis {
        crate::say(&format!(
            "{}: its Redis server {r} per request, {s} per stream",
            c.label
        ));
    }
    Ok(Counted {
        id: c.id.clone(),
        label: c.label.clone(),
        per_request,
        per_stream,
        redis,
    })
}

fn valgrind_version() -> anyhow::Result<String> {
    let out = Command::new("valgrind").arg("--version").output();
    match out {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        _ => anyhow::bail!(
            "`count` runs the servers under valgrind, which is not installed \
             (Debian: apt-get install valgrind)"
        ),
    }
}

/// Starts the floor under callgrind.
fn start_floor(self_exe: &Path, dir: &Path, upstream: SocketAddr) -> anyhow::Result<Counting> {
    let wrap = callgrind(dir, FLOOR_ID);
    let mut cmd = Command::new(&wrap[0]);
    cmd.args(&wrap[1..])
        .arg(self_exe)
        .args(["floor", "--upstream", &upstream.to_string()]);
    let server = procs::spawn(cmd, "floor")?;
    Ok(Counting {
        id: FLOOR_ID.into(),
        label: FLOOR_LABEL.into(),
        addr: server.addr,
        pid: server.pid(),
        key: None,
        process: Process::Floor(server),
        redis: None,
    })
}

/// Starts a Tollgate variant under callgrind.
async fn start_variant(
    variant: Variant,
    env: &Env,
    dir: &Path,
    upstream: SocketAddr,
) -> anyhow::Result<Counting> {
    // The Redis variant gets a Redis server of its own, counted with it, when there is one
    // to start; else it uses the bench's.
    let own_redis = if variant == Variant::SqliteRedis {
        match redis::start(dir).await {
            Ok(r) => Some(r),
            Err(e) => {
                crate::say(&format!(
                    "{}: on the bench's Redis, whose work is not counted: {e:#}",
                    variant.label()
                ));
                None
            }
        }
    } else {
        None
    };
    let mut env = Env {
        wrap: callgrind(dir, variant.id()),
        ..env.clone()
    };
    if let Some(r) = &own_redis {
        env.redis = r.url.clone();
    }
    let running = match tg::start(variant, &env, upstream).await {
        Ok(r) => r,
        Err(e) => {
            if let Some(r) = own_redis {
                r.stop();
            }
            return Err(e);
        }
    };
    Ok(Counting {
        id: variant.id().into(),
        label: variant.label().into(),
        addr: running.server.addr,
        pid: running.server.pid(),
        key: Some(running.key.clone()),
        process: Process::Tollgate(running),
        redis: own_redis,
    })
}

/// The markdown table of a count report.
pub fn markdown(report: &CountReport) -> String {
    let floor = report.counted.iter().find(|c| c.id == FLOOR_ID);
    let ratio = |v: u64, f: Option<u64>| match f {
        Some(f) if f > 0 => format!("{:.2}×", v as f64 / f as f64),
        _ => "–".to_owned(),
    };
    let mut md = String::from(
        "| target | instructions per request | × floor | instructions per stream | × floor |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for c in &report.counted {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            c.label,
            c.per_request,
            ratio(c.per_request, floor.map(|f| f.per_request)),
            c.per_stream,
            ratio(c.per_stream, floor.map(|f| f.per_stream)),
        ));
    }
    for c in &report.counted {
        if let Some((r, s)) = c.redis {
            md.push_str(&format!(
                "\n{}: its Redis server executed {r} instructions per request and {s} per \
                 stream.\n",
                c.label
            ));
        }
    }
    for s in &report.skipped {
        md.push_str(&format!("\n{}: skipped: {}\n", s.label, s.reason));
    }
    md
}

/// Runs the count: the floor and the selected variants, one after another.
pub async fn run(
    env: &Env,
    self_exe: &Path,
    out: &Path,
    selected: impl Fn(&str) -> bool,
    opts: &Options,
) -> anyhow::Result<CountReport> {
    let valgrind = valgrind_version()?;
    // This run's files only, so that there is no telling them apart from an earlier run's.
    let dir = out.join("callgrind");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let shape = StreamShape {
        chunks: opts.chunks.max(1),
        gap: Duration::ZERO,
    };
    let upstream = servers::spawn_upstream("127.0.0.1:0".parse()?, Duration::ZERO, shape).await?;
    let mut report = CountReport {
        meta: serde_json::json!({
            "valgrind": valgrind,
            "requests": opts.requests,
            "warmup": opts.warmup,
            "settle_s": opts.settle.as_secs_f64(),
            "stream_chunks": shape.chunks,
            "command": std::env::args().skip(1).collect::<Vec<_>>().join(" "),
        }),
        counted: Vec::new(),
        skipped: Vec::new(),
    };
    // `None` is the floor.
    let targets = std::iter::once(None).chain(Variant::ALL.map(Some));
    for variant in targets.filter(|v| selected(v.map_or(FLOOR_ID, Variant::id))) {
        let label = variant.map_or(FLOOR_LABEL, Variant::label);
        let started = match variant {
            Some(v) => start_variant(v, env, &dir, upstream).await,
            None => start_floor(self_exe, &dir, upstream),
        };
        let got = match started {
            Ok(counting) => {
                let got = measure(&counting, &dir, opts).await;
                counting.stop();
                got
            }
            Err(e) => Err(e),
        };
        match got {
            Ok(c) => report.counted.push(c),
            Err(e) => {
                crate::say(&format!("{label}: skipped: {e:#}"));
                report.skipped.push(Missed {
                    label: label.to_owned(),
                    reason: format!("{e:#}"),
                });
            }
        }
    }
    Ok(report)
}
