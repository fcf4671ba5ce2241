//! The replay upstream: an HTTP server that answers as a provider would, from recorded fixtures.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::case::RequestSpec;
use crate::matcher::{header_diff, json_diff};

/// Request header that slows a fixture down: sleep this many milliseconds before each event
/// after the first, so a client can show it sees the first event while the rest is pending. A
/// JSON body is sent as two halves with the pause between them (a stalled upstream).
pub const PAUSE_HEADER: &str = "x-replay-pause-ms";

/// Recorded response headers that describe the recorded connection or encoding, not the body we
/// send now. Replaying them would lie about the framing (the stored body is already decoded and
/// hyper frames it itself).
const NOT_REPLAYED: [&str; 5] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "content-encoding",
    "keep-alive",
];

/// Requests bodies can carry base64 images; this only guards against a runaway client.
const MAX_REQUEST_BODY: usize = 256 * 1024 * 1024;

/// One request as the replay server received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub method: String,
    /// Path without the query string, e.g. `/openai/chat__x/v1/chat/completions`.
    pub path: String,
    /// Raw query string without the `?`; empty when there was none.
    pub query: String,
    /// Every header as `[name, value]`, names lower-cased. A header sent twice appears twice;
    /// values of one name stay in the order they were sent.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or as a (lossy) UTF-8 string when it is not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One exchange a conformance case expects upstream: the request the gateway must send, and
/// the fixture (`{provider}/{fixture}`) that answers it when the request matches.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub request: RequestSpec,
    pub body: Value,
    pub response: String,
}

/// Everything one case expects upstream: its provider call (`None`: it must make none) and,
/// for providers that authenticate with OAuth2, the token request that comes first.
#[derive(Clone, Debug, Default)]
pub struct CaseExpectation {
    pub call: Option<Expectation>,
    /// Matched when a request's path is this one's; its form body is compared as a JSON object
    /// (see [`form_fields`]).
    pub token: Option<Expectation>,
}

/// What happened upstream for one case since it was last reset.
#[derive(Clone, Debug, Default)]
pub struct CaseLog {
    pub calls: usize,
    pub token_calls: usize,
    /// Every difference between what was sent and what the case expects, per call.
    pub diffs: Vec<String>,
}

struct Shared {
    fixtures_dir: PathBuf,
    requests: Mutex<Vec<RecordedRequest>>,
    expectations: Vec<CaseExpectation>,
    case_logs: Mutex<Vec<CaseLog>>,
}

impl Shared {
    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        // A panic elsewhere while holding the lock must not hide what was recorded.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `request` and returns its turn on its method and path: how
    /// many such requests came before it.
    fn record(&self, request: &RecordedRequest) -> usize {
        let mut requests = self.requests();
        let turn = requests
            .iter()
            .filter(|r| r.method == request.method && r.path == request.path)
            .count();
        requests.push(request.clone());
        turn
    }

