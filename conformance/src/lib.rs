//! Switchboard's provider conformance suite.
//!
//! - [`replay`]: an HTTP server that plays every provider at once on 127.0.0.1 from recorded
//!   fixtures (`fixtures/upstream/`), and matches the gateway's requests against conformance
//!   cases;
//! - [`case`]: the case format (`cases/{provider}/{feature}/{name}/`);
//! - [`matcher`]: structural JSON and header comparison with readable diffs;
//! - [`runner`]: drives each case through the gateway's HTTP and gRPC doors;
//! - [`matrix`]: the provider x feature matrix and the generated `MATRIX.md`;
//! - [`record`]: captures new cases from a real provider;
//! - [`suite`]: one whole run, judged, with its `MATRIX.md`.
//!
//! README.md documents the case format and the commands.

pub mod case;
pub mod matcher;
pub mod matrix;
pub mod record;
pub mod replay;
pub mod runner;
pub mod suite;

use std::path::PathBuf;

pub use replay::{PAUSE_HEADER, RecordedRequest, ReplayServer};

/// Absolute path of the fixtures shipped with this crate (`conformance/fixtures/upstream`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/upstream"))
}

/// A reqwest builder for the tests' HTTP clients. The workspace builds
/// reqwest without a bundled crypto provider (the gateway ships ring), so
/// ring is made the process default first.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    // Installing twice only reports that one is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Absolute path of the cases shipped with this crate (`conformance/cases`).
pub fn cases_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/cases"))
}
