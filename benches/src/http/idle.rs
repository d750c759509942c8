//! Memory per idle keep-alive connection: tulip-http beside hyper 1.x on tokio.
//!
//! Each sample starts the server in a fresh child process (this same binary, told by an
//! environment variable to serve instead of benchmarking), opens `N` connections that each
//! make one request and then sit idle, and reads the child's resident set size (`VmRSS`)
//! before and after. The client side lives in this process and is plain std sockets, so the
//! child's growth is the server's own cost: connection task, buffers, timers, plus the kernel
//! socket structures that RSS does not count (they are the same for both servers).
//!
//! The harness compares times, so the sample's "time" is the result in nanoseconds = bytes
//! per connection: the printed `tulip ÷ hyper` ratio is the memory ratio.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::LineChild;
use crate::harness::{Bench, Config, Sample};

/// The environment variable that turns a child into an idle-connection server.
const CHILD_ENV: &str = "TULIP_BENCH_IDLE_SERVER";
/// A filter matching no benchmark, so the child runs none before reaching `http::benches`.
const CHILD_FILTER: &str = "__idle_server_child__";

pub(super) fn bench(cfg: &Config) -> Bench {
    let n = cfg.size(2_000, 2_000);
    Bench::new(
        "http_idle_keepalive_memory",
        format!("server RSS growth per idle keep-alive conn, {n} conns; 1 ns shown = 1 byte"),
    )
    .with("tulip", move || measure("tulip", n))
    .with("hyper", move || measure("hyper", n))
}

/// In a child started by [`measure`]: serve, answer `rss` queries on stdin, exit at EOF.
pub(super) fn child_main_if_requested() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return;
    };
    let addr = match kind.as_str() {
        "tulip" => super::TulipServer::start().addr,
        "hyper" => super::HyperServer::start().addr,
        "hyper-h2" => super::HyperServer::start_h2().addr,
        other => panic!("unknown idle server kind {other}"),
    };
    println!("IDLE addr {addr}");
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match line.trim() {
            "rss" => println!("IDLE rss {}", rss_bytes()),
            "cpu" => println!("IDLE cpu {}", cpu_ns()),
            _ => {}
        }
    }
    std::process::exit(0);
}

/// Resident set size of this process, from `/proc/self/status` (kB there).
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time this process has used so far, in nanoseconds: the sum over its threads of the
/// first field of `/proc/self/task/*/schedstat` (time on a CPU; exact, unlike the 10 ms ticks
/// of `/proc/self/stat`).
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Server CPU per keep-alive request: the same load as `http_plaintext_keepalive`, against a
/// server in a child process whose own CPU time is read before and after. On a 2-core machine
/// the shared load generator takes a third of the CPU, so throughput alone hides how much
/// each server spends; this is that cost, exactly.
pub(super) fn cpu_bench(cfg: &Config) -> Bench {
    let requests = cfg.size(32_000, 200_000);
    Bench::new(
        "http_keepalive_server_cpu",
        format!(
            "server CPU per request, {requests} GET /, 64 conns, depth 1; 1 ns shown = 1 ns of CPU"
        ),
    )
    .with("tulip", move || measure_cpu("tulip", requests))
    .with("hyper", move || measure_cpu("hyper", requests))
}

fn measure_cpu(kind: &str, requests: usize) -> Sample {
    let (mut server, addr) = ServerChild::start(kind);
    // Warm up: worker threads, allocator arenas, the date cache.
    super::load(addr, "/", requests / 8, 1);
    let before = server.cpu();
    let wall = super::load(addr, "/", requests, 1);
    let per_req = server.cpu().saturating_sub(before) as f64 / requests as f64;
    Sample {
        time: Duration::from_nanos(per_req.round() as u64),
        metrics: vec![
            ("cpu_ns_per_req", per_req),
            ("req_per_s", requests as f64 / wall.as_secs_f64()),
        ],
    }
}

/// A server child of this binary (`IDLE` lines); killed when dropped.
pub(super) struct ServerChild(LineChild);

impl ServerChild {
    pub(super) fn start(kind: &str) -> (ServerChild, SocketAddr) {
        let exe = std::env::current_exe().expect("own executable");
        let mut cmd = Command::new(exe);
        cmd.args(["--quick", CHILD_FILTER])
            .env(CHILD_ENV, kind)
            .stderr(Stdio::null());
        let mut io = LineChild::spawn(cmd, format!("idle server child {kind}"));
        let addr = io.reply("IDLE", "addr").parse().expect("child address");
        (ServerChild(io), addr)
    }

    fn rss(&mut self) -> u64 {
        self.0.send("rss");
        self.0.reply("IDLE", "rss").parse().expect("rss number")
    }

    pub(super) fn cpu(&mut self) -> u64 {
        self.0.send("cpu");
        self.0.reply("IDLE", "cpu").parse().expect("cpu number")
    }
}

/// One GET on `c`, reading the whole reply (Content-Length framed).
fn one_request(c: &mut TcpStream, buf: &mut [u8]) {
    c.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
        .expect("write request");
    let mut got = 0;
    loop {
        let n = c.read(&mut buf[got..]).expect("read reply");
        assert!(n > 0, "server closed a keep-alive connection");
        got += n;
        if super::reply_len(&buf[..got]).is_some() {
            return;
        }
    }
}

fn measure(kind: &str, n: usize) -> Sample {
    let (mut server, addr) = ServerChild::start(kind);
    let mut buf = vec![0u8; 4096];
    // Warm the server up (worker threads, allocator arenas, date cache) before the baseline.
    let mut warm: Vec<TcpStream> = Vec::with_capacity(n + 64);
    for _ in 0..64 {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        one_request(&mut c, &mut buf);
        warm.push(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = server.rss();
    let start = Instant::now();
    let mut conns = warm;
    for _ in 0..n {
        let mut c = TcpStream::connect(addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        one_request(&mut c, &mut buf);
        conns.push(c);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "idle memory bench took too long"
        );
    }
    // Let the server park every connection. (tulip also gives an idle connection's buffers
    // back after 1 s, but freed heap memory stays resident, so waiting for that would not
    // change RSS: what counts here is what a connection allocates at all.)
    std::thread::sleep(Duration::from_millis(300));
    let after = server.rss();
    drop(conns);
    let per_conn = after.saturating_sub(before) as f64 / n as f64;
    Sample {
        time: Duration::from_nanos(per_conn.round() as u64),
        metrics: vec![("bytes_per_conn", per_conn)],
    }
}