    fn case_logs(&self) -> std::sync::MutexGuard<'_, Vec<CaseLog>> {
        self.case_logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running replay server. Dropping it stops accepting connections.
pub struct ReplayServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl ReplayServer {
    /// Serves `fixtures_dir` on an ephemeral port of 127.0.0.1.
    pub async fn start(fixtures_dir: impl Into<PathBuf>) -> io::Result<ReplayServer> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), fixtures_dir).await
    }

    /// Serves `fixtures_dir` on `addr` (port 0 picks a free port).
    pub async fn start_on(
        addr: SocketAddr,
        fixtures_dir: impl Into<PathBuf>,
    ) -> io::Result<ReplayServer> {
        Self::start_with_cases(addr, fixtures_dir, Vec::new()).await
    }

    /// Serves `fixtures_dir` on an ephemeral port, allowing each HTTP/2
    /// connection only `streams` requests at once
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`), as providers' frontends do
    /// (Google's allow 100).
    pub async fn start_with_stream_limit(
        fixtures_dir: impl Into<PathBuf>,
        streams: u32,
    ) -> io::Result<ReplayServer> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_serving(addr, fixtures_dir.into(), Vec::new(), Some(streams)).await
    }

    /// Also plays conformance cases: `ANY /case/{n}/{rest...}` is matched against
    /// `expectations[n]` (see [`ReplayServer::case_log`]) and, when it matches, answered with
    /// that expectation's fixture. A mismatch is answered `500 {"replay_error": diff}`.
    pub async fn start_with_cases(
        addr: SocketAddr,
        fixtures_dir: impl Into<PathBuf>,
        expectations: Vec<CaseExpectation>,
    ) -> io::Result<ReplayServer> {
        Self::start_serving(addr, fixtures_dir.into(), expectations, None).await
    }

    async fn start_serving(
        addr: SocketAddr,
        fixtures_dir: PathBuf,
        expectations: Vec<CaseExpectation>,
        stream_limit: Option<u32>,
    ) -> io::Result<ReplayServer> {
        // Fail at start rather than answering every request with "no fixture".
        if !fixtures_dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "fixtures directory {} does not exist",
                    fixtures_dir.display()
                ),
            ));
        }
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            fixtures_dir,
            requests: Mutex::new(Vec::new()),
            case_logs: Mutex::new(vec![CaseLog::default(); expectations.len()]),
            expectations,
        });
        let app = Router::new()
            .route(
                "/_replay/requests",
                get(list_requests).delete(clear_requests),
            )
            // Everything else is a provider call; a fallback (rather than a
            // `/{provider}/{fixture}/{*rest}` route) also records malformed paths.
            .fallback(replay)
            .with_state(shared.clone());
        let task = tokio::spawn(serve(listener, app, stream_limit));
        Ok(ReplayServer { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL a client should use as the provider's API root, e.g.
    /// `http://127.0.0.1:PORT/openai/tools__single-tool-call/v1`.
    pub fn base_url(&self, provider: &str, fixture: &str) -> String {
        format!("http://{}/{provider}/{fixture}/v1", self.addr)
    }

    /// Requests received so far, oldest first (control routes excluded).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests().clone()
    }

    /// Forgets every request, and so every route's turn.
    pub fn clear(&self) {
        self.shared.requests().clear();
    }

    /// Base URL of conformance case `n`: what `{{replay}}` stands for in its deployment.
    pub fn case_base(&self, n: usize) -> String {
        format!("http://{}/case/{n}", self.addr)
    }

    /// What case `n` saw upstream since the last call, and resets it.
    pub fn take_case_log(&self, n: usize) -> CaseLog {
        self.shared
            .case_logs()
            .get_mut(n)
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on `listener` over HTTP/1.1 and h2c, each HTTP/2 connection
/// allowing `stream_limit` requests at once (hyper's default, 200, if None).
/// As `axum::serve` does (its code path, with an HTTP/2 setting it does not
/// expose), less connection upgrades, which no provider call uses.
async fn serve(listener: TcpListener, app: Router, stream_limit: Option<u32>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if let Some(limit) = stream_limit {
        builder.http2().max_concurrent_streams(limit);
    }
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            // Out of file descriptors, say: wait for some to close.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (builder, service) = (builder.clone(), TowerToHyperService::new(app.clone()));
        tokio::spawn(async move {
            let _ = builder
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}

async fn list_requests(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.requests().clone()).into_response()
}

async fn clear_requests(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.requests().clear();
    StatusCode::NO_CONTENT
}

async fn replay(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(body) => body,
        Err(err) => return replay_error(StatusCode::BAD_REQUEST, format!("reading body: {err}")),
    };
    let pause = parts
        .headers
        .get(PAUSE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    let path = parts.uri.path().to_owned();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: header_pairs(&parts.headers),
        body: serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
    };
    let turn = shared.record(&recorded);
    if let Some(case) = path.strip_prefix("/case/") {
        return case_response(&shared, case, &recorded, pause).await;
    }

    let mut segments = path.trim_start_matches('/').splitn(3, '/');
    let (provider, fixture, rest) = (
        segments.next().unwrap_or_default(),
        segments.next().unwrap_or_default(),
        segments.next().unwrap_or_default(),
    );
    if !is_plain_name(provider) || !is_plain_name(fixture) {
        return replay_error(
            StatusCode::NOT_IMPLEMENTED,
            format!("path {path} is not /{{provider}}/{{fixture}}/..."),
        );
    }
    let request = format!("{} /{rest}", parts.method);
    let routed = routed_fixture(&shared.fixtures_dir, provider, fixture, &request, turn).await;
    let answer = match routed {
        Ok(routed) => {
            let fixture = routed.as_deref().unwrap_or(fixture);
            fixture_response(&shared.fixtures_dir, provider, fixture, pause).await
        }
        Err(error) => Err(error),
    };
    answer.unwrap_or_else(|(status, message)| replay_error(status, message))
}

/// The fixture answering `request` (`"METHOD /path"` below the fixture's
/// base URL) when `{fixture}.routes.json` exists: a set of exchanges under
/// one base URL, such as the EC2 instance metadata service's token, role
/// name and keys. A route names one fixture, or a list answered in turn
/// (the `turn`th request gets the `turn`th, the last repeating), for
/// recorded retries. `None` for a plain fixture, which answers every
/// request.
async fn routed_fixture(
    dir: &Path,
    provider: &str,
    fixture: &str,
    request: &str,
    turn: usize,
) -> ReplayResult<Option<String>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Route {
        One(String),
        InTurn(Vec<String>),
    }
    let file = dir.join(provider).join(format!("{fixture}.routes.json"));
    let raw = match tokio::fs::read(&file).await {
        Ok(raw) => raw,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(internal(format!("{}: {err}", file.display()))),
    };
    let routes: std::collections::BTreeMap<String, Route> = serde_json::from_slice(&raw)
        .map_err(|err| internal(format!("{}: {err}", file.display())))?;
    let target = routes.get(request).map(|route| match route {
        Route::One(target) => Some(target),
        Route::InTurn(targets) => targets.get(turn).or(targets.last()),
    });
    match target {
        Some(None) => Err(internal(format!("{}: an empty route", file.display()))),
        Some(Some(target)) if is_plain_name(target) => Ok(Some(target.clone())),
        Some(Some(target)) => Err(internal(format!(
            "{}: bad fixture name {target:?}",
            file.display()
        ))),
        // Not a 404, which the client might take for the provider's answer.
        None => Err((
            StatusCode::NOT_IMPLEMENTED,
            format!("{provider}/{fixture} has no route for {request}"),
        )),
    }
}

