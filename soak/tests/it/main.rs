//! The CI-scale slice of the soak that `cargo test` runs: small and quick. The real runs are
//! `cargo xtask soak` (full) and `cargo xtask soak --ci` (1/10).

use tulip_soak::{Report, Scale, rss_kib};

#[test]
fn shutdown_under_load_loses_no_response() {
    let report = tulip_soak::http::shutdown(Scale(0.02));
    assert!(report.passed(), "{report}");
}

#[test]
fn report_fails_on_a_failed_check() {
    let mut r = Report::new("t");
    r.check(true, "holds");
    assert!(r.passed());
    r.check(false, "breaks");
    assert!(!r.passed());
    assert!(r.to_string().contains("FAILED: breaks"));
}

#[test]
fn rss_is_readable_and_scale_has_floors() {
    assert!(rss_kib().is_some_and(|k| k > 0));
    assert_eq!(Scale(0.0).count(10), 1);
    assert_eq!(Scale(0.1).count(10_000), 1_000);
    assert_eq!(Scale(0.01).secs(60, 5).as_secs(), 5);
}
