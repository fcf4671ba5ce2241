//! The thin transport shared by HTTP providers: send a JSON body with the
//! deployment's headers, turn transport failures and error statuses into
//! `GatewayError`s (keeping `retry-after`), and read server-sent events as
//! they arrive.

mod client;
mod pool;

use std::future::ready;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::{BodyDataStream, BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use sse_stream::{Sse, SseByteStream};
use tokio_util::codec::{FramedRead, LinesCodec};
use tokio_util::io::StreamReader;

pub use client::{Client, Ping, Request, Response, endpoint, host_ip};

use super::oauth::TokenSource;
use crate::config::{DeploymentConfig, Secret};
use crate::error::{GatewayError, UpstreamError};
use crate::openai_wire::errors::ErrorBody;

/// Largest error body read from a provider; error bodies are small, and a
/// misbehaving upstream must not make us buffer without bound.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Largest successful answer read whole. The largest real ones are
/// embeddings: 2048 texts of 3072 dimensions, as JSON floats, are about
/// 125 MB.
const MAX_ANSWER_BODY: usize = 256 * 1024 * 1024;

/// Largest single stream event (a server-sent event, an NDJSON line, an
/// event-stream message): real ones are far smaller, and an upstream that
/// never ends one must not make us buffer without bound.
pub const MAX_EVENT: usize = 16 * 1024 * 1024;

/// One deployment's way to its provider: the headers every request carries,
/// the timeout, the key (kept only to redact it from anything the provider
/// echoes) and how the provider spells its error bodies.
pub struct Upstream {
    pub provider: &'static str,
    pub timeout: Duration,
    client: Client,
    headers: HeaderMap,
    api_key: Option<Secret>,
    parse_error: ErrorParser,
    error_headers: Option<ErrorHeaders>,
    signer: Option<Box<dyn RequestSigner>>,
    tokens: Option<TokenSource>,
}

/// Reads a provider's error body (at most 64 KiB of it).
pub type ErrorParser = fn(&[u8]) -> ErrorBody;

/// Completes a parsed error from the answer's headers, for providers that
/// name errors there (AWS's `x-amzn-errortype`).
pub type ErrorHeaders = fn(&HeaderMap, ErrorBody) -> ErrorBody;

/// The usual `auth` for [`Upstream::new`]: `authorization: Bearer <key>`.
pub fn bearer(key: &str) -> (HeaderName, String) {
    (header::AUTHORIZATION, format!("Bearer {key}"))
}

/// Signs a request that is otherwise ready to send (AWS SigV4), adding
/// headers computed from its URL, headers and body.
pub trait RequestSigner: Send + Sync {
    fn sign<'a>(&'a self, request: &'a mut Request) -> BoxFuture<'a, Result<(), GatewayError>>;

    /// The provider refused a signed request as not authorized (403, with
    /// `error`): credentials that are cached may have expired early.
    fn refused(&self, error: &UpstreamError);
}

impl Upstream {
    /// `auth` turns the key into the header that carries it
    /// (`authorization: Bearer …`, `x-api-key: …`); `fixed` are the
    /// provider's own headers. The deployment's `extra_headers` come last and
    /// replace, so a header the config repeats is still sent once.
    pub fn new(
        config: &DeploymentConfig,
        client: Client,
        auth: impl FnOnce(&str) -> (HeaderName, String),
        fixed: &[(HeaderName, &str)],
        parse_error: ErrorParser,
    ) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in fixed {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), value);
            }
        }
        if let Some(key) = &config.api_key {
            let (name, value) = auth(key.expose());
            if let Some(value) = sensitive_header(&value) {
                headers.insert(name, value);
            }
        }
        // Validated at config load.
        for (name, value) in &config.extra_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        // Vertex AI, and Azure with Entra ID: a bearer token per request.
        let tokens = config.oauth.clone().map(|oauth| {
            TokenSource::new(
                config.provider.name(),
                oauth,
                client.clone(),
                config.timeout,
            )
        });
        Self {
            provider: config.provider.name(),
            timeout: config.timeout,
            client,
            headers,
            api_key: config.api_key.clone(),
            parse_error,
            error_headers: None,
            signer: None,
            tokens,
        }
    }

    /// Completes every error answer's parse from its headers.
    pub fn with_error_headers(mut self, read: ErrorHeaders) -> Self {
        self.error_headers = Some(read);
        self
    }

    /// Signs every request just before it is sent.
    pub fn with_signer(mut self, signer: Box<dyn RequestSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// POSTs a JSON body; `None` is a URL that did not parse at startup.
    pub async fn post_json(
        &self,
        url: Option<&Uri>,
        body: &(impl Serialize + ?Sized),
    ) -> Result<Response, GatewayError> {
        let url = url
            .cloned()
            .ok_or_else(|| GatewayError::UpstreamUnavailable {
                provider: self.provider,
                message: "api_base is not a valid URL".into(),
            })?;
        let bytes =
            crate::json_writer::to_vec(body, 1024).map_err(|e| GatewayError::InvalidRequest {
                message: format!("request cannot be encoded: {e}"),
                param: None,
            })?;
        let mut request = request(Method::POST, url, self.headers.clone(), bytes.into());
        if let Some(signer) = &self.signer {
            signer.sign(&mut request).await?;
        }
        let token = match &self.tokens {
            Some(tokens) => Some(tokens.authorize(&mut request).await?),
            None => None,
        };
        let secrets = [self.api_key.as_ref().map(Secret::expose), token.as_deref()];
        let result = send(
            &self.client,
            request,
            self.provider,
            self.timeout,
            &secrets,
            |headers, body| {
                let error = (self.parse_error)(body);
                match self.error_headers {
                    Some(read) => read(headers, error),
                    None => error,
                }
            },
        )
        .await;
        if let (Some(tokens), Err(GatewayError::Upstream(error))) = (&self.tokens, &result)
            && error.status == 401
        {
            tokens.invalidate();
        }
        if let (Some(signer), Err(GatewayError::Upstream(error))) = (&self.signer, &result)
            && error.status == 403
        {
            signer.refused(error);
        }
        result
    }

    /// POSTs a JSON body and reads the whole answer of a successful response
    /// with `parse`; a body it rejects is an unreadable `what`.
    pub async fn post_json_parsed<T, E: std::fmt::Display>(
        &self,
        url: Option<&Uri>,
        body: &(impl Serialize + ?Sized),
        what: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<T, GatewayError> {
        let response = self.post_json(url, body).await?;
        let bytes = self.read_body(response).await?;
        parse(&bytes).map_err(|e| self.unreadable(what, e))
    }

    /// Reads the whole body of a successful response.
    pub async fn read_body(&self, response: Response) -> Result<Bytes, GatewayError> {
        read_body(response, self.provider, self.timeout).await
    }

    /// The provider answered with something that is not its documented format.
    pub fn unreadable(&self, what: &str, error: impl std::fmt::Display) -> GatewayError {
        unreadable(self.provider, what, error)
    }

    /// The response's server-sent events, each as soon as it is complete.
    pub fn events(
        &self,
        response: Response,
    ) -> impl Stream<Item = Result<Sse, GatewayError>> + Send + 'static {
        events(body_bytes(response), self.provider, self.timeout)
    }

    /// The response's newline-delimited JSON lines, each as soon as it is complete.
    pub fn ndjson_lines(
        &self,
        response: Response,
    ) -> impl Stream<Item = Result<String, GatewayError>> + Send + 'static {
        ndjson_lines(body_bytes(response), self.provider, self.timeout)
    }
}

