//! Record mode: capture a new case from a real provider.
//!
//! The case directory starts with `client-request.json` and a `case.yaml` that has at least
//! `description` and `deployment` (whose `api_base` uses `{{replay}}`, as in every case). The
//! recorder runs the gateway in this process with that deployment pointed at a recording proxy,
//! which forwards to the real provider with the real key, and sends the client request through
//! the HTTP door. It then writes:
//!
//! - the provider's answer as a fixture, `fixtures/upstream/{provider}/{fixture}.meta.json` plus
//!   `.response.json` or `.response.sse` (the bytes as received);
//! - `upstream-request.json`, the `upstream` section of `case.yaml`, and the client's answer
//!   (`client-response.json`, `client-stream.jsonl` or `client-error.json`).
//!
//! Secrets never reach a file: the real key is replaced by [`UPSTREAM_KEY`] wherever it appears
//! (headers, query, bodies), cookies are dropped and account ids become `REDACTED`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::case::{CaseSpec, RequestSpec, UpstreamSpec, read};
use crate::replay::header_pairs;
use crate::runner::{MASTER_KEY, UPSTREAM_KEY, gateway_config_for, sse_chunks, start_gateway};

/// Request headers that describe the connection or the HTTP client, not the provider API.
const TRANSPORT_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "accept",
    "accept-encoding",
    "user-agent",
    "connection",
    "te",
    "transfer-encoding",
];

/// Response headers that are dropped (cookies) or describe the recorded connection.
const DROPPED_RESPONSE_HEADERS: [&str; 7] = [
    "set-cookie",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "alt-svc",
    "strict-transport-security",
];

/// Response headers that identify an account.
const ACCOUNT_HEADERS: [&str; 4] = [
    "openai-organization",
    "openai-project",
    "anthropic-organization-id",
    "x-request-id-account",
];

pub struct RecordOptions {
    /// The case directory (holds `client-request.json` and `case.yaml`).
    pub case_dir: PathBuf,
    /// The fixtures root to write the provider's answer into.
    pub fixtures_dir: PathBuf,
    /// `{provider}/{fixture}` for the recorded answer.
    pub fixture: String,
    /// The real provider origin `{{replay}}` stands for, e.g. `https://api.openai.com`.
    pub upstream: String,
    /// The real API key.
    pub api_key: String,
}

type Headers = Vec<(String, String)>;

/// What the proxy saw.
#[derive(Default)]
struct Capture {
    request: Option<SentRequest>,
    response: Option<ReceivedResponse>,
}

/// The request as the gateway sent it.
struct SentRequest {
    method: String,
    path: String,
    query: String,
    headers: Headers,
    body: Bytes,
}

/// The provider's answer, body frames as they arrived.
struct ReceivedResponse {
    status: u16,
    headers: Headers,
    frames: Vec<Bytes>,
}

struct Proxy {
    upstream: String,
    client: switchboard::providers::http::Client,
    capture: Mutex<Capture>,
}

