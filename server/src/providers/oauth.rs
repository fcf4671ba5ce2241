//! OAuth2 access tokens for providers that take no static key: Vertex AI
//! (a Google service account or authorized user) and Azure OpenAI with
//! Microsoft Entra ID (client credentials), held and renewed by `Renewing`.
//!
//! The service-account assertion is a JWT (RFC 7523) of three base64url
//! segments; ring (already our TLS crypto) signs it. A JWT crate would add a
//! second RSA stack for the ten lines that join the segments.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{OAuthGrant, OAuthSettings};
use crate::error::{GatewayError, UpstreamError};
use crate::openai_wire::errors::ErrorBody;
use crate::providers::http::{
    Client, Request, endpoint, form_post, request, sensitive_header, unreadable,
};
use crate::providers::renewing::{MAX_LIFETIME, Renewing};

/// Lifetime assumed when the token endpoint does not state one.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// The `aud` of every service-account assertion.
const GOOGLE_TOKEN_AUDIENCE: &str = "https://oauth2.googleapis.com/token";
/// Lifetime of a service-account assertion; Google accepts at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3600;

/// A service account's RSA key, parsed once at config load.
#[derive(Clone)]
pub struct SigningKey(Arc<RsaKeyPair>);

impl SigningKey {
    /// Reads the PKCS#8 PEM key of a Google service-account JSON file.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("private_key is not a PKCS#8 PEM key: {e}"))?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| format!("private_key is not a usable RSA key: {e}"))?;
        Ok(Self(Arc::new(key)))
    }

    /// `header.claims.signature`, RS256.
    fn sign_jwt(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let mut jwt = format!(
            "{}.{}",
            BASE64URL.encode(header.to_string()),
            BASE64URL.encode(claims.to_string())
        );
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "RSA signing failed".to_owned())?;
        jwt.push('.');
        jwt.push_str(&BASE64URL.encode(signature));
        Ok(jwt)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// A deployment's cached access token and the means to renew it.
pub struct TokenSource {
    provider: &'static str,
    grant: OAuthGrant,
    /// The settings' `token_url`, parsed once. Config checks Entra's; a
    /// credentials file's `token_uri` may not parse, which fails each token
    /// request.
    token_url: Option<Uri>,
    client: Client,
    timeout: Duration,
    token: Renewing<Token>,
}

/// An access token ready to send.
#[derive(Clone)]
pub struct Token {
    /// `Bearer …`, marked sensitive.
    pub authorization: HeaderValue,
    /// The bare token, to redact if a provider ever echoes it.
    pub secret: Arc<str>,
}

/// The token endpoint's answer (RFC 6749 §5.1). Entra's v1 endpoint sends
/// `expires_in` as a string, so both forms are read.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Value>,
}

impl TokenSource {
    pub fn new(
        provider: &'static str,
        settings: OAuthSettings,
        client: Client,
        timeout: Duration,
    ) -> Self {
        Self {
            provider,
            token_url: endpoint(&settings.token_url),
            grant: settings.grant,
            client,
            timeout,
            token: Renewing::new("access token", provider),
        }
    }

    /// A token valid for a while yet.
    pub async fn token(&self) -> Result<Token, GatewayError> {
        self.token.get(|| self.fetch()).await
    }

    /// Forgets the token held: the provider refused it (revoked, or
    /// expired early), so the next request fetches a new one.
    pub fn invalidate(&self) {
        self.token.forget();
    }

    /// Adds `authorization: Bearer …` to a request about to be sent.
    pub async fn authorize(&self, request: &mut Request) -> Result<Arc<str>, GatewayError> {
        let token = self.token().await?;
        request
            .headers_mut()
            .insert(header::AUTHORIZATION, token.authorization);
        Ok(token.secret)
    }

    /// A new token and how long it lasts.
    async fn fetch(&self) -> Result<(Token, Duration), GatewayError> {
        let url = self
            .token_url
            .clone()
            .ok_or_else(|| self.unavailable("token_uri is not a URL".into()))?;
        let request = self
            .request(url)
            .map_err(|message| self.unavailable(message))?;
        let secrets = self.grant.secrets();
        let answer = super::http::fetch_credential(
            &self.client,
            &request,
            self.provider,
            self.timeout,
            &secrets,
            |_, body| parse_token_error(body),
            token_endpoint_failing,
        );
        let body = answer.await.map_err(token_failure)?;
        let answer: TokenResponse = crate::openai_wire::from_bytes(&body)
            .map_err(|e| unreadable(self.provider, "token response", e))?;
        let lifetime = lifetime(answer.expires_in);
        let authorization = sensitive_header(&format!("Bearer {}", answer.access_token))
            .ok_or_else(|| GatewayError::UpstreamProtocol {
                provider: self.provider,
                message: "the token endpoint sent a token that is not a header value".into(),
            })?;
        let token = Token {
            authorization,
            secret: answer.access_token.into(),
        };
        Ok((token, lifetime))
    }

