//! The gRPC door, black-box: a tonic client against the real binary, with the
//! upstream played from recorded OpenAI traffic.

mod support;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{
    Gateway, MASTER_KEY, Model, ReplayServer, Setup, UPSTREAM_KEY, fixture_json, fixtures_dir,
    sse_payloads, took_the_timeout,
};
use switchboard::openai_wire::json_struct::struct_from_map;
use switchboard::pb::chat_service_client::ChatServiceClient;
use switchboard::pb::embedding_service_client::EmbeddingServiceClient;
use switchboard::pb::{
    ChatRequest, EmbedRequest, FinishReason, ListModelsRequest, Message, Role, StreamOptions, Tool,
    ToolChoice, ToolChoiceMode, message, tool_choice,
};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

async fn gateway() -> Gateway {
    Gateway::start(&[
        Model::openai("tools", "tools__single-tool-call", "gpt-4.1-mini"),
        Model::openai("stream", "stream__gpt-4o-text-include-usage", "gpt-4o"),
        Model::openai("stream-slow", "stream__gpt-4o-text-include-usage", "gpt-4o").paused(300),
        Model::openai("limited", "error-429__rate-limit-exceeded", "gpt-4o"),
        Model::openai("embed", "embeddings__query-float", "text-embedding-3-small"),
    ])
    .await
}

async fn channel(gateway: &Gateway) -> Channel {
    Channel::from_shared(gateway.url())
        .unwrap()
        .connect()
        .await
        .expect("connect")
}

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {MASTER_KEY}").parse().unwrap(),
    );
    request
}

fn text(role: Role, content: &str) -> Message {
    Message {
        role: role as i32,
        content: Some(message::Content::Text(content.into())),
        ..Message::default()
    }
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("object expected"),
    }
}

/// The fixture's OpenAI request, built as a proto, reaches the upstream as the
/// identical JSON, and the recorded tool call comes back typed.
#[tokio::test]
async fn unary_complete_with_tools() {
    let gateway = gateway().await;
    let mut client = ChatServiceClient::new(channel(&gateway).await);
    let request = ChatRequest {
        model: "tools".into(),
        messages: vec![
            text(Role::System, "You are a helpful assistant."),
            text(Role::User, "What is the temperature in Tokyo?"),
        ],
        tools: vec![Tool {
            name: "get_temperature".into(),
            description: Some(String::new()),
            parameters: Some(struct_from_map(object(json!({
                "additionalProperties": false,
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "type": "object"
            })))),
            strict: Some(true),
            extensions: None,
        }],
        tool_choice: Some(ToolChoice {
            choice: Some(tool_choice::Choice::Mode(ToolChoiceMode::Auto as i32)),
        }),
        n: Some(1),
        ..ChatRequest::default()
    };
    let response = client
        .complete(authed(request))
        .await
        .expect("complete")
        .into_inner();

    let choice = &response.choices[0];
    assert_eq!(choice.finish_reason(), FinishReason::ToolCalls);
    let call = &choice.message.as_ref().unwrap().tool_calls[0];
    assert_eq!(
        (call.name.as_str(), call.arguments.as_str()),
        ("get_temperature", "{\"city\":\"Tokyo\"}")
    );
    assert_eq!(call.id, "call_bhZkmIKKItNGJ41whHUHB7p9");
    let usage = response.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (50, 15, 65)
    );
    assert_eq!(usage.cached_prompt_tokens, Some(0));
    assert_eq!(response.model, "gpt-4.1-mini-2025-04-14");
    let served_by = response.served_by.unwrap();
    assert_eq!(
        (served_by.model_group.as_str(), served_by.provider.as_str()),
        ("tools", "openai")
    );

    let sent = gateway.replay.requests();
    let mut expected = fixture_json("openai", "tools__single-tool-call.request.json");
    expected.as_object_mut().unwrap().remove("stream");
    assert_eq!(sent[0].body, expected);
    let auth: Vec<_> = sent[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .collect();
    assert_eq!(
        auth,
        [&("authorization".to_owned(), format!("Bearer {UPSTREAM_KEY}"))]
    );
}

