//! Idle keep-alive connections, per origin. A call leases a connection (the most recently used
//! idle one, else a new one) and gives it back once it has read the answer to its end, so the
//! next call on that origin reuses it. A connection whose peer closed it, or that sat idle for
//! longer than [`IDLE_TIMEOUT`], is dropped when it comes up, or when a connection is given back
//! after it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use http::header::HeaderValue;
use http::Uri;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};

use super::connect::{self, Conn};
use crate::LlmError;

/// Idle connections kept per origin. A gateway holding many concurrent streams to one upstream
/// would otherwise close and reopen connections for every round of calls.
const MAX_IDLE_PER_ORIGIN: usize = 2_048;
/// Idle connections older than this are not reused (servers close theirs after a while).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Origins remembered per scheme; a gateway calls a handful, and past this many each call
/// works its origin out again.
const MAX_ORIGINS: usize = 1_024;

/// Where a connection goes: scheme, host and port, and the proxy it goes through, if any.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    https: bool,
    host: Arc<str>,
    port: u16,
    /// The `Host` header of requests to this origin.
    host_header: HeaderValue,
    proxy: Option<Proxy>,
}

/// An HTTP proxy: `https` origins are reached through a `CONNECT` tunnel, `http` ones by
/// sending it requests in absolute form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    pub host: Arc<str>,
    pub port: u16,
    /// `Proxy-Authorization`, from the proxy URL's user and password.
    pub auth: Option<HeaderValue>,
}

impl Proxy {
    fn of(intercept: &Intercept) -> Result<Self, LlmError> {
        let uri = intercept.uri();
        let refuse = |why: &str| {
            Err(LlmError::Connect(format!(
                "proxy {}: {why}",
                uri.authority().map_or("", |a| a.host())
            )))
        };
        if uri.scheme_str() != Some("http") {
            return refuse("only http:// proxies are supported");
        }
        let Some(authority) = uri.authority() else {
            return refuse("the proxy URL names no host");
        };
        Ok(Self {
            host: authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .into(),
            port: authority.port_u16().unwrap_or(80),
            auth: intercept.basic_auth().cloned(),
        })
    }
}

impl Origin {
    /// The origin of an absolute `http` or `https` URL, through the proxy `proxies` name for it.
    pub fn of(uri: &Uri, proxies: &Matcher) -> Result<Self, LlmError> {
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
            proxy: proxies.intercept(uri).map(|i| Proxy::of(&i)).transpose()?,
        })
    }

    /// The proxy that connections to this origin go through.
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
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

    /// The host as the URL wrote it (IPv6 addresses in brackets), for a `CONNECT` target.
    pub fn host_header_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.to_string()
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)?;
        if let Some(p) = &self.proxy {
            write!(f, " (through the proxy {}:{})", p.host, p.port)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// A client's proxy rules and the origins worked out with them so far, by authority, for
/// `http` and `https`: working one out copies its host twice and asks the rules; a call to a
/// known place looks it up instead.
pub struct Origins {
    proxies: Matcher,
    known: RwLock<[HashMap<Box<str>, Origin>; 2]>,
}

impl Origins {
    pub fn new(proxies: Matcher) -> Self {
        Self {
            proxies,
            known: RwLock::default(),
        }
    }

    /// The origin of `uri` ([`Origin::of`]), remembered for the next call to the same place.
    pub fn of(&self, uri: &Uri) -> Result<Origin, LlmError> {
        let https = match uri.scheme_str() {
            Some("https") => 1,
            Some("http") => 0,
            _ => return Origin::of(uri, &self.proxies),
        };
        let Some(authority) = uri.authority().map(|a| a.as_str()) else {
            return Origin::of(uri, &self.proxies);
        };
        let known = self.known.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(o) = known[https].get(authority) {
            return Ok(o.clone());
        }
        drop(known);
        let origin = Origin::of(uri, &self.proxies)?;
        let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
        if known[https].len() < MAX_ORIGINS {
            known[https].insert(authority.into(), origin.clone());
        }
        Ok(origin)
    }
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
            let Some(Idle { mut conn, since }) = idle else {
                // Boxed: opening is rare, and would make every lease's future large.
                let conn = Box::pin(connect::open(origin)).await?;
                return Ok(self.wrap(origin, conn, false));
            };
            if !conn.is_open() || since.elapsed() > IDLE_TIMEOUT {
                continue;
            }
            // Driving it finds out whether the peer closed it while it sat idle.
            if conn.ready().await {
                return Ok(self.wrap(origin, conn, true));
            }
        }
    }

    fn wrap(self: &Arc<Self>, origin: &Origin, conn: Conn, reused: bool) -> Lease {
        Lease {
            conn: Some(conn),
            origin: origin.clone(),
            pool: Arc::clone(self),
            reused,
        }
    }

    fn give_back(&self, origin: Origin, conn: Conn) {
        if !conn.is_open() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle();
        let list = idle.entry(origin).or_default();
        // The least recently used come first: drop those past their time (their sockets would
        // otherwise stay open, unused, until the origin's calls dig down to them).
        if list
            .first()
            .is_some_and(|i| now.duration_since(i.since) > IDLE_TIMEOUT)
        {
            list.retain(|i| now.duration_since(i.since) <= IDLE_TIMEOUT);
        }
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle { conn, since: now });
        }
    }
}

