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
//!
//! Beside it, `sys_pct` is the share of that CPU spent in the kernel (`getrusage`'s split of
//! the same span). On loopback the kernel does the socket work of both ends of each
//! operation, so a server at 90% kernel cannot spend much less than its peer per operation
//! whatever its own code does: the column shows how far below 1.00 a row can go.
//!
//! The keep-alive and TCP echo rows also run two floor servers (`floor`): hand-written, no
//! runtime and no parser, one on epoll and one on io_uring. `tulip ÷ floor-*` is how far
//! tulip is from the least any server on those calls can cost, and `floor-uring` against
//! `floor-epoll` is what a submission ring wins on its own.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::child::LineChild;
use crate::harness::{Bench, Config, Sample};

mod floor;
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
    // The floor servers (`floor`) beside tulip and its peer, where there is one.
    let uring = floor::uring_available();
    if !uring {
        eprintln!("io_uring is not available here: the floor-uring rows are left out");
    }
    let with_floors = |mut kinds: Vec<(&'static str, &'static str)>, epoll, ring| {
        kinds.push(("floor-epoll", epoll));
        if uring {
            kinds.push(("floor-uring", ring));
        }
        kinds
    };
    let workloads = [
        Workload {
            name: "cpu/http_keepalive",
            op: "GET /, 64 conns, depth 1".into(),
            count: n(32_000, 100_000),
            kinds: with_floors(
                vec![("tulip", "http-tulip"), ("hyper", "http-hyper")],
                "http-floor-epoll",
                "http-floor-uring",
            ),
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
            kinds: with_floors(
                vec![("tulip", "tcp-tulip"), ("tokio", "tcp-tokio")],
                "tcp-floor-epoll",
                "tcp-floor-uring",
            ),
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

/// This process's user and system CPU time, in microseconds (`getrusage`). The kernel splits
/// the exact run time by where its scheduler ticks landed (250 a second here), so over one
/// sample the split is a share estimated from a few dozen ticks; medians over samples steady it.
fn user_sys_us() -> (u64, u64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `getrusage` writes a whole `rusage` through the pointer, which is valid for
    // writes of one; on failure it writes nothing and the zeroed value stands.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// A child's CPU counters, as `CPU cpu` reports them.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CpuReading {
    /// Run time of all threads, nanoseconds (exact).
    run_ns: u64,
    /// User and system time, microseconds (the split is sampled, see `user_sys_us`).
    user_us: u64,
    sys_us: u64,
}

impl CpuReading {
    fn now() -> CpuReading {
        let (user_us, sys_us) = user_sys_us();
        CpuReading {
            run_ns: cpu_ns(),
            user_us,
            sys_us,
        }
    }

    /// The reply line's value: `RUN_NS USER_US SYS_US`.
    fn encode(&self) -> String {
        format!("{} {} {}", self.run_ns, self.user_us, self.sys_us)
    }

    fn parse(s: &str) -> Option<CpuReading> {
        let mut n = s.split_whitespace().map(|w| w.parse::<u64>().ok());
        let r = CpuReading {
            run_ns: n.next()??,
            user_us: n.next()??,
            sys_us: n.next()??,
        };
        n.next().is_none().then_some(r)
    }

    /// The share of the CPU spent in the kernel between `before` and `self` (0 when no tick
    /// landed in between).
    fn sys_share_since(&self, before: &CpuReading) -> f64 {
        let user = self.user_us.saturating_sub(before.user_us) as f64;
        let sys = self.sys_us.saturating_sub(before.sys_us) as f64;
        if user + sys == 0.0 {
            0.0
        } else {
            sys / (user + sys)
        }
    }
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
            (Some("cpu"), _) => println!("CPU cpu {}", CpuReading::now().encode()),
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

    fn cpu(&mut self) -> CpuReading {
        self.io.send("cpu");
        let line = self.io.reply("CPU", "cpu");
        CpuReading::parse(&line).unwrap_or_else(|| panic!("a CPU reading, not {line:?}"))
    }

    /// Runs `count` operations (a tenth first, to warm up) and returns the child's CPU per
    /// operation, with the percentage of it spent in the kernel (`sys_pct`): the part no
    /// runtime controls, the floor under the ratio. It is estimated from the scheduler ticks
    /// that landed in the span (a few dozen per quick sample: a few points either way).
    fn measure(&mut self, count: usize, drive: fn(&mut ChildProc, usize)) -> Sample {
        drive(self, (count / 10).max(1));
        let before = self.cpu();
        let start = std::time::Instant::now();
        drive(self, count);
        let wall = start.elapsed();
        let after = self.cpu();
        let per_op = after.run_ns.saturating_sub(before.run_ns) as f64 / count as f64;
        let sys_share = after.sys_share_since(&before);
        Sample {
            time: Duration::from_nanos(per_op.round() as u64),
            metrics: vec![
                ("cpu_us_per_op", per_op / 1e3),
                ("sys_pct", sys_share * 100.0),
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

#[cfg(test)]
mod tests {
    use super::CpuReading;

    fn reading(run_ns: u64, user_us: u64, sys_us: u64) -> CpuReading {
        CpuReading {
            run_ns,
            user_us,
            sys_us,
        }
    }

    #[test]
    fn a_reading_goes_through_the_reply_line() {
        let r = reading(123_456_789, 40_000, 160_000);
        assert_eq!(CpuReading::parse(&r.encode()), Some(r));
        assert_eq!(CpuReading::parse("1 2"), None, "a field is missing");
        assert_eq!(CpuReading::parse("1 2 3 4"), None, "a field too many");
        assert_eq!(CpuReading::parse("1 x 3"), None, "not a number");
    }

    #[test]
    fn the_kernel_share_comes_from_the_user_and_system_deltas() {
        let before = reading(0, 1_000, 9_000);
        let after = reading(50_000_000, 6_000, 29_000);
        assert_eq!(after.sys_share_since(&before), 0.8);
        // No tick landed in the span: no share to report rather than a division by zero.
        assert_eq!(before.sys_share_since(&before), 0.0);
    }

    #[test]
    fn this_process_reads_its_own_counters() {
        let a = CpuReading::now();
        let b = CpuReading::now();
        assert!(a.run_ns > 0, "schedstat counts this thread's run time");
        assert!(b.run_ns >= a.run_ns && b.user_us >= a.user_us && b.sys_us >= a.sys_us);
    }
}
