//! One connection to Redis shared by every request, with no task of its own. A request writes
//! its command on the socket itself and waits for its reply on the socket itself: whichever
//! waiting request the socket wakes reads every reply that has arrived and hands each to the
//! request it belongs to (replies come in the order the commands were written). A round trip
//! therefore costs one wake-up of the waiting request, as any socket read does, instead of a hop
//! to a connection task and back. The socket wakes only the request that last waited on it, so
//! when that request leaves while others wait, it wakes one of them to take its place. A command
//! can also be sent without waiting: its reply is read and dropped by whoever reads next.
//!
//! A connection that fails (closed, malformed bytes, a reply later than [`TIMEOUT`]) fails every
//! request waiting on it, and the next request opens a new one.

use std::collections::hash_map::Entry;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use redis::{ConnectionAddr, IntoConnectionInfo};
use rustc_hash::{FxHashMap, FxHashSet};
use tokio::net::{TcpStream, UnixStream};

use super::resp::{self, Command, Reply};

/// The bound on connecting and on one reply, so that a slow Redis cannot stall requests.
pub const TIMEOUT: Duration = Duration::from_millis(500);
/// Replies no one waits for that may pile up before a sender reads them.
const UNREAD_REPLIES: usize = 32;

/// Why a Redis command did not answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RedisError {
    #[error("invalid Redis URL: {0}")]
    Url(String),
    #[error("Redis authentication failed: {0}")]
    Auth(String),
    #[error("Redis connection failed: {0}")]
    Connection(String),
    /// An error reply (`-ERR ...`); the connection itself is fine.
    #[error("Redis refused the command: {0}")]
    Refused(String),
    #[error("Redis answered {0:?} where a different reply was expected")]
    Unexpected(String),
}

pub type RedisResult<T> = Result<T, RedisError>;

impl RedisError {
    pub fn unexpected(reply: &Reply) -> Self {
        Self::Unexpected(format!("{reply:?}"))
    }
}

