//! The fallback driver (handoff rule 8): tulip futures polled on threads that run no tulip
//! loop still make progress, and a tulip loop that starts takes the reactor over.

use std::future::Future;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future;
use tulip_reactor::{Async, Reactor, block_on, sleep, timeout};

/// Long enough for a loaded CI machine; a hang fails here instead of hanging the run.
const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_socket_and_timers_make_progress_under_a_foreign_block_on() {
    let (tx, rx) = mpsc::channel();
    // A plain thread and `futures_lite`'s block_on: no tulip loop runs here.
    thread::spawn(move || {
        let out = future::block_on(async {
            let t0 = Instant::now();
            sleep(Duration::from_millis(5)).await;
            assert!(t0.elapsed() >= Duration::from_millis(5));
            let r = timeout(Duration::from_millis(5), future::pending::<()>()).await;
            assert!(r.is_err(), "the timeout did not fire");

            let a = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
            let b = UdpSocket::bind("127.0.0.1:0")?;
            let mut buf = [0u8; 8];
            let n = {
                let mut recv = pin!(a.read_with(|s| s.recv(&mut buf)));
                // The receive waits for the reactor before the datagram is sent.
                assert!(future::poll_once(recv.as_mut()).await.is_none());
                b.send_to(b"ping", a.get_ref().local_addr()?)?;
                recv.await?
            };
            std::io::Result::Ok(buf[..n].to_vec())
        });
        tx.send(out).unwrap();
    });
    let got = rx
        .recv_timeout(LIMIT)
        .expect("no progress: nothing drove the reactor for a foreign block_on");
    assert_eq!(got.unwrap(), b"ping");
    assert!(Reactor::get().fallback_started());
}

/// Records the name of the thread that woke it, and unparks its owner.
struct Recorder {
    owner: thread::Thread,
    woken_by: Mutex<Option<String>>,
    /// How many times the waker fired: the receive is polled again only after a wake, so a
    /// spurious or stale unpark cannot complete it unseen.
    wakes: AtomicUsize,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let name = thread::current().name().unwrap_or("").to_owned();
        *self.woken_by.lock().unwrap() = Some(name);
        self.wakes.fetch_add(1, SeqCst);
        self.owner.unpark();
    }
}

#[test]
fn a_tulip_loop_takes_the_reactor_over_from_the_fallback_and_gives_it_back() {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (waiting_tx, waiting_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    // The foreign thread: a hand-made executor, three receives, each one waiting.
    thread::spawn(move || {
        let rec = Arc::new(Recorder {
            owner: thread::current(),
            woken_by: Mutex::new(None),
            wakes: AtomicUsize::new(0),
        });
        let waker = Waker::from(rec.clone());
        let cx = &mut Context::from_waker(&waker);
        let a = Async::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        addr_tx.send(a.get_ref().local_addr().unwrap()).unwrap();
        for _ in 0..3 {
            let mut buf = [0u8; 8];
            let n = {
                let mut recv = pin!(a.read_with(|s| s.recv(&mut buf)));
                let mut seen = rec.wakes.load(SeqCst);
                assert!(recv.as_mut().poll(cx).is_pending());
                waiting_tx.send(()).unwrap();
                loop {
                    while rec.wakes.load(SeqCst) == seen {
                        thread::park();
                    }
                    seen = rec.wakes.load(SeqCst);
                    if let Poll::Ready(r) = recv.as_mut().poll(cx) {
                        break r.unwrap();
                    }
                }
            };
            assert_eq!(&buf[..n], b"ping");
            done_tx.send(rec.woken_by.lock().unwrap().take()).unwrap();
        }
    });
    let addr = addr_rx.recv_timeout(LIMIT).unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let round = || {
        waiting_rx.recv_timeout(LIMIT).unwrap();
        b.send_to(b"ping", addr).unwrap();
        done_rx
            .recv_timeout(LIMIT)
            .expect("no progress: nobody drove the reactor")
            .expect("completed without a wake")
    };

    // No loop of ours yet: the fallback (or another test's loop) drives.
    round();
    assert!(Reactor::get().fallback_started());

    // A tulip loop starts and stays idle in the reactor until told to stop.
    let (stop, stop_rx) = UnixStream::pair().unwrap();
    let stop_rx = Async::new(stop_rx).unwrap();
    let (up_tx, up_rx) = mpsc::channel();
    let tulip = thread::Builder::new()
        .name("tulip-loop".into())
        .spawn(move || {
            block_on(async move {
                up_tx.send(()).unwrap();
                let mut byte = [0u8; 1];
                stop_rx
                    .read_with(|s| (&mut &*s).read(&mut byte))
                    .await
                    .unwrap();
            })
        })
        .unwrap();
    up_rx.recv_timeout(LIMIT).unwrap();
    let deadline = Instant::now() + LIMIT;
    while !Reactor::get().fallback_stood_down() {
        assert!(Instant::now() < deadline, "the fallback did not stand down");
        thread::yield_now();
    }
    // The fallback stands down for as long as our loop runs: a tulip thread dispatches.
    let by = round();
    assert_ne!(
        by, "tulip-fallback",
        "the fallback drove while a tulip loop ran"
    );

    // The loop ends: the fallback (or another test's loop) drives again.
    (&stop).write_all(b"x").unwrap();
    tulip.join().unwrap();
    round();
}
