//! Record mode against a local "provider" (the replay server playing recorded traffic): the
//! recorded case must replay green through the suite's runner, keep the provider's bytes and
//! never write the key.

use std::path::{Path, PathBuf};

use switchboard_conformance::record::{RecordOptions, record};
use switchboard_conformance::{ReplayServer, case, fixtures_dir, runner};

const LIVE_KEY: &str = "sk-live-0123456789abcdef";

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir =
            std::env::temp_dir().join(format!("sb-record-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Records `fixture` (played by the replay server) as a new case, then replays that case.
async fn record_and_replay(fixture: &str, feature: &str, client_request: &str, body_suffix: &str) {
    let provider = ReplayServer::start(fixtures_dir()).await.expect("replay");
    let tmp = TempDir::new(feature);
    let cases = tmp.0.join("cases");
    let case_dir = cases.join("openai").join(feature).join("recorded");
    std::fs::create_dir_all(&case_dir).unwrap();
    std::fs::write(
        case_dir.join("case.yaml"),
        "description: recorded by the test\ndeployment:\n  model: openai/gpt-4o\n  api_base: \"{{replay}}/v1\"\n",
    )
    .unwrap();
    std::fs::write(case_dir.join("client-request.json"), client_request).unwrap();
    let fixtures = tmp.0.join("fixtures");

    let written = record(&RecordOptions {
        case_dir: case_dir.clone(),
        fixtures_dir: fixtures.clone(),
        fixture: format!("openai/{feature}__recorded"),
        upstream: format!("http://{}/openai/{fixture}", provider.addr()),
        api_key: LIVE_KEY.to_string(),
    })
    .await
    .unwrap_or_else(|e| panic!("record: {e}"));
    assert!(written.len() >= 5, "{written:?}");

    // The provider saw the real key, exactly once per header.
    let seen = provider.requests();
    assert_eq!(seen.len(), 1);
    let auth: Vec<_> = seen[0]
        .headers
        .iter()
        .filter(|(n, _)| n == "authorization")
        .collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].1, format!("Bearer {LIVE_KEY}"));

    // No file carries the key; the placeholder stands in for it.
    for file in files_under(&tmp.0) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(LIVE_KEY), "{} leaks the key", file.display());
    }
    let yaml = std::fs::read_to_string(case_dir.join("case.yaml")).unwrap();
    assert!(
        yaml.contains("authorization: Bearer sk-conformance-upstream"),
        "{yaml}"
    );

    // The provider's body is stored byte for byte.
    let original =
        std::fs::read(fixtures_dir().join(format!("openai/{fixture}.{body_suffix}"))).unwrap();
    let recorded =
        std::fs::read(fixtures.join(format!("openai/{feature}__recorded.{body_suffix}"))).unwrap();
    assert_eq!(original, recorded);

    // And the new case replays green through both doors.
    let case = case::load(&cases, &case_dir).unwrap_or_else(|e| panic!("load: {e}"));
    let cases = [case];
    let outcomes = runner::run(&cases, &fixtures).await.expect("run");
    assert_eq!(outcomes[0].failures, Vec::<String>::new());
}

#[tokio::test]
async fn records_a_json_answer_that_replays_green() {
    record_and_replay(
        "tools__single-tool-call",
        "tools",
        &std::fs::read_to_string(
            fixtures_dir().join("openai/tools__single-tool-call.request.json"),
        )
        .unwrap(),
        "response.json",
    )
    .await;
}

#[tokio::test]
async fn records_a_stream_with_its_bytes_that_replays_green() {
    record_and_replay(
        "stream__gpt-4o-text-include-usage",
        "stream",
        r#"{"messages": [{"role": "user", "content": "What is the capital of Mexico?"}], "stream": true, "stream_options": {"include_usage": true}}"#,
        "response.sse",
    )
    .await;
}
