//! The `switchboard` command line, black-box.

use std::process::Command;

fn switchboard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("run switchboard")
}

fn repo_file(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The shipped example configs validate.
#[test]
fn example_configs_are_valid() {
    for example in [
        "deploy/examples/quickstart.yaml",
        "deploy/examples/bench.yaml",
    ] {
        let out = switchboard(&["check-config", &repo_file(example)]);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
    }
}

/// A broken config fails with exit code 2 and names the field, and `serve`
/// refuses to start on it.
#[test]
fn broken_config_names_the_field() {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.yaml");
    std::fs::write(
        &path,
        "model_list:\n  - model_name: a\n    params: {model: nope/x}\n",
    )
    .unwrap();
    let path = path.to_string_lossy().into_owned();

    let out = switchboard(&["check-config", &path]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("model_list[0].params.model: unknown provider `nope`"),
        "{stderr}"
    );

    let out = switchboard(&["serve", "--config", &path, "--listen", "127.0.0.1:0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model_list[0].params.model"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