/// Where Redis is and how to log in, from a `redis://` or `redis+unix://` URL.
#[derive(Debug, Clone)]
struct Target {
    addr: Addr,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

#[derive(Debug, Clone)]
enum Addr {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
}

impl Target {
    fn parse(url: &str) -> RedisResult<Self> {
        let info = url
            .into_connection_info()
            .map_err(|e| RedisError::Url(e.to_string()))?;
        let addr = match info.addr() {
            ConnectionAddr::Tcp(host, port) => Addr::Tcp(host.clone(), *port),
            ConnectionAddr::Unix(path) => Addr::Unix(path.clone()),
            _ => return Err(RedisError::Url("TLS (rediss://) is not supported".into())),
        };
        let settings = info.redis_settings();
        Ok(Self {
            addr,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
        })
    }
}

/// A Redis server, connected on first use and again after a failure.
pub struct RedisLink {
    target: Target,
    current: Mutex<Option<Arc<Conn>>>,
    /// One connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
}

impl RedisLink {
    /// A link to the Redis of `url`; nothing is connected until the first command.
    pub fn new(url: &str) -> RedisResult<Self> {
        Ok(Self {
            target: Target::parse(url)?,
            current: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Sends `cmd` and waits for its reply; an error reply is [`RedisError::Refused`].
    pub async fn query(&self, cmd: &Command) -> RedisResult<Reply> {
        let conn = self.conn().await?;
        conn.ask(cmd).await
    }

    fn healthy(&self) -> Option<Arc<Conn>> {
        let current = lock(&self.current);
        current.as_ref().filter(|c| !c.is_broken()).cloned()
    }

    async fn conn(&self) -> RedisResult<Arc<Conn>> {
        if let Some(c) = self.healthy() {
            return Ok(c);
        }
        let _one = self.connecting.lock().await;
        if let Some(c) = self.healthy() {
            return Ok(c);
        }
        let conn = tokio::time::timeout(TIMEOUT, Conn::open(&self.target))
            .await
            .map_err(|_| RedisError::Connection(format!("no connection within {TIMEOUT:?}")))??;
        *lock(&self.current) = Some(conn.clone());
        Ok(conn)
    }
}

/// A Lua script, sent by its SHA-1, and in full when Redis does not know it (yet, or any more
/// after a restart or `SCRIPT FLUSH`).
pub struct Script {
    body: String,
    sha: String,
}

impl Script {
    pub fn new(body: impl Into<String>) -> Self {
        let body = body.into();
        Self {
            sha: redis::Script::new(&body).get_hash().to_owned(),
            body,
        }
    }

    #[cfg(test)]
    pub fn body(&self) -> &str {
        &self.body
    }
}

impl RedisLink {
    /// Runs `script` with `keys` and `args`.
    pub async fn eval(
        &self,
        script: &Script,
        keys: &Command,
        args: &Command,
    ) -> RedisResult<Reply> {
        let call = |verb: &str, first: &str| {
            let mut c = Command::new(verb);
            c.arg(first).arg(keys.len()).append(keys).append(args);
            c
        };
        match self.query(&call("EVALSHA", &script.sha)).await {
            Err(RedisError::Refused(m)) if m.starts_with("NOSCRIPT") => {
                self.query(&call("EVAL", &script.body)).await
            }
            answer => answer,
        }
    }

    /// Writes `script` with `keys` and `args` on the open connection and returns without
    /// waiting: the reply is read and dropped by whichever request reads next. The script goes
    /// in full (`EVAL`), since no one waits to send it again should Redis have forgotten it.
    /// `false` when no connection is open or writing failed; nothing was sent then.
    pub fn eval_unawaited(&self, script: &Script, keys: &Command, args: &Command) -> bool {
        let Some(conn) = self.healthy() else {
            return false;
        };
        let mut call = Command::new("EVAL");
        call.arg(&script.body)
            .arg(keys.len())
            .append(keys)
            .append(args);
        conn.send_unawaited(&call)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn io_error(e: &std::io::Error) -> RedisError {
    RedisError::Connection(e.to_string())
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn try_write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(bytes),
            Stream::Unix(s) => s.try_write(bytes),
        }
    }

    fn try_read_buf(&self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
        }
    }

    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_read_ready(cx),
            Stream::Unix(s) => s.poll_read_ready(cx),
        }
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Stream::Tcp(s) => s.poll_write_ready(cx),
            Stream::Unix(s) => s.poll_write_ready(cx),
        }
    }
}

/// What the requests sharing a connection share: bytes to write, bytes read, and who waits.
#[derive(Default)]
struct Wire {
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    parsed: usize,
    /// Commands written so far; a command's number is its position.
    sent: u64,
    /// Replies read so far.
    answered: u64,
    /// Replies read for requests that have not taken them yet.
    ready: FxHashMap<u64, Reply>,
    /// Requests waiting for their reply, to be woken when it is read.
    waiting: FxHashMap<u64, Waker>,
    /// Requests that gave up: their replies are read and dropped.
    abandoned: FxHashSet<u64>,
    /// The request whose waker the socket wakes when bytes arrive.
    reader: Option<u64>,
    broken: Option<RedisError>,
    /// A refused command no one waited for has been logged (once per connection).
    warned: bool,
}

/// One open connection.
struct Conn {
    io: Stream,
    wire: Mutex<Wire>,
    broken: AtomicBool,
}

