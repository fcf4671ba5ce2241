//! Adapter for AWS Bedrock: `Converse` / `ConverseStream` for chat and
//! `InvokeModel` for embeddings. The translation is `request`, `response`,
//! `stream` and `embeddings`; this file is the transport: URLs (the model id
//! is one percent-encoded path segment, ARNs included) and authentication —
//! a Bedrock API key as a bearer token when the deployment has `api_key`
//! (or `AWS_BEARER_TOKEN_BEDROCK`), otherwise SigV4 with the deployment's
//! AWS keys (`sigv4`).

mod credentials;
mod embeddings;
mod request;
pub(crate) mod response;
mod sigv4;
pub(crate) mod stream;

use std::time::SystemTime;

use futures::future::BoxFuture;
use http::Uri;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::http::{
    Client, Request, RequestSigner, Response, Upstream, bearer, body_bytes, endpoint,
};
use super::{
    ChunkStream, Provider, chunks_from_payloads, embed_usage, generated_id, include_usage,
    numbered_embeddings, unix_now,
};
use crate::config::DeploymentConfig;
use crate::error::{GatewayError, UpstreamError};
use crate::pb::{ChatRequest, ChatResponse, EmbedRequest, EmbedResponse};
use credentials::CredentialSource;

/// The documented default, with the deployment's region in it.
pub const DEFAULT_API_BASE: &str = "https://bedrock-runtime.{aws_region_name}.amazonaws.com";

/// Everything but RFC 3986's unreserved characters is encoded, so `:` in
/// `…-v1:0` and `/` in ARNs stay inside the one path segment.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const INPUT_TOKENS_HEADER: &str = "x-amzn-bedrock-input-token-count";

pub struct BedrockAdapter {
    upstream: Upstream,
    model: String,
    converse_url: Option<Uri>,
    stream_url: Option<Uri>,
    invoke_url: Option<Uri>,
}

impl BedrockAdapter {
    pub fn new(config: &DeploymentConfig, client: Client) -> Self {
        let region = config.aws.as_ref().map_or("", |aws| aws.region.as_str());
        // A configured base has no placeholder; the default's is the region.
        let base = config.base_url().replace("{aws_region_name}", region);
        let model = utf8_percent_encode(&config.model, PATH_SEGMENT).to_string();
        let url = |operation: &str| endpoint(&format!("{base}/model/{model}/{operation}"));
        let mut upstream =
            Upstream::new(config, client.clone(), bearer, &[], response::parse_error)
                .with_error_headers(response::code_from_headers);
        let credentials = config.aws.as_ref().and_then(|aws| aws.credentials.clone());
        if let (None, Some(source)) = (&config.api_key, credentials) {
            upstream = upstream.with_signer(Box::new(SigV4 {
                credentials: CredentialSource::new(config.provider.name(), source, client),
                signer: sigv4::Signer::new(region, sigv4::SERVICE),
            }));
        }
        Self {
            upstream,
            model: config.model.clone(),
            converse_url: url("converse"),
            stream_url: url("converse-stream"),
            invoke_url: url("invoke"),
        }
    }

    /// The AWS request id of an answer, else a made-up one.
    fn response_id(response: &Response) -> String {
        response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| generated_id("chatcmpl-bedrock-"), str::to_owned)
    }
}

/// Signs each request with the deployment's current credentials.
struct SigV4 {
    credentials: CredentialSource,
    signer: sigv4::Signer,
}

impl RequestSigner for SigV4 {
    fn sign<'a>(&'a self, request: &'a mut Request) -> BoxFuture<'a, Result<(), GatewayError>> {
        Box::pin(async move {
            let identity = self.credentials.identity().await?;
            self.signer
                .sign(&identity, request, SystemTime::now())
                .map_err(|message| GatewayError::UpstreamUnavailable {
                    provider: self.credentials.provider(),
                    message: format!("the request cannot be signed: {message}"),
                })
        })
    }

    fn refused(&self, error: &UpstreamError) {
        self.credentials.refused(error)
    }
}

impl Provider for BedrockAdapter {
    fn complete<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, &self.model)?;
            let response = self
                .upstream
                .post_json(self.converse_url.as_ref(), &body)
                .await?;
            let id = Self::response_id(&response);
            let bytes = self.upstream.read_body(response).await?;
            response::from_slice(&bytes, id, &self.model, unix_now())
                .map_err(|e| self.upstream.unreadable("response", e))
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let body = request::to_json(request, &self.model)?;
            let response = self
                .upstream
                .post_json(self.stream_url.as_ref(), &body)
                .await?;
            let state = stream::StreamState::new(
                self.upstream.provider,
                include_usage(request),
                Self::response_id(&response),
                &self.model,
                unix_now(),
            );
            let payloads = stream::event_payloads(
                body_bytes(response),
                self.upstream.provider,
                self.upstream.timeout,
            );
            Ok(chunks_from_payloads(payloads, state))
        })
    }

    fn embed<'a>(
        &'a self,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, GatewayError>> {
        Box::pin(async move {
            super::check_native_embed(self.upstream.provider, request)?;
            let family = embeddings::family(&self.model)?;
            let calls = embeddings::request_bodies(request, &family)
                .into_iter()
                .map(|body| async move {
                    let response = self
                        .upstream
                        .post_json(self.invoke_url.as_ref(), &body)
                        .await?;
                    let header_tokens = response
                        .headers()
                        .get(INPUT_TOKENS_HEADER)
                        .and_then(|v| v.to_str().ok()?.parse::<u32>().ok());
                    let bytes = self.upstream.read_body(response).await?;
                    let (vectors, tokens) = embeddings::vectors(&bytes)
                        .map_err(|e| self.upstream.unreadable("embeddings", e))?;
                    Ok::<_, GatewayError>((vectors, tokens.or(header_tokens)))
                });
            let answers = super::in_parallel(calls).await?;
            let mut tokens: Option<u32> = None;
            let mut vectors = Vec::with_capacity(request.input.len());
            for (answer, answer_tokens) in answers {
                vectors.extend(answer);
                if let Some(n) = answer_tokens {
                    tokens = Some(tokens.unwrap_or(0).saturating_add(n));
                }
            }
            Ok(EmbedResponse {
                embeddings: numbered_embeddings(vectors),
                model: self.model.clone(),
                usage: tokens.map(embed_usage),
                ..EmbedResponse::default()
            })
        })
    }
}