/// `value` as a header value marked sensitive (kept out of HPACK's table
/// and debug output), if it can be one.
pub fn sensitive_header(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// A `method` request of `body` to `url` with `headers`.
pub fn request(method: Method, url: Uri, headers: HeaderMap, body: Bytes) -> Request {
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = url;
    *request.headers_mut() = headers;
    request
}

/// A POST of `fields` to `url` as an HTML form (token endpoints, STS).
pub fn form_post<K, V>(url: Uri, fields: impl IntoIterator<Item = (K, V)>) -> Request
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let headers = HeaderMap::from_iter([(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    )]);
    request(Method::POST, url, headers, body.into())
}

/// `provider` answered with something that is not its documented format
/// (for decoders that hold the provider's name but not its `Upstream`).
pub fn unreadable(
    provider: &'static str,
    what: &str,
    error: impl std::fmt::Display,
) -> GatewayError {
    GatewayError::UpstreamProtocol {
        provider,
        message: format!("unreadable {what}: {error}"),
    }
}

/// Sends a request, waiting at most `timeout` for the response headers, and
/// returns the response if its status is a success.
pub(super) async fn send(
    client: &Client,
    request: Request,
    provider: &'static str,
    timeout: Duration,
    secrets: &[Option<&str>],
    parse_error: impl FnOnce(&HeaderMap, &[u8]) -> ErrorBody,
) -> Result<Response, GatewayError> {
    let response = tokio::time::timeout(timeout, client.send(request))
        .await
        .map_err(|_| GatewayError::UpstreamTimeout { provider, timeout })?
        .map_err(|e| transport_error(&e, provider))?;
    if response.status().is_success() {
        return Ok(response);
    }
    if response.status().is_redirection() {
        return Err(redirected(provider, response.status(), response.headers()));
    }
    Err(error_from_response(response, provider, timeout, secrets, parse_error).await)
}

