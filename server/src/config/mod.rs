//! The YAML configuration file.
//!
//! The shape deliberately follows LiteLLM's `config.yaml` (`model_list`,
//! `litellm_params`, `general_settings.master_key`, `os.environ/NAME` secret
//! references) so a team moving over can bring its model list. Loading does
//! three things, each reporting errors with the field path that caused them:
//! parse the YAML, resolve secret references, and validate (provider known,
//! model id present, addresses parse).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::providers::ProviderKind;
use crate::providers::http::{Ping, endpoint};

mod cloud;

pub use cloud::{
    AwsCredentialSource, AwsCredentials, AwsRole, AwsSettings, GOOGLE_METADATA_HOST, OAuthGrant,
    OAuthSettings, VertexSettings,
};

/// Default listen address: loopback only, so a fresh `serve` exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
/// Default request-body limit (images as base64 make chat bodies large).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
/// Default upstream timeout when a deployment sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a request body may take to arrive by default: nginx's
/// `client_body_timeout`, though counted over the whole body.
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// A configuration error, always naming the field it is about.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// Dotted path of the offending field, e.g. `model_list[2].params.model`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The whole file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub model_list: Vec<RawDeployment>,
    #[serde(default)]
    pub general_settings: RawGeneralSettings,
    #[serde(default)]
    pub server: RawServerSettings,
    /// Accepted so LiteLLM files load; Switchboard has no use for them yet.
    #[serde(default)]
    pub litellm_settings: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub router_settings: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneralSettings {
    /// Admin key; when set every request must carry it as a bearer token.
    pub master_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerSettings {
    /// `host:port` to listen on.
    pub listen: Option<String>,
    /// Largest accepted request body, in bytes (HTTP and gRPC).
    pub max_body_bytes: Option<usize>,
    /// Async worker threads; default one per CPU core.
    pub worker_threads: Option<usize>,
    /// Seconds a provider's connection may stay silent before it is probed
    /// (HTTP/2 PING, TCP keepalive); 0 turns probing off.
    pub upstream_ping_interval: Option<f64>,
    /// Seconds a probe may go unanswered before the connection is closed.
    pub upstream_ping_timeout: Option<f64>,
    /// Seconds a client's connection may stay silent before it is probed
    /// (TCP keepalive); 0 turns probing off.
    pub client_ping_interval: Option<f64>,
    /// Seconds a client may leave a probe, or data sent to it, unanswered
    /// before its connection is closed.
    pub client_ping_timeout: Option<f64>,
    /// Client connections open at once; further clients wait to be
    /// accepted. Default: half the files the process may open.
    pub max_connections: Option<usize>,
    /// Seconds a request body may take to arrive, once its headers have.
    pub request_body_timeout: Option<f64>,
}

/// One `model_list` entry: a deployment of a logical model name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeployment {
    pub model_name: String,
    #[serde(alias = "litellm_params")]
    pub params: RawDeploymentParams,
    #[serde(default)]
    pub model_info: RawModelInfo,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelInfo {
    /// Stable deployment id, reported back as `served_by.deployment_id`.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeploymentParams {
    /// `<provider>/<model id>`, e.g. `openai/gpt-4o` or `groq/llama-3.3-70b-versatile`.
    pub model: String,
    pub api_base: Option<String>,
    pub api_key: Option<String>,
    pub api_version: Option<String>,
    #[serde(default)]
    pub extra_headers: BTreeMap<String, String>,
    /// Upstream timeout in seconds.
    pub timeout: Option<f64>,
    /// Requests per minute this deployment may take (enforced by the limits layer).
    pub rpm: Option<u64>,
    /// Tokens per minute this deployment may take (enforced by the limits layer).
    pub tpm: Option<u64>,
    /// Mock provider only: fixed reply text instead of the generated one.
    pub mock_response: Option<String>,
    /// Bedrock only (LiteLLM's names): the AWS region, and the access key
    /// pair (plus session token) that signs requests when no `api_key`
    /// (Bedrock API key) is set. Each defaults to the AWS environment
    /// variables (`AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    pub aws_region_name: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    /// Vertex AI only (LiteLLM's names): the Google Cloud project and
    /// location, and the credentials: a service-account (or authorized-user)
    /// JSON file's path, its text, or the same as a mapping. Defaults:
    /// `VERTEXAI_PROJECT` / `GOOGLE_CLOUD_PROJECT` (else the credentials'
    /// project), `VERTEXAI_LOCATION` / `GOOGLE_CLOUD_LOCATION` (else
    /// `us-central1`), `GOOGLE_APPLICATION_CREDENTIALS` (else gcloud's
    /// application-default credentials). An `api_key` instead of all three
    /// is express mode.
    pub vertex_project: Option<String>,
    pub vertex_location: Option<String>,
    pub vertex_credentials: Option<serde_json::Value>,
    /// Azure only: a Microsoft Entra ID app whose tokens replace `api_key`,
    /// the authority it signs in at (default `https://login.microsoftonline.com`
    /// or `AZURE_AUTHORITY_HOST`) and the scope it asks for (default
    /// `https://cognitiveservices.azure.com/.default`).
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub azure_authority_host: Option<String>,
    pub azure_scope: Option<String>,
}

/// A secret read from the config: never printed, never logged. Shared, so
/// a stream can hold its deployment's key for redaction without a copy.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into().into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The validated configuration the gateway runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    /// `None` means one per CPU core.
    pub worker_threads: Option<usize>,
    /// How silent provider connections are probed; `None`: they are not.
    pub upstream_ping: Option<Ping>,
    /// How silent client connections are probed; `None`: they are not.
    pub client_ping: Option<Ping>,
    /// `None` means half the files the process may open.
    pub max_connections: Option<usize>,
    pub request_body_timeout: Duration,
    pub master_key: Option<Secret>,
    pub deployments: Vec<DeploymentConfig>,
}

