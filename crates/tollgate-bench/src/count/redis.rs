//! The count's own Redis server, for variant (d): `redis-server` under callgrind, counting off
//! until the count switches it on with the gateway's, on a port of its own, keeping nothing on
//! disk, its timer slowed to once a second so that its idle work stays out of the counts.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The start of its callgrind files' names.
pub const ID: &str = "redis";

/// A running Redis server under callgrind.
pub struct CountedRedis {
    child: Child,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
}

impl CountedRedis {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it (nothing to keep: it saves nothing).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether a Redis server answers `PING` on `port`.
fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    s.write_all(b"*1\r\n$4\r\nPING\r\n").is_ok()
        && s.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

/// Starts `redis-server` under callgrind and waits until it answers (valgrind starts slowly).
pub async fn start(dir: &Path) -> anyhow::Result<CountedRedis> {
    let port = free_port()?;
    let wrap = super::callgrind::callgrind(dir, ID);
    let child = Command::new(&wrap[0])
        .args(&wrap[1..])
        .arg("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--hz", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting redis-server under valgrind: {e}"))?;
    let redis = CountedRedis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !tokio::task::spawn_blocking(move || answers(port)).await? {
        if Instant::now() > deadline {
            redis.stop();
            anyhow::bail!("redis-server under valgrind did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(redis)
}
