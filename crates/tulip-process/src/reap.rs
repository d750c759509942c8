//! Waiting for children and reaping the ones nobody waits for.
//!
//! Each child gets an [`ExitWatch`]. Where the kernel has `pidfd_open` (Linux 5.3+), the
//! watch registers the child's pidfd with the reactor: it becomes readable when the child
//! exits, and `waitpid(pid, WNOHANG)` then collects the status. Elsewhere (macOS, the BSDs
//! and illumos, which have no pidfd; older Linux kernels; sandboxes that forbid the call)
//! the watch uses SIGCHLD: a process-wide SIGCHLD listener wakes every waiting child, which
//! each retry `waitpid` on their own pid.
//!
//! On Linux the environment variable `TULIP_PROCESS_NO_PIDFD=1`, read once at the first
//! spawn, makes every child use SIGCHLD as on the other platforms, so that one test suite
//! covers both paths on one machine (`.ci/run` runs the process tests both ways).
//!
//! A child whose handle is dropped before it was reaped goes to the [`Reaper`], a lazily
//! started thread (`tulip-reaper`) that blocks in `poll(2)` on the orphans' pidfds (or on
//! SIGCHLD) and reaps each as it exits.
//!
//! # Invariants
//!
//! 1. Only `waitpid` on a known pid, never `waitpid(-1)`: children that other code in the
//!    process spawned are not ours to reap.
//! 2. A pid is signalled only while its child is unreaped (`status` is `None`), so the number
//!    cannot have been reused by an unrelated process.
//! 3. A SIGCHLD waiter registers its waker before it calls `waitpid`, and the reaper thread
//!    wakes every registered waker after each SIGCHLD it reads: an exit between the two is
//!    never missed.
//! 4. Every child is reaped: by `wait`/`try_wait`, or by the reaper after its handle drops.

use std::fmt;
use std::io::{self, Write};
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::fd::AsFd;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Child as StdChild, ExitStatus};
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{Pid, WaitOptions};
#[cfg(any(target_os = "linux", target_os = "android"))]
use rustix::process::{PidfdFlags, pidfd_open, pidfd_send_signal};
use slab::Slab;
use tulip_reactor::Async;

use crate::signal::SignalKind;
use crate::signal::registry::{Listener, drain};

/// Cleared for good once `pidfd_open` reports that the kernel lacks it.
#[cfg(any(target_os = "linux", target_os = "android"))]
static PIDFD_SUPPORTED: AtomicBool = AtomicBool::new(true);

/// Whether children may be watched through a pidfd: on Linux unless the kernel lacks
/// `pidfd_open` or `TULIP_PROCESS_NO_PIDFD=1` asks for the SIGCHLD path; never elsewhere.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pidfd_enabled() -> bool {
    PIDFD_SUPPORTED.load(Ordering::Relaxed) && !sigchld_forced()
}

/// No pidfd outside Linux: SIGCHLD-driven reaping.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn pidfd_enabled() -> bool {
    false
}

/// Whether `TULIP_PROCESS_NO_PIDFD=1` was set at the first spawn.
#[cfg(any(test, target_os = "linux", target_os = "android"))]
pub(crate) fn sigchld_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("TULIP_PROCESS_NO_PIDFD").is_some_and(|v| v == "1"))
}

/// Watches one child until it exits, and reaps it.
pub(crate) struct ExitWatch {
    child: StdChild,
    /// The reactor-registered pidfd, or `None` in SIGCHLD mode.
    pidfd: Option<Async<OwnedFd>>,
    /// This watch's slot in the reaper's SIGCHLD waiter table (SIGCHLD mode).
    waiter: Option<usize>,
    status: Option<ExitStatus>,
}

