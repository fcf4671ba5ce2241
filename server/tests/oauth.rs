//! OAuth2 token sources against the replay server playing a token endpoint
//! with a recorded Entra ID answer (one fetch serves every request until the
//! token nears expiry or a provider refuses it), and Google Cloud's metadata
//! server with its documented answer.

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
    let tokens = TokenSource::new(
        "azure",
        settings,
        http::Client::default(),
        Duration::from_secs(5),
    );
    (replay, Arc::new(tokens))
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
    let form: Vec<(String, String)> =
        form_urlencoded::parse(requests[0].body.as_str().expect("form body").as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form,
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
    tokens.invalidate().await;
    tokens.token().await.expect("token");
    tokens.token().await.expect("token");
    assert_eq!(replay.requests().len(), 2);
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
    let tokens = TokenSource::new(
        "vertex_ai",
        settings,
        http::Client::default(),
        Duration::from_secs(5),
    );

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
