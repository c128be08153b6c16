//! Child processes under test: starting them, reading their CPU time and peak RSS, stopping them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::Duration;

/// The CPUs servers under test run on, when `--pin` split the machine.
static SERVER_CPUS: OnceLock<String> = OnceLock::new();

/// Splits the machine: this process (the load generator and the fake upstream) on CPU 0, every
/// server started afterwards on the others, so that a server's stalls are its own and not the
/// generator's.
pub fn pin() -> anyhow::Result<String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    anyhow::ensure!(
        cpus >= 2,
        "--pin needs at least two CPUs, this machine has {cpus}"
    );
    let servers = format!("1-{}", cpus - 1);
    taskset(std::process::id(), "0")?;
    let _ = SERVER_CPUS.set(servers.clone());
    Ok(servers)
}

/// Sets the CPUs of every thread of `pid` (threads it starts later inherit them).
fn taskset(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .output()
        .map_err(|e| anyhow::anyhow!("taskset: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "taskset: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Puts a started server on the servers' CPUs, when the machine is split.
fn place(server: Server) -> anyhow::Result<Server> {
    if let Some(cpus) = SERVER_CPUS.get() {
        if let Err(e) = taskset(server.pid(), cpus) {
            server.stop();
            return Err(e);
        }
    }
    Ok(server)
}

/// A server under test running as a child process.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The last lines it wrote to stderr (kept for error messages).
    tail: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// Starts `cmd` with stderr piped and waits for `listening on http://ADDR` on it.
pub fn spawn(cmd: Command, what: &str) -> anyhow::Result<Server> {
    spawn_with(cmd, what, None)
}

/// Starts `cmd` (which listens on `addr`) and waits until `GET ready_path` there answers 200.
pub async fn spawn_ready(
    cmd: Command,
    what: &str,
    addr: SocketAddr,
    ready_path: &str,
    wait: Duration,
) -> anyhow::Result<Server> {
    let server = spawn_with(cmd, what, Some(addr))?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Ok((status, _)) = crate::load::call(addr, "GET", ready_path, "", "").await {
            if status.is_success() {
                return place(server);
            }
        }
        if std::time::Instant::now() > deadline {
            let tail = server.tail();
            server.stop();
            anyhow::bail!("{what} was not ready within {wait:?}:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts `cmd`; with `known` set, does not wait for it to print its address.
fn spawn_with(mut cmd: Command, what: &str, known: Option<SocketAddr>) -> anyhow::Result<Server> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {what}: {e}"))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| anyhow::anyhow!("{what}: no stderr"))?;
    let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let tail2 = std::sync::Arc::clone(&tail);
    // Keeps draining stderr for the life of the child so that its logging never blocks.
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(rest.trim().to_owned());
                    sent = true;
                }
            }
            if let Ok(mut t) = tail2.lock() {
                t.push(line);
                if t.len() > 20 {
                    t.remove(0);
                }
            }
        }
    });
    if let Some(addr) = known {
        return Ok(Server { child, addr, tail });
    }
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(a) => a,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let lines = tail.lock().map(|t| t.join("\n")).unwrap_or_default();
            anyhow::bail!("{what} did not say where it listens:\n{lines}");
        }
    };
    let addr = addr
        .parse()
        .map_err(|e| anyhow::anyhow!("{what}: bad address {addr}: {e}"))?;
    place(Server { child, addr, tail })
}

impl Server {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of its stderr.
    pub fn tail(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }

    /// Stops it with SIGTERM (so that Tollgate flushes spend), then SIGKILL after 10 s.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` (from `getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// utime + stime of a process, in clock ticks, parsed from the text of `/proc/<pid>/stat`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces: fields after the last ')' start at 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// utime + stime of `pid` in microseconds.
pub fn cpu_us(pid: u32, ticks: u64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_cpu_ticks(&stat)? * 1_000_000 / ticks.max(1))
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident set size (VmHWM) of `pid`, kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

/// Current resident set size (VmRSS) of `pid`, kB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime_even_with_spaces_in_the_name() {
        let stat = "1234 (tokio worker) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }
}