/// A connection in use. [`Lease::release`] returns it to the pool once its answer has been read
/// to the end; dropped otherwise, it closes.
pub struct Lease {
    conn: Option<Conn>,
    origin: Origin,
    pool: Arc<Pool>,
    /// Came from the pool (rather than freshly opened).
    pub reused: bool,
}

impl Lease {
    pub fn conn(&mut self) -> Option<&mut Conn> {
        self.conn.as_mut()
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The answer was read to its end: the connection can serve the next call.
    pub fn release(self) {
        let Lease {
            conn, origin, pool, ..
        } = self;
        if let Some(conn) = conn {
            pool.give_back(origin, conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Matcher {
        Matcher::builder().build()
    }

    #[test]
    fn origins_of_urls() {
        let o = Origin::of(&"https://api.openai.com/v1/chat".parse().unwrap(), &none()).unwrap();
        assert_eq!(
            (o.is_https(), o.host(), o.port()),
            (true, "api.openai.com", 443)
        );
        assert_eq!(o.host_header(), "api.openai.com");
        let o = Origin::of(&"http://[::1]:8080/v1".parse().unwrap(), &none()).unwrap();
        assert_eq!((o.is_https(), o.host(), o.port()), (false, "::1", 8080));
        assert_eq!(o.host_header(), "[::1]:8080");
        assert_eq!(o.to_string(), "http://::1:8080");
        let e = Origin::of(&"ftp://x/".parse().unwrap(), &none()).unwrap_err();
        assert!(e.to_string().contains("only http and https"), "{e}");
        assert!(Origin::of(&"/relative".parse().unwrap(), &none()).is_err());
    }

    #[test]
    fn a_remembered_origin_is_the_one_worked_out() {
        let rules = || {
            Matcher::builder()
                .https("http://proxy.local:3128")
                .no("internal.example")
                .build()
        };
        let proxies = rules();
        let origins = Origins::new(rules());
        for url in [
            "https://api.example.com/v1/chat",
            "http://api.example.com/v1/chat",
            "https://api.example.com:8443/v1",
            "https://internal.example/v1",
            "http://user:pw@[::1]:8080/v1",
        ] {
            let uri: Uri = url.parse().unwrap();
            let fresh = Origin::of(&uri, &proxies).unwrap();
            let first = origins.of(&uri).unwrap();
            let again = origins.of(&uri).unwrap();
            assert!(first == fresh && again == fresh, "{url}");
            assert_eq!(
                again.proxy().map(|p| p.port),
                fresh.proxy().map(|p| p.port),
                "{url}"
            );
        }
        let known = origins.known.read().unwrap();
        assert_eq!((known[0].len(), known[1].len()), (2, 3));
        drop(known);
        // http and https of one authority stay apart.
        let plain = origins.of(&"http://api.example.com/".parse().unwrap());
        assert!(!plain.unwrap().is_https());
        // Errors are not remembered.
        for _ in 0..2 {
            let e = origins.of(&"ftp://x/".parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains("only http and https"), "{e}");
        }
        assert!(origins.of(&"/relative".parse().unwrap()).is_err());
        let known = origins.known.read().unwrap();
        assert_eq!((known[0].len(), known[1].len()), (2, 3));
    }

    #[test]
    fn proxies_are_chosen_as_curl_chooses_them() {
        let proxies = Matcher::builder()
            .http("http://user:pw@proxy.local:3128")
            .https("http://[::1]:8888")
            .no("internal.example, 10.0.0.0/8")
            .build();
        let of = |url: &str| Origin::of(&url.parse().unwrap(), &proxies).unwrap();

        let o = of("http://api.example.com/v1");
        let p = o.proxy().expect("http goes through the http proxy");
        assert_eq!((&*p.host, p.port), ("proxy.local", 3128));
        assert!(
            p.auth.is_some(),
            "the proxy URL's credentials become Proxy-Authorization"
        );
        assert_eq!(
            o.to_string(),
            "http://api.example.com:80 (through the proxy proxy.local:3128)"
        );

        let o = of("https://api.example.com/v1");
        let p = o.proxy().expect("https goes through the https proxy");
        assert_eq!((&*p.host, p.port, p.auth.is_none()), ("::1", 8888, true));

        assert!(
            of("https://internal.example/v1").proxy().is_none(),
            "NO_PROXY host"
        );
        assert!(
            of("http://10.1.2.3:8000/v1").proxy().is_none(),
            "NO_PROXY range"
        );
    }

    #[test]
    fn only_http_proxies_are_used() {
        let proxies = Matcher::builder().all("socks5://proxy.local:1080").build();
        let e = Origin::of(&"https://api.example.com/".parse().unwrap(), &proxies).unwrap_err();
        assert!(e.to_string().contains("only http:// proxies"), "{e}");
    }
}
