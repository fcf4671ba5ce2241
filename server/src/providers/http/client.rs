//! The HTTP client every provider shares: hyper's connections over rustls
//! (the ring provider, certificates checked by the platform's verifier),
//! HTTP/2 when the provider offers it by ALPN, kept alive per origin
//! (`pool`) and probed when they fall silent (`Ping`), redirects never
//! followed, and proxies taken from the environment (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, as curl reads them) except for
//! cloud metadata services (`Proxies`).
//!
//! Built on hyper rather than reqwest: reqwest's layers (redirect policy, URL
//! re-parsing, request cloning for its retry policy) cost about a tenth of
//! the gateway's CPU per request and gave us nothing we use.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::Uri;
use http::uri::Scheme;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connection, HttpConnector};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tower::{BoxError, Service, ServiceExt};

pub use super::pool::Body;
use super::pool::{Checkout, ForwardProxy, Origin, Streams, Taken};

/// A request ready to send: the body is the encoded bytes, so a signer can
/// hash them and a retry can resend them.
pub type Request = http::Request<Bytes>;

/// A provider's answer, its body still arriving.
pub type Response = http::Response<Body>;

/// How long opening a connection may take: TCP, a proxy's CONNECT, TLS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many new HTTP/2 connections a request waits for in turn, when each
/// fills up before it gets a stream on it (a burst larger than a
/// connection's limit), before it opens one of its own.
const DIAL_WAITS: usize = 8;

/// How a provider's connection that has fallen silent is found dead, when
/// its host is gone or a NAT on the way has forgotten it, and no reset
/// will ever arrive. An HTTP/2 connection carrying requests that has read
/// nothing for `interval` is sent a PING; every connection, idle or not,
/// gets TCP keepalive probes after `interval` without traffic. Unanswered
/// for `timeout`, the connection is closed and the requests on it fail.
/// Without this, an HTTP/2 connection that died silently would take every
/// request to its provider until each one's own timeout ran out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ping {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for Ping {
    /// Kubernetes' client settles on 30 s and 15 s for the same probe.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(15),
        }
    }
}

impl Ping {
    /// How many TCP keepalive probes go unanswered before the kernel closes
    /// a connection; they are spread over `timeout`.
    pub const TCP_PROBES: u32 = 3;

    /// The time between TCP keepalive probes (the kernel counts whole
    /// seconds).
    pub fn tcp_probe_interval(&self) -> Duration {
        (self.timeout / Self::TCP_PROBES).max(Duration::from_secs(1))
    }
}

/// One client for every deployment: connections are kept per origin, so
/// sharing costs nothing and keeps idle sockets bounded. Cloning shares the
/// connections.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

struct Shared {
    connector: HttpsConnector<Transport>,
    ping: Option<Ping>,
    proxies: Arc<Proxies>,
    /// Every origin requests have gone to; a gateway talks to a handful.
    origins: Mutex<Vec<Arc<Origin>>>,
}

impl Client {
    /// The client with proxies from the environment, probing silent
    /// connections by `ping` (never, if `None`).
    pub fn new(ping: Option<Ping>) -> Self {
        let proxies = Arc::new(Proxies(Matcher::from_env()));
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        if let Some(ping) = ping {
            tcp.set_keepalive(Some(ping.interval));
            tcp.set_keepalive_interval(Some(ping.tcp_probe_interval()));
            tcp.set_keepalive_retries(Some(Ping::TCP_PROBES));
        }
        let tls =
            ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
                .with_safe_default_protocol_versions()
                .and_then(|builder| builder.try_with_platform_verifier())
                .unwrap_or_else(|e| panic!("the TLS configuration cannot be built: {e}"))
                .with_no_client_auth();
        let transport = Transport {
            to_proxy: with_tls_to_proxy(&tls, tcp.clone()),
            tcp,
            proxies: proxies.clone(),
        };
        Self {
            shared: Arc::new(Shared {
                connector: with_tls(&tls, transport),
                ping,
                proxies,
                origins: Mutex::default(),
            }),
        }
    }