/// StreamComplete yields the recorded deltas in order, the usage chunk last,
/// and names the deployment on the first chunk.
#[tokio::test]
async fn streaming_complete() {
    let gateway = gateway().await;
    let mut client = ChatServiceClient::new(channel(&gateway).await);
    let request = ChatRequest {
        model: "stream".into(),
        messages: vec![text(Role::User, "What is the capital of Mexico?")],
        stream_options: Some(StreamOptions {
            include_usage: true,
        }),
        ..ChatRequest::default()
    };
    let mut stream = client
        .stream_complete(authed(request))
        .await
        .expect("stream")
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        chunks.push(chunk);
    }
    let recorded = sse_payloads("openai", "stream__gpt-4o-text-include-usage.response.sse");
    assert_eq!(chunks.len(), recorded.len());
    let text: String = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.as_ref()?.content.clone())
        .collect();
    let expected: String = recorded
        .iter()
        .filter_map(|c| {
            c["choices"].get(0)?["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, expected);
    assert!(chunks[0].served_by.is_some());
    assert!(chunks[1..].iter().all(|c| c.served_by.is_none()));
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert_eq!(
        last.usage.as_ref().map(|u| u.total_tokens),
        recorded.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .map(|n| n as u32)
    );
    let finish = chunks.iter().rev().find_map(|c| c.choices.first()).unwrap();
    assert_eq!(finish.finish_reason(), FinishReason::Stop);
}

/// The first chunk reaches the gRPC client while the upstream is still
/// pausing between events: nothing is buffered.
#[tokio::test]
async fn streaming_is_not_buffered() {
    let gateway = gateway().await;
    let mut client = ChatServiceClient::new(channel(&gateway).await);
    let request = ChatRequest {
        model: "stream-slow".into(),
        messages: vec![text(Role::User, "What is the capital of Mexico?")],
        ..ChatRequest::default()
    };
    let started = Instant::now();
    let mut stream = client
        .stream_complete(authed(request))
        .await
        .expect("stream")
        .into_inner();
    stream.message().await.expect("first").expect("a chunk");
    let first = started.elapsed();
    let mut count = 1;
    while stream.message().await.expect("chunk").is_some() {
        count += 1;
    }
    let total = started.elapsed();
    assert!(
        first < Duration::from_millis(250),
        "first chunk after {first:?}"
    );
    assert!(
        total >= Duration::from_millis(300 * (count - 1)),
        "{count} chunks in {total:?}"
    );
}

/// An upstream 429 is RESOURCE_EXHAUSTED with RetryInfo from `retry-after`
/// and an ErrorInfo naming the cause.
#[tokio::test]
async fn upstream_rate_limit_carries_retry_info() {
    let gateway = gateway().await;
    let mut client = ChatServiceClient::new(channel(&gateway).await);
    let request = ChatRequest {
        model: "limited".into(),
        messages: vec![text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let status = client
        .complete(authed(request))
        .await
        .expect_err("rate limited");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().starts_with("Rate limit reached"),
        "{}",
        status.message()
    );
    let details = status.get_error_details();
    assert_eq!(
        details.retry_info().and_then(|r| r.retry_delay),
        Some(Duration::from_secs(20))
    );
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "UPSTREAM_RATE_LIMITED");
    assert_eq!(info.domain, "switchboard.v1");
    assert_eq!(
        info.metadata.get("provider").map(String::as_str),
        Some("openai")
    );
    assert_eq!(
        info.metadata.get("code").map(String::as_str),
        Some("rate_limit_exceeded")
    );
}

/// Caller mistakes get the matching code and details, and no upstream call.
#[tokio::test]
async fn caller_errors_have_codes_and_details() {
    let gateway = gateway().await;
    let mut client = ChatServiceClient::new(channel(&gateway).await);
    let hi = || vec![text(Role::User, "hi")];

    let unknown = ChatRequest {
        model: "gpt-17".into(),
        messages: hi(),
        ..ChatRequest::default()
    };
    let status = client
        .complete(authed(unknown))
        .await
        .expect_err("unknown model");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "MODEL_NOT_FOUND"
    );

    let empty = ChatRequest {
        model: "tools".into(),
        ..ChatRequest::default()
    };
    let status = client
        .complete(authed(empty))
        .await
        .expect_err("no messages");
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status
        .get_error_details()
        .bad_request()
        .expect("BadRequest")
        .field_violations
        .clone();
    assert_eq!(violations[0].field, "messages");

    let anonymous = ChatRequest {
        model: "tools".into(),
        messages: hi(),
        ..ChatRequest::default()
    };
    let status = client
        .complete(tonic::Request::new(anonymous))
        .await
        .expect_err("no key");
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(ChatRequest {
        model: "tools".into(),
        messages: hi(),
        ..ChatRequest::default()
    });
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer sk-wrong".parse().unwrap());
    assert_eq!(
        client.complete(wrong).await.expect_err("wrong key").code(),
        Code::Unauthenticated
    );

    assert!(
        gateway.replay.requests().is_empty(),
        "no request should reach the upstream"
    );
}

/// Embed returns the recorded vector as floats; ListModels lists the config.
#[tokio::test]
async fn embed_and_list_models() {
    let gateway = gateway().await;
    let channel = channel(&gateway).await;
    let mut embeddings = EmbeddingServiceClient::new(channel.clone());
    // Over OpenAI's 2048 texts: refused before any upstream call.
    let too_many = EmbedRequest {
        model: "embed".into(),
        input: vec!["Hello".into(); 2049],
        ..EmbedRequest::default()
    };
    let status = embeddings
        .embed(authed(too_many))
        .await
        .expect_err("too many texts");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("at most 2048"), "{status:?}");
    assert!(gateway.replay.requests().is_empty());

    let request = EmbedRequest {
        model: "embed".into(),
        input: vec!["Hello, world!".into()],
        ..EmbedRequest::default()
    };
    let response = embeddings
        .embed(authed(request))
        .await
        .expect("embed")
        .into_inner();
    let recorded = fixture_json("openai", "embeddings__query-float.response.json");
    // The recording is base64 little-endian f32s (what the OpenAI SDK asks for).
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(recorded["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let expected: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(expected.len(), 1536);
    assert_eq!(response.embeddings[0].values, expected);
    assert_eq!(
        response.usage.unwrap().prompt_tokens as u64,
        recorded["usage"]["prompt_tokens"].as_u64().unwrap()
    );

    let mut chat = ChatServiceClient::new(channel);
    let models = chat
        .list_models(authed(ListModelsRequest {}))
        .await
        .expect("list")
        .into_inner();
    let names: Vec<_> = models.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        names,
        ["tools", "stream", "stream-slow", "limited", "embed"]
    );
}

/// Reflection (v1 and v1alpha) lists every service, so grpcurl needs no protos.
#[tokio::test]
async fn reflection_lists_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let gateway = gateway().await;
    let mut client = ServerReflectionClient::new(channel(&gateway).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses
        .message()
        .await
        .expect("response")
        .and_then(|r| r.message_response)
    else {
        panic!("list services response expected");
    };
    let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "switchboard.v1.ChatService",
            "switchboard.v1.EmbeddingService",
        ]
    );

    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    let mut alpha = AlphaClient::new(channel(&gateway).await);
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut responses = alpha
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("v1alpha")
        .into_inner();
    let Some(tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        responses.message().await.expect("v1alpha response").and_then(|r| r.message_response)
    else {
        panic!("v1alpha list services response expected");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "switchboard.v1.ChatService"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "grpc.reflection.v1alpha.ServerReflection"),
        "{names:?}"
    );
}

