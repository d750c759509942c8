//! `cargo xtask bench --cpu [FILTER..]`: CPU time per operation of every server (and of the
//! HTTP client), tulip beside its peer in the same run.
//!
//! On a 2-core machine a load generator saturates its core before a good server does, so
//! requests per second is a joint limit that hides the server's own cost. Here the server
//! runs in a child process (this same binary, told by `TULIP_BENCH_CPU_CHILD` what to serve)
//! pinned with `sched_setaffinity` to core 0, on a one-worker runtime; the load comes from
//! this process, pinned to core 1. One sample runs a bounded count of operations (every load
//! loop also has a time limit) and divides the child's CPU time over that span (the sum of
//! its threads' `/proc/self/task/*/schedstat` run times, nanosecond-exact) by the count.
//!
//! The HTTP client row turns this around: the client runs pinned in the child, a hyper
//! server in this process serves it, and the child's CPU per request is measured.
//!
//! The harness compares "times", so a sample's time is the CPU per operation: 1 ns shown is
//! 1 ns of CPU, and `tulip ÷ peer` is the CPU ratio (below 1.00: tulip spends less).

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::LineChild;
use crate::harness::{Bench, Config, Sample};

mod load;
mod servers;

/// The environment variable that makes this binary a pinned server (or client) child.
const CHILD_ENV: &str = "TULIP_BENCH_CPU_CHILD";
/// For a client child: the server it requests from.
const TARGET_ENV: &str = "TULIP_BENCH_CPU_TARGET";
/// Core of the measured child, and of the load generator.
const CHILD_CORE: usize = 0;
const LOAD_CORE: usize = 1;

/// The file servers: tulip with sendfile(2), tulip's read path, hyper reading with tokio::fs.
const FILE_KINDS: [(&str, &str); 3] = [
    ("tulip", "file-tulip"),
    ("tulip-read", "file-tulip-read"),
    ("hyper", "file-hyper"),
];

/// One workload: its name, what one operation is, and the two child kinds that serve it.
struct Workload {
    name: &'static str,
    op: String,
    count: usize,
    kinds: Vec<(&'static str, &'static str)>,
    drive: fn(&mut ChildProc, usize),
}

pub(crate) fn benches(cfg: &Config) -> Vec<Bench> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || !pin(LOAD_CORE) {
        eprintln!("fewer than 2 cores: the CPU benchmarks run unpinned");
    }
    let n = |quick, full| cfg.size(quick, full);
    let workloads = [
        Workload {
            name: "cpu/http_keepalive",
            op: "GET /, 64 conns, depth 1".into(),
            count: n(32_000, 100_000),
            kinds: vec![("tulip", "http-tulip"), ("hyper", "http-hyper")],
            drive: |c, n| c.timed_load(|addr| crate::http::load(addr, "/", n, 1)),
        },
        Workload {
            name: "cpu/http_pipelined16",
            op: "GET /, 64 conns, 16 pipelined".into(),
            count: n(64_000, 200_000),
            kinds: vec![("tulip", "http-tulip"), ("hyper", "http-hyper")],
            drive: |c, n| c.timed_load(|addr| crate::http::load(addr, "/", n, 16)),
        },
        Workload {
            name: "cpu/tcp_echo",
            op: "1 KiB round trip, 16 conns".into(),
            count: n(32_000, 100_000),
            kinds: vec![("tulip", "tcp-tulip"), ("tokio", "tcp-tokio")],
            drive: |c, n| c.timed_load(|addr| load::tcp_echo(addr, n, 16, 1024)),
        },
        Workload {
            name: "cpu/udp_echo",
            op: "64 B datagram round trip, 16 sockets".into(),
            count: n(32_000, 100_000),
            kinds: vec![("tulip", "udp-tulip"), ("tokio", "udp-tokio")],
            drive: |c, n| c.timed_load(|addr| load::udp_echo(addr, n, 16, 64)),
        },
        Workload {
            name: "cpu/ws_echo_64B",
            op: "64 B message round trip, 32 conns".into(),
            count: n(32_000, 100_000),
            kinds: vec![("tulip", "ws-tulip"), ("tokio-tungstenite", "ws-tokio")],
            drive: |c, n| c.timed_load(|addr| load::ws_echo(addr, n, 32, 64)),
        },
        Workload {
            name: "cpu/ws_echo_16KiB",
            op: "16 KiB message round trip, 32 conns".into(),
            count: n(6_400, 20_000),
            kinds: vec![("tulip", "ws-tulip"), ("tokio-tungstenite", "ws-tokio")],
            drive: |c, n| c.timed_load(|addr| load::ws_echo(addr, n, 32, 16 << 10)),
        },
        Workload {
            name: "cpu/tls_handshake",
            op: "full TLS 1.3 handshake (server side), 4 at a time".into(),
            count: n(400, 1_500),
            kinds: vec![("tulip", "tls-tulip"), ("tokio-rustls", "tls-tokio")],
            drive: |c, n| c.timed_load(|addr| load::tls_handshakes(addr, n, 4)),
        },
        Workload {
            name: "cpu/http_file_1mib",
            op: "1 MiB download, 4 conns".into(),
            count: n(400, 1_600),
            kinds: FILE_KINDS.to_vec(),
            drive: |c, n| {
                c.timed_load(|addr| {
                    crate::http::files::download(addr, "/static/f1048576", n, 1 << 20)
                })
            },
        },
        Workload {
            name: "cpu/http_file_100mib",
            op: "100 MiB download, 4 conns".into(),
            count: n(8, 24),
            kinds: FILE_KINDS.to_vec(),
            drive: |c, n| {
                c.timed_load(|addr| {
                    crate::http::files::download(addr, "/static/f104857600", n, 100 << 20)
                })
            },
        },
        Workload {
            name: "cpu/http_client",
            op: "client GET, 64 in flight (client CPU)".into(),
            count: n(16_000, 64_000),
            kinds: vec![("tulip", "client-tulip"), ("hyper-util", "client-hyper")],
            drive: |c, n| c.run_client(n),
        },
    ];
    if workloads
        .iter()
        .any(|w| w.name.contains("file") && cfg.wants(w.name))
    {
        let dir = crate::http::files::dir();
        for size in [1 << 20, 100 << 20] {
            crate::http::files::make_file(&dir.join(format!("f{size}")), size);
        }
    }
    workloads
        .into_iter()
        .filter(|w| cfg.wants(w.name))
        .map(|w| {
            let unit = format!(
                "child CPU per op: {}, {} ops; 1 ns shown = 1 ns of CPU",
                w.op, w.count
            );
            let mut bench = Bench::new(w.name, unit);
            for (contender, kind) in w.kinds {
                let (count, drive) = (w.count, w.drive);
                let mut child: Option<ChildProc> = None;
                bench = bench.with(contender, move || {
                    let c = child.get_or_insert_with(|| ChildProc::start(kind));
                    c.measure(count, drive)
                });
            }
            bench
        })
        .collect()
}

