//! Provider adapters: the last stop of a request.
//!
//! Each adapter is a pure translation (canonical request -> native request,
//! native response or stream -> canonical) plus a thin transport. The
//! translations live with their wire format (`crate::openai_wire` for the
//! OpenAI family); the adapters here only choose URLs, headers and quirks and
//! move bytes. One adapter instance serves one configured deployment.

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod fuzzing;
pub mod gaps;
pub mod gemini;
pub mod http;
pub mod mock;
pub mod oauth;
pub mod ollama;
pub mod openai;
pub mod presets;
pub mod renewing;
pub mod vertex;

use std::future::ready;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost_types::Struct;
use serde_json::{Map, Value};
use sse_stream::Sse;

use crate::config::DeploymentConfig;
use crate::error::{FieldPath, GatewayError};
use crate::openai_wire::json_struct::{json_from_value, struct_from_map};
use crate::openai_wire::request::{function_json, tool_object};
pub use crate::openai_wire::{merge_fields, merge_native_fields};
use crate::pb::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Embedding, Message,
    ReasoningEffort, Tool, ToolCall, Usage, content_part, message,
};
use presets::Preset;

/// Canonical chunks as a provider produces them; each is sent on as soon as
/// it is parsed.
pub type ChunkStream = BoxStream<'static, Result<ChatChunk, GatewayError>>;

/// Turns a native provider's stream events into canonical chunks, keeping
/// whatever state the format needs between events.
pub trait EventDecoder: Send + 'static {
    /// The chunks one event's data becomes (often one, sometimes none).
    fn on_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, GatewayError>;
    /// Chunks due when the provider ends the stream (e.g. final usage).
    fn on_end(&mut self) -> Vec<ChatChunk> {
        Vec::new()
    }
}

/// Decodes a provider's server-sent events as they arrive. Events without
/// data (comments, keep-alives) are skipped; the first error ends the stream.
pub fn chunks_from_events(
    events: impl Stream<Item = Result<Sse, GatewayError>> + Send + 'static,
    decoder: impl EventDecoder,
) -> ChunkStream {
    let payloads = events.filter_map(|event| {
        ready(match event {
            Err(e) => Some(Err(e)),
            Ok(event) => event.data.filter(|data| !data.is_empty()).map(Ok),
        })
    });
    chunks_from_payloads(payloads, decoder)
}

/// Decodes a provider's stream payloads (SSE data, NDJSON lines) as they
/// arrive; the first error ends the stream.
pub fn chunks_from_payloads(
    payloads: impl Stream<Item = Result<String, GatewayError>> + Send + 'static,
    decoder: impl EventDecoder,
) -> ChunkStream {
    let payloads = payloads.map(Some).chain(futures::stream::iter([None]));
    payloads
        .scan((decoder, false), |(decoder, failed), payload| {
            if *failed {
                return ready(None);
            }
            let decoded = match payload {
                None => Ok(decoder.on_end()),
                Some(Ok(data)) => decoder.on_event(&data),
                Some(Err(e)) => Err(e),
            };
            *failed = decoded.is_err();
            let (chunks, error) = match decoded {
                Ok(chunks) => (chunks, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            let results = chunks.into_iter().map(Ok).chain(error.map(Err));
            ready(Some(futures::stream::iter(results)))
        })
        .flatten()
        .boxed()
}

/// Whether the caller asked for a usage-only chunk at the end of a stream.
pub fn include_usage(request: &ChatRequest) -> bool {
    request
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage)
}

/// A tool call's arguments as the JSON object native APIs take (`""` is
/// `{}`); `at` names the call in the error.
pub fn tool_arguments(
    call: &ToolCall,
    at: FieldPath<'_>,
    provider: &str,
) -> Result<Value, GatewayError> {
    if call.arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_str(&call.arguments).map_err(|e| {
        GatewayError::invalid(
            at.field("function").field("arguments"),
            format!("must be a JSON object to send to {provider}: {e}"),
        )
    })
}

/// Where an assistant message keeps Anthropic-style thinking blocks (with
/// their signatures; Anthropic and Bedrock) so the caller can send them back;
/// the name LiteLLM uses, so clients moving over keep working.
pub const THINKING_BLOCKS: &str = "thinking_blocks";

/// Where an assistant message keeps the content blocks (Anthropic, Bedrock)
/// or parts (Gemini) nothing canonical models: server tools, citations,
/// images the model drew, code it ran…, as the provider sent them.
pub const CONTENT_BLOCKS: &str = "content_blocks";

/// Extensions of an assistant message: signed reasoning blocks, and content
/// blocks nothing canonical models.
pub fn message_extensions(thinking_blocks: Vec<Value>, other_blocks: Vec<Value>) -> Option<Struct> {
    let mut fields = Map::new();
    if !thinking_blocks.is_empty() {
        fields.insert(THINKING_BLOCKS.into(), thinking_blocks.into());
    }
    if !other_blocks.is_empty() {
        fields.insert(CONTENT_BLOCKS.into(), other_blocks.into());
    }
    non_empty(fields)
}

/// The prompt-caching marker (Anthropic's, in LiteLLM's OpenAI spelling) on a
/// content part or a whole message. Anthropic and Bedrock take it as a cache
/// breakpoint; Gemini, Vertex AI, Cohere and Ollama cache prompt prefixes by
/// themselves, have no such field and refuse unknown ones, so they get a
/// message's or part's extensions without it (`without_cache_marker`). It
/// never changes an answer, only what it costs.
pub const CACHE_CONTROL: &str = "cache_control";

/// A message's or content part's extensions as native fields for a provider
/// that caches by itself: all but `cache_control`.
pub fn without_cache_marker(extensions: &Struct) -> impl Iterator<Item = (String, Value)> + '_ {
    extensions
        .fields
        .iter()
        .filter(|(key, _)| *key != CACHE_CONTROL)
        .map(|(key, value)| (key.clone(), json_from_value(value)))
}