/// grpc.health.v1 reports both services SERVING.
#[tokio::test]
async fn health_service_reports_serving() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let gateway = gateway().await;
    let mut client = HealthClient::new(channel(&gateway).await);
    for service in [
        "switchboard.v1.ChatService",
        "switchboard.v1.EmbeddingService",
    ] {
        let response = client
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner();
        assert_eq!(
            response.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
}

/// gRPC-Web over plain HTTP/1.1 reaches the same service on the same port.
#[tokio::test]
async fn grpc_web_over_http1() {
    use prost::Message as _;
    let gateway = gateway().await;
    // An empty ListModelsRequest: one uncompressed frame of length 0.
    let frame = vec![0u8, 0, 0, 0, 0];
    let response = support::http_client()
        .post(format!(
            "{}/switchboard.v1.ChatService/ListModels",
            gateway.url()
        ))
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header("authorization", format!("Bearer {MASTER_KEY}"))
        .body(frame)
        .send()
        .await
        .expect("grpc-web call");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/grpc-web+proto"
    );
    let body = response.bytes().await.unwrap();
    assert_eq!(body[0], 0, "first frame is data");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let models = switchboard::pb::ListModelsResponse::decode(&body[5..5 + len]).expect("decode");
    assert_eq!(models.models.len(), 5);
    let trailers = String::from_utf8_lossy(&body[5 + len + 5..]);
    assert_eq!(body[5 + len], 0x80, "second frame is trailers");
    assert!(trailers.contains("grpc-status:0"), "{trailers}");
}