/// One validated deployment.
#[derive(Debug, Clone)]
pub struct DeploymentConfig {
    /// Logical model name clients use.
    pub model_name: String,
    /// Unique id: `model_info.id`, or `<model_name>/<index within the group>`.
    pub id: String,
    pub provider: ProviderKind,
    /// The model id sent to the provider (after `<provider>/`).
    pub model: String,
    pub api_base: Option<String>,
    pub api_key: Option<Secret>,
    pub api_version: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub mock_response: Option<String>,
    /// Bedrock only: where and as whom to sign.
    pub aws: Option<AwsSettings>,
    /// Vertex AI only: the project and location in its URLs.
    pub vertex: Option<VertexSettings>,
    /// Vertex AI, and Azure with Entra ID: how to get bearer tokens.
    pub oauth: Option<OAuthSettings>,
}

impl DeploymentConfig {
    /// `api_base`, else the provider's default (`""` when it has none, which
    /// config refuses). Trailing slashes are trimmed at load.
    pub fn base_url(&self) -> &str {
        self.api_base
            .as_deref()
            .or(self.provider.default_api_base())
            .unwrap_or_default()
    }
}

impl Config {
    /// Reads, parses and validates a config file, resolving `os.environ/`
    /// references from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?;
        Self::from_yaml(&text, |name| std::env::var(name).ok())
    }

    /// Parses and validates config text; `env` resolves `os.environ/NAME`.
    pub fn from_yaml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { "config".into() } else { path };
            ConfigError::new(path, e.into_inner().to_string())
        })?;
        Self::validate(raw, &env)
    }

    fn validate(
        raw: RawConfig,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let listen_text = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen_text.parse().map_err(|_| {
            ConfigError::new(
                "server.listen",
                format!("`{listen_text}` is not a host:port address"),
            )
        })?;
        let max_body_bytes = raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            return Err(ConfigError::new(
                "server.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if raw.server.worker_threads == Some(0) {
            return Err(ConfigError::new(
                "server.worker_threads",
                "must be greater than 0",
            ));
        }
        let upstream_ping = ping(
            raw.server.upstream_ping_interval,
            raw.server.upstream_ping_timeout,
            "server.upstream_ping",
        )?;
        let client_ping = ping(
            raw.server.client_ping_interval,
            raw.server.client_ping_timeout,
            "server.client_ping",
        )?;
        if raw.server.max_connections == Some(0) {
            return Err(ConfigError::new(
                "server.max_connections",
                "must be greater than 0",
            ));
        }
        let request_body_timeout = match raw.server.request_body_timeout {
            Some(secs) => seconds(secs, "server.request_body_timeout")?,
            None => DEFAULT_REQUEST_BODY_TIMEOUT,
        };
        let master_key = raw
            .general_settings
            .master_key
            .map(|v| resolve_secret(&v, "general_settings.master_key", env))
            .transpose()?;

        let mut deployments = Vec::with_capacity(raw.model_list.len());
        let mut ids = BTreeMap::new();
        for (index, entry) in raw.model_list.into_iter().enumerate() {
            let at = format!("model_list[{index}]");
            let deployment = validate_deployment(entry, &at, &deployments, env)?;
            if let Some(previous) = ids.insert(deployment.id.clone(), index) {
                return Err(ConfigError::new(
                    format!("{at}.model_info.id"),
                    format!(
                        "duplicate deployment id `{}` (also model_list[{previous}])",
                        deployment.id
                    ),
                ));
            }
            deployments.push(deployment);
        }
        Ok(Config {
            listen,
            max_body_bytes,
            worker_threads: raw.server.worker_threads,
            upstream_ping,
            client_ping,
            max_connections: raw.server.max_connections,
            request_body_timeout,
            master_key,
            deployments,
        })
    }
}

