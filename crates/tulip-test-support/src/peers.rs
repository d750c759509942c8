//! Interop peers: find one, or skip the test with one message format.
//!
//! A test that needs a program asks for it (`let Some(curl) = peers::curl() else { return };`).
//! When the peer is missing, the helper prints one line to stderr,
//!
//! ```text
//! SKIP <test>: peer curl is missing (not found on PATH); install: apt-get install curl
//! ```
//!
//! and returns `None`. With `TULIP_REQUIRE_PEERS=1` in the environment it panics with the same
//! facts instead, so a CI run where every peer is installed cannot pass by skipping.
//!
//! Python is `TULIP_PYTHON` when set, else `python3` from `PATH`; a Python peer is present
//! when that interpreter imports every module the test names.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The variable that turns a missing peer from a skip into a failure.
pub const REQUIRE_PEERS: &str = "TULIP_REQUIRE_PEERS";

/// The variable naming the Python interpreter for the Python peers.
pub const PYTHON: &str = "TULIP_PYTHON";

/// Whether `TULIP_REQUIRE_PEERS` asks for missing peers to fail the test.
pub fn required() -> bool {
    std::env::var_os(REQUIRE_PEERS).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The message for a missing peer; `skip` prints it, `require` panics with it.
fn message(peer: &str, reason: &str, install: &str) -> String {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string();
    format!("{test}: peer {peer} is missing ({reason}); install: {install}")
}

/// Reports a missing peer and returns `None`: prints `SKIP <test>: ...` to stderr, or, with
/// `TULIP_REQUIRE_PEERS=1`, panics with the same message.
///
/// Use it directly for a peer this module has no finder for, or when a peer that was found
/// turns out unusable (it would not start, say).
///
/// # Panics
///
/// When `TULIP_REQUIRE_PEERS=1` is set: a missing peer then fails the test.
pub fn skip<T>(peer: &str, reason: &str, install: &str) -> Option<T> {
    let msg = message(peer, reason, install);
    if required() {
        panic!("{msg} ({REQUIRE_PEERS}=1 is set, so this is a failure, not a skip)");
    }
    eprintln!("SKIP {msg}");
    None
}

/// The first executable called `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A program from `PATH`, or a skip (see [`skip`]) naming how to install it.
pub fn program(name: &str, install: &str) -> Option<PathBuf> {
    match find_on_path(name) {
        Some(p) => Some(p),
        None => skip(name, "not found on PATH", install),
    }
}

/// curl, or a skip.
pub fn curl() -> Option<PathBuf> {
    program("curl", "apt-get install curl")
}

/// The openssl command-line tool, or a skip.
pub fn openssl() -> Option<PathBuf> {
    program("openssl", "apt-get install openssl")
}

/// redis-server, or a skip.
pub fn redis_server() -> Option<PathBuf> {
    program("redis-server", "apt-get install redis-server")
}

/// The Python interpreter the tests use: `TULIP_PYTHON`, else `python3` (found on `PATH` by
/// the caller's `Command`).
pub fn python_interpreter() -> OsString {
    std::env::var_os(PYTHON)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// A Python interpreter that imports every module in `modules` (for example `["aiohttp"]`),
/// or a skip naming the interpreter and the missing modules.
pub fn python(modules: &[&str]) -> Option<OsString> {
    let py = python_interpreter();
    let import = if modules.is_empty() {
        "import sys".to_string()
    } else {
        format!("import {}", modules.join(", "))
    };
    let peer = if modules.is_empty() {
        "python".to_string()
    } else {
        format!("python with {}", modules.join(", "))
    };
    let install = if modules.is_empty() {
        format!("apt-get install python3, or set {PYTHON} to an interpreter")
    } else {
        format!(
            "python3 -m venv VENV && VENV/bin/pip install {}, then set {PYTHON}=VENV/bin/python",
            modules.join(" ")
        )
    };
    let status = Command::new(&py)
        .args(["-c", &import])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some(py),
        Ok(_) => skip(
            &peer,
            &format!("{} cannot `{import}`", py.to_string_lossy()),
            &install,
        ),
        Err(e) => skip(
            &peer,
            &format!("cannot run {}: {e}", py.to_string_lossy()),
            &install,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_test_the_peer_and_the_fix() {
        let msg = message("curl", "not found on PATH", "apt-get install curl");
        assert_eq!(
            msg,
            "peers::tests::the_message_names_the_test_the_peer_and_the_fix: peer curl is \
             missing (not found on PATH); install: apt-get install curl"
        );
    }

    #[test]
    fn a_program_that_exists_is_found_and_one_that_does_not_is_not() {
        // `sh` is on every PATH a test runs with; the second name cannot exist.
        assert!(find_on_path("sh").is_some_and(|p| p.is_absolute()));
        assert_eq!(find_on_path("tulip-no-such-program-7f3a"), None);
    }
}
