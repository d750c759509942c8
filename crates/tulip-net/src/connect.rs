//! Connecting by host name: resolution off the worker threads and Happy Eyeballs (RFC 8305).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tulip_reactor::Timer;

use crate::tcp::TcpStream;

/// RFC 8305's recommended "Connection Attempt Delay" (and asyncio's `happy_eyeballs_delay`
/// default when enabled).
pub const HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Resolves `host:port` (asyncio's `getaddrinfo`). IP literals resolve at once; names go to the
/// system resolver on the blocking pool, never on a worker thread.
///
/// # Errors
///
/// The resolver's error, or `NotFound` when the name has no addresses.
///
/// # Cancel safety
///
/// Dropping the future abandons the result; the lookup itself finishes in the background.
pub async fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let owned = host.to_owned();
    let addrs = crate::rt::blocking(move || {
        (owned.as_str(), port)
            .to_socket_addrs()
            .map(|it| it.collect::<Vec<_>>())
    })
    .await?;
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no addresses"),
        ));
    }
    Ok(addrs)
}

/// How [`TcpStream::connect_host`] connects: overall timeout and Happy Eyeballs delay.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tulip_net::{ConnectOptions, TcpListener};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).await?;
///     let port = listener.local_addr()?.port();
///     let stream = ConnectOptions::new()
///         .timeout(Some(Duration::from_secs(5)))
///         .connect("127.0.0.1", port)
///         .await?;
///     assert_eq!(stream.peer_addr()?.port(), port);
///     Ok(())
/// })
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    timeout: Option<Duration>,
    delay: Duration,
    nodelay: bool,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions::new()
    }
}

impl ConnectOptions {
    /// Defaults: no overall timeout, a 250 ms Happy Eyeballs delay, `TCP_NODELAY` on (as
    /// asyncio sets it on every TCP transport).
    pub fn new() -> ConnectOptions {
        ConnectOptions {
            timeout: None,
            delay: HAPPY_EYEBALLS_DELAY,
            nodelay: true,
        }
    }

    /// A deadline for resolution plus all connection attempts; `TimedOut` when it passes.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The stagger between attempts to successive addresses (RFC 8305 section 5).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Whether to set `TCP_NODELAY` on the connected socket.
    pub fn nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }

    /// Resolves `host` and connects to `port` on the first address that answers.
    ///
    /// # Errors
    ///
    /// A resolution error, the first attempt's error when every address failed, or
    /// `TimedOut`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every attempt in flight.
    #[track_caller]
    pub fn connect<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> impl Future<Output = io::Result<TcpStream>> {
        let site = std::panic::Location::caller();
        async move {
            let mut s = self.connect_untracked(host, port).await?;
            s.track("TcpStream", site);
            Ok(s)
        }
    }

    /// `connect` without debug mode's unclosed check (the caller tracks the stream).
    pub(crate) async fn connect_untracked(&self, host: &str, port: u16) -> io::Result<TcpStream> {
        let work = async {
            let addrs = lookup_host(host, port).await?;
            happy_eyeballs(addrs, self.delay, TcpStream::connect_untracked).await
        };
        let stream = match self.timeout {
            Some(t) => tulip_reactor::timeout(t, work).await??,
            None => work.await?,
        };
        if self.nodelay {
            stream.set_nodelay(true)?;
        }
        Ok(stream)
    }
}

