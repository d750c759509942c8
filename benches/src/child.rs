//! A child process of this benchmark binary that talks in lines: the parent writes one request
//! per line on the child's stdin and reads its replies from the child's stdout, skipping any
//! other output. `--cpu` servers (`cpu.rs`), the idle-memory and HTTP/2 servers
//! (`http/idle.rs`) and `--isolate`'s sample children (`harness.rs`) all use it. The child
//! is killed when the handle drops, unless [`LineChild::finish`] let it exit first.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};

pub(crate) struct LineChild {
    /// What the child is, for error messages.
    what: String,
    child: Child,
    /// `None` once [`LineChild::finish`] closed it.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl LineChild {
    /// Starts `cmd` with piped stdin and stdout (stderr as `cmd` sets it).
    pub(crate) fn spawn(mut cmd: Command, what: impl Into<String>) -> LineChild {
        let what = what.into();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {what}: {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        LineChild {
            what,
            child,
            stdin: Some(stdin),
            stdout,
        }
    }

    /// Writes one request line.
    pub(crate) fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open until finish");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("writing to the {}: {e}", self.what));
    }

    /// Reads up to the first line `parse` accepts; panics if the child ends first.
    pub(crate) fn read_until<T>(&mut self, mut parse: impl FnMut(&str) -> Option<T>) -> T {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("reading from the {}: {e}", self.what));
            if n == 0 {
                panic!("the {} ended early ({:?})", self.what, self.child.wait());
            }
            if let Some(v) = parse(line.trim_end()) {
                return v;
            }
        }
    }

    /// The value of the next `<prefix> <key> <value>` line.
    pub(crate) fn reply(&mut self, prefix: &str, key: &str) -> String {
        self.read_until(|l| {
            l.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix(' '))
                .and_then(|r| r.strip_prefix(key))
                .filter(|v| v.is_empty() || v.starts_with(' '))
                .map(|v| v.trim().to_string())
        })
    }

    /// Closes the child's stdin and waits for it to exit.
    pub(crate) fn finish(mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("waiting for the {}: {e}", self.what))
    }
}

impl Drop for LineChild {
    fn drop(&mut self) {
        // After `finish` the child is reaped already and both calls do nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> LineChild {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]).stderr(Stdio::null());
        LineChild::spawn(cmd, "test child")
    }

    #[test]
    fn a_reply_skips_other_lines_and_other_keys() {
        let mut c = sh(
            "echo noise; echo 'CPU cpuish 1'; echo 'CPU cpu 7'; echo 'CPU addr 127.0.0.1:9 '; \
             read x; echo \"CPU got $x\"",
        );
        assert_eq!(c.reply("CPU", "cpu"), "7");
        assert_eq!(c.reply("CPU", "addr"), "127.0.0.1:9");
        c.send("hello");
        assert_eq!(c.reply("CPU", "got"), "hello");
        assert!(c.finish().success());
    }

    #[test]
    #[should_panic(expected = "ended early")]
    fn a_child_that_ends_before_its_reply_is_an_error() {
        sh("echo 'IDLE rss 5'").reply("IDLE", "cpu");
    }
}
