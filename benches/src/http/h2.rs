//! HTTP/2 server cost: `h2load` (nghttp2's load generator) against tulip-http and against
//! hyper 1.x's HTTP/2 server on tokio, cleartext with prior knowledge, 64 connections at one
//! and at sixteen concurrent streams each.
//!
//! Each server runs in a child process (as in `http_keepalive_server_cpu`) whose own CPU time
//! is read before and after the load, so the shared 2-core machine's load generator does not
//! blur the comparison: the sample's "time" is server CPU nanoseconds per request, and the
//! printed `tulip ÷ hyper` ratio is the CPU ratio. Requests per second from the same run are a
//! metric. Skipped (no rows) when `h2load` is not installed.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use super::idle::ServerChild;
use crate::harness::{Bench, Config, Sample};

const CONNS: usize = 64;

pub(super) fn benches(cfg: &Config) -> Vec<Bench> {
    if Command::new("h2load").arg("--version").output().is_err() {
        eprintln!("SKIP http2 benches: h2load not installed");
        return Vec::new();
    }
    let requests = cfg.size(32_000, 200_000);
    [1usize, 16]
        .into_iter()
        .map(|streams| {
            Bench::new(
                format!("http2_server_cpu_m{streams}"),
                format!(
                    "server CPU per request, h2load -n {requests} -c {CONNS} -m {streams} GET /; \
                     1 ns shown = 1 ns of CPU"
                ),
            )
            .with("tulip", move || measure("tulip", requests, streams))
            .with("hyper", move || measure("hyper-h2", requests, streams))
        })
        .collect()
}

fn measure(kind: &str, requests: usize, streams: usize) -> Sample {
    let (mut server, addr) = ServerChild::start(kind);
    // Warm up: worker threads, allocator arenas, the date cache.
    h2load(addr, requests / 8, streams);
    let before = server.cpu();
    let start = Instant::now();
    let rate = h2load(addr, requests, streams);
    let wall = start.elapsed();
    let per_req = server.cpu().saturating_sub(before) as f64 / requests as f64;
    Sample {
        time: Duration::from_nanos(per_req.round() as u64),
        metrics: vec![
            ("cpu_ns_per_req", per_req),
            (
                "req_per_s",
                rate.unwrap_or(requests as f64 / wall.as_secs_f64()),
            ),
        ],
    }
}

/// Runs h2load; checks every request succeeded; returns its requests per second.
fn h2load(addr: SocketAddr, requests: usize, streams: usize) -> Option<f64> {
    let out = Command::new("h2load")
        .args([
            "-n",
            &requests.to_string(),
            "-c",
            &CONNS.to_string(),
            "-m",
            &streams.to_string(),
            "-T",
            "60",
            &format!("http://{addr}/"),
        ])
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    let ok = format!("{requests} succeeded, 0 failed");
    assert!(text.contains(&ok), "h2load against {addr}: {text}");
    // "finished in 1.23s, 45678.90 req/s, ..."
    text.lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|r| r.strip_suffix(" req/s"))
        .and_then(|r| r.parse().ok())
}
