//! Happy Eyeballs with an injected connect function: blackholed, refusing and slow addresses.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tulip_net::happy_eyeballs;

/// What an address does when connected to.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Never answers (a blackholed route).
    Blackhole,
    /// Fails after this long.
    Refuse(u64),
    /// Succeeds after this long.
    Accept(u64),
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Records attempts (address, start offset) and attempts dropped before finishing.
#[derive(Default)]
struct Log {
    started: Vec<(SocketAddr, Duration)>,
    cancelled: Vec<SocketAddr>,
}

struct DropFlag(SocketAddr, Arc<Mutex<Log>>, bool);

impl Drop for DropFlag {
    fn drop(&mut self) {
        if !self.2 {
            self.1.lock().unwrap().cancelled.push(self.0);
        }
    }
}

type Conn = Pin<Box<dyn Future<Output = io::Result<SocketAddr>> + Send>>;

fn run_case(addrs: &[(&str, Fate)], delay_ms: u64) -> (io::Result<SocketAddr>, Log, Duration) {
    let log = Arc::new(Mutex::new(Log::default()));
    let fates: Vec<(SocketAddr, Fate)> = addrs.iter().map(|(a, f)| (addr(a), *f)).collect();
    let start = Instant::now();
    let list = fates.iter().map(|(a, _)| *a).collect();
    let res = crate::run({
        let log = log.clone();
        async move {
            happy_eyeballs(list, Duration::from_millis(delay_ms), |a| -> Conn {
                let fate = fates.iter().find(|(x, _)| *x == a).unwrap().1;
                log.lock().unwrap().started.push((a, start.elapsed()));
                let flag = DropFlag(a, log.clone(), false);
                Box::pin(async move {
                    // Own the whole flag (not just the field the block assigns) so that it
                    // drops with this future.
                    let mut flag = flag;
                    let r = match fate {
                        Fate::Blackhole => std::future::pending().await,
                        // Simulated network latency: the subject, not synchronisation.
                        Fate::Refuse(ms) => {
                            tulip_reactor::sleep(Duration::from_millis(ms)).await;
                            Err(io::ErrorKind::ConnectionRefused.into())
                        }
                        Fate::Accept(ms) => {
                            tulip_reactor::sleep(Duration::from_millis(ms)).await;
                            Ok(a)
                        }
                    };
                    flag.2 = true;
                    r
                })
            })
            .await
        }
    });
    let elapsed = start.elapsed();
    let log = Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap();
    (res, log, elapsed)
}

#[test]
fn blackholed_first_address_loses_to_the_second_after_the_delay() {
    let (res, log, elapsed) = run_case(
        &[
            ("[::1]:80", Fate::Blackhole),
            ("127.0.0.1:80", Fate::Accept(0)),
        ],
        50,
    );
    assert_eq!(res.unwrap(), addr("127.0.0.1:80"));
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(log.started.len(), 2);
    assert!(log.started[1].1 >= Duration::from_millis(50));
    // The blackholed attempt was cancelled, not left running.
    assert_eq!(log.cancelled, vec![addr("[::1]:80")]);
}

#[test]
fn a_failure_starts_the_next_attempt_at_once() {
    let (res, log, elapsed) = run_case(
        &[
            ("[::1]:80", Fate::Refuse(0)),
            ("127.0.0.1:80", Fate::Accept(0)),
        ],
        5_000,
    );
    assert_eq!(res.unwrap(), addr("127.0.0.1:80"));
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(log.started.len(), 2);
}

#[test]
fn families_are_interleaved_and_first_success_wins() {
    let (res, log, _) = run_case(
        &[
            ("[::1]:80", Fate::Blackhole),
            ("[::2]:80", Fate::Accept(0)),
            ("127.0.0.1:80", Fate::Accept(500)),
        ],
        20,
    );
    // Order tried: ::1, 127.0.0.1, ::2. The ::2 attempt starts 40 ms in and answers at once,
    // beating 127.0.0.1 which answers at 520 ms.
    let order: Vec<_> = log.started.iter().map(|(a, _)| *a).collect();
    assert_eq!(
        order,
        [addr("[::1]:80"), addr("127.0.0.1:80"), addr("[::2]:80")]
    );
    assert_eq!(res.unwrap(), addr("[::2]:80"));
    let mut cancelled = log.cancelled.clone();
    cancelled.sort();
    assert_eq!(cancelled, [addr("127.0.0.1:80"), addr("[::1]:80")]);
}

#[test]
fn all_failing_returns_the_first_error() {
    let (res, _, _) = run_case(
        &[
            ("127.0.0.1:1", Fate::Refuse(10)),
            ("127.0.0.1:2", Fate::Refuse(0)),
        ],
        5,
    );
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn no_addresses_is_invalid_input() {
    let (res, _, _) = run_case(&[], 5);
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn connect_timeout_bounds_a_connect_that_does_not_complete() {
    crate::run(async {
        // A loopback listener that never accepts, its tiny backlog filled: further SYNs are
        // dropped, so a connect hangs until the timeout (or, with SYN cookies, succeeds).
        let l = tulip_net::TcpListener::builder()
            .backlog(0)
            .bind(crate::localhost())
            .unwrap();
        let addr = l.local_addr().unwrap();
        let mut fill = Vec::new();
        for _ in 0..4 {
            let c = tulip_net::ConnectOptions::new()
                .timeout(Some(Duration::from_millis(100)))
                .connect("127.0.0.1", addr.port())
                .await;
            fill.push(c);
        }
        let start = Instant::now();
        let r = tulip_net::ConnectOptions::new()
            .timeout(Some(Duration::from_millis(200)))
            .connect("127.0.0.1", addr.port())
            .await;
        if let Err(e) = &r {
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
    });
}
