//! asyncio's `loop.add_reader`/`add_writer`/`remove_reader`/`remove_writer`: a callback run
//! each time a raw file descriptor is readable (or writable), until it is removed.
//!
//! Each watch is a task on the current runtime that owns a *duplicate* of the descriptor
//! (`F_DUPFD_CLOEXEC`) registered with the reactor. The duplicate is its own epoll entry, so
//! the caller may also have the descriptor registered elsewhere (in an `Async`), and a reader
//! and a writer on one descriptor do not collide. Registration neither changes the
//! descriptor's blocking mode nor closes it; removing the watch closes only the duplicate.
//!
//! # Readiness semantics
//!
//! The reactor is edge-triggered: it learns of a *transition* to readable once. A watch turns
//! that into asyncio's level-triggered behaviour: after each callback it asks the kernel
//! (`poll(2)` with a zero timeout) whether the descriptor is still ready, calls again if so
//! (after yielding to other tasks), and otherwise waits for the next edge. So a callback
//! should consume what is ready — ideally drain to `WouldBlock`, on a non-blocking
//! descriptor — or it will be called again at once, as in asyncio. A blocking descriptor is
//! allowed but then a callback that reads more than is ready blocks a worker thread.
//!
//! The table is keyed by descriptor number, as asyncio's is: `add_reader` on a number that
//! already has a reader replaces it, and closing a watched descriptor without removing the
//! watch leaves the duplicate open (and the callback firing, for example on hang-up):
//! remove watches before closing.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustix::event::{PollFd, PollFlags};
use tulip_reactor::Async;
use tulip_sync::Event;

/// One watch's stop signal: `removed` is checked before every call, `stop` ends the wait.
#[derive(Debug)]
struct Watch {
    removed: AtomicBool,
    stop: Event,
}