fn validate_deployment(
    entry: RawDeployment,
    at: &str,
    earlier: &[DeploymentConfig],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<DeploymentConfig, ConfigError> {
    if entry.model_name.trim().is_empty() {
        return Err(ConfigError::new(
            format!("{at}.model_name"),
            "must not be empty",
        ));
    }
    let params = entry.params;
    let model_path = format!("{at}.params.model");
    let (provider_name, model) = params.model.split_once('/').ok_or_else(|| {
        ConfigError::new(
            &model_path,
            format!(
                "`{}` must be `<provider>/<model id>`, e.g. `openai/gpt-4o`",
                params.model
            ),
        )
    })?;
    let provider = ProviderKind::parse(provider_name).ok_or_else(|| {
        ConfigError::new(
            &model_path,
            format!(
                "unknown provider `{provider_name}`; known: {}",
                ProviderKind::known_names().join(", ")
            ),
        )
    })?;
    if model.is_empty() {
        return Err(ConfigError::new(
            &model_path,
            "the model id after the provider is empty",
        ));
    }
    let aws = cloud::aws_settings(&params, provider, at, env)?;
    // Both run on every deployment: each rejects its params set elsewhere.
    let entra = cloud::entra_settings(&params, provider, at, env)?;
    let (vertex, vertex_oauth) = cloud::vertex_settings(&params, provider, at, env)?.unzip();
    let oauth = vertex_oauth.or(entra);
    let api_base = params
        .api_base
        .map(|v| resolve_plain(&v, &format!("{at}.params.api_base"), env))
        .transpose()?
        .map(|base| base.trim_end_matches('/').to_owned());
    if let Some(base) = api_base.as_ref().filter(|b| endpoint(b).is_none()) {
        return Err(ConfigError::new(
            format!("{at}.params.api_base"),
            format!("`{base}` must be an http:// or https:// URL"),
        ));
    }
    if api_base.is_none() && provider.default_api_base().is_none() {
        return Err(ConfigError::new(
            format!("{at}.params.api_base"),
            format!("provider `{provider_name}` has no default base URL; set api_base"),
        ));
    }
    let api_key = match params.api_key {
        Some(v) => Some(resolve_secret(&v, &format!("{at}.params.api_key"), env)?),
        // Tokens authenticate; a key in the environment is for other deployments.
        None if oauth.is_some() => None,
        None => provider
            .default_api_key_env()
            .and_then(env)
            .map(Secret::new),
    };
    if aws.as_ref().is_some_and(|aws| aws.credentials.is_none()) && api_key.is_none() {
        return Err(ConfigError::new(
            format!("{at}.params"),
            "bedrock needs credentials: api_key (a Bedrock API key, default \
             AWS_BEARER_TOKEN_BEDROCK), aws_access_key_id + aws_secret_access_key \
             (default AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), or a role: a web \
             identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), the container \
             endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI) or, on EC2, \
             the instance profile",
        ));
    }
    let api_version = params
        .api_version
        .map(|v| resolve_plain(&v, &format!("{at}.params.api_version"), env))
        .transpose()?;
    let mut extra_headers = Vec::with_capacity(params.extra_headers.len());
    for (name, value) in params.extra_headers {
        let path = format!("{at}.params.extra_headers.{name}");
        let value = resolve_plain(&value, &path, env)?;
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(&value).is_err()
        {
            return Err(ConfigError::new(path, "not a valid HTTP header"));
        }
        extra_headers.push((name.to_ascii_lowercase(), value));
    }
    let timeout = match params.timeout {
        None => DEFAULT_TIMEOUT,
        Some(secs) => seconds(secs, &format!("{at}.params.timeout"))?,
    };
    let index_in_group = earlier
        .iter()
        .filter(|d| d.model_name == entry.model_name)
        .count();
    let id = entry
        .model_info
        .id
        .unwrap_or_else(|| format!("{}/{index_in_group}", entry.model_name));
    Ok(DeploymentConfig {
        model_name: entry.model_name,
        id,
        provider,
        model: model.to_owned(),
        api_base,
        api_key,
        api_version,
        extra_headers,
        timeout,
        rpm: params.rpm,
        tpm: params.tpm,
        mock_response: params.mock_response,
        aws,
        vertex,
        oauth,
    })
}

/// The longest duration a setting may give: far beyond any useful one, and
/// far from where adding it to a clock would overflow.
const MAX_SECONDS: f64 = 366.0 * 24.0 * 3600.0;

/// How connections are probed, from `{prefix}_interval` and
/// `{prefix}_timeout` (in seconds; an interval of 0 turns probing off).
fn ping(
    interval: Option<f64>,
    timeout: Option<f64>,
    prefix: &str,
) -> Result<Option<Ping>, ConfigError> {
    let default = Ping::default();
    let timeout = match timeout {
        Some(secs) => seconds(secs, &format!("{prefix}_timeout"))?,
        None => default.timeout,
    };
    let interval = match interval {
        Some(0.0) => return Ok(None),
        Some(secs) => seconds(secs, &format!("{prefix}_interval"))?,
        None => default.interval,
    };
    Ok(Some(Ping { interval, timeout }))
}

/// A positive number of seconds, at most a year.
fn seconds(secs: f64, path: &str) -> Result<Duration, ConfigError> {
    if secs > MAX_SECONDS {
        return Err(ConfigError::new(
            path,
            format!("must be at most a year ({MAX_SECONDS} seconds)"),
        ));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(ConfigError::new(
            path,
            "must be a positive number of seconds",
        )),
    }
}

const ENV_PREFIX: &str = "os.environ/";

/// Resolves `os.environ/NAME` (the value must then be set) or returns the
/// literal value.
fn resolve_plain(
    value: &str,
    path: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    match value.strip_prefix(ENV_PREFIX) {
        Some(name) => env(name).ok_or_else(|| {
            ConfigError::new(path, format!("environment variable `{name}` is not set"))
        }),
        None => Ok(value.to_owned()),
    }
}

fn resolve_secret(
    value: &str,
    path: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Secret, ConfigError> {
    resolve_plain(value, path, env).map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "OPENAI_KEY" => Some("sk-from-env".to_owned()),
            // Wherever the tests run, EC2 included.
            "AWS_EC2_METADATA_DISABLED" => Some("true".to_owned()),
            _ => None,
        }
    }

    /// A LiteLLM-style file loads, resolving secrets and defaulting ids.
    #[test]
    fn loads_litellm_shape() {
        let config = Config::from_yaml(
            r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_KEY
      extra_headers: {X-Team: blue}
      timeout: 30
      rpm: 60
  - model_name: gpt-4o
    params: {model: groq/llama-3.3-70b-versatile, api_key: gsk-literal}
general_settings:
  master_key: sk-master
server:
  listen: 0.0.0.0:8080
  worker_threads: 3
"#,
            env,
        )
        .expect("valid config");
        assert_eq!(config.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(config.worker_threads, Some(3));
        assert_eq!(config.master_key, Some(Secret::new("sk-master")));
        let [first, second] = &config.deployments[..] else {
            panic!("two deployments expected");
        };
        assert_eq!(first.id, "gpt-4o/0");
        assert_eq!(second.id, "gpt-4o/1");
        assert_eq!(
            first.api_key.as_ref().map(Secret::expose),
            Some("sk-from-env")
        );
        assert_eq!(first.extra_headers, vec![("x-team".into(), "blue".into())]);
        assert_eq!(first.timeout, Duration::from_secs(30));
        assert_eq!(first.rpm, Some(60));
        assert_eq!(second.provider.name(), "groq");
        assert_eq!(second.model, "llama-3.3-70b-versatile");
    }

    fn error_of(yaml: &str) -> ConfigError {
        Config::from_yaml(yaml, env).expect_err("config should be rejected")
    }

    /// Every rejection names the field that caused it.
    #[test]
    fn errors_carry_the_field_path() {
        let cases = [
            (
                "model_list: [{model_name: a, params: {model: nope/x}}]",
                "model_list[0].params.model",
                "unknown provider `nope`",
            ),
            (
                "model_list: [{model_name: a, params: {model: gpt-4o}}]",
                "model_list[0].params.model",
                "<provider>/<model id>",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, api_key: os.environ/MISSING}}]",
                "model_list[0].params.api_key",
                "`MISSING` is not set",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, tiemout: 3}}]",
                "model_list[0].params.tiemout",
                "unknown field `tiemout`",
            ),
            (
                "model_list: [{model_name: a, params: {model: vllm/x}}]",
                "model_list[0].params.api_base",
                "no default base URL",
            ),
            (
                "model_list: [{model_name: a, params: {model: bedrock/x, api_key: k}}]",
                "model_list[0].params.aws_region_name",
                "needs a region",
            ),
            (
                "model_list: [{model_name: a, params: {model: bedrock/x, aws_region_name: us-east-1}}]",
                "model_list[0].params",
                "needs credentials",
            ),
            (
                "model_list: [{model_name: a, params: {model: bedrock/x, aws_region_name: us-east-1, aws_access_key_id: AKID}}]",
                "model_list[0].params.aws_secret_access_key",
                "is missing",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, aws_region_name: us-east-1}}]",
                "model_list[0].params.aws_region_name",
                "bedrock deployments only",
            ),
            (
                "server: {worker_threads: 0}",
                "server.worker_threads",
                "greater than 0",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, api_base: 'http://'}}]",
                "model_list[0].params.api_base",
                "http:// or https:// URL",
            ),
            (
                "server: {listen: nowhere}",
                "server.listen",
                "not a host:port",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, timeout: -1}}]",
                "model_list[0].params.timeout",
                "positive",
            ),
            (
                // Too large for a clock to add: an error, not a panic.
                "model_list: [{model_name: a, params: {model: openai/x, timeout: 1e30}}]",
                "model_list[0].params.timeout",
                "at most a year",
            ),
            (
                "server: {upstream_ping_interval: 9.3e18}",
                "server.upstream_ping_interval",
                "at most a year",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, timeout: .nan}}]",
                "model_list[0].params.timeout",
                "positive",
            ),
            (
                "server: {upstream_ping_interval: -5}",
                "server.upstream_ping_interval",
                "positive",
            ),
            (
                "server: {upstream_ping_timeout: 0}",
                "server.upstream_ping_timeout",
                "positive",
            ),
            (
                "server: {client_ping_interval: -1}",
                "server.client_ping_interval",
                "positive",
            ),
            (
                "server: {max_connections: 0}",
                "server.max_connections",
                "greater than 0",
            ),
            (
                "server: {request_body_timeout: 0}",
                "server.request_body_timeout",
                "positive",
            ),
            (
                "model_list:\n - {model_name: a, params: {model: openai/x}, model_info: {id: d}}\n - {model_name: b, params: {model: openai/y}, model_info: {id: d}}",
                "model_list[1].model_info.id",
                "duplicate deployment id",
            ),
        ];
        for (yaml, path, message) in cases {
            let error = error_of(yaml);
            assert_eq!(error.path, path, "for {yaml}");
            assert!(
                error.message.contains(message),
                "`{}` should mention `{message}`",
                error.message
            );
        }
    }

    /// Silent provider connections are probed every 30 s with 15 s to
    /// answer unless the file says otherwise; an interval of 0 turns it off.
    #[test]
    fn upstream_ping_settings() {
        let ping = |yaml: &str| Config::from_yaml(yaml, env).expect("valid").upstream_ping;
        let default = Ping {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(15),
        };
        assert_eq!(ping("model_list: []"), Some(default));
        assert_eq!(
            ping("server: {upstream_ping_interval: 2.5}"),
            Some(Ping {
                interval: Duration::from_millis(2500),
                ..default
            })
        );
        assert_eq!(
            ping("server: {upstream_ping_interval: 10, upstream_ping_timeout: 4}"),
            Some(Ping {
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(4),
            })
        );
        assert_eq!(ping("server: {upstream_ping_interval: 0}"), None);
    }

    /// The front door's settings: clients probed like providers by
    /// default, a minute for a request body, no fixed connection limit.
    #[test]
    fn client_connection_settings() {
        let config = |yaml: &str| Config::from_yaml(yaml, env).expect("valid");
        let default = config("model_list: []");
        assert_eq!(default.client_ping, Some(Ping::default()));
        assert_eq!(default.max_connections, None);
        assert_eq!(default.request_body_timeout, Duration::from_secs(60));
        let set = config(
            "server: {client_ping_interval: 0, max_connections: 500, request_body_timeout: 2.5}",
        );
        assert_eq!(set.client_ping, None);
        assert_eq!(set.max_connections, Some(500));
        assert_eq!(set.request_body_timeout, Duration::from_millis(2500));
        let timeout_only = config("server: {client_ping_timeout: 3}").client_ping;
        assert_eq!(
            timeout_only.map(|p| p.timeout),
            Some(Duration::from_secs(3))
        );
    }

    /// Secrets never show up in Debug output (and so never in logs).
    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = Config::from_yaml(
            "general_settings: {master_key: sk-master-secret}\nmodel_list: [{model_name: a, params: {model: openai/x, api_key: sk-upstream-secret}}]",
            env,
        )
        .expect("valid");
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-master-secret"));
        assert!(!debug.contains("sk-upstream-secret"));
    }
}
