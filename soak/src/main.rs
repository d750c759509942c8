//! `tulip-soak [--scale F] [SCENARIO..]`: runs soak scenarios and prints one report each,
//! then a summary line; exits non-zero when a check failed.
//!
//! Scenarios: `keepalive`, `slowloris`, `shutdown`, `websocket`, `scale` (default: all).
//! `--scale 1` is the full run, `--scale 0.1` the CI run. Raise the fd limit first
//! (`ulimit -n 65536`); `xtask/scripts/soak.sh` does.

use std::process::ExitCode;

use tulip_soak::{Report, Scale};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("scale-one") {
        // Internal: one scale measurement in a fresh process; prints "RSS_BEFORE RSS_AFTER".
        let n = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
        return match tulip_soak::scale::measure(args.get(1).map_or("", String::as_str), n) {
            Some((before, after)) => {
                println!("{before} {after}");
                ExitCode::SUCCESS
            }
            None => ExitCode::FAILURE,
        };
    }
    let mut scale = Scale(1.0);
    let mut names = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scale" => scale = Scale(it.next().and_then(|s| s.parse().ok()).unwrap_or(1.0)),
            _ => names.push(a),
        }
    }
    if names.is_empty() {
        names = ["keepalive", "slowloris", "shutdown", "websocket", "scale"]
            .map(String::from)
            .to_vec();
    }
    let mut reports: Vec<Report> = Vec::new();
    for name in &names {
        let t = std::time::Instant::now();
        let report = match name.as_str() {
            "keepalive" => tulip_soak::http::keepalive(scale),
            "slowloris" => tulip_soak::http::slowloris(scale),
            "shutdown" => tulip_soak::http::shutdown(scale),
            "websocket" => tulip_soak::ws::churn(scale),
            "scale" => tulip_soak::scale::compare(scale),
            other => {
                eprintln!("unknown scenario {other}");
                return ExitCode::from(2);
            }
        };
        println!("{report}  (took {:.1}s)", t.elapsed().as_secs_f64());
        reports.push(report);
    }
    let failed: Vec<&str> = reports
        .iter()
        .filter(|r| !r.passed())
        .map(Report::name)
        .collect();
    if failed.is_empty() {
        println!(
            "soak: ok ({} scenarios at scale {})",
            reports.len(),
            scale.0
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "soak: FAIL ({} of {} scenarios: {})",
            failed.len(),
            reports.len(),
            failed.join(", ")
        );
        ExitCode::FAILURE
    }
}