/// Matches a request for `/case/{n}/{rest}` against expectation `n`; answers with its fixture
/// when everything matches, with the differences otherwise.
async fn case_response(
    shared: &Shared,
    case: &str,
    request: &RecordedRequest,
    pause: Option<Duration>,
) -> Response {
    let (n, rest) = case.split_once('/').unwrap_or((case, ""));
    let Some((n, expectation)) = n
        .parse::<usize>()
        .ok()
        .and_then(|n| Some((n, shared.expectations.get(n)?)))
    else {
        return replay_error(StatusCode::NOT_FOUND, format!("no case {case}"));
    };
    let path = format!("/{rest}");
    if let Some(token) = expectation
        .token
        .as_ref()
        .filter(|t| t.request.path == path)
    {
        let mut token_request = request.clone();
        token_request.body = form_fields(&request.body);
        let diffs = request_diff(token, &path, &token_request)
            .into_iter()
            .map(|d| format!("token request: {d}"))
            .collect();
        return answer_and_log(shared, n, Some(token), diffs, pause, |log| {
            log.token_calls += 1
        })
        .await;
    }
    let diffs = match &expectation.call {
        Some(expectation) => request_diff(expectation, &path, request),
        None => vec!["upstream called, but the case expects no upstream call".to_string()],
    };
    answer_and_log(shared, n, expectation.call.as_ref(), diffs, pause, |log| {
        log.calls += 1
    })
    .await
}