impl Conn {
    async fn open(target: &Target) -> RedisResult<Arc<Self>> {
        let io = match &target.addr {
            Addr::Tcp(host, port) => {
                let s = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| io_error(&e))?;
                s.set_nodelay(true).map_err(|e| io_error(&e))?;
                Stream::Tcp(s)
            }
            Addr::Unix(path) => {
                Stream::Unix(UnixStream::connect(path).await.map_err(|e| io_error(&e))?)
            }
        };
        let conn = Arc::new(Self {
            io,
            wire: Mutex::new(Wire::default()),
            broken: AtomicBool::new(false),
        });
        if let Some(password) = &target.password {
            let mut auth = Command::new("AUTH");
            if let Some(user) = &target.username {
                auth.arg(user.as_str());
            }
            auth.arg(password.as_str());
            conn.ask(&auth).await.map_err(|e| match e {
                RedisError::Refused(m) => RedisError::Auth(m),
                e => e,
            })?;
        }
        if target.db != 0 {
            conn.ask(Command::new("SELECT").arg(target.db)).await?;
        }
        Ok(conn)
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Sends `cmd` and waits for its reply, at most [`TIMEOUT`].
    async fn ask(self: &Arc<Self>, cmd: &Command) -> RedisResult<Reply> {
        let waiting = self.send(cmd);
        match tokio::time::timeout(TIMEOUT, waiting).await {
            Ok(Ok(Reply::Error(message))) => Err(RedisError::Refused(message)),
            Ok(answer) => answer,
            Err(_) => {
                let e = RedisError::Connection(format!("no reply within {TIMEOUT:?}"));
                self.fail(&mut lock(&self.wire), e.clone());
                Err(e)
            }
        }
    }

    /// Queues `cmd` and writes what the socket takes now.
    fn send(self: &Arc<Self>, cmd: &Command) -> Waiting {
        let mut wire = lock(&self.wire);
        let id = wire.sent;
        if wire.broken.is_none() {
            cmd.write_to(&mut wire.out);
            wire.sent += 1;
            if let Err(e) = self.write_now(&mut wire) {
                self.fail(&mut wire, e);
            }
        }
        Waiting {
            conn: self.clone(),
            id,
            done: false,
        }
    }

    /// Sends `cmd` without waiting for its reply; `false` when the connection has failed.
    fn send_unawaited(self: &Arc<Self>, cmd: &Command) -> bool {
        let waiting = self.send(cmd);
        let mut wire = lock(&self.wire);
        if wire.broken.is_some() {
            return false;
        }
        if wire.written < wire.out.len() {
            // The socket is full: a task finishes the write and takes the reply.
            drop(wire);
            tokio::spawn(waiting);
            return true;
        }
        // Replies no one waits for are read here when no waiting request reads them.
        if wire.waiting.is_empty() && wire.abandoned.len() >= UNREAD_REPLIES {
            if let Err(e) = self.read_now(&mut wire, None) {
                self.fail(&mut wire, e);
            }
        }
        drop(wire);
        drop(waiting);
        true
    }

    /// Reads and hands out the replies that have arrived, without waiting for more (`me`
    /// reads them: it is not woken).
    fn read_now(&self, wire: &mut Wire, me: Option<u64>) -> RedisResult<()> {
        loop {
            wire.input.reserve(16 * 1024);
            match self.io.try_read_buf(&mut wire.input) {
                Ok(0) => return Err(RedisError::Connection("Redis closed the connection".into())),
                Ok(_) => hand_out(wire, me)?,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(io_error(&e)),
            }
        }
    }

    /// Writes queued bytes until the socket would block.
    fn write_now(&self, wire: &mut Wire) -> RedisResult<()> {
        while wire.written < wire.out.len() {
            match self.io.try_write(&wire.out[wire.written..]) {
                Ok(n) => wire.written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(io_error(&e)),
            }
        }
        wire.out.clear();
        wire.written = 0;
        Ok(())
    }

