//! Kept-alive connections, per origin (scheme and authority).
//!
//! An HTTP/1.1 connection carries one request at a time: it is taken for a
//! request and comes back when the answer's body is dropped, once the
//! connection has read all of the answer (a body abandoned half-read closes
//! the connection instead). An HTTP/2 connection is shared by the requests
//! to its origin, as many at once as the provider allows
//! (`SETTINGS_MAX_CONCURRENT_STREAMS`, often 100): once every connection is
//! full, the next request opens another one rather than queue behind
//! streams that may run for minutes. (RFC 9113 §9.1 would have clients keep
//! to one connection; Go's and Jetty's clients and Envoy open more, as here.)
//! Requests that find them all full (or none yet, on an HTTPS origin) wait
//! for one new connection together (`Checkout::Wait`) rather than each open
//! one: a burst after a restart costs a TLS handshake per hundred requests,
//! not one per request. (A new connection is shared before the provider's
//! SETTINGS arrive, so its first burst may take hyper's assumed 100 streams;
//! a provider allowing fewer has h2 queue the excess, that once.)
//!
//! Why not hyper-util's pooled client: it hashes the origin's authority byte
//! by byte on every checkout and return, and with the rest of its
//! bookkeeping cost 8k of the 89k instructions the gateway spent per
//! request. Here an origin is found by comparing a few strings, and its
//! connections sit in a `Vec`.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use tokio::time::Instant;

use super::client::Error;

/// How long a connection may sit unused before it is closed; providers
/// close theirs after about a minute or more.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

pub type Http1 = http1::SendRequest<Full<Bytes>>;
pub type Http2 = http2::SendRequest<Full<Bytes>>;

/// A new HTTP/2 connection on its way into the pool, awaited by every
/// request that found the others full.
pub type Dial = Shared<BoxFuture<'static, Result<(), Error>>>;

/// What a request finds in its origin's pool.
pub enum Checkout {
    Taken(Taken),
    /// No HTTP/2 connection with room: the new one being opened, to take a
    /// stream on once it is shared.
    Wait(Dial),
    /// Nothing to take: the request opens a connection of its own.
    Open,
}

/// A connection taken for one request.
pub enum Taken {
    Http1(Http1),
    /// A shared connection, and the stream the request holds on it.
    Http2(Http2, Stream),
}

/// How many requests an HTTP/2 connection carries now, and how many the
/// provider allows at once (kept current by the task driving it).
pub struct Streams {
    open: AtomicUsize,
    limit: AtomicUsize,
}

impl Streams {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            open: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
        })
    }

    /// Records the provider's current `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    fn in_use(&self) -> bool {
        self.open.load(Ordering::Relaxed) > 0
    }

    fn has_room(&self) -> bool {
        self.open.load(Ordering::Relaxed) < self.limit.load(Ordering::Relaxed)
    }

    fn start(self: &Arc<Self>) -> Stream {
        self.open.fetch_add(1, Ordering::Relaxed);
        Stream(self.clone())
    }
}

/// One request's stream on a shared HTTP/2 connection, counted from
/// `Streams::start` until this is dropped: with the answer's body, or with
/// the request that failed.
pub struct Stream(Arc<Streams>);

impl Drop for Stream {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A forwarding proxy between the gateway and a plain-HTTP origin: requests
/// name the whole URL and carry the proxy's credentials (a tunnel, for
/// HTTPS, sends them in CONNECT instead).
pub struct ForwardProxy {
    pub authorization: Option<HeaderValue>,
}

/// One origin's connections, and what every request to it needs.
pub struct Origin {
    /// `scheme://authority/`, what a new connection is opened to.
    destination: Uri,
    /// HTTP/1.1's `Host`: the host, with the port unless it is the scheme's
    /// default, without user info. Built once, not per request.
    host: Option<HeaderValue>,
    /// Set for a plain-HTTP origin reached through a forwarding proxy.
    forward: Option<ForwardProxy>,
    pool: Mutex<Pool>,
}

/// One origin's connections.
#[derive(Default)]
struct Pool {
    /// Most recently returned last, so the warmest connection is taken first
    /// and the stalest sit at the front.
    http1: Vec<(Http1, Instant)>,
    /// The shared HTTP/2 connections, oldest first. Requests fill the first
    /// with room, so one opened for a burst falls idle once the burst is
    /// over, and closes.
    http2: Vec<Http2Conn>,
    /// Whether a new connection is expected to agree on HTTP/2: for HTTPS
    /// until one agrees on HTTP/1.1 (plain HTTP is always HTTP/1.1 here).
    speaks_http2: bool,
    /// The HTTP/2 connection being opened, if one is.
    dialing: Option<Dial>,
    /// Whether a task is closing connections idle for `IDLE_TIMEOUT`.
    reaping: bool,
}

/// A shared HTTP/2 connection, and when a request last took it.
struct Http2Conn {
    sender: Http2,
    streams: Arc<Streams>,
    since: Instant,
}

impl Pool {
    /// Drops the connections closed, or unused since before `stale`.
    fn prune(&mut self, stale: Option<Instant>) {
        // Not ready: closed by the provider since.
        self.http1
            .retain(|(sender, since)| sender.is_ready() && fresh(*since, stale));
        self.prune_http2(stale);
    }