/// A redirect, which is never followed (it would carry the key elsewhere):
/// the deployment's URL is wrong, which is the gateway's failure, not a
/// status to hand the caller as if the provider had refused the request.
/// Where it pointed is told without its query, which may carry tokens.
fn redirected(provider: &'static str, status: StatusCode, headers: &HeaderMap) -> GatewayError {
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(['?', '#']).next().unwrap_or_default())
        .unwrap_or("nowhere");
    GatewayError::UpstreamProtocol {
        provider,
        message: format!(
            "{provider} redirected to {location} (HTTP {}); redirects are not followed: \
             check the deployment's api_base",
            status.as_u16()
        ),
    }
}

/// How many times a credentials request is sent when the endpoint or the
/// connection fails: as AWS's SDKs (standard mode) and Google's auth
/// libraries do. Metadata services answer 503 while briefly unavailable,
/// and token endpoints have passing `internal_failure`s.
const CREDENTIALS_ATTEMPTS: u32 = 3;

/// The wait before a credentials request's first retry, doubled before each
/// next.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A credentials endpoint's small answer (an access token, a role's keys):
/// [`send`], then the whole body, each within `timeout`. Sent again, up to
/// `CREDENTIALS_ATTEMPTS` times in all, when the connection fails or the
/// endpoint answers an error that `passing` says will pass. A timeout is
/// not retried: the caller is waiting.
pub(super) async fn fetch_credential(
    client: &Client,
    request: &Request,
    provider: &'static str,
    timeout: Duration,
    secrets: &[Option<&str>],
    parse_error: impl Fn(&HeaderMap, &[u8]) -> ErrorBody,
    passing: impl Fn(&UpstreamError) -> bool,
) -> Result<Bytes, GatewayError> {
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1;
    loop {
        let copy = self::request(
            request.method().clone(),
            request.uri().clone(),
            request.headers().clone(),
            request.body().clone(),
        );
        let answer = match send(client, copy, provider, timeout, secrets, &parse_error).await {
            Ok(response) => read_body(response, provider, timeout).await,
            Err(error) => Err(error),
        };
        let retry = match &answer {
            Err(GatewayError::UpstreamUnavailable { .. }) => true,
            Err(GatewayError::Upstream(error)) => passing(error),
            _ => false,
        };
        if !retry || attempt == CREDENTIALS_ATTEMPTS {
            return answer;
        }
        tokio::time::sleep(backoff).await;
        backoff *= 2;
        attempt += 1;
    }
}