/// Answers with the expectation's fixture when nothing differs (else with the differences),
/// and logs the call and its differences for case `n`.
async fn answer_and_log(
    shared: &Shared,
    n: usize,
    expectation: Option<&Expectation>,
    mut diffs: Vec<String>,
    pause: Option<Duration>,
    count: impl FnOnce(&mut CaseLog),
) -> Response {
    let answer = match expectation {
        Some(expectation) if diffs.is_empty() => {
            case_fixture(&shared.fixtures_dir, &expectation.response, pause).await
        }
        _ => Err((StatusCode::INTERNAL_SERVER_ERROR, diffs.join("\n"))),
    };
    let response = answer.unwrap_or_else(|(status, message)| {
        if diffs.is_empty() {
            diffs.push(format!("replay: {message}"));
        }
        replay_error(status, message)
    });
    let mut logs = shared.case_logs();
    count(&mut logs[n]);
    logs[n].diffs.extend(diffs);
    response
}

/// An `application/x-www-form-urlencoded` body as a JSON object of its fields, with a JWT
/// `assertion` (RFC 7523) decoded to `{header, claims, signature}` so cases can state the
/// claims they expect. Anything else stays as it was.
fn form_fields(body: &Value) -> Value {
    let Value::String(text) = body else {
        return body.clone();
    };
    let fields = form_urlencoded::parse(text.as_bytes())
        .map(|(name, value)| {
            let value = match name.as_ref() {
                "assertion" => decode_jwt(&value).unwrap_or_else(|| value.clone().into()),
                _ => Value::from(value.as_ref()),
            };
            (name.into_owned(), value)
        })
        .collect();
    Value::Object(fields)
}

fn decode_jwt(jwt: &str) -> Option<Value> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let [header, claims, signature] = jwt.split('.').collect::<Vec<_>>()[..] else {
        return None;
    };
    let json = |segment: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).ok()?).ok()
    };
    Some(json!({"header": json(header)?, "claims": json(claims)?, "signature": signature}))
}

/// The fixture `{provider}/{fixture}` as a response.
async fn case_fixture(dir: &Path, name: &str, pause: Option<Duration>) -> ReplayResult<Response> {
    match name.split_once('/') {
        Some((provider, fixture)) if is_plain_name(provider) && is_plain_name(fixture) => {
            fixture_response(dir, provider, fixture, pause).await
        }
        _ => Err(internal(format!("bad fixture name {name:?}"))),
    }
}

/// Every way `request` differs from what `expectation` says the gateway must send.
fn request_diff(expectation: &Expectation, path: &str, request: &RecordedRequest) -> Vec<String> {
    let want = &expectation.request;
    let mut diffs = Vec::new();
    if !want.method.eq_ignore_ascii_case(&request.method) {
        diffs.push(format!(
            "upstream method: expected {}, got {}",
            want.method, request.method
        ));
    }
    if want.path != path {
        diffs.push(format!("upstream path: expected {}, got {path}", want.path));
    }
    if want.query != request.query {
        diffs.push(format!(
            "upstream query: expected {:?}, got {:?}",
            want.query, request.query
        ));
    }
    let headers: Vec<(String, String)> = want
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    diffs.extend(header_diff(
        "upstream headers",
        &headers,
        &want.absent_headers,
        &request.headers,
    ));
    diffs.extend(json_diff("upstream body", &expectation.body, &request.body));
    diffs
}

/// Every header as `[name, value]`, in order, repeats kept.
pub(crate) fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}

