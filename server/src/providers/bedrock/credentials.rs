//! The AWS credentials a Bedrock deployment signs with: its static keys,
//! or a role's temporary keys, held and renewed by `Renewing`.
//!
//! A few small HTTP exchanges, written here rather than taken from
//! `aws-config`: that crate brings the STS, SSO and SSO-OIDC SDKs, the
//! smithy runtime and a second HTTP and TLS stack for what is one form
//! POST (STS), one GET (the container endpoint) and a PUT and two GETs
//! (the instance metadata service), sent through the client every
//! provider call uses.

use std::path::Path;
use std::time::{Duration, SystemTime};

use ::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use bytes::Bytes;
use serde::Deserialize;

use crate::config::{AwsCredentialSource, AwsCredentials, AwsRole};
use crate::error::{GatewayError, UpstreamError};
use crate::openai_wire::errors::ErrorBody;
use crate::providers::http::{self, Client, Request, endpoint, unreadable};
use crate::providers::renewing::{MAX_LIFETIME, Renewing};

/// Who answers a credentials request: how long it may take, and what its
/// silence likely means.
#[derive(Clone, Copy)]
enum Answerer {
    /// STS or the container endpoint. Far quicker than a deployment's
    /// timeout: every Bedrock request waits on it.
    Remote,
    /// The instance metadata service, on the machine's own link: it answers
    /// in milliseconds or, seen from a container through one hop too many,
    /// never (AWS's SDKs wait 1 s).
    InstanceMetadata,
}

impl Answerer {
    fn timeout(self) -> Duration {
        match self {
            Self::Remote => Duration::from_secs(10),
            Self::InstanceMetadata => Duration::from_secs(2),
        }
    }

    fn silence_hint(self) -> &'static str {
        match self {
            Self::Remote => "",
            Self::InstanceMetadata => {
                " (from a container, the instance's metadata hop limit must be 2 or more)"
            }
        }
    }
}

/// How long an instance metadata session token lives (the SDKs' value);
/// one is taken for each fetch of the keys.
const IMDS_TOKEN_TTL_SECONDS: &str = "21600";

/// A deployment's credentials and the means to renew them.
pub struct CredentialSource {
    provider: &'static str,
    client: Client,
    keys: Keys,
}

enum Keys {
    /// Static keys, ready at construction: no lock, no fetch.
    Fixed(Identity),
    /// A role's keys, fetched when missing or about to expire.
    Role {
        role: AwsRole,
        keys: Box<Renewing<Identity>>,
    },
}

/// Temporary keys as the container endpoint and the instance metadata
/// service send them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TemporaryKeys {
    access_key_id: String,
    secret_access_key: String,
    token: String,
    expiration: String,
}

/// The instance metadata service's verdict on the keys it sends
/// (`Success`, or a code and message saying why there are none).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeysStatus {
    code: Option<String>,
    message: Option<String>,
}

