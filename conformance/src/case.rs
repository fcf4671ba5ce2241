//! The case format: one directory per case, `cases/{provider}/{feature}/{name}/`.
//!
//! ```text
//! case.yaml              what the case is, the deployment it targets, the upstream exchange
//! client-request.json    the OpenAI JSON body the client sends (its `model` is replaced)
//! upstream-request.json  the body the gateway must send upstream (absent when no call is made)
//! client-response.json | client-stream.jsonl | client-error.json
//!                        what the client must receive: a body, the stream's chunks one per
//!                        line, or an error body (with status and gRPC code in case.yaml)
//! ```
//!
//! The upstream response is a fixture in `fixtures/upstream/` (named in `upstream.response`),
//! so every byte a provider "sends" is a recording, or a provider documentation example whose
//! `meta.json` cites the page. README.md documents every field.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::matrix::{FEATURES, GUARDS};

/// One loaded, validated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// `{provider}/{feature}/{name}`, also the model name the runner gives its deployment.
    pub id: String,
    pub provider: String,
    pub feature: String,
    pub spec: CaseSpec,
    pub client_request: Map<String, Value>,
    /// The body the gateway must send upstream; `None` when no upstream call is expected.
    pub upstream_body: Option<Value>,
    pub expected: Expected,
}

/// What the client must receive.
#[derive(Debug, Clone)]
pub enum Expected {
    Response(Value),
    Stream(Vec<Value>),
    Error(Value),
}

/// `case.yaml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    /// One line: what this case proves.
    pub description: String,
    /// Documentation pages the case (request expectations, or the whole case when nothing was
    /// recorded) was written from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub docs: Vec<String>,
    /// The provider lacks this feature: the gateway must answer with a clear error and call
    /// nothing upstream. Makes the matrix cell `unsupported` instead of `pass`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unsupported: bool,
    /// Which API the client calls; default from the feature (`embeddings*` -> embeddings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// Which front doors run the case; default both. A request the facade must reject
    /// before translation has no gRPC equivalent, so such cases run on `http` only.
    #[serde(default = "both_doors")]
    pub doors: Vec<Door>,
    /// The bug classes this case guards against (see `matrix::GUARDS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    /// The deployment's `params`, as in the gateway config. `{{replay}}` in a string becomes
    /// this case's base URL on the replay server; `api_key` defaults to `UPSTREAM_KEY`; a
    /// param that is exactly `{{credentials:NAME}}` becomes `fixtures/credentials/NAME.json`.
    pub deployment: Map<String, Value>,
    /// The OAuth2 token request the gateway makes before calling the provider (Vertex AI,
    /// Azure with Entra ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamSpec>,
    #[serde(default)]
    pub client: ClientSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Chat,
    Embeddings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    Http,
    Grpc,
}

impl Door {
    pub fn name(self) -> &'static str {
        match self {
            Door::Http => "http",
            Door::Grpc => "grpc",
        }
    }
}

fn both_doors() -> Vec<Door> {
    vec![Door::Http, Door::Grpc]
}

/// The upstream exchange: the request the gateway must send and the fixture that answers it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// How many upstream calls one client request makes (retries and fallbacks make more).
    #[serde(default = "one")]
    pub calls: usize,
    pub request: RequestSpec,
    /// The fixture that answers, `{provider}/{fixture}` under `fixtures/upstream/`.
    pub response: String,
}

/// A token exchange: the form the gateway must post and the fixture that answers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Token requests over the whole case (both doors): one, since the token is then cached;
    /// one per door when the token endpoint refuses.
    #[serde(default = "one")]
    pub calls: usize,
    pub request: RequestSpec,
    /// The form fields, exactly (placeholders allowed); a JWT `assertion` is compared decoded,
    /// as `{header, claims, signature}`.
    pub form: Value,
    /// The fixture that answers, `{provider}/{fixture}` under `fixtures/upstream/`.
    pub response: String,
}

fn one() -> usize {
    1
}

fn is_false(value: &bool) -> bool {
    !value
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub method: String,
    /// Path below the deployment's base URL's host part, e.g. `/v1/chat/completions`.
    pub path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    /// Headers that must be sent exactly once with this value (`{{any}}`: any value).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must not be sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub absent_headers: Vec<String>,
}