/// A tool in OpenAI's shape (`{"type": "function", "function": …}`, strict
/// left out) with its other fields but the cache marker: Cohere's and
/// Ollama's tool.
pub fn function_tool(tool: &Tool) -> Value {
    tool_object(
        function_json(tool),
        tool.extensions.iter().flat_map(without_cache_marker),
    )
}

/// The HTTP status an error sent inside a stream states (its `code`), or
/// 502 when it states none that is one.
pub fn stated_status(code: Option<&Value>) -> u16 {
    code.and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .filter(|code| (400..600).contains(code))
        .unwrap_or(502)
}

/// Refuses what no native embeddings API can carry, rather than drop it:
/// `user` (Gemini, Vertex AI, Bedrock, Cohere and Ollama embed with no
/// end-user field).
pub fn check_native_embed(provider: &str, request: &EmbedRequest) -> Result<(), GatewayError> {
    if request.user.is_empty() {
        return Ok(());
    }
    Err(GatewayError::not_supported_by(
        provider,
        "user",
        "its embeddings API has no end-user field",
    ))
}

/// An embeddings request's extensions as native fields: all but
/// `encoding_format`, the facade's output format, which the gateway applies
/// itself (the OpenAI SDKs send it on every call; only the OpenAI family
/// knows the field, and gets it as sent).
pub fn native_embed_fields(request: &EmbedRequest) -> Map<String, Value> {
    let Some(extensions) = &request.extensions else {
        return Map::new();
    };
    extensions
        .fields
        .iter()
        .filter(|(key, _)| *key != "encoding_format")
        .map(|(key, value)| (key.clone(), json_from_value(value)))
        .collect()
}

/// Vectors in input order, numbered as OpenAI numbers them.
pub fn numbered_embeddings(vectors: impl IntoIterator<Item = Vec<f32>>) -> Vec<Embedding> {
    vectors
        .into_iter()
        .zip(0..)
        .map(|(values, index)| Embedding { index, values })
        .collect()
}

/// How many calls one request makes to its provider at once, where the
/// provider takes one text per call (Titan, Gemini embeddings on Vertex):
/// enough to be quick, few enough not to trip the account's rate limit.
const CALLS_AT_ONCE: usize = 8;

/// Runs `calls`, at most `CALLS_AT_ONCE` at a time; their answers in order,
/// or the first failure (the calls still running are dropped).
pub async fn in_parallel<T>(
    calls: impl IntoIterator<Item = impl Future<Output = Result<T, GatewayError>>>,
) -> Result<Vec<T>, GatewayError> {
    futures::stream::iter(calls)
        .buffered(CALLS_AT_ONCE)
        .try_collect()
        .await
}

