//! Adapter for OpenAI and the OpenAI-compatible family.
//!
//! Translation is `crate::openai_wire` plus the preset's quirks, applied to
//! the outgoing JSON by one pure function; the rest is transport.

use std::future::ready;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use reqwest::Url;
use serde_json::{Map, Value};

use super::http::{body, events, send};
use super::presets::{Preset, Quirks};
use super::{ChunkStream, Provider};
use crate::config::DeploymentConfig;
use crate::error::{GatewayError, UpstreamError};
use crate::openai_wire::{embeddings, errors::parse_error_body, request, response, stream};
use crate::pb::{ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};

pub struct OpenAiAdapter {
    provider: &'static str,
    quirks: &'static Quirks,
    model: String,
    /// Parsed once: URL parsing (with IDNA) is measurable per request.
    chat_url: Option<Url>,
    embeddings_url: Option<Url>,
    headers: HeaderMap,
    timeout: Duration,
    client: reqwest::Client,
    /// The key, kept only to redact it from anything the provider echoes.
    api_key: Option<String>,
}

impl OpenAiAdapter {
    pub fn new(
        config: &DeploymentConfig,
        client: reqwest::Client,
        preset: &'static Preset,
    ) -> Self {
        let base = config
            .api_base
            .as_deref()
            .or(preset.api_base)
            .unwrap_or_default()
            .trim_end_matches('/');
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(key) = &config.api_key
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
        {
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        // Validated at config load; `insert` replaces, so a header the config
        // repeats (e.g. its own content-type) is still sent once.
        for (name, value) in &config.extra_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        Self {
            provider: preset.name,
            quirks: &preset.quirks,
            model: config.model.clone(),
            // `api_base` was parsed at config load, so these parse.
            chat_url: Url::parse(&format!("{base}/chat/completions")).ok(),
            embeddings_url: preset
                .embeddings
                .then(|| Url::parse(&format!("{base}/embeddings")).ok())
                .flatten(),
            headers,
            timeout: config.timeout,
            client,
            api_key: config.api_key.as_ref().map(|k| k.expose().to_owned()),
        }
    }

    async fn post(
        &self,
        url: Option<&Url>,
        body: Map<String, Value>,
    ) -> Result<reqwest::Response, GatewayError> {
        let url = url.cloned().ok_or(GatewayError::UpstreamUnavailable {
            provider: self.provider,
            message: "api_base is not a valid URL".into(),
        })?;
        let body = serde_json::to_vec(&body).map_err(|e| GatewayError::InvalidRequest {
            message: format!("request cannot be encoded: {e}"),
            param: None,
        })?;
        let mut request = reqwest::Request::new(http::Method::POST, url);
        *request.headers_mut() = self.headers.clone();
        *request.body_mut() = Some(body.into());
        let secrets = self.api_key.as_deref();
        send(
            &self.client,
            request,
            self.provider,
            self.timeout,
            secrets.as_slice(),
        )
        .await
    }

    fn chat_body(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Map<String, Value>, GatewayError> {
        let mut body = request::to_json(request, &self.model, stream);
        apply_quirks(&mut body, self.quirks, self.provider)?;
        Ok(body)
    }

    fn decode<T>(
        &self,
        bytes: &[u8],
        parse: impl FnOnce(Map<String, Value>) -> Result<T, GatewayError>,
    ) -> Result<T, GatewayError> {
        let map: Map<String, Value> =
            serde_json::from_slice(bytes).map_err(|e| GatewayError::UpstreamProtocol {
                provider: self.provider,
                message: format!("body is not a JSON object: {e}"),
            })?;
        parse(map).map_err(|e| e.into_upstream_protocol(self.provider))
    }
}

impl Provider for OpenAiAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let response = self
                .post(self.chat_url.as_ref(), self.chat_body(request, false)?)
                .await?;
            let bytes = body(response, self.provider, self.timeout).await?;
            response::from_slice(&bytes).map_err(|e| GatewayError::UpstreamProtocol {
                provider: self.provider,
                message: format!("unreadable chat completion: {e}"),
            })
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let response = self
                .post(self.chat_url.as_ref(), self.chat_body(request, true)?)
                .await?;
            let provider = self.provider;
            let chunks = events(response, provider, self.timeout)
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
            if self.embeddings_url.is_none() {
                return Err(GatewayError::Unsupported {
                    message: format!("{} has no embeddings API", self.provider),
                    param: None,
                });
            }
            let payload = embeddings::request_to_json(request, &self.model);
            let response = self.post(self.embeddings_url.as_ref(), payload).await?;
            let bytes = body(response, self.provider, self.timeout).await?;
            self.decode(&bytes, embeddings::response_from_json)
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
    let chunk = stream::chunk_from_str(data).map_err(|e| GatewayError::UpstreamProtocol {
        provider,
        message: format!("unreadable stream event: {e}"),
    })?;
    let has_error = chunk
        .extensions
        .as_ref()
        .is_some_and(|e| e.fields.contains_key("error"));
    if event != "error" && !has_error {
        return Ok(chunk);
    }
    // Rare path: read the error object for its status and fields.
    let json: Value = serde_json::from_str(data).unwrap_or_default();
    let parsed = parse_error_body(data.as_bytes());
    let status = json
        .get("error")
        .and_then(|e| e.get("status_code").or_else(|| e.get("code")))
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (400..600).contains(s))
        .unwrap_or(502);
    Err(GatewayError::Upstream(Box::new(UpstreamError {
        provider,
        status,
        message: parsed.message,
        kind: parsed.kind,
        code: parsed.code,
        param: parsed.param,
        retry_after: None,
        extra: parsed.extra,
    })))
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
    for (from, to) in quirks.renamed_fields {
        if let Some(value) = body.remove(*from) {
            body.insert((*to).to_owned(), value);
        }
    }
    if let Some(choice) = body.get_mut("tool_choice")
        && choice == "required"
    {
        *choice = quirks.tool_choice_required.into();
    }
    if !quirks.output_only_message_fields.is_empty()
        && let Some(Value::Array(messages)) = body.get_mut("messages")
    {
        for message in messages.iter_mut().filter_map(Value::as_object_mut) {
            for field in quirks.output_only_message_fields {
                message.remove(*field);
            }
        }
    }
    Ok(())
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

    /// DeepSeek's output-only reasoning is removed from the history it is sent.
    #[test]
    fn deepseek_history_drops_reasoning_content() {
        let body =
            json!({"messages": [{"role": "assistant", "content": "a", "reasoning_content": "r"}]});
        assert_eq!(
            quirked("deepseek", body).expect("ok"),
            json!({"messages": [{"role": "assistant", "content": "a"}]})
        );
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
}