    /// Sends `request` and resolves when the response headers have arrived.
    /// Redirects come back as they are. A request that a kept-alive
    /// connection could not take (the provider had closed it) is sent again
    /// on a new one.
    pub async fn send(&self, request: Request) -> Result<Response, Error> {
        let origin = self.origin(request.uri())?;
        let mut request = request.map(Full::new);
        // The whole URL while an HTTP/1.1 attempt holds only its path.
        let mut absolute = None;
        let mut waits = 0;
        loop {
            let may_wait = waits < DIAL_WAITS;
            let (taken, reused) = match origin.checkout(may_wait, || self.dial(origin.clone())) {
                // Taken after a wait: counted as new (usually it is the new
                // connection), so its failure is the answer. A retry there
                // could start a chain of dials against a provider that
                // accepts connections and drops them.
                Checkout::Taken(taken) => (taken, waits == 0),
                Checkout::Wait(dial) => {
                    waits += 1;
                    dial.await?;
                    continue;
                }
                // Boxed: connecting (proxy, TLS, handshake) is a large
                // future, and every request's future would carry its size.
                Checkout::Open => (Box::pin(self.connect(&origin)).await?, false),
            };
            let mut unsent = match taken {
                Taken::Http1(mut sender) => {
                    absolute = origin.prepare_http1(&mut request);
                    match sender.try_send_request(request).await {
                        Ok(response) => {
                            return Ok(
                                response.map(|incoming| Body::http1(incoming, sender, origin))
                            );
                        }
                        Err(unsent) => unsent,
                    }
                }
                Taken::Http2(mut sender, stream) => match sender.try_send_request(request).await {
                    Ok(response) => {
                        return Ok(response.map(|incoming| Body::http2(incoming, stream)));
                    }
                    Err(unsent) => {
                        // Refused unsent: the connection is going away
                        // (GOAWAY) and must not be taken for the retry.
                        // A failed stream leaves it shared.
                        if unsent.message().is_some() {
                            origin.unshare(&stream);
                        }
                        unsent
                    }
                },
            };
            // Only a kept-alive connection may have been closed under us; a
            // new one failing is the answer.
            match unsent.take_message() {
                Some(returned) if reused => {
                    request = returned;
                    if let Some(uri) = absolute.take() {
                        *request.uri_mut() = uri;
                    }
                }
                _ => return Err(Error::new("the request failed", unsent.into_error())),
            }
        }
    }

