//! Floor experiment for issue #22 (not part of the workspace; numbers in docs/BENCHMARKS.md,
//! session 8): the server CPU per 1 KiB echo round trip, on one pinned thread, of
//!
//! - `epoll`: a minimal server with no runtime, edge-triggered, reading until a short read;
//! - `uring`: a minimal server with no runtime on io_uring, one `Recv` or `Send` in flight per
//!   connection and `submit_and_wait(1)` per turn;
//! - `uring-defer`: the same on a ring set up with `COOP_TASKRUN | SINGLE_ISSUER |
//!   DEFER_TASKRUN`;
//! - `tulip` and `tokio`: the same echo as one task per connection on a tulip `LocalExecutor`
//!   and on tokio's current-thread runtime.
//!
//! The server is pinned to core 0; a client thread on core 1 keeps one message in flight on
//! each of `conns` connections for `rounds` rounds. The server stops once it has echoed every
//! byte. It asks how far below the epoll floor a completion-based submission path could take
//! a server's CPU per operation, and how far above that floor each runtime sits.
//!
//! `CARGO_TARGET_DIR=/tmp/uf cargo run --release -- {epoll|uring|uring-defer} [conns] [rounds]`
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

fn pin(cpu: usize) {
    // SAFETY: a zeroed `cpu_set_t` is a valid empty set; the calls get valid pointers to it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
    }
}

fn accept_all(l: &TcpListener, conns: usize) -> Vec<TcpStream> {
    (0..conns)
        .map(|_| {
            let (s, _) = l.accept().unwrap();
            s.set_nodelay(true).unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect()
}

fn epoll_server(socks: &[TcpStream], total: u64) -> u64 {
    // SAFETY (all libc calls in this function): plain syscalls on fds that `socks` keeps open,
    // with pointers to live, correctly sized buffers.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    for (i, s) in socks.iter().enumerate() {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET | libc::EPOLLRDHUP) as u32,
            u64: i as u64,
        };
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut open = socks.len();
    let mut msgs = 0u64;
    while open > 0 && msgs < total {
        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), 1024, -1) };
        for ev in &evs[..n.max(0) as usize] {
            let fd = socks[ev.u64 as usize].as_raw_fd();
            loop {
                let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if r == 0 {
                    open -= 1;
                    break;
                }
                if r < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        let key = ev.u64;
                        eprintln!("connection {key}: {e}");
                        open -= 1;
                    }
                    break;
                }
                msgs += r as u64;
                unsafe { libc::send(fd, buf.as_ptr().cast(), r as usize, libc::MSG_NOSIGNAL) };
                // A short read proves the buffer drained, unless the peer also hung up in
                // this edge: then read on to the end of stream (no further edge will come).
                if (r as usize) < buf.len() && ev.events & libc::EPOLLRDHUP as u32 == 0 {
                    break;
                }
            }
        }
    }
    msgs
}

