//! Black-box tests of the replay server over real TCP.
//!
//! The client is a hand-rolled HTTP/1.1 reader so the tests see the wire as it is: every
//! response header (including framing ones), each chunk of a chunked body, and when it arrived.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_conformance::{RecordedRequest, ReplayServer, fixtures_dir};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct WireResponse {
    status: u16,
    /// Names lower-cased, in wire order.
    headers: Vec<(String, String)>,
    /// Body chunks with the time each was fully read, measured from when the request was sent.
    /// A body sent with content-length is one chunk.
    chunks: Vec<(Duration, Vec<u8>)>,
}

impl WireResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn body(&self) -> Vec<u8> {
        self.chunks.iter().flat_map(|(_, c)| c.clone()).collect()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).expect("JSON body")
    }
}

/// Sends one request on a fresh keep-alive connection (no `connection: close`, so the server
/// has no reason to add a `connection` header of its own) and reads one response.
async fn send(
    server: &ReplayServer,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> WireResponse {
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
        server.addr(),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let sent = Instant::now();

    let mut reader = BufReader::new(stream);
    let status_line = read_line(&mut reader).await;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader).await;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header line");
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut response = WireResponse {
        status,
        headers,
        chunks: Vec::new(),
    };

    if status == 204 || status == 304 {
        // No body by definition.
    } else if response.header("transfer-encoding") == Some("chunked") {
        loop {
            let size_line = read_line(&mut reader).await;
            let size_hex = size_line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_hex, 16).expect("chunk size");
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                while !read_line(&mut reader).await.is_empty() {}
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk).await.unwrap();
            response.chunks.push((sent.elapsed(), chunk));
            assert_eq!(
                read_line(&mut reader).await,
                "",
                "chunk not followed by CRLF"
            );
        }
    } else {
        let length: usize = response
            .header("content-length")
            .expect("content-length or chunked")
            .parse()
            .unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        response.chunks.push((sent.elapsed(), body));
    }
    response
}

async fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).await.unwrap();
    line.trim_end_matches(['\r', '\n']).to_owned()
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(&fixtures_dir()).join(name)).unwrap()
}

const FRAMING_HEADERS: [&str; 4] = [
    "transfer-encoding",
    "connection",
    "content-encoding",
    "keep-alive",
];

async fn start() -> ReplayServer {
    ReplayServer::start(fixtures_dir()).await.unwrap()
}

#[tokio::test]
async fn json_fixture_replays_recorded_status_body_and_headers() {
    let server = start().await;
    let response = send(
        &server,
        "POST",
        "/openai/tools__single-tool-call/v1/chat/completions",
        &[("content-type", "application/json")],
        br#"{"model":"gpt-4o"}"#,
    )
    .await;

    assert_eq!(response.status, 200);
    let expected = fixture_bytes("openai/tools__single-tool-call.response.json");
    assert_eq!(response.body(), expected, "body bytes as stored");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("openai-processing-ms"), Some("490"));
    assert_eq!(response.header("openai-version"), Some("2020-10-01"));
    // The recorded connection/transfer-encoding/content-length are not replayed; the only
    // framing header is hyper's own content-length, which matches what we sent.
    for name in FRAMING_HEADERS {
        assert_eq!(response.header(name), None, "{name} replayed");
    }
    let length = expected.len().to_string();
    assert_eq!(response.header("content-length"), Some(length.as_str()));
    let names: Vec<_> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names.len(), unique.len(), "a header sent twice: {names:?}");
}