/// Pins the calling thread (and every thread it starts later) to `core`; false when that
/// fails (no such core). The child inherits the parent's one-core mask, so this must not
/// judge by `available_parallelism`, which reports the mask.
fn pin(core: usize) -> bool {
    let mut set = rustix::thread::CpuSet::new();
    set.set(core);
    rustix::thread::sched_setaffinity(None, &set).is_ok()
}

/// CPU time this process has used, in nanoseconds: the first field of each thread's
/// `/proc/self/task/*/schedstat`.
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

/// In a child started by [`ChildProc::start`]: pin, serve (or run the client), answer `cpu`
/// and `run N` on stdin, exit at EOF. Returns at once in the parent.
pub(crate) fn child_main_if_requested() {
    let Ok(kind) = std::env::var(CHILD_ENV) else {
        return;
    };
    if !pin(CHILD_CORE) {
        eprintln!("cannot pin the CPU benchmark child");
    }
    let mut client = None;
    if let Some(rest) = kind.strip_prefix("client-") {
        let target: SocketAddr = std::env::var(TARGET_ENV)
            .expect("a client child needs its target")
            .parse()
            .expect("target address");
        client = Some(servers::Client::new(rest, target));
        println!("CPU addr {target}");
    } else {
        println!("CPU addr {}", servers::serve(&kind));
    }
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut words = line.split_whitespace();
        match (words.next(), words.next().and_then(|n| n.parse().ok())) {
            (Some("cpu"), _) => println!("CPU cpu {}", cpu_ns()),
            (Some("run"), Some(n)) => {
                if let Some(c) = client.as_mut() {
                    c.run(n);
                }
                println!("CPU done 0");
            }
            _ => {}
        }
    }
    std::process::exit(0);
}

/// A pinned child serving (or requesting) for the whole benchmark; killed when dropped.
struct ChildProc {
    io: LineChild,
    addr: SocketAddr,
    /// The server in this process a client child requests from.
    _target: Option<SocketAddr>,
}

impl ChildProc {
    fn start(kind: &str) -> ChildProc {
        let exe = std::env::current_exe().expect("own executable");
        let mut cmd = Command::new(exe);
        cmd.env(CHILD_ENV, kind).stderr(Stdio::inherit());
        let target = kind.starts_with("client-").then(client_target);
        if let Some(t) = target {
            cmd.env(TARGET_ENV, t.to_string());
        }
        let mut io = LineChild::spawn(cmd, format!("CPU benchmark child {kind}"));
        let addr = io.reply("CPU", "addr").parse().expect("child address");
        ChildProc {
            io,
            addr,
            _target: target,
        }
    }

    fn cpu(&mut self) -> u64 {
        self.io.send("cpu");
        self.io.reply("CPU", "cpu").parse().expect("cpu number")
    }

    /// Runs `count` operations (a tenth first, to warm up) and returns the child's CPU per
    /// operation.
    fn measure(&mut self, count: usize, drive: fn(&mut ChildProc, usize)) -> Sample {
        drive(self, (count / 10).max(1));
        let before = self.cpu();
        let start = std::time::Instant::now();
        drive(self, count);
        let wall = start.elapsed();
        let per_op = self.cpu().saturating_sub(before) as f64 / count as f64;
        Sample {
            time: Duration::from_nanos(per_op.round() as u64),
            metrics: vec![
                ("cpu_us_per_op", per_op / 1e3),
                ("ops_per_s", count as f64 / wall.as_secs_f64()),
            ],
        }
    }

    /// Runs a load against the child's address, bounded in time as well as count.
    fn timed_load<T>(&mut self, f: impl FnOnce(SocketAddr) -> T) {
        let start = std::time::Instant::now();
        f(self.addr);
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "a CPU benchmark load took over 2 minutes"
        );
    }

    /// Tells a client child to make `n` requests and waits until it has.
    fn run_client(&mut self, n: usize) {
        self.io.send(&format!("run {n}"));
        self.io.reply("CPU", "done");
    }
}

/// The hyper server (in this process, on the load core) that client children request from.
fn client_target() -> SocketAddr {
    static TARGET: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    *TARGET.get_or_init(|| crate::http::HyperServer::start().addr)
}