impl Watch {
    fn cancel(&self) {
        self.removed.store(true, Ordering::SeqCst);
        self.stop.set();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dir {
    Read,
    Write,
}

type Table = Mutex<HashMap<(RawFd, Dir), Arc<Watch>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::default)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<(RawFd, Dir), Arc<Watch>>> {
    // Only inserts and removes run under the lock; a panic cannot leave it half-updated.
    table().lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether the kernel says `fd` is ready in `dir` right now (or hung up, or in error: the
/// callback must see that too).
fn still_ready(fd: &OwnedFd, dir: Dir) -> io::Result<bool> {
    let want = match dir {
        Dir::Read => PollFlags::IN,
        Dir::Write => PollFlags::OUT,
    };
    let mut fds = [PollFd::new(fd, want)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&zero))?;
    Ok(!fds[0].revents().is_empty())
}

fn add<F>(fd: impl AsFd, dir: Dir, mut callback: F) -> io::Result<()>
where
    F: FnMut() + Send + 'static,
{
    let runtime = tulip_executor::Handle::try_current().ok_or_else(|| {
        io::Error::other("add_reader/add_writer must be called inside a tulip runtime")
    })?;
    let raw = fd.as_fd().as_raw_fd();
    let dup = fd.as_fd().try_clone_to_owned()?;
    // `new_nonblocking` registers without touching O_NONBLOCK: that flag lives on the open
    // file description the caller shares, and is the caller's choice.
    let io = Async::new_nonblocking(dup)?;
    let watch = Arc::new(Watch {
        removed: AtomicBool::new(false),
        stop: Event::new(),
    });
    if let Some(old) = lock().insert((raw, dir), watch.clone()) {
        old.cancel();
    }
    let task = async move {
        loop {
            // `read_with`'s `WouldBlock` clears the latched edge, so the next wait is for a
            // fresh one; `Ok` means the descriptor is ready now.
            let ready = async {
                match dir {
                    Dir::Read => io.read_with(|fd| ready_or_block(fd, dir)).await,
                    Dir::Write => io.write_with(|fd| ready_or_block(fd, dir)).await,
                }
            };
            let stopped = async {
                watch.stop.wait().await;
                Ok(())
            };
            if futures_lite::future::or(stopped, ready).await.is_err()
                || watch.removed.load(Ordering::SeqCst)
            {
                break;
            }
            callback();
            futures_lite::future::yield_now().await;
        }
        // Forget the entry unless a newer watch on the same number replaced it.
        let mut t = lock();
        if t.get(&(raw, dir)).is_some_and(|w| Arc::ptr_eq(w, &watch)) {
            t.remove(&(raw, dir));
        }
    };
    runtime.spawn(task).detach();
    Ok(())
}

fn ready_or_block(fd: &OwnedFd, dir: Dir) -> io::Result<()> {
    if still_ready(fd, dir)? {
        Ok(())
    } else {
        Err(io::ErrorKind::WouldBlock.into())
    }
}

fn remove(fd: RawFd, dir: Dir) -> bool {
    match lock().remove(&(fd, dir)) {
        Some(w) => {
            w.cancel();
            true
        }
        None => false,
    }
}

/// Calls `callback` on the current runtime each time `fd` is readable, until
/// [`remove_reader`] (asyncio's `loop.add_reader`). A reader already on this descriptor
/// number is replaced.
///
/// The watch owns a duplicate of the descriptor (its own epoll entry), so the descriptor may
/// also be registered elsewhere; its blocking mode is left alone. The reactor is
/// edge-triggered, but after each callback the watch asks the kernel (`poll(2)`, zero
/// timeout) whether the descriptor is still readable and calls again if so, after yielding:
/// asyncio's level-triggered behaviour. So the callback should consume what is ready —
/// ideally drain to `WouldBlock` on a non-blocking descriptor — or it is called again at once.
/// Remove the watch before closing the descriptor: the duplicate keeps the file open.
///
/// # Errors
///
/// If the descriptor cannot be duplicated or registered (a regular file: epoll refuses it),
/// or when called outside a tulip runtime.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
/// use tulip_net::{add_reader, remove_reader};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_executor::run(async {
///     let (mut a, b) = UnixStream::pair()?;
///     b.set_nonblocking(true)?;
///     let b = std::sync::Arc::new(b);
///     let (tx, mut rx) = tulip_sync::mpsc::unbounded();
///     let reader = b.clone();
///     add_reader(&*b, move || {
///         let mut buf = [0; 64];
///         // Drain: read until the socket would block.
///         while let Ok(n) = (&*reader).read(&mut buf) {
///             if n == 0 { break; }
///             let _ = tx.try_send(buf[..n].to_vec());
///         }
///     })?;
///     a.write_all(b"ping")?;
///     assert_eq!(rx.recv().await.unwrap(), b"ping");
///     assert!(remove_reader(b.as_raw_fd()));
///     Ok::<_, std::io::Error>(())
/// })
/// # }
/// ```
pub fn add_reader<F>(fd: impl AsFd, callback: F) -> io::Result<()>
where
    F: FnMut() + Send + 'static,
{
    add(fd, Dir::Read, callback)
}

/// Calls `callback` on the current runtime each time `fd` is writable, until
/// [`remove_writer`] (asyncio's `loop.add_writer`). A writer already on this descriptor
/// number is replaced. A socket is writable almost always: remove the writer once there is
/// nothing left to write, or the callback runs in a loop.
///
/// # Errors
///
/// If the descriptor cannot be duplicated or registered, or when called outside a tulip
/// runtime.
pub fn add_writer<F>(fd: impl AsFd, callback: F) -> io::Result<()>
where
    F: FnMut() + Send + 'static,
{
    add(fd, Dir::Write, callback)
}

/// Stops the reader on descriptor number `fd` (asyncio's `loop.remove_reader`); returns
/// whether there was one. The callback is not called again, though a call already running
/// on another worker finishes.
pub fn remove_reader(fd: RawFd) -> bool {
    remove(fd, Dir::Read)
}

/// Stops the writer on descriptor number `fd` (asyncio's `loop.remove_writer`); returns
/// whether there was one.
pub fn remove_writer(fd: RawFd) -> bool {
    remove(fd, Dir::Write)
}