impl CredentialSource {
    pub fn new(provider: &'static str, source: AwsCredentialSource, client: Client) -> Self {
        let keys = match source {
            AwsCredentialSource::Keys(keys) => Keys::Fixed(static_identity(&keys)),
            AwsCredentialSource::Role(role) => {
                let renewing = match role {
                    AwsRole::InstanceProfile { .. } => {
                        Renewing::statically_stable("AWS credentials", provider)
                    }
                    _ => Renewing::new("AWS credentials", provider),
                };
                Keys::Role {
                    role,
                    keys: Box::new(renewing),
                }
            }
        };
        Self {
            provider,
            client,
            keys,
        }
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Credentials valid for a while yet.
    pub async fn identity(&self) -> Result<Identity, GatewayError> {
        match &self.keys {
            Keys::Fixed(identity) => Ok(identity.clone()),
            Keys::Role { role, keys } => keys.get(|| self.fetch(role)).await,
        }
    }

    /// Forgets the cached credentials when Bedrock refused them as stale or
    /// unknown (expired early, or the role was changed), so the next request
    /// fetches new ones. Not for other refusals: an `AccessDeniedException`
    /// (no model access, an IAM deny) would only send every request to the
    /// credentials endpoint again.
    pub fn refused(&self, error: &UpstreamError) {
        let stale = matches!(
            error.code.as_deref(),
            Some("ExpiredTokenException" | "UnrecognizedClientException")
        );
        if let (true, Keys::Role { keys, .. }) = (stale, &self.keys) {
            keys.forget();
        }
    }

    /// The role's keys and how long they last.
    async fn fetch(&self, role: &AwsRole) -> Result<(Identity, Duration), GatewayError> {
        let keys = self.fetch_keys(role).await.map_err(credentials_failure)?;
        let expires_at = DateTime::from_str(&keys.expiration, Format::DateTime)
            .ok()
            .and_then(|at| SystemTime::try_from(at).ok())
            .ok_or_else(|| self.unreadable(format!("expiration `{}`", keys.expiration)))?;
        let credentials = Credentials::new(
            keys.access_key_id,
            keys.secret_access_key,
            Some(keys.token),
            Some(expires_at),
            "switchboard-role",
        );
        Ok((credentials.into(), lifetime(expires_at, SystemTime::now())))
    }

    /// The EC2 instance profile's keys (IMDSv2): a session token from a
    /// PUT, then the name of the instance's role, then its keys, each GET
    /// carrying the token. IMDSv1 (no token) is not spoken: AWS recommends
    /// requiring v2, and a v1-only endpoint is a misconfiguration to fix.
    async fn instance_profile_keys(&self, endpoint: &str) -> Result<TemporaryKeys, GatewayError> {
        let ttl = HeaderMap::from_iter([(
            HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds"),
            HeaderValue::from_static(IMDS_TOKEN_TTL_SECONDS),
        )]);
        let put = http::request(
            Method::PUT,
            self.url(&format!("{endpoint}/latest/api/token"))?,
            ttl,
            Bytes::new(),
        );
        let token = self.call(put, None, Answerer::InstanceMetadata).await?;
        let token = String::from_utf8_lossy(&token).trim().to_owned();
        let with_token = HeaderMap::from_iter([(
            HeaderName::from_static("x-aws-ec2-metadata-token"),
            self.header_value(&token)?,
        )]);
        let roles_url = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
        let get = |url: &str| {
            self.url(url)
                .map(|url| http::request(Method::GET, url, with_token.clone(), Bytes::new()))
        };
        let no_role = || self.refusal(None, "no IAM role is attached to this instance".into());
        let roles = match self
            .call(get(&roles_url)?, Some(&token), Answerer::InstanceMetadata)
            .await
        {
            // Answered with an HTML page.
            Err(GatewayError::Upstream(error)) if error.status == 404 => return Err(no_role()),
            roles => roles?,
        };
        let roles = String::from_utf8_lossy(&roles);
        let role = roles
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .ok_or_else(no_role)?;
        let keys_url = format!("{roles_url}{role}");
        let body = self
            .call(get(&keys_url)?, Some(&token), Answerer::InstanceMetadata)
            .await?;
        self.parse_json_keys(&body)
    }

    /// The role's keys from wherever the role gets them.
    async fn fetch_keys(&self, role: &AwsRole) -> Result<TemporaryKeys, GatewayError> {
        Ok(match role {
            AwsRole::WebIdentity {
                role_arn,
                token_file,
                session_name,
                sts_url,
            } => {
                self.assume_role_with_web_identity(role_arn, token_file, session_name, sts_url)
                    .await?
            }
            AwsRole::Container {
                url,
                token,
                token_file,
            } => {
                let token = match token_file {
                    Some(file) => Some(self.read_token(file)?),
                    None => token.as_ref().map(|t| t.expose().to_owned()),
                };
                let mut headers = HeaderMap::new();
                if let Some(token) = &token {
                    headers.insert(header::AUTHORIZATION, self.header_value(token)?);
                }
                let get = http::request(Method::GET, self.url(url)?, headers, Bytes::new());
                let body = self.call(get, token.as_deref(), Answerer::Remote).await?;
                self.parse_json_keys(&body)?
            }
            AwsRole::InstanceProfile { endpoint } => self.instance_profile_keys(endpoint).await?,
        })
    }

    /// STS `AssumeRoleWithWebIdentity`: an unsigned form POST; the answer
    /// is XML.
    async fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        token_file: &Path,
        session_name: &str,
        sts_url: &str,
    ) -> Result<TemporaryKeys, GatewayError> {
        let token = self.read_token(token_file)?;
        let fields = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", session_name),
            ("WebIdentityToken", &token),
        ];
        let post = http::form_post(self.url(&format!("{sts_url}/"))?, fields);
        let body = self.call(post, Some(&token), Answerer::Remote).await?;
        let text = String::from_utf8_lossy(&body);
        let field = |name| xml_text(&text, name).map(str::to_owned);
        match (
            field("AccessKeyId"),
            field("SecretAccessKey"),
            field("SessionToken"),
            field("Expiration"),
        ) {
            (Some(access_key_id), Some(secret_access_key), Some(token), Some(expiration)) => {
                Ok(TemporaryKeys {
                    access_key_id,
                    secret_access_key,
                    token,
                    expiration,
                })
            }
            _ => Err(self.unreadable("STS answer without credentials".to_owned())),
        }
    }

    /// Sends a credentials request carrying `secret`, waiting the
    /// answerer's timeout for each half of the answer, again if the
    /// endpoint or the connection fails (`http::fetch_credential`). An
    /// error status keeps the endpoint's status and message, `secret`
    /// redacted (`fetch` says what it means); a timeout names the endpoint,
    /// not Bedrock.
    async fn call(
        &self,
        request: Request,
        secret: Option<&str>,
        answerer: Answerer,
    ) -> Result<Bytes, GatewayError> {
        let timeout = answerer.timeout();
        let secrets = [secret];
        let answer = http::fetch_credential(
            &self.client,
            &request,
            self.provider,
            timeout,
            &secrets,
            |_, body| credentials_error(body),
            is_throttled_or_failing,
        );
        answer.await.map_err(|error| match error {
            GatewayError::UpstreamTimeout { timeout, .. } => self.unavailable(format!(
                "{} did not answer within {} s{}",
                request.uri().authority().map_or("", |a| a.as_str()),
                timeout.as_secs(),
                answerer.silence_hint()
            )),
            other => other,
        })
    }

    fn url(&self, url: &str) -> Result<Uri, GatewayError> {
        endpoint(url).ok_or_else(|| self.unavailable(format!("`{url}` is not a URL")))
    }

    fn parse_json_keys(&self, body: &[u8]) -> Result<TemporaryKeys, GatewayError> {
        if let Ok(KeysStatus {
            code: Some(code),
            message,
        }) = crate::openai_wire::from_bytes(body)
            && code != "Success"
        {
            // The role cannot be assumed (its trust policy, say).
            let message = message.unwrap_or_else(|| "the role's keys are not available".into());
            return Err(self.refusal(Some(code), message));
        }
        crate::openai_wire::from_bytes(body)
            .map_err(|e| unreadable(self.provider, "AWS credentials", e))
    }

    /// A token file's text, read now: whoever writes it rotates it.
    fn read_token(&self, file: &Path) -> Result<String, GatewayError> {
        std::fs::read_to_string(file)
            .map(|token| token.trim().to_owned())
            .map_err(|e| self.unavailable(format!("cannot read {}: {e}", file.display())))
    }

    fn header_value(&self, value: &str) -> Result<HeaderValue, GatewayError> {
        http::sensitive_header(value)
            .ok_or_else(|| self.unavailable("a token that is not a header value".to_owned()))
    }

    fn unreadable(&self, what: String) -> GatewayError {
        unreadable(self.provider, "AWS credentials", what)
    }

    /// A refusal the endpoint states in a successful answer, as if it had
    /// answered 400 (`fetch` makes either the gateway's authentication
    /// failure).
    fn refusal(&self, code: Option<String>, message: String) -> GatewayError {
        let said = ErrorBody {
            message,
            code,
            ..ErrorBody::default()
        };
        said.into_error(self.provider, 400)
    }

    fn unavailable(&self, message: String) -> GatewayError {
        GatewayError::UpstreamUnavailable {
            provider: self.provider,
            message: format!("no AWS credentials: {message}"),
        }
    }
}

