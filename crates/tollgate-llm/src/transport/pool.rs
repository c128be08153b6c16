//! Idle keep-alive connections, per origin. A call leases a connection (the most recently used
//! idle one, else a new one) and gives it back once it has read the answer to its end, so the
//! next call on that origin reuses it. A connection whose peer closed it, or that sat idle for
//! longer than [`IDLE_TIMEOUT`], is dropped when it comes up.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::Uri;

use super::connect::{self, Sender};
use crate::LlmError;

/// Idle connections kept per origin. A gateway holding many concurrent streams to one upstream
/// would otherwise close and reopen connections for every round of calls.
const MAX_IDLE_PER_ORIGIN: usize = 2_048;
/// Idle connections older than this are not reused (servers close theirs after a while).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where a connection goes: scheme, host and port.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    host: Arc<str>,
    port: u16,
    /// The `Host` header of requests to this origin.
    host_header: HeaderValue,
}

impl Origin {
    /// The origin of an absolute `http` or `https` URL.
    pub fn of(uri: &Uri) -> Result<Self, LlmError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(LlmError::Connect(format!(
                    "{uri}: only http and https upstreams are supported, not {}",
                    other.unwrap_or("a URL without a scheme")
                )))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| LlmError::Connect(format!("{uri}: the URL names no host")))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host_header = HeaderValue::from_str(authority.as_str())
            .map_err(|e| LlmError::Connect(format!("{uri}: {e}")))?;
        Ok(Self {
            https,
            host: host.into(),
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            host_header,
        })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host_header(&self) -> &HeaderValue {
        &self.host_header
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct Idle {
    sender: Sender,
    since: Instant,
}

/// The idle connections of every origin.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
}

impl Pool {
    fn idle(&self) -> MutexGuard<'_, HashMap<Origin, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection to `origin` ready for a request: an idle one when there is one that still
    /// works, else a new one. `reused` says which, for the caller's retry decision.
    pub async fn lease(self: &Arc<Self>, origin: &Origin) -> Result<Lease, LlmError> {
        loop {
            let idle = self.idle().get_mut(origin).and_then(Vec::pop);
            let Some(Idle { mut sender, since }) = idle else {
                // Boxed: opening is rare, and would make every lease's future large.
                let sender = Box::pin(connect::open(origin)).await?;
                return Ok(self.wrap(origin, sender, false));
            };
            if sender.is_closed() || since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            // A connection given back just as its answer ended may need a moment to be ready.
            if sender.ready().await.is_ok() {
                return Ok(self.wrap(origin, sender, true));
            }
        }
    }

    fn wrap(self: &Arc<Self>, origin: &Origin, sender: Sender, reused: bool) -> Lease {
        Lease {
            sender: Some(sender),
            origin: origin.clone(),
            pool: Arc::clone(self),
            reused,
        }
    }

    fn give_back(&self, origin: Origin, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        let list = idle.entry(origin).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// A connection in use. [`Lease::release`] returns it to the pool once its answer has been read
/// to the end; dropped otherwise, it closes.
pub struct Lease {
    sender: Option<Sender>,
    origin: Origin,
    pool: Arc<Pool>,
    /// Came from the pool (rather than freshly opened).
    pub reused: bool,
}

impl Lease {
    pub fn sender(&mut self) -> Option<&mut Sender> {
        self.sender.as_mut()
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The answer was read to its end: the connection can serve the next call.
    pub fn release(mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.give_back(self.origin.clone(), sender);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_of_urls() {
        let o = Origin::of(&"https://api.openai.com/v1/chat".parse().unwrap()).unwrap();
        assert_eq!(
            (o.is_https(), o.host(), o.port()),
            (true, "api.openai.com", 443)
        );
        assert_eq!(o.host_header(), "api.openai.com");
        let o = Origin::of(&"http://[::1]:8080/v1".parse().unwrap()).unwrap();
        assert_eq!((o.is_https(), o.host(), o.port()), (false, "::1", 8080));
        assert_eq!(o.host_header(), "[::1]:8080");
        assert_eq!(o.to_string(), "http://::1:8080");
        let e = Origin::of(&"ftp://x/".parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("only http and https"), "{e}");
        assert!(Origin::of(&"/relative".parse().unwrap()).is_err());
    }
}