/// The usage of an embeddings call: prompt tokens are all there is.
pub fn embed_usage(prompt_tokens: u32) -> Usage {
    Usage {
        prompt_tokens,
        total_tokens: prompt_tokens,
        ..Usage::default()
    }
}

/// A provider's token count (saturating at `u32::MAX`); anything but a
/// non-negative integer is no count.
pub fn token_count(value: &Value) -> Option<u32> {
    value.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Removes a token counter from a provider's usage object.
pub fn take_token_count(fields: &mut Map<String, Value>, key: &str) -> Option<u32> {
    fields.remove(key).as_ref().and_then(token_count)
}

/// The native names of a usage object's counters, for APIs (Anthropic's,
/// Bedrock's) whose input count leaves out the tokens read from or written
/// to the prompt cache.
pub struct CacheUsageNames {
    pub input: &'static str,
    pub output: &'static str,
    pub cache_read: &'static str,
    pub cache_write: &'static str,
    /// A total the API reports; without it the total is computed.
    pub total: Option<&'static str>,
}

/// Usage from such an API: the canonical `prompt_tokens` includes cache
/// reads and writes (as OpenAI's does), which are also reported on their
/// own. Every other counter is kept as sent.
pub fn cache_aware_usage(mut fields: Map<String, Value>, names: &CacheUsageNames) -> Usage {
    let mut count = |key: &str| take_token_count(&mut fields, key);
    let input = count(names.input).unwrap_or(0);
    let output = count(names.output).unwrap_or(0);
    let total = names.total.and_then(&mut count);
    let read = count(names.cache_read);
    let write = count(names.cache_write);
    let prompt = input
        .saturating_add(read.unwrap_or(0))
        .saturating_add(write.unwrap_or(0));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: output,
        total_tokens: total.unwrap_or(prompt.saturating_add(output)),
        cached_prompt_tokens: read,
        cache_write_tokens: write,
        extensions: non_empty(fields),
        ..Usage::default()
    }
}

/// Provider fields without a canonical home, as extensions; nulls dropped,
/// `None` when nothing is left.
pub fn non_empty(mut fields: Map<String, Value>) -> Option<Struct> {
    fields.retain(|_, v| !v.is_null());
    (!fields.is_empty()).then(|| struct_from_map(fields))
}

/// An id for providers that send none (Ollama's responses): `prefix` plus
/// the start time and a counter, so ids are unique within and across runs.
pub fn generated_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static START: OnceLock<u64> = OnceLock::new();
    let start = START.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    });
    format!(
        "{prefix}{start:x}{:x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Token budget per `reasoning_effort` for APIs that take one (Anthropic's
/// minimum is 1024; Bedrock's Anthropic models and Cohere use the same).
/// `None` for no reasoning.
pub fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::Unspecified | ReasoningEffort::None => None,
        ReasoningEffort::Minimal | ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(2048),
        ReasoningEffort::High => Some(4096),
        ReasoningEffort::Xhigh => Some(8192),
    }
}