/// How long keys expiring at `expires_at` last from `now`: nothing if they
/// have expired already, and at most `MAX_LIFETIME` whatever the endpoint
/// says.
fn lifetime(expires_at: SystemTime, now: SystemTime) -> Duration {
    expires_at
        .duration_since(now)
        .unwrap_or_default()
        .min(MAX_LIFETIME)
}

pub(super) fn static_identity(keys: &AwsCredentials) -> Identity {
    Credentials::new(
        &keys.access_key_id,
        keys.secret_access_key.expose(),
        keys.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "switchboard-config",
    )
    .into()
}

/// A credentials endpoint's error body: STS's XML `<Error>` (`Code`,
/// `Message`), the metadata service's HTML page (its title), the container
/// endpoint's JSON (`code`, `message`), or text.
fn credentials_error(body: &[u8]) -> ErrorBody {
    let text = String::from_utf8_lossy(body);
    match (xml_text(&text, "Message"), xml_text(&text, "title")) {
        (Some(message), _) => ErrorBody {
            message: message.to_owned(),
            code: xml_text(&text, "Code").map(str::to_owned),
            ..ErrorBody::default()
        },
        (None, Some(title)) => ErrorBody {
            message: title.to_owned(),
            ..ErrorBody::default()
        },
        (None, None) => crate::openai_wire::errors::parse_error_body(body),
    }
}