    /// The origin `uri` is on, met before or new.
    fn origin(&self, uri: &Uri) -> Result<Arc<Origin>, Error> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(Error::new("the URL is not absolute", uri.to_string()));
        };
        // The list is as long as the distinct origins in the config.
        let mut origins = self
            .shared
            .origins
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(origin) = origins.iter().find(|o| o.is(scheme, authority)) {
            return Ok(origin.clone());
        }
        let forward = (*scheme == Scheme::HTTP)
            .then(|| self.shared.proxies.intercept(uri))
            .flatten()
            .map(|proxy| ForwardProxy {
                authorization: proxy.basic_auth().cloned(),
            });
        let origin = Arc::new(Origin::new(scheme, authority, forward));
        origins.push(origin.clone());
        Ok(origin)
    }

    /// Opens a connection to `origin` for the pool: once it is shared, the
    /// requests waiting for it take their streams on it. A task of its own,
    /// so it finishes (and the origin stops waiting for it) even when every
    /// request waiting has gone.
    fn dial(&self, origin: Arc<Origin>) -> BoxFuture<'static, Result<(), Error>> {
        /// Clears the origin's dial when dropped: also if `connect` panics.
        struct Dialing<'a>(&'a Origin);
        impl Drop for Dialing<'_> {
            fn drop(&mut self) {
                self.0.dialed();
            }
        }
        let client = self.clone();
        let task = tokio::spawn(async move {
            let dialing = Dialing(&origin);
            let opened = client.connect(&origin).await;
            drop(dialing);
            match opened? {
                // The stream it opened for its opener goes back at once.
                Taken::Http2(..) => {}
                // The provider chose HTTP/1.1 after all: the connection
                // joins the pool (the waiting requests take it if it is
                // back in time, else open their own), and the origin is
                // marked HTTP/1.1 from now on.
                Taken::Http1(sender) => origin.keep(sender),
            }
            Ok(())
        });
        Box::pin(async move {
            task.await
                .unwrap_or_else(|e| Err(Error::new("connecting failed", e)))
        })
    }

    /// A new connection to `origin`: HTTP/2 if the provider offers it by
    /// ALPN (shared with the origin's next requests at once, up to the
    /// provider's stream limit), else HTTP/1.1, driven by a task of its own.
    async fn connect(&self, origin: &Arc<Origin>) -> Result<Taken, Error> {
        let connect_error = |e| Error::new("connecting failed", e);
        let connecting = self.shared.connector.clone().oneshot(origin.destination());
        let io = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| connect_error("timed out".into()))?
            .map_err(connect_error)?;
        if io.connected().is_negotiated_h2() {
            let mut builder = http2::Builder::new(TokioExecutor::new());
            if let Some(ping) = self.shared.ping {
                builder
                    .timer(TokioTimer::new())
                    .keep_alive_interval(ping.interval)
                    .keep_alive_timeout(ping.timeout);
            }
            let (sender, connection) = builder
                .handshake(io)
                .await
                .map_err(|e| connect_error(e.into()))?;
            // Until the provider's SETTINGS arrive, hyper assumes 100.
            let streams = Streams::new(connection.current_max_send_streams());
            let limit = streams.clone();
            // The provider's stream limit, which its SETTINGS may change at
            // any time, is read whenever the task is polled: each time a
            // request is sent on the connection.
            tokio::spawn(drive(async move {
                let mut connection = std::pin::pin!(connection);
                std::future::poll_fn(|cx| {
                    let poll = connection.as_mut().poll(cx);
                    limit.set_limit(connection.current_max_send_streams());
                    poll
                })
                .await
            }));
            let stream = origin.share(&sender, streams);
            Ok(Taken::Http2(sender, stream))
        } else {
            let (sender, connection) = http1::handshake(io)
                .await
                .map_err(|e| connect_error(e.into()))?;
            origin.speaks_http1();
            tokio::spawn(drive(connection));
            Ok(Taken::Http1(sender))
        }
    }
}

/// Runs a connection until it closes; its failures reach the requests on it.
async fn drive(connection: impl Future<Output = hyper::Result<()>>) {
    if let Err(e) = connection.await {
        tracing::debug!("upstream connection closed: {e}");
    }
}

