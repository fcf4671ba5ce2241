//! The provider x feature matrix: which columns exist, which rows must be complete, and the
//! generated `MATRIX.md`.

use std::fmt::Write;

use crate::case::Case;

pub struct Feature {
    /// The feature's directory name under `cases/{provider}/`.
    pub id: &'static str,
    /// Column heading.
    pub title: &'static str,
}

const fn feature(id: &'static str, title: &'static str) -> Feature {
    Feature { id, title }
}

/// The columns, in order.
pub const FEATURES: &[Feature] = &[
    feature("chat", "chat"),
    feature("system", "system prompt"),
    feature("multi-turn", "multi-turn"),
    feature("stream", "stream text"),
    feature("stream-usage", "stream usage"),
    feature("tools", "tool call"),
    feature("tools-parallel", "parallel tool calls"),
    feature("tools-stream", "streamed tool args"),
    feature("tool-result", "tool result"),
    feature("tool-choice-none", "tool_choice none"),
    feature("tool-choice-required", "tool_choice required"),
    feature("tool-choice-named", "tool_choice named"),
    feature("image-url", "image URL"),
    feature("image-base64", "image base64"),
    feature("json-object", "json_object"),
    feature("json-schema", "json_schema"),
    feature("stop", "stop"),
    feature("sampling", "sampling params"),
    feature("cached-tokens", "cached tokens"),
    feature("reasoning", "reasoning"),
    feature("embeddings", "embeddings"),
    feature("embeddings-batch", "embeddings batch"),
    feature("error-rate-limit", "429 + retry-after"),
    feature("error-bad-request", "400"),
    feature("error-auth", "401"),
    feature("error-overloaded", "503/529"),
    feature("error-context-length", "context length"),
];

/// The bug classes peer gateways keep shipping; every complete row has a case for each.
pub const GUARDS: &[Feature] = &[
    feature(
        "nothing-injected",
        "nothing the client did not send is added (no empty tools, tool_choice, system)",
    ),
    feature(
        "usage-kept",
        "every usage counter survives (cache read/write, reasoning tokens)",
    ),
    feature(
        "unknown-fields",
        "unknown client fields pass through or are rejected as documented",
    ),
];

pub struct Row {
    /// The directory under `cases/`.
    pub id: &'static str,
    pub title: &'static str,
    /// A complete row must have a case in every column; the suite fails on a gap. Rows still
    /// being filled show their gaps without failing.
    pub complete: bool,
}

const fn row(id: &'static str, title: &'static str, complete: bool) -> Row {
    Row {
        id,
        title,
        complete,
    }
}

pub const ROWS: &[Row] = &[
    row("openai", "OpenAI", true),
    row("groq", "Groq", true),
    row("together", "Together", true),
    row("deepseek", "DeepSeek", true),
    row("openrouter", "OpenRouter", true),
    row("fireworks", "Fireworks", true),
    row("azure", "Azure OpenAI", true),
    row("anthropic", "Anthropic", true),
    row("gemini", "Gemini", true),
    row("vertex_ai", "Vertex AI", true),
    row("ollama", "Ollama", true),
    row("cohere", "Cohere", true),
    row("bedrock", "AWS Bedrock", true),
    row("mistral", "Mistral", true),
];

/// How one case went.
pub struct Outcome<'a> {
    pub case: &'a Case,
    /// Every difference found, prefixed by the door (`http:` / `grpc:`). Empty means pass.
    pub failures: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cell {
    Pass,
    Unsupported,
    Fail,
    NoCase,
}

impl Cell {
    /// One case's own result.
    fn of(outcome: &Outcome<'_>) -> Cell {
        match (outcome.failures.is_empty(), outcome.case.spec.unsupported) {
            (false, _) => Cell::Fail,
            (true, true) => Cell::Unsupported,
            (true, false) => Cell::Pass,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Cell::Pass => "pass",
            Cell::Unsupported => "unsupported",
            Cell::Fail => "**FAIL**",
            Cell::NoCase => "—",
        }
    }
}

