//! [`Child`]: a running process (asyncio's `asyncio.subprocess.Process`).

use std::fmt;
use std::io;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};

use futures_lite::future::{poll_fn, try_zip};
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tulip_executor::debug::ResourceTracker;

use crate::pipe::{ChildStderr, ChildStdin, ChildStdout};
use crate::reap::ExitWatch;
use crate::signal::SignalKind;

/// A child process started by [`Command::spawn`](crate::Command::spawn).
///
/// Its exit status is never lost: it is collected whenever asked for, even long after the
/// child exited. Dropping a `Child` does not wait for the process; it keeps running (unless
/// [`kill_on_drop`](crate::Command::kill_on_drop) was set) and is reaped in the background,
/// so no zombie is left behind.
///
/// # Examples
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use tulip_process::{Command, Stdio};
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let mut child = Command::new("tr")
///         .arg("a-z")
///         .arg("A-Z")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"shout").await?;
///     drop(stdin); // end-of-file for `tr`
///     let mut out = String::new();
///     child.stdout.as_mut().unwrap().read_to_string(&mut out).await?;
///     assert_eq!(out, "SHOUT");
///     assert!(child.wait().await?.success());
///     Ok(())
/// })
/// # }
/// ```
pub struct Child {
    /// The child's stdin, when it was [`Stdio::piped`](crate::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, when it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, when it was piped.
    pub stderr: Option<ChildStderr>,
    watch: ExitWatch,
    kill_on_drop: bool,
    output_limit: usize,
    /// Debug mode's check for a child dropped while running, never waited for.
    tracker: ResourceTracker,
}

