//! `switchboard-replay`: serves the recorded provider fixtures over HTTP until SIGTERM/SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchboard_conformance::{ReplayServer, fixtures_dir};

/// Replays recorded LLM provider responses: `ANY /{provider}/{fixture}/...`.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Fixtures directory (default: the fixtures shipped with this crate).
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let dir = args.fixtures.unwrap_or_else(fixtures_dir);
    let server = match ReplayServer::start_on(args.listen, dir).await {
        Ok(server) => server,
        Err(err) => {
            eprintln!("switchboard-replay: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Test harnesses read this single line to learn the port, so flush it right away.
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on http://{}", server.addr())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    match shutdown_signal().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("switchboard-replay: waiting for signals: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