    /// Writes queued bytes; when the socket is full, `cx` is woken once it takes more.
    fn poll_write(&self, wire: &mut Wire, cx: &mut Context<'_>) -> RedisResult<()> {
        loop {
            self.write_now(wire)?;
            if wire.written == wire.out.len() {
                return Ok(());
            }
            match self.io.poll_write_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(io_error(&e)),
                Poll::Pending => return Ok(()),
            }
        }
    }

    /// Reads and hands out every reply that has arrived; then `cx` (request `me`) is the one
    /// the socket wakes.
    fn poll_read(&self, wire: &mut Wire, me: u64, cx: &mut Context<'_>) -> RedisResult<()> {
        loop {
            match self.io.poll_read_ready(cx) {
                Poll::Pending => {
                    wire.reader = Some(me);
                    return Ok(());
                }
                Poll::Ready(Err(e)) => return Err(io_error(&e)),
                // Reading until the socket would block clears its readiness.
                Poll::Ready(Ok(())) => self.read_now(wire, Some(me))?,
            }
        }
    }

    /// Fails the connection and every request waiting on it.
    fn fail(&self, wire: &mut Wire, e: RedisError) {
        if wire.broken.is_none() {
            tracing::debug!("Redis connection dropped: {e}");
            wire.broken = Some(e);
        }
        self.broken.store(true, Ordering::Relaxed);
        for (_, w) in wire.waiting.drain() {
            w.wake();
        }
    }

    /// Request `me` is leaving: if the socket would have woken it, or bytes are still to be
    /// written, another waiting request takes over.
    fn hand_over(wire: &mut Wire, me: u64) {
        let stuck = wire.written < wire.out.len();
        if wire.reader == Some(me) || stuck {
            wire.reader = None;
            if let Some(next) = wire.waiting.keys().min().copied() {
                if let Some(w) = wire.waiting.remove(&next) {
                    w.wake();
                }
            }
        }
    }
}

/// Parses the replies read so far and gives each to its request (`me` reads them: it is not
/// woken).
fn hand_out(wire: &mut Wire, me: Option<u64>) -> RedisResult<()> {
    while let Some((reply, used)) = resp::parse(&wire.input[wire.parsed..])
        .map_err(|m| RedisError::Connection(m.to_string()))?
    {
        wire.parsed += used;
        let id = wire.answered;
        wire.answered += 1;
        if wire.abandoned.remove(&id) {
            if let Reply::Error(message) = &reply {
                if !wire.warned {
                    wire.warned = true;
                    tracing::warn!("Redis refused a command no one waited for: {message}");
                }
            }
            continue;
        }
        if let Some(w) = wire.waiting.remove(&id) {
            if Some(id) != me {
                w.wake();
            }
        }
        wire.ready.insert(id, reply);
    }
    if wire.parsed == wire.input.len() {
        wire.input.clear();
        wire.parsed = 0;
    } else if wire.parsed > 64 * 1024 {
        wire.input.drain(..wire.parsed);
        wire.parsed = 0;
    }
    Ok(())
}

/// A request waiting for its reply.
struct Waiting {
    conn: Arc<Conn>,
    id: u64,
    done: bool,
}

impl Waiting {
    fn take(&mut self, wire: &mut Wire) -> Option<Reply> {
        let reply = wire.ready.remove(&self.id)?;
        self.done = true;
        Conn::hand_over(wire, self.id);
        Some(reply)
    }
}

impl Future for Waiting {
    type Output = RedisResult<Reply>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let conn = self.conn.clone();
        let mut wire = lock(&conn.wire);
        if let Some(reply) = self.take(&mut wire) {
            return Poll::Ready(Ok(reply));
        }
        if let Some(e) = &wire.broken {
            self.done = true;
            return Poll::Ready(Err(e.clone()));
        }
        let id = self.id;
        let step = conn
            .poll_write(&mut wire, cx)
            .and_then(|()| conn.poll_read(&mut wire, id, cx));
        if let Err(e) = step {
            conn.fail(&mut wire, e.clone());
            self.done = true;
            return Poll::Ready(Err(e));
        }
        if let Some(reply) = self.take(&mut wire) {
            return Poll::Ready(Ok(reply));
        }
        match wire.waiting.entry(id) {
            Entry::Occupied(mut o) if !o.get().will_wake(cx.waker()) => {
                o.insert(cx.waker().clone());
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(v) => {
                v.insert(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut wire = lock(&self.conn.wire);
        if wire.broken.is_some() {
            return;
        }
        wire.waiting.remove(&self.id);
        if wire.ready.remove(&self.id).is_none() && self.id < wire.sent {
            wire.abandoned.insert(self.id);
        }
        Conn::hand_over(&mut wire, self.id);
    }
}