impl Child {
    pub(crate) fn new(
        mut std: std::process::Child,
        kill_on_drop: bool,
        use_pidfd: bool,
        output_limit: usize,
        site: &'static std::panic::Location<'static>,
    ) -> io::Result<Child> {
        let (stdin, stdout, stderr) = (std.stdin.take(), std.stdout.take(), std.stderr.take());
        let watch = ExitWatch::new(std, use_pidfd)?;
        // From here on the child is ours: should a pipe fail to register, kill it rather than
        // hand back an error with a child nobody can reach.
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            watch,
            kill_on_drop: true,
            output_limit,
            tracker: ResourceTracker::none(),
        };
        child.stdin = stdin.map(ChildStdin::new).transpose()?;
        child.stdout = stdout.map(ChildStdout::new).transpose()?;
        child.stderr = stderr.map(ChildStderr::new).transpose()?;
        child.kill_on_drop = kill_on_drop;
        child.tracker = ResourceTracker::at("child process", site);
        Ok(child)
    }

    #[cfg(test)]
    pub(crate) fn watch_for_tests(&self) -> &ExitWatch {
        &self.watch
    }

    /// The child's process id (asyncio's `Process.pid`). It stays valid for signalling only
    /// until the child is reaped; use [`Child::send_signal`], which knows.
    pub fn id(&self) -> u32 {
        self.watch.id()
    }

    /// Waits for the child to exit and returns its status.
    ///
    /// Drops [`Child::stdin`] first, so that a child reading its input to the end can finish
    /// (the deadlock asyncio warns about). It does not read stdout or stderr: a child that
    /// fills a pipe nobody reads blocks forever. Use [`Child::communicate`] for that.
    ///
    /// # Errors
    ///
    /// Only if `waitpid` fails (`ECHILD` when something else reaped the child, such as a
    /// SIGCHLD disposition of `SIG_IGN` set elsewhere in the process).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the status is not consumed until returned, and a later `wait` or
    /// `try_wait` still sees it. (Stdin is closed either way.)
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Polls for the child's exit (the poll form of [`Child::wait`], without closing stdin).
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        self.watch.poll_wait(cx)
    }

    /// Returns the exit status if the child has exited, without waiting (asyncio's
    /// `Process.returncode`).
    ///
    /// # Errors
    ///
    /// As [`Child::wait`].
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.watch.try_wait()
    }

    /// Sends SIGKILL, the signal that cannot be caught (asyncio's `Process.kill`). Does not
    /// wait: follow with [`Child::wait`]. A no-op once the child has exited and been reaped.
    ///
    /// # Errors
    ///
    /// If the signal cannot be sent (the child belongs to another user after a setuid).
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(SignalKind::KILL)
    }

    /// Sends SIGTERM, the request to exit (asyncio's `Process.terminate`).
    ///
    /// # Errors
    ///
    /// As [`Child::kill`].
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(SignalKind::TERMINATE)
    }

    /// Sends `signal` to the child (asyncio's `Process.send_signal`); a no-op once it has
    /// been reaped, so a recycled pid is never hit. Uses the pidfd where there is one.
    ///
    /// # Errors
    ///
    /// As [`Child::kill`], and `InvalidInput` for an unknown signal number.
    pub fn send_signal(&mut self, signal: SignalKind) -> io::Result<()> {
        self.watch.send(signal)
    }

    /// Writes `input` to stdin (then closes it), reads stdout and stderr to their end, all
    /// at once, and waits for the child to exit (asyncio's `Process.communicate`).
    ///
    /// Doing the three concurrently is what avoids the classic deadlock where the child
    /// blocks writing a full stdout pipe while the parent blocks writing its stdin. Pipes
    /// that were not piped come back empty; `input` is ignored when stdin is not piped. A
    /// child that exits without reading all of its input is not an error (the `BrokenPipe`
    /// is swallowed, as asyncio does).
    ///
    /// The exit status is then available from [`Child::wait`] or [`Child::try_wait`] at
    /// once; [`Child::wait_with_output`] returns all three together.
    ///
    /// # Errors
    ///
    /// I/O errors on the pipes (other than a broken stdin pipe), `InvalidData` when a stream
    /// exceeds [`Command::output_limit`](crate::Command::output_limit), or a failed wait.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the pipes are taken out of the `Child` when this starts, so dropping
    /// the future closes them and loses what was read. The child itself is unaffected.
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let (stdin, stdout, stderr) = (self.stdin.take(), self.stdout.take(), self.stderr.take());
        let limit = self.output_limit;
        let feed = async {
            if let (Some(mut stdin), Some(input)) = (stdin, input) {
                match stdin.write_all(input).await {
                    Err(e) if is_closed_by_peer(&e) => {}
                    other => other?,
                }
            }
            Ok(())
        };
        let read = try_zip(
            read_all(stdout, limit, "stdout"),
            read_all(stderr, limit, "stderr"),
        );
        let ((), (out, err)) = try_zip(feed, read).await?;
        self.wait().await?;
        Ok((out, err))
    }

    /// [`Child::communicate`] without input, returning the status with the output.
    ///
    /// # Errors
    ///
    /// As [`Child::communicate`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the child (see [`Child`]) and loses the output read so far.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        let (stdout, stderr) = self.communicate(None).await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

fn is_closed_by_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    )
}

/// Reads `pipe` to its end, failing past `limit` bytes.
///
/// Reads go through a fixed chunk rather than `read_to_end`, whose buffer handling zeroes the
/// spare capacity again after every `Pending`: quadratic on a pipe that delivers 64 KiB at a
/// time.
async fn read_all<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    limit: usize,
    name: &str,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(buf);
    };
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut chunk).await?;
        if n == 0 {
            return Ok(buf);
        }
        if n > limit - buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the child's {name} exceeded the output limit of {limit} bytes"),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let exited = self.watch.status().is_some();
        if self.kill_on_drop && !exited {
            let _ = self.watch.send(SignalKind::KILL);
        }
        // Debug mode: a child dropped while running, unwaited and not set to be killed, is
        // reported (asyncio's unclosed subprocess transport); it runs on unsupervised.
        if exited || self.kill_on_drop {
            self.tracker.mark_closed();
        }
        // The watch hands an unreaped child to the reaper when it drops, after this.
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("status", &self.watch.status())
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}
