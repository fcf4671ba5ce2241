//! The front doors and the one port they share.
//!
//! tonic's routes (gRPC and gRPC-Web, plus health and reflection) are an axum
//! router inside; they are merged with the OpenAI facade's routes by path and
//! served once, HTTP/1.1 and h2c on the same listener.

mod connection;
pub mod grpc;
pub mod http;

use std::future::Future;
use std::sync::Arc;

use ::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::Router;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower::Layer;

use crate::config::Config;
use crate::error::{ErrorView, GatewayError};
use crate::gateway::Gateway;
use crate::pb::chat_service_server::ChatServiceServer;
use crate::pb::embedding_service_server::EmbeddingServiceServer;
use grpc::BodyDeadline;

/// Encoded descriptors of `proto/`, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("switchboard_descriptor");

/// Builds the whole application: both doors, health and reflection.
pub async fn app(gateway: Arc<Gateway>) -> Router {
    let api = grpc::GrpcApi::new(gateway.clone());
    let limit = gateway.max_body_bytes;
    let chat = ChatServiceServer::new(api.clone()).max_decoding_message_size(limit);
    let embedding = EmbeddingServiceServer::new(api).max_decoding_message_size(limit);

    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ChatServiceServer<grpc::GrpcApi>>()
        .await;
    health_reporter
        .set_serving::<EmbeddingServiceServer<grpc::GrpcApi>>()
        .await;

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc error details, so grpcurl can decode ErrorInfo/RetryInfo.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    // Our own descriptors are compiled in; failing here is a build defect.
    let reflection_v1 = reflection()
        .build_v1()
        .unwrap_or_else(|e| panic!("reflection v1: {e}"));
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .unwrap_or_else(|e| panic!("reflection v1alpha: {e}"));

    // gRPC-Web wraps each service rather than the router: a router layer
    // nests a second route (and its boxed future) inside every route. The
    // body deadline wraps only the services whose requests are one message
    // (a reflection client may hold its stream open).
    let web = tonic_web::GrpcWebLayer::new();
    let timeout = gateway.request_body_timeout;
    let chat = BodyDeadline::new(web.layer(chat), timeout);
    let embedding = BodyDeadline::new(web.layer(embedding), timeout);
    let grpc_routes = tonic::service::Routes::new(chat)
        .add_service(embedding)
        .add_service(web.layer(health))
        .add_service(web.layer(reflection_v1))
        .add_service(web.layer(reflection_v1alpha))
        .into_axum_router();

    // tonic's own fallback answers every unknown path with HTTP 200 +
    // grpc-status 12; ours answers each protocol in its own terms.
    http::router(gateway)
        .merge(grpc_routes)
        .fallback(unknown_path)
}

async fn unknown_path(headers: HeaderMap, uri: ::http::Uri) -> Response {
    let is_grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if is_grpc {
        let mut response = StatusCode::OK.into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert(
            "grpc-status",
            HeaderValue::from(tonic::Code::Unimplemented as i32),
        );
        h.insert(
            "grpc-message",
            HeaderValue::from_static("unknown%20service%20or%20method"),
        );
        return response;
    }
    http::HttpError(GatewayError::NotFound(uri.path().to_owned())).into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then lets
/// in-flight requests (streams included) finish. Client connections are
/// limited and probed as `config` says.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = connection::limit(config.max_connections);
    tracing::info!(max_connections = limit, "accepting client connections");
    let acceptor = connection::Acceptor::new(listener, limit, config.client_ping);
    axum::serve(acceptor, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The one place request errors are logged: server-side failures loudly,
/// caller mistakes quietly. Messages are already free of secrets.
pub(crate) fn log_error(view: &ErrorView) {
    if view.http_status.is_server_error() || view.provider.is_some() {
        tracing::warn!(
            status = view.http_status.as_u16(),
            reason = view.reason,
            provider = view.provider,
            "{}",
            view.message
        );
    } else {
        tracing::debug!(
            status = view.http_status.as_u16(),
            reason = view.reason,
            "{}",
            view.message
        );
    }
}
