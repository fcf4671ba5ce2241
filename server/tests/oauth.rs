//! Credentials the gateway obtains rather than holds, against the replay
//! server: OAuth2 tokens from a token endpoint with a recorded Entra ID
//! answer (one fetch serves every request until the token nears expiry or a
//! provider refuses it) and from Google Cloud's metadata server, and AWS
//! role credentials for Bedrock from STS and the container endpoint, each
//! with its documented answer.

mod support;

use std::sync::Arc;
use std::time::Duration;

use switchboard::config::{Config, OAuthGrant, OAuthSettings, Secret};
use switchboard::providers::{http, oauth::TokenSource};
use switchboard_conformance::{ReplayServer, fixtures_dir};

async fn token_source() -> (ReplayServer, Arc<TokenSource>) {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let settings = OAuthSettings {
        token_url: format!(
            "{}/tenant/oauth2/v2.0/token",
            replay.base_url("azure", "entra-token__client-credentials")
        ),
        grant: OAuthGrant::ClientCredentials {
            client_id: "client".into(),
            client_secret: Secret::new("secret"),
            scope: "https://cognitiveservices.azure.com/.default".into(),
        },
    };
    (replay, Arc::new(tokens_from("azure", settings)))
}

fn tokens_from(provider: &'static str, settings: OAuthSettings) -> TokenSource {
    TokenSource::new(
        provider,
        settings,
        http::Client::default(),
        Duration::from_secs(5),
    )
}

/// Concurrent first requests wait for one token request, and later ones
/// reuse its answer.
#[tokio::test]
async fn one_fetch_serves_concurrent_and_later_requests() {
    let (replay, tokens) = token_source().await;
    let waiters: Vec<_> = (0..16)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await })
        })
        .collect();
    for waiter in waiters {
        let token = waiter.await.expect("task").expect("token");
        assert_eq!(token.authorization, "Bearer access_token");
        assert_eq!(&*token.secret, "access_token");
    }
    tokens.token().await.expect("cached token");
    let requests = replay.requests();
    assert_eq!(requests.len(), 1, "one token request for 17 callers");
    assert_eq!(
        form(&requests[0]),
        [
            ("grant_type", "client_credentials"),
            ("client_id", "client"),
            ("client_secret", "secret"),
            ("scope", "https://cognitiveservices.azure.com/.default"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

/// A token the provider refused is fetched again, once.
#[tokio::test]
async fn an_invalidated_token_is_fetched_again() {
    let (replay, tokens) = token_source().await;
    tokens.token().await.expect("token");
    tokens.invalidate();
    tokens.token().await.expect("token");
    tokens.token().await.expect("token");
    assert_eq!(replay.requests().len(), 2);
}

/// Google's token endpoint failing for a moment (its recorded 500
/// `internal_failure`, then a token) costs a retry, not the request. (The
/// endpoint failing throughout: conformance case
/// `vertex_ai/error-auth/token-endpoint-failing`.)
#[tokio::test]
async fn token_endpoint_blips_are_retried() {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let settings = OAuthSettings {
        token_url: format!(
            "http://{}/vertex_ai/oauth__token-retried/token",
            replay.addr()
        ),
        grant: OAuthGrant::RefreshToken {
            client_id: "client".into(),
            client_secret: Secret::new("secret"),
            refresh_token: Secret::new("refresh"),
        },
    };
    let tokens = tokens_from("vertex_ai", settings);

    let token = tokens.token().await.expect("a token at the second try");
    assert_eq!(
        &*token.secret,
        "ya29.a0AeXRPp5CZ6Axm7gWPuKvhij99-conformance-redacted"
    );
    let requests = replay.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        form(&requests[0]),
        form(&requests[1]),
        "the same grant again"
    );
}

/// On Google Cloud, the metadata server's token: a GET that says it expects
/// the metadata server (`Metadata-Flavor: Google`), scoped for Vertex AI,
/// with no body and no credentials of ours; its answer read as a bearer
/// token and cached like any other.
#[tokio::test]
async fn metadata_server_token() {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    // The replay server answers under the fixture's path, so the "host"
    // carries that prefix.
    const FIXTURE: &str = "/vertex_ai/metadata-token__default-service-account";
    let host = format!("{}{FIXTURE}", replay.addr());
    let env = |name: &str| match name {
        "GCE_METADATA_HOST" => Some(host.clone()),
        "VERTEXAI_PROJECT" => Some("p".to_owned()),
        _ => None,
    };
    let yaml = "model_list: [{model_name: a, params: {model: vertex_ai/gemini-2.5-flash}}]";
    let config = Config::from_yaml(yaml, env).expect("config");
    let settings = config.deployments[0].oauth.clone().expect("oauth");
    let tokens = tokens_from("vertex_ai", settings);

    let token = tokens.token().await.expect("token");
    assert_eq!(
        token.authorization,
        "Bearer ya29.AHES6ZRN3-HlhAPya30GnW_bHSb_QtAS08i85nHq39HE3C2LTrCARA"
    );
    tokens.token().await.expect("cached token");
    let requests = replay.requests();
    let [request] = &requests[..] else {
        panic!("one token request expected: {requests:?}");
    };
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.path,
        format!("{FIXTURE}/computeMetadata/v1/instance/service-accounts/default/token")
    );
    assert_eq!(
        request.query,
        "scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcloud-platform"
    );
    let names: Vec<&str> = request.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        request
            .headers
            .contains(&("metadata-flavor".into(), "Google".into())),
        "{names:?}"
    );
    assert!(!names.contains(&"authorization"), "{names:?}");
    assert!(!names.contains(&"content-type"), "{names:?}");
}