/// The text parts of a message, in order (its whole text when it is one
/// string); images and other parts are skipped.
pub fn message_texts(message: &Message) -> Vec<&str> {
    match &message.content {
        Some(message::Content::Text(text)) => vec![text.as_str()],
        Some(message::Content::Parts(parts)) => parts
            .parts
            .iter()
            .filter_map(|p| match &p.part {
                Some(content_part::Part::Text(text)) => Some(text.as_str()),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    }
}

/// What a native API calls OpenAI's sampling parameters; `None` for one it
/// does not take (the adapter refuses or handles it before this is used).
pub struct SamplingNames {
    pub temperature: &'static str,
    pub top_p: &'static str,
    pub max_tokens: Option<&'static str>,
    pub stop: &'static str,
    pub seed: Option<&'static str>,
    pub presence_penalty: Option<&'static str>,
    pub frequency_penalty: Option<&'static str>,
}

/// Copies the sampling parameters the request sets into `target`, under the
/// provider's names (`max_completion_tokens` wins over `max_tokens`).
pub fn insert_sampling(
    target: &mut Map<String, Value>,
    request: &ChatRequest,
    names: &SamplingNames,
) {
    let mut set = |key: Option<&str>, value: Option<Value>| {
        if let (Some(key), Some(value)) = (key, value) {
            target.insert(key.into(), value);
        }
    };
    set(
        Some(names.temperature),
        request.temperature.map(Value::from),
    );
    set(Some(names.top_p), request.top_p.map(Value::from));
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    set(names.max_tokens, max_tokens.map(Value::from));
    let stop = (!request.stop.is_empty()).then(|| request.stop.clone().into());
    set(Some(names.stop), stop);
    set(names.seed, request.seed.map(Value::from));
    set(
        names.presence_penalty,
        request.presence_penalty.map(Value::from),
    );
    set(
        names.frequency_penalty,
        request.frequency_penalty.map(Value::from),
    );
}

/// Extensions holding one field (`None` when its value is null).
pub fn extension(key: &str, value: Value) -> Option<Struct> {
    let mut fields = Map::new();
    fields.insert(key.to_owned(), value);
    non_empty(fields)
}

/// Seconds since the epoch, for `created` when a provider sends none.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// What every provider adapter can be asked to do.
pub trait Provider: Send + Sync {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>>;
    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>>;
    fn embed<'a>(
        &'a self,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>>;
}

/// The provider named before the `/` in a deployment's `model`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProviderKind {
    /// Azure OpenAI: OpenAI's dialect at Azure's URLs.
    Azure,
    /// Anthropic's Messages API.
    Anthropic,
    /// The Gemini API with an API key.
    Gemini,
    /// Gemini models on Vertex AI, with Google Cloud credentials.
    Vertex,
    /// Ollama's native API (`/api/chat`, `/api/embed`).
    Ollama,
    /// Cohere's v2 API.
    Cohere,
    /// AWS Bedrock (Converse, InvokeModel for embeddings).
    Bedrock,
    /// OpenAI itself (`presets::OPENAI`), or a provider speaking its
    /// chat-completions dialect, with its quirks.
    OpenAiCompatible(&'static Preset),
    /// Offline, deterministic stand-in for demos and load tests.
    Mock,
}

impl ProviderKind {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "openai" => Some(Self::OpenAiCompatible(&presets::OPENAI)),
            "anthropic" => Some(Self::Anthropic),
            "azure" => Some(Self::Azure),
            "gemini" => Some(Self::Gemini),
            "vertex_ai" => Some(Self::Vertex),
            "ollama" => Some(Self::Ollama),
            "cohere" => Some(Self::Cohere),
            "bedrock" => Some(Self::Bedrock),
            "mock" => Some(Self::Mock),
            _ => presets::find(name).map(Self::OpenAiCompatible),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::Azure => "azure",
            Self::Gemini => "gemini",
            Self::Vertex => "vertex_ai",
            Self::Ollama => "ollama",
            Self::Cohere => "cohere",
            Self::Bedrock => "bedrock",
            Self::OpenAiCompatible(preset) => preset.name,
            Self::Mock => "mock",
        }
    }

    pub fn known_names() -> Vec<&'static str> {
        let mut names = vec![
            "openai",
            "azure",
            "anthropic",
            "gemini",
            "vertex_ai",
            "cohere",
            "bedrock",
            "ollama",
            "mock",
        ];
        names.extend(presets::PRESETS.iter().map(|p| p.name));
        names
    }

    pub fn default_api_base(&self) -> Option<&'static str> {
        match self {
            Self::Anthropic => Some(anthropic::DEFAULT_API_BASE),
            // The resource URL is the deployment's own.
            Self::Azure => None,
            Self::Gemini => Some(gemini::DEFAULT_API_BASE),
            // Built from the deployment's location.
            Self::Vertex => Some(vertex::DEFAULT_API_BASE),
            Self::Ollama => Some(ollama::DEFAULT_API_BASE),
            Self::Cohere => Some(cohere::DEFAULT_API_BASE),
            // Built from the deployment's region.
            Self::Bedrock => Some(bedrock::DEFAULT_API_BASE),
            Self::OpenAiCompatible(preset) => preset.api_base,
            Self::Mock => Some("mock://"),
        }
    }

    /// Environment variable holding the key when a deployment sets none.
    pub fn default_api_key_env(&self) -> Option<&'static str> {
        match self {
            Self::Anthropic => Some("ANTHROPIC_API_KEY"),
            Self::Azure => presets::AZURE.api_key_env,
            Self::Gemini => Some("GEMINI_API_KEY"),
            // Vertex AI takes OAuth2 tokens from Google credentials.
            Self::Vertex => None,
            // Ollama's cloud; a local server needs none.
            Self::Ollama => Some("OLLAMA_API_KEY"),
            Self::Cohere => Some("COHERE_API_KEY"),
            // A Bedrock API key; without one, requests are SigV4-signed.
            Self::Bedrock => Some("AWS_BEARER_TOKEN_BEDROCK"),
            Self::OpenAiCompatible(preset) => preset.api_key_env,
            Self::Mock => None,
        }
    }
}

