//! Runs cases through both front doors of a real gateway (in this process, on a real socket)
//! in front of the replay server, and reports every difference.
//!
//! The HTTP door gets the client request as-is. The gRPC door gets the equivalent proto
//! request, built by the facade's own parser (the HTTP door proves that parser against the
//! expected upstream request); its response is written back as OpenAI JSON by the facade's
//! writers and compared with the same expectation, so whatever one door keeps and the other
//! drops shows up as a difference.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use futures::StreamExt;
use serde_json::{Map, Value, json};
use switchboard::config::Config;
use switchboard::gateway::Gateway;
use switchboard::openai_wire::{embeddings, request, response, stream};
use switchboard::pb::chat_service_client::ChatServiceClient;
use switchboard::pb::embedding_service_client::EmbeddingServiceClient;
use tonic::metadata::MetadataValue;
use tonic_types::StatusExt;

use crate::case::{Case, Door, Endpoint, Expected};
use crate::matcher::{header_diff, json_diff, json_diff_f32};
use crate::matrix::Outcome;
use crate::replay::{CaseExpectation, Expectation, ReplayServer, header_pairs};

/// The gateway's master key in conformance runs.
pub const MASTER_KEY: &str = "sk-conformance-master";
/// The upstream API key a deployment gets unless its case sets one.
pub const UPSTREAM_KEY: &str = "sk-conformance-upstream";

/// Runs every case through each of its doors; one outcome per case, in order.
pub async fn run<'a>(
    cases: &'a [Case],
    fixtures: &std::path::Path,
) -> Result<Vec<Outcome<'a>>, String> {
    let expectations = cases
        .iter()
        .map(|case| CaseExpectation {
            call: case.spec.upstream.as_ref().map(|upstream| Expectation {
                request: upstream.request.clone(),
                body: case.upstream_body.clone().unwrap_or(Value::Null),
                response: upstream.response.clone(),
            }),
            token: case.spec.token.as_ref().map(|token| Expectation {
                request: token.request.clone(),
                body: token.form.clone(),
                response: token.response.clone(),
            }),
        })
        .collect();
    let replay = ReplayServer::start_with_cases(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        fixtures,
        expectations,
    )
    .await
    .map_err(|e| format!("replay server: {e}"))?;
    let gateway = start_gateway(&gateway_config(cases, &replay)?).await?;
    let doors = Doors::connect(gateway).await?;

    let mut outcomes = Vec::with_capacity(cases.len());
    for (n, case) in cases.iter().enumerate() {
        let mut failures = Vec::new();
        let mut token_calls = 0;
        for door in &case.spec.doors {
            let result = match door {
                Door::Http => doors.http(case).await,
                Door::Grpc => doors.grpc(case).await,
            };
            let name = door.name();
            let log = replay.take_case_log(n);
            token_calls += log.token_calls;
            let mut found = result.err().unwrap_or_default();
            found.extend(log.diffs);
            if log.calls != case.expected_calls() {
                found.push(format!(
                    "upstream calls: expected {}, got {}",
                    case.expected_calls(),
                    log.calls
                ));
            }
            failures.extend(found.into_iter().map(|f| format!("{name}: {f}")));
        }
        let expected_token_calls = case.spec.token.as_ref().map_or(0, |t| t.calls);
        if token_calls != expected_token_calls {
            failures.push(format!(
                "token requests: expected {expected_token_calls}, got {token_calls}"
            ));
        }
        outcomes.push(Outcome { case, failures });
    }
    Ok(outcomes)
}

/// The gateway config: one deployment per case, its model name the case id.
pub fn gateway_config(cases: &[Case], replay: &ReplayServer) -> Result<String, String> {
    let deployments: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(n, case)| {
            (
                case.id.as_str(),
                case.spec.deployment.clone(),
                replay.case_base(n),
            )
        })
        .collect();
    gateway_config_for(&deployments)
}

/// A gateway config serving `(model name, params, what {{replay}} stands for)` deployments.
pub fn gateway_config_for(
    deployments: &[(&str, Map<String, Value>, String)],
) -> Result<String, String> {
    let models: Vec<Value> = deployments
        .iter()
        .map(|(name, params, base)| {
            let mut params = params.clone();
            for value in params.values_mut() {
                substitute(value, base);
            }
            params
                .entry("api_key")
                .or_insert_with(|| Value::from(UPSTREAM_KEY));
            json!({"model_name": name, "params": params})
        })
        .collect();
    let config = json!({
        "general_settings": {"master_key": MASTER_KEY},
        "server": {"worker_threads": 1},
        "model_list": models,
    });
    serde_yaml_ng::to_string(&config).map_err(|e| e.to_string())
}

fn substitute(value: &mut Value, base: &str) {
    match value {
        Value::String(s) => *s = s.replace("{{replay}}", base),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, base)),
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, base)),
        _ => {}
    }
}

