//! HTTP scenarios: keep-alive load, slowloris beside normal clients, shutdown under load.
//!
//! Server and load clients share one process and one tulip runtime (two cores are all the
//! machine has); RSS samples therefore cover both, which is what "flat" is judged on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;
use tulip_executor::{Task, spawn};
use tulip_http::{App, Request, Server, ServerConfig};

use crate::client::Conn;
use crate::report::{Report, Scale, rss_kib};

/// Connects `n` keep-alive connections in waves, so the accept backlog never overflows.
async fn connect_all(addr: SocketAddr, n: usize) -> (Vec<Conn>, usize) {
    let mut conns = Vec::with_capacity(n);
    let mut failed = 0;
    while conns.len() + failed < n {
        let wave = (n - conns.len() - failed).min(64);
        let tasks: Vec<Task<std::io::Result<Conn>>> =
            (0..wave).map(|_| spawn(Conn::connect(addr))).collect();
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => conns.push(c),
                Ok(Err(e)) => {
                    if failed == 0 {
                        eprintln!("soak: first connect failure: {e}");
                    }
                    failed += 1;
                }
                Err(_) => failed += 1,
            }
        }
    }
    (conns, failed)
}

fn hello_app() -> App {
    App::new().get("/", |_req: Request| async { "Hello, World!" })
}

fn config() -> ServerConfig {
    let mut cfg = ServerConfig::default();
    cfg.keep_alive_timeout = Duration::from_secs(600);
    cfg
}

/// The soft open-files limit of this process (`/proc/self/limits`), or 1024.
pub(crate) fn fd_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse().ok()
        })
        .unwrap_or(1024)
}

/// RSS samples, taken every `every` until `until`.
async fn sample_rss(every: Duration, until: Instant) -> Vec<u64> {
    let mut samples = Vec::new();
    while Instant::now() < until {
        tulip_reactor::sleep(every).await;
        samples.push(rss_kib().unwrap_or(0));
    }
    samples
}

/// Whether the RSS samples stay flat: after the first third (warm-up), no sample exceeds the
/// warm-up peak by more than 10 % + 8 MiB.
fn flat(samples: &[u64]) -> bool {
    let warm = samples.len().div_ceil(3).max(1);
    let peak = samples.iter().take(warm).copied().max().unwrap_or(0);
    samples
        .iter()
        .skip(warm)
        .all(|&s| s <= peak + peak / 10 + 8 * 1024)
}