/// An endpoint failing or asking us to slow down, by its status alone.
pub(super) fn endpoint_failing(error: &UpstreamError) -> bool {
    error.status >= 500 || matches!(error.status, 408 | 429)
}

/// A credentials endpoint that kept failing: the provider is unreachable
/// for want of credentials, which is neither a refusal of them nor the
/// provider's own failure. `missing` says what is missing, `endpoint` who
/// failed.
pub(super) fn credentials_unavailable(
    error: &UpstreamError,
    missing: &str,
    endpoint: &str,
) -> GatewayError {
    // A message naming the status (an error page's title, a body that did
    // not arrive) would only repeat it.
    let status = error.status.to_string();
    let said = match error.message.as_str() {
        message if message.is_empty() || message.contains(&status) => String::new(),
        message => format!(": {message}"),
    };
    GatewayError::UpstreamUnavailable {
        provider: error.provider,
        message: format!("{missing}: the {endpoint} answered HTTP {status}{said}"),
    }
}

/// Reads the whole body of a successful response, within `timeout`.
async fn read_body(
    response: Response,
    provider: &'static str,
    timeout: Duration,
) -> Result<Bytes, GatewayError> {
    read_whole(response.into_body(), MAX_ANSWER_BODY, provider, timeout).await
}

/// Reads `body` whole, if it is at most `limit` bytes and arrives within
/// `timeout`.
async fn read_whole<B>(
    body: B,
    limit: usize,
    provider: &'static str,
    timeout: Duration,
) -> Result<Bytes, GatewayError>
where
    B: hyper::body::Body,
    B::Error: Into<tower::BoxError>,
{
    let collected = tokio::time::timeout(timeout, Limited::new(body, limit).collect())
        .await
        .map_err(|_| GatewayError::UpstreamTimeout { provider, timeout })?;
    match collected {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(GatewayError::UpstreamProtocol {
            provider,
            message: format!("{provider} answered with more than {} MiB", limit >> 20),
        }),
        Err(e) => Err(transport_error(&*e, provider)),
    }
}

/// The body of a response as a stream of byte chunks, as they arrive.
pub fn body_bytes(
    response: Response,
) -> impl Stream<Item = Result<Bytes, hyper::Error>> + Send + 'static {
    BodyDataStream::new(response.into_body())
}

fn transport_error(e: &dyn std::error::Error, provider: &'static str) -> GatewayError {
    // The client's Display names the stage ("connecting failed"); the source
    // chain says what actually failed (refused, reset, DNS...). URLs carry no
    // secrets here: keys travel in headers.
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    GatewayError::UpstreamUnavailable { provider, message }
}

/// The provider's error, from its status, headers and (up to
/// `MAX_ERROR_BODY` of) its body. A body that does not arrive within
/// `timeout` is given up on: the status still says what happened.
async fn error_from_response(
    response: Response,
    provider: &'static str,
    timeout: Duration,
    secrets: &[Option<&str>],
    parse_error: impl FnOnce(&HeaderMap, &[u8]) -> ErrorBody,
) -> GatewayError {
    // Collected on the error path only: successful requests pay nothing.
    let secrets: Vec<&str> = secrets.iter().flatten().copied().collect();
    let status = response.status().as_u16();
    let (parts, incoming) = response.into_parts();
    let headers = parts.headers;
    let mut body = Vec::new();
    let read = async {
        let mut stream = BodyDataStream::new(incoming);
        while let Some(Ok(chunk)) = stream.next().await {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_ERROR_BODY {
                body.truncate(MAX_ERROR_BODY);
                break;
            }
        }
    };
    let parsed = match tokio::time::timeout(timeout, read).await {
        Ok(()) => parse_error(&headers, &body),
        // Half an error body parses as noise; say what happened instead.
        Err(_) => ErrorBody {
            message: format!(
                "{provider} answered HTTP {status}, but its error body did not arrive within {timeout:?}"
            ),
            ..ErrorBody::default()
        },
    };
    let mut error = parsed.into_upstream(provider, status, &secrets);
    error.retry_after = retry_after(&headers).or(error.retry_after);
    GatewayError::Upstream(Box::new(error))
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds. The HTTP-date form
/// is not used by LLM providers and is ignored.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return Duration::try_from_secs_f64(ms / 1000.0).ok();
    }
    header("retry-after")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
}