/// A path segment usable as a file-name stem: no separators and no `.`/`..`, so a request
/// can never read outside the fixtures directory.
fn is_plain_name(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.contains(['/', '\\', '\0'])
}

fn replay_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "replay_error": message }))).into_response()
}

#[derive(Deserialize)]
struct Meta {
    #[serde(default = "ok_status")]
    status: u16,
    #[serde(default)]
    headers: serde_json::Map<String, Value>,
}

fn ok_status() -> u16 {
    200
}

/// The body kinds the server can replay, in lookup order.
enum BodyKind {
    Json,
    Sse,
    ChunksJsonl,
    /// Newline-delimited JSON (Ollama), one line per body frame.
    Ndjson,
    /// AWS event-stream binary messages (Bedrock), one message per body frame.
    EventStream,
    /// An XML document (AWS STS), sent whole.
    Xml,
    /// Plain text (the EC2 instance metadata service), sent whole.
    Text,
}

const BODY_FILES: [(&str, BodyKind); 7] = [
    ("response.json", BodyKind::Json),
    ("response.xml", BodyKind::Xml),
    ("response.txt", BodyKind::Text),
    ("response.sse", BodyKind::Sse),
    ("response.chunks.jsonl", BodyKind::ChunksJsonl),
    ("response.ndjson", BodyKind::Ndjson),
    ("response.eventstream", BodyKind::EventStream),
];

type ReplayResult<T> = Result<T, (StatusCode, String)>;

async fn fixture_response(
    dir: &Path,
    provider: &str,
    fixture: &str,
    pause: Option<Duration>,
) -> ReplayResult<Response> {
    let stem = dir.join(provider).join(fixture);
    // Fixture names contain dots (`chat__llama-3.3-70b`), so append rather than set_extension.
    let file = |suffix: &str| {
        let mut path = stem.clone().into_os_string();
        path.push(".");
        path.push(suffix);
        PathBuf::from(path)
    };

    let mut found = None;
    for (suffix, kind) in BODY_FILES {
        match tokio::fs::read(file(suffix)).await {
            Ok(bytes) => {
                found = Some((kind, bytes));
                break;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(internal(format!("{}: {err}", file(suffix).display()))),
        }
    }
    let Some((kind, bytes)) = found else {
        // A meta.json without a body we know means a fixture kind this server cannot replay
        // yet, which is a different fix than a typo in the URL.
        let message = if file("meta.json").exists() {
            let kinds: Vec<&str> = BODY_FILES.iter().map(|(suffix, _)| *suffix).collect();
            format!(
                "fixture {provider}/{fixture} has none of {}; the replay server cannot serve \
                 its body kind yet",
                kinds.join(", ")
            )
        } else {
            format!("no fixture {provider}/{fixture} in {}", dir.display())
        };
        return Err((StatusCode::NOT_IMPLEMENTED, message));
    };

    let meta = match tokio::fs::read(file("meta.json")).await {
        Ok(raw) => serde_json::from_slice::<Meta>(&raw)
            .map_err(|err| internal(format!("{}: {err}", file("meta.json").display())))?,
        Err(err) if err.kind() == io::ErrorKind::NotFound => Meta {
            status: ok_status(),
            headers: Default::default(),
        },
        Err(err) => return Err(internal(format!("{}: {err}", file("meta.json").display()))),
    };
    let status = StatusCode::from_u16(meta.status)
        .map_err(|_| internal(format!("{provider}/{fixture}: bad status {}", meta.status)))?;
    let mut headers = recorded_headers(&meta.headers)
        .map_err(|err| internal(format!("{provider}/{fixture}: {err}")))?;

    let bytes = Bytes::from(bytes);
    let (body, default_type) = match kind {
        // Sent whole: hyper sets the real content-length.
        BodyKind::Json if pause.is_none() => (Body::from(bytes), "application/json"),
        BodyKind::Xml => (Body::from(bytes), "text/xml"),
        BodyKind::Text => (Body::from(bytes), "text/plain"),
        // Framed by its length, as sent whole, but stalling halfway.
        BodyKind::Json => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            let half = bytes.len() / 2;
            let halves = vec![bytes.slice(..half), bytes.slice(half..)];
            (stream_events(halves, pause), "application/json")
        }
        BodyKind::Sse => (
            stream_events(split_sse_events(&bytes), pause),
            "text/event-stream",
        ),
        // Bedrock streams are AWS event-stream binary, not SSE.
        BodyKind::ChunksJsonl if provider == "bedrock" => (
            stream_events(
                encode_event_stream(&bytes)
                    .map_err(|e| internal(format!("{provider}/{fixture}: {e}")))?,
                pause,
            ),
            "application/vnd.amazon.eventstream",
        ),
        BodyKind::ChunksJsonl => (
            stream_events(frame_jsonl(&bytes, provider), pause),
            "text/event-stream",
        ),
        BodyKind::Ndjson => (
            stream_events(split_lines(&bytes), pause),
            "application/x-ndjson",
        ),
        BodyKind::EventStream => (
            stream_events(
                split_event_stream(&bytes)
                    .map_err(|e| internal(format!("{provider}/{fixture}: {e}")))?,
                pause,
            ),
            "application/vnd.amazon.eventstream",
        ),
    };
    // Fixtures from SDK files and docs carry no headers; a provider always sends a content-type.
    if !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(default_type));
    }
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