/// Orders addresses as RFC 8305 section 4 asks: alternate families, starting with the family
/// of the first address the resolver returned.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let (mut primary, mut secondary): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(primary.len() + secondary.len());
    primary.reverse();
    secondary.reverse();
    loop {
        match (primary.pop(), secondary.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// Races connection attempts (RFC 8305 section 5): start with the first address, start the
/// next one when `delay` passes or the previous attempt fails, and return the first success,
/// dropping (so cancelling) every other attempt.
///
/// `connect` is injected so that tests can model blackholed and refusing addresses.
///
/// # Errors
///
/// The first attempt's error when all failed (the most telling one for the preferred family);
/// `InvalidInput` for an empty address list.
pub async fn happy_eyeballs<T, F, Fut>(
    addrs: Vec<SocketAddr>,
    delay: Duration,
    mut connect: F,
) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut pending = interleave(addrs).into_iter();
    let mut running: Vec<Pin<Box<Fut>>> = Vec::new();
    let mut first_err: Option<io::Error> = None;
    let mut timer = Timer::never();
    match pending.next() {
        Some(a) => running.push(Box::pin(connect(a))),
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to connect to",
            ));
        }
    }
    timer.set_after(delay);
    std::future::poll_fn(|cx| {
        loop {
            let mut i = 0;
            let mut failed = false;
            while i < running.len() {
                match running[i].as_mut().poll(cx) {
                    Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                    Poll::Ready(Err(e)) => {
                        first_err.get_or_insert(e);
                        drop(running.swap_remove(i));
                        failed = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            let fired = Pin::new(&mut timer).poll(cx).is_ready();
            if failed || fired {
                // A failure starts the next attempt at once; the timer paces the rest.
                if let Some(a) = pending.next() {
                    running.push(Box::pin(connect(a)));
                    timer.set_after(delay);
                    continue;
                }
            }
            if running.is_empty() {
                return Poll::Ready(Err(first_err.take().unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "all attempts failed")
                })));
            }
            return Poll::Pending;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interleave_alternates_families_from_the_first() {
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&["1.1.1.1:1"], &["1.1.1.1:1"]),
            (
                &["[::1]:1", "[::2]:1", "1.1.1.1:1", "2.2.2.2:1"],
                &["[::1]:1", "1.1.1.1:1", "[::2]:1", "2.2.2.2:1"],
            ),
            (
                &["1.1.1.1:1", "2.2.2.2:1", "3.3.3.3:1", "[::1]:1"],
                &["1.1.1.1:1", "[::1]:1", "2.2.2.2:1", "3.3.3.3:1"],
            ),
        ];
        for (input, want) in cases {
            let got = interleave(input.iter().map(|s| a(s)).collect());
            let want: Vec<_> = want.iter().map(|s| a(s)).collect();
            assert_eq!(got, want, "input {input:?}");
        }
    }
}

/// One connect timeout shared by the steps of a connection attempt (resolve, connect, TLS
/// handshake), as aiohttp's `ClientTimeout.connect` covers them all.
///
/// A step is never started once the deadline has passed, so a resolution that finished late
/// cannot lead to a connect; a step still running at the deadline fails with `TimedOut`.
///
/// ```
/// use std::time::Duration;
/// use tulip_net::ConnectDeadline;
///
/// tulip_executor::run(async {
///     let deadline = Some(ConnectDeadline::after(Duration::ZERO));
///     let err = ConnectDeadline::within(deadline, async { Ok(()) }).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
///     // No deadline: the step just runs.
///     assert_eq!(ConnectDeadline::within(None, async { Ok(7) }).await.unwrap(), 7);
/// });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ConnectDeadline {
    at: std::time::Instant,
    limit: Duration,
}

impl ConnectDeadline {
    /// The deadline `limit` from now.
    pub fn after(limit: Duration) -> ConnectDeadline {
        ConnectDeadline {
            at: std::time::Instant::now() + limit,
            limit,
        }
    }

    /// Runs `step` under `deadline`, if any. The `TimedOut` error's message names the limit.
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `step`: dropping this drops `step`.
    pub fn within<T, F>(
        deadline: Option<ConnectDeadline>,
        step: F,
    ) -> impl Future<Output = io::Result<T>> + use<T, F>
    where
        F: Future<Output = io::Result<T>>,
    {
        // A combinator, not an `async fn`: an `async fn` would hold `step` twice, as its
        // argument and as the copy it awaits (a TLS handshake is 2.8 KB).
        Within {
            inner: match deadline {
                None => Inner::Bare { step },
                Some(d) => Inner::Timed {
                    step: tulip_reactor::timeout_at(d.at, step),
                    deadline: d,
                    started: false,
                },
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ConnectDeadline::within`].
    struct Within<F> {
        #[pin]
        inner: Inner<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = InnerProj]
    enum Inner<F> {
        /// No deadline: the step runs as it is.
        Bare { #[pin] step: F },
        /// Under `deadline`; not `started` until its first poll, which fails at once if the
        /// deadline has passed: the step never runs then.
        Timed {
            #[pin]
            step: tulip_reactor::Timeout<F>,
            deadline: ConnectDeadline,
            started: bool,
        },
    }
}

impl<T, F: Future<Output = io::Result<T>>> Future for Within<F> {
    type Output = io::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<io::Result<T>> {
        let timed_out = |d: &ConnectDeadline| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the connect timeout ({:?}) passed", d.limit),
            )
        };
        match self.project().inner.project() {
            InnerProj::Bare { step } => step.poll(cx),
            InnerProj::Timed {
                step,
                deadline,
                started,
            } => {
                if !*started {
                    if std::time::Instant::now() >= deadline.at {
                        return Poll::Ready(Err(timed_out(deadline)));
                    }
                    *started = true;
                }
                match step.poll(cx) {
                    Poll::Ready(Ok(r)) => Poll::Ready(r),
                    Poll::Ready(Err(_)) => Poll::Ready(Err(timed_out(deadline))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