/// An unknown gRPC method is UNIMPLEMENTED, not a 200 with an empty body.
#[tokio::test]
async fn unknown_grpc_method_is_unimplemented() {
    let gateway = gateway().await;
    let mut client = tonic::client::Grpc::new(channel(&gateway).await);
    client.ready().await.unwrap();
    let codec =
        tonic_prost::ProstCodec::<ListModelsRequest, switchboard::pb::ListModelsResponse>::default(
        );
    let path = http::uri::PathAndQuery::from_static("/switchboard.v1.ChatService/Nope");
    let status = client
        .unary(tonic::Request::new(ListModelsRequest {}), path, codec)
        .await
        .expect_err("unimplemented");
    assert_eq!(status.code(), Code::Unimplemented);
}

/// A message over `max_body_bytes` is refused before it reaches the core.
#[tokio::test]
async fn oversize_message_is_refused() {
    let gateway = gateway().await;
    let mut client = ChatServiceClient::new(channel(&gateway).await);
    let request = ChatRequest {
        model: "tools".into(),
        messages: vec![text(Role::User, &"x".repeat(70_000))],
        ..ChatRequest::default()
    };
    let status = client
        .complete(authed(request))
        .await
        .expect_err("too large");
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(gateway.replay.requests().is_empty());
}

/// A call whose request message stops arriving fails with DEADLINE_EXCEEDED
/// once `request_body_timeout` has passed, saying why, and reaches no
/// provider.
#[tokio::test]
async fn trickled_request_is_deadline_exceeded() {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let setup = Setup {
        server: vec![("request_body_timeout", "1".to_owned())],
        ..Setup::default()
    };
    let models = [Model::openai(
        "tools",
        "tools__single-tool-call",
        "gpt-4.1-mini",
    )];
    let gateway = Gateway::start_with(replay, &models, &setup).await;

    let tcp = tokio::net::TcpStream::connect(&gateway.addr)
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    // A gRPC message announcing 100 bytes, of which the first 5 arrive.
    let (frames, received) =
        tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, Infallible>>(1);
    let start = bytes::Bytes::from_static(&[0, 0, 0, 0, 100, 0x0a, 5, b't', b'o', b'o']);
    frames.send(Ok(Frame::data(start))).await.expect("queued");
    let request = http::Request::post(format!(
        "{}/switchboard.v1.ChatService/Complete",
        gateway.url()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {MASTER_KEY}"))
    .body(StreamBody::new(
        tokio_stream::wrappers::ReceiverStream::new(received),
    ))
    .expect("request");

    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("an answer within 10 s")
        .expect("an answer");
    took_the_timeout(started);
    let status =
        tonic::Status::from_header_map(response.headers()).expect("a trailers-only status");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert!(
        status.message().contains("did not arrive within 1s"),
        "{status:?}"
    );
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "REQUEST_BODY_TIMEOUT");
    drop(frames);
    assert!(gateway.replay.requests().is_empty());
}