/// A transport failure: the connection, the proxy or TLS failed, or the
/// provider closed the connection mid-answer. Cloned for each request that
/// waited on the same new connection.
#[derive(Clone, Debug)]
pub struct Error {
    stage: &'static str,
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl Error {
    fn new(stage: &'static str, cause: impl Into<BoxError>) -> Self {
        Self {
            stage,
            cause: cause.into().into(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.stage)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

/// `connector` with TLS for `https` destinations, offering HTTP/2 and
/// HTTP/1.1 by ALPN.
fn with_tls<C>(config: &ClientConfig, connector: C) -> HttpsConnector<C> {
    HttpsConnectorBuilder::new()
        .with_tls_config(config.clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(connector)
}

/// `connector` with TLS for an `https://` proxy, offering no ALPN, so the
/// proxy speaks HTTP/1.1: a CONNECT tunnel and a forwarded request are both
/// written as HTTP/1.1.
fn with_tls_to_proxy<C>(config: &ClientConfig, connector: C) -> HttpsConnector<C> {
    HttpsConnectorBuilder::new()
        .with_tls_config(config.clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector)
}

impl Default for Client {
    fn default() -> Self {
        Self::new(Some(Ping::default()))
    }
}

/// What TLS to the provider (if any) runs over: TCP to the provider or a
/// proxy, or a CONNECT tunnel through one.
type Io = MaybeHttpsStream<TokioIo<TcpStream>>;

/// Opens the connection TLS then runs over: straight to the provider,
/// through the proxy's CONNECT tunnel for a proxied HTTPS destination, or
/// to the proxy itself for a proxied plain-HTTP one.
#[derive(Clone)]
struct Transport {
    tcp: HttpConnector,
    /// The hop to a proxy, which may itself be reached over TLS.
    to_proxy: HttpsConnector<HttpConnector>,
    proxies: Arc<Proxies>,
}

impl Service<Uri> for Transport {
    type Response = Io;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Io, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let proxy = self.proxies.intercept(&destination);
        let mut tcp = self.tcp.clone();
        let mut to_proxy = self.to_proxy.clone();
        Box::pin(async move {
            let Some(proxy) = proxy else {
                return Ok(MaybeHttpsStream::Http(tcp.call(destination).await?));
            };
            if destination.scheme() == Some(&Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), to_proxy);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                return Ok(tunnel.call(destination).await?);
            }
            to_proxy.call(proxy.uri().clone()).await
        })
    }
}

/// The proxies from the environment, which cloud metadata services never go
/// through: they answer on link-local addresses no proxy can reach, and
/// EC2's refuses a token request a proxy forwards. The clouds' own SDKs
/// never proxy them either.
struct Proxies(Matcher);

impl Proxies {
    fn intercept(&self, destination: &Uri) -> Option<Intercept> {
        if destination.host().is_some_and(is_metadata_service) {
            return None;
        }
        self.0.intercept(destination)
    }
}

/// Whether `host` (as a URI spells it) is where a cloud's metadata service
/// answers: a link-local address (EC2's 169.254.169.254, ECS's
/// 169.254.170.2, EKS Pod Identity's 169.254.170.23), AWS's IPv6 ones in
/// `fd00:ec2::/64`, or Google's metadata server by name.
fn is_metadata_service(host: &str) -> bool {
    use std::net::IpAddr;
    let host = host.trim_end_matches('.');
    if host.eq_ignore_ascii_case(crate::config::GOOGLE_METADATA_HOST) {
        return true;
    }
    match host_ip(host) {
        Some(IpAddr::V4(ip)) => ip.is_link_local(),
        Some(IpAddr::V6(ip)) => {
            ip.is_unicast_link_local() || ip.segments()[..4] == [0xfd00, 0x0ec2, 0, 0]
        }
        None => false,
    }
}

/// The address a URI's host spells (`[…]` around IPv6), if it is one.
pub fn host_ip(host: &str) -> Option<std::net::IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The URI a provider is reached at, from a configured URL. Parsed by the
/// WHATWG rules first (which percent-encode what a model name may carry),
/// so what is accepted does not depend on the transport's stricter parser.
pub fn endpoint(url: &str) -> Option<Uri> {
    let url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    Uri::try_from(url.as_str()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metadata services are reached directly whatever the environment's
    /// proxies say; every other host still goes through them.
    #[test]
    fn metadata_services_are_never_proxied() {
        let proxies = Proxies(Matcher::builder().all("http://proxy:3128").build());
        let proxied = |url: &str| proxies.intercept(&url.parse().expect("uri")).is_some();
        for metadata in [
            "http://169.254.169.254/latest/api/token",
            "http://169.254.170.2/v2/credentials/id",
            "http://[fd00:ec2::254]/latest/api/token",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://[fe80::1]:8080/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://metadata.google.internal./computeMetadata/v1/",
        ] {
            assert!(!proxied(metadata), "{metadata}");
        }
        for provider in [
            "https://api.openai.com/v1/chat/completions",
            "http://10.0.0.7:11434/api/chat",
            "http://[fd00:ec3::1]/",
            "https://169.254.example.com/",
        ] {
            assert!(proxied(provider), "{provider}");
        }
    }
}
