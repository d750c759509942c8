//! The process-wide table of signal listeners and each signal's original disposition.
//!
//! Every listener (a [`Signals`](super::Signals) stream, an `add_signal_handler` callback, the
//! SIGCHLD fallback of the reaper) owns one socket pair. Its write end is handed to
//! signal-hook's pipe action, which writes one byte per delivery from inside the signal handler
//! (`send` with `MSG_DONTWAIT`: async-signal-safe, never blocks, drops the byte when the buffer
//! is full, so a flood of signals coalesces the way the kernel coalesces them anyway). Because
//! each listener has its own pipe, several listeners of one signal all see every delivery
//! without any fan-out code that could lose one.
//!
//! # Invariants
//!
//! 1. The signal handler touches nothing but the listeners' pipe write ends and, when nobody
//!    listens, the default-emulation flag of its signal (both atomics or syscalls that are
//!    async-signal-safe). All bookkeeping happens in [`Subscription::new`] and its `Drop`.
//! 2. signal-hook cannot uninstall its handler. To restore the original disposition when the
//!    last listener goes, the first subscription to a signal whose disposition was the default
//!    (neither ignored nor caught, read from `/proc/self/status`) registers a
//!    "conditional default" action first; its flag is raised exactly while the signal has no
//!    listener, and then the handler performs the default action (terminate, stop, ignore).
//!    A signal that was ignored stays ignored; one caught by a foreign handler keeps calling
//!    it (signal-hook chains the previous handler).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::SigId;

use super::SignalKind;

/// What we know about one signal once somebody has listened to it.
struct Disposition {
    /// Live subscriptions.
    listeners: usize,
    /// Raised while `listeners == 0` and the original disposition was the default (rule 2).
    idle: Option<Arc<AtomicBool>>,
}

fn table() -> &'static Mutex<HashMap<i32, Disposition>> {
    static TABLE: OnceLock<Mutex<HashMap<i32, Disposition>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// One registered signal-hook pipe action, counted as a listener of its signal.
pub(crate) struct Subscription {
    kind: SignalKind,
    action: Option<SigId>,
}

impl Subscription {
    /// Registers `write` to receive one byte per delivery of `kind`.
    pub(crate) fn new(kind: SignalKind, write: UnixStream) -> io::Result<Subscription> {
        let sig = kind.as_raw();
        check_catchable(kind)?;
        let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
        let entry = table.entry(sig).or_insert_with(|| {
            let idle = if originally_default(sig) {
                let flag = Arc::new(AtomicBool::new(true));
                // An error means signal-hook does not know the signal's default action (a
                // real-time signal, say); such a signal then stays caught after its last
                // listener goes, which for those signals is the common expectation anyway.
                signal_hook::flag::register_conditional_default(sig, flag.clone())
                    .ok()
                    .map(|_| flag)
            } else {
                None
            };
            Disposition { listeners: 0, idle }
        });
        let action = signal_hook::low_level::pipe::register(sig, write)?;
        entry.listeners += 1;
        if let Some(idle) = &entry.idle {
            idle.store(false, Ordering::SeqCst);
        }
        Ok(Subscription {
            kind,
            action: Some(action),
        })
    }

    /// The signal this subscription listens to.
    pub(crate) fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut table = table().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(action) = self.action.take() {
            signal_hook::low_level::unregister(action);
        }
        if let Some(entry) = table.get_mut(&self.kind.as_raw()) {
            entry.listeners -= 1;
            if entry.listeners == 0 {
                if let Some(idle) = &entry.idle {
                    idle.store(true, Ordering::SeqCst);
                }
            }
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("kind", &self.kind)
            .finish()
    }
}

/// A listener's receiving end: the read half of its socket pair plus its subscription.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) read: UnixStream,
    pub(crate) subscription: Subscription,
}

impl Listener {
    pub(crate) fn new(kind: SignalKind) -> io::Result<Listener> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        let subscription = Subscription::new(kind, write)?;
        Ok(Listener { read, subscription })
    }
}

/// Reads every pending delivery byte from a non-blocking listener socket; returns how many.
pub(crate) fn drain(mut read: &UnixStream) -> io::Result<usize> {
    let mut buf = [0u8; 64];
    let mut total = 0;
    loop {
        match read.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Rejects signals that cannot be caught or that signal-hook refuses (it would panic).
pub(crate) fn check_catchable(kind: SignalKind) -> io::Result<()> {
    let sig = kind.as_raw();
    if !(1..=64).contains(&sig) || signal_hook::consts::FORBIDDEN.contains(&sig) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {kind} cannot be listened to"),
        ));
    }
    Ok(())
}

/// Whether `sig` currently has the default disposition (neither ignored nor caught).
///
/// Read from `/proc/self/status` because asking `sigaction` would need `unsafe`. Where `/proc`
/// has no such file (macOS, the BSDs, or Linux without `/proc`) we assume what a Rust program
/// starts with: every signal at its default except SIGPIPE, which std ignores before `main`.
fn originally_default(sig: i32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return sig != SignalKind::PIPE.as_raw();
    };
    let bit = 1u64 << (sig - 1);
    let mask = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    mask("SigIgn:") & bit == 0 && mask("SigCgt:") & bit == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_uncatchable_signals() {
        let stop = signal_hook::consts::SIGSTOP;
        for sig in [0, -1, 9, stop, 11, 65] {
            let err = check_catchable(SignalKind::from_raw(sig)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {sig}");
        }
        assert!(check_catchable(SignalKind::USER1).is_ok());
    }

    #[test]
    fn sigpipe_is_ignored_by_the_rust_runtime() {
        // The test harness is a Rust binary, whose runtime sets SIGPIPE to SIG_IGN.
        assert!(!originally_default(SignalKind::PIPE.as_raw()));
    }
}
