//! The HTTP door and the process, black-box: streaming timing, graceful
//! shutdown, body and connection limits, and secrecy. (The OpenAI SDK suite in
//! `tests/sdk/` covers the facade's features.)

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{
    Gateway, MASTER_KEY, Model, ReplayServer, Setup, UPSTREAM_KEY, fixtures_dir, keepalive_timers,
    took_the_timeout,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn gateway() -> Gateway {
    Gateway::start(&[
        Model::openai("stream-slow", "stream__gpt-4o-text-include-usage", "gpt-4o").paused(300),
        Model::openai("bad-key", "error-401__invalid-api-key", "gpt-4o"),
        Model::openai("overloaded", "error-503__overloaded", "gpt-4o"),
        // Upstreams that send their headers, half their body, then stall.
        Model::openai("stalled-answer", "chat__o3-mini-system-only", "o3-mini")
            .paused(10_000)
            .timeout(1),
        Model::openai("stalled-error", "error-503__overloaded", "gpt-4o")
            .paused(10_000)
            .timeout(1),
    ])
    .await
}

fn stream_body() -> serde_json::Value {
    serde_json::json!({
        "model": "stream-slow",
        "stream": true,
        "messages": [{"role": "user", "content": "What is the capital of Mexico?"}]
    })
}

/// SSE events leave the gateway as the upstream sends them: the first
/// arrives while the upstream is still pausing between the rest.
#[tokio::test]
async fn sse_is_not_buffered() {
    let gateway = gateway().await;
    let started = Instant::now();
    let response = gateway.post_chat(&stream_body()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["x-switchboard-deployment"],
        "stream-slow/0"
    );
    let mut body = response.bytes_stream();
    let mut first = None;
    let mut text = String::new();
    while let Some(bytes) = body.next().await {
        first.get_or_insert_with(|| started.elapsed());
        text.push_str(&String::from_utf8_lossy(&bytes.expect("bytes")));
    }
    let (first, total) = (first.expect("some bytes"), started.elapsed());
    let events = text.matches("data: ").count();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert!(
        first < Duration::from_millis(250),
        "first event after {first:?}"
    );
    // 11 recorded events with 300 ms between them.
    assert!(
        total >= Duration::from_millis(300 * 10),
        "{events} events in {total:?}"
    );
}

/// SIGTERM while a stream is in flight: readiness flips to 503, the stream
/// still completes, and the process exits 0.
#[tokio::test]
async fn sigterm_drains_in_flight_streams() {
    let mut gateway = gateway().await;
    let response = gateway.post_chat(&stream_body()).await;
    let reader = tokio::spawn(async move { response.text().await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    support::sigterm(gateway.pid());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = reader
        .await
        .expect("join")
        .expect("stream completes despite SIGTERM");
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "stream cut short: {text}"
    );
    let status = gateway.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(gateway.log().contains("draining"), "{}", gateway.log());
}

/// A body over `max_body_bytes` is a 413 in OpenAI's error shape.
#[tokio::test]
async fn oversize_body_is_413() {
    let gateway = gateway().await;
    let big = "x".repeat(70_000);
    let response = gateway
        .post_chat(&serde_json::json!({"model": "stream-slow", "messages": [{"role": "user", "content": big}]}))
        .await;
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.expect("json error");
    assert_eq!(body["error"]["code"], "request_too_large");
    assert!(gateway.replay.requests().is_empty());
}

/// Upstream errors keep their status; neither the upstream key (even the
/// masked form the provider echoes) nor the master key leaks to the caller
/// or the logs.
#[tokio::test]
async fn upstream_errors_keep_meaning_and_leak_no_secret() {
    let gateway = gateway().await;
    let unauthorized = gateway.post_chat(&hi("bad-key")).await;
    assert_eq!(unauthorized.status(), 401);
    let body = unauthorized.text().await.unwrap();
    assert!(body.contains("invalid_api_key"), "{body}");
    assert!(!body.contains("*****"), "masked key leaked: {body}");

    let overloaded = gateway.post_chat(&hi("overloaded")).await;
    assert_eq!(overloaded.status(), 503);
    assert_eq!(overloaded.headers()["retry-after"], "20");

    let log = gateway.log();
    for secret in [UPSTREAM_KEY, MASTER_KEY, "*****"] {
        assert!(!log.contains(secret), "`{secret}` in the gateway log");
    }
}

/// A provider that stops sending halfway through its body costs the caller
/// the deployment's `timeout`, not forever: an answer becomes a 504, an error
/// keeps its status (and `retry-after`) and says its body never came.
#[tokio::test]
async fn stalled_upstream_bodies_end_at_the_timeout() {
    let gateway = gateway().await;
    let started = Instant::now();
    let answer = gateway.post_chat(&hi("stalled-answer")).await;
    assert_eq!(answer.status(), 504);
    let body: serde_json::Value = answer.json().await.expect("json error");
    assert_eq!(body["error"]["type"], "timeout", "{body}");
    took_the_timeout(started);

    let started = Instant::now();
    let error = gateway.post_chat(&hi("stalled-error")).await;
    assert_eq!(error.status(), 503);
    assert_eq!(error.headers()["retry-after"], "20");
    let body: serde_json::Value = error.json().await.expect("json error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("answered HTTP 503") && message.contains("did not arrive within 1s"),
        "{body}"
    );
    took_the_timeout(started);
}

/// A one-line chat request for `model`.
fn hi(model: &str) -> serde_json::Value {
    serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// The OpenAI facade also speaks h2c (HTTP/2 without TLS) on the same port,
/// as the gRPC services do.
#[tokio::test]
async fn facade_speaks_h2c() {
    let gateway = gateway().await;
    let client = switchboard_conformance::http_client_builder()
        .http2_prior_knowledge()
        .build()
        .expect("h2c client");
    let response = client
        .get(format!("{}/v1/models", gateway.url()))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .expect("h2c request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let models: serde_json::Value = response.json().await.expect("json");
    assert_eq!(models["data"].as_array().map(Vec::len), Some(5));
}

/// The front door bounds what clients can hold: a request body that stops
/// arriving is a 408 after `request_body_timeout`; at most
/// `max_connections` clients are served at once, the next accepted when
/// one leaves; and client sockets are probed for dead peers (TCP
/// keepalive, 30 s by default).
#[tokio::test]
async fn front_door_limits() {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let setup = Setup {
        server: vec![
            ("max_connections", "2".to_owned()),
            ("request_body_timeout", "1".to_owned()),
        ],
        ..Setup::default()
    };
    let models = [Model::openai(
        "chat",
        "chat__o3-mini-system-only",
        "o3-mini",
    )];
    let gateway = Gateway::start_with(replay, &models, &setup).await;

    let mut trickle = TcpStream::connect(&gateway.addr).await.expect("connect");
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {MASTER_KEY}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"model\": "
    );
    trickle.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let answer = answer_of(&mut trickle, Duration::from_secs(5)).await;
    took_the_timeout(started);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(gateway.replay.requests().is_empty());

    let liveliness = b"GET /health/liveliness HTTP/1.1\r\nhost: gateway\r\n\r\n";
    let mut served = Vec::new();
    for _ in 0..2 {
        let mut client = TcpStream::connect(&gateway.addr).await.expect("connect");
        client.write_all(liveliness).await.expect("write");
        let mut head = [0; 12];
        client.read_exact(&mut head).await.expect("answer");
        assert_eq!(&head, b"HTTP/1.1 200");
        served.push(client);
    }
    let mut waiting = TcpStream::connect(&gateway.addr).await.expect("backlog");
    waiting.write_all(liveliness).await.expect("write");
    let early = answer_of(&mut waiting, Duration::from_millis(500)).await;
    assert!(early.is_empty(), "a third client was served: {early}");

    // Idle client sockets carry the keepalive timer (2), due within 30 s
    // (3000 ticks) instead of Linux's default two hours.
    let gateway_port = served[0].peer_addr().expect("gateway address").port();
    let client_port = served[0].local_addr().expect("client address").port();
    let timers = keepalive_timers(Some(gateway_port), client_port, 40).await;
    let [(timer, ticks)] = timers[..] else {
        panic!("one connection from the gateway expected: {timers:?}");
    };
    assert_eq!(timer, 2, "keepalive timer armed");
    assert!(ticks <= 3000, "keepalive in {ticks} ticks");

    drop(served.remove(0));
    let late = answer_of(&mut waiting, Duration::from_secs(5)).await;
    assert!(late.starts_with("HTTP/1.1 200 "), "{late}");
}

/// What arrives on `tcp` within `wait` (all of it, if the server closes).
async fn answer_of(tcp: &mut TcpStream, wait: Duration) -> String {
    let mut answer = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    let mut buf = [0; 4096];
    while let Ok(Ok(read @ 1..)) = tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
        answer.extend_from_slice(&buf[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}
