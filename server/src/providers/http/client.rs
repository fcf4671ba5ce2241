//! The HTTP client every provider shares: hyper's pooled client over rustls
//! (the ring provider, certificates checked by the platform's verifier),
//! HTTP/2 when the provider offers it by ALPN, redirects never followed, and
//! proxies taken from the environment (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, as curl reads them).
//!
//! Built on hyper-util rather than reqwest: reqwest's layers (redirect
//! policy, URL re-parsing, request cloning for its retry policy) cost about a
//! tenth of the gateway's CPU per request and gave us nothing we use.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderValue;
use http::Uri;
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::Scheme;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tower::Service;

/// A request ready to send: the body is the encoded bytes, so a signer can
/// hash them and a retry can resend them.
pub type Request = http::Request<Bytes>;

/// A provider's answer, its body still arriving.
pub type Response = http::Response<Incoming>;

/// A transport failure: the connection, the proxy or TLS failed, or the
/// provider closed the connection mid-answer.
pub type Error = hyper_util::client::legacy::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One client for every deployment: pools are per host, so sharing costs
/// nothing and keeps idle sockets bounded. Cloning shares the pool.
#[derive(Clone)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<HttpsConnector<Transport>, Full<Bytes>>,
    proxies: Arc<Matcher>,
}

impl Client {
    /// The client with proxies from the environment.
    pub fn new() -> Self {
        let proxies = Arc::new(Matcher::from_env());
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(10)));
        let tls =
            ClientConfig::builder_with_provider(rustls::crypto::ring::default_provider().into())
                .with_safe_default_protocol_versions()
                .and_then(|builder| builder.try_with_platform_verifier())
                .unwrap_or_else(|e| panic!("the TLS configuration cannot be built: {e}"))
                .with_no_client_auth();
        let transport = Transport {
            to_proxy: with_tls(&tls, tcp.clone()),
            tcp,
            proxies: proxies.clone(),
        };
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(with_tls(&tls, transport));
        Self { inner, proxies }
    }

    /// Sends `request` and resolves when the response headers have arrived.
    /// Redirects come back as they are.
    pub fn send(&self, request: Request) -> impl Future<Output = Result<Response, Error>> {
        let mut request = request.map(Full::new);
        if request.uri().scheme() == Some(&Scheme::HTTP) {
            if let Some(host) = host_with_port(request.uri()) {
                request.headers_mut().entry(HOST).or_insert(host);
            }
            // A plain-HTTP request through a proxy goes to the proxy itself, so
            // it carries the proxy's credentials (a tunnel sends them in CONNECT).
            if let Some(auth) = self
                .proxies
                .intercept(request.uri())
                .and_then(|proxy| proxy.basic_auth().cloned())
            {
                request.headers_mut().insert(PROXY_AUTHORIZATION, auth);
            }
        }
        self.inner.request(request)
    }
}

/// The `Host` header of a plain-HTTP URL on a non-default port (a
/// self-hosted vLLM on :8000, Ollama on :11434), which is its authority
/// without user info. hyper-util would otherwise `format!` it per request
/// (1.2k instructions). It is HTTP/1.1's header; should the hop be HTTP/2
/// (through an `https://` proxy that offers it), it equals `:authority`,
/// which RFC 9113 §8.3.1 allows.
fn host_with_port(uri: &Uri) -> Option<HeaderValue> {
    uri.port_u16().filter(|&port| port != 80)?;
    let authority = uri.authority()?.as_str();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    HeaderValue::from_str(host).ok()
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

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

/// Opens the connection TLS then runs over: straight to the provider,
/// through the proxy's CONNECT tunnel for a proxied HTTPS destination, or
/// to the proxy itself for a proxied plain-HTTP one.
#[derive(Clone)]
struct Transport {
    tcp: HttpConnector,
    /// The hop to a proxy, which may itself be reached over TLS.
    to_proxy: HttpsConnector<HttpConnector>,
    proxies: Arc<Matcher>,
}

impl Service<Uri> for Transport {
    type Response = ProxyAware;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<ProxyAware, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, destination: Uri) -> Self::Future {
        let proxy = self.proxies.intercept(&destination);
        let mut tcp = self.tcp.clone();
        let mut to_proxy = self.to_proxy.clone();
        Box::pin(async move {
            let Some(proxy) = proxy else {
                let io = MaybeHttpsStream::Http(tcp.call(destination).await?);
                return Ok(ProxyAware { io, forward: false });
            };
            if destination.scheme() == Some(&Scheme::HTTPS) {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), to_proxy);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let io = tunnel.call(destination).await?;
                return Ok(ProxyAware { io, forward: false });
            }
            let io = to_proxy.call(proxy.uri().clone()).await?;
            Ok(ProxyAware { io, forward: true })
        })
    }
}

/// A connection that knows whether requests on it go to a forwarding proxy
/// (which wants the absolute URL in the request line).
struct ProxyAware {
    io: MaybeHttpsStream<TokioIo<TcpStream>>,
    forward: bool,
}

impl Connection for ProxyAware {
    fn connected(&self) -> Connected {
        self.io.connected().proxy(self.forward)
    }
}

impl Read for ProxyAware {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for ProxyAware {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
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

    /// Plain-HTTP URLs on other ports get `host:port`, never the user info;
    /// default ports are left to hyper-util.
    #[test]
    fn host_header_for_non_default_ports() {
        let host = |url: &str| {
            host_with_port(&url.parse().expect("uri")).map(|h| h.to_str().unwrap().to_owned())
        };
        assert_eq!(
            host("http://vllm.internal:8000/v1/chat/completions").as_deref(),
            Some("vllm.internal:8000")
        );
        assert_eq!(
            host("http://user:secret@127.0.0.1:11434/api/chat").as_deref(),
            Some("127.0.0.1:11434")
        );
        assert_eq!(host("http://[::1]:8000/v1").as_deref(), Some("[::1]:8000"));
        assert_eq!(host("http://example.com:80/v1"), None);
        assert_eq!(host("http://example.com/v1"), None);
    }
}
