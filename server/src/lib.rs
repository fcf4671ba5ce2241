//! Switchboard: a gRPC-first LLM gateway with an OpenAI-compatible HTTP
//! facade, both on one port.
//!
//! Modules follow the path a request takes:
//!
//! - [`front`]: the two front doors on one listener — [`front::grpc`]
//!   (`ChatService`, `EmbeddingService`, health, reflection, gRPC-Web) and
//!   [`front::http`] (the OpenAI-compatible facade);
//! - [`gateway`]: the core both doors call;
//! - [`auth`]: who is calling (master key today, virtual keys next);
//! - [`routing`]: logical model name -> deployment;
//! - [`providers`]: one adapter per provider family, translating the
//!   canonical request to the provider's wire and back;
//! - [`openai_wire`]: the OpenAI JSON format <-> canonical messages, shared by
//!   the facade and the OpenAI-family providers.
//!
//! The canonical request and response are the protobuf messages in [`pb`].
//! [`config`] loads the LiteLLM-shaped YAML file; [`error`] is the one error
//! type and what it means on each door; [`json_writer`] writes the JSON
//! bodies of chat and embeddings (to providers, to callers, SSE events).

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod error;
pub mod front;
pub mod gateway;
pub mod json_writer;
pub mod openai_wire;
pub mod providers;
pub mod routing;

/// The `switchboard.v1` protobuf package: the canonical messages and the
/// generated gRPC services.
#[allow(clippy::all)]
pub mod pb {
    tonic::include_proto!("switchboard.v1");
}
