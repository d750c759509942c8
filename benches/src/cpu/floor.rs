//! Floor servers: what the kernel alone costs per operation.
//!
//! Two hand-written servers with no runtime, no tasks and no HTTP parser, one thread each:
//! `floor-epoll` waits on level-triggered epoll and answers each readable socket with one
//! `read` and one `write`; `floor-uring` keeps a receive or a send queued on every connection
//! in one io_uring (registered descriptors, single issuer, deferred task work) and enters the
//! kernel once per batch of completions. Each answers in the same way: an echo server writes
//! back what it read, an HTTP server writes one fixed plaintext response (with a constant
//! date) per request head in what it read, which is right for the
//! keep-alive load, one request in flight per connection.
//!
//! Beside tulip and its peer in `--cpu`, they show how far below its peer any server on the
//! same socket calls can go, and how much of it a submission ring would win: the question
//! #22 asked of an io_uring path before one is written.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The fixed HTTP response: status line, content type, length and date, and the body.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 13\r\ndate: Sat, 05 Dec 2026 23:40:00 GMT\r\n\r\nHello, World!";

/// Each connection's receive buffer, as large as the echo servers' in `servers`.
const BUF: usize = 16 * 1024;

/// What the floor server answers to.
#[derive(Clone, Copy)]
pub(super) enum Answer {
    /// Writes back what it read.
    Echo,
    /// Writes [`RESPONSE`] once per request head (`\r\n\r\n`) in what it read.
    Http,
}

impl Answer {
    /// The bytes that answer `input`, built in `out` when they are not `input` itself.
    fn reply<'a>(self, input: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        match self {
            Answer::Echo => input,
            Answer::Http => {
                out.clear();
                let heads = input.windows(4).filter(|w| *w == b"\r\n\r\n").count();
                for _ in 0..heads {
                    out.extend_from_slice(RESPONSE);
                }
                out
            }
        }
    }
}

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind")
}

/// Whether this kernel lets the process set up an io_uring (it may be disabled by sysctl
/// `kernel.io_uring_disabled` or a seccomp filter).
pub(super) fn uring_available() -> bool {
    io_uring::IoUring::new(2).is_ok()
}

/// Starts the epoll floor server; returns its address.
pub(super) fn epoll(answer: Answer) -> SocketAddr {
    let listener = listener();
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || run_epoll(listener, answer).expect("epoll floor server"));
    addr
}

/// The `epoll_event` token of the listener; a connection's is its index.
const LISTENER: u64 = u64::MAX;

fn epoll_add(ep: &OwnedFd, fd: i32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: `ep` and `fd` are open descriptors and `ev` lives across the call.
    let rc = unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn run_epoll(listener: TcpListener, answer: Answer) -> io::Result<()> {
    // SAFETY: a plain system call; a non-negative result is a new descriptor we then own.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `ep` was just created and nothing else owns it.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    epoll_add(&ep, listener.as_raw_fd(), LISTENER)?;
    let mut conns: Vec<Option<TcpStream>> = Vec::new();
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // SAFETY: `events` has room for the 256 events the kernel may write.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), events.as_mut_ptr(), 256, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in &events[..n as usize] {
            let token = ev.u64;
            if token == LISTENER {
                while let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(true)?;
                    s.set_nodelay(true)?;
                    epoll_add(&ep, s.as_raw_fd(), conns.len() as u64)?;
                    conns.push(Some(s));
                }
                continue;
            }
            let slot = &mut conns[token as usize];
            let Some(s) = slot else { continue };
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => {
                    // Closing the descriptor takes it out of the epoll set.
                    *slot = None;
                    continue;
                }
                Ok(n) => n,
            };
            // Answers are far below the socket buffer, so the write completes at once; the
            // loop is for correctness, not speed.
            let mut reply = answer.reply(&buf[..n], &mut out);
            while !reply.is_empty() {
                match s.write(reply) {
                    Ok(w) => reply = &reply[w..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(_) => break,
                }
            }
        }
    }
}

/// Starts the io_uring floor server; returns its address.
pub(super) fn uring(answer: Answer) -> SocketAddr {
    let listener = listener();
    // Accepted sockets inherit TCP_NODELAY from the listener: registered descriptors have no
    // file descriptor to set it on afterwards.
    let one: libc::c_int = 1;
    // SAFETY: the listener is open and `one` is a c_int that lives across the call.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "TCP_NODELAY: {}", io::Error::last_os_error());
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || run_uring(listener, answer).expect("io_uring floor server"));
    addr
}

/// A connection of the io_uring server: its registered descriptor and its buffers.
struct Conn {
    slot: u32,
    buf: Box<[u8]>,
    out: Vec<u8>,
    /// The part of the reply not yet sent: `start..end` of `buf` (echo) or `out` (HTTP).
    start: usize,
    end: usize,
}