/// Starts the gateway on an ephemeral port of 127.0.0.1 in this process.
pub async fn start_gateway(yaml: &str) -> Result<SocketAddr, String> {
    let config = Config::from_yaml(yaml, |name| std::env::var(name).ok())
        .map_err(|e| format!("gateway config: {e}"))?;
    let gateway = Arc::new(Gateway::new(&config));
    let app = switchboard::front::app(gateway).await;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        switchboard::front::serve(listener, &config, app, std::future::pending()).await
    });
    Ok(addr)
}

type DoorResult = Result<(), Vec<String>>;

/// Clients for both doors of one gateway.
struct Doors {
    base: String,
    http: reqwest::Client,
    chat: ChatServiceClient<tonic::transport::Channel>,
    embedding: EmbeddingServiceClient<tonic::transport::Channel>,
}

impl Doors {
    async fn connect(addr: SocketAddr) -> Result<Doors, String> {
        let base = format!("http://{addr}");
        let channel = tonic::transport::Endpoint::from_shared(base.clone())
            .map_err(|e| e.to_string())?
            .connect()
            .await
            .map_err(|e| format!("gRPC connect: {e}"))?;
        Ok(Doors {
            http: crate::http_client_builder()
                .build()
                .map_err(|e| format!("HTTP client: {e}"))?,
            chat: ChatServiceClient::new(channel.clone()),
            embedding: EmbeddingServiceClient::new(channel),
            base,
        })
    }

    /// The client request with `model` set to the case's deployment.
    fn client_body(case: &Case) -> Map<String, Value> {
        let mut body = case.client_request.clone();
        body.insert("model".into(), Value::from(case.id.clone()));
        body
    }

    async fn http(&self, case: &Case) -> DoorResult {
        let path = match case.endpoint() {
            Endpoint::Chat => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
        };
        let reply = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(MASTER_KEY)
            .json(&Self::client_body(case))
            .send()
            .await
            .map_err(|e| vec![format!("request failed: {e}")])?;
        let status = reply.status().as_u16();
        let headers = header_pairs(reply.headers());
        let body = reply
            .bytes()
            .await
            .map_err(|e| vec![format!("reading the body: {e}")])?;
        let mut diffs = Vec::new();
        if status != case.expected_status() {
            diffs.push(format!(
                "status: expected {}, got {status}: {}",
                case.expected_status(),
                String::from_utf8_lossy(&body)
            ));
            return Err(diffs);
        }
        // retry-after is checked both ways: told when the case says so, never invented.
        let (want_headers, absent) = match case.spec.client.retry_after {
            Some(seconds) => (
                vec![("retry-after".to_string(), seconds.to_string())],
                vec![],
            ),
            None => (vec![], vec!["retry-after".to_string()]),
        };
        diffs.extend(header_diff("headers", &want_headers, &absent, &headers));
        match &case.expected {
            Expected::Stream(want) => match sse_chunks(&body) {
                Ok(got) => diffs.extend(json_diff("chunks", &Value::from(want.clone()), &got)),
                Err(e) => diffs.push(e),
            },
            Expected::Response(want) | Expected::Error(want) => {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(got) => diffs.extend(body_diff(case, "body", want, &got)),
                    Err(e) => diffs.push(format!(
                        "body is not JSON ({e}): {}",
                        String::from_utf8_lossy(&body)
                    )),
                }
            }
        }
        if diffs.is_empty() { Ok(()) } else { Err(diffs) }
    }

    async fn grpc(&self, case: &Case) -> DoorResult {
        let got = match case.endpoint() {
            Endpoint::Chat => self.grpc_chat(case).await,
            Endpoint::Embeddings => self.grpc_embed(case).await.map(|reply| (reply, None)),
        };
        let diffs = match (&case.expected, got) {
            (Expected::Response(want), Ok((got, None))) => body_diff(case, "response", want, &got),
            (Expected::Stream(want), Ok((got, ended))) => {
                // A stream that fails mid-way ends with a status, which the HTTP door writes
                // as an error event: the last expected line.
                let (want, error) = match want.split_last() {
                    Some((last, chunks)) if last.get("error").is_some() => (chunks, Some(last)),
                    _ => (&want[..], None),
                };
                let mut diffs = json_diff("chunks", &Value::from(want.to_vec()), &got);
                match (error, ended) {
                    (Some(error), Some(status)) => {
                        diffs.extend(grpc_error_diff(case, error, &status))
                    }
                    (Some(_), None) => {
                        diffs.push("expected the stream to end with an error".into())
                    }
                    (None, Some(status)) => diffs.push(format!(
                        "the stream ended with status {:?}: {}",
                        status.code(),
                        status.message()
                    )),
                    (None, None) => {}
                }
                diffs
            }
            (Expected::Error(want), Err(status)) => grpc_error_diff(case, want, &status),
            (_, Ok((got, _))) => vec![format!("expected another reply, got {got}")],
            (_, Err(status)) => vec![format!(
                "unexpected status {:?}: {}",
                status.code(),
                status.message()
            )],
        };
        if diffs.is_empty() { Ok(()) } else { Err(diffs) }
    }

    /// The reply, and the status that ended a stream after its first chunk.
    async fn grpc_chat(
        &self,
        case: &Case,
    ) -> Result<(Value, Option<tonic::Status>), tonic::Status> {
        let parsed = request::from_json(Self::client_body(case)).map_err(|e| {
            tonic::Status::internal(format!("client request has no proto form: {e}"))
        })?;
        let mut client = self.chat.clone();
        if parsed.stream {
            let mut chunks = client
                .stream_complete(authorized(parsed.request))
                .await?
                .into_inner();
            let mut got = Vec::new();
            while let Some(chunk) = chunks.next().await {
                match chunk {
                    Ok(chunk) => got
                        .push(serde_json::to_value(stream::ChunkJson(&chunk)).unwrap_or_default()),
                    Err(status) if got.is_empty() => return Err(status),
                    Err(status) => return Ok((Value::from(got), Some(status))),
                }
            }
            Ok((Value::from(got), None))
        } else {
            let reply = client
                .complete(authorized(parsed.request))
                .await?
                .into_inner();
            let reply = serde_json::to_value(response::ResponseJson(&reply)).unwrap_or_default();
            Ok((reply, None))
        }
    }

    async fn grpc_embed(&self, case: &Case) -> Result<Value, tonic::Status> {
        let (request, format) =
            embeddings::request_from_json(Self::client_body(case)).map_err(|e| {
                tonic::Status::internal(format!("client request has no proto form: {e}"))
            })?;
        let reply = self
            .embedding
            .clone()
            .embed(authorized(request))
            .await?
            .into_inner();
        let json = embeddings::response_to_json(&reply, format);
        Ok(serde_json::from_slice(&json).unwrap_or_default())
    }
}

