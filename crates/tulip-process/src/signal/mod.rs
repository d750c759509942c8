//! Unix signals: streams of deliveries ([`signal`]), [`ctrl_c`], and asyncio's
//! `add_signal_handler` / `remove_signal_handler` ([`add_signal_handler`]).
//!
//! Listening to a signal installs a handler for it (through signal-hook) that does nothing but
//! write one byte to each listener's socket pair, which the reactor watches. Several listeners
//! of one signal each see every delivery. When the last listener of a signal goes away, a
//! signal whose disposition was the default (SIGINT, SIGTERM, SIGUSR1...) behaves as the
//! default again: terminates, stops or is ignored as before. A signal that was ignored stays
//! ignored, and one caught by a foreign handler keeps calling that handler.
//!
//! As with the kernel, deliveries of one signal that arrive faster than they are read may
//! coalesce into one.

mod handler;
pub(crate) mod registry;

use std::fmt;
use std::io;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use tulip_reactor::Async;

pub use handler::{
    SignalHandlerId, add_signal_handler, add_signal_handler_on, remove_signal_handler,
};

use registry::{Listener, Subscription, drain};

/// A Unix signal number, with names for the common ones.
///
/// # Examples
///
/// ```
/// use tulip_process::signal::SignalKind;
///
/// assert_eq!(SignalKind::TERMINATE.to_string(), "SIGTERM");
/// // Numbers differ by platform: SIGUSR1 is 10 on Linux, 30 on macOS and the BSDs.
/// let raw = SignalKind::USER1.as_raw();
/// assert_eq!(SignalKind::from_raw(raw), SignalKind::USER1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalKind(i32);

impl SignalKind {
    /// SIGINT, sent by Ctrl-C in a terminal.
    pub const INTERRUPT: SignalKind = SignalKind(signal_hook::consts::SIGINT);
    /// SIGTERM, the polite request to exit (what `kill` and service managers send).
    pub const TERMINATE: SignalKind = SignalKind(signal_hook::consts::SIGTERM);
    /// SIGHUP, the terminal hung up; daemons use it to reload their configuration.
    pub const HANGUP: SignalKind = SignalKind(signal_hook::consts::SIGHUP);
    /// SIGQUIT, Ctrl-\ in a terminal.
    pub const QUIT: SignalKind = SignalKind(signal_hook::consts::SIGQUIT);
    /// SIGKILL: cannot be caught, only sent (see [`Child::kill`](crate::Child::kill)).
    pub const KILL: SignalKind = SignalKind(signal_hook::consts::SIGKILL);
    /// SIGUSR1, left to applications.
    pub const USER1: SignalKind = SignalKind(signal_hook::consts::SIGUSR1);
    /// SIGUSR2, left to applications.
    pub const USER2: SignalKind = SignalKind(signal_hook::consts::SIGUSR2);
    /// SIGCHLD, a child process stopped or exited.
    pub const CHILD: SignalKind = SignalKind(signal_hook::consts::SIGCHLD);
    /// SIGALRM, a timer set with `alarm` expired.
    pub const ALARM: SignalKind = SignalKind(signal_hook::consts::SIGALRM);
    /// SIGPIPE, a write to a pipe nobody reads (ignored by the Rust runtime).
    pub const PIPE: SignalKind = SignalKind(signal_hook::consts::SIGPIPE);
    /// SIGWINCH, the terminal window changed size.
    pub const WINDOW_CHANGE: SignalKind = SignalKind(signal_hook::consts::SIGWINCH);

    /// The signal with number `raw` (no check: an invalid number fails where it is used).
    pub const fn from_raw(raw: i32) -> SignalKind {
        SignalKind(raw)
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The `rustix` form, for sending.
    pub(crate) fn to_rustix(self) -> io::Result<rustix::process::Signal> {
        rustix::process::Signal::from_named_raw(self.0).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("signal {self} cannot be sent"),
            )
        })
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match signal_hook::low_level::signal_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({self})")
    }
}

/// Starts listening to `kind`: every delivery from now on shows up on the returned stream.
///
/// The handler is installed before this function returns, so a signal raised right after is
/// not lost. Dropping the last listener of a signal restores its original behaviour (see the
/// [module docs](self)).
///
/// # Errors
///
/// `InvalidInput` for signals that cannot be caught (SIGKILL, SIGSTOP) or that signal-hook
/// refuses to handle (SIGSEGV, SIGILL, SIGFPE); otherwise only if a socket pair cannot be
/// created or registered.
///
/// # Examples
///
/// ```
/// use tulip_process::signal::{raise, signal, SignalKind};
///
/// # fn main() -> std::io::Result<()> {
/// let mut usr2 = signal(SignalKind::USER2)?;
/// raise(SignalKind::USER2)?;
/// let got = tulip_reactor::block_on(usr2.recv());
/// assert_eq!(got, Some(SignalKind::USER2));
/// # Ok(())
/// # }
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signals> {
    let Listener { read, subscription } = Listener::new(kind)?;
    Ok(Signals {
        read: Async::new_nonblocking(read)?,
        subscription,
        pending: 0,
    })
}

/// Sends `kind` to the current process (like `os.kill(os.getpid(), sig)` in Python).
///
/// The signal is process-directed: any thread that does not block it takes it, and every
/// listener sees it.
///
/// # Errors
///
/// `InvalidInput` for a number that is not a named signal.
pub fn raise(kind: SignalKind) -> io::Result<()> {
    rustix::process::kill_process(rustix::process::getpid(), kind.to_rustix()?)?;
    Ok(())
}

/// Waits for one Ctrl-C (SIGINT).
///
/// While this future exists, SIGINT no longer terminates the process; afterwards it does
/// again (unless something else listens to it).
///
/// # Errors
///
/// If the handler cannot be installed.
///
/// # Cancel safety
///
/// Cancel-safe, with a caveat: the listener lives inside the future, so a Ctrl-C that comes
/// while no `ctrl_c()` future exists is not seen (and terminates the process). Keep a
/// [`signal`]`(SignalKind::INTERRUPT)` stream alive to catch every one.
pub async fn ctrl_c() -> io::Result<()> {
    let mut sigint = signal(SignalKind::INTERRUPT)?;
    sigint.recv().await;
    Ok(())
}

/// A stream of deliveries of one signal, from [`signal`].
///
/// Yields the signal's [`SignalKind`] once per delivery it read; it never ends on its own.
#[derive(Debug)]
pub struct Signals {
    read: Async<UnixStream>,
    subscription: Subscription,
    /// Deliveries read from the socket but not yet yielded.
    pending: usize,
}

impl Signals {
    /// The signal this stream listens to.
    pub fn kind(&self) -> SignalKind {
        self.subscription.kind()
    }

    /// Waits for the next delivery.
    ///
    /// Returns `None` only if the listener socket fails, which does not happen in practice.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a delivery is consumed only when this future returns it, and deliveries
    /// that come while nobody awaits wait in the listener's socket.
    pub async fn recv(&mut self) -> Option<SignalKind> {
        futures_lite::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (the poll form of [`Signals::recv`]).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<SignalKind>> {
        let kind = self.kind();
        if self.pending == 0 {
            let got = match self.read.poll_read_with(cx, |s| match drain(s)? {
                0 => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(res) => res,
            };
            match got {
                Ok(n) => self.pending = n,
                Err(_) => return Poll::Ready(None),
            }
        }
        self.pending -= 1;
        Poll::Ready(Some(kind))
    }
}

impl Stream for Signals {
    type Item = SignalKind;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SignalKind>> {
        self.get_mut().poll_recv(cx)
    }
}
