//! OAuth2 token sources against the replay server playing a token endpoint
//! with a recorded Entra ID answer: one fetch serves every request until the
//! token nears expiry or a provider refuses it.

use std::sync::Arc;
use std::time::Duration;

use switchboard::config::{OAuthGrant, OAuthSettings, Secret};
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
