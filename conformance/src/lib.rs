//! Conformance tooling for Switchboard.
//!
//! Today this crate is the *replay upstream*: an HTTP server that plays LLM providers
//! (OpenAI and OpenAI-compatible ones so far) on 127.0.0.1 by replaying real recorded provider
//! responses from `fixtures/upstream/`, so the gateway's black-box tests never talk to a
//! hand-written fake. A request to `/{provider}/{fixture}/...` is answered with the fixture
//! `fixtures/upstream/{provider}/{fixture}.*` (status and headers from its `meta.json`, body
//! from `.response.json`, `.response.sse` or `.response.chunks.jsonl`), and every request is
//! recorded so a test can assert what the gateway actually sent upstream.
//!
//! The binary `switchboard-replay` serves the same thing for non-Rust tests; see README.md.

mod replay;

use std::path::PathBuf;

pub use replay::{PAUSE_HEADER, RecordedRequest, ReplayServer};

/// Absolute path of the fixtures shipped with this crate (`conformance/fixtures/upstream`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/upstream"))
}