/// `user_data` of the accept and of a close; a connection's receive is `index << 1` and its
/// send `index << 1 | 1`.
const ACCEPT: u64 = u64::MAX;
const CLOSE: u64 = u64::MAX - 1;

fn run_uring(listener: TcpListener, answer: Answer) -> io::Result<()> {
    use io_uring::{IoUring, opcode, squeue, types};

    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(1024)?;
    let (submitter, mut sq, mut cq) = ring.split();
    submitter.register_files_sparse(1024)?;
    let accept = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .file_index(Some(types::DestinationSlot::auto_target()))
    .build()
    .user_data(ACCEPT);
    let recv = |c: &mut Conn, i: usize| {
        opcode::Recv::new(types::Fixed(c.slot), c.buf.as_mut_ptr(), c.buf.len() as u32)
            .build()
            .user_data((i as u64) << 1)
    };
    let send = |c: &Conn, i: usize| {
        let data = match answer {
            Answer::Echo => &c.buf[c.start..c.end],
            Answer::Http => &c.out[c.start..c.end],
        };
        opcode::Send::new(types::Fixed(c.slot), data.as_ptr(), data.len() as u32)
            .build()
            .user_data((i as u64) << 1 | 1)
    };
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut next: Vec<squeue::Entry> = vec![accept.clone()];
    loop {
        for e in next.drain(..) {
            // SAFETY: every buffer an entry points into is a connection's, which stays in
            // `conns` (boxed, so it does not move) until its operation completes: a connection
            // has one operation in flight and is dropped only on that operation's completion.
            unsafe { sq.push(&e) }.expect("one entry per connection fits the ring");
        }
        sq.sync();
        match submitter.submit_and_wait(1) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => {
                r?;
            }
        }
        cq.sync();
        for cqe in &mut cq {
            let (token, res) = (cqe.user_data(), cqe.result());
            match token {
                CLOSE => {}
                ACCEPT => {
                    if res < 0 && -res != libc::ECONNABORTED {
                        // Out of descriptors or registered slots: say so rather than spin.
                        return Err(io::Error::from_raw_os_error(-res));
                    }
                    if res >= 0 {
                        let mut c = Conn {
                            slot: res as u32,
                            buf: vec![0; BUF].into(),
                            out: Vec::new(),
                            start: 0,
                            end: 0,
                        };
                        next.push(recv(&mut c, conns.len()));
                        conns.push(Some(c));
                    }
                    next.push(accept.clone());
                }
                _ => {
                    let i = (token >> 1) as usize;
                    let slot = &mut conns[i];
                    let Some(c) = slot else { continue };
                    if res <= 0 {
                        next.push(
                            opcode::Close::new(types::Fixed(c.slot))
                                .build()
                                .user_data(CLOSE),
                        );
                        *slot = None;
                        continue;
                    }
                    let n = res as usize;
                    if token & 1 == 0 {
                        // Received `n` bytes: answer them.
                        let Conn { buf, out, .. } = &mut *c;
                        let len = answer.reply(&buf[..n], out).len();
                        (c.start, c.end) = (0, len);
                        next.push(send(c, i));
                    } else {
                        c.start += n;
                        next.push(if c.start < c.end {
                            send(c, i)
                        } else {
                            recv(c, i)
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_each_request_head() {
        let mut out = Vec::new();
        let two = b"GET / HTTP/1.1\r\nhost: a\r\n\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n";
        assert_eq!(
            Answer::Http.reply(two, &mut out),
            [RESPONSE, RESPONSE].concat()
        );
        assert!(
            Answer::Http
                .reply(b"GET / HTTP/1.1\r\n", &mut out)
                .is_empty()
        );
        assert_eq!(Answer::Echo.reply(b"ping", &mut out), b"ping");
    }

    fn round_trip(addr: SocketAddr, request: &[u8], expect: &[u8]) {
        let mut s = TcpStream::connect(addr).unwrap();
        for _ in 0..3 {
            s.write_all(request).unwrap();
            let mut got = vec![0; expect.len()];
            s.read_exact(&mut got).unwrap();
            assert_eq!(got, expect);
        }
    }

    #[test]
    fn floor_servers_answer() {
        let get = b"GET / HTTP/1.1\r\nhost: a\r\n\r\n";
        round_trip(epoll(Answer::Echo), b"hello", b"hello");
        round_trip(epoll(Answer::Http), get, RESPONSE);
        if uring_available() {
            round_trip(uring(Answer::Echo), b"hello", b"hello");
            round_trip(uring(Answer::Http), get, RESPONSE);
        } else {
            eprintln!("io_uring is not available here: only the epoll floor server was tested");
        }
    }
}