fn internal(message: String) -> (StatusCode, String) {
    (StatusCode::INTERNAL_SERVER_ERROR, message)
}

fn recorded_headers(recorded: &serde_json::Map<String, Value>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in recorded {
        if NOT_REPLAYED.contains(&name.to_ascii_lowercase().as_str()) {
            continue;
        }
        let Value::String(value) = value else {
            return Err(format!("header {name} is not a string"));
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("invalid value for header {name}"))?;
        // insert, not append: each recorded header goes out exactly once.
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Splits a raw `text/event-stream` body into events. An event ends at a blank line (`\n\n` or
/// `\r\n\r\n`); each piece keeps its exact bytes including that terminator, so the concatenation
/// of the pieces is the recorded body. Bytes after the last blank line form a final piece.
fn split_sse_events(raw: &Bytes) -> Vec<Bytes> {
    let mut events = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < raw.len() {
        let end = if raw[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if raw[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        };
        match end {
            Some(end) => {
                events.push(raw.slice(start..end));
                (start, i) = (end, end);
            }
            None => i += 1,
        }
    }
    if start < raw.len() {
        events.push(raw.slice(start..));
    }
    events
}

/// Splits NDJSON into lines, each keeping its newline.
fn split_lines(raw: &Bytes) -> Vec<Bytes> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, byte) in raw.iter().enumerate() {
        if *byte == b'\n' {
            lines.push(raw.slice(start..=i));
            start = i + 1;
        }
    }
    if start < raw.len() {
        lines.push(raw.slice(start..));
    }
    lines
}

/// Splits AWS event-stream bytes into messages. Each message starts with its total length
/// (4 bytes, big-endian), so framing needs no decoding; the bytes are replayed as recorded.
fn split_event_stream(raw: &Bytes) -> Result<Vec<Bytes>, String> {
    let mut messages = Vec::new();
    let mut rest = raw.clone();
    while !rest.is_empty() {
        let length = rest
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .filter(|&n| n >= 16 && n <= rest.len())
            .ok_or_else(|| {
                format!(
                    "truncated event-stream message at byte {}",
                    raw.len() - rest.len()
                )
            })?;
        messages.push(rest.split_to(length));
    }
    Ok(messages)
}

/// Frames decoded Bedrock events stored one per line as `{"<event type>": payload}` (the AWS
/// SDKs' shape) the way Bedrock sends them: one AWS event-stream message each, with the
/// `:event-type` header, or `:exception-type` for exceptions (types ending in `Exception`).
fn encode_event_stream(raw: &[u8]) -> Result<Vec<Bytes>, String> {
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
    let mut messages = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let event: serde_json::Map<String, Value> =
            serde_json::from_slice(line).map_err(|e| format!("not a JSON object: {e}"))?;
        let (kind, payload) = event
            .into_iter()
            .next()
            .ok_or("an empty object is no event")?;
        let (message_type, type_header) = if kind.ends_with("Exception") {
            ("exception", ":exception-type")
        } else {
            ("event", ":event-type")
        };
        let string = |s: String| HeaderValue::String(s.into());
        let message = Message::new(payload.to_string().into_bytes())
            .add_header(Header::new(type_header, string(kind)))
            .add_header(Header::new(
                ":content-type",
                string("application/json".into()),
            ))
            .add_header(Header::new(":message-type", string(message_type.into())));
        let mut frame = Vec::new();
        aws_smithy_eventstream::frame::write_message_to(&message, &mut frame)
            .map_err(|e| e.to_string())?;
        messages.push(Bytes::from(frame));
    }
    Ok(messages)
}

/// Providers whose streams end without OpenAI's `data: [DONE]` (Anthropic ends with a
/// `message_stop` event, Gemini and Cohere just close the stream).
const NO_DONE_MARKER: &[&str] = &["anthropic", "gemini", "cohere"];

/// Frames stream payloads stored one JSON object per line the way the provider sends them:
/// `data: <line>\n\n` each, then `data: [DONE]\n\n` unless the provider sends none.
fn frame_jsonl(raw: &[u8], provider: &str) -> Vec<Bytes> {
    let done =
        (!NO_DONE_MARKER.contains(&provider)).then_some(Bytes::from_static(b"data: [DONE]\n\n"));
    raw.split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .map(|line| Bytes::from([b"data: ", line, b"\n\n"].concat()))
        .chain(done)
        .collect()
}

/// One HTTP body frame per event, so each reaches the client as its own chunk.
fn stream_events(events: Vec<Bytes>, pause: Option<Duration>) -> Body {
    let stream =
        futures::stream::iter(events.into_iter().enumerate()).then(move |(i, event)| async move {
            if let Some(pause) = pause.filter(|_| i > 0) {
                tokio::time::sleep(pause).await;
            }
            Ok::<_, Infallible>(event)
        });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_split_keeps_exact_bytes_and_terminators() {
        let raw = Bytes::from_static(b"data: a\n\ndata: b\r\n\r\n: comment\ndata: c\n\ntail");
        let events = split_sse_events(&raw);
        assert_eq!(
            events,
            vec![
                Bytes::from_static(b"data: a\n\n"),
                Bytes::from_static(b"data: b\r\n\r\n"),
                Bytes::from_static(b": comment\ndata: c\n\n"),
                Bytes::from_static(b"tail"),
            ]
        );
        assert_eq!(events.concat(), raw.to_vec());
    }

    #[test]
    fn jsonl_lines_become_data_events_then_done() {
        let events = frame_jsonl(b"{\"a\":1}\r\n\n{\"b\":2}", "groq");
        assert_eq!(
            events,
            vec![
                Bytes::from_static(b"data: {\"a\":1}\n\n"),
                Bytes::from_static(b"data: {\"b\":2}\n\n"),
                Bytes::from_static(b"data: [DONE]\n\n"),
            ]
        );
        assert_eq!(
            frame_jsonl(b"{}", "gemini"),
            [Bytes::from_static(b"data: {}\n\n")]
        );
    }

    #[test]
    fn path_segments_cannot_escape_the_fixtures_dir() {
        assert!(is_plain_name("chat__llama-3.3-70b-turbo"));
        for bad in ["", ".", "..", "a\\b"] {
            assert!(!is_plain_name(bad), "{bad:?}");
        }
    }
}