/// Builds the adapter for one deployment.
pub fn build(config: &DeploymentConfig, client: &http::Client) -> Box<dyn Provider> {
    match config.provider {
        ProviderKind::OpenAiCompatible(preset) => {
            Box::new(openai::OpenAiAdapter::new(config, client.clone(), preset))
        }
        ProviderKind::Azure => Box::new(openai::OpenAiAdapter::azure(config, client.clone())),
        ProviderKind::Gemini => Box::new(gemini::GeminiAdapter::new(config, client.clone())),
        ProviderKind::Vertex => Box::new(vertex::VertexAdapter::new(config, client.clone())),
        ProviderKind::Ollama => Box::new(ollama::OllamaAdapter::new(config, client.clone())),
        ProviderKind::Cohere => Box::new(cohere::CohereAdapter::new(config, client.clone())),
        ProviderKind::Bedrock => Box::new(bedrock::BedrockAdapter::new(config, client.clone())),
        ProviderKind::Anthropic => {
            Box::new(anthropic::AnthropicAdapter::new(config, client.clone()))
        }
        ProviderKind::Mock => Box::new(mock::MockProvider::new(config)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Extensions become native fields (objects merged one level deep), but
    /// never replace the deployment's model or the transport's streaming.
    #[test]
    fn native_fields_merge_but_for_the_gateways() {
        let mut body = serde_json::json!({
            "model": "claude-sonnet-4-5", "stream": true, "output_config": {"format": "json"}
        })
        .as_object()
        .cloned()
        .unwrap();
        let extensions = struct_from_map(
            serde_json::json!({
                "model": "claude-opus-4-1", "stream": false, "top_k": 5,
                "output_config": {"effort": "low"}
            })
            .as_object()
            .cloned()
            .unwrap(),
        );
        merge_native_fields(&mut body, Some(&extensions));
        assert_eq!(
            Value::Object(body),
            serde_json::json!({
                "model": "claude-sonnet-4-5", "stream": true, "top_k": 5,
                "output_config": {"format": "json", "effort": "low"}
            })
        );
    }

    /// Answers come back in order, with no more than `CALLS_AT_ONCE` calls
    /// running at any time.
    #[tokio::test]
    async fn in_parallel_bounds_the_calls_at_once() {
        let running = AtomicU64::new(0);
        let most = AtomicU64::new(0);
        let calls = (0..50u64).map(|i| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(50 - i)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            }
        });
        let answers = in_parallel(calls).await.expect("answers");
        assert_eq!(answers, (0..50).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), CALLS_AT_ONCE as u64);
    }

    /// Paths read as the client wrote the request, and reach the error's `param`.
    #[test]
    fn field_paths_spell_out_on_error() {
        let message = FieldPath::message(2);
        assert_eq!(message.to_string(), "messages[2]");
        assert_eq!(
            message.item("content", 0).field("image_url").to_string(),
            "messages[2].content[0].image_url"
        );
        let call = ToolCall {
            arguments: "{not json".into(),
            ..ToolCall::default()
        };
        match tool_arguments(&call, message.item("tool_calls", 1), "ollama") {
            Err(GatewayError::InvalidRequest { param: Some(p), .. }) => {
                assert_eq!(p, "messages[2].tool_calls[1].function.arguments")
            }
            other => panic!("expected an invalid-request error, got {other:?}"),
        }
    }
}
