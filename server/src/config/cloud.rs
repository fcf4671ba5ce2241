//! Cloud credentials of the providers that sign or exchange them rather than
//! send a static key: AWS (Bedrock, SigV4), Google Cloud (Vertex AI,
//! service-account or authorized-user credentials traded for OAuth2 tokens)
//! and Microsoft Entra ID (Azure OpenAI, client credentials traded for OAuth2
//! tokens). Parameter and environment-variable names are LiteLLM's and the
//! clouds' own SDKs', so existing configs and machines work unchanged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use super::{ConfigError, RawDeploymentParams, Secret, resolve_plain, resolve_secret};
use crate::providers::ProviderKind;
use crate::providers::http::{endpoint, host_ip};
use crate::providers::oauth::SigningKey;

/// A Bedrock deployment's region and, for SigV4 signing, where its
/// credentials come from.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsSettings {
    pub region: String,
    pub credentials: Option<AwsCredentialSource>,
}

/// Where SigV4 credentials come from, in the order AWS's SDKs look.
#[derive(Debug, Clone, PartialEq)]
pub enum AwsCredentialSource {
    /// Access keys from the params or `AWS_ACCESS_KEY_ID` and friends.
    Keys(AwsCredentials),
    /// A role's temporary keys, fetched and renewed before they expire.
    Role(AwsRole),
}

/// Where a role's temporary keys are fetched.
#[derive(Debug, Clone, PartialEq)]
pub enum AwsRole {
    /// A web identity token (EKS IAM roles for service accounts) traded at
    /// STS for a role's temporary keys. The file is read at each trade: the
    /// kubelet rotates it.
    WebIdentity {
        role_arn: String,
        token_file: PathBuf,
        session_name: String,
        sts_url: String,
    },
    /// The container credentials endpoint: ECS task roles and EKS Pod
    /// Identity. The token file, when set, is read at each fetch.
    Container {
        url: String,
        token: Option<Secret>,
        token_file: Option<PathBuf>,
    },
    /// The EC2 instance profile, from the instance metadata service
    /// (IMDSv2) at `endpoint`.
    InstanceProfile { endpoint: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

/// A Vertex AI deployment's Google Cloud project and location (both are in
/// its URLs).
#[derive(Debug, Clone, PartialEq)]
pub struct VertexSettings {
    pub project: String,
    pub location: String,
}

/// Where and with what a deployment gets OAuth2 access tokens.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    pub token_url: String,
    pub grant: OAuthGrant,
}

#[derive(Debug, Clone)]
pub enum OAuthGrant {
    /// A Google service account signs a JWT and trades it for a token
    /// (RFC 7523).
    ServiceAccount {
        client_email: String,
        key_id: Option<String>,
        key: SigningKey,
        scope: String,
    },
    /// A Google authorized user (`gcloud auth application-default login`)
    /// trades its refresh token (RFC 6749 section 6).
    RefreshToken {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
    },
    /// Google Cloud's metadata server (GCE, GKE, Cloud Run) hands out the
    /// attached service account's tokens to a GET from the machine itself.
    MetadataServer,
    /// An Entra ID app trades its client secret (RFC 6749 section 4.4).
    ClientCredentials {
        client_id: String,
        client_secret: Secret,
        scope: String,
    },
}

/// Google's token endpoint, when the credentials file names none.
const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// Google Cloud's metadata server, unless `GCE_METADATA_HOST` names another
/// host (as Google's client libraries read it).
pub const GOOGLE_METADATA_HOST: &str = "metadata.google.internal";
/// What Vertex AI calls need.
const GOOGLE_CLOUD_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// LiteLLM's default location.
const DEFAULT_VERTEX_LOCATION: &str = "us-central1";
const ENTRA_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// Azure OpenAI's resource scope.
const AZURE_OPENAI_SCOPE: &str = "https://cognitiveservices.azure.com/.default";

/// A Google credentials JSON file (`gcloud` and the Cloud console write
/// them): a service account or an authorized user.
#[derive(Deserialize)]
struct GoogleCredentialsFile {
    #[serde(rename = "type")]
    kind: String,
    project_id: Option<String>,
    token_uri: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// Errors for provider-specific params set on another provider's deployment.
fn only_for(
    provider: ProviderKind,
    wanted: ProviderKind,
    set: &[(&str, bool)],
    at: &str,
) -> Result<(), ConfigError> {
    match set.iter().find(|(_, is_set)| *is_set) {
        Some((name, _)) if provider != wanted => Err(ConfigError::new(
            format!("{at}.params.{name}"),
            format!("is for {} deployments only", wanted.name()),
        )),
        _ => Ok(()),
    }
}

/// A plain param (resolving `os.environ/`), else the first of `vars` set.
fn param_or_env(
    value: &Option<String>,
    name: &str,
    vars: &[&str],
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) => resolve_plain(v, &format!("{at}.params.{name}"), env).map(Some),
        None => Ok(vars.iter().find_map(|var| env(var))),
    }
}