    /// An HTTP/2 connection carrying streams is kept, however long ago it
    /// was last taken.
    fn prune_http2(&mut self, stale: Option<Instant>) {
        self.http2.retain(|conn| {
            !conn.sender.is_closed() && (conn.streams.in_use() || fresh(conn.since, stale))
        });
    }
}

/// Whether a connection last used at `since` is still to be used; none is
/// stale while the clock is younger than the idle timeout (`stale` None).
fn fresh(since: Instant, stale: Option<Instant>) -> bool {
    stale.is_none_or(|stale| since > stale)
}

impl Origin {
    pub fn new(scheme: &Scheme, authority: &Authority, forward: Option<ForwardProxy>) -> Self {
        let destination = Uri::builder()
            .scheme(scheme.clone())
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .unwrap_or_default();
        Self {
            destination,
            host: host_header(scheme, authority),
            forward,
            pool: Mutex::new(Pool {
                speaks_http2: *scheme == Scheme::HTTPS,
                ..Pool::default()
            }),
        }
    }

    pub fn is(&self, scheme: &Scheme, authority: &Authority) -> bool {
        self.destination.scheme() == Some(scheme) && self.destination.authority() == Some(authority)
    }

    pub fn destination(&self) -> Uri {
        self.destination.clone()
    }

    /// Readies `request` for an HTTP/1.1 connection to this origin: `Host`,
    /// and the target as a path, or as the whole URL (with the proxy's
    /// credentials) when a forwarding proxy is the one connected to. Returns
    /// the whole URL when it put the path in its place.
    pub fn prepare_http1<B>(&self, request: &mut http::Request<B>) -> Option<Uri> {
        if let Some(host) = &self.host {
            request
                .headers_mut()
                .entry(HOST)
                .or_insert_with(|| host.clone());
        }
        match &self.forward {
            Some(proxy) => {
                if let Some(authorization) = &proxy.authorization {
                    request
                        .headers_mut()
                        .insert(PROXY_AUTHORIZATION, authorization.clone());
                }
                None
            }
            None => {
                let path = request.uri().path_and_query().cloned();
                let mut parts = http::uri::Parts::default();
                parts.path_and_query = Some(path.unwrap_or_else(|| PathAndQuery::from_static("/")));
                let uri = Uri::from_parts(parts).ok()?;
                Some(std::mem::replace(request.uri_mut(), uri))
            }
        }
    }

    /// A kept-alive connection with room for a request, or else (if the
    /// request `may_wait`) the new HTTP/2 connection to wait for, which
    /// `dial` starts opening unless one is on its way already, or else
    /// `Open`: HTTP/1.1 needs a connection per request.
    pub fn checkout(
        &self,
        may_wait: bool,
        dial: impl FnOnce() -> BoxFuture<'static, Result<(), Error>>,
    ) -> Checkout {
        let now = Instant::now();
        let stale = now.checked_sub(IDLE_TIMEOUT);
        let mut pool = self.lock();
        pool.prune_http2(stale);
        if let Some(conn) = pool.http2.iter_mut().find(|c| c.streams.has_room()) {
            conn.since = now;
            return Checkout::Taken(Taken::Http2(conn.sender.clone(), conn.streams.start()));
        }
        // The warmest first; stale ones met on the way are dropped.
        while let Some((sender, since)) = pool.http1.pop() {
            if sender.is_ready() && fresh(since, stale) {
                return Checkout::Taken(Taken::Http1(sender));
            }
        }
        if pool.speaks_http2 && may_wait {
            return Checkout::Wait(pool.dialing.get_or_insert_with(|| dial().shared()).clone());
        }
        Checkout::Open
    }

    /// The connection `checkout`'s dial started is open, or failed to open.
    pub fn dialed(&self) {
        self.lock().dialing = None;
    }

    /// Notes that the latest connection opened agreed on HTTP/1.1.
    pub fn speaks_http1(&self) {
        self.lock().speaks_http2 = false;
    }

