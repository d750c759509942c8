//! asyncio's `add_signal_handler` / `remove_signal_handler`: callbacks run on a dedicated thread.
//!
//! A callback must run even when no task polls anything, so it cannot ride on a stream that
//! somebody has to poll. One lazily started thread, `tulip-signals`, blocks in `poll(2)` on the
//! listener sockets of every registered handler (plus a control socket that tells it the set
//! changed) and calls the callbacks there, never in the async-signal context.
//!
//! # Invariants
//!
//! 1. `remove_signal_handler` unregisters the listener before it returns, so the signal's
//!    original disposition is back at once when it was the last listener; the thread only
//!    closes the read end later.
//! 2. A callback never starts after `remove_signal_handler` returned (the thread checks the
//!    `removed` flag before each call); one already running finishes. `remove_signal_handler`
//!    takes no lock the thread holds across a callback, so a callback may remove itself.

use std::fmt;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::event::{PollFd, PollFlags, poll};
use tulip_executor::Handle;

use super::SignalKind;
use super::registry::{Listener, Subscription, drain};

/// Identifies a callback registered with [`add_signal_handler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalHandlerId(u64);

type Callback = Box<dyn FnMut(SignalKind) + Send>;

struct Entry {
    id: u64,
    kind: SignalKind,
    read: UnixStream,
    /// Taken (and so unregistered) by `remove_signal_handler` (rule 1).
    subscription: Mutex<Option<Subscription>>,
    /// Set by `remove_signal_handler` (rule 2); shared with tasks that run the callback on a
    /// runtime, which check it too.
    removed: Arc<AtomicBool>,
    /// Locked only by the handler thread.
    callback: Mutex<Callback>,
}

static HANDLERS: OnceLock<Handlers> = OnceLock::new();

struct Handlers {
    entries: Mutex<Vec<Arc<Entry>>>,
    /// Written to whenever `entries` changes, to wake the thread.
    control: UnixStream,
    next_id: AtomicU64,
}

impl Handlers {
    fn get() -> io::Result<&'static Handlers> {
        static START: Mutex<()> = Mutex::new(());
        if let Some(h) = HANDLERS.get() {
            return Ok(h);
        }
        let _once = START.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = HANDLERS.get() {
            return Ok(h);
        }
        let (control_read, control) = UnixStream::pair()?;
        control.set_nonblocking(true)?;
        control_read.set_nonblocking(true)?;
        let handlers = HANDLERS.get_or_init(|| Handlers {
            entries: Mutex::new(Vec::new()),
            control,
            next_id: AtomicU64::new(1),
        });
        std::thread::Builder::new()
            .name("tulip-signals".into())
            .spawn(move || handlers.run(control_read))?;
        Ok(handlers)
    }

    fn changed(&self) {
        // A full buffer already guarantees a wake-up, so `WouldBlock` is fine to ignore.
        let _ = (&self.control).write(&[1]);
    }

    fn run(&self, control: UnixStream) {
        loop {
            let entries = self
                .entries
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut fds = Vec::with_capacity(entries.len() + 1);
            fds.push(PollFd::new(&control, PollFlags::IN));
            fds.extend(entries.iter().map(|e| PollFd::new(&e.read, PollFlags::IN)));
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => {
                    log::error!(
                        "the signal handler thread stops: poll failed: {e}; registered signal \
                         handlers will no longer run"
                    );
                    return;
                }
            }
            let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
            drop(fds);
            if ready[0] {
                let _ = drain(&control);
            }
            for (entry, _) in entries.iter().zip(&ready[1..]).filter(|(_, r)| **r) {
                let n = drain(&entry.read).unwrap_or(0);
                let mut cb = entry.callback.lock().unwrap_or_else(|e| e.into_inner());
                for _ in 0..n {
                    if entry.removed.load(Ordering::SeqCst) {
                        break;
                    }
                    let kind = entry.kind;
                    // A panicking callback must not take the other handlers down with it;
                    // the panic hook has already reported it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (*cb)(kind)));
                }
            }
        }
    }
}

