//! `conformance`: run the provider x feature suite, or record a new case from a real provider.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard_conformance::record::{RecordOptions, record};
use switchboard_conformance::{cases_dir, fixtures_dir, suite};

#[derive(Parser)]
#[command(version, about = "Switchboard's provider conformance suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every case through both front doors and rewrites MATRIX.md.
    Run {
        /// Only cases whose id contains this text (MATRIX.md is then left alone).
        #[arg(long)]
        filter: Option<String>,
    },
    /// Records a case from a real provider: the case directory holds client-request.json and
    /// a case.yaml with `description` and `deployment` (`api_base: "{{replay}}/..."`).
    Record {
        /// The case directory, e.g. conformance/cases/openai/chat/my-case.
        case: PathBuf,
        /// The provider origin `{{replay}}` stands for, e.g. https://api.openai.com.
        #[arg(long)]
        upstream: String,
        /// Name of the fixture to write, `{provider}/{fixture}`, e.g. openai/chat__my-case.
        #[arg(long)]
        fixture: String,
        /// Environment variable holding the real API key (never written anywhere).
        #[arg(long, value_name = "VAR")]
        api_key_env: String,
        /// Fixtures root (default: this crate's fixtures/upstream).
        #[arg(long)]
        fixtures: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { filter } => {
            let report = match suite::run(&cases_dir(), &fixtures_dir(), filter.as_deref()).await {
                Ok(report) => report,
                Err(e) => {
                    eprintln!("conformance: {e}");
                    return ExitCode::FAILURE;
                }
            };
            println!("{}", report.summary);
            if filter.is_none() {
                let path = cases_dir().join("../MATRIX.md");
                if let Err(e) = std::fs::write(&path, &report.matrix) {
                    eprintln!("conformance: {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            for problem in &report.problems {
                eprintln!("FAIL {problem}");
            }
            if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Record {
            case,
            upstream,
            fixture,
            api_key_env,
            fixtures,
        } => {
            let Ok(api_key) = std::env::var(&api_key_env) else {
                eprintln!("conformance: ${api_key_env} is not set");
                return ExitCode::FAILURE;
            };
            let options = RecordOptions {
                case_dir: case,
                fixtures_dir: fixtures.unwrap_or_else(fixtures_dir),
                fixture,
                upstream,
                api_key,
            };
            match record(&options).await {
                Ok(written) => {
                    for path in written {
                        println!("wrote {}", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("conformance: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
