//! Adapter for OpenAI and the OpenAI-compatible family.
//!
//! Translation is `crate::openai_wire` plus the preset's quirks, applied to
//! the outgoing JSON by one pure function; the rest is transport.

use std::future::ready;

use futures::StreamExt;
use futures::future::BoxFuture;
use http::HeaderName;
use http::Uri;
use serde::Serialize;
use serde_json::{Map, Value};

use super::http::{Client, Upstream, bearer, endpoint, unreadable};
use super::presets::{self, Preset, Quirks};
use super::{ChunkStream, Provider, stated_status};
use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::openai_wire::errors::{ErrorBody, mark_context_length, parse_error_body};
use crate::openai_wire::{embeddings, request, response, stream};
use crate::pb::{ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

pub struct OpenAiAdapter {
    upstream: Upstream,
    /// How the preset departs from OpenAI; `None` for OpenAI's own dialect,
    /// whose bodies are written straight from the request.
    quirks: Option<&'static Quirks>,
    model: String,
    /// Parsed once: URL parsing (with IDNA) is measurable per request.
    chat_url: Option<Uri>,
    embeddings_url: Option<Uri>,
}

impl OpenAiAdapter {
    pub fn new(config: &DeploymentConfig, client: Client, preset: &'static Preset) -> Self {
        let base = config.base_url();
        let upstream = Upstream::new(config, client, bearer, &[], parse_error);
        let url = |path: &str| format!("{base}/{path}");
        Self::with_urls(upstream, config, preset, url)
    }

    /// Azure OpenAI (<https://learn.microsoft.com/azure/ai-foundry/openai/reference>):
    /// without `api_version` (or with `v1`), the v1 API at
    /// `{api_base}/openai/v1/...` with the deployment name as `model`; with a
    /// dated `api_version`, the classic
    /// `{api_base}/openai/deployments/{deployment}/...?api-version=...`.
    pub fn azure(config: &DeploymentConfig, client: Client) -> Self {
        let base = config.base_url();
        let api_key = |key: &str| (HeaderName::from_static("api-key"), key.to_owned());
        let upstream = Upstream::new(config, client, api_key, &[], parse_error);
        let deployment = &config.model;
        let url = |path: &str| match config.api_version.as_deref() {
            None | Some("v1") => format!("{base}/openai/v1/{path}"),
            Some(version) => {
                format!("{base}/openai/deployments/{deployment}/{path}?api-version={version}")
            }
        };
        Self::with_urls(upstream, config, &presets::AZURE, url)
    }

    fn with_urls(
        upstream: Upstream,
        config: &DeploymentConfig,
        preset: &'static Preset,
        url: impl Fn(&str) -> String,
    ) -> Self {
        Self {
            upstream,
            quirks: (preset.quirks != Quirks::NONE).then_some(&preset.quirks),
            model: config.model.clone(),
            // `api_base` was parsed at config load, so these parse.
            chat_url: endpoint(&url("chat/completions")),
            embeddings_url: preset
                .embeddings
                .then(|| endpoint(&url("embeddings")))
                .flatten(),
        }
    }

    /// The upstream body: written straight from the request, or, for a
    /// preset with quirks, as JSON the quirks rewrite.
    fn chat_body<'a>(
        &'a self,
        request: &'a ChatRequest,
        stream: bool,
    ) -> Result<ChatBody<'a>, GatewayError> {
        let Some(quirks) = self.quirks else {
            return Ok(ChatBody::AsIs(request::RequestJson {
                request,
                model: &self.model,
                stream,
            }));
        };
        let mut body = request::to_json(request, &self.model, stream);
        apply_quirks(&mut body, quirks, self.upstream.provider)?;
        Ok(ChatBody::Rewritten(body))
    }
}

/// A chat-completions body as it goes upstream.
#[derive(Serialize)]
#[serde(untagged)]
enum ChatBody<'a> {
    AsIs(request::RequestJson<'a>),
    Rewritten(Map<String, Value>),
}

