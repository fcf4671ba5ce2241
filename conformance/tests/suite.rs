//! The whole conformance suite: every case through both front doors, the matrix judged, and
//! `MATRIX.md` regenerated. Fails on any failing case, any gap in a complete row, and a
//! committed `MATRIX.md` that differs from what this run produced.

use switchboard_conformance::{cases_dir, fixtures_dir, suite};

#[tokio::test]
async fn every_case_passes_and_the_matrix_is_current() {
    let report = suite::run(&cases_dir(), &fixtures_dir(), None)
        .await
        .unwrap_or_else(|e| panic!("the suite cannot run: {e}"));
    let path = cases_dir().join("../MATRIX.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, &report.matrix).expect("write MATRIX.md");
    println!("{}", report.summary);
    assert!(
        report.problems.is_empty(),
        "{}\n{} problems:\n{}",
        report.summary,
        report.problems.len(),
        report.problems.join("\n")
    );
    assert!(
        committed == report.matrix,
        "conformance/MATRIX.md was stale; this run rewrote it: commit the new version"
    );
}
