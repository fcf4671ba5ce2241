//! The `switchboard` command: `serve` and `check-config`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use switchboard::config::Config;
use switchboard::front;
use switchboard::gateway::Gateway;
use tracing_subscriber::EnvFilter;

// The request path allocates many small, short-lived JSON and protobuf
// values; glibc malloc cost 18 % of CPU under load, mimalloc a fraction.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "gRPC-first LLM gateway with an OpenAI-compatible HTTP facade"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the gateway: gRPC and HTTP on one port.
    Serve {
        /// The YAML config file.
        #[arg(long, short, env = "SWITCHBOARD_CONFIG")]
        config: PathBuf,
        /// Listen address, overriding `server.listen`.
        #[arg(long, env = "SWITCHBOARD_LISTEN")]
        listen: Option<SocketAddr>,
    },
    /// Validates a config file; reports the first problem with its field path.
    CheckConfig {
        /// The YAML config file.
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(loaded) => {
                let names: std::collections::BTreeSet<&str> = loaded
                    .deployments
                    .iter()
                    .map(|d| d.model_name.as_str())
                    .collect();
                println!(
                    "{}: ok ({} deployments serving {} model names)",
                    config.display(),
                    loaded.deployments.len(),
                    names.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", config.display());
                ExitCode::from(2)
            }
        },
        Command::Serve { config, listen } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
                )
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, not in log
                // files and collectors.
                .with_ansi(std::io::stderr().is_terminal())
                .init();
            match run(&config, listen) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Loads the config, then builds the runtime it asks for and serves.
fn run(config_path: &std::path::Path, listen: Option<SocketAddr>) -> Result<(), String> {
    let mut config =
        Config::load(config_path).map_err(|e| format!("{}: {e}", config_path.display()))?;
    if let Some(listen) = listen {
        config.listen = listen;
    }
    // One thread needs no work-stealing scheduler: the current-thread one
    // does the same work with less bookkeeping per task wake-up.
    let mut runtime = match config.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads);
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = runtime
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> Result<(), String> {
    let gateway = Arc::new(Gateway::new(&config));
    let app = front::app(gateway.clone()).await;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        %addr,
        deployments = config.deployments.len(),
        auth = if config.master_key.is_some() { "master_key" } else { "none" },
        "switchboard listening (gRPC + HTTP)"
    );
    front::serve(listener, &config, app, async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining in-flight requests");
        gateway.start_draining();
    })
    .await
    .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM (orchestrators) or Ctrl-C (people).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