/// A Bedrock deployment on EKS with IAM roles for service accounts: the
/// pod's web identity token is traded at STS (unsigned) for the role's
/// keys, which sign the Bedrock call with their session token. The token
/// file is read again at each trade (the kubelet rotates it), and keys that
/// have expired (the documented answer's expired long ago) are traded
/// again for the next request.
#[tokio::test]
async fn bedrock_signs_with_a_web_identity_role() {
    let (gateway, token_file, _dir) = with_web_identity(
        "sts__assume-role-with-web-identity",
        "arn:aws:iam::123456789012:role/bedrock",
        "eyJ.first.token\n",
        vec![("AWS_ROLE_SESSION_NAME", "switchboard-test".into())],
    )
    .await;

    assert_eq!(chat(&gateway).await.0, 200);
    std::fs::write(&token_file, "eyJ.rotated.token").expect("token file");
    assert_eq!(chat(&gateway).await.0, 200);

    let requests = gateway.replay.requests();
    let [first_trade, first_call, second_trade, second_call] = &requests[..] else {
        panic!("a trade before each call expected: {requests:?}");
    };
    for (trade, token) in [
        (first_trade, "eyJ.first.token"),
        (second_trade, "eyJ.rotated.token"),
    ] {
        assert_eq!(trade.method, "POST");
        assert!(
            trade.path.ends_with("/sts__assume-role-with-web-identity/"),
            "{}",
            trade.path
        );
        assert_eq!(trade.header("authorization"), None, "the trade is unsigned");
        assert_eq!(
            trade.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            form(trade),
            [
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", "arn:aws:iam::123456789012:role/bedrock"),
                ("RoleSessionName", "switchboard-test"),
                ("WebIdentityToken", token),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }
    for call in [first_call, second_call] {
        signed_with(
            call,
            "ASgeIAIOSFODNN7EXAMPLE",
            "AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE",
        );
    }
}

/// A Bedrock deployment on ECS or with EKS Pod Identity: the container
/// endpoint's keys, fetched with the token file's text as `Authorization`
/// (the file wins over the variable, as in AWS's SDKs).
#[tokio::test]
async fn bedrock_signs_with_container_credentials() {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let dir = support::TempDir::new();
    let token_file = dir.path.join("eks-pod-identity-token");
    std::fs::write(&token_file, "Basic password").expect("token file");
    let endpoint = format!(
        "http://{}/bedrock/container-credentials__task-role",
        replay.addr()
    );
    let gateway = bedrock_gateway(
        replay,
        vec![
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                format!("{endpoint}/v1/credentials"),
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "not this one".into()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                token_file.display().to_string(),
            ),
        ],
    )
    .await;

    assert_eq!(chat(&gateway).await.0, 200);
    let requests = gateway.replay.requests();
    let [fetch, call] = &requests[..] else {
        panic!("a fetch and a call expected: {requests:?}");
    };
    assert_eq!(fetch.method, "GET");
    assert_eq!(
        fetch.path,
        "/bedrock/container-credentials__task-role/v1/credentials"
    );
    assert_eq!(fetch.header("authorization"), Some("Basic password"));
    signed_with(call, "MUA...", "AQoDY....=");
}

/// STS refusing the trade fails the request as the gateway's own
/// authentication failure, with STS's code and message, and no Bedrock
/// call is made.
#[tokio::test]
async fn refused_role_credentials_fail_the_request() {
    let (gateway, _, _dir) = with_web_identity(
        "sts__error-400-validation-error",
        "not-an-arn",
        "eyJ.token",
        Vec::new(),
    )
    .await;

    let (status, body) = chat(&gateway).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert_eq!(body["error"]["code"], "ValidationError", "{body}");
    assert_eq!(
        body["error"]["message"], "AWS credentials refused: Request ARN is invalid",
        "{body}"
    );
    assert_eq!(gateway.replay.requests().len(), 1, "no Bedrock call");
}

/// A Bedrock deployment on EC2 with an instance profile: an IMDSv2
/// session token (PUT, asking for six hours), the role's name, then its
/// keys, each GET carrying the token; the keys sign the Bedrock call. The
/// recorded keys expired in 2021: arriving expired, they are used 10 to 15
/// minutes more (AWS's "static stability"), so the next request asks the
/// metadata service nothing.
#[tokio::test]
async fn bedrock_signs_with_the_instance_profile() {
    let gateway = on_ec2("imds__instance-profile").await;

    let (status, body) = chat(&gateway).await;
    assert_eq!(status, 200, "{body}");
    let requests = gateway.replay.requests();
    let [token, roles, keys, call] = &requests[..] else {
        panic!("token, role, keys and the call expected: {requests:?}");
    };
    assert_eq!(
        (token.method.as_str(), token.path.as_str()),
        ("PUT", "/bedrock/imds__instance-profile/latest/api/token")
    );
    assert_eq!(
        token.header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
    let credentials = "/bedrock/imds__instance-profile/latest/meta-data/iam/security-credentials/";
    for (get, path) in [
        (roles, credentials.to_owned()),
        (keys, format!("{credentials}imds-assume-role-test")),
    ] {
        assert_eq!(
            (get.method.as_str(), get.path.as_str()),
            ("GET", path.as_str())
        );
        assert_eq!(
            get.header("x-aws-ec2-metadata-token"),
            Some("AQAEAKQRRHnsX8GCPgYTGMShrFJkMhru3n-8Ul5Gzvzj-bpWKYZuiw==")
        );
    }
    signed_with(call, "ASIARTEST", "testtoken");

    let (status, body) = chat(&gateway).await;
    assert_eq!(status, 200, "{body}");
    let requests = gateway.replay.requests();
    let [.., again] = &requests[..] else {
        unreachable!()
    };
    assert_eq!(requests.len(), 5, "only Bedrock called: {requests:?}");
    signed_with(again, "ASIARTEST", "testtoken");
}

/// On an instance without an instance profile the metadata service answers
/// the role listing with a 404 page: the request fails as the gateway's own
/// authentication failure, saying so, and Bedrock is not called.
#[tokio::test]
async fn instance_without_a_role_fails_the_request() {
    let gateway = on_ec2("imds__instance-without-role").await;

    let (status, body) = chat(&gateway).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    assert_eq!(
        body["error"]["message"],
        "AWS credentials refused: no IAM role is attached to this instance",
        "{body}"
    );
    let base = "/bedrock/imds__instance-without-role/latest";
    assert_eq!(
        calls(&gateway),
        [
            format!("PUT {base}/api/token"),
            format!("GET {base}/meta-data/iam/security-credentials/"),
        ],
        "no Bedrock call"
    );
}

/// The metadata service answering 503 for a moment (recorded: each of the
/// three calls failed once, then succeeded) costs a retry per call, not
/// the request.
#[tokio::test]
async fn metadata_service_blips_are_retried() {
    let gateway = on_ec2("imds__instance-profile-retried").await;

    let (status, body) = chat(&gateway).await;
    assert_eq!(status, 200, "{body}");
    let imds = "/bedrock/imds__instance-profile-retried/latest";
    let token = format!("PUT {imds}/api/token");
    let roles = format!("GET {imds}/meta-data/iam/security-credentials/");
    let keys = format!("{roles}imds-assume-role-test");
    let converse =
        "POST /bedrock/chat__converse-nova-micro/v1/model/us.amazon.nova-micro-v1%3A0/converse";
    assert_eq!(
        calls(&gateway),
        [&token, &token, &roles, &roles, &keys, &keys, converse]
    );
    signed_with(&gateway.replay.requests()[6], "ASIARTEST", "testtoken");
}

/// A metadata service that keeps failing is tried three times, and the
/// request fails saying so: Bedrock unreachable for want of credentials,
/// neither a refusal of them nor Bedrock's own 503.
#[tokio::test]
async fn an_unavailable_metadata_service_is_not_a_refusal() {
    let gateway = on_ec2("imds__unavailable").await;

    let (status, body) = chat(&gateway).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        body["error"]["message"],
        "bedrock is unreachable: no AWS credentials: the credentials endpoint answered HTTP 503",
        "{body}"
    );
    let token = "PUT /bedrock/imds__unavailable/latest/api/token";
    assert_eq!(calls(&gateway), [token; 3], "no Bedrock call");
}

/// A Bedrock gateway on an EC2 instance whose metadata service answers
/// from the replay server's route set `routes`.
async fn on_ec2(routes: &str) -> support::Gateway {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let endpoint = format!("http://{}/bedrock/{routes}", replay.addr());
    let metadata = vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)];
    bedrock_gateway(replay, metadata).await
}