/// Records one case; returns the files written.
pub async fn record(options: &RecordOptions) -> Result<Vec<PathBuf>, String> {
    let (provider, fixture) = options
        .fixture
        .split_once('/')
        .filter(|(p, f)| !p.is_empty() && !f.is_empty() && !f.contains('/'))
        .ok_or("--fixture is {provider}/{fixture}")?;
    let spec_path = options.case_dir.join("case.yaml");
    let mut spec: CaseSpec = serde_yaml_ng::from_str(&read(&spec_path)?)
        .map_err(|e| format!("{}: {e}", spec_path.display()))?;
    let client_request: Map<String, Value> =
        serde_json::from_str(&read(&options.case_dir.join("client-request.json"))?)
            .map_err(|e| format!("client-request.json: {e}"))?;

    let proxy = Arc::new(Proxy {
        upstream: options.upstream.trim_end_matches('/').to_string(),
        client: switchboard::providers::http::Client::default(),
        capture: Mutex::default(),
    });
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| e.to_string())?;
    let proxy_addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let proxy_task = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut deployment = spec.deployment.clone();
    deployment.insert("api_key".into(), Value::from(options.api_key.clone()));
    let config = gateway_config_for(&[("recording", deployment, format!("http://{proxy_addr}"))])?;
    let gateway = start_gateway(&config).await?;

    let mut body = client_request.clone();
    body.insert("model".into(), Value::from("recording"));
    let path = if body.contains_key("input") {
        "/v1/embeddings"
    } else {
        "/v1/chat/completions"
    };
    let reply = crate::http_client_builder()
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?
        .post(format!("http://{gateway}{path}"))
        .bearer_auth(MASTER_KEY)
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("gateway: {e}"))?;
    let client_status = reply.status().as_u16();
    let retry_after = reply
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let client_body = reply.bytes().await.map_err(|e| format!("gateway: {e}"))?;
    proxy_task.abort();

    let capture =
        std::mem::take(&mut *proxy.capture.lock().unwrap_or_else(PoisonError::into_inner));
    let (Some(sent), Some(received)) = (capture.request, capture.response) else {
        return Err(format!(
            "the gateway never reached the provider; it answered {client_status}: {}",
            String::from_utf8_lossy(&client_body)
        ));
    };
    let redact = |text: &str| text.replace(&options.api_key, UPSTREAM_KEY);
    let SentRequest {
        method,
        path: req_path,
        query,
        headers: req_headers,
        body: req_body,
    } = sent;
    let ReceivedResponse {
        status,
        headers,
        frames,
    } = received;
    let mut written = Vec::new();

    // The provider's answer, as a fixture.
    let content_type = headers
        .iter()
        .find(|(n, _)| n == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let suffix = if content_type.starts_with("text/event-stream") {
        "response.sse"
    } else {
        "response.json"
    };
    let raw: Vec<u8> = frames.concat();
    let stem = options.fixtures_dir.join(provider).join(fixture);
    let file = |suffix: &str| PathBuf::from(format!("{}.{suffix}", stem.display()));
    let recorded_headers: Map<String, Value> = headers
        .iter()
        .filter(|(n, _)| !DROPPED_RESPONSE_HEADERS.contains(&n.as_str()))
        .map(|(n, v)| {
            let value = if ACCOUNT_HEADERS.contains(&n.as_str()) {
                "REDACTED".to_string()
            } else {
                redact(v)
            };
            (n.clone(), Value::from(value))
        })
        .collect();
    let query_suffix = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", redact(&query))
    };
    let meta = json!({
        "status": status,
        "headers": recorded_headers,
        "source": {
            "recorded_by": "switchboard-conformance record",
            "url": format!("{}{req_path}{query_suffix}", proxy.upstream),
            "frames": frames.len(),
        },
        "request": {"method": method, "url": format!("{}{req_path}", proxy.upstream)},
        "fidelity": {
            "request_body": "as sent by the gateway (key replaced)",
            "response_body": "raw bytes as received (key replaced)",
        },
    });
    std::fs::create_dir_all(stem.parent().unwrap_or(Path::new("."))).map_err(|e| e.to_string())?;
    write(&file("meta.json"), &pretty(&meta), &mut written)?;
    write(
        &file(suffix),
        &redact(&String::from_utf8_lossy(&raw)),
        &mut written,
    )?;

    // What the gateway sent.
    let req_text = redact(&String::from_utf8_lossy(&req_body));
    let upstream_body: Value =
        serde_json::from_str(&req_text).unwrap_or_else(|_| Value::from(req_text.clone()));
    write(
        &options.case_dir.join("upstream-request.json"),
        &pretty(&upstream_body),
        &mut written,
    )?;
    spec.upstream = Some(UpstreamSpec {
        calls: 1,
        request: RequestSpec {
            method,
            path: req_path,
            query: redact(&query),
            headers: req_headers
                .iter()
                .filter(|(n, _)| !TRANSPORT_HEADERS.contains(&n.as_str()))
                .map(|(n, v)| (n.clone(), redact(v)))
                .collect(),
            absent_headers: Vec::new(),
        },
        response: options.fixture.clone(),
    });

    // What the client got.
    let client_text = redact(&String::from_utf8_lossy(&client_body));
    let (name, text) = if client_status >= 400 {
        spec.client.status = Some(client_status);
        spec.client.retry_after = retry_after;
        ("client-error.json", pretty(&parse_or_string(&client_text)))
    } else if let Ok(Value::Array(chunks)) = sse_chunks(client_text.as_bytes()) {
        let lines: String = chunks.iter().map(|c| format!("{c}\n")).collect();
        ("client-stream.jsonl", lines)
    } else {
        (
            "client-response.json",
            pretty(&parse_or_string(&client_text)),
        )
    };
    for stale in [
        "client-error.json",
        "client-stream.jsonl",
        "client-response.json",
    ] {
        let _ = std::fs::remove_file(options.case_dir.join(stale));
    }
    write(&options.case_dir.join(name), &text, &mut written)?;
    let yaml = serde_yaml_ng::to_string(&spec).map_err(|e| e.to_string())?;
    write(&spec_path, &yaml, &mut written)?;
    Ok(written)
}

/// The recording proxy could not reach the provider.
fn bad_gateway(message: String) -> Response {
    let mut response = Response::new(Body::from(message));
    *response.status_mut() = http::StatusCode::BAD_GATEWAY;
    response
}

/// Forwards one request to the real provider and captures both directions, streaming the
/// answer through frame by frame so the recorded chunk boundaries are the provider's.
async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or_default().to_string();
    let headers = header_pairs(&parts.headers);
    let mut url = format!("{}{path}", proxy.upstream);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    let mut upstream = http::Request::new(body.clone());
    *upstream.method_mut() = parts.method.clone();
    match url.parse() {
        Ok(url) => *upstream.uri_mut() = url,
        Err(e) => return bad_gateway(format!("recording proxy: {url}: {e}")),
    }
    for (name, value) in &parts.headers {
        if !["host", "content-length", "connection"].contains(&name.as_str()) {
            upstream.headers_mut().append(name, value.clone());
        }
    }
    proxy
        .capture
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .request = Some(SentRequest {
        method: parts.method.to_string(),
        path,
        query,
        headers,
        body,
    });
    let reply = match proxy.client.send(upstream).await {
        Ok(reply) => reply,
        Err(e) => return bad_gateway(format!("recording proxy: {e}")),
    };
    let status = reply.status();
    let reply_headers = reply.headers().clone();
    let frames: Vec<Bytes> = switchboard::providers::http::body_bytes(reply)
        .filter_map(|frame| async move { frame.ok() })
        .collect()
        .await;
    proxy
        .capture
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .response = Some(ReceivedResponse {
        status: status.as_u16(),
        headers: header_pairs(&reply_headers),
        frames: frames.clone(),
    });
    let stream = futures::stream::iter(frames.into_iter().map(Ok::<_, std::convert::Infallible>));
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    for (name, value) in &reply_headers {
        if !["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

fn parse_or_string(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

fn write(path: &Path, text: &str, written: &mut Vec<PathBuf>) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    written.push(path.to_path_buf());
    Ok(())
}