/// Server-sent events from a streaming response, each yielded as soon as its
/// terminating blank line arrives. Waiting longer than `idle_timeout` for the
/// next event ends the stream with a timeout error, and so does an event
/// over [`MAX_EVENT`] bytes with an error.
fn events<E>(
    bytes: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    provider: &'static str,
    idle_timeout: Duration,
) -> impl Stream<Item = Result<Sse, GatewayError>> + Send + 'static
where
    E: std::error::Error + Send + Sync + 'static,
{
    // Bytes taken in since the last whole event: the parser has no bound
    // of its own. Both ends run in the same task, one after the other.
    let unparsed = Arc::new(AtomicUsize::new(0));
    let taken = unparsed.clone();
    let bytes = bytes.map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        let total = taken.load(Ordering::Relaxed) + chunk.len();
        if total > MAX_EVENT {
            return Err(io::Error::other(event_too_large()));
        }
        taken.store(total, Ordering::Relaxed);
        Ok(chunk)
    });
    let events = SseByteStream::new(bytes).inspect(move |event| {
        if event.is_ok() {
            unparsed.store(0, Ordering::Relaxed);
        }
    });
    within_idle_timeout(events, provider, idle_timeout)
}

/// Why a stream ended at an event over [`MAX_EVENT`] bytes.
pub fn event_too_large() -> String {
    format!("an event exceeds {} MiB", MAX_EVENT >> 20)
}

/// The lines of a newline-delimited JSON stream (Ollama), each yielded as
/// soon as its newline arrives; blank lines are skipped.
fn ndjson_lines<E>(
    bytes: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
    provider: &'static str,
    idle_timeout: Duration,
) -> impl Stream<Item = Result<String, GatewayError>> + Send + 'static
where
    E: std::error::Error + Send + Sync + 'static,
{
    let bytes = bytes.map(|r| r.map_err(io::Error::other));
    let lines = FramedRead::new(
        StreamReader::new(bytes),
        LinesCodec::new_with_max_length(MAX_EVENT),
    );
    within_idle_timeout(lines, provider, idle_timeout)
        .filter(|line| ready(!matches!(line, Ok(l) if l.trim().is_empty())))
}