fn uring_server(socks: &[TcpStream], flags: u32, total: u64) -> u64 {
    use io_uring::{IoUring, opcode, types};
    let mut b = IoUring::builder();
    if flags & 1 != 0 {
        b.setup_coop_taskrun();
        b.setup_single_issuer();
        b.setup_defer_taskrun();
    }
    let mut ring: IoUring = b.build(256).unwrap();
    let mut bufs: Vec<Vec<u8>> = socks.iter().map(|_| vec![0u8; 16 * 1024]).collect();
    let fds: Vec<RawFd> = socks.iter().map(|s| s.as_raw_fd()).collect();
    // user_data: conn index * 2 + (0 recv, 1 send). SAFETY (every `push` below): each
    // connection has one operation in flight at a time, on its own buffer in `bufs`, which
    // outlives the ring's use of it (nothing resizes `bufs`), on an fd `socks` keeps open.
    for (i, fd) in fds.iter().enumerate() {
        let e = opcode::Recv::new(types::Fd(*fd), bufs[i].as_mut_ptr(), bufs[i].len() as u32)
            .build()
            .user_data((i * 2) as u64);
        unsafe { ring.submission().push(&e).unwrap() };
    }
    let mut open = socks.len();
    let mut msgs = 0u64;
    while open > 0 && msgs < total {
        ring.submit_and_wait(1).unwrap();
        let cqes: Vec<_> = ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (ud, res) in cqes {
            let i = (ud / 2) as usize;
            let fd = types::Fd(fds[i]);
            let e = if ud % 2 == 0 {
                if res <= 0 {
                    open -= 1;
                    continue;
                }
                opcode::Send::new(fd, bufs[i].as_ptr(), res as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .user_data(ud + 1)
            } else {
                // Count what was echoed, so that the last sends complete before the loop ends.
                msgs += res.max(0) as u64;
                opcode::Recv::new(fd, bufs[i].as_mut_ptr(), bufs[i].len() as u32)
                    .build()
                    .user_data(ud - 1)
            };
            unsafe { ring.submission().push(&e).unwrap() };
        }
    }
    msgs
}

/// The same echo on a tulip `LocalExecutor` (one thread: the server's tasks and the reactor):
/// one task per connection, reading into 16 KiB and writing back what it read.
fn tulip_server(socks: Vec<TcpStream>, per_conn: u64) -> u64 {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    tulip_executor::LocalExecutor::new().block_on(async move {
        let tasks: Vec<_> = socks
            .into_iter()
            .map(|s| {
                tulip_executor::spawn_local(async move {
                    let mut s = tulip_net::TcpStream::from_std(s).unwrap();
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut echoed = 0;
                    while echoed < per_conn {
                        let n = s.read(&mut buf).await.unwrap();
                        s.write_all(&buf[..n]).await.unwrap();
                        echoed += n as u64;
                    }
                    echoed
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
}

/// The same echo on tokio's current-thread runtime.
fn tokio_server(socks: Vec<TcpStream>, per_conn: u64) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tasks: Vec<_> = socks
            .into_iter()
            .map(|s| {
                tokio::spawn(async move {
                    let mut s = tokio::net::TcpStream::from_std(s).unwrap();
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut echoed = 0;
                    while echoed < per_conn {
                        let n = s.read(&mut buf).await.unwrap();
                        s.write_all(&buf[..n]).await.unwrap();
                        echoed += n as u64;
                    }
                    echoed
                })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args[1].as_str();
    let conns: usize = args.get(2).map_or(16, |s| s.parse().unwrap());
    let rounds: usize = args.get(3).map_or(20_000, |s| s.parse().unwrap());
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        pin(1);
        let mut cs: Vec<TcpStream> = (0..conns)
            .map(|_| {
                let s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                s
            })
            .collect();
        let msg = [7u8; 1024];
        let mut buf = [0u8; 1024];
        let t = Instant::now();
        for _ in 0..rounds {
            for c in &mut cs {
                c.write_all(&msg).unwrap();
            }
            for c in &mut cs {
                c.read_exact(&mut buf).unwrap();
            }
        }
        t.elapsed()
    });
    pin(0);
    let socks = accept_all(&l, conns);
    // Server CPU of this thread only.
    let thread_cpu = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid pointer to a live `timespec`.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    // The server stops once it has echoed every byte the client sends, so the end of the
    // run does not hang on how each interface reports the client's hang-ups.
    let total = (conns * rounds * 1024) as u64;
    let c0 = thread_cpu();
    let bytes = match mode {
        "epoll" => epoll_server(&socks, total),
        "uring" => uring_server(&socks, 0, total),
        "uring-defer" => uring_server(&socks, 1, total),
        "tulip" => tulip_server(socks, (rounds * 1024) as u64),
        "tokio" => tokio_server(socks, (rounds * 1024) as u64),
        _ => panic!("mode"),
    };
    let cpu = thread_cpu() - c0;
    let wall = client.join().unwrap();
    let ops = (conns * rounds) as f64;

    println!(
        "{mode}: {:.3} us server CPU per round trip, {:.0} round trips/s, {} bytes",
        cpu / ops * 1e6,
        ops / wall.as_secs_f64(),
        bytes
    );
}
