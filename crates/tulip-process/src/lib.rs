//! tulip's subprocesses and Unix signals: asyncio's `create_subprocess_exec` /
//! `create_subprocess_shell` and `loop.add_signal_handler`.
//!
//! [`Command`] starts a child with piped, inherited or null stdio; the [`Child`] it returns
//! has async pipes ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]), an async
//! [`wait`](Child::wait), [`communicate`](Child::communicate) (feed stdin and drain both
//! outputs at once, so large outputs cannot deadlock), and `kill`/`terminate`/`send_signal`.
//! For asyncio's stream methods (`read_line`, `read_until`, `drain`, `write_eof`), turn a
//! pipe into tulip-net's `StreamReader`/`StreamWriter` with
//! [`ChildStdout::into_reader`] / [`ChildStdin::into_writer`].
//! Children are watched through a pidfd registered with the reactor where the kernel has one,
//! and through SIGCHLD otherwise; a dropped child is reaped in the background, so none is
//! left a zombie and no exit status is lost.
//!
//! [`signal`](signal::signal) turns a Unix signal into a stream; several listeners of one
//! signal each see every delivery, and the signal's original behaviour comes back when the
//! last listener goes. [`signal::add_signal_handler`] runs a callback per delivery, as
//! asyncio's loop method does.
//!
//! Writing to a child that closed its stdin yields a `BrokenPipe` error value rather than
//! killing the process, because the Rust runtime ignores SIGPIPE before `main`.
//!
//! # Examples
//!
//! ```
//! use futures_lite::{AsyncBufReadExt, StreamExt};
//! use futures_lite::io::BufReader;
//! use tulip_process::{Command, Stdio};
//!
//! # fn main() -> std::io::Result<()> {
//! tulip_reactor::block_on(async {
//!     let mut child = Command::shell("printf 'one\\ntwo\\n'").stdout(Stdio::piped()).spawn()?;
//!     let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
//!         .lines()
//!         .try_collect()
//!         .await?;
//!     assert_eq!(lines, ["one", "two"]);
//!     assert!(child.wait().await?.success());
//!
//!     // A child that takes input and reports on both streams.
//!     let mut child = Command::shell("wc -c; echo done >&2")
//!         .stdin(Stdio::piped())
//!         .stdout(Stdio::piped())
//!         .stderr(Stdio::piped())
//!         .spawn()?;
//!     let (out, err) = child.communicate(Some(&[b'x'; 100_000])).await?;
//!     assert_eq!(String::from_utf8_lossy(&out).trim(), "100000");
//!     assert_eq!(err, b"done\n");
//!     Ok(())
//! })
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod child;
mod command;
mod pipe;
mod reap;
pub mod signal;

pub use child::Child;
pub use command::Command;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Command>();
        assert_send_sync::<crate::Child>();
        assert_send_sync::<crate::ChildStdin>();
        assert_send_sync::<crate::ChildStdout>();
        assert_send_sync::<crate::ChildStderr>();
        assert_send_sync::<crate::signal::Signals>();
        assert_send_sync::<crate::signal::SignalHandlerId>();
    }
}