/// Ends `stream` with a timeout error when it is silent for longer than
/// `idle_timeout`, and with an "unavailable" error (ending it) when the
/// connection breaks.
pub fn within_idle_timeout<T, E: std::fmt::Display>(
    stream: impl Stream<Item = Result<T, E>> + Send + 'static,
    provider: &'static str,
    idle_timeout: Duration,
) -> impl Stream<Item = Result<T, GatewayError>> + Send + 'static
where
    T: Send + 'static,
{
    futures::stream::unfold(Some(Box::pin(stream)), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(idle_timeout, stream.next()).await {
            Err(_) => Some((
                Err(GatewayError::UpstreamTimeout {
                    provider,
                    timeout: idle_timeout,
                }),
                None,
            )),
            Ok(None) => None,
            Ok(Some(Ok(item))) => Some((Ok(item), Some(stream))),
            Ok(Some(Err(e))) => Some((
                Err(GatewayError::UpstreamUnavailable {
                    provider,
                    message: format!("stream broken: {e}"),
                }),
                None,
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer over the limit is refused, not buffered on.
    #[tokio::test]
    async fn answers_over_the_limit_are_refused() {
        let read = |size: usize| {
            let body = http_body_util::Full::new(Bytes::from(vec![b'x'; size]));
            read_whole(body, 2 << 20, "openai", Duration::from_secs(5))
        };
        assert_eq!(read(2 << 20).await.map(|b| b.len()).ok(), Some(2 << 20));
        match read((2 << 20) + 1).await {
            Err(GatewayError::UpstreamProtocol { message, .. }) => {
                assert_eq!(message, "openai answered with more than 2 MiB");
            }
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    /// Events are yielded whatever their number; one event that grows past
    /// `MAX_EVENT` ends the stream with an error.
    #[tokio::test]
    async fn oversized_events_end_the_stream() {
        let chunk = |text: String| Ok::<_, io::Error>(Bytes::from(text));
        let read = |chunks: Vec<_>| {
            let read = events(
                futures::stream::iter(chunks),
                "openai",
                Duration::from_secs(5),
            );
            read.collect::<Vec<_>>()
        };
        let event = format!("data: {}\n\n", "x".repeat(1 << 20));
        let whole = read((0..20).map(|_| chunk(event.clone())).collect()).await;
        assert_eq!(whole.len(), 20, "20 MiB in 1 MiB events");
        assert!(whole.iter().all(Result::is_ok));

        let endless = std::iter::once(chunk("data: ".to_owned()))
            .chain((0..20).map(|_| chunk("x".repeat(1 << 20))));
        let cut = read(endless.collect()).await;
        match &cut[..] {
            [Err(error)] => assert!(error.to_string().contains("exceeds 16 MiB"), "{error}"),
            other => panic!("expected one error, got {other:?}"),
        }
    }

    /// A redirect is the deployment's wrong URL: a 502 naming where it
    /// pointed (without the query), never the provider's status passed on.
    #[test]
    fn redirects_are_the_gateways_failure() {
        let headers = HeaderMap::from_iter([(
            header::LOCATION,
            HeaderValue::from_static("https://api.openai.com/v1/chat/completions?sig=secret"),
        )]);
        let error = redirected("openai", StatusCode::MOVED_PERMANENTLY, &headers);
        let GatewayError::UpstreamProtocol { message, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(
            message,
            "openai redirected to https://api.openai.com/v1/chat/completions (HTTP 301); \
             redirects are not followed: check the deployment's api_base"
        );
        assert_eq!(error.classify().http_status, StatusCode::BAD_GATEWAY);
    }

    /// Events survive CRLF line endings (Gemini), comment keep-alives,
    /// multi-line data and network chunks that split anywhere.
    #[tokio::test]
    async fn events_parse_across_chunk_boundaries() {
        let raw = ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: error\r\ndata: {\"b\"\r\ndata: :2}\r\n\r\n";
        for size in [1, 3, 7, raw.len()] {
            let pieces: Vec<Result<Bytes, std::io::Error>> = raw
                .as_bytes()
                .chunks(size)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let bytes = futures::stream::iter(pieces);
            let parsed: Vec<Sse> = events(bytes, "test", Duration::from_secs(5))
                .map(|e| e.expect("event"))
                .collect()
                .await;
            let with_data: Vec<(Option<&str>, &str)> = parsed
                .iter()
                .filter_map(|e| Some((e.event.as_deref(), e.data.as_deref()?)))
                .collect();
            assert_eq!(
                with_data,
                [(None, "{\"a\":1}"), (Some("error"), "{\"b\"\n:2}")],
                "split every {size} bytes"
            );
        }
    }

    /// Both retry headers are understood; the millisecond one wins.
    #[test]
    fn reads_retry_after_headers() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "20".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(20)));
        headers.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        headers.insert("retry-after-ms", "soon".parse().unwrap());
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
