//! One run of the whole suite: load the cases, run them, judge the matrix, render MATRIX.md.

use std::path::Path;

use serde_json::Value;

use crate::case::{self, Case};
use crate::matrix;
use crate::runner;

pub struct Report {
    /// Everything that makes the run fail; empty means green.
    pub problems: Vec<String>,
    /// The generated `MATRIX.md`.
    pub matrix: String,
    /// One line: how many cases ran and passed.
    pub summary: String,
}

/// Runs the cases under `cases_dir` (those whose id contains `filter`, if given).
pub async fn run(
    cases_dir: &Path,
    fixtures_dir: &Path,
    filter: Option<&str>,
) -> Result<Report, String> {
    let mut cases = case::load_all(cases_dir)?;
    if let Some(filter) = filter {
        cases.retain(|c| c.id.contains(filter));
    }
    let outcomes = runner::run(&cases, fixtures_dir).await?;
    let mut problems = if filter.is_some() {
        // A filtered run judges only its cases, not the matrix's gaps.
        outcomes
            .iter()
            .flat_map(|o| o.failures.iter().map(|f| format!("{}: {f}", o.case.id)))
            .collect()
    } else {
        matrix::problems(&outcomes)
    };
    for case in &cases {
        if let Err(e) = fixture_exists(fixtures_dir, case) {
            problems.push(format!("{}: {e}", case.id));
        }
    }
    let passed = outcomes.iter().filter(|o| o.failures.is_empty()).count();
    Ok(Report {
        summary: format!("{passed} of {} cases pass", outcomes.len()),
        matrix: matrix::render(&outcomes, |case| source(fixtures_dir, case)),
        problems,
    })
}

fn fixture_exists(fixtures_dir: &Path, case: &Case) -> Result<(), String> {
    match &case.spec.upstream {
        Some(upstream) => {
            let meta = fixtures_dir.join(format!("{}.meta.json", upstream.response));
            if meta.exists() {
                Ok(())
            } else {
                Err(format!("fixture {} has no meta.json", upstream.response))
            }
        }
        None => Ok(()),
    }
}

/// Where a case's bytes come from: the fixture's recording (repo and path) or documentation
/// page, plus the pages the case cites.
fn source(fixtures_dir: &Path, case: &Case) -> String {
    let mut parts = Vec::new();
    if let Some(upstream) = &case.spec.upstream {
        let meta = std::fs::read(fixtures_dir.join(format!("{}.meta.json", upstream.response)))
            .ok()
            .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
            .unwrap_or_default();
        let source = &meta["source"];
        let origin = match (
            source["repo"].as_str(),
            source["path"].as_str(),
            source["url"].as_str(),
        ) {
            (Some(repo), Some(path), _) => format!("{repo} `{path}`"),
            (_, _, Some(url)) => url.to_string(),
            _ => "unknown".to_string(),
        };
        parts.push(format!("fixture `{}` ({origin})", upstream.response));
    }
    parts.extend(case.spec.docs.iter().cloned());
    parts.join("; ")
}