/// Bedrock's region and signing keys, from the params or the AWS
/// environment variables; other providers may not set them.
pub(super) fn aws_settings(
    params: &RawDeploymentParams,
    provider: ProviderKind,
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AwsSettings>, ConfigError> {
    let set = [
        ("aws_region_name", params.aws_region_name.is_some()),
        ("aws_access_key_id", params.aws_access_key_id.is_some()),
        (
            "aws_secret_access_key",
            params.aws_secret_access_key.is_some(),
        ),
        ("aws_session_token", params.aws_session_token.is_some()),
    ];
    only_for(provider, ProviderKind::Bedrock, &set, at)?;
    if provider != ProviderKind::Bedrock {
        return Ok(None);
    }
    let plain = |value: &Option<String>, name: &str, vars: &[&str]| {
        param_or_env(value, name, vars, at, env)
    };
    let region = plain(
        &params.aws_region_name,
        "aws_region_name",
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
    )?
    .ok_or_else(|| {
        ConfigError::new(
            format!("{at}.params.aws_region_name"),
            "bedrock needs a region: set aws_region_name or AWS_REGION",
        )
    })?;
    let access_key_id = plain(
        &params.aws_access_key_id,
        "aws_access_key_id",
        &["AWS_ACCESS_KEY_ID"],
    )?;
    let secret = |value: &Option<String>, name: &str, var: &str| match value {
        Some(v) => resolve_secret(v, &format!("{at}.params.{name}"), env).map(Some),
        None => Ok(env(var).map(Secret::new)),
    };
    let secret_access_key = secret(
        &params.aws_secret_access_key,
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
    )?;
    let session_token = secret(
        &params.aws_session_token,
        "aws_session_token",
        "AWS_SESSION_TOKEN",
    )?;
    let credentials = match (access_key_id, secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => {
            Some(AwsCredentialSource::Keys(AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token,
            }))
        }
        (None, None) => aws_role_credentials(&region, at, env)?.map(AwsCredentialSource::Role),
        (Some(_), None) => {
            return Err(ConfigError::new(
                format!("{at}.params.aws_secret_access_key"),
                "is missing while aws_access_key_id is set",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                format!("{at}.params.aws_access_key_id"),
                "is missing while aws_secret_access_key is set",
            ));
        }
    };
    Ok(Some(AwsSettings {
        region,
        credentials,
    }))
}

/// The ECS container credentials endpoint's host, for a relative URI, and
/// EKS Pod Identity's agent (IPv4 and IPv6).
const ECS_AGENT: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 2);
const EKS_POD_IDENTITY_AGENT: Ipv4Addr = Ipv4Addr::new(169, 254, 170, 23);
const EKS_POD_IDENTITY_AGENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23);

/// The EC2 instance metadata service over IPv4, and over IPv6 (Nitro
/// instances, when `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
const EC2_METADATA_ENDPOINT: &str = "http://169.254.169.254";
const EC2_METADATA_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";

