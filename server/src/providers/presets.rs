//! The OpenAI-compatible family as data: base URL, key variable and the
//! quirks that make each provider differ from OpenAI. Adding a provider of
//! this family is adding a row.

/// How a provider departs from OpenAI's chat-completions API.
#[derive(Debug, PartialEq)]
pub struct Quirks {
    /// Top-level request fields the provider spells differently, in chat and
    /// embeddings requests: (OpenAI, theirs).
    pub renamed_fields: &'static [(&'static str, &'static str)],
    /// Top-level request fields the provider rejects. A request that sets one
    /// fails with a clear 400 instead of the field being dropped.
    pub unsupported_fields: &'static [&'static str],
    /// How the provider spells `tool_choice: "required"`.
    pub tool_choice_required: &'static str,
    /// `response_format` types the provider lacks; a request for one fails
    /// with a clear 400 instead of reaching the provider.
    pub unsupported_response_formats: &'static [&'static str],
    /// Whether the provider takes `stream_options`; without it the field is
    /// not sent (Mistral refuses it and reports usage on every stream).
    pub stream_options: bool,
    /// Whether reasoning in the history goes back as `thinking` content
    /// chunks (Mistral) instead of OpenAI's `reasoning_content` field.
    pub thinking_chunks_in_history: bool,
}

impl Quirks {
    /// OpenAI's own dialect: nothing to rewrite.
    pub const NONE: Quirks = Quirks {
        renamed_fields: &[],
        unsupported_fields: &[],
        tool_choice_required: "required",
        unsupported_response_formats: &[],
        stream_options: true,
        thinking_chunks_in_history: false,
    };
}

/// One provider of the OpenAI-compatible family.
#[derive(Debug, PartialEq)]
pub struct Preset {
    /// The name used in `model: <name>/<model id>`.
    pub name: &'static str,
    /// Default base URL (before `/chat/completions`); `None` means the
    /// deployment must set `api_base`.
    pub api_base: Option<&'static str>,
    /// Environment variable read for the key when the deployment sets none.
    pub api_key_env: Option<&'static str>,
    /// Whether the provider serves `/embeddings`; without it, embedding
    /// requests get a clear "unsupported" error and no upstream call.
    pub embeddings: bool,
    pub quirks: Quirks,
}

/// OpenAI itself, the baseline with no quirks.
pub const OPENAI: Preset = Preset {
    name: "openai",
    api_base: Some("https://api.openai.com/v1"),
    api_key_env: Some("OPENAI_API_KEY"),
    embeddings: true,
    quirks: Quirks::NONE,
};

/// Azure OpenAI: OpenAI's dialect behind Azure's URLs and `api-key` header
/// (see `OpenAiAdapter::azure`); the resource URL is always the deployment's.
pub const AZURE: Preset = Preset {
    name: "azure",
    api_base: None,
    api_key_env: Some("AZURE_API_KEY"),
    embeddings: true,
    quirks: Quirks::NONE,
};

pub const PRESETS: &[Preset] = &[
    // Any server that speaks OpenAI's dialect; set api_base.
    Preset {
        name: "openai_compatible",
        api_base: None,
        api_key_env: None,
        embeddings: true,
        quirks: Quirks::NONE,
    },
    // https://console.groq.com/docs/openai: logprobs, logit_bias and
    // top_logprobs are not supported; `n` must be 1.
    Preset {
        name: "groq",
        api_base: Some("https://api.groq.com/openai/v1"),
        api_key_env: Some("GROQ_API_KEY"),
        embeddings: false,
        quirks: Quirks {
            unsupported_fields: &["logprobs", "logit_bias", "top_logprobs"],
            ..Quirks::NONE
        },
    },
    Preset {
        name: "together",
        api_base: Some("https://api.together.xyz/v1"),
        api_key_env: Some("TOGETHER_API_KEY"),
        embeddings: true,
        quirks: Quirks::NONE,
    },
    // https://api-docs.deepseek.com/guides/json_mode: JSON output is
    // `json_object` only. `reasoning_content` in the history is sent as given:
    // the thinking-mode guide requires it on turns that called tools.
    Preset {
        name: "deepseek",
        api_base: Some("https://api.deepseek.com/v1"),
        api_key_env: Some("DEEPSEEK_API_KEY"),
        embeddings: false,
        quirks: Quirks {
            unsupported_response_formats: &["json_schema"],
            ..Quirks::NONE
        },
    },
    Preset {
        name: "fireworks",
        api_base: Some("https://api.fireworks.ai/inference/v1"),
        api_key_env: Some("FIREWORKS_API_KEY"),
        embeddings: true,
        quirks: Quirks::NONE,
    },
    // https://docs.mistral.ai/api/: `max_tokens`, `random_seed` and (for
    // embeddings) `output_dimension` instead of `max_completion_tokens`,
    // `seed` and `dimensions`; `tool_choice: "any"` means required. Its
    // answers' content chunk lists (thinking models) and index-less tool-call
    // deltas are read by the common OpenAI reader. Mistral refuses
    // `stream_options` (its streams always end with usage) and
    // `reasoning_content` in the history, which goes back as thinking chunks.
    // Its request schema (mistralai/client-python,
    // src/mistralai/client/models/chatcompletionrequest.py) has no `user`,
    // `store`, `logprobs`, `top_logprobs`, `logit_bias` or `service_tier`, and
    // the API answers 422 `extra_forbidden` to fields outside it.
    Preset {
        name: "mistral",
        api_base: Some("https://api.mistral.ai/v1"),
        api_key_env: Some("MISTRAL_API_KEY"),
        embeddings: true,
        quirks: Quirks {
            renamed_fields: &[
                ("max_completion_tokens", "max_tokens"),
                ("seed", "random_seed"),
                ("dimensions", "output_dimension"),
            ],
            unsupported_fields: &[
                "user",
                "store",
                "logprobs",
                "top_logprobs",
                "logit_bias",
                "service_tier",
            ],
            tool_choice_required: "any",
            stream_options: false,
            thinking_chunks_in_history: true,
            ..Quirks::NONE
        },
    },
    // A self-hosted vLLM server; set api_base. Keys are optional.
    Preset {
        name: "vllm",
        api_base: None,
        api_key_env: None,
        embeddings: true,
        quirks: Quirks::NONE,
    },
    Preset {
        name: "openrouter",
        api_base: Some("https://openrouter.ai/api/v1"),
        api_key_env: Some("OPENROUTER_API_KEY"),
        embeddings: true,
        quirks: Quirks::NONE,
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}