    /// The token request for this grant: a form posted to the token
    /// endpoint, or the metadata server's GET.
    fn request(&self, url: Uri) -> Result<Request, String> {
        let form = match &self.grant {
            OAuthGrant::ServiceAccount {
                client_email,
                key_id,
                key,
                scope,
            } => {
                let assertion = service_account_assertion(
                    key,
                    client_email,
                    key_id.as_deref(),
                    scope,
                    super::unix_now(),
                )?;
                vec![
                    ("assertion", assertion),
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                    ),
                ]
            }
            OAuthGrant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => vec![
                ("grant_type", "refresh_token".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_owned()),
                ("refresh_token", refresh_token.expose().to_owned()),
            ],
            OAuthGrant::ClientCredentials {
                client_id,
                client_secret,
                scope,
            } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_owned()),
                ("scope", scope.clone()),
            ],
            // The metadata server answers a GET that says it expects it
            // (so a request forged through some proxy is refused).
            OAuthGrant::MetadataServer => {
                let headers = HeaderMap::from_iter([(
                    HeaderName::from_static("metadata-flavor"),
                    HeaderValue::from_static("Google"),
                )]);
                return Ok(request(Method::GET, url, headers, Bytes::new()));
            }
        };
        Ok(form_post(url, form))
    }

    fn unavailable(&self, message: String) -> GatewayError {
        GatewayError::UpstreamUnavailable {
            provider: self.provider,
            message: format!("no access token: {message}"),
        }
    }
}

/// How long a token lives, from the endpoint's `expires_in` (a number, or
/// Entra v1's string), at most `MAX_LIFETIME`.
fn lifetime(expires_in: Option<Value>) -> Duration {
    match expires_in {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .map_or(DEFAULT_LIFETIME, |secs| {
        Duration::from_secs(secs).min(MAX_LIFETIME)
    })
}

/// The signed JWT a service account trades for an access token
/// (<https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests>).
/// `kid` is the key file's `private_key_id`, as Google's own libraries send
/// it; the audience is always Google's token endpoint, wherever the key
/// file's `token_uri` points.
fn service_account_assertion(
    key: &SigningKey,
    client_email: &str,
    key_id: Option<&str>,
    scope: &str,
    now: i64,
) -> Result<String, String> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = kid.into();
    }
    let claims = json!({
        "iss": client_email,
        "scope": scope,
        "aud": GOOGLE_TOKEN_AUDIENCE,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECS,
    });
    key.sign_jwt(&header, &claims)
}

/// What a token endpoint's error means once retried: failing still, the
/// provider is unreachable for now; otherwise the deployment's credentials
/// were refused.
fn token_failure(error: GatewayError) -> GatewayError {
    match error {
        GatewayError::Upstream(error) if token_endpoint_failing(&error) => {
            super::http::credentials_unavailable(&error, "no access token", "token endpoint")
        }
        GatewayError::Upstream(mut error) => {
            error.message = format!(
                "the token endpoint refused the deployment's credentials: {}",
                error.message
            );
            GatewayError::Upstream(error)
        }
        other => other,
    }
}

/// A token endpoint failing by its status, or by the RFC 6749 error codes
/// (and Google's `internal_failure`) that say so whatever the status, as
/// Google's auth libraries read them.
fn token_endpoint_failing(error: &UpstreamError) -> bool {
    super::http::endpoint_failing(error)
        || matches!(
            error.code.as_deref(),
            Some("internal_failure" | "server_error" | "temporarily_unavailable")
        )
}