/// The cell of `row` x `feature`: failing if any case fails, `unsupported` if every case is an
/// `unsupported` case, otherwise pass.
pub fn cell(outcomes: &[Outcome<'_>], row: &str, feature: &str) -> Cell {
    let cells: Vec<Cell> = outcomes
        .iter()
        .filter(|o| o.case.provider == row && o.case.feature == feature)
        .map(Cell::of)
        .collect();
    if cells.is_empty() {
        Cell::NoCase
    } else if cells.contains(&Cell::Fail) {
        Cell::Fail
    } else if cells.iter().all(|c| *c == Cell::Unsupported) {
        Cell::Unsupported
    } else {
        Cell::Pass
    }
}

/// What makes the suite fail: failing cells anywhere, gaps in complete rows, guards a complete
/// row does not cover, and cases in a directory that is no row.
pub fn problems(outcomes: &[Outcome<'_>]) -> Vec<String> {
    let mut problems = Vec::new();
    for outcome in outcomes {
        if !ROWS.iter().any(|r| r.id == outcome.case.provider) {
            problems.push(format!(
                "{}: provider directory is not a row of the matrix",
                outcome.case.id
            ));
        }
        for failure in &outcome.failures {
            problems.push(format!("{}: {failure}", outcome.case.id));
        }
    }
    for row in ROWS.iter().filter(|r| r.complete) {
        for feature in FEATURES {
            if cell(outcomes, row.id, feature.id) == Cell::NoCase {
                problems.push(format!("{}/{}: no case", row.id, feature.id));
            }
        }
        for guard in GUARDS {
            let covered = outcomes.iter().any(|o| {
                o.case.provider == row.id && o.case.spec.guards.iter().any(|g| g == guard.id)
            });
            if !covered {
                problems.push(format!("{}: no case guards {:?}", row.id, guard.id));
            }
        }
    }
    problems
}

/// `MATRIX.md`: the table, the guards, and every case with its source.
pub fn render(outcomes: &[Outcome<'_>], sources: impl Fn(&Case) -> String) -> String {
    let mut md = String::from(
        "# Conformance matrix\n\n\
         Generated by `cargo test -p switchboard-conformance --test suite` (part of the README's \
         test command); do not edit by hand. Every case runs through both front doors (the \
         OpenAI-compatible HTTP facade and gRPC) against the replay server; see README.md for \
         the case format.\n\n\
         `pass`: every case in the cell passes on every door. `unsupported`: the provider lacks \
         the feature and the gateway answers with a clear error without calling it (tested). \
         `—`: no case yet (only allowed in rows still being filled). `FAIL`: a case fails.\n\n",
    );
    md.push_str("| provider |");
    for feature in FEATURES {
        let _ = write!(md, " {} |", feature.title);
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(FEATURES.len()));
    md.push('\n');
    for row in ROWS {
        let status = if row.complete { "" } else { " (in progress)" };
        let _ = write!(md, "| {}{status} |", row.title);
        for feature in FEATURES {
            let _ = write!(md, " {} |", cell(outcomes, row.id, feature.id).symbol());
        }
        md.push('\n');
    }

    md.push_str("\n## Regression guards\n\n| bug class | cases |\n|---|---|\n");
    for guard in GUARDS {
        let ids: Vec<String> = outcomes
            .iter()
            .filter(|o| o.case.spec.guards.iter().any(|g| g == guard.id))
            .map(|o| format!("`{}`", o.case.id))
            .collect();
        let _ = writeln!(md, "| {} | {} |", guard.title, ids.join(", "));
    }

    md.push_str("\n## Cases\n\n| case | doors | result | what it proves | source |\n|---|---|---|---|---|\n");
    for outcome in outcomes {
        let case = outcome.case;
        let doors: Vec<&str> = case.spec.doors.iter().map(|d| d.name()).collect();
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} |",
            case.id,
            doors.join(" + "),
            Cell::of(outcome).symbol(),
            case.spec.description.replace('|', "\\|"),
            sources(case).replace('|', "\\|")
        );
    }
    md
}