/// Calls `callback` on every delivery of `kind` (asyncio's `loop.add_signal_handler`).
///
/// The callback runs on a dedicated thread (`tulip-signals`), never inside the signal handler,
/// so it may lock, allocate and spawn tasks. Keep it short: handlers run one at a time. To do
/// async work, spawn a task from it, or await a [`signal`](super::signal) stream instead.
///
/// Unlike asyncio, several handlers may be registered for one signal; each is called. A
/// runtime that wants asyncio's one-handler-per-signal rule keeps the previous id and removes
/// it first. A panic in a callback is reported and swallowed.
///
/// # Errors
///
/// As [`signal`](super::signal): `InvalidInput` for signals that cannot be caught.
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use tulip_process::signal::{add_signal_handler, raise, remove_signal_handler, SignalKind};
///
/// # fn main() -> std::io::Result<()> {
/// let (tx, rx) = mpsc::channel();
/// let id = add_signal_handler(SignalKind::HANGUP, move |sig| tx.send(sig).unwrap())?;
/// raise(SignalKind::HANGUP)?;
/// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap(), SignalKind::HANGUP);
/// assert!(remove_signal_handler(id));
/// # Ok(())
/// # }
/// ```
pub fn add_signal_handler<F>(kind: SignalKind, callback: F) -> io::Result<SignalHandlerId>
where
    F: FnMut(SignalKind) + Send + 'static,
{
    add(kind, |_| Box::new(callback))
}

/// Like [`add_signal_handler`], but each call of `callback` runs as a task on `handle`'s
/// runtime, as asyncio runs signal handlers inside its loop: the callback may use
/// [`tulip_executor::spawn`] and the other runtime-bound functions directly.
///
/// Calls never overlap (they are serialised by a lock), and none starts once
/// [`remove_signal_handler`] returned, even one already queued on the runtime.
///
/// This is what a runtime's `Handle::add_signal_handler` forwards to.
///
/// # Errors
///
/// As [`add_signal_handler`].
///
/// # Examples
///
/// ```
/// use std::sync::mpsc;
/// use tulip_process::signal::{add_signal_handler_on, raise, remove_signal_handler, SignalKind};
///
/// # fn main() -> std::io::Result<()> {
/// let rt = tulip_executor::Runtime::new()?;
/// let (tx, rx) = mpsc::channel();
/// let id = add_signal_handler_on(rt.handle(), SignalKind::from_raw(30), move |sig| {
///     // Inside the runtime: spawning works here.
///     let tx = tx.clone();
///     tulip_executor::spawn(async move { tx.send(sig).unwrap() }).detach();
/// })?;
/// raise(SignalKind::from_raw(30))?; // SIGPWR on Linux, SIGUSR1 on macOS and the BSDs
/// let got = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(got, SignalKind::from_raw(30));
/// assert!(remove_signal_handler(id));
/// # Ok(())
/// # }
/// ```
pub fn add_signal_handler_on<F>(
    handle: &Handle,
    kind: SignalKind,
    callback: F,
) -> io::Result<SignalHandlerId>
where
    F: FnMut(SignalKind) + Send + 'static,
{
    let handle = handle.clone();
    let callback = Arc::new(Mutex::new(callback));
    add(kind, move |removed| {
        Box::new(move |kind| {
            let callback = callback.clone();
            let removed = removed.clone();
            handle
                .spawn(async move {
                    let mut callback = callback.lock().unwrap_or_else(|e| e.into_inner());
                    if !removed.load(Ordering::SeqCst) {
                        (*callback)(kind);
                    }
                })
                .detach();
        })
    })
}

/// Registers a listener for `kind` and the callback `make` builds from its `removed` flag.
fn add(
    kind: SignalKind,
    make: impl FnOnce(Arc<AtomicBool>) -> Callback,
) -> io::Result<SignalHandlerId> {
    let handlers = Handlers::get()?;
    let Listener { read, subscription } = Listener::new(kind)?;
    let id = handlers.next_id.fetch_add(1, Ordering::Relaxed);
    let removed = Arc::new(AtomicBool::new(false));
    let entry = Arc::new(Entry {
        id,
        kind,
        read,
        subscription: Mutex::new(Some(subscription)),
        callback: Mutex::new(make(removed.clone())),
        removed,
    });
    handlers
        .entries
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(entry);
    handlers.changed();
    Ok(SignalHandlerId(id))
}

/// Removes a callback added with [`add_signal_handler`] (asyncio's `remove_signal_handler`).
///
/// Returns whether it was registered. When it was the signal's last listener, the signal's
/// original behaviour is back when this returns. A callback already running on the handler
/// thread finishes; none starts afterwards.
pub fn remove_signal_handler(id: SignalHandlerId) -> bool {
    let Some(handlers) = HANDLERS.get() else {
        return false;
    };
    let entry = {
        let mut entries = handlers.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.iter().position(|e| e.id == id.0) {
            Some(i) => entries.swap_remove(i),
            None => return false,
        }
    };
    entry.removed.store(true, Ordering::SeqCst);
    drop(
        entry
            .subscription
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(),
    );
    handlers.changed();
    true
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("fd", &self.read.as_fd())
            .finish_non_exhaustive()
    }
}