/// What the client must see besides the body.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// HTTP status on the facade; default 200 (or 400 for an `unsupported` case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// gRPC status code name on the gRPC door, e.g. `RESOURCE_EXHAUSTED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_code: Option<String>,
    /// Seconds the client is told to wait: `retry-after` on HTTP, `RetryInfo` on gRPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Case {
    pub fn endpoint(&self) -> Endpoint {
        self.spec
            .endpoint
            .unwrap_or(if self.feature.starts_with("embeddings") {
                Endpoint::Embeddings
            } else {
                Endpoint::Chat
            })
    }

    pub fn expected_calls(&self) -> usize {
        self.spec.upstream.as_ref().map_or(0, |u| u.calls)
    }

    pub fn expected_status(&self) -> u16 {
        self.spec.client.status.unwrap_or(match self.expected {
            Expected::Error(_) => 400,
            _ => 200,
        })
    }
}

/// Loads every case under `root` (`{provider}/{feature}/{name}/case.yaml`), sorted by id.
/// Any malformed case is an error naming its directory, so a typo never skips a case.
pub fn load_all(root: &Path) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for provider in sorted_dirs(root)? {
        for feature in sorted_dirs(&provider)? {
            for dir in sorted_dirs(&feature)? {
                cases.push(load(root, &dir).map_err(|e| format!("{}: {e}", dir.display()))?);
            }
        }
    }
    Ok(cases)
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Loads one case directory below `root`.
pub fn load(root: &Path, dir: &Path) -> Result<Case, String> {
    let id = dir
        .strip_prefix(root)
        .map_err(|_| "not below the cases root".to_string())?
        .to_string_lossy()
        .replace('\\', "/");
    let [provider, feature, _name] = id.split('/').collect::<Vec<_>>()[..] else {
        return Err("a case lives at {provider}/{feature}/{name}".into());
    };
    if !FEATURES.iter().any(|f| f.id == feature) {
        return Err(format!("unknown feature directory {feature:?}"));
    }
    let spec_text = read(&dir.join("case.yaml"))?;
    let mut spec: CaseSpec =
        serde_yaml_ng::from_str(&spec_text).map_err(|e| format!("case.yaml: {e}"))?;
    for value in spec.deployment.values_mut() {
        let name = value
            .as_str()
            .and_then(|s| s.strip_prefix("{{credentials:")?.strip_suffix("}}"));
        if let Some(name) = name {
            let file = root
                .join("../fixtures/credentials")
                .join(format!("{name}.json"));
            *value = read_json(&file)?;
        }
    }
    for guard in &spec.guards {
        if !GUARDS.iter().any(|g| g.id == guard) {
            return Err(format!("case.yaml: unknown guard {guard:?}"));
        }
    }
    let client_request = match read_json(&dir.join("client-request.json"))? {
        Value::Object(map) => map,
        _ => return Err("client-request.json is not a JSON object".into()),
    };
    let upstream_body = match &spec.upstream {
        Some(_) => Some(read_json(&dir.join("upstream-request.json"))?),
        None => None,
    };
    if spec.upstream.is_none() && spec.docs.is_empty() {
        return Err("a case without an upstream exchange must cite `docs`".into());
    }
    if spec.unsupported && spec.upstream.is_some() {
        return Err("an `unsupported` case must not call upstream".into());
    }
    let expected = expected(dir)?;
    if spec.unsupported && !matches!(expected, Expected::Error(_)) {
        return Err("an `unsupported` case expects client-error.json".into());
    }
    Ok(Case {
        id: id.clone(),
        provider: provider.to_string(),
        feature: feature.to_string(),
        spec,
        client_request,
        upstream_body,
        expected,
    })
}

fn expected(dir: &Path) -> Result<Expected, String> {
    let response = dir.join("client-response.json");
    let stream = dir.join("client-stream.jsonl");
    let error = dir.join("client-error.json");
    match (response.exists(), stream.exists(), error.exists()) {
        (true, false, false) => Ok(Expected::Response(read_json(&response)?)),
        (false, true, false) => {
            let chunks = read(&stream)?
                .lines()
                .filter(|line| !line.trim().is_empty())
                .enumerate()
                .map(|(i, line)| {
                    serde_json::from_str(line)
                        .map_err(|e| format!("client-stream.jsonl line {}: {e}", i + 1))
                })
                .collect::<Result<_, _>>()?;
            Ok(Expected::Stream(chunks))
        }
        (false, false, true) => Ok(Expected::Error(read_json(&error)?)),
        _ => Err(
            "exactly one of client-response.json, client-stream.jsonl, client-error.json".into(),
        ),
    }
}

pub(crate) fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    serde_json::from_str(&read(path)?).map_err(|e| format!("{name}: {e}"))
}