impl ExitWatch {
    /// Starts watching `child`; `use_pidfd = false` forces the SIGCHLD fallback (for tests).
    ///
    /// On error the caller still owns nothing: the child has been killed and reaped.
    pub(crate) fn new(mut child: StdChild, use_pidfd: bool) -> io::Result<ExitWatch> {
        let pidfd = if use_pidfd && pidfd_enabled() {
            open_pidfd(child.id())
        } else {
            None
        };
        if pidfd.is_none() {
            if let Err(e) = Reaper::get().and_then(Reaper::enable_sigchld) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
        Ok(ExitWatch {
            child,
            pidfd,
            waiter: None,
            status: None,
        })
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether this watch waits on a pidfd (and not on SIGCHLD).
    #[cfg(test)]
    pub(crate) fn uses_pidfd(&self) -> bool {
        self.pidfd.is_some()
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let res = match &self.pidfd {
            Some(pidfd) => {
                let child = &mut self.child;
                match pidfd.poll_read_with(cx, |_| {
                    child
                        .try_wait()?
                        .ok_or_else(|| io::ErrorKind::WouldBlock.into())
                }) {
                    Poll::Ready(res) => res,
                    Poll::Pending => return Poll::Pending,
                }
            }
            None => {
                let reaper = Reaper::get()?;
                reaper.register_waiter(&mut self.waiter, cx.waker());
                match self.child.try_wait() {
                    Ok(None) => return Poll::Pending,
                    Ok(Some(status)) => Ok(status),
                    Err(e) => Err(e),
                }
            }
        };
        if let Ok(status) = res {
            self.status = Some(status);
            self.release_waiter();
        }
        Poll::Ready(res)
    }

    /// Sends `kind` to the child; a no-op once the child has been reaped (rule 2).
    pub(crate) fn send(&mut self, kind: SignalKind) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        let sig = kind.to_rustix()?;
        match &self.pidfd {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            Some(pidfd) => pidfd_send_signal(pidfd.as_fd(), sig)?,
            _ => rustix::process::kill_process(pid_of(&self.child)?, sig)?,
        }
        Ok(())
    }

    fn release_waiter(&mut self) {
        if let Some(key) = self.waiter.take() {
            if let Ok(reaper) = Reaper::get() {
                reaper.lock_waiters().try_remove(key);
            }
        }
    }
}

impl Drop for ExitWatch {
    fn drop(&mut self) {
        self.release_waiter();
        if self.status.is_some() {
            return;
        }
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let pidfd = self.pidfd.take().and_then(|fd| fd.into_inner().ok());
        let Ok(pid) = pid_of(&self.child) else { return };
        // Dropping the std handle does nothing to the process: the reaper takes over by pid,
        // which stays ours until reaped (rule 2).
        // Without a reaper (no thread could be started) the zombie stays: nothing else can
        // reap it without stealing other code's children.
        if let Ok(reaper) = Reaper::get() {
            reaper.adopt(Orphan { pid, pidfd });
        }
    }
}

impl fmt::Debug for ExitWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitWatch")
            .field("pid", &self.child.id())
            .field("pidfd", &self.pidfd.is_some())
            .field("status", &self.status)
            .finish()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn open_pidfd(_pid: u32) -> Option<Async<OwnedFd>> {
    None
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_pidfd(pid: u32) -> Option<Async<OwnedFd>> {
    let pid = Pid::from_raw(pid as i32)?;
    match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => Async::new_nonblocking(fd).ok(),
        Err(rustix::io::Errno::NOSYS) => {
            PIDFD_SUPPORTED.store(false, Ordering::Relaxed);
            None
        }
        // EPERM under some seccomp filters, EMFILE when out of descriptors: SIGCHLD mode
        // needs no descriptor of its own, so this child still works.
        Err(_) => None,
    }
}

fn pid_of(child: &StdChild) -> io::Result<Pid> {
    Pid::from_raw(child.id() as i32).ok_or_else(|| io::Error::other("child has pid 0"))
}

/// A child whose handle was dropped before it was reaped.
struct Orphan {
    pid: Pid,
    pidfd: Option<OwnedFd>,
}

impl Orphan {
    /// Reaps the orphan if it has exited; `true` when it is gone for good.
    fn reaped(&self) -> bool {
        // An error (ECHILD) means somebody else reaped it: also gone.
        !matches!(
            rustix::process::waitpid(Some(self.pid), WaitOptions::NOHANG),
            Ok(None)
        )
    }
}

/// The process-wide reaper thread and the SIGCHLD waiter table.
struct Reaper {
    /// Orphans handed over but not yet picked up by the thread.
    inbox: Mutex<Vec<Orphan>>,
    /// The SIGCHLD listener, once some child runs in SIGCHLD mode.
    sigchld: Mutex<Option<Arc<Listener>>>,
    /// Wakers of `ExitWatch`es in SIGCHLD mode (rule 3).
    waiters: Mutex<Slab<Option<Waker>>>,
    /// Written to whenever the thread must look at `inbox` or `sigchld` again.
    control: UnixStream,
}

static REAPER: OnceLock<Reaper> = OnceLock::new();

impl Reaper {
    fn get() -> io::Result<&'static Reaper> {
        static START: Mutex<()> = Mutex::new(());
        if let Some(r) = REAPER.get() {
            return Ok(r);
        }
        let _once = START.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = REAPER.get() {
            return Ok(r);
        }
        let (control_read, control) = UnixStream::pair()?;
        control.set_nonblocking(true)?;
        control_read.set_nonblocking(true)?;
        let reaper = REAPER.get_or_init(|| Reaper {
            inbox: Mutex::new(Vec::new()),
            sigchld: Mutex::new(None),
            waiters: Mutex::new(Slab::new()),
            control,
        });
        std::thread::Builder::new()
            .name("tulip-reaper".into())
            .spawn(move || reaper.run(control_read))?;
        Ok(reaper)
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, Slab<Option<Waker>>> {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poke(&self) {
        // A full buffer already guarantees a wake-up.
        let _ = (&self.control).write(&[1]);
    }

    fn enable_sigchld(&self) -> io::Result<()> {
        let mut sigchld = self.sigchld.lock().unwrap_or_else(|e| e.into_inner());
        if sigchld.is_none() {
            *sigchld = Some(Arc::new(Listener::new(SignalKind::CHILD)?));
            self.poke();
        }
        Ok(())
    }

    fn register_waiter(&self, key: &mut Option<usize>, waker: &Waker) {
        let mut waiters = self.lock_waiters();
        match key.and_then(|k| waiters.get_mut(k)) {
            Some(slot) => match slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            },
            None => *key = Some(waiters.insert(Some(waker.clone()))),
        }
    }