    /// Shares a new HTTP/2 connection with later requests, and opens on it
    /// the stream of the request that opened it.
    pub fn share(self: &Arc<Self>, sender: &Http2, streams: Arc<Streams>) -> Stream {
        let stream = streams.start();
        let mut pool = self.lock();
        pool.speaks_http2 = true;
        pool.http2.push(Http2Conn {
            sender: sender.clone(),
            streams,
            since: Instant::now(),
        });
        self.reap_later(&mut pool, &tokio::runtime::Handle::current());
        stream
    }

    /// Stops sharing the HTTP/2 connection `stream` is on: it refused a
    /// request, so it is going away.
    pub fn unshare(&self, stream: &Stream) {
        self.lock()
            .http2
            .retain(|conn| !Arc::ptr_eq(&conn.streams, &stream.0));
    }

    /// Keeps `sender` for a later request once its connection has read the
    /// whole answer it carried: now (the usual case), or when the rest
    /// arrives (a stream whose reader stopped at its last event). A
    /// connection whose answer was abandoned half-read closes instead.
    pub fn keep(self: Arc<Self>, mut sender: Http1) {
        // Outside a runtime (shutting down) nothing would drive it again.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if sender.is_ready() {
            self.give_back(sender, &runtime);
        } else if !sender.is_closed() {
            runtime.clone().spawn(async move {
                if sender.ready().await.is_ok() {
                    self.give_back(sender, &runtime);
                }
            });
        }
    }

    fn give_back(self: Arc<Self>, sender: Http1, runtime: &tokio::runtime::Handle) {
        let mut pool = self.lock();
        pool.http1.push((sender, Instant::now()));
        self.reap_later(&mut pool, runtime);
    }

    /// Starts closing the connections that stay unused too long, unless a
    /// task is doing that already.
    fn reap_later(self: &Arc<Self>, pool: &mut Pool, runtime: &tokio::runtime::Handle) {
        if !pool.reaping {
            pool.reaping = true;
            runtime.spawn(reap(Arc::downgrade(self)));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        // The data stays consistent whatever panicked while holding it.
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every `IDLE_TIMEOUT`, closes the connections unused for that long; stops
/// when none are left (the next one kept starts it again) or the origin is
/// gone.
async fn reap(origin: Weak<Origin>) {
    loop {
        tokio::time::sleep(IDLE_TIMEOUT).await;
        let Some(origin) = origin.upgrade() else {
            return;
        };
        let mut pool = origin.lock();
        pool.prune(Instant::now().checked_sub(IDLE_TIMEOUT));
        if pool.http1.is_empty() && pool.http2.is_empty() {
            pool.reaping = false;
            return;
        }
    }
}

/// The `Host` header for `authority`: its host, and its port unless it is
/// the default for `scheme`, without user info.
fn host_header(scheme: &Scheme, authority: &Authority) -> Option<HeaderValue> {
    let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
    let host = match authority.port_u16() {
        Some(port) if port != default_port => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    HeaderValue::from_str(&host).ok()
}

/// An answer's body. Once it is dropped, an HTTP/1.1 connection goes back
/// to its origin (when it has read the whole answer), and an HTTP/2 stream
/// no longer counts against its connection.
pub struct Body {
    incoming: Incoming,
    keep: Option<(Http1, Arc<Origin>)>,
    /// Declared after `incoming`, so dropped after it: the count drops once
    /// hyper has finished or reset the stream.
    _stream: Option<Stream>,
}

impl Body {
    pub fn http1(incoming: Incoming, sender: Http1, origin: Arc<Origin>) -> Self {
        Self {
            incoming,
            keep: Some((sender, origin)),
            _stream: None,
        }
    }

    pub fn http2(incoming: Incoming, stream: Stream) -> Self {
        Self {
            incoming,
            keep: None,
            _stream: Some(stream),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some((sender, origin)) = self.keep.take() {
            origin.keep(sender);
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.incoming).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host with its port unless that is the scheme's default, never
    /// the user info.
    #[test]
    fn host_header_keeps_only_non_default_ports() {
        for (url, expected) in [
            ("http://vllm.internal:8000/v1", "vllm.internal:8000"),
            (
                "http://user:secret@127.0.0.1:11434/api/chat",
                "127.0.0.1:11434",
            ),
            ("http://[::1]:8000/v1", "[::1]:8000"),
            ("http://example.com:80/v1", "example.com"),
            ("https://api.openai.com/v1", "api.openai.com"),
            ("https://api.openai.com:443/v1", "api.openai.com"),
            ("https://gw.internal:8443/v1", "gw.internal:8443"),
        ] {
            let uri: http::Uri = url.parse().expect("uri");
            let host = host_header(
                uri.scheme().expect("scheme"),
                uri.authority().expect("authority"),
            );
            assert_eq!(
                host.as_ref().map(|h| h.to_str().unwrap()),
                Some(expected),
                "{url}"
            );
        }
    }
}