/// Embedding vectors travel as protobuf `float`: the gateway prints each one's shortest f32
/// form, so digits beyond f32 precision in the provider's text may differ. Everything else
/// compares exactly.
fn body_diff(case: &Case, root: &str, want: &Value, got: &Value) -> Vec<String> {
    match case.endpoint() {
        Endpoint::Embeddings => json_diff_f32(root, want, got),
        Endpoint::Chat => json_diff(root, want, got),
    }
}

fn authorized<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {MASTER_KEY}")) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// An error on the gRPC door: the code the case names, the same message as the HTTP error
/// body, and the same retry delay.
fn grpc_error_diff(case: &Case, want: &Value, status: &tonic::Status) -> Vec<String> {
    let mut diffs = Vec::new();
    let code = format!("{:?}", status.code());
    match &case.spec.client.grpc_code {
        Some(want_code) if !want_code.replace('_', "").eq_ignore_ascii_case(&code) => {
            diffs.push(format!(
                "code: expected {want_code}, got {code}: {}",
                status.message()
            ))
        }
        None => diffs.push(format!("case.yaml names no client.grpc_code (got {code})")),
        _ => {}
    }
    if let Some(Value::String(message)) = want.pointer("/error/message") {
        diffs.extend(json_diff(
            "message",
            &Value::from(message.as_str()),
            &Value::from(status.message()),
        ));
    }
    let retry = status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        // Whole seconds rounded up, as the HTTP door's retry-after is (Gemini says "34.4s").
        .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
    if retry != case.spec.client.retry_after {
        diffs.push(format!(
            "RetryInfo: expected {:?} s, got {retry:?} s",
            case.spec.client.retry_after
        ));
    }
    diffs
}

/// The chunks of an OpenAI SSE body, which must end with `data: [DONE]`, or with an error
/// event (a provider failing mid-stream), listed as the last chunk.
pub fn sse_chunks(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("stream is not UTF-8: {e}"))?;
    let mut chunks: Vec<Value> = Vec::new();
    let mut done = false;
    for event in text.split("\n\n").filter(|e| !e.trim().is_empty()) {
        if done || chunks.last().is_some_and(|c| c.get("error").is_some()) {
            return Err(format!("event after the stream's end: {event:?}"));
        }
        let data = event
            .strip_prefix("data: ")
            .ok_or_else(|| format!("not a data event: {event:?}"))?;
        if data == "[DONE]" {
            done = true;
            continue;
        }
        chunks.push(
            serde_json::from_str::<Value>(data)
                .map_err(|e| format!("chunk is not JSON ({e}): {data}"))?,
        );
    }
    let failed = chunks.last().is_some_and(|c| c.get("error").is_some());
    if !done && !failed {
        return Err("stream did not end with data: [DONE]".into());
    }
    Ok(Value::from(chunks))
}
