//! [`Command`]: the builder behind asyncio's `create_subprocess_exec` and `_shell`.

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use crate::child::Child;

/// A process to start: program, arguments, environment, working directory and stdio.
///
/// A thin layer over [`std::process::Command`] (which does the `fork`/`exec`, or
/// `posix_spawn` where it can, and reports `exec` failures as errors) adding what an async
/// program needs: non-blocking pipes, an async `wait`, `kill_on_drop`, and error messages that
/// name the program. As with asyncio and std, stdio is inherited unless set.
///
/// # Examples
///
/// ```
/// use tulip_process::Command;
///
/// # fn main() -> std::io::Result<()> {
/// tulip_reactor::block_on(async {
///     let out = Command::new("echo").arg("hello").output().await?;
///     assert!(out.status.success());
///     assert_eq!(out.stdout, b"hello\n");
///
///     let out = Command::shell("echo $((6 * 7)) >&2").output().await?;
///     assert_eq!(out.stderr, b"42\n");
///     Ok(())
/// })
/// # }
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    output_limit: usize,
    use_pidfd: bool,
}

impl Command {
    /// A command running `program`, found through `PATH` when it has no slash (asyncio's
    /// `create_subprocess_exec(program, ...)`).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// A command running `script` with `/bin/sh -c` (asyncio's `create_subprocess_shell`).
    ///
    /// The script is handed to the shell verbatim: never build it from untrusted input.
    pub fn shell(script: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        cmd
    }

    /// Appends one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes one inherited environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`Command::env`] adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Sets the child's stdin: [`Stdio::piped`] (then [`Child::stdin`] is an async writer),
    /// [`Stdio::inherit`], [`Stdio::null`], a file, or another child's pipe.
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Sets the child's stdout (see [`Command::stdin`]).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Sets the child's stderr (see [`Command::stdin`]).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Kill the child (SIGKILL) when its [`Child`] is dropped before it exited. Off by
    /// default: a dropped child keeps running and is reaped in the background.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Puts the child in process group `pgid` (0: a new group led by the child), so that a
    /// terminal's Ctrl-C does not reach it and it can be signalled as a group.
    pub fn process_group(&mut self, pgid: i32) -> &mut Command {
        self.std.process_group(pgid);
        self
    }

    /// Runs the child as user `uid` (needs the privilege to switch).
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.std.uid(uid);
        self
    }

    /// Runs the child as group `gid` (needs the privilege to switch).
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.std.gid(gid);
        self
    }

    /// Caps what [`Child::communicate`] and [`Command::output`] collect from each of stdout
    /// and stderr; beyond it they fail with `InvalidData`. Unlimited by default, as in asyncio:
    /// the child is a program you chose to run, and capturing its output is a request to
    /// keep all of it. Set a limit when the output size is not yours to decide.
    pub fn output_limit(&mut self, bytes: usize) -> &mut Command {
        self.output_limit = bytes;
        self
    }

    /// The program this command runs.
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The underlying std command, for settings this type does not forward.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Forces the SIGCHLD fallback instead of a pidfd (to test it on kernels that have both).
    #[cfg(test)]
    pub(crate) fn without_pidfd(&mut self) -> &mut Command {
        self.use_pidfd = false;
        self
    }

    /// Starts the child.
    ///
    /// Starting is synchronous, as in asyncio: `fork`/`exec` (or `posix_spawn`) return as
    /// soon as the new program runs or fails to.
    ///
    /// # Errors
    ///
    /// When the program cannot be started: `NotFound` for a missing program or working
    /// directory, `PermissionDenied` for a file that is not executable, with the program (and
    /// the directory, when that is the culprit) named in the message.
    ///
    /// In debug mode ([`tulip_executor::debug`]) the child remembers this call as its creation
    /// site, and dropping it while it still runs, never waited for and without
    /// [`kill_on_drop`](Command::kill_on_drop), is reported as `unclosed child process`.
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        self.spawn_at(std::panic::Location::caller())
    }

    fn spawn_at(&mut self, site: &'static std::panic::Location<'static>) -> io::Result<Child> {
        let std = self.std.spawn().map_err(|e| self.spawn_error(e))?;
        Child::new(
            std,
            self.kill_on_drop,
            self.use_pidfd,
            self.output_limit,
            site,
        )
    }

    /// Runs the child to completion with inherited stdio (unless set) and returns its status.
    ///
    /// # Errors
    ///
    /// As [`Command::spawn`], or if waiting fails.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the [`Child`]: it keeps running (or is killed, with
    /// [`Command::kill_on_drop`]) and is reaped in the background.
    #[track_caller]
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> {
        let site = std::panic::Location::caller();
        async move { self.spawn_at(site)?.wait().await }
    }

    /// Runs the child to completion, collecting its stdout and stderr.
    ///
    /// Unless set, stdin is null and stdout and stderr are piped (and stay so in this
    /// `Command` afterwards).
    ///
    /// # Errors
    ///
    /// As [`Command::spawn`]; `InvalidData` beyond [`Command::output_limit`].
    ///
    /// # Cancel safety
    ///
    /// As [`Command::status`]; output read so far is lost.
    #[track_caller]
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> {
        let site = std::panic::Location::caller();
        async move {
            if !self.stdin_set {
                self.std.stdin(Stdio::null());
            }
            if !self.stdout_set {
                self.stdout(Stdio::piped());
            }
            if !self.stderr_set {
                self.stderr(Stdio::piped());
            }
            self.spawn_at(site)?.wait_with_output().await
        }
    }

    /// Rewrites a spawn error so that it names the program, or the working directory when
    /// that is what is missing (the OS reports both as a bare `ENOENT`).
    fn spawn_error(&self, e: io::Error) -> io::Error {
        let program = self.std.get_program();
        if let Some(dir) = self.std.get_current_dir() {
            if !dir.is_dir() {
                return io::Error::new(
                    e.kind(),
                    format!("cannot spawn {program:?}: working directory {dir:?}: {e}"),
                );
            }
        }
        io::Error::new(e.kind(), format!("cannot spawn {program:?}: {e}"))
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std command. Stdio it already configured counts as unset for
    /// [`Command::output`], which will pipe stdout and stderr.
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            output_limit: usize::MAX,
            use_pidfd: true,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish_non_exhaustive()
    }
}