impl Provider for OpenAiAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = self.chat_body(request, false)?;
            self.upstream
                .post_json_parsed(self.chat_url.as_ref(), &body, "chat completion", |bytes| {
                    response::from_slice(bytes)
                })
                .await
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let body = self.chat_body(request, true)?;
            let response = self
                .upstream
                .post_json(self.chat_url.as_ref(), &body)
                .await?;
            let provider = self.upstream.provider;
            let chunks = self.upstream.events(response)
                .take_while(|event| {
                    let done = matches!(event, Ok(e) if e.data.as_deref().map(str::trim) == Some("[DONE]"));
                    ready(!done)
                })
                .filter_map(move |event| {
                    ready(match event {
                        Err(e) => Some(Err(e)),
                        Ok(e) => match e.data.as_deref().map(str::trim) {
                            // Comment-only keep-alives and metadata blocks carry no data.
                            None | Some("") => None,
                            Some(data) => Some(chunk_from_event(e.event.as_deref().unwrap_or_default(), data, provider)),
                        },
                    })
                });
            Ok(chunks.boxed())
        })
    }

    fn embed<'a>(
        &'a self,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>> {
        Box::pin(async move {
            let Some(url) = &self.embeddings_url else {
                return Err(GatewayError::Unsupported {
                    message: format!("{} has no embeddings API", self.upstream.provider),
                    param: None,
                });
            };
            let mut payload = embeddings::request_to_json(request, &self.model);
            if let Some(quirks) = self.quirks {
                rename_fields(&mut payload, quirks);
            }
            let map: Map<String, Value> = self
                .upstream
                .post_json_parsed(Some(url), &payload, "embeddings", |bytes| {
                    crate::openai_wire::from_bytes(bytes)
                })
                .await?;
            embeddings::response_from_json(map)
                .map_err(|e| e.into_upstream_protocol(self.upstream.provider))
        })
    }
}

/// One SSE event as a chunk, or the error the provider put in the stream
/// (`event: error`, or a `data:` object with an `error` member, as Groq and
/// OpenAI do after the 200 status has already been sent).
fn chunk_from_event(
    event: &str,
    data: &str,
    provider: &'static str,
) -> Result<ChatChunk, GatewayError> {
    let chunk =
        stream::chunk_from_str(data).map_err(|e| unreadable(provider, "stream event", e))?;
    let has_error = chunk
        .extensions
        .as_ref()
        .is_some_and(|e| e.fields.contains_key("error"));
    if event != "error" && !has_error {
        return Ok(chunk);
    }
    // Rare path: read the error object for its status and fields.
    let json: Value = serde_json::from_str(data).unwrap_or_default();
    let parsed = parse_error(data.as_bytes());
    let status = stated_status(
        json.get("error")
            .and_then(|e| e.get("status_code").or_else(|| e.get("code"))),
    );
    Err(parsed.into_error(provider, status))
}

/// How the OpenAI family says a request does not fit the model's context
/// (lower case): OpenAI, DeepSeek, vLLM, OpenRouter, Fireworks and Mistral
/// name the "maximum context length", Groq asks to "reduce the length of the
/// messages", Together (TGI) bounds `inputs` + `max_new_tokens` together (its
/// bound on `max_new_tokens` alone caps the answer, not the context).
const CONTEXT_LENGTH_PHRASES: &[&str] = &[
    "maximum context length",
    "reduce the length of the messages",
    "`inputs` tokens + `max_new_tokens` must be <=",
];

/// An OpenAI-family error body, a context overflow marked as OpenAI marks it.
fn parse_error(body: &[u8]) -> ErrorBody {
    mark_context_length(parse_error_body(body), CONTEXT_LENGTH_PHRASES)
}

/// Adapts an OpenAI-shaped body to a provider's dialect.
fn apply_quirks(
    body: &mut Map<String, Value>,
    quirks: &Quirks,
    provider: &str,
) -> Result<(), GatewayError> {
    if let Some(field) = quirks
        .unsupported_fields
        .iter()
        .find(|f| body.contains_key(**f))
    {
        return Err(GatewayError::unsupported(
            *field,
            format!("{provider} does not support this parameter"),
        ));
    }
    if let Some(format) = body
        .get("response_format")
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        && quirks.unsupported_response_formats.contains(&format)
    {
        return Err(GatewayError::unsupported(
            "response_format",
            format!("{provider} does not support response_format `{format}`"),
        ));
    }
    rename_fields(body, quirks);
    if !quirks.stream_options {
        body.remove("stream_options");
    }
    if quirks.thinking_chunks_in_history
        && let Some(Value::Array(messages)) = body.get_mut("messages")
    {
        messages.iter_mut().for_each(reasoning_as_thinking_chunk);
    }
    if let Some(choice) = body.get_mut("tool_choice")
        && choice == "required"
    {
        *choice = quirks.tool_choice_required.into();
    }
    Ok(())
}