/// RFC 6749 §5.2 errors: the ones that mean the deployment's credentials
/// were refused become 401s (the caller's request was fine; the gateway
/// could not authenticate upstream), with the endpoint's other fields
/// (Entra's `error_codes`, `trace_id`, `correlation_id`) kept for whoever
/// debugs it. The message is the endpoint's reason (`token_failure` says
/// what it means).
pub(crate) fn parse_token_error(body: &[u8]) -> ErrorBody {
    let Ok(Value::Object(mut fields)) = crate::openai_wire::from_bytes::<Value>(body) else {
        return crate::openai_wire::errors::parse_error_body(body);
    };
    let text = |v: Option<Value>| match v {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let code = text(fields.remove("error"));
    let description = text(fields.remove("error_description"));
    let refused = matches!(
        code.as_deref(),
        Some(
            "invalid_request"
                | "invalid_client"
                | "invalid_grant"
                | "unauthorized_client"
                | "unsupported_grant_type"
                | "invalid_scope"
        )
    );
    let reason = description.or_else(|| code.clone()).unwrap_or_default();
    ErrorBody {
        message: reason,
        kind: refused.then(|| "authentication_error".to_owned()),
        code,
        extra: Map::from_iter(fields),
        status: refused.then_some(401),
        ..ErrorBody::default()
    }
}

impl OAuthGrant {
    /// Values that must never appear in an error passed on.
    fn secrets(&self) -> [Option<&str>; 2] {
        match self {
            OAuthGrant::ServiceAccount { .. } | OAuthGrant::MetadataServer => [None, None],
            OAuthGrant::RefreshToken {
                client_secret,
                refresh_token,
                ..
            } => [Some(client_secret.expose()), Some(refresh_token.expose())],
            OAuthGrant::ClientCredentials { client_secret, .. } => {
                [Some(client_secret.expose()), None]
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 2048-bit key made for these tests (never used anywhere real).
    pub(crate) const TEST_KEY: &str = include_str!("../../tests/data/oauth-test-key.pem");

    /// The assertion's header and claims are Google's, and its signature is
    /// the one `openssl dgst -sha256 -sign tests/data/oauth-test-key.pem`
    /// computes over `header.claims`: PKCS#1 v1.5 signatures are
    /// deterministic, so ours must match byte for byte.
    #[test]
    fn service_account_assertion_matches_openssl() {
        const OPENSSL_SIGNATURE: &str = "nnTgkj-nyRe1uwbQPjz5H2Ict-VaDvLUu6N24AncqwJTF2ubBtpWGDVRJzzxDginYTv7ekcjd9l2OKmIxuDeBCNdSbqu_8Vt7ZeBGD__rdxycjhMA2A8aq0w__VE1Lz9CwXzBl_3afL5zUdg59QFB8EBx2_b0_naqA6p018WAuqC3ZXSiC8Sod3Rv_Rh8zSXTxLfsJoewr409HwMgLHe-AZ1eEhshmDZqsEJP_cz46qC6nLrQTG3yYdc_TzyDQYb1h75Ub_X8S715gC1ukwrZ_qoM41YZX-P5SUkNRcGg4RYVyvaGO75mozRVAz9QXczLWd_u2U2dCmuRsogci3u4g";
        let key = SigningKey::from_pem(TEST_KEY).expect("test key parses");
        let jwt = service_account_assertion(
            &key,
            "switchboard@example-project.iam.gserviceaccount.com",
            Some("0123456789abcdef"),
            "https://www.googleapis.com/auth/cloud-platform",
            1_700_000_000,
        )
        .expect("signs");
        let segments: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = segments[..] else {
            panic!("three segments expected in {jwt}");
        };
        let decode = |s: &str| -> Value {
            serde_json::from_slice(&BASE64URL.decode(s).expect("base64url")).expect("json")
        };
        assert_eq!(
            decode(header),
            json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef"})
        );
        assert_eq!(
            decode(claims),
            json!({
                "iss": "switchboard@example-project.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_700_000_000,
                "exp": 1_700_003_600,
            })
        );
        assert_eq!(signature, OPENSSL_SIGNATURE);
    }

    #[test]
    fn rejects_keys_that_are_not_pkcs8_rsa() {
        assert!(SigningKey::from_pem("not a key").is_err());
        // A P-256 key: PKCS#8, but not RSA.
        let ec = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrjhPiFheJZtldeHT\n6rZwbViqtt/RDxo6riUh9Xp3e/KhRANCAATzak3kPQCRFSLIZ4j8J5EqFq6x3C3x\n1fwlD3ZvIlrH9XUk3VZwlIdTKZxp23pf8sF4rTKksqQJBwPzhemnoHaE\n-----END PRIVATE KEY-----\n";
        assert!(SigningKey::from_pem(ec).is_err());
    }

    #[test]
    fn token_lifetimes() {
        assert_eq!(lifetime(Some(json!(3599))), Duration::from_secs(3599));
        assert_eq!(lifetime(Some(json!("3599"))), Duration::from_secs(3599));
        assert_eq!(lifetime(None), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(json!(-1))), DEFAULT_LIFETIME);
        assert_eq!(lifetime(Some(json!(u64::MAX))), MAX_LIFETIME);
    }

    /// Refused credentials become 401 authentication errors naming the
    /// OAuth error; an endpoint failing, by its status or by an RFC 6749
    /// code that says so in a 400, leaves the provider unreachable.
    #[test]
    fn token_errors() {
        let failure = |body: &[u8], status| {
            token_failure(parse_token_error(body).into_error("vertex_ai", status))
        };
        let refused = parse_token_error(
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        );
        assert_eq!(refused.status, Some(401));
        assert_eq!(refused.code.as_deref(), Some("invalid_grant"));
        assert_eq!(refused.kind.as_deref(), Some("authentication_error"));
        assert_eq!(refused.message, "Invalid JWT Signature.");
        let GatewayError::Upstream(refused) = failure(br#"{"error":"invalid_grant"}"#, 400) else {
            panic!("a refusal is the provider's answer");
        };
        assert_eq!(refused.status, 401);
        assert_eq!(
            refused.message,
            "the token endpoint refused the deployment's credentials: invalid_grant"
        );
        for (body, status) in [
            (&br#"{"error":"temporarily_unavailable"}"#[..], 400),
            (br#"{"error":"server_error"}"#, 400),
            (b"Service Unavailable", 503),
            (b"Too Many Requests", 429),
        ] {
            let error = failure(body, status);
            assert!(
                matches!(error, GatewayError::UpstreamUnavailable { .. }),
                "{error:?}"
            );
        }
        let busy = parse_token_error(br#"{"error":"temporarily_unavailable"}"#);
        assert_eq!(busy.status, None);
        assert_eq!(busy.kind, None);
    }
}