/// The temporary credentials of a role the pod, task or instance is given,
/// as AWS's SDKs find them where no keys are set, in their order: a web
/// identity token (EKS IAM roles for service accounts), the container
/// endpoint (ECS task roles, EKS Pod Identity), then the EC2 instance
/// profile.
fn aws_role_credentials(
    region: &str,
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<AwsRole>, ConfigError> {
    if let (Some(role_arn), Some(token_file)) =
        (env("AWS_ROLE_ARN"), env("AWS_WEB_IDENTITY_TOKEN_FILE"))
    {
        let sts_url = env("AWS_ENDPOINT_URL_STS")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        return Ok(Some(AwsRole::WebIdentity {
            role_arn,
            token_file: token_file.into(),
            session_name: env("AWS_ROLE_SESSION_NAME")
                .unwrap_or_else(|| format!("switchboard-{}", crate::providers::unix_now())),
            sts_url: sts_url.trim_end_matches('/').to_owned(),
        }));
    }
    let container_url = match (
        env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ) {
        (Some(relative), _) => Some(format!("http://{ECS_AGENT}{relative}")),
        (None, Some(full)) => Some(container_full_uri(full, at)?),
        (None, None) => None,
    };
    if let Some(url) = container_url {
        return Ok(Some(AwsRole::Container {
            url,
            token: env("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret::new),
            token_file: env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
        }));
    }
    let imds = instance_metadata_endpoint(at, env, on_ec2)?;
    Ok(imds.map(|endpoint| AwsRole::InstanceProfile { endpoint }))
}

/// The instance metadata service's base URL, as AWS's SDKs choose it:
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` (which also makes it tried where
/// `on_ec2` says no), else the IPv4 or IPv6 default on EC2;
/// `AWS_EC2_METADATA_DISABLED=true` turns it off.
fn instance_metadata_endpoint(
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
    on_ec2: impl FnOnce() -> bool,
) -> Result<Option<String>, ConfigError> {
    if is_true(env, "AWS_EC2_METADATA_DISABLED") {
        return Ok(None);
    }
    let error = |message: &str| ConfigError::new(format!("{at}.params"), message);
    if let Some(url) = env("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
        endpoint(&url)
            .ok_or_else(|| error("AWS_EC2_METADATA_SERVICE_ENDPOINT is not an http:// URL"))?;
        return Ok(Some(url.trim_end_matches('/').to_owned()));
    }
    if !on_ec2() {
        return Ok(None);
    }
    let endpoint = match env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE") {
        None => EC2_METADATA_ENDPOINT,
        Some(mode) if mode.eq_ignore_ascii_case("ipv4") => EC2_METADATA_ENDPOINT,
        Some(mode) if mode.eq_ignore_ascii_case("ipv6") => EC2_METADATA_ENDPOINT_IPV6,
        Some(_) => {
            return Err(error(
                "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6",
            ));
        }
    };
    Ok(Some(endpoint.to_owned()))
}

/// Whether this process runs on an EC2 instance, told from the machine's
/// firmware as AWS documents it, without a network probe: the system
/// vendor on Nitro instances, the hypervisor's UUID on Xen ones (or, where
/// the kernel does not show it, their BIOS version, `4.11.amazon`). Anywhere
/// else the metadata service is not tried (unless its endpoint is set), so
/// a deployment without credentials fails at start rather than at its
/// first request.
fn on_ec2() -> bool {
    ec2_firmware(|path| std::fs::read_to_string(path).unwrap_or_default())
}

/// [`on_ec2`], with the files read by `read`.
fn ec2_firmware(read: impl Fn(&str) -> String) -> bool {
    read("/sys/class/dmi/id/sys_vendor").trim() == "Amazon EC2"
        || read("/sys/hypervisor/uuid")
            .to_ascii_lowercase()
            .starts_with("ec2")
        || read("/sys/class/dmi/id/bios_version")
            .trim()
            .ends_with(".amazon")
}

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, which the SDKs take over plain
/// HTTP only to the machine itself or the ECS and EKS agents' link-local
/// addresses: anywhere else the authorization token would travel in clear.
fn container_full_uri(full: String, at: &str) -> Result<String, ConfigError> {
    let uri = endpoint(&full).ok_or_else(|| {
        ConfigError::new(
            format!("{at}.params"),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http:// or https:// URL",
        )
    })?;
    let host = uri.host().unwrap_or_default();
    let local = match host_ip(host) {
        Some(IpAddr::V4(ip)) => ip.is_loopback() || ip == ECS_AGENT || ip == EKS_POD_IDENTITY_AGENT,
        Some(IpAddr::V6(ip)) => ip.is_loopback() || ip == EKS_POD_IDENTITY_AGENT_V6,
        None => host == "localhost",
    };
    if uri.scheme_str() == Some("https") || local {
        Ok(full)
    } else {
        Err(ConfigError::new(
            format!("{at}.params"),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https:// or name this machine \
             or the ECS or EKS credentials agent",
        ))
    }
}

/// Vertex AI's project, location and credentials, from the params, the
/// Google Cloud environment variables, or gcloud's application-default
/// credentials file. `None` for express mode: an `api_key` alone, at
/// Google's global endpoint, with no project, location or token.
pub(super) fn vertex_settings(
    params: &RawDeploymentParams,
    provider: ProviderKind,
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(VertexSettings, OAuthSettings)>, ConfigError> {
    let set = [
        ("vertex_project", params.vertex_project.is_some()),
        ("vertex_location", params.vertex_location.is_some()),
        ("vertex_credentials", params.vertex_credentials.is_some()),
    ];
    only_for(provider, ProviderKind::Vertex, &set, at)?;
    if provider != ProviderKind::Vertex {
        return Ok(None);
    }
    let path = |name: &str| format!("{at}.params.{name}");
    if params.api_key.is_some() {
        return match set.iter().find(|(_, is_set)| *is_set) {
            Some((name, _)) => Err(ConfigError::new(
                path(name),
                "express mode (api_key) has no project, location or credentials; \
                 set either api_key or the vertex_* params",
            )),
            None => Ok(None),
        };
    }
    let (oauth, file_project) = google_credentials(params, at, env)?.unwrap_or_else(|| {
        let token_url = metadata_token_url(env);
        let grant = OAuthGrant::MetadataServer;
        (OAuthSettings { token_url, grant }, None)
    });
    let plain = |value: &Option<String>, name: &str, vars: &[&str]| {
        param_or_env(value, name, vars, at, env)
    };
    let project = plain(
        &params.vertex_project,
        "vertex_project",
        &["VERTEXAI_PROJECT", "GOOGLE_CLOUD_PROJECT"],
    )?
    .or(file_project)
    .ok_or_else(|| {
        ConfigError::new(
            path("vertex_project"),
            "vertex_ai needs a project: set vertex_project or VERTEXAI_PROJECT",
        )
    })?;
    let location = plain(
        &params.vertex_location,
        "vertex_location",
        &["VERTEXAI_LOCATION", "GOOGLE_CLOUD_LOCATION"],
    )?
    .unwrap_or_else(|| DEFAULT_VERTEX_LOCATION.to_owned());
    Ok(Some((VertexSettings { project, location }, oauth)))
}

/// The token settings and project of the Google credentials found, in
/// the order Google's client libraries look: `vertex_credentials`,
/// `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's application-default file.
/// `None` on Google Cloud without any of them: the metadata server then
/// hands out the attached service account's tokens.
fn google_credentials(
    params: &RawDeploymentParams,
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(OAuthSettings, Option<String>)>, ConfigError> {
    let credentials_path = format!("{at}.params.vertex_credentials");
    let (text, source) = match &params.vertex_credentials {
        Some(Value::String(value)) => {
            let value = resolve_plain(value, &credentials_path, env)?;
            if value.trim_start().starts_with('{') {
                (value, credentials_path.clone())
            } else {
                read_file(&value, &credentials_path)?
            }
        }
        Some(Value::Object(fields)) => (
            Value::Object(fields.clone()).to_string(),
            credentials_path.clone(),
        ),
        Some(_) => {
            return Err(ConfigError::new(
                &credentials_path,
                "must be a file path, JSON text or a mapping",
            ));
        }
        None => {
            let well_known = env("HOME").map(|home| {
                PathBuf::from(home).join(".config/gcloud/application_default_credentials.json")
            });
            match (env("GOOGLE_APPLICATION_CREDENTIALS"), well_known) {
                (Some(file), _) => read_file(&file, "GOOGLE_APPLICATION_CREDENTIALS")?,
                (None, Some(file)) if file.is_file() => {
                    read_file(&file.to_string_lossy(), &credentials_path)?
                }
                _ if on_google_cloud(env) => return Ok(None),
                _ => {
                    return Err(ConfigError::new(
                        &credentials_path,
                        "vertex_ai needs credentials: vertex_credentials (a service-account \
                         JSON file, its text, or a mapping), GOOGLE_APPLICATION_CREDENTIALS, \
                         `gcloud auth application-default login`, Google Cloud's metadata \
                         server (on GCE, GKE or Cloud Run), or an express-mode api_key",
                    ));
                }
            }
        }
    };
    let file: GoogleCredentialsFile = serde_json::from_str(&text)
        .map_err(|e| ConfigError::new(&source, format!("not a Google credentials file: {e}")))?;
    let field = |value: &Option<String>, name: &str| {
        value.clone().ok_or_else(|| {
            ConfigError::new(&source, format!("{} credentials lack `{name}`", file.kind))
        })
    };
    let grant = match file.kind.as_str() {
        "service_account" => OAuthGrant::ServiceAccount {
            client_email: field(&file.client_email, "client_email")?,
            key_id: file.private_key_id.clone(),
            key: SigningKey::from_pem(&field(&file.private_key, "private_key")?)
                .map_err(|e| ConfigError::new(&source, e))?,
            scope: GOOGLE_CLOUD_SCOPE.to_owned(),
        },
        "authorized_user" => OAuthGrant::RefreshToken {
            client_id: field(&file.client_id, "client_id")?,
            client_secret: Secret::new(field(&file.client_secret, "client_secret")?),
            refresh_token: Secret::new(field(&file.refresh_token, "refresh_token")?),
        },
        other => {
            return Err(ConfigError::new(
                &source,
                format!(
                    "credentials of type `{other}` are not supported; use a service account \
                     or authorized-user credentials"
                ),
            ));
        }
    };
    let token_url = file
        .token_uri
        .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_owned());
    Ok(Some((OAuthSettings { token_url, grant }, file.project_id)))
}

/// Whether this process runs on Google Cloud, where a metadata server
/// answers, told as Google's client libraries tell it without a network
/// probe: `GCE_METADATA_HOST` set, Cloud Run's variables, or a machine
/// whose firmware names Google (GCE, and GKE's nodes). `NO_GCE_CHECK=true`
/// says no, as it does to Google's libraries.
fn on_google_cloud(env: &impl Fn(&str) -> Option<String>) -> bool {
    if is_true(env, "NO_GCE_CHECK") {
        return false;
    }
    ["GCE_METADATA_HOST", "K_SERVICE", "CLOUD_RUN_JOB"]
        .iter()
        .any(|var| env(var).is_some())
        || std::fs::read_to_string("/sys/class/dmi/id/product_name")
            .is_ok_and(|name| name.starts_with("Google"))
}

/// Whether the environment variable `name` says `true` (in any case), as
/// the clouds' SDKs read their switches.
fn is_true(env: &impl Fn(&str) -> Option<String>, name: &str) -> bool {
    env(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The metadata server's token URL for the default service account, with
/// the scope Vertex AI calls need.
fn metadata_token_url(env: &impl Fn(&str) -> Option<String>) -> String {
    let host = env("GCE_METADATA_HOST").unwrap_or_else(|| GOOGLE_METADATA_HOST.to_owned());
    let scopes: String = form_urlencoded::byte_serialize(GOOGLE_CLOUD_SCOPE.as_bytes()).collect();
    format!(
        "http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={scopes}"
    )
}

/// The text of the credentials file `file`, and its name (for the errors
/// in it). Not found, the name is not repeated: it may be no file name at
/// all but the credentials themselves in a form not recognized (base64,
/// say), and config errors are printed.
fn read_file(file: &str, path: &str) -> Result<(String, String), ConfigError> {
    std::fs::read_to_string(file)
        .map(|text| (text, file.to_owned()))
        .map_err(|e| ConfigError::new(path, format!("cannot read the file it names: {e}")))
}

/// Azure OpenAI's Entra ID app (`tenant_id`, `client_id`, `client_secret`),
/// when the deployment authenticates with tokens instead of `api_key`.
pub(super) fn entra_settings(
    params: &RawDeploymentParams,
    provider: ProviderKind,
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<OAuthSettings>, ConfigError> {
    let set = [
        ("tenant_id", params.tenant_id.is_some()),
        ("client_id", params.client_id.is_some()),
        ("client_secret", params.client_secret.is_some()),
        (
            "azure_authority_host",
            params.azure_authority_host.is_some(),
        ),
        ("azure_scope", params.azure_scope.is_some()),
    ];
    only_for(provider, ProviderKind::Azure, &set, at)?;
    if !set[..3].iter().any(|(_, is_set)| *is_set) {
        return Ok(None);
    }
    let path = |name: &str| format!("{at}.params.{name}");
    if params.api_key.is_some() {
        return Err(ConfigError::new(
            path("api_key"),
            "set either api_key or tenant_id + client_id + client_secret (Entra ID), not both",
        ));
    }
    let required = |value: &Option<String>, name: &str| {
        let value = value.as_deref().ok_or_else(|| {
            ConfigError::new(
                path(name),
                "is missing: Entra ID needs tenant_id, client_id and client_secret",
            )
        })?;
        resolve_plain(value, &path(name), env)
    };
    let tenant_id = required(&params.tenant_id, "tenant_id")?;
    let client_id = required(&params.client_id, "client_id")?;
    let client_secret = Secret::new(required(&params.client_secret, "client_secret")?);
    let optional = |value: &Option<String>, name: &str, default: &str| match value {
        Some(v) => resolve_plain(v, &path(name), env),
        None => Ok(default.to_owned()),
    };
    let authority = optional(
        &params.azure_authority_host,
        "azure_authority_host",
        &env("AZURE_AUTHORITY_HOST").unwrap_or_else(|| ENTRA_AUTHORITY_HOST.to_owned()),
    )?;
    let scope = optional(&params.azure_scope, "azure_scope", AZURE_OPENAI_SCOPE)?;
    let token_url = format!(
        "{}/{tenant_id}/oauth2/v2.0/token",
        authority.trim_end_matches('/')
    );
    if endpoint(&token_url).is_none() {
        return Err(ConfigError::new(
            path("azure_authority_host"),
            format!("`{authority}` is not a URL"),
        ));
    }
    Ok(Some(OAuthSettings {
        token_url,
        grant: OAuthGrant::ClientCredentials {
            client_id,
            client_secret,
            scope,
        },
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::Config;
    use super::{
        AwsCredentialSource, AwsRole, OAuthGrant, ec2_firmware, instance_metadata_endpoint,
    };

    /// Bedrock's region and keys come from the params or the AWS variables.
    #[test]
    fn bedrock_settings_from_params_or_environment() {
        let yaml = "model_list: [{model_name: a, params: {model: bedrock/x}}]";
        let env = |name: &str| match name {
            "AWS_DEFAULT_REGION" => Some("eu-west-1".to_owned()),
            "AWS_ACCESS_KEY_ID" => Some("AKID".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        let config = Config::from_yaml(yaml, env).expect("loads");
        let aws = config.deployments[0].aws.clone().expect("bedrock settings");
        assert_eq!(aws.region, "eu-west-1");
        let Some(AwsCredentialSource::Keys(credentials)) = aws.credentials else {
            panic!("keys expected: {:?}", aws.credentials);
        };
        assert_eq!(
            (
                credentials.access_key_id.as_str(),
                credentials.secret_access_key.expose()
            ),
            ("AKID", "secret")
        );
        assert_eq!(credentials.session_token, None);
    }

    /// Without keys, a role is found as AWS's SDKs find it: a web identity
    /// first, then the container endpoint (relative URI before full URI,
    /// a full URI over plain HTTP only to this machine or the agents),
    /// then the instance metadata service (unless disabled). Keys, when
    /// set, win over any role.
    #[test]
    fn bedrock_role_credentials_from_the_environment() {
        let source = |vars: &[(&str, &str)]| {
            let env = |name: &str| {
                (name == "AWS_REGION")
                    .then(|| "us-west-2".to_owned())
                    .or_else(|| {
                        vars.iter()
                            .find(|(n, _)| *n == name)
                            .map(|(_, v)| (*v).to_owned())
                    })
            };
            let yaml = "model_list: [{model_name: a, params: {model: bedrock/x}}]";
            Config::from_yaml(yaml, env)
                .map(|c| c.deployments[0].aws.clone().and_then(|a| a.credentials))
        };
        let web_identity = [
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/r"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_SESSION_NAME", "s"),
        ];
        assert_eq!(
            source(&web_identity).expect("loads"),
            Some(AwsCredentialSource::Role(AwsRole::WebIdentity {
                role_arn: "arn:aws:iam::1:role/r".into(),
                token_file: "/var/run/token".into(),
                session_name: "s".into(),
                sts_url: "https://sts.us-west-2.amazonaws.com".into(),
            }))
        );
        let relative = (
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "/v2/credentials/abc",
        );
        let pod_identity = (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://169.254.170.23/v1/credentials",
        );
        let token_file = (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "/var/run/pod-token",
        );
        assert_eq!(
            source(&[relative, pod_identity]).expect("loads"),
            Some(AwsCredentialSource::Role(AwsRole::Container {
                url: "http://169.254.170.2/v2/credentials/abc".into(),
                token: None,
                token_file: None,
            }))
        );
        assert_eq!(
            source(&[pod_identity, token_file]).expect("loads"),
            Some(AwsCredentialSource::Role(AwsRole::Container {
                url: "http://169.254.170.23/v1/credentials".into(),
                token: None,
                token_file: Some("/var/run/pod-token".into()),
            }))
        );
        for allowed in [
            "http://127.0.0.1:9000/c",
            "http://[fd00:ec2::23]/c",
            "https://creds.example.com/c",
        ] {
            let full = ("AWS_CONTAINER_CREDENTIALS_FULL_URI", allowed);
            assert!(source(&[full]).is_ok(), "{allowed}");
        }
        let elsewhere = (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "http://creds.example.com/c",
        );
        let error = source(&[elsewhere]).expect_err("refused");
        assert!(error.message.contains("must be https://"), "{error}");

        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ];
        let both: Vec<_> = keys.iter().chain(&web_identity).copied().collect();
        assert!(matches!(
            source(&both).expect("loads"),
            Some(AwsCredentialSource::Keys(_))
        ));

        let imds = (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "http://127.0.0.1:1338/",
        );
        let instance_profile = |endpoint: &str| {
            Some(AwsCredentialSource::Role(AwsRole::InstanceProfile {
                endpoint: endpoint.into(),
            }))
        };
        assert_eq!(
            source(&[imds]).expect("loads"),
            instance_profile("http://127.0.0.1:1338")
        );
        assert!(matches!(
            source(&[imds, relative]).expect("loads"),
            Some(AwsCredentialSource::Role(AwsRole::Container { .. }))
        ));
        let disabled = ("AWS_EC2_METADATA_DISABLED", "TRUE");
        let error = source(&[imds, disabled]).expect_err("no credentials");
        assert!(
            error.message.contains("AWS_WEB_IDENTITY_TOKEN_FILE"),
            "{error}"
        );
        let not_a_url = ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254");
        let error = source(&[not_a_url]).expect_err("refused");
        assert!(error.message.contains("not an http:// URL"), "{error}");
    }

    /// EC2 is told from any of the firmware's three marks: Nitro's vendor,
    /// Xen's hypervisor UUID or its BIOS version. Other clouds and
    /// machines are not EC2.
    #[test]
    fn ec2_is_told_from_the_firmware() {
        let machine = |files: &[(&str, &str)]| {
            let files: HashMap<String, String> = files
                .iter()
                .map(|(path, text)| (format!("/sys/{path}"), format!("{text}\n")))
                .collect();
            ec2_firmware(|path| files.get(path).cloned().unwrap_or_default())
        };
        assert!(machine(&[("class/dmi/id/sys_vendor", "Amazon EC2")]));
        assert!(machine(&[(
            "hypervisor/uuid",
            "ec2e1916-9099-7caf-fd21-012345abcdef"
        )]));
        assert!(machine(&[("class/dmi/id/bios_version", "4.11.amazon")]));
        assert!(!machine(&[("class/dmi/id/sys_vendor", "Google")]));
        assert!(!machine(&[(
            "hypervisor/uuid",
            "2d1e4a1c-0000-0000-0000-000000000000"
        )]));
        assert!(!machine(&[(
            "class/dmi/id/bios_version",
            "1.16.3-debian-1.16.3-2"
        )]));
        assert!(!machine(&[]));
    }

    /// On EC2 the metadata service's address follows the endpoint mode;
    /// elsewhere it is not tried unless its endpoint is set.
    #[test]
    fn instance_metadata_endpoints() {
        let endpoint = |vars: &[(&str, &str)], on_ec2: bool| {
            let env = |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            instance_metadata_endpoint("at", &env, || on_ec2)
        };
        let mode = |value| [("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", value)];
        let found = |url: &str| Some(url.to_owned());
        assert_eq!(
            endpoint(&[], true).unwrap(),
            found("http://169.254.169.254")
        );
        assert_eq!(
            endpoint(&mode("IPv4"), true).unwrap(),
            found("http://169.254.169.254")
        );
        assert_eq!(
            endpoint(&mode("IPv6"), true).unwrap(),
            found("http://[fd00:ec2::254]")
        );
        assert_eq!(endpoint(&[], false).unwrap(), None);
        let error = endpoint(&mode("dual"), true).expect_err("refused");
        assert!(error.message.contains("IPv4 or IPv6"), "{error}");
        let disabled = [("AWS_EC2_METADATA_DISABLED", "true")];
        assert_eq!(endpoint(&disabled, true).unwrap(), None);
    }

    fn service_account(token_uri: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "service_account",
            "project_id": "from-key-file",
            "private_key_id": "kid-1",
            "private_key": crate::providers::oauth::tests::TEST_KEY,
            "client_email": "sa@from-key-file.iam.gserviceaccount.com",
            "token_uri": token_uri,
        })
    }

    fn vertex_yaml(credentials: &serde_json::Value, extra: &str) -> String {
        format!(
            "model_list: [{{model_name: a, params: {{model: vertex_ai/gemini-2.0-flash, vertex_credentials: {credentials}{extra}}}}}]"
        )
    }

    /// Express mode: an API key alone, no project, location or token source.
    #[test]
    fn vertex_express_mode_from_api_key() {
        let yaml = "model_list: [{model_name: a, params: {model: vertex_ai/gemini-2.5-flash, api_key: os.environ/VERTEX_EXPRESS_KEY}}]";
        let env = |name: &str| (name == "VERTEX_EXPRESS_KEY").then(|| "AQ.express".to_owned());
        let config = Config::from_yaml(yaml, env).expect("loads");
        let deployment = &config.deployments[0];
        assert!(deployment.vertex.is_none());
        assert!(deployment.oauth.is_none());
        assert_eq!(
            deployment.api_key.as_ref().map(|k| k.expose()),
            Some("AQ.express")
        );
    }

    /// A service-account key file given inline: the project comes from it,
    /// the location defaults to LiteLLM's, tokens come from its token_uri.
    #[test]
    fn vertex_from_service_account() {
        let yaml = vertex_yaml(&service_account("https://tokens.example/token"), "");
        let config = Config::from_yaml(&yaml, |_| None).expect("loads");
        let deployment = &config.deployments[0];
        let vertex = deployment.vertex.clone().expect("vertex settings");
        assert_eq!(vertex.project, "from-key-file");
        assert_eq!(vertex.location, "us-central1");
        let oauth = deployment.oauth.clone().expect("oauth settings");
        assert_eq!(oauth.token_url, "https://tokens.example/token");
        let OAuthGrant::ServiceAccount {
            client_email,
            key_id,
            scope,
            ..
        } = oauth.grant
        else {
            panic!("a service-account grant expected");
        };
        assert_eq!(client_email, "sa@from-key-file.iam.gserviceaccount.com");
        assert_eq!(key_id.as_deref(), Some("kid-1"));
        assert_eq!(scope, "https://www.googleapis.com/auth/cloud-platform");
        assert!(deployment.api_key.is_none());
    }

    /// Params beat the environment, the environment beats the key file;
    /// GOOGLE_APPLICATION_CREDENTIALS is read as a path.
    #[test]
    fn vertex_from_environment() {
        let dir = std::env::temp_dir().join(format!("sb-vertex-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("key.json");
        std::fs::write(
            &file,
            service_account("https://t.example/token").to_string(),
        )
        .unwrap();
        let file_name = file.to_string_lossy().into_owned();
        let env = |name: &str| match name {
            "GOOGLE_APPLICATION_CREDENTIALS" => Some(file_name.clone()),
            "VERTEXAI_PROJECT" => Some("from-env".to_owned()),
            "GOOGLE_CLOUD_LOCATION" => Some("europe-west4".to_owned()),
            _ => None,
        };
        let yaml = "model_list: [{model_name: a, params: {model: vertex_ai/m}}]";
        let vertex = Config::from_yaml(yaml, env).expect("loads").deployments[0]
            .vertex
            .clone()
            .unwrap();
        assert_eq!(
            (vertex.project.as_str(), vertex.location.as_str()),
            ("from-env", "europe-west4")
        );
        let yaml = "model_list: [{model_name: a, params: {model: vertex_ai/m, vertex_project: p, vertex_location: global}}]";
        let vertex = Config::from_yaml(yaml, env).expect("loads").deployments[0]
            .vertex
            .clone()
            .unwrap();
        assert_eq!(
            (vertex.project.as_str(), vertex.location.as_str()),
            ("p", "global")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// On Google Cloud without a credentials file, tokens come from the
    /// metadata server (at `GCE_METADATA_HOST` when set), scoped for Vertex
    /// AI; the project must then be named, as no key file names it.
    #[test]
    fn vertex_from_the_metadata_server() {
        let yaml = "model_list: [{model_name: a, params: {model: vertex_ai/m}}]";
        let env = |name: &str| match name {
            "GCE_METADATA_HOST" => Some("127.0.0.1:8080".to_owned()),
            "GOOGLE_CLOUD_PROJECT" => Some("from-env".to_owned()),
            _ => None,
        };
        let deployment = &Config::from_yaml(yaml, env).expect("loads").deployments[0];
        let oauth = deployment.oauth.clone().expect("token settings");
        assert!(matches!(oauth.grant, OAuthGrant::MetadataServer));
        assert_eq!(
            oauth.token_url,
            "http://127.0.0.1:8080/computeMetadata/v1/instance/service-accounts/default/token\
             ?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
        );
        assert_eq!(deployment.vertex.clone().unwrap().project, "from-env");

        let without_project = |name: &str| (name == "K_SERVICE").then(|| "gateway".to_owned());
        let error = Config::from_yaml(yaml, without_project).expect_err("no project");
        assert_eq!(error.path, "model_list[0].params.vertex_project");
        let told_no = |name: &str| match name {
            "GCE_METADATA_HOST" => Some("127.0.0.1:8080".to_owned()),
            "NO_GCE_CHECK" => Some("True".to_owned()),
            _ => None,
        };
        let error = Config::from_yaml(yaml, told_no).expect_err("no credentials");
        assert!(error.message.contains("needs credentials"), "{error}");
    }

    /// An Entra ID app: the token URL is built from the authority and
    /// tenant, and a key in the environment is not sent alongside.
    #[test]
    fn entra_client_credentials() {
        let yaml = "model_list: [{model_name: a, params: {model: azure/gpt-4o, api_base: 'https://r.openai.azure.com', tenant_id: t-1, client_id: c-1, client_secret: os.environ/SECRET}}]";
        let env = |name: &str| match name {
            "SECRET" => Some("s3cret".to_owned()),
            "AZURE_API_KEY" => Some("key-for-other-deployments".to_owned()),
            _ => None,
        };
        let deployment = &Config::from_yaml(yaml, env).expect("loads").deployments[0];
        assert!(deployment.api_key.is_none());
        let oauth = deployment.oauth.clone().expect("entra settings");
        assert_eq!(
            oauth.token_url,
            "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
        );
        let OAuthGrant::ClientCredentials {
            client_id,
            client_secret,
            scope,
        } = oauth.grant
        else {
            panic!("a client-credentials grant expected");
        };
        assert_eq!(
            (client_id.as_str(), client_secret.expose(), scope.as_str()),
            (
                "c-1",
                "s3cret",
                "https://cognitiveservices.azure.com/.default"
            )
        );
    }

    /// Every rejection names the field that caused it.
    #[test]
    fn cloud_errors_carry_the_field_path() {
        let key = service_account("https://t.example/token");
        let mut user = key.clone();
        user["type"] = "external_account".into();
        let mut bad_key = key.clone();
        bad_key["private_key"] =
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        let cases = [
            (
                "model_list: [{model_name: a, params: {model: vertex_ai/m}}]".to_owned(),
                "model_list[0].params.vertex_credentials",
                "needs credentials",
            ),
            (
                vertex_yaml(&key, ", api_key: k"),
                "model_list[0].params.vertex_credentials",
                "express mode (api_key) has no project",
            ),
            (
                "model_list: [{model_name: a, params: {model: vertex_ai/m, api_key: k, vertex_location: europe-west4}}]".to_owned(),
                "model_list[0].params.vertex_location",
                "set either api_key or the vertex_* params",
            ),
            (
                vertex_yaml(&user, ""),
                "model_list[0].params.vertex_credentials",
                "`external_account` are not supported",
            ),
            (
                vertex_yaml(&bad_key, ""),
                "model_list[0].params.vertex_credentials",
                "private_key",
            ),
            (
                "model_list: [{model_name: a, params: {model: vertex_ai/m, vertex_credentials: /nonexistent/key.json}}]".to_owned(),
                "model_list[0].params.vertex_credentials",
                "cannot read the file it names: No such file",
            ),
            (
                // Credentials in a form not read as JSON are not echoed.
                "model_list: [{model_name: a, params: {model: vertex_ai/m, vertex_credentials: eyJ0eXBlIjoic2VydmljZV9hY2NvdW50In0=}}]".to_owned(),
                "model_list[0].params.vertex_credentials",
                "cannot read the file it names: No such file",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, vertex_project: p}}]".to_owned(),
                "model_list[0].params.vertex_project",
                "vertex_ai deployments only",
            ),
            (
                "model_list: [{model_name: a, params: {model: openai/x, tenant_id: t}}]".to_owned(),
                "model_list[0].params.tenant_id",
                "azure deployments only",
            ),
            (
                "model_list: [{model_name: a, params: {model: vertex_ai/gemini-2.0-flash, vertex_project: p, vertex_location: us-central1, client_id: c}}]".to_owned(),
                "model_list[0].params.client_id",
                "azure deployments only",
            ),
            (
                "model_list: [{model_name: a, params: {model: azure/x, api_base: 'https://r', tenant_id: t, client_id: c}}]".to_owned(),
                "model_list[0].params.client_secret",
                "is missing",
            ),
            (
                "model_list: [{model_name: a, params: {model: azure/x, api_base: 'https://r', api_key: k, tenant_id: t, client_id: c, client_secret: s}}]".to_owned(),
                "model_list[0].params.api_key",
                "not both",
            ),
        ];
        // Not on Google Cloud, wherever the tests run.
        let env = |name: &str| (name == "NO_GCE_CHECK").then(|| "true".to_owned());
        for (yaml, path, message) in cases {
            let error = Config::from_yaml(&yaml, env).expect_err("should be rejected");
            assert!(!error.message.contains("eyJ0"), "{error}");
            assert_eq!(error.path, path, "for {yaml}");
            assert!(
                error.message.contains(message),
                "`{}` should mention `{message}`",
                error.message
            );
        }
    }
}