/// Moves a history message's `reasoning_content` into its content as a
/// leading `thinking` chunk, the form Mistral's reasoning models replay.
fn reasoning_as_thinking_chunk(message: &mut Value) {
    let Some(Value::String(reasoning)) = message
        .as_object_mut()
        .and_then(|m| m.remove("reasoning_content"))
    else {
        return;
    };
    let thinking =
        serde_json::json!({"type": "thinking", "thinking": [{"type": "text", "text": reasoning}]});
    let mut chunks = vec![thinking];
    match message.get_mut("content").map(Value::take) {
        Some(Value::String(text)) if !text.is_empty() => {
            chunks.push(serde_json::json!({"type": "text", "text": text}));
        }
        Some(Value::Array(parts)) => chunks.extend(parts),
        _ => {}
    }
    message["content"] = Value::Array(chunks);
}

/// The provider's spelling of renamed request fields (chat and embeddings).
fn rename_fields(body: &mut Map<String, Value>, quirks: &Quirks) {
    for (from, to) in quirks.renamed_fields {
        if let Some(value) = body.remove(*from) {
            body.insert((*to).to_owned(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::presets::find;
    use serde_json::json;

    fn quirked(provider: &str, body: Value) -> Result<Value, GatewayError> {
        let Value::Object(mut map) = body else {
            unreachable!()
        };
        apply_quirks(&mut map, &find(provider).expect("preset").quirks, provider)?;
        Ok(Value::Object(map))
    }

    /// Mistral's renamed fields and tool_choice spelling are applied.
    #[test]
    fn mistral_dialect() {
        let body = json!({"model": "m", "messages": [], "max_completion_tokens": 5, "seed": 1, "tool_choice": "required"});
        assert_eq!(
            quirked("mistral", body).expect("ok"),
            json!({"model": "m", "messages": [], "max_tokens": 5, "random_seed": 1, "tool_choice": "any"})
        );
    }

    /// A parameter the provider rejects is an explicit error, not a silent drop.
    #[test]
    fn groq_rejects_logprobs_explicitly() {
        let error = quirked("groq", json!({"model": "m", "logprobs": true})).expect_err("rejected");
        assert!(
            matches!(error, GatewayError::Unsupported { param: Some(ref p), .. } if p == "logprobs")
        );
    }

    /// A response format the provider lacks is refused, not sent.
    #[test]
    fn deepseek_refuses_json_schema() {
        let body = json!({"messages": [], "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}});
        let error = quirked("deepseek", body).expect_err("refused");
        assert!(
            matches!(error, GatewayError::Unsupported { param: Some(ref p), .. } if p == "response_format")
        );
        let json_object = json!({"messages": [], "response_format": {"type": "json_object"}});
        quirked("deepseek", json_object).expect("json_object is supported");
    }

    /// Errors sent inside a 200 stream become errors, with their status.
    #[test]
    fn in_stream_errors_are_errors() {
        let groq = r#"{"error":{"message":"Failed to call a function.","type":"invalid_request_error","code":"tool_use_failed"}}"#;
        match chunk_from_event("error", groq, "groq") {
            Err(GatewayError::Upstream(e)) => {
                assert_eq!(e.status, 502);
                assert_eq!(e.code.as_deref(), Some("tool_use_failed"));
                assert_eq!(e.message, "Failed to call a function.");
            }
            other => panic!("expected an upstream error, got {other:?}"),
        }
    }

    /// An error inside a stream is redacted like one carried by a status.
    #[test]
    fn in_stream_errors_are_redacted() {
        let echo = r#"{"error":{"message":"Incorrect API key provided: sk-abc*****1234.","type":"invalid_request_error","failed_generation":"Bearer sk-live-99"}}"#;
        match chunk_from_event("error", echo, "openai") {
            Err(GatewayError::Upstream(e)) => {
                assert_eq!(e.message, "Incorrect API key provided: [REDACTED].");
                assert_eq!(e.extra["failed_generation"], "Bearer [REDACTED]");
            }
            other => panic!("expected an upstream error, got {other:?}"),
        }
    }

    /// Context overflows are marked; TGI's cap on `max_new_tokens` alone is not one.
    #[test]
    fn context_overflow_is_marked() {
        let code = |message: &str| {
            let body = json!({"error": {"message": message, "type": "invalid_request_error", "code": null}});
            parse_error(body.to_string().as_bytes()).code
        };
        let overflow = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048. \
                        Given: 2019 `inputs` tokens and 30 `max_new_tokens`";
        assert_eq!(code(overflow).as_deref(), Some("context_length_exceeded"));
        assert_eq!(
            code("Please reduce the length of the messages or completion.").as_deref(),
            Some("context_length_exceeded")
        );
        assert_eq!(
            code("Input validation error: `max_new_tokens` must be <= 2048. Given: 4096"),
            None
        );
    }
}