/// What a credentials endpoint's error status means. A 4xx is the
/// deployment's role or token refused: a 401, as a refused OAuth2 grant is.
/// The caller's request was fine; the gateway could not authenticate
/// upstream. The endpoint failing or throttling is Bedrock unreachable for
/// now, whatever status the endpoint gave.
fn credentials_failure(error: GatewayError) -> GatewayError {
    match error {
        GatewayError::Upstream(mut error) if !is_throttled_or_failing(&error) => {
            error.status = 401;
            error.kind = Some("authentication_error".to_owned());
            error.message = format!("AWS credentials refused: {}", error.message);
            GatewayError::Upstream(error)
        }
        GatewayError::Upstream(error) => {
            http::credentials_unavailable(&error, "no AWS credentials", "credentials endpoint")
        }
        other => other,
    }
}

/// The endpoint failing (5xx) or asking us to slow down (429), or STS's
/// throttling and identity-provider errors, which come as 400s.
fn is_throttled_or_failing(error: &UpstreamError) -> bool {
    http::endpoint_failing(error)
        || matches!(
            error.code.as_deref(),
            Some("Throttling" | "ThrottlingException" | "IDPCommunicationError")
        )
}

/// The text of the first `<name>` element of an XML document. STS answers
/// are a fixed shape whose values (keys, tokens, dates, messages) hold no
/// markup, so four lookups replace an XML parser.
fn xml_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + xml[start..].find(&format!("</{name}>"))?;
    Some(xml[start..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint that never answers (the metadata service seen from a
    /// container when the instance's hop limit is 1) is named in the error.
    #[tokio::test(start_paused = true)]
    async fn silent_endpoints_are_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut sockets = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                sockets.push(socket);
            }
        });
        let role = AwsRole::InstanceProfile {
            endpoint: endpoint.clone(),
        };
        let source = CredentialSource::new(
            "bedrock",
            AwsCredentialSource::Role(role),
            Client::default(),
        );
        let Err(error) = source.identity().await else {
            panic!("no keys expected");
        };
        assert_eq!(
            error.to_string(),
            format!(
                "bedrock is unreachable: no AWS credentials: {} did not answer within 2 s \
                 (from a container, the instance's metadata hop limit must be 2 or more)",
                endpoint.trim_start_matches("http://")
            )
        );
        held.abort();
    }

    /// Bedrock refusing the keys as stale or unknown drops them, so the next
    /// request fetches new ones; any other refusal (an IAM deny, no model
    /// access) keeps them.
    #[tokio::test]
    async fn only_stale_keys_are_dropped() {
        let source = unreachable_role();
        let Keys::Role { keys, .. } = &source.keys else {
            panic!("a role expected");
        };
        let refused = |code: &str| UpstreamError {
            provider: "bedrock",
            status: 403,
            message: String::new(),
            kind: None,
            code: Some(code.to_owned()),
            param: None,
            retry_after: None,
            extra: Default::default(),
        };
        let held = async || {
            let keys = keys.get(|| async { Ok((identity("ASIANEW"), Duration::from_secs(3600))) });
            let identity = keys.await.expect("keys");
            identity
                .data::<Credentials>()
                .expect("AWS")
                .access_key_id()
                .to_owned()
        };
        for (code, dropped) in [
            ("AccessDeniedException", false),
            ("UnrecognizedClientException", true),
            ("ExpiredTokenException", true),
        ] {
            keys.forget();
            let fetch = async { Ok((identity("ASIAOLD"), Duration::from_secs(3600))) };
            keys.get(|| fetch).await.expect("keys");
            source.refused(&refused(code));
            let expected = if dropped { "ASIANEW" } else { "ASIAOLD" };
            assert_eq!(held().await, expected, "{code}");
        }
    }

    /// The instance metadata service saying why it has no keys (the role's
    /// trust policy does not name EC2, say) is a refusal with its code and
    /// message, not an unreadable answer.
    #[test]
    fn keys_not_ready_are_reported() {
        let source = unreachable_role();
        let body = br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role","LastUpdated":"2024-01-01T00:00:00Z"}"#;
        let Err(error) = source.parse_json_keys(body).map_err(credentials_failure) else {
            panic!("no keys expected");
        };
        let GatewayError::Upstream(refused) = error else {
            panic!("a refusal expected, got {error:?}");
        };
        assert_eq!(
            (
                refused.status,
                refused.kind.as_deref(),
                refused.code.as_deref()
            ),
            (
                401,
                Some("authentication_error"),
                Some("AssumeRoleUnauthorizedAccess")
            )
        );
        assert_eq!(
            refused.message,
            "AWS credentials refused: EC2 cannot assume the role"
        );
    }

    /// A role source whose endpoint never answers.
    fn unreachable_role() -> CredentialSource {
        let unreachable = AwsRole::Container {
            url: "http://127.0.0.1:1/credentials".into(),
            token: None,
            token_file: None,
        };
        let source = AwsCredentialSource::Role(unreachable);
        CredentialSource::new("bedrock", source, Client::default())
    }

    fn identity(access_key_id: &str) -> Identity {
        static_identity(&AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: crate::config::Secret::new("secret"),
            session_token: None,
        })
    }

    #[test]
    fn key_lifetimes() {
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(lifetime(now + hour, now), hour);
        assert_eq!(lifetime(now - hour, now), Duration::ZERO);
        assert_eq!(lifetime(now + 1000 * 24 * hour, now), 24 * hour);
    }

    /// The metadata service's HTML error pages are read for their title,
    /// not passed on whole.
    #[test]
    fn html_error_pages_give_their_title() {
        let page = include_str!(
            "../../../../conformance/fixtures/upstream/bedrock/imds__error-404-no-role.response.txt"
        );
        assert_eq!(
            credentials_error(page.as_bytes()).message,
            "404 - Not Found"
        );
    }

    #[test]
    fn xml_text_reads_leaf_elements() {
        let xml = "<R><Credentials><SessionToken>a/b+c=</SessionToken><Expiration>2014-10-24T23:00:23Z</Expiration></Credentials></R>";
        assert_eq!(xml_text(xml, "SessionToken"), Some("a/b+c="));
        assert_eq!(xml_text(xml, "Expiration"), Some("2014-10-24T23:00:23Z"));
        assert_eq!(xml_text(xml, "AccessKeyId"), None);
    }
}