#[tokio::test]
async fn error_fixtures_keep_their_status() {
    let server = start().await;
    let response = send(
        &server,
        "POST",
        "/openai/error-401__invalid-api-key/v1/chat/completions",
        &[],
        b"{}",
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(
        response.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        response.header("x-request-id"),
        Some("req_1963efc19b3b4865af98403581d580af")
    );
    assert_eq!(response.json()["error"]["code"], "invalid_api_key");

    let response = send(
        &server,
        "POST",
        "/openai/error-429__rate-limit-exceeded/v1/chat/completions",
        &[],
        b"{}",
    )
    .await;
    assert_eq!(response.status, 429);
    assert_eq!(response.header("retry-after"), Some("20"));
    assert_eq!(response.json()["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn sse_fixture_streams_one_chunk_per_event_with_pauses() {
    let server = start().await;
    let pause_ms = 200;
    let pause = pause_ms.to_string();
    let response = send(
        &server,
        "POST",
        "/openai/stream__gpt-4o-text-include-usage/v1/chat/completions",
        &[("x-replay-pause-ms", &pause)],
        b"{}",
    )
    .await;

    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(response.header("connection"), None);
    let raw = fixture_bytes("openai/stream__gpt-4o-text-include-usage.response.sse");
    assert_eq!(
        response.body(),
        raw,
        "chunks concatenate to the recorded bytes"
    );
    let events = raw.windows(2).filter(|w| w == b"\n\n").count();
    assert!(events > 2, "fixture too short to prove streaming");
    assert_eq!(response.chunks.len(), events, "one chunk per event");
    for (_, chunk) in &response.chunks {
        assert!(chunk.ends_with(b"\n\n"), "chunk is not one whole event");
        assert_eq!(chunk.windows(2).filter(|w| w == b"\n\n").count(), 1);
    }
    assert_eq!(response.chunks.last().unwrap().1, b"data: [DONE]\n\n");

    let first = response.chunks.first().unwrap().0;
    let last = response.chunks.last().unwrap().0;
    assert!(
        first < Duration::from_millis(150),
        "first event took {first:?}"
    );
    let minimum = Duration::from_millis(pause_ms * (events as u64 - 1));
    assert!(
        last >= minimum,
        "last event at {last:?}, expected >= {minimum:?}"
    );
}

#[tokio::test]
async fn sse_fixture_without_pause_header_is_not_slowed() {
    let server = start().await;
    let response = send(
        &server,
        "POST",
        "/openai/tools-stream__gpt-4o-mini-multiply-arg-deltas/v1/chat/completions",
        &[],
        b"{}",
    )
    .await;
    let raw = fixture_bytes("openai/tools-stream__gpt-4o-mini-multiply-arg-deltas.response.sse");
    assert_eq!(response.body(), raw);
    assert!(response.chunks.last().unwrap().0 < Duration::from_secs(2));
}

#[tokio::test]
async fn chunks_jsonl_fixture_is_framed_as_openai_sse() {
    let server = start().await;
    let response = send(
        &server,
        "POST",
        "/groq/tools-stream__llama-3.3-tool-call-chunks/openai/v1/chat/completions",
        &[],
        b"{}",
    )
    .await;

    assert_eq!(response.status, 200);
    // The fixture recorded no headers; a stream still needs its media type.
    assert_eq!(response.header("content-type"), Some("text/event-stream"));
    let lines =
        fixture_bytes("groq/tools-stream__llama-3.3-tool-call-chunks.response.chunks.jsonl");
    let lines = String::from_utf8(lines).unwrap();
    let mut expected: Vec<Vec<u8>> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("data: {l}\n\n").into_bytes())
        .collect();
    expected.push(b"data: [DONE]\n\n".to_vec());
    let chunks: Vec<Vec<u8>> = response.chunks.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(chunks, expected);
}

#[tokio::test]
async fn requests_are_recorded_with_duplicate_headers_query_and_body() {
    let server = start().await;
    send(
        &server,
        "POST",
        "/openai/tools__single-tool-call/v1/chat/completions?api-version=1&x=y",
        &[
            ("x-dup", "first"),
            ("authorization", "Bearer sk-test"),
            ("x-dup", "second"),
        ],
        br#"{"model":"gpt-4o","messages":[]}"#,
    )
    .await;
    send(
        &server,
        "POST",
        "/openai/xyz/v1/embeddings",
        &[],
        b"not json",
    )
    .await;

    let recorded = server.requests();
    assert_eq!(recorded.len(), 2, "{recorded:#?}");
    let first = &recorded[0];
    assert_eq!(first.method, "POST");
    assert_eq!(
        first.path,
        "/openai/tools__single-tool-call/v1/chat/completions"
    );
    assert_eq!(first.query, "api-version=1&x=y");
    assert_eq!(first.body, json!({"model": "gpt-4o", "messages": []}));
    let dups: Vec<&str> = first
        .headers
        .iter()
        .filter(|(n, _)| n == "x-dup")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(dups, ["first", "second"]);
    assert!(
        first
            .headers
            .contains(&("authorization".into(), "Bearer sk-test".into()))
    );
    // Fixture misses are recorded too, and a non-JSON body is kept as text.
    assert_eq!(recorded[1].path, "/openai/xyz/v1/embeddings");
    assert_eq!(recorded[1].body, json!("not json"));
}

#[tokio::test]
async fn unknown_fixture_is_501_with_replay_error() {
    let server = start().await;
    let response = send(
        &server,
        "POST",
        "/openai/xyz/v1/chat/completions",
        &[],
        b"{}",
    )
    .await;
    assert_eq!(response.status, 501);
    let message = response.json()["replay_error"]
        .as_str()
        .expect("replay_error string")
        .to_owned();
    assert!(
        message.starts_with("no fixture openai/xyz in "),
        "{message}"
    );
    assert!(
        message.contains(&fixtures_dir().display().to_string()),
        "{message}"
    );

    let response = send(&server, "GET", "/openai", &[], b"").await;
    assert_eq!(response.status, 501);
    let response = send(&server, "GET", "/openai/../openai/v1", &[], b"").await;
    assert_eq!(response.status, 501);
}

#[tokio::test]
async fn control_routes_list_and_clear_without_being_recorded() {
    let server = start().await;
    send(
        &server,
        "POST",
        "/openai/tools__single-tool-call/v1/chat/completions",
        &[("x-dup", "a"), ("x-dup", "b")],
        br#"{"n":1}"#,
    )
    .await;

    let listed = send(&server, "GET", "/_replay/requests", &[], b"").await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let entries = listed.as_array().expect("array");
    assert_eq!(entries.len(), 1, "control route recorded: {listed}");
    let entry = &entries[0];
    assert_eq!(entry["method"], "POST");
    assert_eq!(
        entry["path"],
        "/openai/tools__single-tool-call/v1/chat/completions"
    );
    assert_eq!(entry["query"], "");
    assert_eq!(entry["body"], json!({"n": 1}));
    let headers = entry["headers"].as_array().unwrap();
    let dup: Vec<&Value> = headers.iter().filter(|h| h[0] == "x-dup").collect();
    assert_eq!(dup, [&json!(["x-dup", "a"]), &json!(["x-dup", "b"])]);
    let parsed: Vec<RecordedRequest> = serde_json::from_value(listed.clone()).unwrap();
    assert_eq!(parsed, server.requests());

    let cleared = send(&server, "DELETE", "/_replay/requests", &[], b"").await;
    assert_eq!(cleared.status, 204);
    assert!(server.requests().is_empty());
    let listed = send(&server, "GET", "/_replay/requests", &[], b"").await;
    assert_eq!(listed.json(), json!([]));

    send(&server, "GET", "/openai/xyz/v1/models", &[], b"").await;
    assert_eq!(server.requests().len(), 1);
    server.clear();
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn base_url_points_at_the_fixture() {
    let server = start().await;
    let port = server.addr().port();
    assert_eq!(
        server.base_url("openai", "tools__single-tool-call"),
        format!("http://127.0.0.1:{port}/openai/tools__single-tool-call/v1")
    );
    assert!(ReplayServer::start("/nonexistent/fixtures").await.is_err());
}

#[tokio::test]
async fn every_fixture_replays_its_recorded_status() {
    let server = start().await;
    let mut checked = 0;
    for provider in std::fs::read_dir(fixtures_dir()).unwrap() {
        let provider = provider.unwrap().path();
        if !provider.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&provider).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_str().unwrap();
            let Some(fixture) = name.strip_suffix(".meta.json") else {
                continue;
            };
            let meta: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            let provider = provider.file_name().unwrap().to_str().unwrap();
            let target = format!("/{provider}/{fixture}/v1/chat/completions");
            let response = send(&server, "POST", &target, &[], b"{}").await;
            assert_eq!(
                u64::from(response.status),
                meta["status"].as_u64().unwrap_or(200),
                "{target}: {}",
                String::from_utf8_lossy(&response.body())
            );
            checked += 1;
        }
    }
    assert!(checked >= 39, "only {checked} fixtures found");
}

/// The CLI prints one `listening on` line for harnesses to parse and exits 0 on SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn binary_announces_its_address_and_stops_on_sigterm() {
    use std::process::Stdio;
    use tokio::process::Command;

    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard-replay"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut line))
        .await
        .expect("no listening line")
        .unwrap();
    let url = line
        .strip_prefix("listening on http://")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    let addr: std::net::SocketAddr = url.parse().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /_replay/requests HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("did not exit on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "", "more than one line on stdout");
}