/// A Bedrock deployment assuming `role` with a web identity `token` in a
/// file (its path returned, in the returned directory), traded at the
/// replay route `sts`; `env` is added.
async fn with_web_identity(
    sts: &str,
    role: &str,
    token: &str,
    mut env: Vec<(&str, String)>,
) -> (support::Gateway, std::path::PathBuf, support::TempDir) {
    let replay = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let dir = support::TempDir::new();
    let token_file = dir.path.join("token");
    std::fs::write(&token_file, token).expect("token file");
    env.extend([
        ("AWS_ROLE_ARN", role.to_owned()),
        (
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            token_file.display().to_string(),
        ),
        (
            "AWS_ENDPOINT_URL_STS",
            format!("http://{}/bedrock/{sts}", replay.addr()),
        ),
    ]);
    (bedrock_gateway(replay, env).await, token_file, dir)
}

/// `METHOD path` of each request the replay server saw, in order.
fn calls(gateway: &support::Gateway) -> Vec<String> {
    let requests = gateway.replay.requests();
    requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

async fn bedrock_gateway(replay: ReplayServer, env: Vec<(&str, String)>) -> support::Gateway {
    let mut env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    env.push(("AWS_REGION".into(), "us-east-1".into()));
    let setup = support::Setup {
        env,
        ..support::Setup::default()
    };
    let models = [support::Model::bedrock(
        "nova",
        "chat__converse-nova-micro",
        "us.amazon.nova-micro-v1:0",
    )];
    support::Gateway::start_with(replay, &models, &setup).await
}

async fn chat(gateway: &support::Gateway) -> (u16, serde_json::Value) {
    let response = gateway
        .post_chat(
            &serde_json::json!({"model": "nova", "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

fn form(request: &switchboard_conformance::RecordedRequest) -> Vec<(String, String)> {
    let body = request.body.as_str().expect("form body");
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

/// `call` was signed for Bedrock in us-east-1 by `access_key_id`, with
/// `session_token`.
fn signed_with(
    call: &switchboard_conformance::RecordedRequest,
    access_key_id: &str,
    session_token: &str,
) {
    assert!(call.path.ends_with("/converse"), "{}", call.path);
    let authorization = call.header("authorization").expect("signed");
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={access_key_id}/"))
            && authorization.contains("/us-east-1/bedrock/aws4_request"),
        "{authorization}"
    );
    assert_eq!(call.header("x-amz-security-token"), Some(session_token));
}