    fn adopt(&self, orphan: Orphan) {
        self.inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(orphan);
        self.poke();
    }

    fn run(&self, control: UnixStream) {
        let mut orphans: Vec<Orphan> = Vec::new();
        loop {
            orphans.extend(
                self.inbox
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .drain(..),
            );
            orphans.retain(|o| !o.reaped());
            let sigchld = self
                .sigchld
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut fds = Vec::with_capacity(orphans.len() + 2);
            fds.push(PollFd::new(&control, PollFlags::IN));
            if let Some(l) = &sigchld {
                fds.push(PollFd::new(&l.read, PollFlags::IN));
            }
            fds.extend(
                orphans
                    .iter()
                    .filter_map(|o| o.pidfd.as_ref())
                    .map(|fd| PollFd::new(fd, PollFlags::IN)),
            );
            // An orphan without a pidfd is normally covered by SIGCHLD; should it not be
            // (SIGCHLD listener failed), poll it every second rather than leak a zombie.
            let blind = orphans.iter().any(|o| o.pidfd.is_none()) && sigchld.is_none();
            let second = Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            };
            match poll(&mut fds, blind.then_some(&second)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    log::error!(
                        "the reaper thread stops: poll failed: {e}; children dropped from now on \
                         stay zombies until the process exits"
                    );
                    return;
                }
            }
            let control_ready = !fds[0].revents().is_empty();
            let sigchld_ready = sigchld.is_some() && !fds[1].revents().is_empty();
            drop(fds);
            if control_ready {
                let _ = drain(&control);
            }
            if let Some(l) = sigchld.filter(|_| sigchld_ready) {
                let _ = drain(&l.read);
                let wakers: Vec<Waker> = self
                    .lock_waiters()
                    .iter_mut()
                    .filter_map(|(_, w)| w.take())
                    .collect();
                wakers.into_iter().for_each(Waker::wake);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::time::{Duration, Instant};

    use crate::Command;

    fn run<T>(fut: impl std::future::Future<Output = T>) -> T {
        tulip_reactor::block_on(tulip_reactor::timeout(Duration::from_secs(30), fut))
            .expect("timed out")
    }

    #[cfg(target_os = "linux")]
    fn is_our_child(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            rest.split(' ').nth(1) == Some(&std::process::id().to_string())
        })
    }

    /// Without /proc: the pid still exists (running or a zombie), so it is not reaped yet.
    #[cfg(not(target_os = "linux"))]
    fn is_our_child(pid: u32) -> bool {
        rustix::process::Pid::from_raw(pid as i32)
            .is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
    }

    #[test]
    fn pidfd_is_used_where_the_kernel_has_it() {
        let child = Command::new("true").spawn().unwrap();
        // Every Linux kernel this project targets (5.3+) has pidfd_open; other platforms
        // have no pidfd, and the switch turns it off on purpose.
        let expected = cfg!(target_os = "linux") && !super::sigchld_forced();
        assert_eq!(child_watch(&child).uses_pidfd(), expected);
    }

    fn child_watch(child: &crate::Child) -> &super::ExitWatch {
        child.watch_for_tests()
    }

    #[test]
    fn sigchld_fallback_waits_and_reaps() {
        run(async {
            // Several waiters at once, each woken by the shared SIGCHLD listener.
            let mut children: Vec<_> = (0..5)
                .map(|i| {
                    Command::shell(format!("sleep 0.0{i}; exit {i}"))
                        .without_pidfd()
                        .spawn()
                        .unwrap()
                })
                .collect();
            assert!(children.iter().all(|c| !child_watch(c).uses_pidfd()));
            for (i, child) in children.iter_mut().enumerate().rev() {
                assert_eq!(child.wait().await.unwrap().code(), Some(i as i32));
            }
            let mut child = Command::new("sleep")
                .arg("10")
                .without_pidfd()
                .spawn()
                .unwrap();
            child.terminate().unwrap();
            assert_eq!(child.wait().await.unwrap().signal(), Some(15));
        });
    }

    #[test]
    fn sigchld_fallback_reaps_dropped_children() {
        let pids: Vec<u32> = (0..20)
            .map(|i| {
                let mut cmd = Command::new(if i % 2 == 0 { "true" } else { "sleep" });
                if i % 2 == 1 {
                    cmd.arg("10").kill_on_drop(true);
                }
                cmd.without_pidfd().spawn().unwrap().id()
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|&p| is_our_child(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left: Vec<_> = pids.iter().filter(|&&p| is_our_child(p)).collect();
        assert!(left.is_empty(), "unreaped: {left:?}");
    }
}