/// 10,000 keep-alive connections send GETs back to back for 60 s: zero errors, flat RSS.
pub fn keepalive(scale: Scale) -> Report {
    let requested = scale.count(10_000);
    // Both ends live in this process: two descriptors per connection must fit the limit.
    let conns = requested.min(fd_limit().saturating_sub(512) / 2);
    let dur = scale.secs(60, 6);
    let mut r = Report::new("keepalive");
    r.value("connections_requested", requested as f64);
    tulip_executor::run(async move {
        let server = Server::bind_with("127.0.0.1:0", hello_app(), config()).unwrap();
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = spawn(server.run());
        let (clients, connect_failed) = connect_all(addr, conns).await;
        let rss_connected = rss_kib().unwrap_or(0);
        let requests = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let max_latency_us = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + dur;
        let sampler = spawn(sample_rss(dur / 10, deadline));
        let workers: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                let (requests, errors, max) =
                    (requests.clone(), errors.clone(), max_latency_us.clone());
                spawn(async move {
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match c.get("/").await {
                            Ok((200, 13)) => {
                                requests.fetch_add(1, Relaxed);
                                max.fetch_max(t.elapsed().as_micros() as u64, Relaxed);
                            }
                            _ => {
                                errors.fetch_add(1, Relaxed);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        for w in workers {
            let _ = w.await;
        }
        let samples = sampler.await.unwrap_or_default();
        stop.shutdown();
        let _ = running.await;
        let n = requests.load(Relaxed);
        r.value("connections", conns as f64);
        r.value("seconds", dur.as_secs_f64());
        r.value("requests", n as f64);
        r.value("requests_per_sec", n as f64 / dur.as_secs_f64());
        r.value(
            "max_latency_ms",
            max_latency_us.load(Relaxed) as f64 / 1000.0,
        );
        r.value("errors", errors.load(Relaxed) as f64);
        r.value("connect_failures", connect_failed as f64);
        r.value("rss_kib_after_connect", rss_connected as f64);
        r.text("rss_kib_samples", format!("{samples:?}"));
        r.check(connect_failed == 0, "every connection connects");
        r.check(errors.load(Relaxed) == 0, "zero request errors");
        r.check(
            flat(&samples),
            "RSS flat after warm-up (within 10 % + 8 MiB)",
        );
        r
    })
}

/// 1,000 slowloris clients trickle a head one byte at a time while normal clients keep getting
/// answers within a bound; the header timeout cuts the slow ones.
pub fn slowloris(scale: Scale) -> Report {
    let slow = scale.count(1_000);
    let normal = scale.count(50).max(4);
    let dur = scale.secs(30, 8);
    let bound = Duration::from_secs(2);
    let mut r = Report::new("slowloris");
    tulip_executor::run(async move {
        let mut cfg = config();
        cfg.header_timeout = Duration::from_secs(3);
        let server = Server::bind_with("127.0.0.1:0", hello_app(), cfg).unwrap();
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = spawn(server.run());
        let deadline = Instant::now() + dur;
        let cut = Arc::new(AtomicUsize::new(0));
        let (slow_conns, slow_failed) = connect_all(addr, slow).await;
        let slow_tasks: Vec<_> = slow_conns
            .into_iter()
            .map(|mut c| {
                let cut = cut.clone();
                spawn(async move {
                    let head = b"GET / HTTP/1.1\r\nHost: soak\r\nX-Slow: ";
                    let mut i = 0;
                    while Instant::now() < deadline {
                        let byte = [head.get(i).copied().unwrap_or(b'z')];
                        if c.socket().write_all(&byte).await.is_err() {
                            cut.fetch_add(1, Relaxed);
                            return;
                        }
                        i += 1;
                        // The server answers a timed-out head with 408 and closes; a read
                        // then sees the response or end of stream.
                        if let Ok(Ok(_)) =
                            tulip_reactor::timeout(Duration::from_millis(500), c.response()).await
                        {
                            cut.fetch_add(1, Relaxed);
                            return;
                        }
                    }
                })
            })
            .collect();
        let (normal_conns, normal_failed) = connect_all(addr, normal).await;
        let served = Arc::new(AtomicU64::new(0));
        let late = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let max_us = Arc::new(AtomicU64::new(0));
        let normal_tasks: Vec<_> = normal_conns
            .into_iter()
            .map(|mut c| {
                let (served, late, errors, max_us) =
                    (served.clone(), late.clone(), errors.clone(), max_us.clone());
                spawn(async move {
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match c.get("/").await {
                            Ok((200, _)) => served.fetch_add(1, Relaxed),
                            _ => {
                                errors.fetch_add(1, Relaxed);
                                return;
                            }
                        };
                        let took = t.elapsed();
                        max_us.fetch_max(took.as_micros() as u64, Relaxed);
                        if took > bound {
                            late.fetch_add(1, Relaxed);
                        }
                        tulip_reactor::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        for t in normal_tasks.into_iter().chain(slow_tasks) {
            let _ = t.await;
        }
        stop.shutdown();
        let _ = running.await;
        r.value("slow_clients", slow as f64);
        r.value("slow_cut_by_server", cut.load(Relaxed) as f64);
        r.value("normal_clients", normal as f64);
        r.value("normal_served", served.load(Relaxed) as f64);
        r.value(
            "normal_max_latency_ms",
            max_us.load(Relaxed) as f64 / 1000.0,
        );
        r.value("normal_over_bound", late.load(Relaxed) as f64);
        r.value("normal_errors", errors.load(Relaxed) as f64);
        r.check(
            slow_failed == 0 && normal_failed == 0,
            "every connection connects",
        );
        r.check(errors.load(Relaxed) == 0, "normal clients see no errors");
        r.check(
            late.load(Relaxed) == 0,
            "normal clients answered within 2 s",
        );
        r.check(
            cut.load(Relaxed) == slow,
            "the header timeout cuts every slowloris client",
        );
        r
    })
}

/// Graceful shutdown while 1,000 connections have requests in flight: every request whose
/// handler started gets its whole response.
pub fn shutdown(scale: Scale) -> Report {
    let conns = scale.count(1_000);
    let mut r = Report::new("shutdown");
    tulip_executor::run(async move {
        let started = Arc::new(AtomicU64::new(0));
        let counter = started.clone();
        let app = App::new().get("/slow", move |_req: Request| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Relaxed);
                tulip_reactor::sleep(Duration::from_millis(200)).await;
                "done"
            }
        });
        let server = Server::bind_with("127.0.0.1:0", app, config()).unwrap();
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = spawn(server.run());
        let (clients, connect_failed) = connect_all(addr, conns).await;
        let completed = Arc::new(AtomicU64::new(0));
        let truncated = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                let (completed, truncated) = (completed.clone(), truncated.clone());
                spawn(async move {
                    loop {
                        match c.get("/slow").await {
                            Ok((200, 4)) => completed.fetch_add(1, Relaxed),
                            Ok(_) => truncated.fetch_add(1, Relaxed),
                            // End of stream between responses is a clean close.
                            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && c.idle() => {
                                return;
                            }
                            Err(e)
                                if e.kind() == std::io::ErrorKind::ConnectionReset && c.idle() =>
                            {
                                return;
                            }
                            Err(_) => {
                                truncated.fetch_add(1, Relaxed);
                                return;
                            }
                        };
                    }
                })
            })
            .collect();
        tulip_reactor::sleep(Duration::from_millis(1500)).await;
        let t = Instant::now();
        stop.shutdown();
        let result = running.await;
        let drained_in = t.elapsed();
        for w in workers {
            let _ = w.await;
        }
        let (s, c) = (started.load(Relaxed), completed.load(Relaxed));
        r.value("connections", conns as f64);
        r.value("handlers_started", s as f64);
        r.value("responses_completed", c as f64);
        r.value("responses_truncated", truncated.load(Relaxed) as f64);
        r.value("drain_ms", drained_in.as_millis() as f64);
        r.check(connect_failed == 0, "every connection connects");
        r.check(result.is_ok(), "server run() ends with Ok");
        r.check(s == c, "every started handler's response arrives whole");
        r.check(truncated.load(Relaxed) == 0, "no truncated response");
        r
    })
}

/// Opens `n` idle keep-alive connections (each has served one request) to a tulip-http
/// server in this process: (RSS before, RSS after) in KiB. Both ends are in the process, so
/// the per-connection figure includes the client's socket and buffer (about 4 KiB).
pub(crate) fn idle_connections(n: usize) -> Option<(u64, u64)> {
    tulip_executor::run(async move {
        let server = Server::bind_with("127.0.0.1:0", hello_app(), config()).ok()?;
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        let running = spawn(server.run());
        // Warm up the runtime and the allocator with one connection first.
        let mut first = Conn::connect(addr).await.ok()?;
        first.get("/").await.ok()?;
        let before = rss_kib()?;
        let (mut conns, failed) = connect_all(addr, n).await;
        if failed > 0 {
            return None;
        }
        for c in &mut conns {
            c.get("/").await.ok()?;
        }
        let after = rss_kib()?;
        drop(conns);
        stop.shutdown();
        let _ = running.await;
        Some((before, after))
    })
}
